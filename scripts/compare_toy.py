"""Regret of every searcher on a toy problem with a known optimum (6 layers x {2,4,8}^2: 531441 policies).

Usage: PYTHONPATH=. .venv/bin/python scripts/compare_toy.py [--evals 50] [--seeds 10] [--ratio 0.3]
Writes results/toy_regret/ (table.md, table.csv, curves.csv, figures) from run directories in runs/toy_regret/.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from mico.compare import compare
from mico.experiment import ExperimentConfig
from mico.problem import Problem
from mico.record import RunRecord
from mico.toy import enumerate_optimum, toy_problem


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--evals", type=int, default=50)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--ratio", type=float, default=0.3, help="BOPs budget as a fraction of W8A8")
    ap.add_argument("--searchers", default=",".join(["mico", "ga", "nsga2", "random", "uniform", "greedy", "hawq", "optuna"]))
    ap.add_argument("--runs", default="runs/toy_regret")
    ap.add_argument("--out", default="results/toy_regret")
    args = ap.parse_args()
    probe = toy_problem(n_layers=6, budget=args.evals, ratio=args.ratio)
    space = probe.space
    best, _ = enumerate_optimum(probe)

    def factory(run_dir: Path) -> Problem:
        return toy_problem(n_layers=6, budget=args.evals, ratio=args.ratio, record=RunRecord(run_dir))

    t0 = time.perf_counter()
    cfg = ExperimentConfig(model="toy6", evals=args.evals, experiment="toy_regret")
    compare(cfg, args.searchers.split(","), args.seeds, args.runs, problem_factory=factory,
                    optimum=best, progress=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from mico.compare import report

    dirs = sorted(p.parent for p in Path(args.runs).rglob("summary.json"))
    report(dirs, out, optimum=best)
    cmd = "PYTHONPATH=. .venv/bin/python " + " ".join(sys.argv)
    md = (out / "table.md").read_text()
    (out / "table.md").write_text(
        f"Command: `{cmd}`\n\nToy problem: 6 layers x {{2,4,8}}^2 = {space.size()} policies, BOPs <= {args.ratio} x W8A8 "
        f"; optimum {best:.5f} by enumeration; {args.evals} evaluations, {args.seeds} seeds "
        f"({time.perf_counter() - t0:.0f} s).\n\n" + md)
    print((out / "table.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
