"""Helpers shared by the baselines: encoded policies, vectorised constraint costs, a noise model."""

from __future__ import annotations

import numpy as np

from mico.problem import Problem
from mico.space import Policy


class Encoded:
    """Encoded policies (`SearchSpace.encode` layout) of one problem, priced with `Problem.cost_totals`."""

    def __init__(self, problem: Problem):
        space = problem.space
        self.problem, self.space = problem, space
        self.free = np.array(space.free_layers, dtype=np.int64)
        self.nf = len(self.free)
        self.dim = 2 * self.nf
        self.wch, self.ach = np.array(space.w_choices), np.array(space.a_choices)
        self.levels = np.array([len(self.wch)] * self.nf + [len(self.ach)] * self.nf, dtype=np.int64)
        top = space.max_policy()
        self._w, self._a = np.array(top.w_bits), np.array(top.a_bits)
        self.limits = np.array([c.limit for c in problem.constraints])

    def top(self) -> np.ndarray:
        return self.levels - 1

    def bits(self, X: np.ndarray) -> np.ndarray:
        """Bitwidth of every gene, shape like ``X``."""
        return np.hstack([self.wch[X[:, : self.nf]], self.ach[X[:, self.nf :]]])

    def policies(self, X: np.ndarray) -> list[Policy]:
        w = np.repeat(self._w[None, :], len(X), axis=0)
        a = np.repeat(self._a[None, :], len(X), axis=0)
        w[:, self.free] = self.wch[X[:, : self.nf]]
        a[:, self.free] = self.ach[X[:, self.nf :]]
        return [Policy(tuple(wr), tuple(ar)) for wr, ar in zip(w.tolist(), a.tolist())]

    def costs(self, X: np.ndarray) -> np.ndarray:
        """(n, K) costs of the constrained cost models (one `cost_totals` call)."""
        if not len(self.limits) or not len(X):
            return np.zeros((len(X), len(self.limits)))
        totals = self.problem.cost_totals(self.policies(X))
        return np.stack([totals[c.cost] for c in self.problem.constraints], axis=1)

    def feasible(self, X: np.ndarray) -> np.ndarray:
        return np.all(self.costs(X) <= self.limits * (1 + 1e-12), axis=1)

    def noise(self, X: np.ndarray) -> np.ndarray:
        """Relative quantization noise per gene, 0 at the top level and 1 at the lowest.

        Uniform quantization noise power scales as ``4^-bits``; the ratio normalises it per gene, so
        one measured drop (top -> one lower level) predicts the drop at every other level.
        """
        b = self.bits(X).astype(np.float64)
        bmax = np.concatenate([np.full(self.nf, self.wch.max()), np.full(self.nf, self.ach.max())]).astype(float)
        bmin = np.concatenate([np.full(self.nf, self.wch.min()), np.full(self.nf, self.ach.min())]).astype(float)
        span = np.maximum(4.0 ** -bmin - 4.0 ** -bmax, 1e-30)
        return (4.0 ** -b - 4.0 ** -bmax) / span
