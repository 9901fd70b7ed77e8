"""Accuracy proxies: PTQ, QAT, hybrid (the MiCo rule), table, toy.

Every proxy reports the accuracy of the integer reference (`mico.quant.IntGraph`) on the
validation split; the test split is only for final reports. What does not depend on the policy
(the trained model, BN folding, float activation statistics, data tensors) is computed once in a
`ModelContext`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mico.cache import default_cache_dir, stable_hash
from mico.quant import Calibration, IntGraph, QuantModel, build_int_graph
from mico.space import Policy, SearchSpace
from mico.trace import FloatGraph, space_from_graph, trace_graph

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProxyResult:
    accuracy: float
    regime: str
    extra: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------- model context
class ModelContext:
    """A trained model ready for quantization: data, float graph, calibration, space."""

    def __init__(self, model_name: str, model: torch.nn.Module, data: Any, checkpoint_hash: str,
                 calib_n: int = 512, seed: int = 0):
        self.model_name, self.model, self.data = model_name, model.eval(), data
        self.checkpoint_hash, self.calib_n, self.seed = checkpoint_hash, calib_n, seed
        x_calib = data.calibration(calib_n, seed=seed).x
        self.graph: FloatGraph = trace_graph(self.model, x_calib[:1])
        self.calib = Calibration(self.graph, x_calib, seed=seed)
        self.space: SearchSpace = space_from_graph(self.graph, model_name=model_name)
        self._recipe: tuple | None = None

    def int_graph(self, policy: Policy) -> IntGraph:
        return build_int_graph(self.calib, policy)

    def __reduce__(self) -> tuple:
        """Pickle as a recipe: workers rebuild (and cache) the context instead of receiving tensors."""
        if self._recipe is None:
            raise TypeError("this ModelContext was built directly; only load_context() contexts can be pickled")
        return (_load_context_quiet, self._recipe)

    def config(self) -> dict[str, Any]:
        return {"model": self.model_name, "checkpoint": self.checkpoint_hash, "data": self.data.fingerprint,
                "calib_n": self.calib_n, "calib_seed": self.seed}


_CONTEXTS: dict[tuple, ModelContext] = {}


def load_context(model_name: str, seed: int = 0, data_root: str | None = None, progress: bool = True,
                 **train_kwargs: Any) -> ModelContext:
    """Train (or load the cached checkpoint of) ``model_name`` and prepare it for quantization."""
    key = (model_name, seed, data_root, tuple(sorted(train_kwargs.items())))
    if key not in _CONTEXTS:
        from mico import train as train_mod
        from mico.data import load_dataset
        from mico.models import MODEL_ZOO

        if model_name not in MODEL_ZOO:
            raise ValueError(f"unknown model {model_name!r}; known models: {sorted(MODEL_ZOO)}")
        result = train_mod.load_or_train(model_name, seed=seed, data_root=data_root, progress=progress,
                                         **train_kwargs)
        data = load_dataset(MODEL_ZOO[model_name].dataset, root=data_root)
        ctx = ModelContext(model_name, result.model, data, result.checkpoint_sha256)
        ctx._recipe = (model_name, seed, data_root, tuple(sorted(train_kwargs.items())))
        _CONTEXTS[key] = ctx
    return _CONTEXTS[key]


def _load_context_quiet(model_name: str, seed: int, data_root: str | None, train_items: tuple) -> ModelContext:
    return load_context(model_name, seed, data_root, progress=False, **dict(train_items))


# ---------------------------------------------------------------------------- proxies
class PTQProxy:
    """Post-training quantization: calibrated scales, integer-reference accuracy on val."""

    kind = "ptq"

    def __init__(self, ctx: ModelContext):
        self.ctx = ctx

    def config(self) -> dict[str, Any]:
        return {"kind": self.kind, **self.ctx.config()}

    def evaluate(self, policy: Policy) -> ProxyResult:
        g = self.ctx.int_graph(policy)
        return ProxyResult(g.accuracy(self.ctx.data.val.x, self.ctx.data.val.y), "ptq")


@dataclass(frozen=True)
class QATConfig:
    """Short quantization-aware fine-tune (straight-through estimator) before the integer reference."""

    steps: int = 300  # optimiser steps
    batch_size: int = 128
    lr: float = 5e-4
    subset: int = 20000  # training examples drawn (seeded) from the train split
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "subset"):
            if getattr(self, name) <= 0:
                raise ValueError(f"QATConfig.{name} must be positive, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"QATConfig.lr must be positive, got {self.lr}")


class QATProxy:
    """QAT: fine-tune the fake-quant model, export the integer graph, accuracy on val.

    The fine-tuned weights that earned the accuracy are stored (``extra['weights']``) so deploy
    uses exactly them; `weights_for` reloads or reproduces them deterministically.
    """

    kind = "qat"

    def __init__(self, ctx: ModelContext, cfg: QATConfig | None = None, store: str | os.PathLike | None = None):
        self.ctx, self.cfg = ctx, cfg or QATConfig()
        self.store = Path(store) if store is not None else default_cache_dir() / "qat"

    def config(self) -> dict[str, Any]:
        return {"kind": self.kind, **self.ctx.config(), "qat": asdict(self.cfg)}

    def finetune(self, policy: Policy) -> QuantModel:
        cfg = self.cfg
        torch.manual_seed(cfg.seed)
        qm = QuantModel(self.ctx.calib, policy)
        train = self.ctx.data.train
        gen = torch.Generator().manual_seed(cfg.seed)
        idx = torch.randperm(train.x.shape[0], generator=gen)[: cfg.subset]
        opt = torch.optim.Adam(qm.parameters(), lr=cfg.lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps)
        qm.train()
        for step in range(cfg.steps):
            j = idx[torch.randint(len(idx), (cfg.batch_size,), generator=gen)]
            loss = torch.nn.functional.cross_entropy(qm(train.x[j]), train.y[j])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            if not torch.isfinite(loss):
                raise FloatingPointError(f"QAT diverged at step {step} for {policy.key()}; lower QATConfig.lr")
        qm.eval()
        return qm

    def _path(self, policy: Policy) -> Path:
        return self.store / f"{stable_hash({'c': self.config(), 'p': policy.key()})[:24]}.pt"

    def has_weights(self, policy: Policy) -> bool:
        """Whether `evaluate` already stored the fine-tuned weights of ``policy``."""
        return self._path(policy).exists()

    def evaluate(self, policy: Policy) -> ProxyResult:
        qm = self.finetune(policy)
        g = qm.to_int_graph()
        path = self._path(policy)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {"weights": [w.detach() for w in qm.weights], "biases": [b.detach() for b in qm.biases]}
        torch.save(state, path)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        acc = g.accuracy(self.ctx.data.val.x, self.ctx.data.val.y)
        return ProxyResult(acc, "qat", {"weights": str(path), "weights_sha256": digest})

    def int_graph(self, policy: Policy) -> IntGraph:
        """The integer graph whose accuracy QAT reported (stored weights, else re-run the fine-tune)."""
        path = self._path(policy)
        if path.exists():
            state = torch.load(path)
            qm = QuantModel(self.ctx.calib, policy)
            with torch.no_grad():
                for p, w in zip(qm.weights, state["weights"]):
                    p.copy_(w)
                for p, b in zip(qm.biases, state["biases"]):
                    p.copy_(b)
            return qm.to_int_graph()
        return self.finetune(policy).to_int_graph()


def final_finetune(ctx: ModelContext, policy: Policy, steps: int, store: str | os.PathLike | None = None) -> IntGraph:
    """The final QAT fine-tune of a chosen policy: ``steps`` Adam steps over the whole train split.

    Searches score policies with the short 300-step proxy; the policy they pick is fine-tuned once
    more before deployment. The weights are stored like `QATProxy.evaluate`'s, so a second call
    with the same context, policy and steps only reloads them.
    """
    qat = QATProxy(ctx, QATConfig(steps=steps, subset=int(ctx.data.train.x.shape[0])), store=store)
    if not qat.has_weights(policy):
        qat.evaluate(policy)
    return qat.int_graph(policy)


class HybridProxy:
    """The MiCo rule: PTQ when every bitwidth is >= ``threshold``, QAT otherwise (regime recorded)."""

    kind = "hybrid"

    def __init__(self, ctx: ModelContext, threshold: int = 4, qat: QATConfig | None = None,
                 store: str | os.PathLike | None = None):
        self.threshold = threshold
        self.ptq, self.qat = PTQProxy(ctx), QATProxy(ctx, qat, store)
        self.ctx = ctx

    def config(self) -> dict[str, Any]:
        return {**self.qat.config(), "kind": self.kind, "threshold": self.threshold}

    def uses_qat(self, policy: Policy) -> bool:
        return self.ctx.space.effective(policy).min_bits < self.threshold

    def evaluate(self, policy: Policy) -> ProxyResult:
        return (self.qat if self.uses_qat(policy) else self.ptq).evaluate(policy)

    def int_graph(self, policy: Policy) -> IntGraph:
        return self.qat.int_graph(policy) if self.uses_qat(policy) else self.ptq.ctx.int_graph(policy)


class TableProxy:
    """Accuracy looked up from a table ``{policy.key(): accuracy}`` (JSON file or dict)."""

    kind = "table"

    def __init__(self, table: dict[str, float] | str | os.PathLike):
        if not isinstance(table, dict):
            path = Path(table)
            if not path.exists():
                raise FileNotFoundError(f"accuracy table {path} not found")
            table = json.loads(path.read_text())
        self.table = {str(k): float(v) for k, v in table.items()}

    def config(self) -> dict[str, Any]:
        return {"kind": self.kind, "table": stable_hash(self.table)}

    def evaluate(self, policy: Policy) -> ProxyResult:
        try:
            return ProxyResult(self.table[policy.key()], "table")
        except KeyError:
            raise KeyError(f"policy {policy.key()} is not in the accuracy table ({len(self.table)} entries)") from None


class ToyProxy:
    """An analytic accuracy with a known optimum, for unit tests and regret curves of searchers.

    ``acc = top - sum_l s_l (e(w_l) + e(a_l))`` with seeded layer sensitivities ``s_l`` and a
    convex error ``e(b) = 2^(-b)`` scaled so that all-2-bit loses about 40 points; together with a
    BOPs or size constraint this is a knapsack whose optimum is found by enumeration.
    """

    kind = "toy"

    def __init__(self, space: SearchSpace, seed: int = 0, top: float = 0.95):
        rng = np.random.default_rng(seed)
        self.space, self.seed, self.top = space, seed, top
        self.sens = rng.uniform(0.2, 1.0, size=space.n_layers)
        self.sens *= 0.4 / (self.sens.sum() * 2 * 2.0 ** -2)

    def config(self) -> dict[str, Any]:
        return {"kind": self.kind, "seed": self.seed, "top": self.top, "space": self.space.fingerprint}

    def accuracies(self, bits: np.ndarray) -> np.ndarray:
        """Vectorised over rows ``[w..., a...]``."""
        n = self.space.n_layers
        err = 2.0 ** -bits[:, :n] + 2.0 ** -bits[:, n:]
        return self.top - err @ self.sens

    def evaluate(self, policy: Policy) -> ProxyResult:
        acc = float(self.accuracies(self.space.bits_matrix([self.space.effective(policy)]))[0])
        return ProxyResult(acc, "toy")


PROXIES = {"ptq": PTQProxy, "qat": QATProxy, "hybrid": HybridProxy}


def make_proxy(kind: str, ctx: ModelContext, **kw: Any) -> Any:
    if kind not in PROXIES:
        raise ValueError(f"unknown proxy {kind!r}; known: {sorted(PROXIES)} (table and toy are built directly)")
    return PROXIES[kind](ctx, **kw)
