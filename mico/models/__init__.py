"""The model zoo: small networks for edge devices, one model family per file.

Every zoo model is ``torch.fx.symbolic_trace``-able and uses only the modules that the
quantizer and the C deployer understand: ``nn.Conv1d``, ``nn.Conv2d`` (incl. depthwise/grouped),
``nn.Linear``, ``nn.BatchNorm1d/2d``, ``nn.ReLU``, ``nn.ReLU6``, ``nn.MaxPool1d/2d``,
``nn.AvgPool1d/2d``, ``nn.AdaptiveAvgPool1d/2d(1)``, ``nn.Flatten``, ``nn.Dropout`` (inside ``nn.Sequential``
containers or not), and ``+`` for residual adds; no functional
calls, no in-place ops, no reshapes other than ``nn.Flatten``.

Use :func:`build_model` to instantiate a model by name, :data:`MODEL_ZOO` for its spec (data
set, default training hyper-parameters, description).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from .cnn_small import CNNSmall
from .har_cnn import HARCNN1d
from .lenet import LeNet5
from .mlp import MLP
from .mobilenetv2 import MobileNetV2Tiny
from .resnet import ResNet8

__all__ = ["MODEL_ZOO", "HyperParams", "ModelSpec", "build_model", "get_spec"]

OPTIMIZERS = ("adam", "sgd")
AUGMENTATIONS = ("none", "shift", "shift-flip")


@dataclass(frozen=True)
class HyperParams:
    """Training hyper-parameters; every field is part of the checkpoint cache key.

    Attributes:
        epochs: passes over the training split.
        lr: peak learning rate; it follows a cosine decay to 0 over all steps.
        batch_size: samples per optimizer step.
        optimizer: "adam" or "sgd" (SGD uses Nesterov momentum ``momentum``).
        weight_decay: L2 weight decay (decoupled for Adam, i.e. AdamW).
        momentum: SGD momentum (ignored by Adam).
        label_smoothing: cross-entropy label smoothing.
        augment: "none", "shift" (random translation by up to 2 pixels, zero fill) or
            "shift-flip" (also a random horizontal flip); image data only.
    """

    epochs: int
    lr: float
    batch_size: int
    optimizer: str = "adam"
    weight_decay: float = 0.0
    momentum: float = 0.9
    label_smoothing: float = 0.0
    augment: str = "none"

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or not self.lr > 0:
            raise ValueError(
                f"need epochs >= 1, batch_size >= 1 and lr > 0; got epochs={self.epochs}, "
                f"batch_size={self.batch_size}, lr={self.lr}"
            )
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; expected one of {', '.join(OPTIMIZERS)}")
        if self.augment not in AUGMENTATIONS:
            raise ValueError(f"unknown augment {self.augment!r}; expected one of {', '.join(AUGMENTATIONS)}")

    def replace(self, **changes: Any) -> HyperParams:
        """A copy with the given fields changed (``None`` values are ignored)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def as_dict(self) -> dict[str, Any]:
        """The fields as a JSON-serialisable dict."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ModelSpec:
    """A zoo entry.

    Attributes:
        name: the zoo name (``build_model(name)``).
        dataset: the data set it is trained on (a name for :func:`mico.data.load_dataset`).
        builder: callable ``(input_shape=..., num_classes=..., **kw) -> nn.Module``.
        hparams: default training hyper-parameters (chosen to train in about 3 minutes on 2 CPU cores).
        description: one line for listings.
    """

    name: str
    dataset: str
    builder: Callable[..., nn.Module]
    hparams: HyperParams
    description: str

    def build(self, **kw: Any) -> nn.Module:
        """A freshly initialised model; ``kw`` (e.g. input_shape, num_classes) go to the builder."""
        return self.builder(**kw)


MODEL_ZOO: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="lenet5",
            dataset="mnist",
            builder=LeNet5,
            hparams=HyperParams(epochs=12, lr=2e-3, batch_size=128, weight_decay=1e-4, augment="shift"),
            description="LeNet-5 (conv5 6-16, FC 120-84-10, ReLU + max pool), 62k params",
        ),
        ModelSpec(
            name="cnn-small",
            dataset="fashion-mnist",
            builder=CNNSmall,
            hparams=HyperParams(epochs=6, lr=3e-3, batch_size=128, weight_decay=1e-4, augment="shift-flip"),
            description="VGG-style CNN 16-16-pool-32-32-pool-FC64 with BN, 118k params",
        ),
        ModelSpec(
            name="resnet8",
            dataset="fashion-mnist",
            builder=ResNet8,
            hparams=HyperParams(epochs=4, lr=3e-3, batch_size=128, weight_decay=1e-4, augment="shift-flip"),
            description="ResNet-8: stem, 3 basic blocks 16-32-64, 1x1 conv shortcuts, GAP, FC; 78k params",
        ),
        ModelSpec(
            name="mobilenetv2-tiny",
            dataset="fashion-mnist",
            builder=MobileNetV2Tiny,
            hparams=HyperParams(epochs=6, lr=3e-3, batch_size=128, weight_decay=1e-4, augment="shift-flip"),
            description="MobileNetV2-tiny: stride-2 stem, 6 inverted residuals (dw 3x3, ReLU6); 23k params",
        ),
        ModelSpec(
            name="har-cnn1d",
            dataset="har",
            builder=HARCNN1d,
            hparams=HyperParams(epochs=20, lr=2e-3, batch_size=64, weight_decay=1e-4),
            description="1D CNN: 3 x conv5-BN-ReLU-pool 32-32-64, conv3, GAP, FC on 6x128 input; 29k params",
        ),
        ModelSpec(
            name="mlp",
            dataset="digits",
            builder=MLP,
            hparams=HyperParams(epochs=40, lr=3e-3, batch_size=64),
            description="MLP 64-64-32-10 on 8x8 digits (for fast tests)",
        ),
    )
}


def get_spec(name: str) -> ModelSpec:
    """The zoo entry called ``name``; ValueError listing the known names otherwise."""
    try:
        return MODEL_ZOO[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(MODEL_ZOO)}") from None


def build_model(name: str, **kw: Any) -> nn.Module:
    """A freshly initialised zoo model (seed ``torch.manual_seed`` first for reproducibility).

    ``kw`` go to the builder, e.g. ``input_shape=(3, 32, 32), num_classes=10`` to use a model on
    another data set; without them the model fits its zoo data set.
    """
    return get_spec(name).build(**kw)
