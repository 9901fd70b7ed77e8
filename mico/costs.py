"""The cost-model interface and the two hardware-free cost models (BOPs, model size).

A cost model prices a policy per layer and in total; it is cheap and never touches accuracy.
Hardware cost models (lookup tables, analytic kernel models, learned latency models, memory
planner) live in `latency/` and implement the same `CostModel` protocol; the BOPs and size models
live here because they are plain arithmetic on `LayerSpec` and the core's tests need a cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from mico.space import Policy, SearchSpace


@dataclass(frozen=True)
class Cost:
    """A priced policy: per-layer values (plus a fixed part) and their total, in ``unit``."""

    total: float
    per_layer: tuple[float, ...]
    unit: str


@runtime_checkable
class CostModel(Protocol):
    """``cost(space, policy)`` per layer and total; ``totals`` vectorised over many policies."""

    name: str
    unit: str

    def cost(self, space: SearchSpace, policy: Policy) -> Cost: ...

    def totals(self, space: SearchSpace, policies: Sequence[Policy]) -> np.ndarray: ...


class _LinearBitCost:
    """Costs of the form ``sum_l coef_l * f(w_l, a_l)``: vectorised over policies."""

    name = ""
    unit = ""

    def _per_layer(self, space: SearchSpace, w: np.ndarray, a: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def cost(self, space: SearchSpace, policy: Policy) -> Cost:
        p = space.effective(policy)
        per = self._per_layer(space, np.array(p.w_bits, dtype=np.float64), np.array(p.a_bits, dtype=np.float64))
        return Cost(float(per.sum()), tuple(float(v) for v in per), self.unit)

    def totals(self, space: SearchSpace, policies: Sequence[Policy]) -> np.ndarray:
        if not len(policies):
            return np.zeros(0)
        eff = [space.effective(p) for p in policies]
        bits = space.bits_matrix(eff)
        n = space.n_layers
        return self._per_layer(space, bits[:, :n], bits[:, n:]).sum(axis=-1)


class BOPs(_LinearBitCost):
    """Bit operations ``sum_l MAC_l * w_l * a_l`` (the proxy the MiCo paper criticises)."""

    name = "bops"
    unit = "bops"

    def _per_layer(self, space: SearchSpace, w: np.ndarray, a: np.ndarray) -> np.ndarray:
        macs = np.array([layer.macs for layer in space.layers], dtype=np.float64)
        return macs * w * a


class ModelSize(_LinearBitCost):
    """Weight storage ``sum_l params_l * w_l / 8`` in bytes (bias and scales excluded)."""

    name = "size"
    unit = "bytes"

    def _per_layer(self, space: SearchSpace, w: np.ndarray, a: np.ndarray) -> np.ndarray:
        weights = np.array([layer.params - layer.out_channels for layer in space.layers], dtype=np.float64)
        return weights * w / 8.0


def cheapest_policy(space: SearchSpace, model: CostModel) -> tuple[Policy, float]:
    """The cheapest policy under ``model`` and its cost.

    Lower bits are not always cheaper (a kernel may unpack sub-byte operands more slowly than it
    multiplies bytes), so the all-min policy need not be the cheapest. For costs that add up over
    layers the per-layer argmin over the (w, a) pairs is exact; it is compared with every uniform
    policy and the cheapest of all is returned (an upper bound on the minimum otherwise).
    """
    pairs = [(w, a) for w in space.w_choices for a in space.a_choices]
    uniform = [space.uniform(w, a) for w, a in pairs]
    per_layer = np.array([model.cost(space, p).per_layer for p in uniform])  # (pairs, layers)
    best = per_layer.argmin(axis=0)
    pinned = dict((i, (w, a)) for i, w, a in space.pinned)
    w = [pinned.get(i, pairs[best[i]])[0] for i in range(space.n_layers)]
    a = [pinned.get(i, pairs[best[i]])[1] for i in range(space.n_layers)]
    candidates = uniform + [Policy(tuple(w), tuple(a))]
    totals = model.totals(space, candidates)
    j = int(np.argmin(totals))
    return candidates[j], float(totals[j])
