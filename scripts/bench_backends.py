"""Evaluation backends side by side: serial vs a local process pool vs a local 2-worker Ray.

For each batch searcher the same seeded search runs once per backend on a fresh SQLite cache (no
cache hits), so every run computes every evaluation. The table gives the search's wall time,
the speedup over serial, and whether the trials (policies and accuracies, in order) are identical
to the serial run's. Serial uses every torch thread (2 here); each worker uses one, so on a
2-core machine the speedup over `serial` measures parallel evaluation against torch's own
intra-op threads, and the speedup over `serial-1thread` (one thread, the work of one worker)
measures how the backend scales with its workers.
Start-up (a local Ray node, spawned workers) is timed separately, and an untimed warm-up search
loads the model and data in every worker (and in the serial process) first.

    python scripts/bench_backends.py --model lenet5 --proxy ptq --evals 32 --searchers random,mico,ga
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import torch

from mico import registry
from mico.backends import make_backend
from mico.cache import EvalCache
from mico.compare import markdown_table
from mico.experiment import ExperimentConfig, build_problem
from mico.search import run

BATCH = {"random": {"batch": 4}, "mico": {"batch": 4}, "ga": {}, "nsga2": {}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="lenet5")
    ap.add_argument("--proxy", default="ptq", choices=["ptq", "qat", "hybrid"])
    ap.add_argument("--cost", default="bops")
    ap.add_argument("--budget-ratio", type=float, default=0.25)
    ap.add_argument("--evals", type=int, default=32)
    ap.add_argument("--searchers", default="random,mico,ga")
    ap.add_argument("--backends", default="serial,serial-1thread,processes,ray",
                    help="serial (all torch threads), serial-1thread, processes, ray")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="results/backend_speedup.md")
    args = ap.parse_args(argv)

    cfg = ExperimentConfig(model=args.model, proxy=args.proxy, cost=args.cost, budget_ratio=args.budget_ratio,
                           evals=args.evals)
    backends, startup = {}, {}
    for name in args.backends.split(","):
        t0 = time.perf_counter()
        serial = name.startswith("serial")
        backends[name] = make_backend("serial") if serial else make_backend(name, workers=args.workers)
        if not serial:  # warm the workers (Ray node start, spawned processes import torch)
            backends[name].map(abs, list(range(args.workers)))
        startup[name] = time.perf_counter() - t0
        with tempfile.TemporaryDirectory() as tmp:  # untimed warm-up: every worker loads model and data
            warm = build_problem(replace(cfg, evals=2 * args.workers), cache=EvalCache(Path(tmp) / "w.sqlite"),
                                 progress=False, backend=backends[name])
            run(registry.searcher("random", batch=2 * args.workers), warm, seed=12345)
    rows = []
    for sname in args.searchers.split(","):
        serial_trials = None
        for bname, backend in backends.items():
            threads = torch.get_num_threads()
            if bname == "serial-1thread":  # the same work per evaluation as one worker does
                torch.set_num_threads(1)
            with tempfile.TemporaryDirectory() as tmp:
                problem = build_problem(cfg, cache=EvalCache(Path(tmp) / "evals.sqlite"), progress=False,
                                        backend=backend)
                searcher = registry.searcher(sname, **BATCH.get(sname, {}))
                res = run(searcher, problem, seed=args.seed)
                trials = [(e.policy.key(), round(e.accuracy, 9)) for e in problem.history]
                if bname == "serial":
                    serial_trials = trials
                best = res.best.accuracy if res.best is not None else float("nan")
                rows.append({"searcher": sname, "backend": bname, "evaluations": problem.used,
                             "wall_s": round(res.wall_s, 2), "best_feasible_acc": round(best, 4),
                             "same_trials_as_serial": None if serial_trials is None else trials == serial_trials})
                print(rows[-1], flush=True)
            torch.set_num_threads(threads)
    for b in backends.values():
        b.close()
    df = pd.DataFrame(rows)
    for base in ("serial", "serial-1thread"):
        if base in backends:
            ref = df[df.backend == base].set_index("searcher")["wall_s"]
            df[f"speedup_vs_{base}"] = [round(ref.get(s, float("nan")) / w, 2) for s, w in zip(df.searcher, df.wall_s)]
    cmd = "python " + " ".join([sys.argv[0]] + (argv if argv is not None else sys.argv[1:]))
    text = (f"<!-- command: {cmd} -->\n\n# Evaluation backends: serial vs processes vs Ray\n\n"
            f"{args.model}, {args.proxy} proxy, {args.cost} <= {args.budget_ratio} x W8A8, {args.evals} evaluations, "
            f"seed {args.seed}, {args.workers} workers x 1 torch thread (serial: {torch.get_num_threads()} threads), "
            f"fresh evaluation cache per run. Backend start-up (s, not in wall_s): "
            + ", ".join(f"{k} {v:.1f}" for k, v in startup.items()) + ".\n\n" + markdown_table(df) + "\n")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)
    if "ray" in backends:
        import ray

        ray.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
