"""Instructions per MAC of the MiCo conv kernels on Cortex-M7 and Cortex-A53 (QEMU, exact counts, our plugin).

Usage: python scripts/bench_kernels.py [--targets cortex-m7,cortex-a53] [--out results/kernel_bench.md]

Each layer runs once through the dispatcher (`mico_conv`, the kernel a deployed model uses) on
random data; the count covers the whole call (im2col, MACs, requantization, packing the output).
MICO_BENCH_VARIANT=MICO_CONV_POLY (any mico_conv_variant name) runs that variant instead of the
dispatcher (tests/deploy/test_kernels_target.py uses it to check variants on the targets).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "deploy"))

from kernel_ref import random_conv  # noqa: E402

from deploy.codegen import c_array  # noqa: E402
from deploy.targets import execute, get_target, kernel_objects  # noqa: E402
from deploy.toolchain import KERNEL_DIR, require, run  # noqa: E402

# name, cin, cout, h, w, k, pad, groups; CMSIS-NN W8A8 instructions/MAC under QEMU (reference doc)
LAYERS = [
    ("conv3x3 16x16x16->16", 16, 16, 16, 16, 3, 1, 1, 2.35),
    ("conv3x3 8x8x64->64", 64, 64, 8, 8, 3, 1, 1, 1.76),
    ("conv1x1 16x16x32->32", 32, 32, 16, 16, 1, 0, 1, 2.67),
    ("dw3x3 16x16x32", 32, 32, 16, 16, 3, 1, 32, 8.07),
    ("fc 256->64", 256, 64, 1, 1, 1, 0, 1, 2.08),
]
PAIRS = [(8, 8), (4, 4), (2, 2), (1, 2), (4, 8), (2, 8), (8, 4), (2, 4), (4, 2), (1, 1)]

HARNESS = """
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "mico_nn.h"
#if defined(__thumb__)
#define MICO_MARK() __asm__ volatile("mov r11, r11" ::: "memory")
#elif defined(__aarch64__)
#define MICO_MARK() __asm__ volatile("orr x28, x28, x28" ::: "memory")
#else
#define MICO_MARK() __asm__ volatile("" ::: "memory")
#endif
static uint8_t scratch[SCRATCH] __attribute__((aligned(8)));
static int32_t out[OUTMAX];
static int32_t ref[OUTMAX];
%(defs)s
int main(void) {
    int bad = 0;
%(calls)s
    printf("MICO_DONE %%d\\n", bad);
    return bad;
}
"""


def build_bench(cases, target: str, work: Path) -> list[int]:
    import os
    VARIANT = os.environ.get("MICO_BENCH_VARIANT", "MICO_CONV_AUTO")  # noqa: N806
    t = get_target(target)
    defs, calls = [], []
    scratch = outmax = 16
    for i, (op, xb) in enumerate(cases):
        p = op.params
        defs.append(f"static const uint8_t in{i}[] __attribute__((aligned(4))) = {{ {c_array(xb + bytes(8))} }};")
        defs.append(f"static const uint8_t w{i}[] __attribute__((aligned(4))) = {{ {c_array(op.weights)} }};")
        for arr, ty in (("bias", "int32_t"), ("mult", "int32_t"), ("shift", "int8_t"), ("wsum", "int32_t")):
            defs.append(f"static const {ty} {arr}{i}[] = {{ {c_array(getattr(op, arr))} }};")
        fields = ", ".join(f".{k} = {v}" for k, v in p.items())
        defs.append(f"static const mico_conv_params p{i} = {{ {fields}, .weights = w{i}, .bias = bias{i}, "
                    f".mult = mult{i}, .shift = shift{i}, .wsum = wsum{i} }};")
        nout = p["out_h"] * p["out_w"] * p["out_c"] * p["out_cont"] // 8
        calls.append(f"    MICO_MARK(); bad |= mico_conv_variant_run({VARIANT}, &p{i}, in{i}, out, scratch, SCRATCH) != MICO_OK; MICO_MARK();\n"
                     f"    bad |= mico_conv_portable(&p{i}, in{i}, ref) != MICO_OK;\n"
                     f"    bad |= memcmp(out, ref, {nout}) != 0;")
        scratch = max(scratch, op.scratch_bytes)
        outmax = max(outmax, p["out_h"] * p["out_w"] * p["out_c"])
    src = (HARNESS % {"defs": "\n".join(defs), "calls": "\n".join(calls)}).replace(
        "SCRATCH", str(scratch)).replace("OUTMAX", str(outmax))
    work.mkdir(parents=True, exist_ok=True)
    (work / "bench.c").write_text(src)
    (work / "inputs.bin").write_bytes(b"")
    cc = require(t.cc)
    from deploy.targets import COMMON_CFLAGS, TARGET_DIR

    objs = [str(o) for o in kernel_objects(t)]
    extra = [str(TARGET_DIR / s) for s in t.extra_sources]
    ld = [a.replace("{targets}", str(TARGET_DIR)) for a in t.ldflags]
    elf = work / "bench.elf"
    run([require(t.cc), *COMMON_CFLAGS, *t.cflags, "-I", str(KERNEL_DIR), str(work / "bench.c"), *extra, *objs, *ld,
         "-o", str(elf)])
    del cc
    r = execute(t, work, elf, timeout=600)
    if r.n != 0:
        raise RuntimeError("a kernel returned an error status or differed from mico_conv_portable")
    return r.instructions


def measure(target: str, work: Path, out_bits: int = 8,
            cycles: dict[str, dict[str, float]] | None = None) -> dict[str, dict[str, float]]:
    """Instructions per MAC by layer and pair; with ``cycles`` (Cortex-M7) also simulated cycles per MAC
    into it (`latency.sim`: the same ELF's QEMU block counts priced by llvm-mca's Cortex-M7 model,
    one region per call)."""
    rng = np.random.default_rng(0)
    cases, keys = [], []
    for name, cin, cout, h, w, k, pad, groups, _ in LAYERS:
        for wb, ab in PAIRS:
            op, xb, _exp = random_conv(rng, cin=cin, cout=cout, h=h, w=w, k=(k, k), stride=(1, 1), pad=(pad, pad),
                                       groups=groups, w_bits=wb, in_bits=ab, in_signed=False, out_bits=out_bits,
                                       mult_scale_log2=0)  # typical layers: every shift > 32
            cases.append((op, xb))
            keys.append((name, wb, ab, op.params["out_h"] * op.params["out_w"] * cout * k * k * (cin // groups)))
    counts = build_bench(cases, target, work / target)
    table: dict[str, dict[str, float]] = {}
    for (name, wb, ab, macs), n in zip(keys, counts):
        table.setdefault(name, {})[f"W{wb}A{ab}"] = n / macs
    if cycles is not None:
        from latency.sim.core import simulate

        r = simulate(work / target / "bench.elf", target, cwd=work / target, timeout=1200)
        if len(r.region_cycles) != len(keys):
            raise RuntimeError(f"the simulation saw {len(r.region_cycles)} marked calls, expected {len(keys)}")
        for (name, wb, ab, macs), c in zip(keys, r.region_cycles):
            cycles.setdefault(name, {})[f"W{wb}A{ab}"] = c / macs
    return table


def render(target: str, table: dict[str, dict[str, float]], what: str = "") -> list[str]:
    cols = [f"W{w}A{a}" for w, a in PAIRS]
    low = [c for c in cols if c != "W8A8"]
    ref_col = target == "cortex-m7" and not what
    head = ("| layer | " + ("CMSIS-NN W8A8 | " if ref_col else "") + " | ".join(cols) + " | "
            + " | ".join(f"x {c}" for c in low) + " |")
    title = what or "instructions per MAC (QEMU, exact counts, whole `mico_conv` call)"
    lines = [f"## {target}: {title}", "", head,
             "|---|" + ("---|" if ref_col else "") + "---|" * (len(cols) + len(low))]
    for (name, *_rest, ref) in LAYERS:
        row = table[name]
        cells = (([f"{ref:.2f}"] if ref_col else []) + [f"{row[c]:.2f}" for c in cols]
                 + [f"{row['W8A8'] / row[c]:.2f}" for c in low])
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines + [""]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", default="cortex-m7,cortex-a53")
    ap.add_argument("--out", default=str(ROOT / "results" / "kernel_bench.md"))
    ap.add_argument("--work", default="/tmp/mico_bench_kernels")
    ap.add_argument("--out-bits", type=int, default=8, help="bits of the requantized outputs (2, 4 or 8)")
    args = ap.parse_args()
    default = args.targets == "cortex-m7,cortex-a53"
    cmd = ("python scripts/bench_kernels.py" + ("" if default else f" --targets {args.targets}")
           + ("" if args.out_bits == 8 else f" --out-bits {args.out_bits} --out {args.out}"))
    lines = [f"<!-- command: {cmd} -->", "", "# Conv kernel instructions per MAC", "",
             "Each layer x bit pair runs once through the dispatcher (`mico_conv`, the kernel a deployed model "
             "uses) on random data; its output is then checked on the target against `mico_conv_portable`. "
             "`x WbAa` columns: speedup of that pair over W8A8 (W8A8 instructions / the pair's; > 1 is faster). "
             f"Activations unsigned (after ReLU), {args.out_bits}-bit requantized output, every requantization shift > 32 (as in typical layers). CMSIS-NN numbers: "
             "docs/reference/deploy-and-arm.md (same QEMU counting, Cortex-M7 only).", ""]
    for t in args.targets.split(","):
        cyc: dict[str, dict[str, float]] | None = {} if t == "cortex-m7" else None
        lines += render(t, measure(t, Path(args.work), args.out_bits, cyc))
        if cyc:
            lines += render(t, cyc, "simulated cycles per MAC (`latency.sim`: the same runs' QEMU block counts "
                                    "priced by llvm-mca's dual-issue Cortex-M7 model; approximate, unlike the counts)")
    text = "\n".join(lines)
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)


if __name__ == "__main__":
    main()
