"""Lowering: `mico.quant.IntGraph` -> a list of C-level ops with literal shapes.

Layout: every activation tensor is stored **NHWC** (channels last), flat, packed at its container
(`deploy.pack`). A torch shape ``(C, H, W)`` becomes ``(H, W, C)``, ``(C, L)`` becomes
``(1, L, C)`` and ``(F,)`` becomes ``(1, 1, F)``. Flatten is therefore free (an alias); a linear
layer that reads a flattened ``(C, H, W)`` tensor gets its weight columns permuted from torch's
``c*H*W + h*W + w`` order to ``(h*W + w)*C + c``.

Weights are rows per output channel in ``(kh, kw, cin/groups)`` order (conv1d: ``(k, cin/groups)``,
linear: input features), packed by `deploy.pack.pack_weight_rows`. Conv1d and linear are lowered
to the one conv op (conv1d: height 1; linear: a 1x1 conv on a 1x1 image). The last layer writes
int32 accumulators in torch's flatten order (C, H, W).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from deploy.pack import act_container, pack, pack_weight_rows, packed_bytes, weight_container
from mico.quant import IntGraph, IntOp, TensorQ


class LoweringError(ValueError):
    """The integer graph contains something the C backend cannot express."""


@dataclass
class CTensor:
    """One activation tensor of the C program (NHWC, packed)."""

    id: int
    name: str
    hwc: tuple[int, int, int]
    bits: int
    cont: int  # 2, 4, 8, or 32 for the int32 logits
    signed: bool
    alias_of: int | None = None  # flatten: shares the bytes of another tensor
    external: str | None = None  # "input" or "output": not in the arena
    flat_from: tuple[int, ...] | None = None  # torch shape before a flatten (NHWC element order)

    @property
    def n(self) -> int:
        return self.hwc[0] * self.hwc[1] * self.hwc[2]

    @property
    def nbytes(self) -> int:
        return 4 * self.n if self.cont == 32 else packed_bytes(self.n, self.cont)


@dataclass
class COp:
    """One kernel call: ``kind`` in conv, add, maxpool, avgpool, relu."""

    name: str
    kind: str
    inputs: list[int]
    output: int
    params: dict[str, int] = field(default_factory=dict)  # literal ints of the C params struct
    weights: bytes | None = None
    bias: np.ndarray | None = None  # int32 per channel
    mult: np.ndarray | None = None  # int32 per channel (conv), [m_a, m_b] (add) or [m] (avgpool)
    shift: np.ndarray | None = None  # int8 per channel or one
    wsum: np.ndarray | None = None  # int32 sum of each weight row (true values), for fast kernels
    layer: int | None = None
    w_bits: int | None = None
    a_bits: int | None = None
    macs: int = 0
    scratch_bytes: int = 0
    prep: bytes | None = None  # conv: the kernel's constant data made once (`mico_conv_prepare`), flash


@dataclass
class LoweredModel:
    tensors: list[CTensor]
    ops: list[COp]
    input_id: int
    output_id: int
    input_q: TensorQ
    input_shape: tuple[int, ...]  # torch shape without batch
    out_scale: np.ndarray  # float32 logit scale per output element
    policy: Any

    @property
    def input_bytes(self) -> int:
        return self.tensors[self.input_id].nbytes

    @property
    def n_outputs(self) -> int:
        return self.tensors[self.output_id].n

    @property
    def weight_bytes(self) -> int:
        return sum(len(op.weights or b"") for op in self.ops)

    @property
    def prep_bytes(self) -> int:
        return sum(len(op.prep or b"") for op in self.ops)


def hwc_of(shape: tuple[int, ...]) -> tuple[int, int, int]:
    if len(shape) == 3:
        return (shape[1], shape[2], shape[0])
    if len(shape) == 2:
        return (1, shape[1], shape[0])
    if len(shape) == 1:
        return (1, 1, shape[0])
    raise LoweringError(f"cannot lower a tensor of rank {len(shape)} (shape {shape})")


def pack_input(lowered: LoweredModel, xq: np.ndarray) -> bytes:
    """Quantized NCHW / NCL / NF inputs (N, ...) -> concatenated packed NHWC inputs."""
    xq = np.asarray(xq)
    if tuple(xq.shape[1:]) != tuple(lowered.input_shape):
        raise ValueError(f"inputs must have shape (N, {lowered.input_shape}), got {xq.shape}")
    x = xq.astype(np.int64)
    if x.ndim == 4:
        x = x.transpose(0, 2, 3, 1)
    elif x.ndim == 3:
        x = x.transpose(0, 2, 1)
    cont = lowered.tensors[lowered.input_id].cont
    return b"".join(pack(row, cont) for row in x.reshape(x.shape[0], -1))


def aarch64_scratch(target: str | None) -> bool | None:
    """Which build's conv scratch a target needs: True for Cortex-A53 (AArch64), False for Cortex-M7,
    None (the upper bound of both) for the host, which may be either."""
    return {"cortex-a53": True, "cortex-m7": False}.get(target or "")


def long_extra_bytes(p: dict[str, int]) -> int:
    """Scratch of the long-multiply kernel (``mico_conv_long_extra`` in mico_conv_long.c): its two-pixel
    column and the weights converted to F-field words (1-bit weights through a row of 2-bit containers),
    for 1/2/4-bit weight and 2/4-bit activation containers with 4+ input channels, 16+ output pixels and
    K of 12+ words (0 where the kernel does not run)."""
    if not (p["groups"] == 1 and p["w_cont"] in (1, 2, 4) and p["in_cont"] in (2, 4)):
        return 0
    f = 4 if p["w_cont"] <= 2 and p["in_cont"] == 2 else 3
    nt = p["k_h"] * p["k_w"] * -(-p["in_c"] // f)  # words of K, then padded to whole extraction blocks
    if p["in_c"] < 4 or p["out_h"] * p["out_w"] < 16 or nt < 12:
        return 0
    k = p["k_h"] * p["k_w"] * p["in_c"]
    row2 = 2 * -(-k // 8) + 4 if p["w_cont"] == 1 else 0  # a row of 1-bit weights as 2-bit containers
    return 8 * (nt + (nt + 4) // 5 + 4) * (1 + (p["out_c"] + 1) // 2) + 8 + row2


def rows_lut_plan(p: dict[str, int]) -> dict[str, int] | None:
    """The plan of the first-layer kernel's table-lookup path (``rl_plan`` in mico_conv_rows.c: 2-bit
    activation containers, 1-3 input channels, k_w in_c <= 16): G lookups of g elements a kernel row,
    entries of nw words holding cpw F-bit fields, erow entries a kernel row, window rows of lw bytes;
    None where the path does not apply or does not pay (fewer output pixels than erow)."""
    kwc = p["k_w"] * p["in_c"]
    if not (p["groups"] == 1 and 1 <= p["in_c"] <= 3 and 1 <= p["k_h"] <= 16 and p["k_h"] * p["k_w"] >= 2
            and p["out_w"] >= 2 and p["in_cont"] == 2 and p["w_cont"] in (1, 2, 4, 8) and kwc <= 16
            and p["out_c"] >= 1):
        return None
    n_g = (kwc + 3) // 4
    g = -(-kwc // n_g)
    mw = 1 if p["w_cont"] == 1 else 1 << (p["w_cont"] - 1)
    off = p["k_h"] * kwc * (2 if p["in_signed"] else 3) * mw
    f = (2 * off).bit_length()
    if f > 16:
        return None
    cpw = 32 // f
    nw = -(-p["out_c"] // cpw)
    nw += nw in (5, 7)
    erow = n_g << (2 * g)
    lw = (p["in_w"] + 2 * p["pad_w"]) * p["in_c"] + g
    if nw > 8 or p["out_h"] * p["out_w"] < erow:
        return None
    return {"G": n_g, "g": g, "F": f, "cpw": cpw, "nw": nw, "erow": erow, "lw": lw}


def rows_lut_bytes(p: dict[str, int]) -> int:
    """Scratch of the table-lookup path (``mico_conv_rows_lut_bytes``, `rows_lut_plan`): the per (kernel
    row, group) tables, the requantization table, one output row's shifts and sums with 64 bytes of
    slack and the doubled ring of k_h window rows; 0 where the path does not apply."""
    L = rows_lut_plan(p)
    if L is None:
        return 0
    return (68 + 4 * p["k_h"] * L["erow"] * L["nw"] + 16 * p["out_c"] + 4 * p["out_w"] * (p["out_c"] + 1)
            + 2 * p["k_h"] * L["lw"])


def conv_scratch_bytes(p: dict[str, int], aarch64: bool | None = None) -> int:
    """Scratch bytes of a conv op: the same formula as ``mico_conv_get_buffer_size`` in C. ``aarch64``:
    True, the AArch64 (Cortex-A53) build, with the terms of its kernel paths; False, every other build,
    with the long-multiply kernel's term; None, the larger of the two (an upper bound for every target).
    A conv with fused max pooling and a requantized output (``pool_h`` / ``pool_w``) adds its map at a
    byte per element (and 4 of slack) after the kernel's own."""
    if aarch64 is None:
        return max(conv_scratch_bytes(p, True), conv_scratch_bytes(p, False))
    ph, pw = max(p.get("pool_h", 0), 1), max(p.get("pool_w", 0), 1)
    if (ph > 1 or pw > 1) and p["out_cont"] != 32:
        k = conv_scratch_bytes({**p, "pool_h": 0, "pool_w": 0}, aarch64)
        return ((k + 3) & ~3) + p["out_h"] * p["out_w"] * p["out_c"] + 4
    if p["groups"] == 1:  # im2col of two pixels as int16, one gathered field, requant table + raw sums,
        k = p["k_h"] * p["k_w"] * p["in_c"]  # then a ring of k_h converted input rows
        ring = 8 * p["k_h"] + p["k_h"] * p["in_w"] * (2 * p["in_c"] + 4)
        # first layers (1-3 input channels, mico_conv_rows.c): weights widened to int16 pairs, and
        # the raw sums of 4 pixels instead of 2
        rows_w = (4 * p["out_c"] * p["k_h"] * ((p["k_w"] * p["in_c"] + 1) // 2) + 8 * p["out_c"]
                  if p["in_c"] <= 3 else 0)
        gemm = 5 * ((k + 31) // 32 * 32) + 24 * p["out_c"] + 16 + ring + rows_w
        if not aarch64:
            return max(gemm + long_extra_bytes(p), rows_lut_bytes(p))
        # the int8 path of Cortex-A53: 5 int8 columns of K rounded up to 128, the table and 4 pixels'
        # raw sums, a ring of k_h int8 rows with padding and 16 of slack
        ring8 = p["k_h"] * ((p["in_w"] + 2 * p["pad_w"]) * p["in_c"] + 16)
        n8 = 47 + 5 * ((k + 127) // 128 * 128) + 32 * ((p["out_c"] + 3) & ~3) + ring8
        # its short-column path (K w_cont < 128 bits, out_c <= 128): int8 weights transposed, out_c rounded
        # up to 16
        ocp = (p["out_c"] + 15) & ~15
        outer = 96 + k * ocp + k + 20 * ocp + ring8 if k * p["w_cont"] < 128 and p["out_c"] <= 128 else 0
        # single-channel layers with stride_w 1: int16 row ring, int16 weights, table and 17 pixels' sums
        rows1 = (64 + 2 * p["k_h"] * (p["in_w"] + 2 * p["pad_w"] + 32) + p["out_c"] * (2 * p["k_h"] * p["k_w"] + 84)
                 if p["in_c"] == 1 and p["stride_w"] == 1 else 0)
        return max(gemm, n8, outer, rows1, rows_lut_bytes(p))
    if p["groups"] == p["in_c"] == p["out_c"]:  # depthwise: k_h int16 input rows + int16 weights
        cp = (p["in_c"] + 1) & ~1
        dw = 2 * p["k_h"] * (p["in_w"] + 2 * p["pad_w"] + 2) * cp + 2 * p["k_h"] * (p["k_w"] + 1) * cp + 16
        if aarch64:
            return dw + 20 * cp + 32  # the AArch64 path's table and one pixel's sums
        if p["k_w"] == 3 and p["stride_w"] == 1 and p["k_h"] <= 16:
            # 3-wide stride-1 paths: table, a row's raw sums and zero terms, then the larger of the int16
            # ring + weight pairs and the byte path's int32 weights, offsets and byte ring
            c, kh, r = p["in_c"], p["k_h"], (p["out_w"] + 3) & ~3
            r16 = 2 * kh * c * (p["in_w"] + 2 * p["pad_w"] + 2) + 2 + (8 * kh + 16) * c
            r8 = 4 * (3 * kh + 4 + (3 * kh + 1) // 2) * c + kh * c * ((r + 5) & ~3)
            dw = max(dw, 4 + 16 * c + 4 * r * c + 4 * r + max(r16, r8))
        return dw
    return 0


def lower(g: IntGraph, target: str | None = None, fuse_pool: bool = True, prepare: bool = True) -> LoweredModel:
    """Lower an integer graph; raises `LoweringError` naming every op it cannot lower. ``target``
    sizes the conv scratch for that target's kernels (None: enough for every target). ``fuse_pool``:
    a max pooling whose windows tile the map (stride = kernel, no padding) right after a conv that
    nothing else reads runs inside that conv (`fuse_max_pools`). ``prepare``: convs whose kernel
    makes constant data from the weights on every call (converted weight words, lookup tables) get
    it made once here (``COp.prep``, `deploy.ckernels.prepare`), for the Cortex-M7 / host builds
    (the AArch64 kernels make none)."""
    tensors: list[CTensor] = []
    ops: list[COp] = []
    tid: dict[str, int] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    problems: list[str] = []
    final = g.final_op()

    def new_tensor(name: str, shape: tuple[int, ...], q: TensorQ | None, **kw: Any) -> int:
        if q is None:
            t = CTensor(len(tensors), name, hwc_of(shape), 32, 32, True, **kw)
        else:
            t = CTensor(len(tensors), name, hwc_of(shape), q.bits, act_container(q.bits), q.signed, **kw)
        tensors.append(t)
        tid[name] = t.id
        shapes[name] = shape
        return t.id

    by_name = g.by_name
    input_shape: tuple[int, ...] = ()
    for op in g.ops:
        try:
            if op.op == "input":
                input_shape = tuple(op.out_shape)
                new_tensor(op.name, op.out_shape, op.out_q, external="input")
            elif op.op in ("conv2d", "conv1d", "linear"):
                ops.append(_lower_layer(op, g, by_name, tensors, tid, shapes, new_tensor, op is final, target))
            elif op.op == "add":
                a, b = (tensors[tid[i]] for i in op.inputs)
                if a.hwc != b.hwc:
                    raise LoweringError(f"add of tensors with shapes {a.hwc} and {b.hwc}")
                out = new_tensor(op.name, op.out_shape, op.out_q)
                ops.append(COp(op.name, "add", [a.id, b.id], out, params=_act_params(a, b, tensors[out],
                                                                                  op.out_q),
                               mult=op.m.astype(np.int32), shift=op.shift.astype(np.int8)))
            elif op.op in ("maxpool", "avgpool"):
                ops.append(_lower_pool(op, tensors[tid[op.inputs[0]]], new_tensor))
            elif op.op == "relu":
                src = tensors[tid[op.inputs[0]]]
                out = new_tensor(op.name, op.out_shape, op.out_q)
                tensors[out].flat_from = src.flat_from
                ops.append(COp(op.name, "relu", [src.id], out, params={"n": src.n, "cont": src.cont,
                                                                        "is_signed": int(src.signed)}))
            elif op.op == "flatten":
                src = tensors[tid[op.inputs[0]]]
                t = CTensor(len(tensors), op.name, (1, 1, src.n), src.bits, src.cont, src.signed,
                            alias_of=src.alias_of if src.alias_of is not None else src.id,
                            flat_from=src.flat_from or shapes[op.inputs[0]])
                tensors.append(t)
                tid[op.name] = t.id
                shapes[op.name] = tuple(op.out_shape)
            else:
                raise LoweringError(f"op kind {op.op!r} has no C kernel")
        except LoweringError as e:
            problems.append(f"{op.name} ({op.op}): {e}")
            if op.name not in tid and op.out_shape:
                new_tensor(op.name, op.out_shape, op.out_q or (op.in_q[0] if op.in_q else None))
    if problems:
        raise LoweringError("cannot lower these ops: " + "; ".join(problems))
    out_name = g.output
    out_id = tid[out_name]
    out_t = tensors[out_id]
    root = out_t.alias_of if out_t.alias_of is not None else out_id
    if tensors[root].cont != 32:
        raise LoweringError(f"the graph output {out_name} is not the int32 output of the last layer")
    tensors[root].external = "output"
    if fuse_pool:
        ops = fuse_max_pools(ops, tensors, out_id, target)
    if prepare and aarch64_scratch(target) is not True:
        from deploy.ckernels import prepare as prepare_op

        for op in ops:
            if op.kind == "conv":
                op.prep = prepare_op(op)
    n_out = out_t.n
    scale = np.asarray(final.out_scale, dtype=np.float32)
    spatial = n_out // scale.size
    out_scale = np.repeat(scale, spatial)  # (C, H, W) order
    return LoweredModel(tensors, ops, tid[g.ops[0].name], root, g.input_q, input_shape, out_scale, g.policy)


def fuse_max_pools(ops: list[COp], tensors: list[CTensor], out_id: int, target: str | None = None) -> list[COp]:
    """Conv + max pooling -> one conv with ``pool_h`` / ``pool_w`` (mico_conv_pooled in mico_conv.c):
    where the pooling reads a requantized conv output that no other op reads, its windows are the
    stride (no padding) and cover the map the way the kernel's floor does. The conv then writes the
    pooled tensor; the pooled-away map is never stored (its tensor stays in the list, unused).
    Requantization is monotone, so the result is bit-exact with the two ops."""
    readers: dict[int, int] = {}
    for op in ops:
        for t in op.inputs:
            root = tensors[t].alias_of if tensors[t].alias_of is not None else t
            readers[root] = readers.get(root, 0) + 1
    producer = {op.output: op for op in ops if op.kind == "conv"}
    drop: set[int] = set()
    for op in ops:
        if op.kind != "maxpool":
            continue
        src = op.inputs[0]
        conv = producer.get(src)
        p = op.params
        if (conv is None or readers.get(src, 0) != 1 or src == out_id or tensors[src].alias_of is not None
                or conv.params["out_cont"] == 32 or conv.params.get("pool_h", 0) > 1 or conv.params.get("pool_w", 0) > 1
                or p["pad_h"] or p["pad_w"] or p["stride_h"] != p["k_h"] or p["stride_w"] != p["k_w"]
                or p["out_h"] != p["in_h"] // p["k_h"] or p["out_w"] != p["in_w"] // p["k_w"]
                or (p["k_h"], p["k_w"]) == (1, 1)):
            continue
        conv.params = {**conv.params, "pool_h": p["k_h"], "pool_w": p["k_w"]}
        conv.output = op.output
        conv.scratch_bytes = conv_scratch_bytes(conv.params, aarch64=aarch64_scratch(target))
        drop.add(id(op))
    return [op for op in ops if id(op) not in drop]


def _act_params(a: CTensor, b: CTensor, o: CTensor, q: TensorQ) -> dict[str, int]:
    return {
        "n": o.n,
        "a_cont": a.cont, "a_signed": int(a.signed),
        "b_cont": b.cont, "b_signed": int(b.signed),
        "out_cont": o.cont, "out_lo": q.lo, "out_hi": q.hi,
    }


def _lower_layer(op, g, by_name, tensors, tid, shapes, new_tensor, is_final, target=None) -> COp:
    src = tensors[tid[op.inputs[0]]]
    in_q = op.in_q[0]
    w = op.weight.astype(np.int64)
    a = op.attrs
    if op.op == "conv2d":
        h, w_, c = src.hwc
        kh, kw = a["kernel"]
        sh, sw = a["stride"]
        ph, pw = a["padding"]
        groups = a["groups"]
        w2d = w.transpose(0, 2, 3, 1).reshape(w.shape[0], -1)
    elif op.op == "conv1d":
        h, w_, c = src.hwc
        kh, kw, sh, ph = 1, a["kernel"][0], 1, 0
        sw, pw = a["stride"][0], a["padding"][0]
        groups = a["groups"]
        w2d = w.transpose(0, 2, 1).reshape(w.shape[0], -1)
    else:
        h, w_, c = 1, 1, src.n
        kh = kw = sh = sw = 1
        ph = pw = 0
        groups = 1
        prev = src.flat_from
        w2d = w
        if prev is not None and len(prev) > 1:
            pc = prev[0]
            sp = int(np.prod(prev[1:]))
            # torch column j = ci*sp + s  ->  ours s*pc + ci
            perm = np.arange(pc * sp).reshape(pc, sp).T.reshape(-1)
            w2d = w[:, perm]
        elif len(shapes[op.inputs[0]]) != 1:
            raise LoweringError(f"linear on a tensor of shape {shapes[op.inputs[0]]} (flatten it first)")
        if w2d.shape[1] != c:
            raise LoweringError(f"linear expects {w2d.shape[1]} inputs, tensor has {c}")
    out_shape = tuple(op.out_shape)
    out = new_tensor(op.name, out_shape, None if is_final else op.out_q)
    ot = tensors[out]
    oh, ow, oc = ot.hwc
    if is_final and op.op != "linear" and oh * ow > 1:
        ot.hwc = (1, 1, ot.n)  # written in (C, H, W) order
    wbytes, row_bytes = pack_weight_rows(w2d, op.w_bits)
    p = {
        "in_h": h, "in_w": w_, "in_c": c, "out_h": oh, "out_w": ow, "out_c": oc,
        "k_h": kh, "k_w": kw, "stride_h": sh, "stride_w": sw, "pad_h": ph, "pad_w": pw,
        "groups": groups,
        "w_bits": op.w_bits, "w_cont": weight_container(op.w_bits),
        "in_bits": in_q.bits, "in_cont": src.cont, "in_signed": int(src.signed),
        "out_cont": ot.cont, "out_signed": int(ot.signed),
        "out_lo": op.out_q.lo if op.out_q else 0, "out_hi": op.out_q.hi if op.out_q else 0,
        "out_chw": int(is_final), "w_row_bytes": row_bytes, "pool_h": 0, "pool_w": 0,
    }
    if is_final:
        mult = np.zeros(oc, np.int32)
        shift = np.ones(oc, np.int8)
    else:
        mult = op.m.astype(np.int32)
        shift = op.shift.astype(np.int8)
    cop = COp(op.name, "conv", [src.id], out, params=p, weights=wbytes, bias=op.bias.astype(np.int32),
              mult=mult, shift=shift, wsum=w2d.sum(axis=1).astype(np.int32), layer=op.layer,
              w_bits=op.w_bits, a_bits=g.policy.a_bits[op.layer], macs=int(oh * ow * oc * w2d.shape[1]))
    cop.scratch_bytes = conv_scratch_bytes(p, aarch64=aarch64_scratch(target))
    return cop


def _lower_pool(op: IntOp, src: CTensor, new_tensor) -> COp:
    a = op.attrs
    if a["dims"] == 2:
        kh, kw = a["kernel"]
        sh, sw = a["stride"]
        ph, pw = a["padding"]
    else:
        kh, sh, ph = 1, 1, 0
        kw, sw, pw = a["kernel"][0], a["stride"][0], a["padding"][0]
    out = new_tensor(op.name, op.out_shape, op.out_q)
    h, w, c = src.hwc
    p = {"in_h": h, "in_w": w, "c": c, "k_h": kh, "k_w": kw, "stride_h": sh, "stride_w": sw,
         "pad_h": ph, "pad_w": pw, "in_cont": src.cont, "in_signed": int(src.signed)}
    cop = COp(op.name, op.op, [src.id], out, params=p)
    from_q = op.out_q
    oh, ow, _ = hwc_of(tuple(op.out_shape))
    p.update(out_h=oh, out_w=ow)
    if op.op == "avgpool":
        if ph or pw:
            raise LoweringError("average pooling with padding")
        p.update(out_cont=act_container(from_q.bits), out_lo=from_q.lo, out_hi=from_q.hi)
        cop.mult = op.m.astype(np.int32)
        cop.shift = op.shift.astype(np.int8)
    return cop
