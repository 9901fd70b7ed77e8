"""Whole-model ground truth: real deployments (deploy's lowering, codegen, build) of zoo models at a
policy, simulated per basic block (`latency.sim.simulate`), cycles of one ``model_run`` call.

The harness (``deploy/targets/common/main.c``) brackets ``model_run`` with the region markers, so
the region is exactly one inference: conv kernels, pooling, residual adds, ReLUs, the dispatcher
and call overhead. Cycles are also attributed to functions (ELF symbol table) so the non-conv ops
(`OP_FUNCS`) can be calibrated on their own (`OverheadModel`).

Host: `measure_host` builds the same folder with deploy's host target and reports callgrind
instruction counts of one ``model_run`` (deterministic) plus wall-clock (median of repeats).
"""

from __future__ import annotations

import bisect
import inspect
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from latency.sim.core import SimError, get_target, simulate

OP_FUNCS = {"mico_add": "add", "mico_maxpool": "maxpool", "mico_avgpool": "avgpool", "mico_relu": "relu",
            "mico_pool_bytes": "convpool"}
OP_KINDS = ("add", "maxpool", "avgpool", "relu", "convpool")
OTHER_FUNCS = ("model_run", "main", "?")
NM = {"cortex-m7": "arm-none-eabi-nm", "cortex-a53": "aarch64-linux-gnu-nm", "host": "nm"}


@dataclass
class ZooCase:
    name: str
    graph: object
    calib: object
    space: object
    input_shape: tuple[int, ...]


@lru_cache(maxsize=16)
def zoo_case(name: str, seed: int = 0) -> ZooCase:
    """A zoo model (fresh weights, calibrated on random inputs) as a 1..8-bit search space."""
    import torch

    from mico.models import MODEL_ZOO, build_model
    from mico.quant import Calibration
    from mico.trace import space_from_graph, trace_graph

    spec = MODEL_ZOO[name]
    shp = tuple(inspect.signature(spec.builder).parameters["input_shape"].default)
    torch.manual_seed(seed)
    model = build_model(name).eval()
    x = torch.randn(32, *shp, generator=torch.Generator().manual_seed(seed))
    graph = trace_graph(model, x[:2])
    calib = Calibration(graph, x)
    space = space_from_graph(graph, w_choices=tuple(range(1, 9)), a_choices=tuple(range(1, 9)), model_name=name)
    return ZooCase(name, graph, calib, space, shp)


def _symbols(elf: Path, target: str) -> tuple[list[int], list[tuple[int, str]]]:
    nm = shutil.which(NM[target])
    if nm is None:
        raise SimError(f"{NM[target]} not found")
    out = subprocess.run([nm, "-S", "--defined-only", str(elf)], capture_output=True, text=True).stdout
    syms = []
    for ln in out.splitlines():
        p = ln.split()
        if len(p) == 4 and p[2] in "tTwW":
            a = int(p[0], 16) & ~1
            syms.append((a, a + int(p[1], 16), p[3]))
    syms.sort()
    return [s[0] for s in syms], [(s[1], s[2]) for s in syms]


def attribute(elf: Path, target: str, blocks: list) -> dict[str, float]:
    """Cycles per function name from the per-block list of `simulate(keep_blocks=True)`."""
    starts, rest = _symbols(elf, target)
    out: dict[str, float] = {}
    for va, cyc, _ins in blocks:
        i = bisect.bisect_right(starts, va) - 1
        name = rest[i][1] if i >= 0 and va < rest[i][0] else "?"
        out[name] = out.get(name, 0.0) + cyc
    return out


def lowered_ops(lowered) -> list[dict]:
    """The ops of a lowered model for `op_features`: kind, the literal params of their C call
    (shapes and containers; none for convs, which count only as calls of ``model_run``) and the ids
    of the tensors they read and write (`space_ops`). A conv with fused max pooling also gives a
    ``convpool`` op: its pooling pass (mico_pool_bytes), with the conv's layer, map shape, windows and
    output container."""
    out: list[dict] = []
    for op in lowered.ops:
        out.append({"kind": op.kind, **(op.params if op.kind != "conv" else {}), "inputs": list(op.inputs),
                    "output": op.output})
        if op.kind == "conv" and (op.params.get("pool_h", 0) > 1 or op.params.get("pool_w", 0) > 1):
            p = op.params
            out.append({"kind": "convpool", "layer": op.layer, **{k: p[k] for k in (
                "out_h", "out_w", "out_c", "pool_h", "pool_w", "out_cont", "out_signed")},
                        "inputs": [], "output": op.output})
    return out


def deploy_folder(case: ZooCase, policy, target: str, out_dir: Path, seed: int = 0, fast: bool = False):
    """Lower + generate + build one policy of a zoo case; returns (lowered model, deploy BuildResult,
    or with ``fast`` the ELF path: one compiler call with deploy's flags and objects, no size checks)."""
    from deploy.api import export_folder
    from deploy.lower import lower, pack_input
    from deploy.targets import build
    from deploy.targets import get_target as deploy_target
    from mico.quant import build_int_graph

    g = build_int_graph(case.calib, policy)
    m = lower(g, target)
    rng = np.random.default_rng(seed)
    q = g.input_q
    xq = rng.integers(q.lo, q.hi + 1, size=(1, *m.input_shape)).astype(np.int64)
    export_folder(m, out_dir, target, case.name, pack_input(m, xq))
    if not fast:
        return m, build(deploy_target(target), out_dir)
    # the same compile and link as deploy.targets.build, in one compiler call (no size checks)
    from deploy.targets import COMMON_CFLAGS, TARGET_DIR, kernel_objects
    from deploy.toolchain import KERNEL_DIR, require, run

    t = deploy_target(target)
    elf = out_dir / "app.elf"
    srcs = [out_dir / "model.c", TARGET_DIR / "common" / "main.c", *(TARGET_DIR / s for s in t.extra_sources)]
    ld = [a.replace("{targets}", str(TARGET_DIR)) for a in t.ldflags]
    run([require(t.cc), *COMMON_CFLAGS, *t.cflags, "-I", str(out_dir), "-I", str(KERNEL_DIR), *map(str, srcs),
         *map(str, kernel_objects(t)), *ld, "-o", str(elf)])
    return m, elf


def simulate_policy(case: ZooCase, policy, target: str, *, workdir: str | Path | None = None,
                    timeout: float = 300.0) -> dict:
    """Cycles of one ``model_run`` of ``case`` deployed at ``policy`` on ``target`` (+ attribution)."""
    get_target(target)
    with tempfile.TemporaryDirectory(dir=workdir) as td:
        m, elf = deploy_folder(case, policy, target, Path(td), fast=True)
        r = simulate(elf, target, cwd=td, keep_blocks=True, timeout=timeout)
        if len(r.region_cycles) != 1:
            raise SimError(f"expected one model_run region, got {len(r.region_cycles)}")
        funcs = attribute(elf, target, r.meta["blocks"])
    ops = lowered_ops(m)
    per_kind = {k: 0.0 for k in OP_KINDS}
    for f, c in funcs.items():
        if f in OP_FUNCS:
            per_kind[OP_FUNCS[f]] += c
    other = sum(funcs.get(f, 0.0) for f in OTHER_FUNCS)
    conv = r.cycles - other - sum(per_kind.values())  # conv kernels and their static helpers
    return {"model": case.name, "w_bits": list(policy.w_bits), "a_bits": list(policy.a_bits),
            "cycles": r.cycles, "instructions": r.instructions, "conv_cycles": conv,
            "op_cycles": per_kind, "other_cycles": other,
            "ops": ops}


# ---------------------------------------------------------------------------------- overhead
def _valid_windows(o: dict) -> bool:
    """Every pooling window has a tap inside the input (mico_maxpool.c's condition for its word paths)."""
    return (o["pad_h"] < o["k_h"] and o["pad_w"] < o["k_w"]
            and (o["out_h"] - 1) * o["stride_h"] - o["pad_h"] < o["in_h"]
            and (o["out_w"] - 1) * o["stride_w"] - o["pad_w"] < o["in_w"])


def _two_by_two(o: dict) -> bool:
    """2x2 windows of stride 2, no padding, inside the input (mico_maxpool.c: mp_2x2, mp_2x2_bits)."""
    return (o["k_h"] == o["k_w"] == 2 and o["stride_h"] == o["stride_w"] == 2 and o["pad_h"] == o["pad_w"] == 0
            and 2 * o["out_h"] <= o["in_h"] and 2 * o["out_w"] <= o["in_w"])


def word_paths(target: str) -> bool:
    """Whether mico_maxpool.c compares 4 bytes of fields at a time on ``target`` (Cortex-M7: USUB8 /
    SEL; Cortex-A53: NEON UMAX) rather than element by element (host)."""
    return target in ("cortex-m7", "cortex-a53")


def _op_terms(o: dict, words: bool) -> dict[str, float]:
    """The work of one non-conv op in the units its kernel loops over, mirroring the C paths:
    mico_maxpool.c on targets with its word paths (``words``, `word_paths`) compares 4-byte chunks
    of every tap's pixel in byte lanes (8 / cont lanes per chunk, a byte loop for a partial chunk)
    when pixels fill whole bytes, 24-bit chunks at any bit offset when they do not; everything else
    loops over elements with mico_get / mico_set, which cost more for sub-byte containers."""
    k = o["kind"]
    t = {f"{k}:ops": 1.0}
    if k == "conv":  # the call and status check in model_run (the kernel is a layer cost)
        return t
    if k == "convpool":  # fused pooling's pass (mico_pool_bytes): 2x2 windows 4 channels a word
        P = (o["out_h"] // o["pool_h"]) * (o["out_w"] // o["pool_w"])
        if words and o["pool_h"] == o["pool_w"] == 2:
            chunks = P * -(-o["out_c"] // 4)
            t["convpool:chunks"] = chunks
            t["convpool:sub_chunks"] = chunks * (o["out_cont"] < 8)
            t["convpool:part"] = P * (o["out_c"] % 4 != 0)
        else:
            t["convpool:elem_taps"] = P * o["out_c"] * o["pool_h"] * o["pool_w"]
        return t
    if k in ("maxpool", "avgpool"):
        P, T, c, cont = o["out_h"] * o["out_w"], o["k_h"] * o["k_w"], o["c"], o["in_cont"]
        if k == "maxpool" and words and cont in (8, 4, 2) and _two_by_two(o):
            # 2x2 windows of stride 2 inside the input: fixed tap offsets, 4-byte chunks (whole-byte
            # pixels; a last partial chunk still read as a word) or 24-bit chunks into a running bit
            # buffer (sub-byte pixels)
            bits, lanes = c * cont, 8 // cont
            if bits % 8 == 0:
                chunks = -(-(bits // 8) // 4)
                t["maxpool:q_chunks"] = P * chunks
                t["maxpool:q_lanes"] = P * chunks * lanes
            else:
                chunks = -(-bits // 24)
                t["maxpool:qs_chunks"] = P * chunks
                t["maxpool:qs_lanes"] = P * chunks * lanes
            return t
        if k == "maxpool" and words and cont in (8, 4, 2) and _valid_windows(o):
            bits, lanes = c * cont, 8 // cont
            t["maxpool:pix"] = P
            if bits % 8 == 0:
                full, tail = divmod(bits // 8, 4)
                chunks = full + (tail > 0)
                t["maxpool:chunk_taps"] = P * T * chunks
                t["maxpool:lane_taps"] = P * T * chunks * lanes
                t["maxpool:tail_byte_taps"] = P * T * tail
            else:
                chunks = -(-bits // 24)
                t["maxpool:sub_chunk_taps"] = P * T * chunks
                t["maxpool:sub_lane_taps"] = P * T * chunks * lanes
                t["maxpool:sub_put_bytes"] = P * -(-bits // 8)
            return t
        t[f"{k}:elems"] = P * c
        t[f"{k}:elem_taps"] = P * T * c
        t[f"{k}:sub_elem_taps"] = P * T * c * (cont < 8)
        if k == "avgpool":
            t["avgpool:sub_out"] = P * c * (o["out_cont"] < 8)
        return t
    n = o["n"]
    t[f"{k}:elems"] = n
    if k == "add":
        t["add:sub_in"] = n * ((o["a_cont"] < 8) + (o["b_cont"] < 8))
        t["add:sub_out"] = n * (o["out_cont"] < 8)
    else:
        t[f"{k}:sub"] = n * (o["cont"] < 8)
    return t


OP_TERMS = (
    "conv:ops", "maxpool:ops", "maxpool:pix", "maxpool:chunk_taps", "maxpool:lane_taps", "maxpool:tail_byte_taps",
    "maxpool:sub_chunk_taps", "maxpool:sub_lane_taps", "maxpool:sub_put_bytes", "maxpool:elems",
    "maxpool:elem_taps", "maxpool:sub_elem_taps", "maxpool:q_chunks", "maxpool:q_lanes", "maxpool:qs_chunks",
    "maxpool:qs_lanes",
    "avgpool:ops", "avgpool:elems", "avgpool:elem_taps", "avgpool:sub_elem_taps", "avgpool:sub_out",
    "add:ops", "add:elems", "add:sub_in", "add:sub_out",
    "relu:ops", "relu:elems", "relu:sub",
    "convpool:ops", "convpool:chunks", "convpool:sub_chunks", "convpool:part", "convpool:elem_taps",
)


def op_features(ops: list[dict], words: bool, constant: float = 1.0) -> np.ndarray:
    """Sum of `_op_terms` over the ops, in `OP_TERMS` order, + ``constant`` (1: one model_run)."""
    f = dict.fromkeys(OP_TERMS, 0.0)
    for o in ops:
        for name, v in _op_terms(o, words).items():
            f[name] += v
    return np.array([*f.values(), constant], dtype=float)


class OverheadModel:
    """Cycles of everything in ``model_run`` that is not a conv kernel: pooling, adds, ReLUs (terms of
    `_op_terms`: per op, pixel, chunk, lane, element, each at the containers the policy gives the op's
    tensors) and a fixed model_run overhead, fitted by non-negative least squares on the attributed
    cycles of calibration deployments (not the evaluation ones). ``words``: the target runs the
    word paths of mico_maxpool.c (`word_paths`)."""

    def __init__(self, coef: np.ndarray | None = None, words: bool = True):
        self.coef = coef
        self.words = words

    def fit(self, rows: list[dict]) -> OverheadModel:
        from scipy.optimize import nnls

        X = np.array([op_features(r["ops"], self.words) for r in rows])
        y = np.array([sum(r["op_cycles"].values()) + r["other_cycles"] for r in rows])
        w = 1.0 / np.maximum(y, 1.0)
        self.coef, _ = nnls(X * w[:, None], y * w)
        return self

    def predict(self, ops: list[dict]) -> float:
        return float(op_features(ops, self.words) @ self.coef)

    def to_json(self) -> list[float]:
        return [float(c) for c in self.coef]


def policy_ops(name: str, policy) -> list[dict]:
    """`lowered_ops` of zoo model ``name`` deployed at ``policy`` (one lowering, no build)."""
    from deploy.lower import lower
    from mico.quant import build_int_graph

    return lowered_ops(lower(build_int_graph(zoo_case(name).calib, policy)))


def space_ops(space, name: str | None = None) -> list[dict]:
    """Non-conv ops of a zoo space lowered at W8A8 (``name``: the zoo model, default
    ``space.model_name``), each with ``ctl``: container field -> the layers whose a_bits set that
    tensor's bits. `mico.quant` gives a tensor the largest a_bits of the layers that read it (8 if
    none), so the layers are found by lowering at all-2-bit activations and once more per layer with
    that layer at 8: the fields that change name the layer."""
    if (name or space.model_name) is None:
        raise KeyError("not a zoo model")
    from mico.space import Policy

    name = name or space.model_name
    n = zoo_case(name).space.n_layers
    base = policy_ops(name, Policy((8,) * n, (8,) * n))
    low = policy_ops(name, Policy((8,) * n, (2,) * n))
    for o in base:
        o["ctl"] = {}
    for j in range(n):
        probe = policy_ops(name, Policy((8,) * n, tuple(8 if i == j else 2 for i in range(n))))
        for o, o2, o8 in zip(low, probe, base, strict=True):
            for fld in _CONT_FIELDS.get(o["kind"], ()):
                if o[fld] != o2[fld]:
                    o8["ctl"][fld] = (*o8["ctl"].get(fld, ()), j)
    return base


_CONT_FIELDS = {"maxpool": ("in_cont",), "avgpool": ("in_cont", "out_cont"), "add": ("a_cont", "b_cont", "out_cont"),
                "relu": ("cont",), "convpool": ("out_cont",)}
_CONTS = (2, 4, 8)


class OverheadPlan:
    """Non-conv cycles of a space as a function of the activation bits: every op is priced once per
    combination of the containers its tensors can take (`_CONTS`), each tensor's container being
    that of the largest a_bits of the layers in its ``ctl`` (`space_ops`); fields without layers keep
    their W8A8 container. An op whose containers follow one layer is that layer's (`layer_cycles`:
    e.g. the pooling of the map a layer reads); the rest (fixed ops, ops that follow several layers
    such as a residual sum read by two layers, the call overhead) is `rest_cycles`."""

    def __init__(self, ops: list[dict], coef: np.ndarray, words: bool):
        coef = np.asarray(coef)
        self.const = float(coef[-1])
        self.layer_terms: list[tuple[int, np.ndarray]] = []  # (layer, cycles at container index)
        self.terms: list[tuple[list[tuple[int, ...]], np.ndarray]] = []
        for o in ops:
            ctl = o.get("ctl", {})
            groups = list(dict.fromkeys(ctl.values()))  # distinct layer sets of the op's fields
            cost = np.zeros((len(_CONTS),) * len(groups))
            for idx in np.ndindex(*cost.shape):
                oc = {**o, **{f: _CONTS[idx[groups.index(ls)]] for f, ls in ctl.items()}}
                cost[idx] = float(op_features([oc], words, 0.0) @ coef)
            if not groups:
                self.const += float(cost)
            elif len(groups) == 1 and len(groups[0]) == 1:
                self.layer_terms.append((groups[0][0], cost))
            else:
                self.terms.append((groups, cost))

    _LUT = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])  # bits -> index into _CONTS

    def layer_cycles(self, a_bits: np.ndarray) -> np.ndarray:
        """(policies x layers) cycles of the ops that follow one layer's a_bits, in that layer's column."""
        a = np.asarray(a_bits, dtype=np.int64)
        out = np.zeros(a.shape, dtype=float)
        for j, cost in self.layer_terms:
            out[:, j] += cost[self._LUT[a[:, j]]]
        return out

    def rest_cycles(self, a_bits: np.ndarray) -> np.ndarray:
        """Cycles of everything else, for each row of ``a_bits`` (policies x layers)."""
        a = np.asarray(a_bits, dtype=np.int64)
        out = np.full(len(a), self.const)
        for groups, cost in self.terms:
            out += cost[tuple(self._LUT[a[:, list(ls)].max(axis=1)] for ls in groups)]
        return out

    def cycles(self, a_bits: np.ndarray) -> np.ndarray:
        """All non-conv cycles for each row of ``a_bits`` (policies x layers)."""
        return self.layer_cycles(a_bits).sum(axis=1) + self.rest_cycles(a_bits)


# ---------------------------------------------------------------------------------- host
def measure_host(case: ZooCase, policy, *, repeats: int = 20, workdir: str | Path | None = None) -> dict:
    """Deploy ``policy`` with deploy's host target: callgrind instructions of the whole program with
    and without inference (difference = one model_run) and wall-clock per model_run (median of
    ``repeats`` runs of a program with 1 vs. 1 + ``repeats`` copies of the input)."""
    if shutil.which("valgrind") is None:
        raise SimError("valgrind not found (sudo apt-get install valgrind)")
    with tempfile.TemporaryDirectory(dir=workdir) as td:
        td = Path(td)
        m, b = deploy_folder(case, policy, "host", td)
        one = (td / "inputs.bin").read_bytes()

        def callgrind(n: int) -> int:
            (td / "inputs.bin").write_bytes(one * n)
            out = td / f"cg.{n}"
            subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", str(b.elf)], cwd=td,
                           capture_output=True, text=True, check=True, timeout=600)
            for ln in out.read_text().splitlines():
                if ln.startswith("summary:") or ln.startswith("totals:"):
                    return int(ln.split()[1])
            raise SimError("callgrind wrote no summary")

        ins = callgrind(2) - callgrind(1)

        def wall(n: int) -> float:
            (td / "inputs.bin").write_bytes(one * n)
            t = time.perf_counter()
            subprocess.run([str(b.elf)], cwd=td, capture_output=True, check=True)
            return time.perf_counter() - t

        ts = [(wall(1 + 200) - wall(1)) / 200 for _ in range(repeats)]
    return {"model": case.name, "instructions": ins, "wall_s_median": statistics.median(ts),
            "wall_s_iqr": float(np.subtract(*np.percentile(ts, [75, 25]))), "repeats": repeats}


def save_rows(rows: list[dict], path: Path, provenance: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"provenance": provenance, "rows": rows}, separators=(",", ":")))


def load_rows(path: Path) -> tuple[dict, list[dict]]:
    d = json.loads(Path(path).read_text())
    return d["provenance"], d["rows"]
