"""A small VGG-style CNN (conv-BN-ReLU pairs and max pooling) for 28x28 gray images."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

__all__ = ["CNNSmall"]


def _conv_bn_relu(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


class CNNSmall(nn.Module):
    """VGG-ish: [conv3-BN-ReLU x2, maxpool] per stage, then dropout - FC - ReLU - FC.

    With the defaults (widths 16-16-pool-32-32-pool, FC 64) and a 28x28 input:
    28x28 -> 14x14 -> 7x7 -> 32*7*7 features.

    Args:
        input_shape: (C, H, W) of one input; H and W must be divisible by 2 ** len(stages).
        num_classes: number of output logits.
        stages: channel width of each stage (two 3x3 convolutions per stage).
        hidden: width of the hidden fully connected layer.
        dropout: dropout probability before the classifier.
    """

    def __init__(
        self,
        input_shape: tuple[int, ...] = (1, 28, 28),
        num_classes: int = 10,
        stages: Sequence[int] = (16, 32),
        hidden: int = 64,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        if len(input_shape) != 3:
            raise ValueError(f"CNNSmall expects an image input_shape (C, H, W), got {tuple(input_shape)}")
        channels, height, width = input_shape
        layers: list[nn.Module] = []
        for w in stages:
            layers += _conv_bn_relu(channels, w) + _conv_bn_relu(w, w) + [nn.MaxPool2d(2)]
            channels = w
            height, width = height // 2, width // 2
        if height < 1 or width < 1:
            raise ValueError(f"CNNSmall with {len(stages)} stages needs larger inputs than {input_shape}")
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(channels * height * width, hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x):
        """Logits for a batch of images ``x`` of shape (N, C, H, W)."""
        return self.classifier(self.features(x))
