"""A tiny MobileNetV2 (Sandler et al., 2018): inverted residual blocks with depthwise 3x3 convs."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

__all__ = ["InvertedResidual", "MobileNetV2Tiny"]

# (expansion t, output channels c, repeats n, first stride s), as in the paper's Table 2.
DEFAULT_BLOCKS: tuple[tuple[int, int, int, int], ...] = (
    (1, 8, 1, 1),
    (4, 16, 2, 2),
    (4, 24, 2, 2),
    (4, 32, 1, 1),
)


def _conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, relu6: bool = True):
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if relu6:
        layers.append(nn.ReLU6())
    return layers


class InvertedResidual(nn.Module):
    """Expand 1x1 (ReLU6) - depthwise 3x3 (ReLU6) - project 1x1 (linear), with ``+`` when shapes match."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = cin * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers += _conv_bn(cin, hidden, 1)
        layers += _conv_bn(hidden, hidden, 3, stride=stride, groups=hidden)
        layers += _conv_bn(hidden, cout, 1, relu6=False)
        self.block = nn.Sequential(*layers)
        self.use_residual = stride == 1 and cin == cout

    def forward(self, x):
        """Block output for ``x`` of shape (N, cin, H, W)."""
        if self.use_residual:
            return x + self.block(x)
        return self.block(x)


class MobileNetV2Tiny(nn.Module):
    """Stem conv3 (ReLU6) - inverted residual stages - 1x1 conv (ReLU6) - global avg pool - FC.

    Args:
        input_shape: (C, H, W) of one input.
        num_classes: number of output logits.
        stem: stem width.
        stem_stride: stride of the stem convolution (2 halves the compute on 28x28 inputs).
        blocks: (expansion, channels, repeats, stride) per stage.
        last: width of the final 1x1 convolution.
        dropout: dropout probability before the classifier.
    """

    def __init__(
        self,
        input_shape: tuple[int, ...] = (1, 28, 28),
        num_classes: int = 10,
        stem: int = 16,
        stem_stride: int = 2,
        blocks: Sequence[tuple[int, int, int, int]] = DEFAULT_BLOCKS,
        last: int = 64,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if len(input_shape) != 3:
            raise ValueError(
                f"MobileNetV2Tiny expects an image input_shape (C, H, W), got {tuple(input_shape)}"
            )
        layers: list[nn.Module] = [nn.Sequential(*_conv_bn(input_shape[0], stem, 3, stride=stem_stride))]
        channels = stem
        for t, c, n, s in blocks:
            for i in range(n):
                layers.append(InvertedResidual(channels, c, s if i == 0 else 1, t))
                channels = c
        layers.append(nn.Sequential(*_conv_bn(channels, last, 1)))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(last, num_classes)

    def forward(self, x):
        """Logits for a batch of images ``x`` of shape (N, C, H, W)."""
        x = self.flatten(self.pool(self.features(x)))
        return self.fc(self.dropout(x))
