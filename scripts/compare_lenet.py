"""MiCo vs baselines on LeNet-5 (BOPs <= 0.5 x W8A8, hybrid proxy) through `mico.compare`.

Usage: PYTHONPATH=. .venv/bin/python scripts/compare_lenet.py [--evals 40] [--seeds 3]
Writes results/lenet_compare/ (table.md, table.csv, curves.csv, figures); run dirs in runs/lenet_compare/.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from mico.compare import compare
from mico.experiment import ExperimentConfig


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--evals", type=int, default=40)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--searchers", default="mico,ga,random,optuna,greedy")
    ap.add_argument("--runs", default="runs/lenet_compare")
    ap.add_argument("--out", default="results/lenet_compare")
    args = ap.parse_args()
    cfg = ExperimentConfig(model="lenet5", proxy="hybrid", cost="bops", budget_ratio=0.5, evals=args.evals,
                           experiment="lenet_compare")
    t0 = time.perf_counter()
    compare(cfg, args.searchers.split(","), args.seeds, args.runs, progress=True)
    from mico.compare import report

    dirs = sorted(p.parent for p in Path(args.runs).rglob("summary.json"))
    out = Path(args.out)
    report(dirs, out)
    cmd = "PYTHONPATH=. .venv/bin/python " + " ".join(sys.argv)
    md = (out / "table.md").read_text()
    (out / "table.md").write_text(f"Command: `{cmd}`\n\nLeNet-5, hybrid proxy (PTQ if all bits >= 4 else QAT), "
                                  f"BOPs <= 0.5 x W8A8, {args.evals} evaluations, {args.seeds} seeds "
                                  f"({time.perf_counter() - t0:.0f} s).\n\n" + md)
    print((out / "table.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
