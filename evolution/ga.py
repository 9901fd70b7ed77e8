"""A constraint-aware genetic algorithm (feasibility-first tournament, repair, elitism) on DEAP.

Goldberg, *Genetic Algorithms in Search, Optimization and Machine Learning* (1989); constraint
handling after Deb, "An efficient constraint handling method for genetic algorithms", CMAME 2000.

Pseudocode::

    population <- repaired random policies (+ the most expensive feasible uniform policy)
    repeat until the budget is used:
        parents <- tournaments on (feasible, accuracy or -violation)   # feasibility first
        children <- uniform crossover, one-level mutation, repair (lower the costliest bits)
        evaluate the children (one batch = one generation)
        population <- the `elite` best parents + the best of the rest of parents and children

Deviations from the paper: fitness is lexicographic (feasible, accuracy) rather than a penalty;
children that were evaluated before are mutated again (the budget counts distinct policies).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from evolution.operators import (
    Encoding,
    FeasibleFirstFitness,
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
    """A list of choice indices with a DEAP fitness (no global ``creator``)."""

    def __init__(self, genes, fitness: FeasibleFirstFitness):
        super().__init__(genes)
        self.fitness = fitness


@dataclass
class GeneticSearch(AskTell):
    """Generational GA with feasibility-first tournaments, repair and elitism; batch = population."""

    population: int = 10
    elite: int = 2
    tournament: int = 3
    p_crossover: float = 0.5  # per gene swap of uniform crossover
    p_mutation: float = 0.1  # per gene one-level move
    repair: bool = True
    name: str = "ga"

    def __post_init__(self) -> None:
        if self.population < 2 or not 0 <= self.elite < self.population or self.tournament < 1:
            raise ValueError(f"need population >= 2, 0 <= elite < population, tournament >= 1; got "
                             f"{self.population}, {self.elite}, {self.tournament}")

    def setup(self, problem: Problem, rng: np.random.Generator) -> None:
        self.enc = Encoding(problem)
        self.pop: list[Individual] = []
        self._seen: set[bytes] = set()

    def _fitness(self, ev: Evaluation) -> FeasibleFirstFitness:
        f = FeasibleFirstFitness()
        v = 0.0 if ev.feasible else float(self.enc.violation(self.enc.encode([ev.policy]))[0])
        f.values = (1.0, ev.accuracy) if ev.feasible else (0.0, -v)
        return f

    def _fix(self, X: np.ndarray) -> np.ndarray:
        return mut_repair(X, self.enc, self.rng) if self.repair else X

    def ask(self) -> list[Policy]:
        n = min(self.population, self.problem.remaining)
        if not self.pop:
            X = self.enc.random(4 * n, self.rng)
            uni = np.array([[i] * self.enc.nf + [j] * self.enc.nf for i in range(len(self.enc.wch))
                            for j in range(len(self.enc.ach))], dtype=np.int64)
            ok = self.enc.violation(uni) == 0
            if ok.any():  # the most expensive feasible uniform policy anchors the start
                X = np.vstack([uni[ok][np.argmax(uni[ok].sum(axis=1))][None, :], X])
            X = unique_new(self._fix(X), self._seen)[:n]
        else:
            keys = np.array([ind.fitness.values for ind in self.pop])
            X = np.zeros((0, self.enc.dim), dtype=np.int64)
            for _ in range(20):
                m = 2 * n
                P = np.array(self.pop, dtype=np.int64)
                a = P[sel_tournament(keys, m, self.tournament, self.rng)]
                b = P[sel_tournament(keys, m, self.tournament, self.rng)]
                c1, _ = cx_uniform(a, b, self.p_crossover, self.rng)
                kids = self._fix(mut_level(c1, self.enc.levels, self.p_mutation, self.rng))
                X = unique_new(np.vstack([X, kids]), self._seen)
                if len(X) >= n:
                    break
            X = X[:n]
        for x in X:
            self._seen.add(x.tobytes())
        return self.enc.policies(X)

    def tell(self, evaluations: Sequence[Evaluation]) -> None:
        kids = [Individual(self.problem.space.encode(ev.policy), self._fitness(ev)) for ev in evaluations]
        ranked = sorted(self.pop, key=lambda i: i.fitness.values, reverse=True)
        elite, rest = ranked[: self.elite], ranked[self.elite :] + kids
        rest.sort(key=lambda i: i.fitness.values, reverse=True)
        self.pop = elite + rest[: self.population - len(elite)]
