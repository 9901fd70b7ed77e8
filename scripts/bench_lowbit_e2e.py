"""Instructions of one inference on Cortex-M7 for uniform low-bit policies and one mixed policy.

Usage: python scripts/bench_lowbit_e2e.py [--models lenet5,cnn-small] [--inputs 20] [--out results/lowbit_e2e_m7.md]

Deploys each trained zoo model (`mico.proxies.load_context`, cached checkpoints) at W8A8, W4A4,
W2A2, W2A4, W4A2 and a mixed policy (first and last layer W8A8, the others cycling through
W4A4, W2A4, W4A2, W2A2) with `deploy.api.deploy` on its first test inputs: the logits are
compared with `IntGraph.run` (bit-exact column) and the QEMU plugin counts the instructions of
`model_run` (mean over the inputs). A second table runs each conv / linear layer of the lowered
model (its real packed weights and requantization parameters, random inputs) once through
`mico_conv` on Cortex-M7 and gives instructions per MAC.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "scripts"))

from bench_kernels import build_bench  # noqa: E402

from deploy.api import deploy  # noqa: E402
from deploy.lower import lower  # noqa: E402
from mico.proxies import load_context  # noqa: E402
from mico.space import Policy  # noqa: E402

UNIFORM = [(8, 8), (4, 4), (2, 2), (2, 4), (4, 2)]
MIXED = [(4, 4), (2, 4), (4, 2), (2, 2)]


def policies(n: int) -> dict[str, Policy]:
    out = {f"W{w}A{a}": Policy([w] * n, [a] * n) for w, a in UNIFORM}
    mid = [MIXED[i % len(MIXED)] for i in range(n - 2)]
    pairs = [(8, 8), *mid, (8, 8)]
    out["mixed"] = Policy([w for w, _ in pairs], [a for _, a in pairs])
    return out


def layer_rows(name: str, ctx, pols: dict[str, Policy], work: Path) -> list[str]:
    """Instructions per MAC of every conv / linear layer of the lowered model at each policy."""
    import numpy as np

    rng = np.random.default_rng(0)
    cases, keys = [], []
    for key, pol in pols.items():
        # unfused: a conv called on its own refuses fused pooling (MICO_ERR_UNSUPPORTED)
        for li, op in enumerate(o for o in lower(ctx.int_graph(pol), fuse_pool=False).ops if o.kind == "conv"):
            p = op.params
            nbytes = (p["in_h"] * p["in_w"] * p["in_c"] * p["in_cont"] + 7) // 8
            cases.append((op, rng.integers(0, 256, nbytes, dtype=np.uint8).tobytes()))
            macs = p["out_h"] * p["out_w"] * p["out_c"] * p["k_h"] * p["k_w"] * p["in_c"] // p["groups"]
            shape = f"{p['in_h']}x{p['in_w']}x{p['in_c']} k{p['k_h']}x{p['k_w']} -> {p['out_c']}"
            keys.append((key, li, shape, macs))
    counts = build_bench(cases, "cortex-m7", work / name)
    table: dict[tuple[int, str], dict[str, float]] = {}
    for (key, li, shape, macs), n in zip(keys, counts):
        table.setdefault((li, shape), {})[key] = n / macs
    cols = list(pols)
    lines = [f"### {name}: instructions per MAC per layer (speedup over W8A8)", "",
             "| layer | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for (li, shape), row in sorted(table.items()):
        cells = [f"{row[c]:.2f}" + ("" if c == "W8A8" else f" ({row['W8A8'] / row[c]:.2f}x)") for c in cols]
        lines.append(f"| {li}: {shape} | " + " | ".join(cells) + " |")
    return lines + [""]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="lenet5,cnn-small")
    ap.add_argument("--inputs", type=int, default=20)
    ap.add_argument("--out", default=str(ROOT / "results" / "lowbit_e2e_m7.md"))
    ap.add_argument("--work", default="/tmp/mico_bench_lowbit")
    args = ap.parse_args()
    rows, layer_lines = [], []
    for name in args.models.split(","):
        ctx = load_context(name, progress=False)
        n = len(ctx.space.sample(__import__("numpy").random.default_rng(0)))
        layer_lines += layer_rows(name, ctx, policies(n), Path(args.work))
        base = None
        for key, pol in policies(n).items():
            with tempfile.TemporaryDirectory() as tmp:
                r = deploy(ctx.int_graph(pol), target="cortex-m7", out_dir=Path(tmp) / "d",
                           inputs=ctx.data.test.x[: args.inputs])
            base = base or r.instructions
            rows.append((name, key, "/".join(map(str, pol.w_bits)), "/".join(map(str, pol.a_bits)), r.instructions,
                         f"{base / r.instructions:.2f}", f"{r.n_exact}/{r.n_inputs}"))
            print(*rows[-1], flush=True)
    cmd = "python scripts/bench_lowbit_e2e.py " + " ".join(sys.argv[1:])
    lines = [f"<!-- command: {cmd.strip()} -->", "", "# Low-bit policies end to end on Cortex-M7", "",
             "Instructions of one `model_run` (QEMU plugin, mean over the inputs), speedup over the same model at "
             "W8A8, and bit-exact logits vs `IntGraph.run`.", "",
             "| model | policy | w_bits | a_bits | instructions | x W8A8 | bit-exact |", "|---|---|---|---|---|---|---|"]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    lines += ["", "## Per layer (each layer once through `mico_conv`, Cortex-M7, QEMU instruction counts)", ""]
    lines += layer_lines
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
