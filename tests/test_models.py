"""Tests of the model zoo: every model fx-traces, uses only deployable modules, and runs."""

from __future__ import annotations

import operator

import pytest
import torch
from torch import fx, nn

from mico.models import MODEL_ZOO, HyperParams, build_model, get_spec

# input shape and class count of each zoo data set (mico.data's tests check the loaders agree)
DATASET_IO = {
    "mnist": ((1, 28, 28), 10),
    "fashion-mnist": ((1, 28, 28), 10),
    "har": ((6, 128), 6),
    "digits": ((1, 8, 8), 10),
}

ALLOWED_LEAVES = (
    nn.Conv1d,
    nn.Conv2d,
    nn.Linear,
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.ReLU,
    nn.ReLU6,
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.Flatten,
    nn.Dropout,
)


def test_zoo_has_the_promised_models() -> None:
    assert set(MODEL_ZOO) == {"lenet5", "cnn-small", "resnet8", "mobilenetv2-tiny", "har-cnn1d", "mlp"}
    for name, spec in MODEL_ZOO.items():
        assert spec.name == name and spec.dataset in DATASET_IO and spec.description


@pytest.mark.parametrize("name", list(MODEL_ZOO))
def test_model_traces_and_runs_on_its_data_shape(name: str) -> None:
    spec = MODEL_ZOO[name]
    shape, classes = DATASET_IO[spec.dataset]
    torch.manual_seed(0)
    model = build_model(name).eval()
    x = torch.randn(3, *shape)
    gm = fx.symbolic_trace(model)
    with torch.no_grad():
        eager, traced = model(x), gm(x)
    assert eager.shape == (3, classes)
    assert torch.equal(eager, traced)
    modules = dict(gm.named_modules())
    for node in gm.graph.nodes:
        if node.op == "call_module":
            mod = modules[node.target]
            assert isinstance(mod, ALLOWED_LEAVES), f"{name}: {node.target} is {type(mod).__name__}"
            assert not getattr(mod, "inplace", False), f"{name}: {node.target} is in-place"
        elif node.op == "call_function":
            assert node.target is operator.add, f"{name}: functional call {node.target}"
        else:
            assert node.op in ("placeholder", "output"), f"{name}: {node.op} {node.target}"
    # same count of quantizable layers as eager modules: nothing hidden outside the graph
    quantizable = (nn.Conv1d, nn.Conv2d, nn.Linear)
    n_graph = sum(isinstance(modules[n.target], quantizable) for n in gm.graph.nodes if n.op == "call_module")
    assert n_graph == sum(isinstance(m, quantizable) for m in model.modules())


def test_builders_accept_other_data_shapes() -> None:
    assert build_model("resnet8", input_shape=(3, 32, 32), num_classes=100)(
        torch.randn(2, 3, 32, 32)
    ).shape == (2, 100)
    assert build_model("lenet5", input_shape=(3, 32, 32))(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert build_model("har-cnn1d", input_shape=(3, 64), num_classes=4)(torch.randn(2, 3, 64)).shape == (2, 4)
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        build_model("lenet5", input_shape=(6, 128))


def test_known_architecture_facts() -> None:
    params = {name: sum(p.numel() for p in build_model(name).parameters()) for name in MODEL_ZOO}
    assert params["lenet5"] == 61_706  # the classic LeNet-5 count with a 5x5x16 flatten
    assert params["mlp"] == 64 * 64 + 64 + 64 * 32 + 32 + 32 * 10 + 10
    assert all(n < 200_000 for n in params.values()), params
    mbv2 = build_model("mobilenetv2-tiny")
    depthwise = [m for m in mbv2.modules() if isinstance(m, nn.Conv2d) and m.groups > 1]
    assert depthwise and all(m.groups == m.in_channels == m.out_channels for m in depthwise)
    resnet = build_model("resnet8")
    convs = [m for m in resnet.modules() if isinstance(m, nn.Conv2d)]
    assert (
        sum(m.kernel_size == (3, 3) for m in convs) == 7 and sum(m.kernel_size == (1, 1) for m in convs) == 2
    )


def test_unknown_model_lists_known_names() -> None:
    with pytest.raises(ValueError) as err:
        build_model("vgg16")
    for name in MODEL_ZOO:
        assert name in str(err.value)
    with pytest.raises(ValueError, match="known models"):
        get_spec("resnet50")


def test_hyperparams_validate_and_replace() -> None:
    hp = MODEL_ZOO["mlp"].hparams
    assert hp.replace(epochs=3, lr=None).epochs == 3 and hp.replace(lr=None).lr == hp.lr
    with pytest.raises(ValueError, match="optimizer"):
        HyperParams(epochs=1, lr=0.1, batch_size=8, optimizer="lbfgs")
    with pytest.raises(ValueError, match="epochs >= 1"):
        HyperParams(epochs=0, lr=0.1, batch_size=8)
    with pytest.raises(ValueError, match="augment"):
        HyperParams(epochs=1, lr=0.1, batch_size=8, augment="mixup")
