"""Optuna's Tree-structured Parzen Estimator with constraints (ask/tell, in-memory storage).

Bergstra, Bardenet, Bengio & Kegl, "Algorithms for Hyper-Parameter Optimization", NeurIPS 2011;
Akiba et al., "Optuna", KDD 2019; constrained TPE after Watanabe & Hutter (2023).

Pseudocode::

    study <- in-memory study, TPESampler(seed); constraints as trial.set_constraint (Optuna >= 5)
    repeat until the budget is used:
        trial <- study.ask(); w_l, a_l <- trial.suggest_categorical per free layer
        evaluate the policy; trial.set_constraint(cost_k, cost_k / limit_k - 1) per budget
        study.tell(trial, accuracy)

Deviations: a policy Optuna proposes twice is told the recorded accuracy again (free, not budgeted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mico.problem import Evaluation, Problem
from mico.search import AskTell
from mico.space import Policy


@dataclass
class OptunaTPESearch(AskTell):
    """Optuna TPE over categorical (w, a) per free layer, constraint-aware."""

    n_startup_trials: int = 8
    multivariate: bool = True
    name: str = "optuna"

    def setup(self, problem: Problem, rng: np.random.Generator) -> None:
        try:
            import optuna
        except ImportError as e:  # pragma: no cover
            raise ImportError("OptunaTPESearch needs optuna: pip install optuna") from e
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = optuna.samplers.TPESampler(
            seed=int(rng.integers(2**31 - 1)), n_startup_trials=self.n_startup_trials,
            multivariate=self.multivariate,
        )
        self._study = optuna.create_study(direction="maximize", sampler=sampler,
                                          storage=optuna.storages.InMemoryStorage())
        self._dists = {}
        space = problem.space
        for i in space.free_layers:
            self._dists[f"w{i}"] = optuna.distributions.CategoricalDistribution(list(space.w_choices))
            self._dists[f"a{i}"] = optuna.distributions.CategoricalDistribution(list(space.a_choices))
        self._pending: dict[str, list] = {}

    def ask(self) -> list[Policy]:
        space = self.problem.space
        trial = self._study.ask(self._dists)
        w = list(space.max_policy().w_bits)
        a = list(space.max_policy().a_bits)
        for i in space.free_layers:
            w[i], a[i] = trial.params[f"w{i}"], trial.params[f"a{i}"]
        policy = Policy(tuple(w), tuple(a))
        self._pending.setdefault(policy.key(), []).append(trial)
        return [policy]

    def tell(self, evaluations: Sequence[Evaluation]) -> None:
        for ev in evaluations:
            for trial in self._pending.pop(ev.policy.key(), []):
                for c in self.problem.constraints:
                    trial.set_constraint(c.cost, ev.costs[c.cost] / c.limit - 1.0)  # relative overshoot
                self._study.tell(trial, ev.accuracy)
