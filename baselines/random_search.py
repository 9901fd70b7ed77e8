"""Random search: uniformly random policies, optionally only feasible ones.

Pseudocode::

    repeat until the budget is used:
        draw `batch` policies uniformly from the space
        if feasible_only: redraw (up to `max_tries`) those that break a constraint (cheap cost())
        evaluate the batch
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mico.problem import Evaluation, Problem
from mico.search import AskTell
from mico.space import Policy


@dataclass
class RandomSearch(AskTell):
    """Uniform random policies (rejection-sampled to the constraints when ``feasible_only``)."""

    batch: int = 1
    feasible_only: bool = True
    max_tries: int = 1000
    name: str = "random"

    def __post_init__(self) -> None:
        if self.batch <= 0 or self.max_tries <= 0:
            raise ValueError(f"batch and max_tries must be positive, got {self.batch} and {self.max_tries}")

    def setup(self, problem: Problem, rng: np.random.Generator) -> None:
        self._seen: set[str] = set()

    def _draw(self) -> Policy:
        space = self.problem.space
        for _ in range(self.max_tries):
            p = space.sample(self.rng)
            if p.key() in self._seen:
                continue
            if not self.feasible_only or self.problem.is_feasible(self.problem.cost(p)):
                return p
        return space.sample(self.rng)

    def ask(self) -> list[Policy]:
        out = []
        for _ in range(min(self.batch, self.problem.remaining)):
            p = self._draw()
            self._seen.add(p.key())
            out.append(p)
        return out

    def tell(self, evaluations: Sequence[Evaluation]) -> None:
        pass
