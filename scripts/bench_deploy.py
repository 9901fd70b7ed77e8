"""Bit-exactness of deployed models on host, Cortex-M7 and Cortex-A53 (the full set).

Usage: python scripts/bench_deploy.py [--policies 5] [--inputs 100] [--targets host cortex-m7 cortex-a53]
Writes results/deploy_bench.md (the command at the top).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "deploy"))

from models import cases  # noqa: E402

from deploy.api import deploy  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--policies", type=int, default=5)
    ap.add_argument("--inputs", type=int, default=100)
    ap.add_argument("--targets", nargs="+", default=["host", "cortex-m7", "cortex-a53"])
    ap.add_argument("--out", default=str(ROOT / "results" / "deploy_bench.md"))
    args = ap.parse_args()
    rows = []
    totals: dict[str, list[int]] = {t: [0, 0, 0] for t in args.targets}  # exact inputs, inputs, deployments
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        for name, c in cases().items():
            for i, pol in enumerate(c.policies(args.policies, seed=3)):
                g = c.int_graph(pol)
                for target in args.targets:
                    r = deploy(g, target=target, out_dir=Path(tmp) / f"{name}_{i}_{target}",
                               inputs=c.x_test[: args.inputs])
                    tot = totals[target]
                    tot[0] += r.n_exact
                    tot[1] += r.n_inputs
                    tot[2] += 1
                    rows.append((name, pol.key(), target, f"{r.n_exact}/{r.n_inputs}", r.flash_bytes, r.sram_bytes,
                                 r.arena_bytes, r.weight_bytes, r.instructions or ""))
                    print(*rows[-1], flush=True)
    cmd = "python scripts/bench_deploy.py " + " ".join(sys.argv[1:])
    lines = [f"<!-- command: {cmd.strip()} -->", "", "# Deployed models: bit-exact logits vs `IntGraph.run`", "",
             "| target | deployments | inputs bit-exact |", "|---|---|---|"]
    for t, (e, n, d) in totals.items():
        lines.append(f"| {t} | {d} | {e}/{n} |")
    lines += ["", "| model | policy | target | exact | flash B | SRAM B | arena B | weights B | instructions |",
              "|---|---|---|---|---|---|---|---|---|"]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    lines += ["", f"Total time {time.time() - t0:.0f} s. Flash / SRAM are of the whole ELF incl. the test harness "
              "(Cortex-M7 SRAM includes 8 KB stack and 16 KB heap); instructions per inference from the MiCo QEMU "
              "plugin."]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:10]))


if __name__ == "__main__":
    main()
