"""ResNet-8 style network (MLPerf Tiny image-classification flavour) with basic residual blocks."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

__all__ = ["BasicBlock", "ResNet8"]


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with a residual ``+``; a 1x1 conv-BN shortcut when the shape changes.

    The ReLU after the addition is a separate module, so the graph is conv-BN-ReLU-conv-BN-add-ReLU.
    """

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Sequential | None = None  # identity (no module, so fx sees a plain `+`)
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
            )
        self.relu2 = nn.ReLU()

    def forward(self, x):
        """Residual block output for ``x`` of shape (N, cin, H, W)."""
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        identity = x if self.shortcut is None else self.shortcut(x)
        return self.relu2(out + identity)


class ResNet8(nn.Module):
    """Stem conv3-BN-ReLU, three one-block residual stages (stride 1, 2, 2), global average pool, FC.

    Eight weight layers on the main path (1 stem + 3 x 2 block convs + 1 FC) plus two 1x1
    downsampling shortcuts.

    Args:
        input_shape: (C, H, W) of one input.
        num_classes: number of output logits.
        widths: channel width of the three stages (the stem uses the first).
    """

    def __init__(
        self,
        input_shape: tuple[int, ...] = (1, 28, 28),
        num_classes: int = 10,
        widths: Sequence[int] = (16, 32, 64),
    ) -> None:
        super().__init__()
        if len(input_shape) != 3:
            raise ValueError(f"ResNet8 expects an image input_shape (C, H, W), got {tuple(input_shape)}")
        if len(widths) != 3:
            raise ValueError(f"ResNet8 has exactly 3 stages; got widths={tuple(widths)}")
        w1, w2, w3 = widths
        self.stem = nn.Sequential(
            nn.Conv2d(input_shape[0], w1, 3, padding=1, bias=False), nn.BatchNorm2d(w1), nn.ReLU()
        )
        self.stage1 = BasicBlock(w1, w1, stride=1)
        self.stage2 = BasicBlock(w1, w2, stride=2)
        self.stage3 = BasicBlock(w2, w3, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(w3, num_classes)

    def forward(self, x):
        """Logits for a batch of images ``x`` of shape (N, C, H, W)."""
        x = self.stage3(self.stage2(self.stage1(self.stem(x))))
        return self.fc(self.flatten(self.pool(x)))
