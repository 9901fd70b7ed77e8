"""Multi-layer perceptron for tiny inputs (the 8x8 digits), used by fast tests."""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import nn

__all__ = ["MLP"]


class MLP(nn.Module):
    """Flatten - (Linear - ReLU) x len(hidden) - Linear; default 64-64-32-10 for 8x8 digits.

    Args:
        input_shape: shape of one input; it is flattened, so any shape works.
        num_classes: number of output logits.
        hidden: widths of the hidden layers.
    """

    def __init__(
        self,
        input_shape: tuple[int, ...] = (1, 8, 8),
        num_classes: int = 10,
        hidden: Sequence[int] = (64, 32),
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(input_shape)
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        """Logits for a batch ``x`` of shape (N, *input_shape)."""
        return self.layers(x)
