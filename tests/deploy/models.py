"""Small test architectures covering every op deploy lowers, and random mixed-precision policies."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from mico.quant import Calibration, build_int_graph
from mico.trace import space_from_graph, trace_graph


class Residual(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.dw = nn.Sequential(nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False), nn.BatchNorm2d(c), nn.ReLU6())
        self.pw = nn.Sequential(nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c))

    def forward(self, x):
        return x + self.pw(self.dw(x))


class ResNetTiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.block = Residual(8)
        self.head = nn.Sequential(nn.Conv2d(8, 12, 3, padding=1, groups=4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                                  nn.Flatten(), nn.Linear(12, 10))

    def forward(self, x):
        return self.head(self.block(self.stem(x)))


class ResidualRelu(nn.Module):
    """Residual add followed by ReLU (fused into the add) and an unfused ReLU after max pooling."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 3, padding=1)
        self.c2 = nn.Conv2d(6, 6, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(6 * 5 * 5, 7)

    def forward(self, x):
        y = self.c1(x)
        z = torch.relu(y + self.c2(y))
        z = torch.relu(self.pool(z))
        return self.fc(torch.flatten(z, 1))


def architectures() -> dict[str, tuple[nn.Module, tuple[int, ...]]]:
    torch.manual_seed(0)
    return {
        "cnn": (nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, stride=1, padding=0), nn.BatchNorm2d(16), nn.ReLU(), nn.AvgPool2d(2),
            nn.Flatten(), nn.Linear(16 * 3 * 3, 10)), (3, 16, 16)),
        "resnet_dw": (ResNetTiny(), (3, 12, 12)),
        "conv1d": (nn.Sequential(
            nn.Conv1d(3, 8, 5, padding=2), nn.BatchNorm1d(8), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(8, 8, 3, groups=2, padding=1), nn.ReLU(), nn.AvgPool1d(2),
            nn.Conv1d(8, 12, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(12, 6)),
            (3, 32)),
        "mlp": (nn.Sequential(nn.Flatten(), nn.Linear(30, 24), nn.ReLU(), nn.Linear(24, 17), nn.ReLU6(),
                              nn.Linear(17, 5)), (1, 5, 6)),
        "residual_relu": (ResidualRelu(), (1, 10, 10)),
    }


class Case:
    """A traced, calibrated architecture with its input data."""

    def __init__(self, name: str, model: nn.Module, shape: tuple[int, ...], seed: int = 0):
        gen = torch.Generator().manual_seed(seed)
        for mod in model.modules():  # non-trivial BN statistics
            if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
                mod.running_mean.uniform_(-0.2, 0.2, generator=gen)
                mod.running_var.uniform_(0.5, 2.0, generator=gen)
                mod.weight.data.uniform_(0.5, 1.5, generator=gen)
                mod.bias.data.uniform_(-0.3, 0.3, generator=gen)
        self.name = name
        self.x_calib = torch.randn(64, *shape, generator=gen)
        self.x_test = torch.randn(256, *shape, generator=gen)
        self.graph = trace_graph(model, self.x_calib[:2])
        self.calib = Calibration(self.graph, self.x_calib)
        self.space = space_from_graph(self.graph, w_choices=tuple(range(1, 9)), a_choices=tuple(range(1, 9)),
                                      model_name=name)

    def policies(self, n: int, seed: int = 0):
        """n random policies; the first has 1- and 2-bit layers, the second odd bits (3, 5, 6, 7)."""
        rng = np.random.default_rng(seed)
        out = []
        L = self.space.n_layers
        low = [1, 2] * L
        odd = [3, 5, 6, 7] * L
        from mico.space import Policy

        out.append(Policy(tuple(low[:L]), tuple(([2, 1] * L)[:L])))
        out.append(Policy(tuple(odd[:L]), tuple(odd[1 : L + 1])))
        while len(out) < n:
            out.append(self.space.sample(rng))
        return out[:n]

    def int_graph(self, policy):
        return build_int_graph(self.calib, policy)


def cases() -> dict[str, Case]:
    return {name: Case(name, m, s) for name, (m, s) in architectures().items()}
