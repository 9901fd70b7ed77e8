import json

import numpy as np
import pytest
import torch

from mico.space import Policy, SearchSpace
from mico.trace import UnsupportedOpError, trace_graph

from .conftest import tiny_conv1d, tiny_resnet, toy_space


def test_from_model_finds_layers_in_order_with_shapes_and_macs():
    space = SearchSpace.from_model(tiny_resnet(), torch.rand(2, 1, 16, 16))
    kinds = [layer.kind for layer in space.layers]
    assert kinds == ["conv2d"] * 7 + ["linear"]
    first = space.layers[0]
    assert first.in_shape == (1, 16, 16) and first.out_shape == (8, 16, 16)
    assert first.macs == 8 * 1 * 9 * 16 * 16 and first.params == 8 * 9 + 8
    dw = space.layers[6]
    assert dw.depthwise and dw.groups == 16 and dw.macs == 16 * 9 * 8 * 8
    # block 2's first conv and its 1x1 shortcut read the same tensor
    assert space.a_groups == ((3, 5),)


def test_conv1d_model():
    space = SearchSpace.from_model(tiny_conv1d(), torch.rand(2, 3, 32))
    assert [layer.kind for layer in space.layers] == ["conv1d", "conv1d", "linear"]
    assert space.layers[1].groups == 2 and space.layers[2].in_shape == (56,)


def test_unsupported_ops_are_named():
    class Bad(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.c = torch.nn.Conv2d(1, 2, 3)
            self.g = torch.nn.GELU()

        def forward(self, x):
            return torch.sigmoid(self.g(self.c(x)))

    with pytest.raises(UnsupportedOpError, match="GELU") as e:
        trace_graph(Bad(), torch.rand(1, 1, 8, 8))
    assert "sigmoid" in str(e.value)


def test_policy_json_round_trip_and_fingerprint():
    space = toy_space().with_bits(pin_first_last=8)
    p = space.sample(np.random.default_rng(3))
    assert space.policy_from_json(space.policy_to_json(p)) == p
    assert SearchSpace.from_json(space.to_json()) == space
    assert SearchSpace.from_json(space.to_json()).fingerprint == space.fingerprint
    other = toy_space(5)
    with pytest.raises(ValueError, match="made for space"):
        other.policy_from_json(space.policy_to_json(p))


def test_encode_decode_and_pins(rng):
    space = toy_space(5).with_bits((1, 2, 4, 8), (2, 4, 8), pin_first_last=8)
    assert space.n_dims == 2 * 3
    for _ in range(50):
        p = space.sample(rng)
        assert p.w_bits[0] == p.a_bits[0] == p.w_bits[-1] == 8
        assert space.decode(space.encode(p)) == p
        assert space.contains(p)


def test_validation_errors_say_what_is_wrong():
    space = toy_space(3)
    with pytest.raises(ValueError, match="policy has 4 layers but the space of toy has 3"):
        space.validate(Policy.uniform(4, 8))
    with pytest.raises(ValueError, match=r"w_bits\[1\].*= 3 is not in the allowed set \(2, 4, 8\)"):
        space.validate(Policy((8, 3, 8), (8, 8, 8)))
    with pytest.raises(ValueError, match="subset"):
        SearchSpace(space.layers, (0, 4), (8,))


def test_effective_raises_groups_to_max():
    space = SearchSpace.from_model(tiny_resnet(), torch.rand(2, 1, 16, 16))
    p = space.uniform(8, 2)
    a = list(p.a_bits)
    a[5] = 8
    eff = space.effective(Policy(p.w_bits, tuple(a)))
    assert eff.a_bits[3] == 8 and eff.a_bits[5] == 8 and eff.a_bits[4] == 2


def test_policy_dict_round_trip():
    p = Policy((8, 4), (2, 8))
    assert Policy.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    with pytest.raises(ValueError, match="w_bits"):
        Policy.from_dict({"bits": [1]})
