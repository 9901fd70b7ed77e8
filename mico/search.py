"""The `Searcher` protocol, the `AskTell` base for batch searchers, and `run()`.

A searcher is a dataclass of hyper-parameters with a ``name`` and ``search(problem, *, seed)``.
It returns nothing: everything it learned went through `Problem.evaluate`, so `run()` derives the
best feasible policy and the Pareto front from the problem's history (and the run record).

All randomness comes from ``np.random.default_rng(seed)`` handed to the searcher; the same seed
gives the same trials.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, is_dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from mico.problem import BudgetExhausted, Evaluation, Problem
from mico.space import Policy

log = logging.getLogger(__name__)


@runtime_checkable
class Searcher(Protocol):
    name: str

    def search(self, problem: Problem, *, seed: int) -> None: ...


class AskTell(ABC):
    """Base for batch searchers: ``setup`` once, then ``ask() -> policies`` / ``tell(evaluations)``.

    `search` drives the loop until the budget is used up. A searcher whose ``ask`` returns only
    already evaluated policies 50 times in a row is considered converged. A batch is evaluated by
    the problem's backend (`mico.backends`), possibly in parallel.
    """

    name = "asktell"

    def setup(self, problem: Problem, rng: np.random.Generator) -> None:  # noqa: B027 - optional hook
        """Called once before the first ``ask``."""

    @abstractmethod
    def ask(self) -> list[Policy]: ...

    @abstractmethod
    def tell(self, evaluations: Sequence[Evaluation]) -> None: ...

    def search(self, problem: Problem, *, seed: int) -> None:
        self.problem = problem
        self.rng = np.random.default_rng(seed)
        self.setup(problem, self.rng)
        stale = 0
        while not problem.exhausted:
            batch = self.ask()
            if not batch:
                break
            before = problem.used
            try:
                evals = problem.evaluate_many(batch)
            except BudgetExhausted:
                break
            self.tell(evals)
            stale = stale + 1 if problem.used == before else 0
            if stale >= 50:
                log.warning("%s proposes only evaluated policies; stopping at %d/%d evaluations",
                            self.name, problem.used, problem.budget)
                break


def hyperparameters(searcher: Any) -> dict[str, Any]:
    if is_dataclass(searcher):
        return {f.name: getattr(searcher, f.name) for f in fields(searcher)}
    return {}


@dataclass
class RunResult:
    searcher: str
    seed: int
    best: Evaluation | None
    pareto: list[Evaluation]
    used: int
    wall_s: float
    history: list[Evaluation]

    def summary(self) -> dict[str, Any]:
        return {
            "searcher": self.searcher,
            "seed": self.seed,
            "best": self.best.to_dict() if self.best else None,
            "pareto": [e.to_dict() for e in self.pareto],
            "used": self.used,
            "wall_s": self.wall_s,
            "n_feasible": sum(e.feasible for e in self.history),
        }


def run_config(searcher: Searcher, problem: Problem, seed: int) -> dict[str, Any]:
    """What identifies a run: searcher, hyper-parameters, seed and problem (checked on resume)."""
    return {"searcher": searcher.name, "hyperparameters": _jsonable(hyperparameters(searcher)),
            "seed": int(seed), "problem": problem.config()}


def run(searcher: Searcher, problem: Problem, *, seed: int) -> RunResult:
    """Run ``searcher`` on ``problem`` with ``seed``; write config and summary to the run record."""
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if problem.record is not None:
        problem.record.write_config(run_config(searcher, problem, seed))
    t0 = time.perf_counter()
    try:
        searcher.search(problem, seed=int(seed))
    except BudgetExhausted:
        pass
    wall = time.perf_counter() - t0
    result = RunResult(searcher.name, int(seed), problem.best_feasible(), problem.pareto_front(), problem.used,
                       wall, list(problem.history))
    if problem.record is not None:
        problem.record.write_summary(result.summary())
        problem.record.close()
    return result


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        out[k] = asdict(v) if is_dataclass(v) else (v if isinstance(v, (int, float, str, bool, type(None), list, tuple, dict)) else repr(v))
    return out
