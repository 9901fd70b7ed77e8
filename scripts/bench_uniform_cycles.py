"""Uniform W8A8 / W4A4 / W2A2 of every zoo model on Cortex-M7 and Cortex-A53: simulated cycles and
executed instructions of one ``model_run`` (the ``calib`` rows of scripts/latency_wholemodel.py,
real deployments simulated by `latency.sim`) and what the non-conv ops take.

Usage: .venv/bin/python scripts/bench_uniform_cycles.py   (after scripts/latency_wholemodel.py)
Writes results/uniform_cycles.md.
"""

from __future__ import annotations

import json
from pathlib import Path

from latency.profile import kernel_hash

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    kh = kernel_hash()
    lines = ["<!-- command: .venv/bin/python scripts/bench_uniform_cycles.py -->", "",
             "# Uniform policies end to end: simulated cycles vs instructions", "",
             f"One `model_run` per deployment (kernels {kh}); `x W8A8`: W8A8 / this policy (> 1 is faster). "
             "Non-conv: pooling, residual adds and the call overhead, in cycles.", ""]
    for tgt in ("cortex-m7", "cortex-a53"):
        rows = [json.loads(ln) for ln in (ROOT / f"latency/data/wholemodel-{tgt}.jsonl").read_text().splitlines()]
        rows = {(r["model"], r["w_bits"][0]): r for r in rows
                if r["kernel_hash"] == kh and r["set"] == "calib" and r["bits"] == "uniform"}
        if not rows:
            raise SystemExit(f"no uniform rows of kernels {kh} for {tgt}: run scripts/latency_wholemodel.py --target {tgt}")
        lines += [f"## {tgt}", "", "| model | policy | cycles | x W8A8 (cycles) | instructions | x W8A8 (instructions) | "
                  "non-conv cycles |", "|---|---|---|---|---|---|---|"]
        for model in dict.fromkeys(m for m, _ in rows):
            base = rows.get((model, 8))
            for b in (8, 4, 2):
                r = rows.get((model, b))
                if r is None or base is None:
                    continue
                other = sum(r["op_cycles"].values()) + r["other_cycles"]
                lines.append(f"| {model} | W{b}A{b} | {r['cycles']:,.0f} | {base['cycles'] / r['cycles']:.2f} | "
                             f"{r['instructions']:,} | {base['instructions'] / r['instructions']:.2f} | {other:,.0f} |")
        lines.append("")
    out = ROOT / "results" / "uniform_cycles.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
