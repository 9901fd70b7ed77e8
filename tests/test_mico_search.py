"""MiCo searcher: beats random on the toy problem, respects every budget, never crashes, deterministic."""

import numpy as np
import pytest

from mico.costs import BOPs
from mico.mico_search import MiCoSearch
from mico.problem import Constraint, Problem
from mico.proxies import ToyProxy
from mico.search import run
from mico.space import SearchSpace
from mico.toy import enumerate_optimum

from .conftest import toy_problem, toy_space

FAST = dict(n_trees=10, n_candidates=200, population=60, generations=3)


def toy_optimum(prob) -> float:
    return enumerate_optimum(prob)[0]


def test_mico_beats_random_on_toy():
    from baselines.random_search import RandomSearch

    regret = {"mico": [], "random": []}
    for seed in range(3):
        for name, s in (("mico", MiCoSearch(**FAST)), ("random", RandomSearch())):
            prob = toy_problem(budget=20, ratio=0.3, n_layers=6)
            best = run(s, prob, seed=seed).best
            regret[name].append(toy_optimum(prob) - best.accuracy)
    assert np.median(regret["mico"]) < np.median(regret["random"]), regret
    assert np.median(regret["mico"]) < 0.7 * np.median(regret["random"]), regret


@pytest.mark.parametrize("ratio", [0.0626, 0.1, 0.4, 0.9])
def test_every_proposal_is_feasible(ratio):
    prob = toy_problem(budget=15, ratio=ratio, n_layers=5)
    run(MiCoSearch(batch=3, **FAST), prob, seed=1)
    assert prob.used >= 5 or ratio < 0.07
    assert all(e.feasible for e in prob.history)


def test_several_constraints_at_once():
    prob = toy_problem(budget=15, ratio=0.4, n_layers=5)
    size_limit = 0.5 * prob.costs["size"].cost(prob.space, prob.space.max_policy()).total
    prob.constraints = prob.constraints + (Constraint("size", size_limit),)
    run(MiCoSearch(**FAST), prob, seed=0)
    assert prob.used == 15 and all(e.feasible for e in prob.history)
    assert all(e.costs["size"] <= size_limit * (1 + 1e-12) for e in prob.history)


def test_unconstrained_samples_broadly_and_finds_all_max():
    prob = toy_problem(budget=15, n_layers=4)
    prob.constraints = ()
    run(MiCoSearch(**FAST), prob, seed=0)
    keys = {e.policy.key() for e in prob.history}
    assert prob.space.max_policy().key() in keys and prob.space.min_policy().key() in keys
    assert prob.used == 15


def test_tiny_space_runs_out_without_crashing():
    space = toy_space(2, bits=(4, 8))  # 16 policies
    bops = BOPs()
    prob = Problem(space, ToyProxy(space), {"bops": bops},
                   [Constraint("bops", 0.6 * bops.cost(space, space.max_policy()).total)], budget=40)
    run(MiCoSearch(**FAST), prob, seed=0)
    feasible = sum(prob.feasible_mask([space.decode(np.array(x)) for x in np.ndindex(2, 2, 2, 2)]))
    assert prob.used == feasible and all(e.feasible for e in prob.history)


def test_deterministic_and_batches_diverse():
    runs = []
    for _ in range(2):
        prob = toy_problem(budget=14, ratio=0.4, n_layers=5)
        run(MiCoSearch(batch=4, **FAST), prob, seed=7)
        runs.append([e.policy.key() for e in prob.history])
    assert runs[0] == runs[1]
    assert len(set(runs[0])) == len(runs[0])


@pytest.mark.parametrize("surrogate", ["et", "gp"])
def test_pluggable_surrogates(surrogate):
    prob = toy_problem(budget=8, ratio=0.4, n_layers=4)
    run(MiCoSearch(surrogate=surrogate, **FAST), prob, seed=0)
    assert prob.used == 8 and prob.best_feasible() is not None


def test_cost_table_matches_cost_totals_and_falls_back_when_not_additive():
    prob = toy_problem(budget=10, ratio=0.4, n_layers=5)
    s = MiCoSearch(**FAST)
    s.problem, s.rng = prob, np.random.default_rng(0)
    s.setup(prob, s.rng)
    assert s._table is not None
    X = (s.rng.random((50, s._dim)) * s._levels).astype(np.int64)
    assert np.allclose(s._costs(X), s._exact_costs(X))
    # a shared activation group makes BOPs non-additive per layer: exact pricing, still feasible
    space = toy_space(5)
    grouped = SearchSpace(space.layers, space.w_choices, space.a_choices, a_groups=((1, 3),), model_name="g")
    bops = BOPs()
    prob = Problem(grouped, ToyProxy(grouped), {"bops": bops},
                   [Constraint("bops", 0.3 * bops.cost(grouped, grouped.max_policy()).total)], budget=10)
    s = MiCoSearch(**FAST)
    run(s, prob, seed=0)
    assert s._table is None and all(e.feasible for e in prob.history)


def test_invalid_hyperparameters():
    with pytest.raises(ValueError, match="surrogate"):
        MiCoSearch(surrogate="xgb")
    with pytest.raises(ValueError, match="roi"):
        MiCoSearch(roi_start=0.5, roi_end=0.2)
    with pytest.raises(ValueError, match="batch"):
        MiCoSearch(batch=0)
