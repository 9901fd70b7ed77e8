"""Conformance: every registered searcher stays in budget, is deterministic, and stays in the space."""

import pytest

from mico import registry
from mico.search import run

from .conftest import toy_problem

SEARCHERS = sorted(registry.available("mico.searchers"))


@pytest.mark.parametrize("name", SEARCHERS)
def test_searcher_conformance(name):
    runs = []
    for _ in range(2):
        prob = toy_problem(budget=12, n_layers=5)
        result = run(registry.searcher(name), prob, seed=3)
        assert prob.used <= 12 and result.used == prob.used
        assert all(prob.space.contains(e.policy) for e in prob.history)
        runs.append([e.policy.key() for e in prob.history])
    assert runs[0] == runs[1], f"{name}: the same seed gave different trials"
    assert len(runs[0]) >= 6


def test_unknown_searcher_lists_known():
    with pytest.raises(ValueError, match="known: .*random"):
        registry.searcher("nope")
