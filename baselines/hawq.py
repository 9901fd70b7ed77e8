"""HAWQ-style integer program: per-layer sensitivities, then one (w, a) per layer by MILP under the budgets.

Dong et al., "HAWQ-V3: Dyadic Neural Network Quantization", ICML 2021 (the ILP formulation);
Dong et al., "HAWQ: Hessian AWare Quantization", ICCV 2019.

Pseudocode::

    evaluate all-max; for every gene g (w or a of a free layer) evaluate all-max with g at its lowest bits
    Omega_g <- measured accuracy drop (a Hessian-trace-free sensitivity), spread over levels by 4^-bits noise
    solve  min sum_l sum_c Omega_l(c) x_lc  s.t.  sum_c x_lc = 1,  sum_l cost_k(l, c) x_lc <= C_k,  x binary
    evaluate the solution; refit Omega to every evaluation (non-negative least squares);
    re-solve with no-good cuts excluding evaluated policies, until the budget is used

Deviations from the paper: Omega comes from measured single-gene accuracy drops through the
problem's proxy instead of Hessian traces x quantization perturbation (no gradients needed); the
model is refitted to every evaluation and the ILP re-solved with no-good cuts, so the remaining
budget walks the next-best ILP solutions. Per-layer costs come from ``CostModel.cost(...).per_layer``
(assumed additive; shared activation groups are priced per layer, then checked exactly; a
solution the exact costs reject, e.g. a latency that depends on the neighbouring layer's bits, is
cut off and the program re-solved, see `mico.encoding.Encoding.solve_per_layer`).
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
class HAWQSearch(AskTell):
    """Measured sensitivities + scipy.optimize.milp over one (w, a) per layer, under every budget."""

    time_limit_s: float = 10.0  # per MILP solve
    name: str = "hawq"

    def setup(self, problem: Problem, rng: np.random.Generator) -> None:
        self.enc = Encoding(problem)
        self._evals: dict[bytes, float] = {}
        self._layer_costs()
        self._plan = self._steps()

    def ask(self) -> list[Policy]:
        try:
            X = next(self._plan)
        except StopIteration:
            return []
        return self.enc.policies(np.asarray(X, dtype=np.int64).reshape(-1, self.enc.dim))

    def tell(self, evaluations: Sequence[Evaluation]) -> None:
        for ev in evaluations:
            self._evals[self.problem.space.encode(ev.policy).tobytes()] = ev.accuracy

    # ------------------------------------------------------------------ model
    def _layer_costs(self) -> None:
        """cost[k][l, wi, ai] of free layer l, and the fixed rest, from per-layer costs of uniform policies."""
        self._cost, self._rhs = self.enc.layer_costs()

    def _fit(self) -> np.ndarray:
        """Omega per gene by NNLS: acc(all-max) - acc(x) = sum_g Omega_g noise_g(x)."""
        from scipy.optimize import nnls

        keys = list(self._evals)
        X = np.array([np.frombuffer(k, dtype=np.int64) for k in keys])
        y = np.array([self._evals[k] for k in keys])
        A = self.enc.noise(X)
        b = self._acc0 - y
        ridge = 1e-3 * max(np.abs(b).max(), 1e-6)
        omega, _ = nnls(np.vstack([A, ridge * np.eye(A.shape[1])]), np.concatenate([b, np.zeros(A.shape[1])]))
        return np.maximum(omega, 1e-9)

    def _solve(self, omega: np.ndarray) -> np.ndarray | None:
        """The MILP's best policy not yet evaluated (no-good cuts), or None."""
        enc = self.enc
        nf, nw, na = enc.nf, len(enc.wch), len(enc.ach)
        wi, ai = np.meshgrid(np.arange(nw), np.arange(na), indexing="ij")
        pairs = np.hstack([wi.reshape(-1, 1).repeat(nf, 1), ai.reshape(-1, 1).repeat(nf, 1)])
        noise = enc.noise(pairs.astype(np.int64))  # (nw*na, 2nf): every level pair per layer
        penalty = (noise[:, :nf] * omega[:nf] + noise[:, nf:] * omega[nf:]).T  # (nf, nw*na)
        seen = [np.frombuffer(k, dtype=np.int64) for k in self._evals]
        return enc.solve_per_layer(penalty, self._cost, self._rhs, seen, self.time_limit_s)

    def _steps(self) -> Iterator[np.ndarray]:
        enc = self.enc
        top = enc.top()
        yield top[None, :]
        self._acc0 = self._evals[top.tobytes()]
        genes = np.flatnonzero(top > 0)
        probes = np.repeat(top[None, :], len(genes), axis=0)
        probes[np.arange(len(genes)), genes] = 0
        probes = probes[: max(0, self.problem.remaining - 1)]
        if len(probes):
            yield probes
        while True:
            x = self._solve(self._fit())
            if x is None:
                return
            yield x[None, :]
