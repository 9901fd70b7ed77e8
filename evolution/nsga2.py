"""NSGA-II (accuracy up, one cost down) on DEAP's non-dominated sorting, with constrained domination.

Deb, Pratap, Agarwal & Meyarivan, "A fast and elitist multiobjective genetic algorithm: NSGA-II",
IEEE TEC 6(2), 2002.

Pseudocode::

    population <- repaired random policies; evaluate them
    repeat until the budget is used:
        children <- binary tournaments on (feasible, -front rank, crowding), uniform crossover, mutation, repair
        evaluate the children (one batch = one generation)
        population <- best of parents + children: feasible ones by non-dominated sort and crowding
                      distance (deap.tools.selNSGA2), infeasible ones after, by violation

The Pareto front is read from the problem's history (`Problem.pareto_front`), as for every searcher.

Deviations from the paper: constraints by Deb's constrained domination applied as two tiers
(feasible before infeasible) rather than inside the dominance test; with ``repair`` (default)
children are lowered into the budget, so the front lies under the constraint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from deap import tools

from evolution.operators import (
    AccuracyCostFitness,
    Encoding,
    cx_uniform,
    mut_level,
    mut_repair,
    sel_tournament,
    unique_new,
)
from mico.problem import Evaluation, Problem
from mico.search import AskTell
from mico.space import Policy


class Individual(list):
    """Choice indices with a DEAP fitness, feasibility and violation (no global ``creator``)."""

    def __init__(self, genes, fitness: AccuracyCostFitness, violation: float):
        super().__init__(genes)
        self.fitness, self.violation = fitness, violation
        self.rank, self.crowding = 0, 0.0


@dataclass
class NSGA2Search(AskTell):
    """NSGA-II over (accuracy, ``cost``); ``cost`` defaults to the first constraint's cost model."""

    population: int = 10
    p_crossover: float = 0.5
    p_mutation: float = 0.1
    cost: str | None = None
    repair: bool = True
    name: str = "nsga2"

    def __post_init__(self) -> None:
        if self.population < 2:
            raise ValueError(f"NSGA2Search.population must be >= 2, got {self.population}")

    def setup(self, problem: Problem, rng: np.random.Generator) -> None:
        self.enc = Encoding(problem)
        names = [c.cost for c in problem.constraints] + sorted(problem.costs)
        self._cost = self.cost or (names[0] if names else None)
        if self._cost is not None and self._cost not in problem.costs:
            raise ValueError(f"NSGA2Search.cost {self._cost!r} is not a cost of the problem; known: {sorted(problem.costs)}")
        self.pop: list[Individual] = []
        self._seen: set[bytes] = set()

    def _fix(self, X: np.ndarray) -> np.ndarray:
        return mut_repair(X, self.enc, self.rng) if self.repair else X

    def _survive(self, inds: list[Individual], k: int) -> list[Individual]:
        feas = [i for i in inds if i.violation == 0]
        infeas = sorted((i for i in inds if i.violation > 0), key=lambda i: i.violation)
        chosen = tools.selNSGA2(feas, min(k, len(feas))) if feas else []
        for r, front in enumerate(tools.sortNondominated(chosen, len(chosen))):
            tools.emo.assignCrowdingDist(front)
            for ind in front:
                ind.rank, ind.crowding = r, ind.fitness.crowding_dist
        for ind in infeas:
            ind.rank, ind.crowding = 10**6, -ind.violation
        return chosen + infeas[: k - len(chosen)]

    def ask(self) -> list[Policy]:
        n = min(self.population, self.problem.remaining)
        if not self.pop:
            X = unique_new(self._fix(self.enc.random(4 * n, self.rng)), self._seen)[:n]
        else:
            keys = np.array([(-i.rank, i.crowding) for i in self.pop])
            P = np.array(self.pop, dtype=np.int64)
            X = np.zeros((0, self.enc.dim), dtype=np.int64)
            for _ in range(20):
                a = P[sel_tournament(keys, 2 * n, 2, self.rng)]
                b = P[sel_tournament(keys, 2 * n, 2, self.rng)]
                c1, _ = cx_uniform(a, b, self.p_crossover, self.rng)
                X = unique_new(np.vstack([X, self._fix(mut_level(c1, self.enc.levels, self.p_mutation, self.rng))]),
                               self._seen)
                if len(X) >= n:
                    break
            X = X[:n]
        for x in X:
            self._seen.add(x.tobytes())
        return self.enc.policies(X)

    def tell(self, evaluations: Sequence[Evaluation]) -> None:
        kids = []
        for ev in evaluations:
            f = AccuracyCostFitness()
            f.values = (ev.accuracy, ev.costs[self._cost] if self._cost else 0.0)
            x = self.problem.space.encode(ev.policy)
            kids.append(Individual(x, f, float(self.enc.violation(x[None, :])[0])))
        self.pop = self._survive(self.pop + kids, self.population)
