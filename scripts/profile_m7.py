"""Where the instructions of one inference go: per-function counts of a deployed model (QEMU plugin).

Usage: python scripts/profile_m7.py --model lenet5 --policy W8A8 [--policy 2,2,2,2,8:4,4,4,4,8] [--target cortex-m7]

Deploys the trained zoo model at each policy (``WbAa`` for uniform, or ``w1,w2,..:a1,a2,..``) on
one test input, reruns the ELF with our QEMU plugin's block profile and sums the executed
instructions of ``model_run`` per function (symbols from the ELF). Inlined helpers count in their
caller (e.g. the im2col of a kernel counts in the kernel's entry function).
"""

from __future__ import annotations

import argparse
import bisect
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deploy.api import deploy  # noqa: E402
from deploy.toolchain import icount_plugin, require  # noqa: E402
from mico.proxies import load_context  # noqa: E402
from mico.space import Policy  # noqa: E402


def parse_policy(s: str, n: int) -> Policy:
    if ":" in s:
        w, a = s.split(":")
        return Policy([int(v) for v in w.split(",")], [int(v) for v in a.split(",")])
    w, a = s.upper().lstrip("W").split("A")
    return Policy([int(w)] * n, [int(a)] * n)


def symbols(elf: Path, target: str) -> tuple[list[int], list[str]]:
    nm = require("arm-none-eabi-nm" if target == "cortex-m7" else "aarch64-linux-gnu-nm")
    rows = []
    for ln in subprocess.run([nm, "-n", "-S", str(elf)], capture_output=True, text=True, check=True).stdout.splitlines():
        parts = ln.split()
        if len(parts) == 4 and parts[2] in "tTwW":
            rows.append((int(parts[0], 16) & ~1, parts[3]))
    rows.sort()
    return [r[0] for r in rows], [r[1] for r in rows]


def profile(elf: Path, target: str, cwd: Path, top_blocks: list | None = None) -> Counter:
    prof = cwd / "tb.txt"
    plug = f"{icount_plugin()},out={prof}"
    if target == "cortex-m7":
        cmd = ["qemu-system-arm", "-M", "mps2-an500", "-nographic", "-monitor", "none", "-serial", "none",
               "-semihosting-config", "enable=on,target=native", "-kernel", str(elf), "-plugin", plug, "-d", "plugin"]
    else:
        cmd = ["qemu-aarch64", "-cpu", "cortex-a53", "-plugin", plug, "-d", "plugin", str(elf)]
    subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=cwd, timeout=600)
    blocks, region = {}, {}
    for ln in prof.read_text().splitlines():
        if ln.startswith("B "):
            _, i, va, n, _c, _hx = ln.split(" ", 5)
            blocks[int(i)] = (int(va, 16), int(n))
        elif ln.startswith("R 0 "):
            _, _, i, c = ln.split()
            region[int(i)] = int(c)
    addrs, names = symbols(elf, target)
    out: Counter = Counter()
    for i, c in region.items():
        va, n = blocks[i]
        k = bisect.bisect_right(addrs, va & ~1) - 1
        out[names[k] if k >= 0 else "?"] += c * n
        if top_blocks is not None:
            top_blocks.append((c * n, va, n, c, names[k] if k >= 0 else "?"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="lenet5")
    ap.add_argument("--policy", action="append", default=None)
    ap.add_argument("--target", default="cortex-m7")
    ap.add_argument("--blocks", type=int, default=0, help="also list the N hottest translation blocks")
    ap.add_argument("--out", default=None, help="also append the tables (markdown) to this file")
    args = ap.parse_args()
    ctx = load_context(args.model, progress=False)
    md: list[str] = []
    n = len(ctx.space.sample(__import__("numpy").random.default_rng(0)))
    for s in args.policy or ["W8A8"]:
        pol = parse_policy(s, n)
        with tempfile.TemporaryDirectory() as tmp:
            r = deploy(ctx.int_graph(pol), target=args.target, out_dir=Path(tmp) / "d", inputs=ctx.data.test.x[:1])
            top: list = []
            prof = profile(r.paths["elf"], args.target, r.out_dir, top)
            if args.blocks:
                Path("/tmp/profile_m7.elf").write_bytes(r.paths["elf"].read_bytes())
        tot = sum(prof.values())
        print(f"\n## {args.model} {s}: {r.instructions} instructions (profile {tot}), bit-exact {r.n_exact}/1")
        md += [f"### {args.model} {s} on {args.target}: {r.instructions:,} instructions per inference", "",
               "| function | instructions | share |", "|---|---|---|"]
        for name, c in prof.most_common():
            if c >= tot * 0.002:
                print(f"{name:32s} {c:10d} {100 * c / tot:6.1f} %")
                md.append(f"| `{name}` | {c:,} | {100 * c / tot:.1f} % |")
        md.append("")
        for tot_b, va, n_i, execs, name in sorted(top, reverse=True)[: args.blocks]:
            print(f"  block 0x{va:08x} {name:24s} {n_i:3d} insns x {execs:8d} = {tot_b}")


    if args.out:
        out = Path(args.out)
        tgt = "" if args.target == "cortex-m7" else f" --target {args.target}"
        head = [] if out.exists() else ["<!-- command: python scripts/profile_m7.py --model M --policy P ..."
                                        f"{tgt} --out {args.out} (once per model) -->", "",
                                        "# Where one inference's instructions go (QEMU plugin block profile, per "
                                        "function; inlined helpers count in their caller)", ""]
        with out.open("a") as f:
            f.write("\n".join(head + md) + "\n")


if __name__ == "__main__":
    main()
