"""Backends give the same trials as serial evaluation (real process pool, real local Ray)."""

import pytest

from baselines.random_search import RandomSearch
from mico.backends import make_backend
from mico.search import run

from .conftest import toy_problem


def _trials(backend):
    prob = toy_problem(budget=16, n_layers=5)
    prob.backend = backend
    run(RandomSearch(batch=4), prob, seed=11)
    return [(e.policy.key(), e.accuracy) for e in prob.history]


@pytest.mark.parametrize("name", ["processes", "ray"])
def test_backend_same_trials_as_serial(name):
    serial = _trials(make_backend("serial"))
    backend = make_backend(name, workers=2)
    try:
        assert _trials(backend) == serial
    finally:
        backend.close()
        if name == "ray":
            import ray

            ray.shutdown()


def test_unknown_backend():
    with pytest.raises(ValueError, match="known: serial, processes, ray"):
        make_backend("dask")
