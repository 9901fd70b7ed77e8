"""First-improvement local search: an example of a third-party searcher for the MiCo testbed.

Pseudocode::

    x <- best feasible uniform policy (or a random feasible one)
    repeat until the budget is used:
        y <- x with one random layer's w_bits or a_bits moved one step up or down
        if y is feasible (cheap cost check) and not yet evaluated: evaluate it
        if acc(y) > acc(x): x <- y

Registered through the ``mico.searchers`` entry point in this package's pyproject.toml, so
``mico search --searcher local`` and ``mico compare --searchers local,...`` find it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mico.problem import Evaluation, Problem
from mico.search import AskTell
from mico.space import Policy


@dataclass
class LocalSearch(AskTell):
    """Hill climbing over the encoded policy (one gene changes per step)."""

    max_tries: int = 200
    name: str = "local"

    def __post_init__(self) -> None:
        if self.max_tries <= 0:
            raise ValueError(f"max_tries must be positive, got {self.max_tries}")

    def setup(self, problem: Problem, rng: np.random.Generator) -> None:
        space = problem.space
        uniform = [space.uniform(w, a) for w in sorted(space.w_choices, reverse=True)
                   for a in sorted(space.a_choices, reverse=True)]
        feasible = [p for p in uniform if problem.is_feasible(problem.cost(p))]
        self.current: Evaluation | None = None
        self.start = feasible[0] if feasible else space.min_policy()

    def ask(self) -> list[Policy]:
        if self.current is None:
            return [self.start]
        space = self.problem.space
        x = space.encode(self.current.policy)
        sizes = [len(space.w_choices)] * (len(x) // 2) + [len(space.a_choices)] * (len(x) // 2)
        for _ in range(self.max_tries):
            y = x.copy()
            i = int(self.rng.integers(len(y)))
            y[i] = int(np.clip(y[i] + self.rng.choice([-1, 1]), 0, sizes[i] - 1))
            p = space.decode(y)
            if self.problem.is_feasible(self.problem.cost(p)):
                return [p]
        return [space.decode(x)]

    def tell(self, evaluations: Sequence[Evaluation]) -> None:
        for ev in evaluations:
            if ev.feasible and (self.current is None or ev.accuracy > self.current.accuracy):
                self.current = ev
            elif self.current is None:
                self.current = ev
