"""The integer contract: exactness of primitives and agreement of fake-quant with the integer reference."""

import numpy as np
import pytest
import torch

from mico.quant import (
    Calibration,
    QuantModel,
    add_params,
    build_int_graph,
    quantize_weight,
    requant_params,
    requantize,
    weight_clip_ratio,
)
from mico.space import SearchSpace
from mico.trace import space_from_graph, trace_graph

from .conftest import tiny_conv1d, tiny_resnet


def test_requant_params_represent_multiplier(rng):
    mult = np.exp(rng.uniform(np.log(1e-6), np.log(10.0), size=1000))
    m, k = requant_params(mult)
    assert np.all((m >= 2**30) & (m < 2**31)) and np.all((k >= 1) & (k <= 62))
    assert np.allclose(m * np.exp2(-k.astype(float)), mult, rtol=1e-9)


def test_requantize_is_round_half_up_and_clamps():
    acc = torch.tensor([5, 6, 7, -5, -6, -7, 1000, -1000], dtype=torch.int64)
    m, k = requant_params(0.5)  # exactly 2^30 * 2^-31
    y = requantize(acc, torch.from_numpy(m), torch.from_numpy(k), -128, 127)
    assert y.tolist() == [3, 3, 4, -2, -3, -3, 127, -128]


def test_add_params_fit_in_30_bits():
    ma, mb, k = add_params(0.1, 0.05, 0.12)
    assert max(ma, mb) < 2**30 and abs(ma / 2**k - 0.1 / 0.12) < 1e-8


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 8])
def test_weight_quantization_ranges(bits):
    w = torch.randn(6, 4, 3, 3)
    q, s = quantize_weight(w, bits, weight_clip_ratio(w, bits))
    assert q.shape == w.shape and s.shape == (6,)
    if bits == 1:
        assert set(q.unique().tolist()) <= {-1.0, 1.0}
    else:
        assert q.abs().max() <= 2 ** (bits - 1) - 1
    assert torch.equal(q, q.round())


def _agreement(model, x, space_bits, n_policies, rng):
    graph = trace_graph(model, x)
    calib = Calibration(graph, x[:256])
    space = space_from_graph(graph, space_bits, space_bits)
    rates = []
    for _ in range(n_policies):
        p = space.sample(rng)
        ig = build_int_graph(calib, p)
        with torch.no_grad():
            fake = QuantModel(calib, p)(x).argmax(1)
        rates.append(float((ig.predict(x) == fake).float().mean()))
    return rates


def test_fake_quant_agrees_with_integer_reference(rng):
    x = torch.rand(600, 1, 16, 16)
    rates = _agreement(tiny_resnet(), x, (2, 3, 4, 6, 8), 6, rng)
    assert min(rates) >= 0.999, rates
    rates = _agreement(tiny_conv1d(), torch.randn(600, 3, 32), (1, 2, 4, 8), 6, rng)
    assert min(rates) >= 0.999, rates


def test_w8a8_close_to_float(rng):
    model = tiny_resnet()
    x = torch.rand(400, 1, 16, 16)
    graph = trace_graph(model, x)
    calib = Calibration(graph, x)
    space = space_from_graph(graph)
    ig = build_int_graph(calib, space.uniform(8))
    with torch.no_grad():
        ref = model(x)
    err = (ig.logits(x) - ref).abs().max() / ref.abs().max()
    assert err < 0.05


def test_graph_forward_equals_model():
    model = tiny_resnet()
    x = torch.rand(8, 1, 16, 16)
    with torch.no_grad():
        assert torch.allclose(trace_graph(model, x).forward(x), model(x), atol=1e-5)


def test_integer_reference_matches_naive_int_arithmetic(rng):
    """Recompute the first conv + requant of the reference with numpy int64 loops."""
    model = tiny_resnet()
    x = torch.rand(3, 1, 16, 16)
    graph = trace_graph(model, x)
    calib = Calibration(graph, x)
    p = SearchSpace.from_model(model, x).sample(rng)
    ig = build_int_graph(calib, p)
    xq = ig.quantize_input(x).numpy().astype(np.int64)
    conv = ig.ops[1]
    w = conv.weight.astype(np.int64)
    xp = np.pad(xq, ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.zeros((3, 8, 16, 16), dtype=np.int64)
    for c in range(8):
        for i in range(16):
            for j in range(16):
                acc = (xp[:, :, i:i + 3, j:j + 3] * w[c]).sum(axis=(1, 2, 3)) + int(conv.bias[c])
                v = (acc * int(conv.m[c]) + (1 << (int(conv.shift[c]) - 1))) >> int(conv.shift[c])
                out[:, c, i, j] = np.clip(v, conv.out_q.lo, conv.out_q.hi)
    first = ig.ops[:2]  # input + first conv through the reference
    sub = type(ig)(first, first[1].name, ig.input_q, ig.policy)
    assert np.array_equal(sub._run(torch.from_numpy(xq).double()).numpy(), out)
