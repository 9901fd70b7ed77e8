"""Greedy sensitivity search: measure how much lowering each layer's bits hurts, then lower the
least sensitive bits per unit cost until the budget holds, and spend what is left of it.

Pseudocode::

    evaluate all-max; for every gene (w or a of a free layer) evaluate all-max with that gene one level lower
    s_g <- measured accuracy drop of gene g (extrapolated to other levels by the 4^-bits noise model)
    x <- all-max; while x breaks a budget: lower the gene with the smallest s_g / cost saved; evaluate x
    fill: while some gene can be raised within the budget: raise the one with the largest s_g / cost added
    evaluate x, then (remaining budget) the best-estimated feasible swaps (raise one gene, lower another)

Deviations from the usual recipe: sensitivities are measured accuracy drops through the problem's
proxy (no Hessian, no gradients), so they cost evaluations (1 + 2 x free layers); the estimate
for deeper lowering extrapolates the one measured step with the ``4^-bits`` noise model.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from mico.encoding import Encoding
from mico.problem import Evaluation, Problem
from mico.search import AskTell
from mico.space import Policy


@dataclass
class GreedySearch(AskTell):
    """Per-gene sensitivity, greedy lowering per unit cost, then greedy filling and swaps."""

    name: str = "greedy"

    def setup(self, problem: Problem, rng: np.random.Generator) -> None:
        self.enc = Encoding(problem)
        self._acc: dict[bytes, tuple[float, bool]] = {}
        self._plan = self._steps()

    def ask(self) -> list[Policy]:
        try:
            X = next(self._plan)
        except StopIteration:
            return []
        return self.enc.policies(np.asarray(X, dtype=np.int64).reshape(-1, self.enc.dim))

    def tell(self, evaluations: Sequence[Evaluation]) -> None:
        for ev in evaluations:
            self._acc[self.problem.space.encode(ev.policy).tobytes()] = (ev.accuracy, ev.feasible)

    # ------------------------------------------------------------------ the plan (a generator of batches)
    def _loss(self, X: np.ndarray) -> np.ndarray:
        """Estimated accuracy drop from all-max: sum over genes of s_g * noise_g."""
        return self.enc.noise(X) @ self._s

    def _load(self, X: np.ndarray) -> np.ndarray:
        if not len(self.enc.limits):
            return np.zeros(len(X))
        return (self.enc.costs(X) / self.enc.limits).sum(axis=1)

    def _steps(self) -> Iterator[np.ndarray]:
        enc = self.enc
        top = enc.top()
        yield top[None, :]
        acc0 = self._acc[top.tobytes()][0]
        movable = np.flatnonzero(top > 0)
        probes = np.repeat(top[None, :], len(movable), axis=0)
        probes[np.arange(len(movable)), movable] -= 1
        probes = probes[: max(0, self.problem.remaining - 1)]
        if len(probes):
            yield probes
        drops = {}
        for g, x in zip(movable, probes):
            if x.tobytes() in self._acc:
                noise = enc.noise(x[None, :])[0, g]
                drops[g] = max(acc0 - self._acc[x.tobytes()][0], 0.0) / max(noise, 1e-12)
        fallback = float(np.mean(list(drops.values()))) if drops else 1.0
        self._s = np.array([drops.get(g, fallback) for g in range(enc.dim)]) + 1e-6

        x = top.copy()
        while not enc.feasible(x[None, :])[0]:  # lower the cheapest loss per unit cost saved
            cand = np.flatnonzero(x > 0)
            nb = np.repeat(x[None, :], len(cand), axis=0)
            nb[np.arange(len(cand)), cand] -= 1
            gain = self._load(x[None, :])[0] - self._load(nb)
            ratio = (self._loss(nb) - self._loss(x[None, :])[0]) / np.maximum(gain, 1e-12)
            x = nb[int(np.argmin(ratio))]
        yield from self._fill(x)
        yield from self._swaps()

    def _fill(self, x: np.ndarray) -> Iterator[np.ndarray]:
        enc = self.enc
        while True:
            cand = np.flatnonzero(x < enc.top())
            if not len(cand):
                break
            nb = np.repeat(x[None, :], len(cand), axis=0)
            nb[np.arange(len(cand)), cand] += 1
            ok = enc.feasible(nb)
            if not ok.any():
                break
            added = np.maximum(self._load(nb) - self._load(x[None, :])[0], 1e-12)
            benefit = (self._loss(x[None, :])[0] - self._loss(nb)) / added
            benefit[~ok] = -np.inf
            x = nb[int(np.argmax(benefit))]
        if x.tobytes() not in self._acc:
            yield x[None, :]

    def _swaps(self) -> Iterator[np.ndarray]:
        """Local search: feasible one-up / one-down swaps of the best feasible policy, best estimate first."""
        enc = self.enc
        while True:
            feas = [(a, k) for k, (a, f) in self._acc.items() if f]
            if not feas:
                return
            best = np.frombuffer(max(feas)[1], dtype=np.int64).copy()
            ups, downs = np.flatnonzero(best < enc.top()), np.flatnonzero(best > 0)
            nb = []
            for u in ups:
                for d in downs:
                    if u != d:
                        y = best.copy()
                        y[u] += 1
                        y[d] -= 1
                        nb.append(y)
            for g in downs:  # plain lowering too (frees budget; useful when all swaps are infeasible)
                y = best.copy()
                y[g] -= 1
                nb.append(y)
            nb = np.array([y for y in nb if y.tobytes() not in self._acc]).reshape(-1, enc.dim)
            if not len(nb):
                return
            nb = nb[enc.feasible(nb)]
            if not len(nb):
                return
            yield nb[int(np.argmin(self._loss(nb)))][None, :]
