"""Bit-exactness of deployed models on host, Cortex-M7 and Cortex-A53 (the full set).

Usage: python scripts/bench_deploy.py [--policies 5] [--inputs 100] [--targets host cortex-m7 cortex-a53]
Writes results/deploy_bench.md (the command at the top). With ``--zoo lenet5 cnn-small ...`` it deploys
trained zoo models (checkpoints trained or reused through `mico.proxies.load_context`) on their real
test inputs instead of the test architectures, and writes results/deploy_zoo.md.
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


class ZooCase:
    """A trained zoo model: random policies over bits 1..8 (the first only 1- and 2-bit), real test inputs."""

    def __init__(self, name: str):
        from mico.proxies import load_context

        self.ctx = load_context(name, progress=False)
        self.x_test = self.ctx.data.test.x

    def policies(self, n: int, seed: int):
        import numpy as np

        rng = np.random.default_rng(seed)
        low = self.ctx.space.with_bits((1, 2), (2,))
        wide = self.ctx.space.with_bits(tuple(range(1, 9)), tuple(range(2, 9)))
        return [low.sample(rng)] + [wide.sample(rng) for _ in range(n - 1)]

    def int_graph(self, policy):
        return self.ctx.int_graph(policy)


def zoo_cases(names):
    return {name: ZooCase(name) for name in names}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--policies", type=int, default=5)
    ap.add_argument("--inputs", type=int, default=100)
    ap.add_argument("--targets", nargs="+", default=["host", "cortex-m7", "cortex-a53"])
    ap.add_argument("--zoo", nargs="*", default=None, help="trained zoo models instead of the test architectures")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    args.out = args.out or str(ROOT / "results" / ("deploy_zoo.md" if args.zoo else "deploy_bench.md"))
    rows = []
    totals: dict[str, list[int]] = {t: [0, 0, 0] for t in args.targets}  # exact inputs, inputs, deployments
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        for name, c in (zoo_cases(args.zoo) if args.zoo else cases()).items():
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
