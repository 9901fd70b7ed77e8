"""Fidelity, speed and speedup report of the latency cost models against the simulator.

Usage: .venv/bin/python scripts/latency_fidelity.py --target cortex-m7
Needs latency/data/kernels-<target>.csv (mico latency profile), latency/data/wholemodel-<target>.jsonl
(scripts/latency_wholemodel.py) and, for the HAQ baseline and the speedup figure,
latency/data/lut-<target>.json (scripts/latency_build_luts.py). Writes
results/latency/<target>/{fidelity.md, *.csv, speed.json, speedup.png} and the fitted models.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import kendalltau
from sklearn.model_selection import GroupKFold

sys.path.insert(0, str(Path(__file__).resolve().parent))
from latency_build_luts import zoo_spaces  # noqa: E402

from latency.models import AnalyticLatency, LearnedLatency, LUTLatency, _layers_key  # noqa: E402
from latency.profile import kernel_hash, load_dataset  # noqa: E402
from latency.wholemodel import OverheadModel, policy_ops, simulate_policy, word_paths, zoo_case  # noqa: E402
from mico.costs import BOPs  # noqa: E402
from mico.space import Policy  # noqa: E402


def metrics(pred: np.ndarray, y: np.ndarray) -> dict:
    e = np.abs(pred / y - 1)
    return {"MAPE_%": 100 * e.mean(), "median_%": 100 * np.median(e), "max_%": 100 * e.max(),
            "kendall_tau": kendalltau(pred, y)[0], "n": len(y)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", default="cortex-m7")
    ap.add_argument("--no-sim-speed", action="store_true", help="skip the one timed whole-model simulation")
    ap.add_argument("--allow-stale", action="store_true",
                    help="report on data of another kernel version (marked STALE; the fitted models are not saved)")
    args = ap.parse_args()
    tgt = args.target
    out = Path("results/latency") / tgt
    out.mkdir(parents=True, exist_ok=True)
    # KernelVersionMismatch if the kernels changed since profiling (unless --allow-stale)
    df = load_dataset(f"latency/data/kernels-{tgt}.csv", check_kernels=not args.allow_stale)
    df = df[df.status == 0].reset_index(drop=True)
    y = df.cycles.to_numpy(float)
    bops = (df.macs * df.w_bits * df.a_bits).to_numpy(float)
    rows = []
    # (a) held-out layer shapes: group 5-fold by shape
    preds = {"analytic": np.zeros(len(df)), "learned": np.zeros(len(df)), "bops (scaled)": np.zeros(len(df))}
    for tr, te in GroupKFold(5).split(df, groups=df["shape"]):
        d = df.iloc[tr].copy()
        d.attrs = df.attrs
        preds["analytic"][te] = AnalyticLatency(tgt, load=False).fit(d).predict_configs(df.iloc[te])
        preds["learned"][te] = LearnedLatency(tgt, load=False).fit(d).predict_configs(df.iloc[te])
        preds["bops (scaled)"][te] = bops[te] * np.median(y[tr] / bops[tr])
    for k, p in preds.items():
        rows.append({"eval": f"held-out shapes (group 5-fold, {df['shape'].nunique()} shapes)", "model": k,
                     **metrics(p, y)})
    # full fits + whole-model overhead calibration (committed)
    an = AnalyticLatency(tgt, load=False).fit(df)
    le = LearnedLatency(tgt, load=False).fit(df)
    kh = df.attrs["provenance"]["kernel_hash"]
    stale_kernels = kh != kernel_hash()
    wm = [json.loads(ln) for ln in Path(f"latency/data/wholemodel-{tgt}.jsonl").read_text().splitlines()]
    stale = sum(r["kernel_hash"] != kh for r in wm)
    wm = [r for r in wm if r["kernel_hash"] == kh]
    calib = [r for r in wm if r["set"] == "calib"]
    ev = [r for r in wm if r["set"] == "eval"]
    for r in calib:  # the ops at the row's containers (rows written before they were recorded lack them)
        r["ops"] = policy_ops(r["model"], _pol(r))
    ovh = OverheadModel(words=word_paths(tgt)).fit(calib)
    an.overhead_coef = le.overhead_coef = ovh.coef
    if not stale_kernels:
        an.save(f"latency/data/analytic-{tgt}.pkl")
        le.save(f"latency/data/learned-{tgt}.pkl")
    # (b) whole-model policies: ground truth = simulated deployments (one model_run each)
    lut_path = Path(f"latency/data/lut-{tgt}.json")
    lut = LUTLatency(tgt, json.loads(lut_path.read_text())) if lut_path.exists() else None
    spaces = {}
    truth, allp, groups = [], {"lut (HAQ, layers only)": [], "analytic": [], "learned": [], "bops (scaled)": []}, []
    bscale = float(np.median([r["cycles"] / BOPs().cost(zoo_case(r["model"]).space, _pol(r)).total for r in calib]))
    permodel = []
    for r in ev:
        sp = spaces.setdefault(r["model"], zoo_case(r["model"]).space)
        pol = _pol(r)
        truth.append(r["cycles"])
        groups.append(r["bits"])
        allp["analytic"].append(an.cost(sp, pol).total)
        allp["learned"].append(le.cost(sp, pol).total)
        allp["bops (scaled)"].append(BOPs().cost(sp, pol).total * bscale)
        try:
            allp["lut (HAQ, layers only)"].append(lut.cost(sp, pol).total if lut and r["bits"] == "248" else np.nan)
        except KeyError:
            allp["lut (HAQ, layers only)"].append(np.nan)
    truth, groups = np.array(truth), np.array(groups)
    for k, v in allp.items():
        v = np.array(v)
        for g, sel in (("all", np.ones(len(truth), bool)), ("bits {2,4,8}", groups == "248"), ("bits 1..8", groups == "1-8")):
            sel = sel & ~np.isnan(v)
            if sel.sum() > 2:
                rows.append({"eval": f"whole models, {g} ({sel.sum()} deployments)", "model": k, **metrics(v[sel], truth[sel])})
        models = np.array([r["model"] for r in ev])
        for mname in dict.fromkeys(models):
            sel = (models == mname) & ~np.isnan(v)
            if sel.sum() > 2:
                permodel.append({"model_zoo": mname, "cost_model": k, **metrics(v[sel], truth[sel])})
    fid = pd.DataFrame(rows)
    fid.to_csv(out / "fidelity.csv", index=False)
    pd.DataFrame(permodel).to_csv(out / "fidelity_per_model.csv", index=False)
    # speed: cost-model evaluations / s vs. whole-model simulations / s (one uncached run)
    speed = {}
    space = zoo_case("resnet8").space
    rng = np.random.default_rng(0)
    many = [space.sample(rng) for _ in range(20000)]
    for nm_, m in (("learned", le), ("analytic", an)):
        m._tables.clear()
        t = time.perf_counter()
        m.totals(space, many[:1])
        speed[f"{nm_}_table_build_s"] = time.perf_counter() - t
        t = time.perf_counter()
        m.totals(space, many)
        speed[f"{nm_}_evals_per_s"] = len(many) / (time.perf_counter() - t)
    if not args.no_sim_speed and not stale_kernels:
        t = time.perf_counter()
        pol = space.sample(np.random.default_rng(12345))
        simulate_policy(zoo_case("resnet8"), pol, tgt)  # deploy + build + QEMU + pricing (block prices cached)
        speed["simulations_per_s"] = 1.0 / (time.perf_counter() - t)
        speed["ratio_learned_vs_sim"] = speed["learned_evals_per_s"] / speed["simulations_per_s"]
    speed.update(kernel_hash=kh, current_kernel_hash=kernel_hash(), wholemodel_rows=len(ev), calib_rows=len(calib), stale_rows_ignored=stale,
                 overhead_coef=ovh.to_json(), dataset_rows=len(df))
    (out / "speed.json").write_text(json.dumps(speed, indent=1))
    if lut is None:
        _report(out, tgt, fid, speed, None, permodel)
        return
    # speedup of bit pairs vs W8A8 per op kind (simulated, zoo layers, 8-bit outputs) vs BOPs
    sp = []
    for key, entries in lut.lut.items():
        for k, v in entries.items():
            li, w, a, o = (int(x) for x in k.split(","))
            sp.append({"layer": f"{key}:{li}", "w": w, "a": a, "o": o, "cycles": v})
    sp = pd.DataFrame(sp)
    kinds = {}
    for _name, space in zoo_spaces():
        for li, layer in enumerate(space.layers):
            kinds[f"{_layers_key(space)}:{li}"] = "depthwise" if layer.depthwise else layer.kind
    sp["kind"] = sp.layer.map(kinds)
    sp = sp[sp.o.isin([8, 32])]
    base = sp[(sp.w == 8) & (sp.a == 8)].set_index("layer").cycles
    sp["speedup"] = sp.layer.map(base) / sp.cycles
    tab = sp.groupby(["kind", "w", "a"]).speedup.median().reset_index()
    tab["bops_predicts"] = 64 / (tab.w * tab.a)
    tab.to_csv(out / "speedup_vs_w8a8.csv", index=False)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = sorted(tab.kind.unique())
    fig, axes = plt.subplots(1, len(ks), figsize=(4 * len(ks), 3.5), sharey=True)
    for ax, k in zip(np.atleast_1d(axes), ks):
        t = tab[tab.kind == k]
        lab = [f"W{w}A{a}" for w, a in zip(t.w, t.a)]
        x = np.arange(len(t))
        ax.bar(x - 0.2, t.speedup, 0.4, label="simulated")
        ax.bar(x + 0.2, t.bops_predicts, 0.4, label="BOPs predicts")
        ax.set_xticks(x, lab, rotation=60)
        ax.set_yscale("log")
        ax.set_title(f"{k} ({tgt})")
    np.atleast_1d(axes)[0].set_ylabel("speedup vs W8A8 (median over zoo layers)")
    np.atleast_1d(axes)[0].legend()
    fig.tight_layout()
    fig.savefig(out / "speedup.png", dpi=120)
    _report(out, tgt, fid, speed, tab, permodel)


def _pol(r: dict) -> Policy:
    L = zoo_case(r["model"]).space.n_layers
    w, a = r["w_bits"], r["a_bits"]
    return Policy(tuple(w * L if len(w) == 1 else w), tuple(a * L if len(a) == 1 else a))


def _report(out: Path, tgt: str, fid, speed, tab, permodel) -> None:
    cmds = [f".venv/bin/python -m latency.cli latency profile --target {tgt} --n {speed['dataset_rows']}",
            f".venv/bin/python scripts/latency_build_luts.py --target {tgt} --o-conts 8",
            f".venv/bin/python scripts/latency_wholemodel.py --target {tgt} --n 204 --jobs 2  # re-run once to fill failed builds",
            f".venv/bin/python scripts/latency_fidelity.py --target {tgt}"]
    with (out / "fidelity.md").open("w") as f:
        title = f"# Latency cost-model fidelity on {tgt}"
        if speed["kernel_hash"] != speed["current_kernel_hash"]:
            title += (f" (STALE: data of kernels {speed['kernel_hash']}, deploy/kernels is now "
                      f"{speed['current_kernel_hash']}; re-run the commands below)")
        f.write(f"{title}\n\nCommands (in order):\n\n```\n" + "\n".join(cmds) + "\n```\n\n")
        f.write("Ground truth: the cycle-approximate simulator (QEMU block counts x llvm-mca prices). Held-out "
                "shapes: profiler configurations, group 5-fold by layer shape. Whole models: real deployments "
                "(deploy's lowering / codegen / build) of `mico.models.MODEL_ZOO` at random policies, one "
                "`model_run` simulated; the non-conv overhead model (pooling / add / ReLU work at the containers "
                "the policy gives their tensors, `latency.wholemodel.OverheadPlan`) is fitted on separate "
                "deployments (`calib` rows: uniform W8A8 / W4A4 / W2A2 and 4 random policies per model), never "
                "on the evaluated ones. LUT (HAQ): sum of simulated layers, "
                "8-bit output containers only, no pooling / add overhead.\n\n")
        f.write("```\n" + fid.to_string(index=False) + "\n```\n\nPer zoo model:\n\n```\n"
                + pd.DataFrame(permodel).to_string(index=False) + "\n```\n\n## Speed\n\n```\n"
                + json.dumps(speed, indent=1) + "\n```\n\n")
        if tab is not None:
            f.write("## Speedup vs W8A8 (median over zoo layers, simulated, 8-bit outputs) vs BOPs\n\n"
                    "![speedup](speedup.png)\n\n```\n" + tab.to_string(index=False) + "\n```\n")
    print(fid.to_string())
    print(json.dumps(speed, indent=1))


if __name__ == "__main__":
    main()
