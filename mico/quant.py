"""The integer quantization contract: one integer reference and the fake-quant model for QAT.

Every accuracy the testbed reports comes from `IntGraph.run`, and `deploy` emits C that computes
exactly the same integers. The rules (DESIGN.md section 3), written down once, here:

* **Weights**, per output channel, symmetric, zero-point 0. ``b >= 2``: integers in
  ``[-(2^(b-1) - 1), 2^(b-1) - 1]`` (the symmetric part of the b-bit two's-complement range; b = 2
  is ternary), scale ``s_w[c] = ratio[c] * absmax_c(w) / (2^(b-1) - 1)`` with the clipping ratio
  chosen per channel to minimise the squared error (`weight_clip_ratio`). ``b = 1``: binary
  ``{-1, +1}`` (``w >= 0 -> +1``) with ``s_w[c] = mean_c |w|``. ``q = clamp(floor(w / s + 1/2))``.
* **Activations**, per tensor, static, zero-point 0. A tensor is produced by a *requant op*
  (network input, conv, linear, residual add, average pool); max pooling, flatten and a ReLU that
  could not be fused pass the tensor through unchanged. Its bits are the largest ``a_bits`` of the
  layers that read it (`SearchSpace.effective`); a tensor read by no layer (e.g. the input of a
  residual add only) is kept at `INTERNAL_BITS`. Tensors after ReLU / ReLU6 (or pooling of such)
  are unsigned ``[0, 2^b - 1]``, others signed ``[-2^(b-1), 2^(b-1) - 1]``; the network input is
  unsigned when the calibration data are non-negative. The scale minimises the squared error on
  values recorded from the float model on the calibration split (`act_scale`). A fused ReLU6 also
  clamps at ``floor(6 / s + 1/2)``.
* **Input**: ``q = clamp(floor(x / s_x + 1/2), lo, hi)`` (round half up), done by the caller.
* **Conv / linear**: ``acc = sum q_w * q_x + bias_q`` in int32, ``bias_q = round(bias / (s_w s_x))``.
* **Requantize**: ``M = s_w[c] s_x / s_o`` is stored as int32 ``m`` in ``[2^30, 2^31)`` and shift
  ``k`` (``M ~= m 2^-k``, `requant_params`); ``y = clamp((acc * m + 2^(k-1)) >> k, lo, hi)`` with a
  64-bit product and an arithmetic shift. ReLU / ReLU6 are the clamp bounds.
* **Residual add**: ``y = clamp((q_a m_a + q_b m_b + 2^(k-1)) >> k, lo, hi)`` with one shared
  shift ``k`` and ``m_i = round(s_i / s_o 2^k)`` below ``2^30`` (`add_params`).
* **Average pooling** (no padding): the int32 sum over the window, requantized with
  ``M = s_in / (n s_o)``, n the window size.
* **Max pooling**: the max of the integers (scale unchanged).
* **Last layer**: int32 accumulators; logits are ``float32(acc) * float32(s_w[c] s_x)``.

The reference computes convolutions in float64 on integer values; every partial sum is an integer
below 2^53 (checked), so the result is exact, then requantizes in int64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mico.space import Policy
from mico.trace import (
    LAYER_OPS,
    REQUANT_OPS,
    FloatGraph,
    Node,
    apply_float_op,
    producer_consumers,
    source_producer,
)

INTERNAL_BITS = 8
ACT_SAMPLE = 1 << 16
_CLIP_GRID = torch.linspace(0.05, 1.0, 40, dtype=torch.float64)
_W_CLIP_GRID = torch.linspace(0.3, 1.0, 29)


# ---------------------------------------------------------------------------- primitives
def round_half_up(x: torch.Tensor) -> torch.Tensor:
    return torch.floor(x + 0.5)


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """Round half up in the forward pass, identity gradient (straight-through estimator)."""
    return x + (round_half_up(x) - x).detach()


def act_range(bits: int, signed: bool) -> tuple[int, int]:
    if signed:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def weight_qmax(bits: int) -> int:
    return 1 if bits == 1 else (1 << (bits - 1)) - 1


def requant_params(multiplier: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Real multipliers ``M > 0`` -> int32 ``m`` in [2^30, 2^31) and shifts ``k`` with M ~= m 2^-k."""
    mult = np.atleast_1d(np.asarray(multiplier, dtype=np.float64))
    if np.any(mult < 0) or not np.all(np.isfinite(mult)):
        raise ValueError(f"requantization multipliers must be finite and >= 0, got {mult}")
    mant, exp = np.frexp(mult)
    m = np.round(mant * (1 << 31)).astype(np.int64)
    carry = m == (1 << 31)
    m[carry] >>= 1
    exp = exp + carry
    k = 31 - exp.astype(np.int64)
    if np.any((k < 1) & (m > 0)):
        raise ValueError(f"requantization multiplier too large (max {mult.max():.3g}); scales are inconsistent")
    over = k > 62  # tiny multipliers: drop mantissa bits so that k stays <= 62
    if np.any(over):
        m[over] = np.round(m[over] / np.exp2((k[over] - 62).astype(np.float64))).astype(np.int64)
        k[over] = 62
    m[mult == 0] = 0
    k[mult == 0] = 1
    return m, k


def add_params(s_a: float, s_b: float, s_o: float) -> tuple[int, int, int]:
    """Integer multipliers ``(m_a, m_b, k)`` for the residual add."""
    top = max(s_a, s_b) / s_o
    _, e = math.frexp(top)
    k = int(min(max(30 - e, 1), 62))
    return int(round(s_a / s_o * 2**k)), int(round(s_b / s_o * 2**k)), k


def requantize(acc: torch.Tensor, m: torch.Tensor, k: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
    """``clamp((acc * m + 2^(k-1)) >> k, lo, hi)`` on int64 tensors (m, k broadcast per channel)."""
    return torch.clamp((acc * m + (torch.ones_like(k) << (k - 1))) >> k, lo, hi)


def requantize_float(acc: torch.Tensor, m: torch.Tensor, k: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
    """`requantize` on integer-valued float64 accumulators, fast and still exact.

    ``m 2^-k`` is exact in float64, so ``t = acc m 2^-k + 1/2`` is off by at most ``|t| 2^-52``; its
    floor can differ from the integer rule only when ``t`` lies within that error of an integer.
    Those (rare) elements are recomputed with `requantize` in int64; values of ``|t| > 2^20`` are
    clamped to ``[lo, hi]`` (|lo|, |hi| <= 2^8) either way.
    """
    mult = m.double() * torch.exp2(-k.double())
    t = (acc * mult).add_(0.5)
    y = torch.floor(t)
    frac = t.sub_(y)
    near = (frac < 2.0**-30).logical_or_(frac > 1 - 2.0**-30)
    if bool(near.any()):
        near &= (acc.abs() * mult) < 2.0**20
        mm, kk = torch.broadcast_to(m, near.shape)[near], torch.broadcast_to(k, near.shape)[near]
        y[near] = requantize(acc[near].to(torch.int64), mm, kk, lo, hi).double()
    return y.clamp_(lo, hi)


# ---------------------------------------------------------------------------- weights
def weight_clip_ratio(w: torch.Tensor, bits: int) -> torch.Tensor:
    """Per-output-channel clipping ratio of the absmax that minimises the squared error."""
    wf = w.detach().reshape(w.shape[0], -1).float()
    if bits == 1:
        return torch.ones(w.shape[0])
    absmax = wf.abs().amax(dim=1).clamp_min(1e-12)
    qmax = weight_qmax(bits)
    best_err = torch.full((w.shape[0],), float("inf"))
    best = torch.ones(w.shape[0])
    for r in _W_CLIP_GRID:
        s = (r * absmax / qmax)[:, None]
        err = ((torch.clamp(round_half_up(wf / s), -qmax, qmax) * s - wf) ** 2).sum(dim=1)
        better = err < best_err
        best_err = torch.where(better, err, best_err)
        best = torch.where(better, r.expand_as(best), best)
    return best


def quantize_weight(
    w: torch.Tensor, bits: int, ratio: torch.Tensor, ste: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Integer-valued weights (float tensor) and per-channel scales; ``ste`` keeps gradients."""
    shape = (-1,) + (1,) * (w.dim() - 1)
    flat = w.reshape(w.shape[0], -1)
    if bits == 1:
        s = flat.detach().abs().mean(dim=1).clamp_min(1e-12)
        sign = torch.where(w >= 0, 1.0, -1.0)
        q = (w / s.reshape(shape)).clamp(-1, 1) + (sign - (w / s.reshape(shape)).clamp(-1, 1)).detach() if ste else sign
        return q, s
    qmax = weight_qmax(bits)
    s = (ratio.to(w.dtype) * flat.detach().abs().amax(dim=1).clamp_min(1e-12) / qmax)
    x = w / s.reshape(shape)
    q = torch.clamp(round_ste(x) if ste else round_half_up(x), -qmax, qmax)
    return q, s


# ---------------------------------------------------------------------------- activations
@dataclass(frozen=True)
class TensorQ:
    """Quantization of one activation tensor."""

    scale: float
    bits: int
    signed: bool
    lo: int
    hi: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def act_scale(sample: torch.Tensor, bits: int, signed: bool) -> float:
    """Scale of a tensor at ``bits`` minimising the squared error on recorded float values."""
    v = sample.double()
    absmax = float(v.abs().max()) if v.numel() else 0.0
    if absmax <= 0:
        return 1.0
    lo, hi = act_range(bits, signed)
    qmax = max(hi, 1)
    best, best_err = 1.0, float("inf")
    for r in _CLIP_GRID.tolist():
        s = r * absmax / qmax
        err = float(((torch.clamp(round_half_up(v / s), lo, hi) * s - v) ** 2).mean())
        if err < best_err:
            best, best_err = s, err
    return best


class Calibration:
    """Everything about quantizing one float graph that does not depend on the policy.

    Built once per (model, calibration data): records float activation samples of every requant
    producer, its signedness, and caches weight clipping ratios and activation scales per bitwidth.
    """

    def __init__(self, graph: FloatGraph, x_calib: torch.Tensor, seed: int = 0):
        self.graph = graph
        self.consumers = producer_consumers(graph)
        record: dict[str, torch.Tensor] = {}
        with torch.no_grad():
            graph.forward(x_calib.float(), record)
        gen = torch.Generator().manual_seed(seed)
        self.samples: dict[str, torch.Tensor] = {}
        self.signed: dict[str, bool] = {}
        for node in graph.nodes:
            if node.op not in REQUANT_OPS:
                continue
            v = record[node.name].reshape(-1)
            if v.numel() > ACT_SAMPLE:
                v = v[torch.randint(v.numel(), (ACT_SAMPLE,), generator=gen)]
            self.samples[node.name] = v.clone()
            self.signed[node.name] = self._signed(node, record)
        self._ratio_cache: dict[tuple[int, int], torch.Tensor] = {}
        self._scale_cache: dict[tuple[str, int], float] = {}

    def _signed(self, node: Node, record: dict[str, torch.Tensor]) -> bool:
        if node.op == "input":
            return bool(record[node.name].min() < 0)
        if node.act in ("relu", "relu6"):
            return False
        if node.op == "avgpool":
            return self.signed[source_producer(self.graph, node.inputs[0]).name]
        return True

    def weight_ratio(self, layer: int, bits: int, weight: torch.Tensor | None = None) -> torch.Tensor:
        key = (layer, bits)
        if key not in self._ratio_cache:
            w = self.graph.layer_nodes[layer].weight if weight is None else weight
            self._ratio_cache[key] = weight_clip_ratio(w, bits)
        return self._ratio_cache[key]

    def tensor_bits(self, producer: str, policy: Policy) -> int:
        layers = [r.layer for r in self.consumers[producer] if r.layer is not None]
        return max(policy.a_bits[i] for i in layers) if layers else INTERNAL_BITS

    def tensor_q(self, producer: str, policy: Policy) -> TensorQ:
        bits = self.tensor_bits(producer, policy)
        signed = self.signed[producer]
        key = (producer, bits)
        if key not in self._scale_cache:
            self._scale_cache[key] = act_scale(self.samples[producer], bits, signed)
        s = self._scale_cache[key]
        lo, hi = act_range(bits, signed)
        if self.graph.by_name[producer].act == "relu6":
            hi = min(hi, int(math.floor(6.0 / s + 0.5)))
        return TensorQ(s, bits, signed, lo, hi)

    def act_params(self, policy: Policy) -> dict[str, TensorQ]:
        """TensorQ of every requant producer whose output is requantized (all but the logits)."""
        out = {}
        final = source_producer(self.graph, self.graph.output).name
        for name in self.samples:
            if name != final:
                out[name] = self.tensor_q(name, policy)
        return out


# ---------------------------------------------------------------------------- integer graph
@dataclass
class IntOp:
    """One op of the integer graph, with everything deploy needs as literals."""

    name: str
    op: str
    inputs: list[str]
    out_shape: tuple[int, ...]
    attrs: dict[str, Any] = field(default_factory=dict)
    in_q: list[TensorQ] = field(default_factory=list)
    out_q: TensorQ | None = None  # None for the last layer (int32 accumulators)
    layer: int | None = None
    w_bits: int | None = None
    weight: np.ndarray | None = None  # int8 values in the w_bits range, torch layout (out, in/g, *k)
    bias: np.ndarray | None = None  # int32
    m: np.ndarray | None = None  # int64 multipliers (< 2^31), per channel, or [m_a, m_b] for add
    shift: np.ndarray | None = None  # int64 shifts, per channel (or one)
    out_scale: np.ndarray | None = None  # float32 per-channel logit scale of the last layer
    act: str | None = None
    acc_bound: int = 0  # bound on |partial sums| of a layer (float32 is exact below 2^24)


@dataclass
class IntGraph:
    """The integer reference of one (model, policy, calibration)."""

    ops: list[IntOp]
    output: str
    input_q: TensorQ
    policy: Policy

    def __post_init__(self) -> None:
        self._t: dict[str, tuple[torch.Tensor, ...]] = {}

    @property
    def by_name(self) -> dict[str, IntOp]:
        return {op.name: op for op in self.ops}

    def quantize_input(self, x: torch.Tensor) -> torch.Tensor:
        q = self.input_q
        return torch.clamp(round_half_up(x.double() / q.scale), q.lo, q.hi)

    def _tensors(self, op: IntOp) -> tuple[torch.Tensor, ...]:
        if op.name not in self._t:
            # Integer-valued operands; a direct / GEMM convolution only adds integer partial sums,
            # all bounded by acc_bound, so float32 is exact below 2^24 and float64 below 2^53.
            dtype = np.float32 if op.acc_bound < (1 << 24) else np.float64
            w = torch.from_numpy(op.weight.astype(dtype))
            b = torch.from_numpy(op.bias.astype(dtype))
            m = torch.from_numpy(op.m) if op.m is not None else None
            k = torch.from_numpy(op.shift) if op.shift is not None else None
            self._t[op.name] = (w, b, m, k)
        return self._t[op.name]

    @torch.no_grad()
    def run(self, xq: torch.Tensor, batch: int = 2048) -> torch.Tensor:
        """Int64 logit accumulators (N, classes) for quantized inputs ``xq``."""
        outs = [self._run(xq[i : i + batch].double()) for i in range(0, xq.shape[0], batch)]
        return torch.cat(outs)

    def _pool_first(self) -> dict[str, IntOp]:
        """Layers whose only reader is a max pool: pool the accumulators, then requantize.

        Requantization (and its clamp) is monotone per channel, so it commutes with the max: the
        result is identical, on a quarter of the elements for a 2x2 pool.
        """
        if not hasattr(self, "_pf"):
            readers: dict[str, list[IntOp]] = {}
            for op in self.ops:
                for i in op.inputs:
                    readers.setdefault(i, []).append(op)
            self._pf = {op.name: readers[op.name][0] for op in self.ops
                        if op.layer is not None and op.out_q is not None and len(readers.get(op.name, [])) == 1
                        and readers[op.name][0].op == "maxpool"}
        return self._pf

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        env: dict[str, torch.Tensor] = {}
        pool_first = self._pool_first()
        for op in self.ops:
            if op.name in env:  # a max pool already applied by its producer (see _pool_first)
                continue
            xs = [env[i] for i in op.inputs]
            if op.op == "input":
                y = x
            elif op.op in LAYER_OPS:
                w, b, m, k = self._tensors(op)
                a = op.attrs
                x0 = xs[0].to(w.dtype)
                if op.op == "conv2d":
                    acc = F.conv2d(x0, w, b, a["stride"], a["padding"], 1, a["groups"])
                elif op.op == "conv1d":
                    acc = F.conv1d(x0, w, b, a["stride"], a["padding"], 1, a["groups"])
                else:
                    acc = F.linear(x0, w, b)
                if op.out_q is None:
                    y = acc.to(torch.int64)
                else:
                    pool = pool_first.get(op.name)
                    if pool is not None:
                        p = pool.attrs
                        fn = F.max_pool2d if p["dims"] == 2 else F.max_pool1d
                        acc = fn(acc, p["kernel"], p["stride"], p["padding"])
                    shape = (1, -1) + (1,) * (acc.dim() - 2)
                    y = requantize_float(acc.double(), m.reshape(shape), k.reshape(shape), op.out_q.lo, op.out_q.hi)
                    if pool is not None:
                        env[pool.name] = y
            elif op.op == "add":
                qa, qb = xs[0].to(torch.int64), xs[1].to(torch.int64)
                k = int(op.shift[0])
                s = qa * int(op.m[0]) + qb * int(op.m[1]) + (1 << (k - 1))
                y = torch.clamp(s >> k, op.out_q.lo, op.out_q.hi).double()
            elif op.op == "avgpool":
                a = op.attrs
                x0 = xs[0] if a["dims"] == 2 else xs[0].unsqueeze(2)
                kern = a["kernel"] if a["dims"] == 2 else (1, a["kernel"][0])
                stride = a["stride"] if a["dims"] == 2 else (1, a["stride"][0])
                acc = F.avg_pool2d(x0, kern, stride, divisor_override=1)
                acc = (acc if a["dims"] == 2 else acc.squeeze(2)).to(torch.int64)
                m = torch.tensor(int(op.m[0]), dtype=torch.int64)
                k = torch.tensor(int(op.shift[0]), dtype=torch.int64)
                y = requantize(acc, m, k, op.out_q.lo, op.out_q.hi).double()
            elif op.op == "maxpool":
                a = op.attrs
                fn = F.max_pool2d if a["dims"] == 2 else F.max_pool1d
                y = fn(xs[0], a["kernel"], a["stride"], a["padding"])
            elif op.op == "flatten":
                y = torch.flatten(xs[0], 1)
            elif op.op == "relu":
                y = torch.clamp_min(xs[0], 0)
            else:  # pragma: no cover
                raise ValueError(f"unknown integer op {op.op}")
            env[op.name] = y
        return env[self.output].to(torch.int64)

    def final_op(self) -> IntOp:
        return next(op for op in self.ops if op.layer is not None and op.out_q is None)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Float32 logits for float inputs: quantize, run, scale (the contract's last step)."""
        acc = self.run(self.quantize_input(x))
        return acc.to(torch.float32) * torch.from_numpy(self.final_op().out_scale)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(x).argmax(dim=1)

    def accuracy(self, x: torch.Tensor, y: torch.Tensor) -> float:
        return float((self.predict(x) == y).float().mean())


# ---------------------------------------------------------------------------- the quantized model
class QuantModel(nn.Module):
    """Fake-quant twin of the integer reference for one policy (for QAT and agreement checks).

    Weights and biases are trainable copies of the BN-folded float graph; the forward pass applies
    the same quantizers as the integer reference with straight-through gradients. `to_int_graph`
    exports the current weights under the contract.
    """

    def __init__(self, calib: Calibration, policy: Policy):
        super().__init__()
        self.calib, self.graph, self.policy = calib, calib.graph, policy
        self.weights = nn.ParameterList([nn.Parameter(n.weight.detach().clone()) for n in self.graph.layer_nodes])
        self.biases = nn.ParameterList([nn.Parameter(n.bias.detach().clone()) for n in self.graph.layer_nodes])
        self.act = calib.act_params(policy)
        self.ratios = [calib.weight_ratio(i, policy.w_bits[i]) for i in range(len(self.weights))]

    def _fq(self, y: torch.Tensor, q: TensorQ) -> torch.Tensor:
        return torch.clamp(round_ste(y / q.scale), q.lo, q.hi) * q.scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        env: dict[str, torch.Tensor] = {}
        for node in self.graph.nodes:
            xs = [env[i] for i in node.inputs]
            if node.op == "input":
                y = x
            elif node.layer is not None:
                i = node.layer
                q, s = quantize_weight(self.weights[i], self.policy.w_bits[i], self.ratios[i], ste=True)
                w = q * s.reshape((-1,) + (1,) * (q.dim() - 1))
                s_b = s * self.act[source_producer(self.graph, node.inputs[0]).name].scale
                b = round_ste(self.biases[i] / s_b) * s_b  # the integer bias of the contract
                y = apply_float_op(_with_bias(node, b), xs, weight=w)
            else:
                y = apply_float_op(node, xs)
            if node.name in self.act:
                y = self._fq(y, self.act[node.name])
            env[node.name] = y
        return env[self.graph.output]

    @torch.no_grad()
    def to_int_graph(self) -> IntGraph:
        return build_int_graph(self.calib, self.policy, list(self.weights), list(self.biases), self.ratios)


def _with_bias(node: Node, bias: torch.Tensor) -> Node:
    clone = Node(node.name, node.op, node.inputs, node.attrs, node.weight, bias, node.act)
    return clone


def build_int_graph(
    calib: Calibration,
    policy: Policy,
    weights: list[torch.Tensor] | None = None,
    biases: list[torch.Tensor] | None = None,
    ratios: list[torch.Tensor] | None = None,
) -> IntGraph:
    """The integer reference of ``policy`` (PTQ when weights are the float graph's own)."""
    graph = calib.graph
    if len(policy) != len(graph.layer_nodes):
        raise ValueError(f"policy has {len(policy)} layers, the model has {len(graph.layer_nodes)}")
    act = calib.act_params(policy)
    ops: list[IntOp] = []
    input_q = None
    for node in graph.nodes:
        op = IntOp(node.name, node.op, list(node.inputs), node.out_shape, dict(node.attrs), act=node.act)
        in_q = [act.get(source_producer(graph, i).name) for i in node.inputs]
        op.in_q = in_q
        op.out_q = act.get(node.name, in_q[0] if in_q and node.op not in REQUANT_OPS else None)
        if node.op == "input":
            input_q = op.out_q
        elif node.layer is not None:
            i = node.layer
            w = (weights[i] if weights is not None else node.weight).detach().float()
            b = (biases[i] if biases is not None else node.bias).detach().double()
            ratio = ratios[i] if ratios is not None else calib.weight_ratio(i, policy.w_bits[i])
            q, s_w = quantize_weight(w, policy.w_bits[i], ratio)
            s_w = s_w.double()
            s_x = in_q[0].scale
            bias_q = torch.clamp(round_half_up(b / (s_w * s_x)), -(2**31), 2**31 - 1)
            op.layer, op.w_bits = i, policy.w_bits[i]
            op.weight = q.numpy().astype(np.int8)
            op.bias = bias_q.numpy().astype(np.int32)
            op.acc_bound = _check_accumulator(op, in_q[0])
            if op.out_q is None:
                op.out_scale = (s_w * s_x).numpy().astype(np.float32)
            else:
                op.m, op.shift = requant_params((s_w * s_x / op.out_q.scale).numpy())
        elif node.op == "add":
            m_a, m_b, k = add_params(in_q[0].scale, in_q[1].scale, op.out_q.scale)
            op.m, op.shift = np.array([m_a, m_b], dtype=np.int64), np.array([k], dtype=np.int64)
        elif node.op == "avgpool":
            n = int(np.prod(node.attrs["kernel"]))
            op.m, op.shift = requant_params(in_q[0].scale / (n * op.out_q.scale))
        ops.append(op)
    return IntGraph(ops, graph.output, input_q, policy)


def _check_accumulator(op: IntOp, in_q: TensorQ) -> int:
    """Bound on |every partial sum| of the layer; it must fit int32 (C), which keeps float64 exact."""
    x_max = max(abs(in_q.lo), abs(in_q.hi))
    per_out = np.abs(op.weight.astype(np.int64)).reshape(op.weight.shape[0], -1).sum(axis=1) * x_max
    bound = int((per_out + np.abs(op.bias.astype(np.int64))).max())
    if bound >= 2**31:
        raise ValueError(
            f"layer {op.name}: accumulator bound {bound} exceeds int32; the bias or fan-in is too large "
            "for the integer contract"
        )
    return bound
