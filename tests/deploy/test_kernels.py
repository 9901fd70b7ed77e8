"""Property tests of single conv kernels (host shared library via ctypes) against the contract."""

import platform

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from kernel_ref import random_conv

from deploy import ckernels
from deploy.lower import conv_scratch_bytes, long_extra_bytes, rows_lut_bytes
from deploy.pack import act_container, pack, unpack
from mico.quant import act_range, requant_params, requantize

VARIANTS = ["portable", "dualmac", "bytelane", "dw", "neon", "poly", "rows", "long", "fields", "auto"]


@st.composite
def conv_cases(draw):
    depthwise = draw(st.booleans())
    cin = draw(st.integers(1, 20))
    if depthwise:
        groups, cout = cin, cin
    else:
        groups = draw(st.sampled_from([g for g in (1, 2, 3) if cin % g == 0]))
        cout = groups * draw(st.integers(1, 6))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, w = draw(st.integers(kh, 9)), draw(st.integers(kw, 9))
    return dict(cin=cin, cout=cout, h=h, w=w, k=(kh, kw), stride=(draw(st.integers(1, 2)), draw(st.integers(1, 2))),
                pad=(draw(st.integers(0, kh - 1)), draw(st.integers(0, kw - 1))), groups=groups,
                w_bits=draw(st.integers(1, 8)), in_bits=draw(st.integers(1, 8)), in_signed=draw(st.booleans()),
                out_bits=draw(st.one_of(st.none(), st.integers(1, 8))), out_signed=draw(st.booleans()))


def _long(op) -> bool:
    """Whether the dispatcher runs the long-multiply kernel on this op (not on AArch64 builds)."""
    return platform.machine() != "aarch64" and long_extra_bytes(op.params) > 0


def _fields(op) -> bool:
    """Whether the dispatcher runs the in-place 4-bit-weight kernel (a single output pixel, 4-bit weight
    and 2/4-bit activation containers; not on AArch64 builds)."""
    p = op.params
    return (platform.machine() != "aarch64" and p["groups"] == 1 and p["out_h"] * p["out_w"] == 1
            and p["w_cont"] == 4 and p["in_cont"] in (2, 4))


def _check(case, seed, sanitize=False):
    op, xb, expected = random_conv(np.random.default_rng(seed), **case)
    lib = ckernels.library(sanitize)
    # C and Python agree on scratch (the AArch64 terms only in an AArch64 build)
    assert ckernels.buffer_size(op, lib) == conv_scratch_bytes(op.params, aarch64=platform.machine() == "aarch64")
    cont = op.params["out_cont"]
    ran = []
    for v in VARIANTS:
        status, out = ckernels.run_conv(op, xb, v, lib)
        if v in ("portable", "auto"):
            assert status == 0
        if status != 0:
            assert status == -3  # only "unsupported" is acceptable for a specialised kernel
            continue
        got = np.frombuffer(out, np.int32) if cont == 32 else unpack(out, expected.size, cont, bool(op.params["out_signed"]))
        np.testing.assert_array_equal(got, expected, err_msg=f"variant {v}, {op.params}")
        ran.append(v)
    return ran


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv_cases(), st.integers(0, 2**31))
def test_conv_variants_match_reference(case, seed):
    _check(case, seed)


@pytest.mark.parametrize("w_bits,in_bits", [(1, 1), (1, 2), (2, 2), (2, 1), (1, 4), (2, 4), (4, 2), (3, 2)])
def test_bytelane_runs_for_low_bits(w_bits, in_bits):
    # 12 channels: no whole-word im2col for the dual-MAC kernel, so byte-lane would take these
    case = dict(cin=12, cout=5, h=5, w=4, k=(3, 3), stride=(1, 1), pad=(1, 1), groups=1, w_bits=w_bits,
                in_bits=in_bits, in_signed=True, out_bits=4, out_signed=False)
    ran = _check(case, 1)
    assert "bytelane" in ran
    op, _, _ = random_conv(np.random.default_rng(0), **case)
    # but 1/2/4-bit weight containers x 2/4-bit activation containers run the polynomial-packing
    # kernel too, which the dispatcher prefers at any channel count (1-bit weights included)
    poly = w_bits <= 4 and in_bits <= 4
    assert ("poly" in ran) == poly
    assert ckernels.selected_variant(op) == ("long" if _long(op) else "fields" if _fields(op) else "poly" if poly
                                             else "bytelane")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv_cases(), st.integers(0, 2**31))
def test_conv_variants_under_ubsan(case, seed):
    _check(case, seed, sanitize=True)


def test_scratch_of_each_build_and_their_bound():
    """Cortex-M7 / host builds add the long-multiply kernel's scratch, AArch64 builds the NEON paths';
    lowering for an unknown build (the host) takes the larger of the two."""
    from deploy.lower import aarch64_scratch

    assert (aarch64_scratch("cortex-m7"), aarch64_scratch("cortex-a53"), aarch64_scratch("host")) == (False, True, None)
    rng = np.random.default_rng(4)
    for w_bits, in_bits in ((4, 4), (2, 2), (8, 8), (2, 4)):
        op, _, _ = random_conv(rng, cin=16, cout=8, h=8, w=8, k=(3, 3), stride=(1, 1), pad=(1, 1), groups=1,
                               w_bits=w_bits, in_bits=in_bits, in_signed=False, out_bits=8)
        m7, a53 = conv_scratch_bytes(op.params, False), conv_scratch_bytes(op.params, True)
        assert conv_scratch_bytes(op.params) == max(m7, a53)
        assert (long_extra_bytes(op.params) > 0) == (w_bits <= 4 and in_bits <= 4)
        if long_extra_bytes(op.params):  # 9 taps x ceil(16 / F) words, padded to whole blocks (at most nt / 5 + 4 more)
            f = 4 if w_bits == in_bits == 2 else 3
            nt = 9 * -(-16 // f)
            assert long_extra_bytes(op.params) == 8 * (nt + (nt + 4) // 5 + 4) * (1 + 4) + 8


def test_lookup_scratch_matches_the_kernel():
    """deploy.lower.rows_lut_bytes (the lowering's and the latency model's mirror) equals the kernel's
    mico_conv_rows_lut_bytes over random first layers, where the lookup path applies and where not."""
    rng = np.random.default_rng(7)
    seen = 0
    for _ in range(300):
        cin, kh, kw = int(rng.integers(1, 5)), int(rng.integers(1, 6)), int(rng.integers(1, 8))
        p = dict(in_h=int(rng.integers(kh, 33)), in_w=int(rng.integers(kw, 33)), in_c=cin, out_c=int(rng.integers(1, 40)),
                 k_h=kh, k_w=kw, stride_h=1, stride_w=int(rng.integers(1, 3)), pad_h=kh // 2, pad_w=kw // 2, groups=1,
                 w_bits=8, w_cont=int(rng.choice([1, 2, 4, 8])), in_bits=2, in_cont=int(rng.choice([2, 2, 4])),
                 in_signed=int(rng.integers(0, 2)), out_cont=8, out_signed=0, out_lo=0, out_hi=255, out_chw=0,
                 w_row_bytes=4)
        p["out_h"] = p["in_h"] + 2 * p["pad_h"] - kh + 1
        p["out_w"] = (p["in_w"] + 2 * p["pad_w"] - kw) // p["stride_w"] + 1
        assert ckernels.rows_lut_bytes(p) == rows_lut_bytes(p), p
        seen += rows_lut_bytes(p) > 0
    assert 20 < seen < 250


def test_bad_parameters_return_status():
    op, xb, _ = random_conv(np.random.default_rng(0), cin=4, cout=4, h=4, w=4, k=(3, 3), stride=(1, 1), pad=(1, 1),
                            groups=1, w_bits=8, in_bits=8, in_signed=False, out_bits=8)
    op.params["groups"] = 3
    assert ckernels.run_conv(op, xb, "portable")[0] == -1
    op.params["groups"] = 1
    op.params["w_cont"] = 3
    assert ckernels.run_conv(op, xb, "dualmac")[0] == -1


@pytest.mark.parametrize("cin", [32, 64])
@pytest.mark.parametrize("w_bits", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("in_bits", [1, 2, 4, 8])
@pytest.mark.parametrize("in_signed", [False, True])
def test_word_im2col_every_container_pair(cin, w_bits, in_bits, in_signed):
    """Channel counts that take the dual-MAC word-at-a-time unpack for every container pair."""
    case = dict(cin=cin, cout=3, h=4, w=5, k=(3, 3), stride=(1, 2), pad=(1, 1), groups=1, w_bits=w_bits,
                in_bits=in_bits, in_signed=in_signed, out_bits=8, out_signed=True)
    ran = _check(case, cin + w_bits + in_bits)
    assert "dualmac" in ran
    op, _, _ = random_conv(np.random.default_rng(0), **case)
    poly = w_bits <= 4 and in_bits <= 4
    assert ("poly" in ran) == poly
    assert ("long" in ran) == _long(op)
    assert ckernels.selected_variant(op) == ("long" if _long(op) else "fields" if _fields(op) else "poly" if poly
                                             else "dualmac")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.integers(0, 2**31))
def test_poly_matches_reference(data, seed):
    """Polynomial-packing kernel: 1/2/4-bit weight and 2/4-bit activation containers (every bit width in
    them, signed and unsigned inputs), any channel count (word and element im2col, K tails),
    strides, padding, conv1d / linear shapes and every output container."""
    shape = data.draw(st.sampled_from(["conv", "conv1d", "linear"]))
    cin = data.draw(st.sampled_from([1, 2, 3, 5, 6, 7, 8, 12, 16, 17, 24, 32, 40, 48]))
    if shape == "linear":
        h = w = 1
        k = (1, 1)
    else:
        kh = 1 if shape == "conv1d" else data.draw(st.integers(1, 3))
        k = (kh, data.draw(st.integers(1, 3)))
        h = 1 if shape == "conv1d" else data.draw(st.integers(kh, 7))
        w = data.draw(st.integers(k[1], 7))
    case = dict(cin=cin, cout=data.draw(st.integers(1, 7)), h=h, w=w, k=k,
                stride=(data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2))),
                pad=(data.draw(st.integers(0, k[0] - 1)), data.draw(st.integers(0, k[1] - 1))), groups=1,
                w_bits=data.draw(st.integers(1, 4)), in_bits=data.draw(st.integers(1, 4)),
                in_signed=data.draw(st.booleans()), out_bits=data.draw(st.one_of(st.none(), st.integers(1, 8))),
                out_signed=data.draw(st.booleans()))
    op, xb, expected = random_conv(np.random.default_rng(seed), **case)
    if case["out_bits"] is None and data.draw(st.booleans()):
        op.params["out_chw"] = 1
        oh, ow = op.params["out_h"], op.params["out_w"]
        expected = expected.reshape(oh * ow, -1).T.reshape(-1)
    for sanitize in (False, True):
        lib = ckernels.library(sanitize)
        status, out = ckernels.run_conv(op, xb, "poly", lib)
        assert status == 0
        cont = op.params["out_cont"]
        got = np.frombuffer(out, np.int32) if cont == 32 else unpack(out, expected.size, cont,
                                                                      bool(op.params["out_signed"]))
        np.testing.assert_array_equal(got, expected, err_msg=str(op.params))
    # first layers (1-3 input channels, several output pixels) take the row-ring kernel, 16+ pixels the
    # long-multiply kernel
    sel = ckernels.selected_variant(op)
    assert sel == ("long" if _long(op) else "fields" if _fields(op) else "poly") or (sel == "rows" and cin <= 3)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.integers(0, 2**31))
def test_long_matches_reference(data, seed):
    """Long-multiply kernel (3-4 products per 64-bit multiply-accumulate): 1/2/4-bit weight (1-bit as 2-bit containers) and 2/4-bit activation containers, channel
    counts that fill the F-field words or leave padding fields, K spanning several extraction blocks,
    odd channel and pixel counts, strides, padding, signed inputs, every output container; host and
    sanitizers."""
    cin = data.draw(st.sampled_from([4, 5, 6, 7, 8, 12, 16, 17, 24, 32, 48, 64]))
    kh, kw = data.draw(st.integers(1, 5)), data.draw(st.integers(1, 3))
    stride = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2)))
    h, w = data.draw(st.integers(kh + 3, 11)), data.draw(st.integers(kw + 3, 11))
    case = dict(cin=cin, cout=data.draw(st.integers(1, 9)), h=h, w=w, k=(kh, kw), stride=stride,
                pad=(data.draw(st.integers(0, kh - 1)), data.draw(st.integers(0, kw - 1))), groups=1,
                w_bits=data.draw(st.integers(1, 4)), in_bits=data.draw(st.integers(1, 4)),
                in_signed=data.draw(st.booleans()), out_bits=data.draw(st.one_of(st.none(), st.integers(1, 8))),
                out_signed=data.draw(st.booleans()))
    op, xb, expected = random_conv(np.random.default_rng(seed), **case)
    event(f"long: {_long(op)}")
    for sanitize in (False, True):
        status, out = ckernels.run_conv(op, xb, "long", ckernels.library(sanitize))
        if not _long(op):
            assert status == -3  # fewer than 16 output pixels (or an AArch64 build): unsupported
            return
        assert status == 0
        cont = op.params["out_cont"]
        got = np.frombuffer(out, np.int32) if cont == 32 else unpack(out, expected.size, cont,
                                                                      bool(op.params["out_signed"]))
        np.testing.assert_array_equal(got, expected, err_msg=str(op.params))
    assert ckernels.selected_variant(op) == "long"


class _MaxRng:
    """A generator whose integers are the largest of their range: every weight and activation at its
    container's maximum, the worst case of the long-multiply kernel's extraction bound."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def integers(self, lo, hi, size=None):
        return np.full(size, hi - 1) if size is not None else hi - 1

    def __getattr__(self, name):
        return getattr(self.rng, name)


@pytest.mark.parametrize("w_bits,in_bits,cin,k", [
    (4, 4, 24, (1, 3)), (4, 4, 39, (1, 2)), (2, 2, 28, (2, 2)), (2, 2, 40, (1, 3)),
    (4, 2, 120, (1, 3)), (4, 2, 183, (1, 2)), (2, 4, 120, (1, 3)), (2, 4, 183, (1, 2))])
def test_long_extraction_bound_is_tight(w_bits, in_bits, cin, k):
    """Every field at its maximum, in whole F-field words (cin a multiple of F): K of exactly n words (one
    block at the bound n: W4A4 24, W2A2 28, W4A2 / W2A4 120) and of n + 2 words (two blocks; a bound two
    steps looser would make it one overflowing block): exact. The checks below show the data reach the
    bound."""
    case = dict(cin=cin, cout=3, h=6, w=6, k=k, stride=(1, 1), pad=(0, 0), groups=1, w_bits=w_bits,
                in_bits=in_bits, in_signed=False, out_bits=None)
    op, xb, expected = random_conv(_MaxRng(0), **case)
    assert _long(op)
    status, out = ckernels.run_conv(op, xb, "long")
    assert status == 0
    np.testing.assert_array_equal(np.frombuffer(out, np.int32), expected)
    # the data reach the bound: the kernel's block (even) of n multiplies fills the S-bit dot field, n + 2
    # would overflow it (F fields, P the largest product x'w': weights at +qmax are w' = 2^cw - 1)
    f, s = (4, 10) if w_bits == in_bits == 2 else (3, 14)
    p = ((1 << in_bits) - 1) * ((1 << w_bits) - 1)
    n = {(4, 4): 24, (2, 2): 28, (4, 2): 120, (2, 4): 120}[(w_bits, in_bits)]
    assert n * f * p < 1 << s <= (n + 2) * f * p


class _ExtremeRng(_MaxRng):
    """Weights (and signed activations) at the low end of their range, unsigned activations at the
    top: every product at its largest magnitude with the sign of ``sign`` x the activations' sign."""

    def __init__(self, seed, sign):
        super().__init__(seed)
        self.sign = sign

    def integers(self, lo, hi, size=None):
        v = lo if lo < 0 and self.sign < 0 else hi - 1
        return np.full(size, v) if size is not None else v


@pytest.mark.parametrize("w_bits,in_bits,in_signed,cin,k,nx", [
    (4, 4, False, 2, (1, 17), 2), (4, 4, True, 3, (3, 7), 2), (2, 4, False, 2, (4, 17), 2),
    (2, 2, False, 3, (2, 7), 3), (2, 2, False, 2, (1, 5), 4), (4, 2, False, 2, (1, 5), 3)])
@pytest.mark.parametrize("sign", [1, -1])
def test_rows_fields_at_their_bound(w_bits, in_bits, in_signed, cin, k, nx, sign):
    """The first-layer kernel's sub-byte path (several pixels x two channels per SMLAL, one S-bit digit
    each): every product at its largest magnitude, of either sign, with K at the largest the layout
    takes (one more kernel element would need the next smaller number of pixels per word): exact,
    host and sanitizers. The layout: NX pixels per word, S = 13, 9, 7 for NX = 2, 3, 4."""
    case = dict(cin=cin, cout=5, h=k[0] + 2, w=k[1] + 7, k=k, stride=(1, 1), pad=(0, 0), groups=1, w_bits=w_bits,
                in_bits=in_bits, in_signed=in_signed, out_bits=None)
    op, xb, expected = random_conv(_ExtremeRng(0, sign), **case)
    assert ckernels.selected_variant(op) == "rows" and ckernels.rows_fields(op.params) == nx
    for sanitize in (False, True):
        status, out = ckernels.run_conv(op, xb, "rows", ckernels.library(sanitize))
        assert status == 0
        np.testing.assert_array_equal(np.frombuffer(out, np.int32), expected)
    # K is the largest the layout takes: K max|x| max|w| < 2^(S-1) (container maxima), one more element not
    s = {2: 13, 3: 9, 4: 7}[nx]
    mx = (1 << (in_bits - 1)) if in_signed else (1 << in_bits) - 1
    K = cin * k[0] * k[1]
    assert K * mx * (1 << (w_bits - 1)) < 1 << (s - 1) <= (K + cin) * mx * (1 << (w_bits - 1))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.integers(0, 2**31))
def test_poly_requant_shortcut(data, seed):
    """Every channel's shift > 32 (the poly kernel's inline requantization, incl. the 4-bit
    output channel pairs stored as one byte) against mico.quant.requantize."""
    cin = data.draw(st.sampled_from([1, 3, 6, 8, 16, 24, 32]))
    cout = data.draw(st.integers(1, 9))
    kh, kw = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    case = dict(cin=cin, cout=cout, h=data.draw(st.integers(kh, 6)), w=data.draw(st.integers(kw, 6)), k=(kh, kw),
                stride=(1, data.draw(st.integers(1, 2))), pad=(kh // 2, kw // 2), groups=1,
                w_bits=data.draw(st.integers(2, 4)), in_bits=data.draw(st.integers(1, 4)),
                in_signed=data.draw(st.booleans()), out_bits=None)
    rng = np.random.default_rng(seed)
    op, xb, acc = random_conv(rng, **case)
    out_bits, out_signed = data.draw(st.integers(1, 8)), data.draw(st.booleans())
    lo, hi = act_range(out_bits, out_signed)
    m, s = requant_params(rng.uniform(1e-4, 0.02, size=cout))
    assert (s > 32).all()
    expected = requantize(torch.from_numpy(acc.reshape(-1, cout)), torch.from_numpy(m).reshape(1, -1),
                          torch.from_numpy(s).reshape(1, -1), lo, hi).reshape(-1).numpy()
    cont = act_container(out_bits)
    op.params.update(out_cont=cont, out_signed=int(out_signed), out_lo=lo, out_hi=hi)
    op.mult, op.shift = m.astype(np.int32), s.astype(np.int8)
    for v in ("poly", "portable"):
        status, out = ckernels.run_conv(op, xb, v)
        assert status == 0
        np.testing.assert_array_equal(unpack(out, expected.size, cont, out_signed), expected, err_msg=v)


@pytest.mark.parametrize("w_bits,in_bits", [(8, 8), (4, 4), (2, 2), (8, 4)])
def test_requant_every_shift_and_large_accumulators(w_bits, in_bits):
    """The contract's requantization for every shift k in 1..62 (k <= 32: the 64-bit shift, and the
    two-word path of the 32-bit targets built here with MICO_REQUANT_WORDS; k > 32 the SMMLA
    shortcut) with accumulators near the int32 range, through the GEMM kernels' shared store pass
    (sub-byte outputs packed) and the portable kernel."""
    rng = np.random.default_rng(w_bits * 10 + in_bits)
    cout = 124
    case = dict(cin=16, cout=cout, h=3, w=4, k=(1, 1), stride=(1, 1), pad=(0, 0), groups=1, w_bits=w_bits,
                in_bits=in_bits, in_signed=False, out_bits=None)
    op, xb, _ = random_conv(rng, **case)
    m = rng.integers(1 << 30, 1 << 31, size=cout)
    k = np.repeat(np.arange(1, 63), 2)  # every shift twice
    # biases: half the channels anywhere in (-2^30, 2^30), half centred on an output in -8..260
    centre = np.round(rng.uniform(-8, 260, size=cout) * np.exp2(k) / m)
    big = rng.integers(-(1 << 30), 1 << 30, size=cout)
    op.bias = np.where(np.arange(cout) % 2 == 0, big, np.clip(centre, -(1 << 30), 1 << 30)).astype(np.int32)
    status, out = ckernels.run_conv(op, xb, "portable")
    assert status == 0
    acc = np.frombuffer(out, np.int32).reshape(-1, cout).astype(np.int64)
    inside = 0
    for out_bits, out_signed in ((2, False), (4, True), (8, False), (8, True), (3, False)):
        lo, hi = act_range(out_bits, out_signed)
        expected = requantize(torch.from_numpy(acc), torch.from_numpy(m).reshape(1, -1),
                              torch.from_numpy(k).reshape(1, -1), lo, hi).reshape(-1).numpy()
        inside += int(((expected > lo) & (expected < hi)).sum())
        cont = act_container(out_bits)
        op.params.update(out_cont=cont, out_signed=int(out_signed), out_lo=lo, out_hi=hi)
        op.mult, op.shift = m.astype(np.int32), k.astype(np.int8)
        for v in ("auto", "portable", "dualmac"):
            for lib in (ckernels.library(), ckernels.library(True), ckernels.library(True, ("-DMICO_REQUANT_WORDS",))):
                status, out = ckernels.run_conv(op, xb, v, lib)
                assert status == 0
                np.testing.assert_array_equal(unpack(out, expected.size, cont, out_signed), expected,
                                              err_msg=f"{v} out_bits={out_bits}")
    assert inside > 100  # not only saturated outputs


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 70), st.sampled_from([2, 4, 8]), st.sampled_from([2, 4, 8]), st.sampled_from([2, 4, 8]),
       st.booleans(), st.booleans(), st.booleans(), st.integers(1, 62), st.integers(0, 2**32 - 1))
def test_residual_add_matches_contract(n, ca, cb, co, sa, sb, so, k, seed):
    """mico_add (equal-container fast loops and the mixed path, whole output bytes and the tail,
    every shift: 64-bit host shift and the 32-bit targets' word shifts) against the contract."""
    rng = np.random.default_rng(seed)
    bits = {2: 2, 4: 4, 8: 8}
    lo_a, hi_a = act_range(bits[ca], sa)
    lo_b, hi_b = act_range(bits[cb], sb)
    lo, hi = act_range(bits[co], so)
    a = rng.integers(lo_a, hi_a + 1, size=n)
    b = rng.integers(lo_b, hi_b + 1, size=n)
    ma, mb = (int(v) for v in rng.integers(-(1 << 30), 1 << 31, size=2))
    ref = np.clip((a * ma + b * mb + (1 << (k - 1))) >> k, lo, hi)
    params = dict(n=n, a_cont=ca, a_signed=int(sa), b_cont=cb, b_signed=int(sb), out_cont=co, out_lo=lo, out_hi=hi,
                  m_a=ma, m_b=mb, shift=k)
    for lib in (ckernels.library(), ckernels.library(True, ("-DMICO_REQUANT_WORDS",))):
        status, out = ckernels.run_add(params, pack(a, ca), pack(b, cb), lib)
        assert status == 0
        np.testing.assert_array_equal(unpack(out, n, co, so), ref)


def test_poly_two_bit_weights_in_two_bit_container():
    """w_cont 2 with w_bits 1 and 2 values (weights in {-1, 0, 1})."""
    for w_bits in (1, 2):
        case = dict(cin=20, cout=5, h=5, w=6, k=(3, 3), stride=(1, 1), pad=(1, 1), groups=1, w_bits=2,
                    in_bits=2, in_signed=True, out_bits=4, out_signed=True)
        op, xb, expected = random_conv(np.random.default_rng(w_bits), **case)
        op.params["w_bits"] = w_bits
        status, out = ckernels.run_conv(op, xb, "poly")
        assert status == 0
        np.testing.assert_array_equal(unpack(out, expected.size, 4, True), expected)


@pytest.mark.parametrize("k", [(3, 3), (2, 3), (5, 3), (3, 1)])
@pytest.mark.parametrize("w_bits,in_bits,in_signed", [(8, 8, False), (8, 8, True), (4, 4, True), (4, 4, False),
                                                      (1, 2, False), (2, 2, True), (8, 3, True), (2, 2, False),
                                                      (4, 2, False), (2, 4, False), (1, 1, False)])
def test_depthwise_paths(k, w_bits, in_bits, in_signed):
    """Depthwise: the 3-wide specialisation (k_w == 3, stride_w == 1) and the general path, with
    channel counts whose pixels start on a byte in every container (8) and ones that do not at
    2 or 4 bits (5, 6: the per-element input widening)."""
    for cin in (5, 6, 8):
        for stride in ((1, 1), (2, 1), (1, 2)):
            case = dict(cin=cin, cout=cin, h=7, w=8, k=k, stride=stride, pad=(k[0] // 2, k[1] // 2), groups=cin,
                        w_bits=w_bits, in_bits=in_bits, in_signed=in_signed, out_bits=8, out_signed=False)
            assert "dw" in _check(case, 3)


@pytest.mark.parametrize("cin", [1, 2, 3])
@pytest.mark.parametrize("w_bits,in_bits,in_signed", [(8, 8, False), (8, 8, True), (4, 4, False), (2, 2, True),
                                                      (1, 2, False), (3, 5, True), (8, 2, False)])
def test_rows_first_layers(cin, w_bits, in_bits, in_signed):
    """The row-ring kernel of first layers (1-3 input channels): LeNet-5's 5x5 with padding 2, 3x3,
    7x7 (more weight pairs than the unrolled cases), non-square kernels, strides 1 and 2, odd output
    widths, row lengths that do not fill whole bytes, every output container; host and UBSan."""
    rng = np.random.default_rng(cin * 100 + w_bits * 10 + in_bits)
    for k, stride, pad, (h, w) in [((5, 5), (1, 1), (2, 2), (12, 12)), ((3, 3), (1, 1), (1, 1), (9, 7)),
                                   ((7, 7), (2, 2), (3, 3), (11, 13)), ((3, 5), (2, 1), (0, 2), (8, 9)),
                                   ((1, 3), (1, 2), (0, 1), (5, 11))]:
        for out_bits in (None, 2, 4, 8):
            case = dict(cin=cin, cout=int(rng.integers(1, 9)), h=h, w=w, k=k, stride=stride, pad=pad, groups=1,
                        w_bits=w_bits, in_bits=in_bits, in_signed=in_signed, out_bits=out_bits, out_signed=False)
            op, xb, expected = random_conv(rng, **case)
            _check_rows(op, xb, expected)


def _check_rows(op, xb, expected):
    """The rows kernel is the one selected, and its outputs equal ``expected`` on host and sanitizers."""
    assert ckernels.selected_variant(op) == "rows"
    cont = op.params["out_cont"]
    for sanitize in (False, True):
        status, out = ckernels.run_conv(op, xb, "rows", ckernels.library(sanitize))
        assert status == 0
        got = np.frombuffer(out, np.int32) if cont == 32 else unpack(out, expected.size, cont, False)
        np.testing.assert_array_equal(got, expected, err_msg=str(op.params))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.integers(0, 2**31))
def test_rows_lookup_matches_reference(data, seed):
    """The first-layer kernel's table-lookup path (2-bit activation containers): random shapes of 1-3
    input channels, kernels up to 5 wide (1-4 lookups a kernel row, 1-8 words an entry), strides,
    padding, every weight container, signed and unsigned inputs, every output container; host and
    sanitizers."""
    cin = data.draw(st.integers(1, 3))
    kh, kw = data.draw(st.integers(1, 5)), data.draw(st.integers(1, 5 if cin == 1 else 16 // cin))
    if kh * kw == 1:
        kw = 2
    stride = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2)))
    pad = (data.draw(st.integers(0, kh // 2)), data.draw(st.integers(0, kw // 2)))
    h, w = data.draw(st.integers(max(kh, 8), 22)), data.draw(st.integers(max(kw, 8), 40))
    out_bits = data.draw(st.sampled_from([None, 2, 4, 8]))
    case = dict(cin=cin, cout=data.draw(st.integers(1, 24)), h=h, w=w, k=(kh, kw), stride=stride, pad=pad, groups=1,
                w_bits=data.draw(st.sampled_from([1, 2, 3, 4, 6, 8])), in_bits=data.draw(st.integers(1, 2)),
                in_signed=data.draw(st.booleans()), out_bits=out_bits, out_signed=False)
    op, xb, expected = random_conv(np.random.default_rng(seed), **case)
    assume(rows_lut_bytes(op.params) > 0)
    _check_rows(op, xb, expected)


@pytest.mark.parametrize("w_bits,in_signed,k,cout", [(8, False, (5, 5), 7), (8, True, (5, 5), 3), (2, False, (5, 5), 6),
                                                     (2, True, (5, 5), 6), (1, True, (3, 3), 16), (1, False, (3, 3), 9),
                                                     (4, False, (4, 3), 11)])
def test_rows_lookup_at_its_bound(w_bits, in_signed, k, cout):
    """The lookup path's F-bit fields at their bound: weights at their container's minimum -2^(b-1)
    (1-bit: -1; one below the quantizer's symmetric range, written into the packed rows directly),
    signed 2-bit inputs at -2, unsigned at 3: every product at the largest magnitude the bound allows,
    so every field ends at 0 (unsigned inputs, negative products) or at 2 K max|x| max|w| (signed,
    positive products), the extremes of the range its width F was chosen for; exact, host and
    sanitizers."""
    case = dict(cin=1, cout=cout, h=k[0] + 6, w=k[1] + 20, k=k, stride=(1, 1), pad=(0, 0), groups=1, w_bits=w_bits,
                in_bits=2, in_signed=in_signed, out_bits=None)
    op, xb, expected = random_conv(_ExtremeRng(0, -1 if in_signed else 1), **case)
    K, cont = k[0] * k[1], op.params["w_cont"]
    wmin = -1 if w_bits == 1 else -(1 << (w_bits - 1))
    rows = np.zeros((cout, op.params["w_row_bytes"] * 8 // cont), np.int64)
    rows[:, :K] = 0 if w_bits == 1 else wmin  # 1-bit: bit 0 is -1
    op.weights = pack(rows, cont)
    op.wsum = np.full(cout, K * wmin, np.int32)
    x = -2 if in_signed else 3
    expected = (op.bias.reshape(1, -1).astype(np.int64) + K * x * wmin).repeat(expected.size // cout, 0).reshape(-1)
    assert rows_lut_bytes(op.params) > 0
    for sanitize in (False, True):
        status, out = ckernels.run_conv(op, xb, "rows", ckernels.library(sanitize))
        assert status == 0
        np.testing.assert_array_equal(np.frombuffer(out, np.int32), expected)
    mx, mw = (2 if in_signed else 3), -wmin
    assert K * x * wmin == (1 if in_signed else -1) * K * mx * mw


@pytest.mark.parametrize("cin,k,w_bits,in_bits,kernel", [(16, (3, 3), 2, 2, "long"), (6, (5, 5), 4, 4, "long"),
                                                      (8, (3, 3), 1, 2, "long"), (1, (5, 5), 2, 2, "rows"),
                                                      (1, (3, 3), 8, 1, "rows"), (3, (3, 3), 4, 2, "rows")])
def test_prepared_constant_data(cin, k, w_bits, in_bits, kernel):
    """mico_conv_prepare's data (the long kernel's converted weights, the lookup path's tables) made once
    and passed in p->prep gives the same outputs as the kernel making it per call; host and
    sanitizers. Kernels that make nothing prepare nothing."""
    rng = np.random.default_rng(cin + w_bits)
    case = dict(cin=cin, cout=7, h=20, w=20, k=k, stride=(1, 1), pad=(k[0] // 2, k[1] // 2), groups=1, w_bits=w_bits,
                in_bits=in_bits, in_signed=False, out_bits=4, out_signed=False)
    op, xb, _ = random_conv(rng, **case)
    assert ckernels.selected_variant(op) == kernel
    prep = ckernels.prepare(op)
    assert prep and len(prep) % 4 == 0
    plain = ckernels.run_conv(op, xb, "auto")
    op.prep = prep
    for sanitize in (False, True):
        assert ckernels.run_conv(op, xb, "auto", ckernels.library(sanitize)) == plain
    op8, _, _ = random_conv(rng, **{**case, "w_bits": 8, "in_bits": 8, "cin": 16})
    assert ckernels.selected_variant(op8) == "dualmac" and ckernels.prepare(op8) is None


@pytest.mark.parametrize("w_bits,out_bits,out_signed", [(2, 2, False), (1, 2, False), (2, 2, True), (2, 4, False),
                                                        (4, 2, False)])
def test_lenet_first_layer_pooled(w_bits, out_bits, out_signed):
    """LeNet-5's conv1 shape (1 channel, 5x5, padding 2, 6 channels) at 2-bit inputs with its 2x2 pooling
    fused: the lookup path's in-place requantization into the pooled map's bytes (2-bit weights,
    unsigned 2-bit outputs: fields of 9 bits) and the paths through the requantization pass; prepared
    tables or not; against numpy, host and sanitizers."""
    rng = np.random.default_rng(w_bits * 10 + out_bits)
    case = dict(cin=1, cout=6, h=28, w=28, k=(5, 5), stride=(1, 1), pad=(2, 2), groups=1, w_bits=w_bits, in_bits=2,
                in_signed=False, out_bits=out_bits, out_signed=out_signed, mult_scale_log2=0)
    op, xb, y = random_conv(rng, **case)
    expected = y.reshape(14, 2, 14, 2, 6).max(axis=(1, 3)).reshape(-1)
    op.params = {**op.params, "pool_h": 2, "pool_w": 2}
    for prep in (None, ckernels.prepare(op)):
        op.prep = prep
        for sanitize in (False, True):
            status, out = ckernels.run_conv(op, xb, "auto", ckernels.library(sanitize))
            assert status == 0
            got = unpack(out, expected.size, op.params["out_cont"], out_signed)
            np.testing.assert_array_equal(got, expected)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.integers(0, 2**31))
def test_fused_max_pooling(data, seed):
    """A conv with fused max pooling (pool_h x pool_w windows at their own stride; rows and columns past
    the last whole window dropped) equals numpy's pooling of the conv's requantized map: the selected
    kernel, the portable and the dual-MAC ones, every output container, signed and unsigned outputs;
    host and sanitizers."""
    cin = data.draw(st.sampled_from([1, 3, 6, 16]))
    k = data.draw(st.sampled_from([1, 3, 5]))
    ph, pw = data.draw(st.sampled_from([(2, 2), (2, 2), (3, 3), (1, 2), (2, 1)]))
    h, w = data.draw(st.integers(max(k, ph), 13)), data.draw(st.integers(max(k, pw), 13))
    out_bits, out_signed = data.draw(st.sampled_from([2, 3, 4, 8])), data.draw(st.booleans())
    case = dict(cin=cin, cout=data.draw(st.integers(1, 19)), h=h, w=w, k=(k, k), stride=(1, 1), pad=(k // 2, k // 2),
                groups=1, w_bits=data.draw(st.sampled_from([1, 2, 4, 8])), in_bits=data.draw(st.sampled_from([2, 4, 8])),
                in_signed=data.draw(st.booleans()), out_bits=out_bits, out_signed=out_signed)
    op, xb, y = random_conv(np.random.default_rng(seed), **case)
    oh, ow, oc = op.params["out_h"], op.params["out_w"], op.params["out_c"]
    m = y.reshape(oh, ow, oc)[: oh // ph * ph, : ow // pw * pw]
    expected = m.reshape(oh // ph, ph, ow // pw, pw, oc).max(axis=(1, 3)).reshape(-1)
    op.params = {**op.params, "pool_h": ph, "pool_w": pw}
    op.scratch_bytes = conv_scratch_bytes(op.params)
    assert ckernels.buffer_size(op) == conv_scratch_bytes(op.params, aarch64=platform.machine() == "aarch64")
    cont = op.params["out_cont"]
    for variant in ("auto", "portable", "dualmac"):
        for sanitize in ((False, True) if variant == "auto" else (False,)):
            status, out = ckernels.run_conv(op, xb, variant, ckernels.library(sanitize))
            assert status == 0
            np.testing.assert_array_equal(unpack(out, expected.size, cont, out_signed), expected, err_msg=str(op.params))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.integers(0, 2**31))
def test_maxpool_matches_numpy(data, seed):
    """mico_maxpool over random shapes, containers and signs (half of them 2x2 windows of stride 2),
    odd input sizes and padding, against numpy (padding taps never win); host and sanitizers, where
    the element loop runs (the word paths of the targets: test_maxpool_on_target)."""
    cont = data.draw(st.sampled_from([2, 4, 8]))
    signed = data.draw(st.booleans())
    c = data.draw(st.integers(1, 20))
    two = data.draw(st.booleans())
    k = (2, 2) if two else (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
    s_ = (2, 2) if two else (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2)))
    pad = (0, 0) if two else (data.draw(st.integers(0, k[0] - 1)), data.draw(st.integers(0, k[1] - 1)))
    h, w = data.draw(st.integers(k[0], 9)), data.draw(st.integers(k[1], 9))
    oh, ow = (h + 2 * pad[0] - k[0]) // s_[0] + 1, (w + 2 * pad[1] - k[1]) // s_[1] + 1
    lo, hi = act_range(cont, signed)
    x = np.random.default_rng(seed).integers(lo, hi + 1, size=(h, w, c))
    xp = np.full((h + 2 * pad[0], w + 2 * pad[1], c), lo - 1)
    xp[pad[0]:pad[0] + h, pad[1]:pad[1] + w] = x
    expected = np.stack([np.stack([xp[i * s_[0]:i * s_[0] + k[0], j * s_[1]:j * s_[1] + k[1]].max(axis=(0, 1))
                                   for j in range(ow)]) for i in range(oh)])
    params = dict(in_h=h, in_w=w, c=c, out_h=oh, out_w=ow, k_h=k[0], k_w=k[1], stride_h=s_[0], stride_w=s_[1],
                  pad_h=pad[0], pad_w=pad[1], in_cont=cont, in_signed=int(signed))
    for sanitize in (False, True):
        status, out = ckernels.run_maxpool(params, pack(x.reshape(-1), cont), ckernels.library(sanitize))
        assert status == 0
        np.testing.assert_array_equal(unpack(out, expected.size, cont, signed), expected.reshape(-1), err_msg=str(params))


@pytest.mark.parametrize("w_bits,in_bits,k,w", [(4, 2, (3, 3), 11), (2, 2, (14, 3), 9), (1, 4, (5, 3), 6),
                                                (2, 2, (3, 3), 8)])
@pytest.mark.parametrize("sign", [1, -1, 0])
def test_depthwise_byte_fields_at_their_bound(w_bits, in_bits, k, w, sign):
    """The depthwise byte-field path (4 outputs a multiply, s + O in a byte) at its bound: 3 k_h max|w|
    max x <= 255 with container maxima (W2A2 with k_h 14: 252); every product at its largest magnitude
    with one sign (sign +-1: the quantizer's extremes; 0: weights at the container minimum -2^(b-1),
    written into the packed rows), so every byte field ends at an end of its range; exact (raw int32
    sums), host and sanitizers. The Cortex-M7 assembly row (8-bit outputs): test_kernels_target."""
    case = dict(cin=6, cout=6, h=k[0] + 3, w=w, k=k, stride=(1, 1), pad=(0, 1), groups=6, w_bits=w_bits,
                in_bits=in_bits, in_signed=False, out_bits=None)
    op, xb, expected = random_conv(_ExtremeRng(0, sign or 1), **case)
    K, cont, xmax = k[0] * k[1], op.params["w_cont"], (1 << in_bits) - 1
    wmag = 1 if w_bits == 1 else 1 << (w_bits - 1)
    assert 3 * k[0] * wmag * xmax <= 255 < 3 * (k[0] + 1) * wmag * xmax or k[0] == 3
    if sign == 0:
        rows = np.zeros((6, op.params["w_row_bytes"] * 8 // cont), np.int64)
        rows[:, :K] = 0 if w_bits == 1 else -wmag  # 1-bit: bit 0 is -1
        op.weights = pack(rows, cont)
        op.wsum = np.full(6, -K * wmag, np.int32)
        oh, ow = op.params["out_h"], op.params["out_w"]
        # padding of 1 on each side: the first and last output columns see 2 of 3 kernel columns
        cols = np.full(ow, 3)
        cols[0] -= 1
        cols[-1] -= 1
        s = -k[0] * cols * wmag * xmax
        expected = (op.bias.reshape(1, 1, -1).astype(np.int64) + s.reshape(1, -1, 1)).repeat(oh, 0).reshape(-1)
    for sanitize in (False, True):
        status, out = ckernels.run_conv(op, xb, "dw", ckernels.library(sanitize))
        assert status == 0
        np.testing.assert_array_equal(np.frombuffer(out, np.int32), expected)
