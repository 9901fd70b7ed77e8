"""Time one PTQ evaluation (integer reference on the 10k validation split) of LeNet-5 policies.

Prints a table and writes ``results/ptq_speed.md`` with the command. The float model's forward
pass over the same inputs is timed in the same run, so the ratio is meaningful on a busy machine.

    python scripts/bench_ptq.py --model lenet5 --policies 10 --threads 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from mico.proxies import PTQProxy, load_context


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="lenet5")
    ap.add_argument("--policies", type=int, default=10, help="random policies (bits 2..8) after a warm-up")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="results/ptq_speed.md")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ctx = load_context(args.model, progress=False)
    proxy, val = PTQProxy(ctx), ctx.data.val
    space = ctx.space.with_bits((2, 3, 4, 5, 6, 7, 8), (2, 3, 4, 5, 6, 7, 8))
    rng = np.random.default_rng(0)
    for b in (2, 3, 4, 5, 6, 7, 8):  # warm-up: per-bitwidth weight / activation scales are cached once
        proxy.evaluate(space.uniform(b))
    ptq, fwd = [], []
    for _ in range(args.policies):
        p = space.sample(rng)
        t0 = time.perf_counter()
        proxy.evaluate(p)
        ptq.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        with torch.no_grad():
            ctx.model(val.x)
        fwd.append(time.perf_counter() - t0)
    load = os.getloadavg()[0]
    rows = [
        "# PTQ evaluation time",
        "",
        f"Command: `python {' '.join(sys.argv)}`",
        "",
        f"{args.model}, {len(val.y)} validation inputs, {args.threads} torch threads, {args.policies} random policies "
        f"(bits 2..8) after a warm-up over uniform policies; load average at the end {load:.1f} on {os.cpu_count()} cores.",
        "",
        "| what | median s | min s | max s |",
        "|---|---|---|---|",
        f"| PTQ evaluation (build integer graph + integer inference + accuracy) | {statistics.median(ptq):.3f} | {min(ptq):.3f} | {max(ptq):.3f} |",
        f"| float model forward (same inputs) | {statistics.median(fwd):.3f} | {min(fwd):.3f} | {max(fwd):.3f} |",
        "",
        f"Ratio PTQ / float forward (median): {statistics.median(ptq) / statistics.median(fwd):.2f}",
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(rows) + "\n")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
