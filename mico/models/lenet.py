"""LeNet-5 (LeCun et al., 1998) with ReLU and max pooling, for MNIST-sized inputs."""

from __future__ import annotations

from torch import nn

__all__ = ["LeNet5"]


class LeNet5(nn.Module):
    """Classic LeNet-5: conv5(6) - pool - conv5(16) - pool - FC 120 - FC 84 - FC classes.

    ``conv1`` uses ``padding=2`` so that a 28x28 MNIST image gives the classic 28x28 -> 14x14 ->
    10x10 -> 5x5 feature maps (the original network saw 32x32 images without padding).

    Args:
        input_shape: (C, H, W) of one input.
        num_classes: number of output logits.
    """

    def __init__(self, input_shape: tuple[int, ...] = (1, 28, 28), num_classes: int = 10) -> None:
        super().__init__()
        if len(input_shape) != 3:
            raise ValueError(f"LeNet5 expects an image input_shape (C, H, W), got {tuple(input_shape)}")
        channels, height, width = input_shape
        out_h = ((height + 4 - 4) // 2 - 4) // 2
        out_w = ((width + 4 - 4) // 2 - 4) // 2
        if out_h < 1 or out_w < 1:
            raise ValueError(f"LeNet5 needs inputs of at least 12x12 pixels, got {height}x{width}")
        self.conv1 = nn.Conv2d(channels, 6, kernel_size=5, padding=2)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(6, 16, kernel_size=5)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(16 * out_h * out_w, 120)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(120, 84)
        self.relu4 = nn.ReLU()
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x):
        """Logits for a batch of images ``x`` of shape (N, C, H, W)."""
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        x = self.flatten(x)
        x = self.relu3(self.fc1(x))
        x = self.relu4(self.fc2(x))
        return self.fc3(x)
