"""Uniform policies: every free layer at the same (w, a), the best feasible ones first.

Pseudocode::

    U <- every (w, a) of the allowed bits as a uniform policy (pinned layers keep their pin)
    price U in one vectorised call; order: feasible by cost, most expensive first, then infeasible
    evaluate U in that order, `batch` at a time
    stop when U is used up (or the budget)
    (the answer is the best feasible uniform policy: the baseline every MPQ paper must beat)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mico.problem import Evaluation, Problem
from mico.search import AskTell
from mico.space import Policy


@dataclass
class UniformSearch(AskTell):
    """All uniform policies, most expensive feasible first."""

    batch: int = 1
    name: str = "uniform"

    def __post_init__(self) -> None:
        if self.batch <= 0:
            raise ValueError(f"UniformSearch.batch must be positive, got {self.batch}")

    def setup(self, problem: Problem, rng: np.random.Generator) -> None:
        space = problem.space
        pols = [space.uniform(w, a) for w in sorted(space.w_choices, reverse=True)
                for a in sorted(space.a_choices, reverse=True)]
        pols = list({p.key(): p for p in pols}.values())
        totals = problem.cost_totals(pols)
        feasible = problem.feasible_mask(pols)
        if problem.constraints:
            load = sum(totals[c.cost] / c.limit for c in problem.constraints)
        else:
            load = np.array([sum(p.w_bits) + sum(p.a_bits) for p in pols], dtype=float)
        order = np.lexsort((-load, ~feasible))  # feasible first, then most expensive
        self._queue = [pols[i] for i in order]

    def ask(self) -> list[Policy]:
        out, self._queue = self._queue[: self.batch], self._queue[self.batch :]
        return out

    def tell(self, evaluations: Sequence[Evaluation]) -> None:
        pass
