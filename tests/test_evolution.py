"""GA and NSGA-II: feasible proposals (repair), determinism, no global DEAP creator or random state."""

import random

import pytest

from evolution.ga import GeneticSearch
from evolution.nsga2 import NSGA2Search
from mico.problem import Constraint
from mico.search import run

from .conftest import toy_problem


@pytest.mark.parametrize("cls", [GeneticSearch, NSGA2Search])
@pytest.mark.parametrize("ratio", [0.0626, 0.3])
def test_feasible_deterministic_and_global_state_untouched(cls, ratio):
    random.seed(123)
    state = random.getstate()
    runs = []
    for _ in range(2):
        prob = toy_problem(budget=20, ratio=ratio, n_layers=5)
        run(cls(population=6), prob, seed=2)
        assert all(e.feasible for e in prob.history)
        runs.append([e.policy.key() for e in prob.history])
    assert runs[0] == runs[1] and len(set(runs[0])) == len(runs[0])
    assert random.getstate() == state, "the searcher used the global random state"
    from deap import creator

    assert not [k for k in vars(creator) if k.startswith("Fitness")], "the global DEAP creator was used"


def test_ga_improves_over_its_first_generation():
    prob = toy_problem(budget=40, ratio=0.3, n_layers=6)
    run(GeneticSearch(population=8), prob, seed=0)
    first = max(e.accuracy for e in prob.history[:8])
    assert prob.best_feasible().accuracy >= first


def test_ga_without_repair_ranks_feasible_first():
    prob = toy_problem(budget=24, ratio=0.3, n_layers=5)
    s = GeneticSearch(population=8, repair=False)
    run(s, prob, seed=0)
    flags = [ind.fitness.values[0] for ind in s.pop]
    assert flags == sorted(flags, reverse=True)


def test_nsga2_pareto_front_and_multi_constraint():
    prob = toy_problem(budget=20, ratio=0.4, n_layers=5)
    size = prob.costs["size"].cost(prob.space, prob.space.max_policy()).total
    prob.constraints = prob.constraints + (Constraint("size", 0.6 * size),)
    run(NSGA2Search(population=6), prob, seed=0)
    assert all(e.feasible for e in prob.history)
    front = prob.pareto_front("bops")
    assert front and all(a.accuracy <= b.accuracy for a, b in zip(front, front[1:]))


def test_invalid_hyperparameters():
    with pytest.raises(ValueError, match="elite"):
        GeneticSearch(population=4, elite=4)
    with pytest.raises(ValueError, match="population"):
        NSGA2Search(population=1)


@pytest.mark.parametrize("cls", [GeneticSearch, NSGA2Search])
def test_repair_follows_really_cheaper_bits_on_cortex_m7(cls):
    """LeNet-5 under the Cortex-M7 latency model: its first layer is faster at 8 bits than at 2, so
    the all-2-bit policy is not the cheapest one, and a budget halfway between the cheapest policy
    and the all-2-bit one (or W8A8 if that is lower) rules it out. Repair moves genes toward the
    cheapest policy instead of lowering everything, so every proposal is feasible and the run uses
    its whole budget (lowering every gene collapsed all children onto the infeasible all-2-bit
    policy and the run stopped after one evaluation)."""
    import torch

    from mico.costs import cheapest_policy
    from mico.models import build_model
    from mico.problem import Problem
    from mico.proxies import ToyProxy
    from mico.registry import cost_model
    from mico.trace import trace_space

    space = trace_space(build_model("lenet5").eval(), torch.zeros(1, 1, 28, 28)).with_bits((2, 4, 8), (2, 4, 8))
    lat = cost_model("latency-m7")
    w8 = lat.cost(space, space.uniform(8, 8)).total
    _, cmin = cheapest_policy(space, lat)
    c2 = lat.cost(space, space.uniform(2, 2)).total
    assert c2 > cmin  # the lowest bits everywhere are not the cheapest policy here
    limit = (cmin + min(c2, w8)) / 2
    prob = Problem(space, ToyProxy(space), {"latency-m7": lat}, [Constraint("latency-m7", limit)], 24)
    run(cls(population=10), prob, seed=0)
    assert len(prob.history) == 24 and all(e.feasible for e in prob.history)
