import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from mico.cache import EvalCache
from mico.problem import BudgetExhausted, Constraint, Problem
from mico.proxies import ToyProxy
from mico.record import CorruptRecordError, RunRecord
from mico.space import Policy

from .conftest import toy_problem, toy_space


def test_budget_counts_distinct_policies_and_repeats_are_free(rng):
    prob = toy_problem(budget=3)
    p = prob.space.sample(rng)
    e1 = prob.evaluate(p)
    e2 = prob.evaluate(p)
    assert e2.repeat and not e1.repeat and prob.used == 1 and e2.accuracy == e1.accuracy
    prob.evaluate(prob.space.uniform(2))
    prob.evaluate(prob.space.uniform(4))
    with pytest.raises(BudgetExhausted):
        prob.evaluate(prob.space.uniform(8))
    assert prob.evaluate(p).repeat  # still free after exhaustion


def test_feasibility_and_cost_unbudgeted():
    prob = toy_problem(budget=5, ratio=0.3)
    assert prob.cost(prob.space.uniform(8))["bops"] > prob.constraints[0].limit
    assert prob.used == 0
    assert not prob.evaluate(prob.space.uniform(8)).feasible
    assert prob.evaluate(prob.space.uniform(2)).feasible


def test_unreachable_budget_says_what_cheapest_costs():
    space = toy_space()
    from mico.costs import BOPs

    with pytest.raises(ValueError, match="unreachable: the cheapest policy .* costs"):
        Problem(space, ToyProxy(space), {"bops": BOPs()}, [Constraint("bops", 1.0)], 10)


def test_zero_budget_rejected():
    space = toy_space()
    with pytest.raises(ValueError, match="positive integer"):
        Problem(space, ToyProxy(space), {}, [], 0)


def test_cache_hits_flagged_and_corruption_detected(tmp_path, rng):
    cache = EvalCache(tmp_path / "c.sqlite")
    p = toy_space().sample(rng)
    a = toy_problem(cache=cache).evaluate(p)
    b = toy_problem(cache=cache).evaluate(p)
    assert not a.cache_hit and b.cache_hit and a.accuracy == b.accuracy
    key = toy_problem(cache=cache).cache_key(p)
    cache.conn.execute("UPDATE evals SET value = replace(value, '0.', '9.') WHERE key = ?", (key,))
    c = toy_problem(cache=cache).evaluate(p)
    assert not c.cache_hit and c.accuracy == a.accuracy


def test_cache_key_separates_settings(rng):
    p = toy_space().sample(rng)
    space = toy_space()
    k1 = Problem(space, ToyProxy(space, seed=0), budget=1).cache_key(p)
    k2 = Problem(space, ToyProxy(space, seed=1), budget=1).cache_key(p)
    k3 = Problem(space.with_bits((2, 4)), ToyProxy(space, seed=0), budget=1).cache_key(p)
    assert len({k1, k2, k3}) == 3


def test_record_resume_and_corruption(tmp_path, rng):
    rec = RunRecord(tmp_path / "run")
    prob = toy_problem(budget=10, record=rec)
    pols = [prob.space.sample(rng) for _ in range(4)]
    for p in pols:
        prob.evaluate(p)
    rec.close()
    resumed = toy_problem(budget=10, record=RunRecord(tmp_path / "run"))
    ev = resumed.evaluate(pols[2])
    assert ev.index == 2 and resumed.used == 1
    lines = (tmp_path / "run" / "trials.jsonl").read_text().splitlines()
    assert len(lines) == 4  # replayed evaluations are not written twice
    # a torn last line (killed mid-write) is dropped; a corrupted middle line is an error
    with open(tmp_path / "run" / "trials.jsonl", "a") as fh:
        fh.write('{"index": 4, "pol')
    assert len(RunRecord(tmp_path / "run").load_trials()) == 4
    bad = lines[:]
    bad[1] = bad[1].replace('"accuracy": 0', '"accuracy": 1')
    (tmp_path / "run" / "trials.jsonl").write_text("\n".join(bad) + "\n")
    with pytest.raises(CorruptRecordError, match="line 2"):
        toy_problem(record=RunRecord(tmp_path / "run"))


KILL_SCRIPT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {root!r})
    from tests.conftest import toy_problem
    from mico.record import RunRecord
    from mico.search import run
    from baselines.random_search import RandomSearch
    import mico.proxies as px

    slow = px.ToyProxy.evaluate
    def evaluate(self, policy):
        time.sleep(float(sys.argv[2]))
        return slow(self, policy)
    px.ToyProxy.evaluate = evaluate
    prob = toy_problem(budget=30, n_layers=6, record=RunRecord(sys.argv[1]))
    run(RandomSearch(), prob, seed=7)
""")


def test_killed_random_search_resumes_without_loss_or_repeat(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    script = tmp_path / "run.py"
    script.write_text(KILL_SCRIPT.format(root=root))
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, str(script), str(run_dir), "0.05"])
    trials = run_dir / "trials.jsonl"
    for _ in range(400):
        if trials.exists() and len(trials.read_text().splitlines()) >= 8:
            break
        proc.poll()
        import time

        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len(RunRecord(run_dir).load_trials())
    assert 8 <= done_before < 30
    subprocess.run([sys.executable, str(script), str(run_dir), "0"], check=True)
    trials_after = RunRecord(run_dir).load_trials()
    keys = [json.dumps(t["policy"]) for t in trials_after]
    assert len(trials_after) == 30 and len(set(keys)) == 30
    assert [t["index"] for t in trials_after] == list(range(30))
    # the same seed without interruption gives exactly the same trials
    clean = tmp_path / "clean"
    subprocess.run([sys.executable, str(script), str(clean), "0"], check=True)
    assert [json.dumps(t["policy"]) for t in RunRecord(clean).load_trials()] == keys
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["used"] == 30


def test_pareto_front_is_non_dominated(rng):
    prob = toy_problem(budget=30)
    for _ in range(30):
        prob.evaluate(prob.space.sample(rng))
    front = prob.pareto_front("bops")
    for e in front:
        assert not any(o.accuracy > e.accuracy and o.costs["bops"] < e.costs["bops"] for o in prob.history)
    assert np.all(np.diff([e.costs["bops"] for e in front]) >= 0)


def test_policy_outside_space_rejected():
    prob = toy_problem()
    with pytest.raises(ValueError, match="not in the allowed set"):
        prob.evaluate(Policy((3,) * 4, (8,) * 4))
