"""Baselines: uniform order, greedy / HAWQ reach a near-optimal feasible policy on the toy, Optuna runs."""

import numpy as np
import pytest

from baselines.greedy import GreedySearch
from baselines.hawq import HAWQSearch
from baselines.optuna_tpe import OptunaTPESearch
from baselines.uniform import UniformSearch
from mico import registry
from mico.problem import Constraint
from mico.search import run

from .conftest import toy_problem
from .test_mico_search import toy_optimum

NEW = {
    "mico": "mico.mico_search:MiCoSearch",
    "ga": "evolution.ga:GeneticSearch",
    "nsga2": "evolution.nsga2:NSGA2Search",
    "uniform": "baselines.uniform:UniformSearch",
    "greedy": "baselines.greedy:GreedySearch",
    "hawq": "baselines.hawq:HAWQSearch",
    "optuna": "baselines.optuna_tpe:OptunaTPESearch",
}


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(registry.BUILTIN, "mico.searchers", {**registry.BUILTIN["mico.searchers"], **NEW})


@pytest.mark.parametrize("name", sorted(NEW))
def test_conformance_through_the_registry(registered, name):
    hp = {"mico": dict(n_trees=10, n_candidates=200, population=60, generations=3)}.get(name, {})
    runs = []
    for _ in range(2):
        prob = toy_problem(budget=12, n_layers=5)
        result = run(registry.searcher(name, **hp), prob, seed=3)
        assert prob.used <= 12 and result.used == prob.used
        assert all(prob.space.contains(e.policy) for e in prob.history)
        runs.append([e.policy.key() for e in prob.history])
    assert runs[0] == runs[1], f"{name}: the same seed gave different trials"
    assert len(runs[0]) >= 6 or name == "uniform"


def test_uniform_best_feasible_first_and_stops():
    prob = toy_problem(budget=30, ratio=0.3, n_layers=4)
    run(UniformSearch(), prob, seed=0)
    assert prob.used == 9
    first = prob.history[0]
    assert first.feasible
    feas = [e for e in prob.history if e.feasible]
    assert first.costs["bops"] == max(e.costs["bops"] for e in feas)
    assert [e.feasible for e in prob.history] == sorted([e.feasible for e in prob.history], reverse=True)


@pytest.mark.parametrize("cls", [GreedySearch, HAWQSearch])
def test_sensitivity_baselines_near_optimal_on_toy(cls):
    prob = toy_problem(budget=30, ratio=0.3, n_layers=6)
    run(cls(), prob, seed=0)
    assert prob.best_feasible() is not None
    assert toy_optimum(prob) - prob.best_feasible().accuracy < 0.01


def test_hawq_milp_respects_several_budgets():
    prob = toy_problem(budget=25, ratio=0.4, n_layers=5)
    size = prob.costs["size"].cost(prob.space, prob.space.max_policy()).total
    prob.constraints = prob.constraints + (Constraint("size", 0.5 * size),)
    run(HAWQSearch(), prob, seed=0)
    probes = 1 + prob.space.n_dims  # all-max and single-gene probes may be infeasible; MILP picks may not
    assert all(e.feasible for e in prob.history[probes:])
    assert prob.used == 25


def test_tight_and_unconstrained_do_not_crash():
    for cls in (GreedySearch, HAWQSearch, OptunaTPESearch, UniformSearch):
        prob = toy_problem(budget=15, ratio=0.0626, n_layers=4)
        run(cls(), prob, seed=0)
        assert prob.best_feasible() is not None or cls is OptunaTPESearch, cls  # TPE may not find one in 15
        prob = toy_problem(budget=15, n_layers=4)
        prob.constraints = ()
        run(cls(), prob, seed=0)
        assert prob.best_feasible().accuracy == pytest.approx(
            prob.proxy.evaluate(prob.space.max_policy()).accuracy) or cls is OptunaTPESearch


def test_optuna_prefers_feasible_after_startup():
    prob = toy_problem(budget=30, ratio=0.3, n_layers=5)
    run(OptunaTPESearch(n_startup_trials=5), prob, seed=0)
    late = np.mean([e.feasible for e in prob.history[15:]])
    early = np.mean([e.feasible for e in prob.history[:5]])
    assert late >= early
