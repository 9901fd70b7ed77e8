"""Encoded policies of one problem: vectorised decoding and constraint pricing for batch searchers.

A policy is encoded as `SearchSpace.encode` does: an integer vector of choice indices over the
free layers, ``[w..., a...]``. The GA, NSGA-II, greedy and HAWQ searchers share this class;
`Encoding.solve_per_layer` (one (w, a) choice per layer by MILP under additive budgets) serves
HAWQ and the MiCo searcher.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mico.problem import Problem
from mico.space import Policy


class Encoding:
    """Vectorised encode/decode and constraint pricing of many encoded policies of one problem."""

    def __init__(self, problem: Problem):
        space = problem.space
        self.problem = problem
        self.free = np.array(space.free_layers, dtype=np.int64)
        self.nf = len(self.free)
        self.dim = 2 * self.nf
        self.wch, self.ach = np.array(space.w_choices), np.array(space.a_choices)
        self.levels = np.array([len(self.wch)] * self.nf + [len(self.ach)] * self.nf, dtype=np.int64)
        top = space.max_policy()
        self._w, self._a = np.array(top.w_bits), np.array(top.a_bits)
        self.limits = np.array([c.limit for c in problem.constraints])
        self.c_max = np.maximum(self.costs(self.top()[None, :])[0], self.limits) if len(self.limits) else self.limits

    def top(self) -> np.ndarray:
        return self.levels - 1

    def random(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return (rng.random((n, self.dim)) * self.levels).astype(np.int64)

    def policies(self, X: np.ndarray) -> list[Policy]:
        w = np.repeat(self._w[None, :], len(X), axis=0)
        a = np.repeat(self._a[None, :], len(X), axis=0)
        w[:, self.free] = self.wch[X[:, : self.nf]]
        a[:, self.free] = self.ach[X[:, self.nf :]]
        return [Policy(tuple(wr), tuple(ar)) for wr, ar in zip(w.tolist(), a.tolist())]

    def encode(self, policies: Sequence[Policy]) -> np.ndarray:
        return np.array([self.problem.space.encode(p) for p in policies], dtype=np.int64).reshape(-1, self.dim)

    def costs(self, X: np.ndarray) -> np.ndarray:
        """(n, K) constraint costs through one `Problem.cost_totals` call."""
        if not len(self.limits) or not len(X):
            return np.zeros((len(X), len(self.limits)))
        totals = self.problem.cost_totals(self.policies(X))
        return np.stack([totals[c.cost] for c in self.problem.constraints], axis=1)

    def violation(self, X: np.ndarray) -> np.ndarray:
        """Sum of relative budget overshoots (0 = feasible)."""
        if not len(self.limits):
            return np.zeros(len(X))
        over = np.maximum(self.costs(X) - self.limits * (1 + 1e-12), 0) / self.c_max
        return over.sum(axis=1)

    def bits(self, X: np.ndarray) -> np.ndarray:
        """Bitwidth of every gene, shape like ``X``."""
        return np.hstack([self.wch[X[:, : self.nf]], self.ach[X[:, self.nf :]]])

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

    def cheapest(self) -> np.ndarray:
        """The encoded policy that repairs aim for: per free layer the (w, a) choice with the least
        sum over constraints of cost / budget scale (additive pricing, `layer_costs`), compared on
        exact costs with the all-min policy and every uniform one (lower bits are not always
        cheaper: on Cortex-M7 some layers run faster at 8 bits than at 2)."""
        if "_cheapest" not in self.__dict__:
            nw, na = len(self.wch), len(self.ach)
            # the uniform policies (the first is the all-min one) and the per-layer argmin
            cands = [np.array([[i] * self.nf + [j] * self.nf for i in range(nw) for j in range(na)], dtype=np.int64)]
            if len(self.limits):
                table = self.unit_costs()
                flat = table.reshape(self.nf, -1).argmin(axis=1)
                cands.append(np.concatenate([flat // na, flat % na])[None, :])
            C = np.vstack(cands)
            self._cheapest = C[int(np.argmin(self.violation(C) + 1e-9 * (C.sum(axis=1) == 0)))] if len(
                self.limits) else C[0]
        return self._cheapest

    def unit_costs(self) -> np.ndarray:
        """``(free layers, w choices, a choices)``: sum over constraints of the additive layer cost
        divided by the constraint's scale (`c_max`)."""
        if "_unit" not in self.__dict__:
            cost, _ = self.layer_costs()
            self._unit = (cost / np.maximum(self.c_max, 1e-30)[:, None, None, None]).sum(axis=0)
        return self._unit

    def layer_costs(self) -> tuple[np.ndarray, np.ndarray]:
        """Additive pricing: ``cost[k, l, wi, ai]`` of free layer l and ``rhs[k]`` = limit minus the rest.

        Per-layer costs come from ``CostModel.cost(...).per_layer`` of the uniform policies (pinned
        layers and the remainder ``total - sum(per_layer)`` go to the right-hand side, the largest
        remainder over the uniform policies, so that one that varies with the bits never makes the
        program optimistic); a solution is checked exactly.
        """
        space, prob = self.problem.space, self.problem
        nw, na = len(self.wch), len(self.ach)
        cost = np.zeros((len(prob.constraints), self.nf, nw, na))
        rhs = np.array([c.limit for c in prob.constraints], dtype=float)
        rest = np.full(len(rhs), -np.inf)
        for k, c in enumerate(prob.constraints):
            model = prob.costs[c.cost]
            for wi, w in enumerate(self.wch):
                for ai, a in enumerate(self.ach):
                    c_wa = model.cost(space, space.uniform(int(w), int(a)))
                    per = np.array(c_wa.per_layer)
                    cost[k, :, wi, ai] = per[self.free]
                    rest[k] = max(rest[k], c_wa.total - per[self.free].sum())
        return cost, rhs - rest

    def solve_per_layer(self, penalty: np.ndarray, cost: np.ndarray, rhs: np.ndarray,
                        exclude: Sequence[np.ndarray] = (), time_limit_s: float = 10.0,
                        retries: int = 20) -> np.ndarray | None:
        """``min sum_l penalty[l, wi, ai]`` with one (wi, ai) per free layer under ``sum_l cost[k] <= rhs[k]``.

        A binary program (scipy ``milp``, HiGHS) as in HAWQ-V3 (Yao et al., ICML 2021); ``exclude``
        adds no-good cuts (encoded policies that must not come back). The per-layer pricing is an
        approximation where a layer's cost depends on its neighbours (latency: the input container
        comes from the previous layer), so a solution the exact cost models reject is cut off and
        the program re-solved (up to ``retries`` times). Returns the encoded feasible policy, or
        None when no solution exists.
        """
        from scipy.optimize import Bounds, LinearConstraint, milp

        nf, nw, na = self.nf, len(self.wch), len(self.ach)
        n_var = nf * nw * na  # variable index l * nw * na + wi * na + ai

        def cut(x: np.ndarray) -> LinearConstraint:
            row = np.zeros(n_var)
            row[np.arange(nf) * nw * na + x[:nf] * na + x[nf:]] = 1
            return LinearConstraint(row, -np.inf, nf - 1)

        cons = [LinearConstraint(np.kron(np.eye(nf), np.ones(nw * na)), 1, 1)]
        if len(rhs):
            cons.append(LinearConstraint(cost.reshape(len(rhs), -1), -np.inf, rhs))
        cons += [cut(x) for x in exclude]
        for _ in range(retries + 1):
            res = milp(penalty.reshape(-1), constraints=cons, integrality=np.ones(n_var), bounds=Bounds(0, 1),
                       options={"time_limit": time_limit_s})
            if res.x is None:
                return None
            choice = np.round(res.x).reshape(nf, nw * na).argmax(axis=1)
            x = np.concatenate([choice // na, choice % na]).astype(np.int64)
            if not len(self.limits) or self.feasible(x[None, :])[0]:
                return x
            cons.append(cut(x))
        return None
