"""Random single-op cases and their Python reference (the integer contract, via mico.quant)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from deploy.lower import COp, conv_scratch_bytes
from deploy.pack import act_container, pack, pack_weight_rows, weight_container
from mico.quant import act_range, requant_params, requantize, weight_qmax


def random_conv(rng: np.random.Generator, *, cin: int, cout: int, h: int, w: int, k: tuple[int, int],
                stride: tuple[int, int], pad: tuple[int, int], groups: int, w_bits: int, in_bits: int,
                in_signed: bool, out_bits: int | None, out_signed: bool = False, mult_scale_log2: int = 7,
                mult_range: tuple[float, float] = (1e-4, 0.05), bias_max: int = 2000):
    """A random conv op (COp), its NCHW integer input, and the expected output values. Requantization
    multipliers are uniform in ``mult_range`` (default [1e-4, 0.05)) times 2^j, j uniform in
    0..mult_scale_log2: shifts from about 28 (the default; k <= 32 takes the two-word path of
    mico_requant) to 44; 0 gives the shifts > 32 of typical layers, a range above 0.5 with 0 shifts
    <= 32 only. Biases are uniform in [-bias_max, bias_max)."""
    qmax = weight_qmax(w_bits)
    cg = cin // groups
    if w_bits == 1:
        wt = rng.choice([-1, 1], size=(cout, cg, *k))
    else:
        wt = rng.integers(-qmax, qmax + 1, size=(cout, cg, *k))
    lo, hi = act_range(in_bits, in_signed)
    x = rng.integers(lo, hi + 1, size=(1, cin, h, w))
    bias = rng.integers(-bias_max, bias_max, size=cout)
    xt = torch.from_numpy(x.astype(np.float64))
    acc = F.conv2d(xt, torch.from_numpy(wt.astype(np.float64)), torch.from_numpy(bias.astype(np.float64)),
                   stride, pad, 1, groups).to(torch.int64)
    oh, ow = acc.shape[2], acc.shape[3]
    w2d = wt.transpose(0, 2, 3, 1).reshape(cout, -1)
    wbytes, row_bytes = pack_weight_rows(w2d, w_bits)
    in_cont = act_container(in_bits)
    p = dict(in_h=h, in_w=w, in_c=cin, out_h=oh, out_w=ow, out_c=cout, k_h=k[0], k_w=k[1],
             stride_h=stride[0], stride_w=stride[1], pad_h=pad[0], pad_w=pad[1], groups=groups,
             w_bits=w_bits, w_cont=weight_container(w_bits), in_bits=in_bits, in_cont=in_cont,
             in_signed=int(in_signed), out_chw=0, w_row_bytes=row_bytes)
    if out_bits is None:
        p.update(out_cont=32, out_signed=1, out_lo=0, out_hi=0)
        m = np.zeros(cout, np.int32)
        s = np.ones(cout, np.int8)
        expected = acc[0].permute(1, 2, 0).reshape(-1).numpy()
    else:
        olo, ohi = act_range(out_bits, out_signed)
        mult = rng.uniform(*mult_range, size=cout) * (1 << rng.integers(0, mult_scale_log2 + 1, size=cout))
        m, s = requant_params(mult)
        y = requantize(acc, torch.from_numpy(m).reshape(1, -1, 1, 1), torch.from_numpy(s).reshape(1, -1, 1, 1),
                       olo, ohi)
        p.update(out_cont=act_container(out_bits), out_signed=int(out_signed), out_lo=olo, out_hi=ohi)
        expected = y[0].permute(1, 2, 0).reshape(-1).numpy()
        m, s = m.astype(np.int32), s.astype(np.int8)
    op = COp("conv", "conv", [0], 1, params=p, weights=wbytes, bias=bias.astype(np.int32), mult=m, shift=s,
             wsum=w2d.sum(axis=1).astype(np.int32))
    op.scratch_bytes = conv_scratch_bytes(p)
    in_bytes = pack(x[0].transpose(1, 2, 0).reshape(-1), in_cont)
    return op, in_bytes, expected
