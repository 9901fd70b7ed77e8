"""Shared fixtures: small real models traced into graphs, and a toy problem."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from mico import toy as mico_toy
from mico.problem import Problem
from mico.space import SearchSpace

# pytest runs with `-n 2` (one worker per core): one torch thread each avoids oversubscription.
torch.set_num_threads(1)


class ResBlock(nn.Module):
    def __init__(self, c: int, o: int, stride: int):
        super().__init__()
        self.c1, self.b1, self.r1 = nn.Conv2d(c, o, 3, stride, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU()
        self.c2, self.b2 = nn.Conv2d(o, o, 3, 1, 1, bias=False), nn.BatchNorm2d(o)
        self.sc = (nn.Sequential(nn.Conv2d(c, o, 1, stride, bias=False), nn.BatchNorm2d(o))
                   if stride != 1 or c != o else nn.Identity())
        self.r2 = nn.ReLU()

    def forward(self, x):
        return self.r2(self.b2(self.c2(self.r1(self.b1(self.c1(x))))) + self.sc(x))


def tiny_resnet() -> nn.Module:
    """Residual blocks (identity and 1x1 shortcut), depthwise conv + ReLU6, max and global avg pool."""
    torch.manual_seed(0)
    m = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), ResBlock(8, 8, 1), ResBlock(8, 16, 2),
        nn.Conv2d(16, 16, 3, groups=16, padding=1), nn.ReLU6(), nn.MaxPool2d(2), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(16, 10),
    )
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 2.0)
            mod.weight.data.uniform_(0.5, 1.5)
    return m.eval()


def tiny_conv1d() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(
        nn.Conv1d(3, 8, 5, padding=2), nn.BatchNorm1d(8), nn.ReLU(), nn.MaxPool1d(2),
        nn.Conv1d(8, 8, 3, groups=2), nn.ReLU(), nn.AvgPool1d(2), nn.Flatten(), nn.Linear(8 * 7, 4),
    ).eval()


@pytest.fixture(scope="session")
def digits():
    from mico.data import load_dataset

    return load_dataset("digits")


def toy_space(n_layers: int = 4, bits=(2, 4, 8)) -> SearchSpace:
    return mico_toy.toy_space(n_layers, bits)


def toy_problem(budget: int = 20, ratio: float = 0.4, n_layers: int = 4, record=None, cache=None) -> Problem:
    return mico_toy.toy_problem(n_layers=n_layers, budget=budget, ratio=ratio, record=record, cache=cache)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


class SubByteSlowCost:
    """A latency-like cost where layers 0 and 1 are *slower* below 8 bits (as on Cortex-M7 when
    sub-byte unpacking costs more than it saves) and the other layers get cheaper with the bits."""

    name, unit = "slow", "cycles"

    def cost(self, space, policy):
        from mico.costs import Cost

        per = []
        for i, (w, a) in enumerate(zip(policy.w_bits, policy.a_bits)):
            mac = space.layers[i].macs
            per.append(mac * ((1.0 if (w, a) == (8, 8) else 1.5) if i < 2 else w * a / 64))
        return Cost(float(sum(per)), tuple(per), self.unit)

    def totals(self, space, policies):
        return np.array([self.cost(space, p).total for p in policies])
