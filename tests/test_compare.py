"""The comparison harness: runs, resumes, skips finished runs, reports from records only, rejects bad input."""

import json

import pandas as pd
import pytest

from mico import registry
from mico.compare import compare, report, run_dir_for
from mico.experiment import ExperimentConfig
from mico.record import RunRecord

from .conftest import toy_problem

CFG = ExperimentConfig(model="toy", evals=8, experiment="t")


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(registry.BUILTIN, "mico.searchers", {**registry.BUILTIN["mico.searchers"],
                                                             "uniform": "baselines.uniform:UniformSearch",
                                                             "ga": "evolution.ga:GeneticSearch"})


def factory(run_dir):
    return toy_problem(budget=8, ratio=0.4, n_layers=4, record=RunRecord(run_dir))


def test_compare_writes_tables_figures_and_resumes(registered, tmp_path):
    table = compare(CFG, ["random", "ga"], 2, tmp_path, problem_factory=factory, progress=False,
                    reference="ga", optimum=0.95)
    assert set(table["searcher"]) == {"random", "ga"}
    assert {"best_mean", "best_std", "best_ci95", "evals_to_target_median", "wall_s_mean", "p_vs_ga",
            "regret_mean"} <= set(table.columns)
    for f in ("table.md", "table.csv", "curves.csv", "efficiency_evals.png", "efficiency_time.png", "pareto.png",
              "bits_heatmap.png"):
        assert (tmp_path / f).exists(), f
    assert pd.read_csv(tmp_path / "table.csv").shape[0] == 2
    curves = pd.read_csv(tmp_path / "curves.csv")
    assert (curves.groupby(["searcher", "seed"])["evals"].max() == 8).all()

    # a finished run is skipped ...
    done = run_dir_for(tmp_path, "toy", "random", 0)
    stamp = (done / "summary.json").stat().st_mtime_ns
    # ... an interrupted one resumes from its trials and ends with the same trials
    cut = run_dir_for(tmp_path, "toy", "ga", 1)
    full = (cut / "trials.jsonl").read_text().splitlines()
    (cut / "summary.json").unlink()
    (cut / "trials.jsonl").write_text("\n".join(full[:3]) + "\n")
    table2 = compare(CFG, ["random", "ga"], 2, tmp_path, problem_factory=factory, progress=False, reference="ga")
    assert (done / "summary.json").stat().st_mtime_ns == stamp
    again = (cut / "trials.jsonl").read_text().splitlines()
    assert [json.loads(x)["policy"] for x in again] == [json.loads(x)["policy"] for x in full]
    assert table2["best_mean"].tolist() == pytest.approx(table["best_mean"].tolist())

    # the report is rebuilt from the run directories alone
    dirs = [run_dir_for(tmp_path, "toy", n, s) for n in ("random", "ga") for s in (0, 1)]
    t3 = report(dirs, None, reference="ga", figures=False)
    assert t3["best_mean"].tolist() == pytest.approx(table["best_mean"].tolist())


def test_errors(registered, tmp_path):
    with pytest.raises(ValueError, match="seeds must be a positive"):
        compare(CFG, ["random"], 0, tmp_path, problem_factory=factory)
    with pytest.raises(ValueError, match="known: .*random"):
        compare(CFG, ["nope"], 1, tmp_path, problem_factory=factory)
    with pytest.raises(ValueError, match="evals must be"):
        ExperimentConfig(evals=0)
    with pytest.raises(ValueError, match="unreachable"):
        toy_problem(ratio=0.01)
    with pytest.raises(FileNotFoundError, match="finished run"):
        report([tmp_path / "missing"])


def test_register_adds_compare_command():
    import argparse

    from mico.compare import cmd_compare, register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["compare", "--searchers", "mico,random", "--seeds", "2", "--evals", "10"])
    assert args.func is cmd_compare and args.seeds == 2 and args.evals == 10


def test_demo_sets_aside_runs_of_other_settings(registered, tmp_path):
    """A demo folder from an earlier version (here: another budget, as after a latency refit) is
    moved aside whole, not deleted, and the comparison runs afresh; a rerun with the same settings
    then resumes instead of moving anything."""
    from mico.demo import compare_afresh
    from mico.record import RunConfigMismatch

    root = tmp_path / "compare"

    def tight(run_dir):
        return toy_problem(budget=8, ratio=0.3, n_layers=4, record=RunRecord(run_dir))

    compare(CFG, ["random"], 1, root, problem_factory=factory, progress=False)
    old = (run_dir_for(root, "toy", "random", 0) / "trials.jsonl").read_text()
    with pytest.raises(RunConfigMismatch, match="another configuration"):
        compare(CFG, ["random"], 1, root, problem_factory=tight, progress=False)
    compare_afresh(compare, CFG, "random", 1, root, problem_factory=tight, progress=False)
    stale = [p for p in tmp_path.iterdir() if p.name.startswith("compare.stale-")]
    assert len(stale) == 1 and (run_dir_for(stale[0], "toy", "random", 0) / "trials.jsonl").read_text() == old
    assert (run_dir_for(root, "toy", "random", 0) / "summary.json").exists()
    compare_afresh(compare, CFG, "random", 1, root, problem_factory=tight, progress=False)
    assert len([p for p in tmp_path.iterdir() if p.name.startswith("compare.stale-")]) == 1
