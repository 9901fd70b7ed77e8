"""Property tests of single conv kernels (host shared library via ctypes) against the contract."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kernel_ref import random_conv

from deploy import ckernels
from deploy.pack import unpack

VARIANTS = ["portable", "dualmac", "bytelane", "dw", "neon", "packed", "poly", "auto"]


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


def _check(case, seed, sanitize=False):
    op, xb, expected = random_conv(np.random.default_rng(seed), **case)
    lib = ckernels.library(sanitize)
    assert ckernels.buffer_size(op, lib) == op.scratch_bytes  # C and Python agree on scratch
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
    # 12 channels: no whole-word im2col for the dual-MAC kernel, so the dispatcher keeps byte-lane
    case = dict(cin=12, cout=5, h=5, w=4, k=(3, 3), stride=(1, 1), pad=(1, 1), groups=1, w_bits=w_bits,
                in_bits=in_bits, in_signed=True, out_bits=4, out_signed=False)
    ran = _check(case, 1)
    assert "bytelane" in ran
    op, _, _ = random_conv(np.random.default_rng(0), **case)
    # 1/2-bit weights x 2-bit activation containers run the packed-multiply kernel too, but with
    # 12 channels (no whole-word im2col) the dispatcher keeps byte-lane
    assert ("packed" in ran) == (w_bits <= 2 and in_bits <= 2)
    assert ckernels.selected_variant(op) == "bytelane"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv_cases(), st.integers(0, 2**31))
def test_conv_variants_under_ubsan(case, seed):
    _check(case, seed, sanitize=True)


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
    packed = w_bits <= 2 and in_bits <= 2
    assert ("packed" in ran) == packed
    assert ckernels.selected_variant(op) == ("packed" if packed else "dualmac")


@pytest.mark.parametrize("k", [(3, 3), (2, 3), (5, 3), (3, 1)])
@pytest.mark.parametrize("w_bits,in_bits,in_signed", [(8, 8, False), (8, 8, True), (4, 4, True), (1, 2, False)])
def test_depthwise_paths(k, w_bits, in_bits, in_signed):
    """Depthwise: the 3-wide specialisation (k_w == 3, stride_w == 1) and the general path."""
    for stride in ((1, 1), (2, 1), (1, 2)):
        case = dict(cin=6, cout=6, h=7, w=8, k=k, stride=stride, pad=(k[0] // 2, k[1] // 2), groups=6,
                    w_bits=w_bits, in_bits=in_bits, in_signed=in_signed, out_bits=8, out_signed=False)
        assert "dw" in _check(case, 3)
