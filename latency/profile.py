"""Kernel profiler: space-filling samples of conv / depthwise / conv1d / linear configurations,
built against deploy's kernel library and simulated (`latency.sim`), written as a CSV dataset
with provenance.

A configuration is one `mico_conv` call exactly as deploy issues it (conv1d: height 1; linear: a
1x1 conv on a 1x1 image), at weight / activation bits 1..8 stored in deploy's containers
(`deploy.pack`). Many configurations share one ELF; each call sits in its own marker region, so
one emulator run yields one cycle count per configuration.

Dataset CSV: ``#``-comment header lines ``# key: value`` (provenance: target, compiler version,
flags, llvm-mca version, kernel library content hash, git hash, pricing version), then one row
per configuration (see `COLUMNS`). `load_dataset` refuses a dataset whose kernel hash differs
from the current kernel library (`KernelVersionMismatch`).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

from deploy.lower import aarch64_scratch, conv_scratch_bytes
from latency.sim.core import PRICER_VERSION, SimError, build_elf, get_target, simulate, tool_version

KERNEL_DIR = Path(__file__).resolve().parent.parent / "deploy" / "kernels"
KINDS = ("conv2d", "depthwise", "conv1d", "linear")
BITS = tuple(range(1, 9))


class KernelVersionMismatch(ValueError):
    """A dataset or fitted model was made with another version of the kernel library."""


class NoKernel(ValueError):
    """The kernel library cannot run this configuration (bits or shape without a kernel)."""


def w_container(bits: int) -> int:
    if not 1 <= bits <= 8:
        raise NoKernel(f"weight bits must be in 1..8 (deploy has no kernel for {bits}-bit weights)")
    return next(c for c in (1, 2, 4, 8) if c >= bits)


def a_container(bits: int) -> int:
    if not 1 <= bits <= 8:
        raise NoKernel(f"activation bits must be in 1..8 (deploy has no kernel for {bits}-bit activations)")
    return next(c for c in (2, 4, 8) if c >= bits)


@dataclass(frozen=True)
class KernelConfig:
    kind: str
    in_c: int
    out_c: int
    in_h: int
    in_w: int
    k_h: int
    k_w: int
    stride: int
    pad: int
    w_bits: int
    a_bits: int
    o_cont: int = 8  # output container (2/4/8, or 32 for int32 logits)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        w_container(self.w_bits)
        a_container(self.a_bits)
        if self.o_cont not in (2, 4, 8, 32):
            raise ValueError(f"o_cont must be 2, 4, 8 or 32, got {self.o_cont}")

    @property
    def groups(self) -> int:
        return self.in_c if self.kind == "depthwise" else 1

    @property
    def out_h(self) -> int:
        if self.kind not in ("conv2d", "depthwise"):
            return 1
        return (self.in_h + 2 * self.pad - self.k_h) // self.stride + 1

    @property
    def out_w(self) -> int:
        return (self.in_w + 2 * self.pad - self.k_w) // self.stride + 1

    @property
    def macs(self) -> int:
        return self.out_h * self.out_w * self.out_c * self.k_h * self.k_w * (self.in_c // self.groups)

    @property
    def shape_key(self) -> str:
        """Identity of the layer shape (bits excluded): the group of group k-fold."""
        return f"{self.kind}:{self.in_c}x{self.in_h}x{self.in_w}->{self.out_c}:k{self.k_h}x{self.k_w}s{self.stride}p{self.pad}"

    def c_params(self) -> dict[str, int]:
        wc, ac = w_container(self.w_bits), a_container(self.a_bits)
        row = self.k_h * self.k_w * (self.in_c // self.groups)
        row_bytes = ((row * wc + 7) // 8 + 3) // 4 * 4
        p = dict(
            in_h=self.in_h, in_w=self.in_w, in_c=self.in_c, out_h=self.out_h, out_w=self.out_w, out_c=self.out_c,
            k_h=self.k_h, k_w=self.k_w, stride_h=self.stride if self.kind in ("conv2d", "depthwise") else 1,
            stride_w=self.stride, pad_h=self.pad if self.kind in ("conv2d", "depthwise") else 0, pad_w=self.pad,
            groups=self.groups, w_bits=self.w_bits, w_cont=wc, in_bits=self.a_bits, in_cont=ac, in_signed=0,
            out_cont=self.o_cont, out_signed=0, out_lo=0,
            out_hi=(1 << self.o_cont) - 1 if self.o_cont < 32 else 2**31 - 1, out_chw=0, w_row_bytes=row_bytes,
        )
        return p

    def buffer_bytes(self, aarch64: bool | None = False) -> tuple[int, int, int, int]:
        """Weight, input, output and scratch bytes (``aarch64``: which build's scratch, as
        ``deploy.lower.conv_scratch_bytes``)."""
        p = self.c_params()
        n_in = p["in_h"] * p["in_w"] * p["in_c"]
        n_out = p["out_h"] * p["out_w"] * p["out_c"]
        out_b = 4 * n_out if self.o_cont == 32 else (n_out * self.o_cont + 7) // 8
        return (self.out_c * p["w_row_bytes"], (n_in * p["in_cont"] + 7) // 8, out_b, scratch_bytes(p, aarch64))


def scratch_bytes(p: dict[str, int], aarch64: bool | None = False) -> int:
    """Scratch size of the harness: deploy's (the kernel's own get_buffer_size is checked at run
    time) with some slack; ``aarch64``: which build's scratch (``deploy.lower.aarch64_scratch``)."""
    return max(conv_scratch_bytes(p, aarch64), 64) + 64


def config_from_layer(layer, w_bits: int, a_bits: int, o_cont: int = 8) -> KernelConfig:
    """The kernel configuration deploy issues for a `mico.space.LayerSpec` at these bits."""
    if layer.kind == "linear":
        return KernelConfig("linear", layer.in_channels, layer.out_channels, 1, 1, 1, 1, 1, 0, w_bits, a_bits, o_cont)
    if layer.kind == "conv1d":
        return KernelConfig("conv1d", layer.in_channels, layer.out_channels, 1, layer.in_shape[1], 1, layer.kernel[0],
                            layer.stride[0], layer.padding[0], w_bits, a_bits, o_cont)
    if layer.groups > 1 and not layer.depthwise:
        raise NoKernel(f"layer {layer.name}: grouped (non-depthwise) conv is not profiled")
    kind = "depthwise" if layer.depthwise else "conv2d"
    return KernelConfig(kind, layer.in_channels, layer.out_channels, layer.in_shape[1], layer.in_shape[2],
                        layer.kernel[0], layer.kernel[1], layer.stride[0], layer.padding[0], w_bits, a_bits, o_cont)


COLUMNS = [f.name for f in fields(KernelConfig)] + ["out_h", "out_w", "macs", "shape", "cycles", "instructions", "status"]


# ---------------------------------------------------------------------------------- provenance
def kernel_hash() -> str:
    h = hashlib.sha256()
    for p in sorted(KERNEL_DIR.glob("*.[ch]")):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def git_hash() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=KERNEL_DIR).stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def provenance(target: str) -> dict[str, str]:
    t = get_target(target)
    return {
        "target": t.name,
        "compiler": tool_version(t.cc),
        "flags": " ".join(t.cflags),
        "llvm_mca": tool_version("llvm-mca").replace("Debian ", ""),
        "pricing": PRICER_VERSION,
        "kernel_hash": kernel_hash(),
        "git": git_hash(),
    }


# ---------------------------------------------------------------------------------- sampling
def sample_configs(n: int, seed: int = 0, kinds: Sequence[str] = KINDS, max_macs: int = 2_000_000,
                   max_bytes: int = 300_000, lowbit_frac: float = 0.125,
                   gather_frac: float = 0.125, lookup_frac: float = 0.08,
                   dw_frac: float = 0.06, fields_frac: float = 0.04) -> list[KernelConfig]:
    """``n`` configurations from a scrambled Sobol design over shape and bit dimensions.

    Five strata have their own Sobol streams, because the uniform design puts too few points there
    to fit their own terms:

    - ``lowbit_frac * n`` (seed + 1) inside the region of the sub-byte fast paths (1/2-bit weights
      x 1/2-bit activations, channel counts that are multiples of 16, no depthwise): the M7 poly
      kernel's 1-bit-weight layouts, its long-multiply kernel and the A53 NEON sub-byte paths; the
      uniform design puts ~2.5 % there.
    - ``gather_frac * n`` (seed + 2) in the first layers of small CNNs: few input channels that do
      not fill whole words at sub-byte activations (e.g. LeNet-5's 6 channels at 2 bits, 12 bits
      a pixel), where every pixel's field is gathered bit by bit. With only the uniform design
      (20 such conv2d points) the learned model under-priced LeNet-5's second layer at W2A2 by 9 %.
    - ``lookup_frac * n`` (seed + 3) in the first layers the M7 table-lookup path takes: 1-3 input
      channels at 1/2-bit activations, any weight bits, 1-32 output channels (the other strata put
      about 1 % there), kept where that path runs (`deploy.lower.rows_lut_plan`).
    - ``dw_frac * n`` (seed + 4) in the M7 depthwise byte-ring paths: 3x3, stride 1, 1-4 bit weights
      and activations (byte fields or byte groups of 2 / 3 taps, `mico_conv_dw.c`); the uniform design
      put about 30 of its 187 depthwise shapes there, too few for their terms (held-out errors up to
      85 %).
    - ``fields_frac * n`` (seed + 5) in the linear layers the M7 in-place 4-bit-weight kernel takes
      (3-4 bit weights, 1-4 bit activations, `mico_conv_fields.c`); the uniform design puts about 25
      points there.
    """
    n_lowbit = int(round(n * lowbit_frac))
    n_gather = int(round(n * gather_frac))
    n_lookup = int(round(n * lookup_frac)) if any(k in ("conv2d", "conv1d") for k in kinds) else 0
    n_dw = int(round(n * dw_frac)) if "depthwise" in kinds else 0
    n_fields = int(round(n * fields_frac)) if "linear" in kinds else 0
    main = _sobol_configs(n - n_lowbit - n_gather - n_lookup - n_dw - n_fields, seed, kinds, max_macs, max_bytes,
                          (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128), tuple(BITS), tuple(BITS))
    pk = [k for k in kinds if k != "depthwise"] or list(kinds)
    gk = [k for k in kinds if k in ("conv2d", "conv1d")] or list(kinds)
    return (main + _sobol_configs(n_lowbit, seed + 1, pk, max_macs, max_bytes, (16, 32, 48, 64, 96, 128), (1, 2), (1, 2))
            + _sobol_configs(n_gather, seed + 2, gk, max_macs, max_bytes, (1, 2, 3, 5, 6, 10, 12), tuple(BITS),
                             (1, 2, 3, 4, 5, 6))
            + _sobol_configs(n_lookup, seed + 3, gk, max_macs, max_bytes, (1, 2, 3), tuple(BITS), (1, 2),
                             out_chans=(1, 4, 6, 8, 12, 16, 24, 32), keep=_takes_lookup)
            + _sobol_configs(n_dw, seed + 4, ["depthwise"], max_macs, max_bytes,
                             (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128), (1, 2, 3, 4), (1, 2, 3, 4),
                             keep=_takes_dw3)
            + _sobol_configs(n_fields, seed + 5, ["linear"], max_macs, max_bytes,
                             (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128), (3, 4), (1, 2, 3, 4)))


def _takes_dw3(cfg: KernelConfig) -> bool:
    return cfg.k_w == 3 and cfg.stride == 1


def _takes_lookup(cfg: KernelConfig) -> bool:
    from deploy.lower import rows_lut_plan

    return rows_lut_plan(cfg.c_params()) is not None


def _sobol_configs(n: int, seed: int, kinds: Sequence[str], max_macs: int, max_bytes: int, chans: Sequence[int],
                   w_set: Sequence[int], a_set: Sequence[int],
                   out_chans: Sequence[int] | None = None, keep=None) -> list[KernelConfig]:
    from scipy.stats import qmc

    if n <= 0:
        return []
    sob = qmc.Sobol(d=9, scramble=True, seed=seed)
    out: list[KernelConfig] = []
    rounds = 0
    while len(out) < n and rounds < 50:
        rounds += 1
        u = sob.random(max(64, 2 * n))
        for r in u:
            kind = kinds[min(int(r[0] * len(kinds)), len(kinds) - 1)]
            ci = chans[min(int(r[1] * len(chans)), len(chans) - 1)]
            ocs = out_chans or chans
            co = ocs[min(int(r[2] * len(ocs)), len(ocs) - 1)]
            sp = (2, 4, 7, 8, 14, 16, 28, 32)[min(int(r[3] * 8), 7)]
            k = (1, 3, 5)[min(int(r[4] * 3), 2)]
            s = 1 if r[5] < 0.7 else 2
            wb = w_set[min(int(r[6] * len(w_set)), len(w_set) - 1)]
            ab = a_set[min(int(r[7] * len(a_set)), len(a_set) - 1)]
            oc = (2, 4, 8, 8)[min(int(r[8] * 4), 3)]
            if kind == "linear":
                fi = chans[min(int(r[1] * len(chans)), len(chans) - 1)] * (1, 4, 16)[min(int(r[3] * 3), 2)]
                cfg = KernelConfig("linear", fi, co, 1, 1, 1, 1, 1, 0, wb, ab, oc)
            elif kind == "conv1d":
                cfg = KernelConfig("conv1d", ci, co, 1, sp * 4, 1, k, s, k // 2, wb, ab, oc)
            elif kind == "depthwise":
                cfg = KernelConfig("depthwise", max(ci, 2), max(ci, 2), sp, sp, k if k > 1 else 3, k if k > 1 else 3, s,
                                   (k if k > 1 else 3) // 2, wb, ab, oc)
            else:
                cfg = KernelConfig("conv2d", ci, co, sp, sp, k, k, s, k // 2, wb, ab, oc)
            if cfg.out_w < 1 or cfg.out_h < 1 or cfg.macs > max_macs or max(cfg.buffer_bytes()) > max_bytes:
                continue
            if keep is not None and not keep(cfg):
                continue
            out.append(cfg)
            if len(out) == n:
                break
    return out


# ---------------------------------------------------------------------------------- harness
_FIELDS = ["in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "k_h", "k_w", "stride_h", "stride_w", "pad_h",
           "pad_w", "groups", "w_bits", "w_cont", "in_bits", "in_cont", "in_signed", "out_cont", "out_signed",
           "out_lo", "out_hi", "out_chw", "w_row_bytes"]


def harness_source(configs: Sequence[KernelConfig], marker: str, aarch64: bool | None = False) -> str:
    """C program running every configuration once inside its own marker region."""
    sizes = np.array([c.buffer_bytes(aarch64) for c in configs]).max(axis=0)
    maxc = max(c.out_c for c in configs)
    rows = []
    for c in configs:
        p = c.c_params()
        rows.append("{" + ",".join(str(int(p[f])) for f in _FIELDS) + "}")
    return f"""/* generated by latency/profile.py */
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include "mico_nn.h"
#define MARK() __asm__ volatile("{marker}" ::: "memory")
static const int32_t CFG[{len(configs)}][{len(_FIELDS)}] = {{
{",".join(rows)}
}};
static uint8_t wbuf[{int(sizes[0]) + 16}] __attribute__((aligned(8)));
static uint8_t inbuf[{int(sizes[1]) + 16}] __attribute__((aligned(8)));
static uint8_t outbuf[{int(sizes[2]) + 16}] __attribute__((aligned(8)));
static uint8_t scratch[{int(sizes[3]) + 64}] __attribute__((aligned(8)));
static uint8_t prep[{int(sizes[3]) + 64}] __attribute__((aligned(8)));
static int32_t bias[{maxc}], mult[{maxc}], wsum[{maxc}];
static int8_t shift[{maxc}];
static uint32_t seed = 12345u;
static uint8_t rnd(void) {{ seed = seed * 1664525u + 1013904223u; return (uint8_t)(seed >> 24); }}
int main(void) {{
    for (int i = 0; i < {maxc}; i++) {{ bias[i] = (int32_t)rnd() - 128; mult[i] = 1 << 30; shift[i] = 38; wsum[i] = 0; }}
    for (unsigned i = 0; i < sizeof wbuf; i++) wbuf[i] = rnd();
    for (unsigned i = 0; i < sizeof inbuf; i++) inbuf[i] = rnd();
    for (int n = 0; n < {len(configs)}; n++) {{
        mico_conv_params p;
        memset(&p, 0, sizeof p);
        const int32_t *c = CFG[n];
        p.in_h = c[0]; p.in_w = c[1]; p.in_c = c[2]; p.out_h = c[3]; p.out_w = c[4]; p.out_c = c[5];
        p.k_h = c[6]; p.k_w = c[7]; p.stride_h = c[8]; p.stride_w = c[9]; p.pad_h = c[10]; p.pad_w = c[11];
        p.groups = c[12]; p.w_bits = c[13]; p.w_cont = c[14]; p.in_bits = c[15]; p.in_cont = c[16];
        p.in_signed = c[17]; p.out_cont = c[18]; p.out_signed = c[19]; p.out_lo = c[20]; p.out_hi = c[21];
        p.out_chw = c[22]; p.w_row_bytes = c[23];
        p.weights = wbuf; p.bias = bias; p.mult = mult; p.shift = shift; p.wsum = wsum;
        /* the kernel's constant data made once, as deploy does at build time (outside the region) */
        int32_t np_ = mico_conv_prepare(&p, 0, 0);
        if (np_ > 0 && np_ <= (int32_t)sizeof prep && mico_conv_prepare(&p, prep, np_) == np_) p.prep = prep;
        int32_t need = mico_conv_get_buffer_size(&p);
        int st = need > (int32_t)sizeof scratch ? -2 : 0;
        MARK();
        if (st == 0) st = mico_conv(&p, inbuf, outbuf, scratch, (int32_t)sizeof scratch);
        else need = mico_conv_get_buffer_size(&p); /* keep the region non-empty (the plugin reports no empty region) */
        MARK();
        (void)need;
        printf("S %d %d %d\\n", n, st, (int)mico_conv_select(&p));
    }}
    return 0;
}}
"""


def run_batch(configs: Sequence[KernelConfig], target: str, *, timeout: float = 300.0,
              workdir: str | Path | None = None, use_cache: bool = True) -> list[dict]:
    """Build one harness for ``configs``, simulate it, return one row per configuration."""
    t = get_target(target)
    if target == "host":
        raise SimError("profiling on 'host' (wall-clock + callgrind) is not implemented yet; use cortex-m7 or cortex-a53")
    with tempfile.TemporaryDirectory(dir=workdir) as td:
        src = Path(td) / "harness.c"
        src.write_text(harness_source(configs, t.marker, aarch64=aarch64_scratch(target)))
        elf = build_elf([src], t, Path(td) / "harness.elf", with_kernels=True)
        res = simulate(elf, t.name, timeout=timeout, use_cache=use_cache)
    status = {}
    for ln in res.stdout.splitlines():
        if ln.startswith("S "):
            _, i, st, var = ln.split()
            status[int(i)] = (int(st), int(var))
    if len(res.region_cycles) != len(configs):
        raise SimError(f"expected {len(configs)} regions, the simulation reported {len(res.region_cycles)}")
    rows = []
    for i, c in enumerate(configs):
        st, var = status.get(i, (-99, -1))
        rows.append({**asdict(c), "out_h": c.out_h, "out_w": c.out_w, "macs": c.macs, "shape": c.shape_key,
                     "cycles": res.region_cycles[i], "instructions": res.region_instructions[i],
                     "status": st, "variant": var})
    return rows


def batches(configs: Sequence[KernelConfig], max_n: int = 48, max_bytes: int = 2_500_000,
            aarch64: bool | None = False) -> Iterable[list[KernelConfig]]:
    cur: list[KernelConfig] = []
    for c in configs:
        trial = cur + [c]
        if len(trial) > max_n or int(np.array([x.buffer_bytes(aarch64) for x in trial]).max(axis=0).sum()) > max_bytes:
            yield cur
            cur = [c]
        else:
            cur = trial
    if cur:
        yield cur


def profile(configs: Sequence[KernelConfig], target: str, *, timeout: float = 300.0, progress: bool = False,
            use_cache: bool = True) -> pd.DataFrame:
    rows: list[dict] = []
    for b in batches(configs, aarch64=aarch64_scratch(target)):
        rows += run_batch(b, target, timeout=timeout, use_cache=use_cache)
        if progress:
            print(f"  profiled {len(rows)}/{len(configs)} on {target}", flush=True)
    df = pd.DataFrame(rows)
    df.attrs["provenance"] = provenance(target)
    return df


# ---------------------------------------------------------------------------------- dataset I/O
def save_dataset(df: pd.DataFrame, path: str | Path, command: str = "") -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prov = dict(df.attrs.get("provenance", {}))
    if command:
        prov["command"] = command
    with path.open("w") as f:
        for k, v in prov.items():
            f.write(f"# {k}: {v}\n")
        df.to_csv(f, index=False)
    return path


def read_provenance(path: str | Path) -> dict[str, str]:
    prov = {}
    with Path(path).open() as f:
        for ln in f:
            if not ln.startswith("#"):
                break
            k, _, v = ln[1:].partition(":")
            prov[k.strip()] = v.strip()
    return prov


def load_dataset(path: str | Path, *, check_kernels: bool = True) -> pd.DataFrame:
    """Read a profiler dataset; raise `KernelVersionMismatch` if it was made with other kernels."""
    prov = read_provenance(path)
    if "kernel_hash" not in prov or "target" not in prov:
        raise ValueError(f"{path}: not a profiler dataset (no provenance header with target and kernel_hash)")
    if check_kernels and prov["kernel_hash"] != kernel_hash():
        raise KernelVersionMismatch(
            f"{path} was profiled with kernel library {prov['kernel_hash']} but deploy/kernels is now "
            f"{kernel_hash()}; re-run `mico latency profile --target {prov['target']}` (or pass check_kernels=False)"
        )
    df = pd.read_csv(path, comment="#")
    df.attrs["provenance"] = prov
    return df


def dataset_json(df: pd.DataFrame) -> str:
    return json.dumps(df.attrs.get("provenance", {}), indent=1)
