"""Fidelity, speed and speedup report of the latency cost models against the simulator.

Usage: .venv/bin/python scripts/latency_fidelity.py --target cortex-m7
Needs latency/data/kernels-<target>.csv (mico latency profile) and latency/data/lut-<target>.json
(scripts/latency_build_luts.py). Writes results/latency/<target>/{fidelity.md, *.csv, speedup.png}.
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

from latency.models import AnalyticLatency, LearnedLatency, LUTLatency, _layers_key, lut_configs  # noqa: E402
from latency.profile import load_dataset, profile  # noqa: E402
from mico.costs import BOPs  # noqa: E402


def metrics(pred: np.ndarray, y: np.ndarray) -> dict:
    e = np.abs(pred / y - 1)
    return {"MAPE_%": 100 * e.mean(), "median_%": 100 * np.median(e), "max_%": 100 * e.max(),
            "kendall_tau": kendalltau(pred, y)[0], "n": len(y)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", default="cortex-m7")
    ap.add_argument("--policies", type=int, default=40, help="random policies per zoo model")
    args = ap.parse_args()
    tgt = args.target
    out = Path("results/latency") / tgt
    out.mkdir(parents=True, exist_ok=True)
    df = load_dataset(f"latency/data/kernels-{tgt}.csv", check_kernels=False)  # kernels may move under us; reported below
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
        rows.append({"eval": "held-out shapes (group 5-fold)", "model": k, **metrics(p, y)})
    # full fits (committed)
    an = AnalyticLatency(tgt, load=False).fit(df)
    le = LearnedLatency(tgt, load=False).fit(df)
    an.save(f"latency/data/analytic-{tgt}.pkl")
    le.save(f"latency/data/learned-{tgt}.pkl")
    bscale = float(np.median(y / bops))
    # (b) whole-model policies: ground truth = sum of simulated layers (LUT of exact simulations)
    lut = LUTLatency(tgt, json.loads(Path(f"latency/data/lut-{tgt}.json").read_text()))
    rng = np.random.default_rng(0)
    allp: dict[str, list] = {"lut (HAQ)": [], "analytic": [], "learned": [], "bops (scaled)": [], "truth": []}
    permodel = []
    speed = {}
    for name, space in zoo_spaces():
        if _layers_key(space) not in lut.lut:
            continue
        pols = [space.sample(rng) for _ in range(args.policies)]
        truth = lut.totals(space, pols)
        allp["truth"].append(truth)
        for k, m in (("lut (HAQ)", lut), ("analytic", an), ("learned", le)):
            p = m.totals(space, pols)
            allp[k].append(p)
            permodel.append({"model_zoo": name, "cost_model": k, **metrics(p, truth)})
        pb = BOPs().totals(space, pols) * bscale
        allp["bops (scaled)"].append(pb)
        permodel.append({"model_zoo": name, "cost_model": "bops (scaled)", **metrics(pb, truth)})
        if name == "resnet8":
            many = [space.sample(rng) for _ in range(20000)]
            le.totals(space, many[:10])  # table built once per space
            t = time.perf_counter()
            le.totals(space, many)
            speed["learned_evals_per_s"] = len(many) / (time.perf_counter() - t)
            t = time.perf_counter()
            an.totals(space, many)
            speed["analytic_evals_per_s"] = len(many) / (time.perf_counter() - t)
            t = time.perf_counter()
            le._tables.clear()
            le.totals(space, many[:1])
            speed["learned_table_build_s"] = time.perf_counter() - t
            # one uncached whole-policy simulation (every layer of one policy, built + simulated)
            pol = space.effective(pols[0])
            items = {k: c for k, c in lut_configs(space)}
            keys = []
            for i in range(space.n_layers):
                o = 32 if i == space.n_layers - 1 else {2: 2, 4: 4, 8: 8}[pol.a_bits[i + 1]]
                keys.append(f"{i},{pol.w_bits[i]},{pol.a_bits[i]},{o}")
            t = time.perf_counter()
            profile([items[k] for k in keys], tgt, use_cache=False)
            speed["simulations_per_s"] = 1.0 / (time.perf_counter() - t)
    truth = np.concatenate(allp.pop("truth"))
    for k, v in allp.items():
        rows.append({"eval": f"whole-model policies ({len(truth)}, zoo)", "model": k, **metrics(np.concatenate(v), truth)})
    fid = pd.DataFrame(rows)
    fid.to_csv(out / "fidelity.csv", index=False)
    pd.DataFrame(permodel).to_csv(out / "fidelity_per_model.csv", index=False)
    from latency.profile import kernel_hash

    speed["dataset_kernel_hash"] = df.attrs["provenance"].get("kernel_hash")
    speed["current_kernel_hash"] = kernel_hash()
    speed["ratio_learned_vs_sim"] = speed.get("learned_evals_per_s", 0) / max(speed.get("simulations_per_s", 1e-9), 1e-9)
    (out / "speed.json").write_text(json.dumps(speed, indent=1))
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
    with (out / "fidelity.md").open("w") as f:
        f.write(f"# Latency cost-model fidelity on {tgt}\n\nCommand: `.venv/bin/python scripts/latency_fidelity.py --target {tgt}`\n\n")
        f.write("```\n" + fid.to_string(index=False) + "\n```\n\n## Speed\n\n```\n" + json.dumps(speed, indent=1) + "\n```\n\n")
        f.write("## Speedup vs W8A8 (median over zoo layers, simulated)\n\n" + "```\n" + tab.to_string(index=False) + "\n```\n")
    print(fid.to_string())
    print(json.dumps(speed, indent=1))


if __name__ == "__main__":
    main()
