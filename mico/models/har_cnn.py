"""1D CNN for human activity recognition on raw inertial windows (channels x time)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

__all__ = ["HARCNN1d"]


class HARCNN1d(nn.Module):
    """[conv1d-BN-ReLU-maxpool2] per stage, a last conv1d-BN-ReLU, global average pool, dropout, FC.

    With defaults on (6, 128) windows: 128 -> 64 -> 32 -> 16 time steps, then global pooling.

    Args:
        input_shape: (C, L) of one window.
        num_classes: number of output logits.
        widths: channels of the pooled stages; a final conv of ``widths[-1]`` channels follows.
        kernel: temporal kernel size (odd; 'same' padding).
        dropout: dropout probability before the classifier.
    """

    def __init__(
        self,
        input_shape: tuple[int, ...] = (6, 128),
        num_classes: int = 6,
        widths: Sequence[int] = (32, 32, 64),
        kernel: int = 5,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        if len(input_shape) != 2:
            raise ValueError(f"HARCNN1d expects a sequence input_shape (C, L), got {tuple(input_shape)}")
        if kernel % 2 != 1:
            raise ValueError(f"HARCNN1d needs an odd kernel size for 'same' padding, got {kernel}")
        channels = input_shape[0]
        layers: list[nn.Module] = []
        for w in widths:
            layers += [
                nn.Conv1d(channels, w, kernel, padding=kernel // 2, bias=False),
                nn.BatchNorm1d(w),
                nn.ReLU(),
                nn.MaxPool1d(2),
            ]
            channels = w
        layers += [
            nn.Conv1d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm1d(channels),
            nn.ReLU(),
        ]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.flatten = nn.Flatten()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x):
        """Logits for a batch of windows ``x`` of shape (N, C, L)."""
        x = self.flatten(self.pool(self.features(x)))
        return self.fc(self.dropout(x))
