"""The comparison harness: every searcher on one problem, same evaluations and seeds, then tables and figures.

`compare` runs each (searcher, seed) into its own run directory under ``out_dir``
(``<model>__<searcher>__s<seed>``): a finished run (``summary.json``) is skipped, an interrupted
one resumes from its ``trials.jsonl`` (the `Problem` replays it). Searchers are reached only
through `mico.registry` by name. `report` rebuilds every table and figure from run directories
alone, so results can be regenerated (or merged across machines) without re-running anything:

- ``table.md`` / ``table.csv``: best feasible accuracy (mean, std, 95 % CI over seeds),
  evaluations to reach within ``tol`` (absolute, default 0.5 points) of the best found by any run,
  wall time, and a two-sided Mann-Whitney U test of each searcher's final accuracies against the
  reference searcher (MiCo);
- ``curves.csv``: best feasible accuracy after each evaluation, per run (long format);
- ``efficiency_evals.png``, ``efficiency_time.png``: mean best-so-far with a 95 % CI band against
  evaluations and against cumulative compute time;
- ``pareto.png``: accuracy vs the constrained cost of every searcher's non-dominated evaluations;
- ``bits_heatmap.png``: per-layer W / A bits of every searcher's best policy.

Cumulative compute time is the sum of the proxy compute times of the evaluations so far
(``eval_s``; a cache hit keeps its original time, so runs sharing the cache stay comparable) plus
the searcher's own overhead (run wall time minus the proxy time it actually spent), spread evenly.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mico import registry
from mico.problem import Problem
from mico.search import run, run_config

log = logging.getLogger(__name__)

REFERENCE = "mico"


def run_dir_for(out_dir: str | Path, model: str, searcher: str, seed: int) -> Path:
    return Path(out_dir) / f"{model}__{searcher}__s{seed}"


def compare(cfg: Any, searchers: Sequence[str], seeds: int, out_dir: str | Path, backend: Any = None, *,
            problem_factory: Callable[[Path], Problem] | None = None, progress: bool = True,
            reference: str = REFERENCE, optimum: float | None = None,
            hyperparameters: dict[str, dict[str, Any]] | None = None) -> pd.DataFrame:
    """Run ``searchers`` x seeds ``0..seeds-1`` on ``cfg`` (an `ExperimentConfig`); return the `report` table.

    ``problem_factory(run_dir)`` replaces `mico.experiment.build_problem` (e.g. for the toy
    problem); ``optimum`` (known best feasible accuracy) adds regret columns;
    ``hyperparameters`` maps a searcher name to keyword arguments of its constructor.
    """
    if not isinstance(seeds, (int, np.integer)) or seeds <= 0:
        raise ValueError(f"seeds must be a positive integer (runs per searcher), got {seeds!r}")
    if int(getattr(cfg, "evals", 1)) <= 0:
        raise ValueError(f"cfg.evals must be a positive number of evaluations, got {cfg.evals}")
    if not searchers:
        raise ValueError("give at least one searcher, e.g. ['mico', 'random']")
    hyperparameters = hyperparameters or {}
    for name in searchers:  # fail fast on an unknown name (the registry lists the known ones)
        registry.searcher(name, **hyperparameters.get(name, {}))
    if problem_factory is None:
        from mico.experiment import build_problem

        def problem_factory(run_dir: Path) -> Problem:
            return build_problem(cfg, run_dir=run_dir, progress=progress)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = getattr(cfg, "model", "problem")
    jobs = [(name, seed) for seed in range(int(seeds)) for name in searchers]
    dirs = []
    from tqdm.auto import tqdm

    bar = tqdm(jobs, desc="compare", disable=not progress, unit="run")
    for name, seed in bar:
        run_dir = run_dir_for(out_dir, model, name, seed)
        dirs.append(run_dir)
        bar.set_postfix_str(f"{name} s{seed}")
        searcher = registry.searcher(name, **hyperparameters.get(name, {}))
        problem = problem_factory(run_dir)
        if (run_dir / "summary.json").exists() and problem.record is not None:
            problem.record.write_config(run_config(searcher, problem, seed))  # raises if the settings differ
            continue
        if backend is not None:
            problem.backend = backend
        if problem.record is None:
            raise ValueError("problem_factory must give the problem a RunRecord of run_dir (resumable runs)")
        run(searcher, problem, seed=seed)
    return report(dirs, out_dir, reference=reference, optimum=optimum)


# ---------------------------------------------------------------------------- loading records
def load_run(run_dir: str | Path) -> dict[str, Any]:
    """config, summary and trials (a DataFrame) of one finished run directory."""
    run_dir = Path(run_dir)
    for f in ("config.json", "summary.json", "trials.jsonl"):
        if not (run_dir / f).exists():
            raise FileNotFoundError(f"{run_dir / f} is missing: is {run_dir} a finished run directory?")
    config = json.loads((run_dir / "config.json").read_text())
    summary = json.loads((run_dir / "summary.json").read_text())
    rows = [json.loads(line) for line in (run_dir / "trials.jsonl").read_text().splitlines() if line.strip()]
    trials = pd.DataFrame(rows).sort_values("index").reset_index(drop=True)
    return {"dir": run_dir, "config": config, "summary": summary, "trials": trials}


def _curves(runs: list[dict[str, Any]]) -> pd.DataFrame:
    out = []
    for r in runs:
        t = r["trials"]
        acc = np.where(t["feasible"].to_numpy(bool), t["accuracy"].to_numpy(float), -np.inf)
        best = np.maximum.accumulate(acc) if len(acc) else acc
        eval_s = t["eval_s"].to_numpy(float)
        computed = eval_s[~t.get("cache_hit", pd.Series(False, index=t.index)).to_numpy(bool)].sum()
        overhead = max(float(r["summary"].get("wall_s", 0.0)) - computed, 0.0)
        n = len(t)
        cum = np.cumsum(eval_s) + overhead * np.arange(1, n + 1) / max(n, 1)
        out.append(pd.DataFrame({
            "searcher": r["summary"]["searcher"], "seed": r["summary"]["seed"], "evals": np.arange(1, n + 1),
            "best": np.where(np.isfinite(best), best, np.nan), "time_s": cum, "accuracy": t["accuracy"],
            "feasible": t["feasible"],
        }))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def _ci95(x: np.ndarray) -> float:
    from scipy import stats

    x = x[np.isfinite(x)]
    if len(x) < 2:
        return float("nan")
    return float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))


# ---------------------------------------------------------------------------- report
def report(run_dirs: Sequence[str | Path], out_dir: str | Path | None = None, *, reference: str = REFERENCE,
           tol: float = 0.005, optimum: float | None = None, figures: bool = True) -> pd.DataFrame:
    """Table (and files + figures under ``out_dir``) from run directories only; see the module docstring."""
    from scipy import stats

    runs = [load_run(d) for d in run_dirs]
    if not runs:
        raise ValueError("report needs at least one finished run directory")
    curves = _curves(runs)
    best_found = float(np.nanmax(curves["best"])) if curves["best"].notna().any() else float("nan")
    target = best_found - tol
    finals, rows = {}, []
    for (name, seed), c in curves.groupby(["searcher", "seed"], sort=False):
        reach = c.loc[c["best"] >= target, "evals"]
        final = float(c["best"].iloc[-1]) if len(c) else float("nan")
        wall = next(float(r["summary"]["wall_s"]) for r in runs
                    if r["summary"]["searcher"] == name and r["summary"]["seed"] == seed)
        finals.setdefault(name, []).append(final)
        rows.append({"searcher": name, "seed": seed, "final": final, "to_target": reach.min() if len(reach) else np.nan,
                     "evals": int(c["evals"].max()), "wall_s": wall, "n_feasible": int(c["feasible"].sum())})
    per_run = pd.DataFrame(rows)
    table = []
    for name, g in per_run.groupby("searcher", sort=False):
        f = g["final"].to_numpy(float)
        row = {
            "searcher": name, "runs": len(g), "evals": int(g["evals"].max()),
            "best_mean": np.nanmean(f) if np.isfinite(f).any() else np.nan, "best_std": np.nanstd(f, ddof=1) if len(f) > 1 else 0.0,
            "best_ci95": _ci95(f), "best_max": np.nanmax(f) if np.isfinite(f).any() else np.nan,
            "evals_to_target_median": g["to_target"].median(), "reached_target": f"{int(g['to_target'].notna().sum())}/{len(g)}",
            "wall_s_mean": g["wall_s"].mean(),
        }
        if optimum is not None:
            regret = optimum - np.where(np.isfinite(f), f, optimum - 1.0)
            row["regret_mean"], row["regret_median"] = float(regret.mean()), float(np.median(regret))
        p = np.nan
        if name != reference and reference in finals:
            a, b = np.nan_to_num(np.array(finals[reference]), nan=-1.0), np.nan_to_num(f, nan=-1.0)
            if len(a) >= 2 and len(b) >= 2 and not (np.all(a == a[0]) and np.array_equal(np.sort(a), np.sort(b))):
                p = float(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)
            elif len(a) >= 1 and len(b) >= 1:
                p = 1.0 if np.array_equal(np.sort(a), np.sort(b)) else np.nan
        row[f"p_vs_{reference}"] = p
        table.append(row)
    table = pd.DataFrame(table).sort_values("best_mean", ascending=False, na_position="last").reset_index(drop=True)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        table.to_csv(out / "table.csv", index=False)
        per_run.to_csv(out / "runs.csv", index=False)
        curves.to_csv(out / "curves.csv", index=False)
        header = (f"Best feasible accuracy over {int(per_run.groupby('searcher').size().max())} seeds; target = best found "
                  f"({best_found:.4f}) - {tol}; p = two-sided Mann-Whitney U vs {reference}.\n\n")
        (out / "table.md").write_text(header + markdown_table(table) + "\n")
        if figures:
            _figures(runs, curves, out, optimum)
    return table


def markdown_table(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        cells = []
        for c in cols:
            v = r[c]
            cells.append(f"{v:.4g}" if isinstance(v, (float, np.floating)) else str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _figures(runs: list[dict[str, Any]], curves: pd.DataFrame, out: Path, optimum: float | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
    c = curves.dropna(subset=["best"])
    y, label = ("regret", "regret (optimum - best feasible accuracy)") if optimum is not None else ("best", "best feasible accuracy")
    if optimum is not None:
        c = c.assign(regret=optimum - c["best"])
    fig, ax = plt.subplots(figsize=(6, 4))
    sns.lineplot(data=c, x="evals", y=y, hue="searcher", errorbar=("se", 1.96), ax=ax)
    if optimum is not None:
        ax.set_yscale("symlog", linthresh=1e-3)
    ax.set(xlabel="evaluations", ylabel=label, title="search efficiency")
    fig.tight_layout()
    fig.savefig(out / "efficiency_evals.png", dpi=130)
    plt.close(fig)

    grid = []  # resample every run onto a common time grid so the CI band is over seeds
    tmax = float(c["time_s"].max()) if len(c) else 1.0
    ts = np.linspace(0, tmax, 100)
    for (name, seed), g in c.groupby(["searcher", "seed"]):
        idx = np.searchsorted(g["time_s"].to_numpy(), ts, side="right") - 1
        vals = np.where(idx >= 0, g[y].to_numpy()[np.maximum(idx, 0)], np.nan)
        grid.append(pd.DataFrame({"searcher": name, "seed": seed, "time_s": ts, y: vals}))
    if grid:
        fig, ax = plt.subplots(figsize=(6, 4))
        sns.lineplot(data=pd.concat(grid, ignore_index=True), x="time_s", y=y, hue="searcher", errorbar=("se", 1.96), ax=ax)
        ax.set(xlabel="cumulative compute time (s)", ylabel=label, title="search efficiency vs time")
        fig.tight_layout()
        fig.savefig(out / "efficiency_time.png", dpi=130)
        plt.close(fig)

    cons = runs[0]["config"].get("problem", {}).get("constraints", [])
    cost = cons[0]["cost"] if cons else (runs[0]["config"].get("problem", {}).get("costs") or [None])[0]
    if cost is not None:
        pts = []
        for r in runs:
            t = r["trials"]
            pts.append(pd.DataFrame({"searcher": r["summary"]["searcher"], "accuracy": t["accuracy"],
                                     cost: [d[cost] for d in t["costs"]]}))
        pts = pd.concat(pts, ignore_index=True)
        fig, ax = plt.subplots(figsize=(6, 4))
        for name, g in pts.groupby("searcher"):
            g = g.sort_values([cost, "accuracy"], ascending=[True, False])
            front = g[g["accuracy"] > g["accuracy"].cummax().shift(fill_value=-np.inf)]
            ax.step(front[cost], front["accuracy"], where="post", marker="o", ms=3, label=name)
        for cdef in cons:
            if cdef["cost"] == cost:
                ax.axvline(cdef["limit"], color="k", ls="--", lw=1, label="budget")
        ax.set(xlabel=cost, ylabel="accuracy", title="Pareto fronts (all seeds)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "pareto.png", dpi=130)
        plt.close(fig)

    winners = {}
    for r in runs:
        b = r["summary"].get("best")
        name = r["summary"]["searcher"]
        if b and (name not in winners or b["accuracy"] > winners[name]["accuracy"]):
            winners[name] = b
    if winners:
        rows, labels = [], []
        for name, b in sorted(winners.items()):
            rows += [b["policy"]["w_bits"], b["policy"]["a_bits"]]
            labels += [f"{name} W ({b['accuracy']:.3f})", f"{name} A"]
        fig, ax = plt.subplots(figsize=(1.2 + 0.45 * len(rows[0]), 0.8 + 0.3 * len(rows)))
        sns.heatmap(pd.DataFrame(rows, index=labels), annot=True, fmt="d", cmap="viridis", cbar=False, ax=ax)
        ax.set(xlabel="layer", title="bits of each searcher's best feasible policy")
        fig.tight_layout()
        fig.savefig(out / "bits_heatmap.png", dpi=130)
        plt.close(fig)


# ---------------------------------------------------------------------------- CLI
def cmd_compare(args: argparse.Namespace) -> int:
    from mico.cli import config_from_args

    if args.report:
        dirs = sorted(p.parent for p in Path(args.out).rglob("summary.json"))
        table = report(dirs, args.out)
    else:
        cfg = config_from_args(args)
        t0 = time.perf_counter()
        table = compare(cfg, [s.strip() for s in args.searchers.split(",") if s.strip()], args.seeds, args.out)
        log.info("compare finished in %.0f s", time.perf_counter() - t0)
    print(markdown_table(table))
    print(f"\ntables and figures in {args.out}")
    return 0


def register(subparsers: Any) -> None:
    """Add ``mico compare`` (hook for the ``mico.commands`` entry point group)."""
    from mico.cli import add_problem_args

    p = subparsers.add_parser("compare", help="run several searchers x seeds on one problem; tables and figures")
    add_problem_args(p)
    p.add_argument("--searchers", default="mico,ga,random,optuna,greedy",
                   help="comma-separated registered searcher names")
    p.add_argument("--seeds", type=int, default=3, help="runs per searcher (seeds 0..n-1)")
    p.add_argument("--out", default="runs/compare", help="output folder: one run directory per searcher x seed")
    p.add_argument("--report", action="store_true", help="only rebuild tables and figures from the run directories")
    p.set_defaults(func=cmd_compare)
