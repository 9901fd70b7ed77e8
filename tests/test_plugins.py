"""A third-party package registers a searcher through an entry point; the registry and the
conformance test pick it up (the example package in examples/ is really built and installed)."""

import subprocess
import sys
from pathlib import Path

import pytest

from mico import registry
from mico.search import run

from .conftest import toy_problem

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "mico-local-search"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(EXAMPLE)], check=True)
    sys.path.insert(0, str(target))
    yield target
    sys.path.remove(str(target))


def test_entry_point_searcher_is_found_and_conforms(installed):
    assert registry.available("mico.searchers")["local"] == "mico_local_search:LocalSearch"
    keys = []
    for _ in range(2):
        prob = toy_problem(budget=10, n_layers=5)
        result = run(registry.searcher("local"), prob, seed=1)
        assert prob.used == 10 and result.best is not None
        assert all(prob.space.contains(e.policy) for e in prob.history)
        keys.append([e.policy.key() for e in prob.history])
    assert keys[0] == keys[1]


def test_cli_search_lists_plugin(installed):
    env_path = f"{installed}"
    out = subprocess.run([sys.executable, "-m", "mico.cli", "search", "--help"], capture_output=True, text=True,
                         env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"}, check=True)
    assert "local" in out.stdout
