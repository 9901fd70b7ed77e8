import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deploy.pack import act_container, pack, pack_weight_rows, unpack, unpack_weight_rows, weight_container


def test_containers():
    assert [weight_container(b) for b in range(1, 9)] == [1, 2, 4, 4, 8, 8, 8, 8]
    assert [act_container(b) for b in range(1, 9)] == [2, 2, 4, 4, 8, 8, 8, 8]
    with pytest.raises(ValueError, match="1..8"):
        weight_container(9)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([1, 2, 4, 8]), st.booleans(), st.integers(0, 70), st.integers(0, 2**31))
def test_pack_roundtrip_keeps_tail(cont, signed, n, seed):
    rng = np.random.default_rng(seed)
    lo, hi = (-(1 << (cont - 1)), (1 << (cont - 1)) - 1) if signed else (0, (1 << cont) - 1)
    v = rng.integers(lo, hi + 1, size=n)
    data = pack(v, cont)
    assert len(data) == (n * cont + 7) // 8
    np.testing.assert_array_equal(unpack(data, n, cont, signed), v)


def test_pack_layout_little_endian_within_byte():
    assert pack(np.array([1, 2, 3, 0, 1]), 2) == bytes([0b00111001, 0b00000001])
    assert pack(np.array([-1, 3]), 4) == bytes([0x3F])


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 8), st.integers(1, 5), st.integers(1, 40), st.integers(0, 2**31))
def test_weight_rows(bits, rows, k, seed):
    rng = np.random.default_rng(seed)
    if bits == 1:
        w = rng.choice([-1, 1], size=(rows, k))
    else:
        q = (1 << (bits - 1)) - 1
        w = rng.integers(-q, q + 1, size=(rows, k))
    data, row_bytes = pack_weight_rows(w, bits)
    assert row_bytes % 4 == 0 and len(data) == rows * row_bytes
    np.testing.assert_array_equal(unpack_weight_rows(data, rows, k, bits), w)


def test_one_bit_weights_are_bits():
    data, rb = pack_weight_rows(np.array([[1, -1, 1, 1, -1]]), 1)
    assert data[0] == 0b01101 and rb == 4
    with pytest.raises(ValueError, match="-1 or \\+1"):
        pack_weight_rows(np.array([[0, 1]]), 1)
