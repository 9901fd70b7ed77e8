"""Hardware-aware latency cost models (the `mico.costs.CostModel` protocol), unit ``cycles``.

Every model prices a layer from its kernel configuration (`latency.profile.config_from_layer`):
the layer's shape, its weight bits ``w``, input-activation bits ``a`` and output container. The
output container of layer ``l`` is the activation container of layer ``l+1``'s (effective)
``a_bits``; the last layer writes int32 logits. For a search space, each model precomputes a
table ``T[l, w-1, a-1, o]`` over all bits 1..8 once (cached per space fingerprint), so pricing
a policy is a table lookup and `totals` is vectorised numpy indexing.

Models:
- `AnalyticLatency`: cycles = sum_j theta_j * feature_j with per-(kind, containers) coefficients
  on MACs, im2col elements, outputs, output pixels, weight bytes and a constant, fitted by
  non-negative least squares on relative error.
- `LearnedLatency`: gradient boosting on shape + bit features predicting log(cycles / analytic)
  (the analytic model is the prior, so unseen shapes extrapolate through it).
- `LUTLatency`: HAQ-style lookup table of exact simulations of the model's own layers at every
  bit pair of the space (`build_lut`).
- `PeakMemory`: analytic peak SRAM (activations + scratch) and flash (packed weights + per-channel
  requant parameters); see its docstring for the rule.
The whole-model latency is the sum of per-layer kernel cycles (pooling, residual adds and call
overhead are not included in the layer models; `fixed_cycles` adds a measured constant).
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from latency.profile import (
    KINDS,
    KernelConfig,
    KernelVersionMismatch,
    a_container,
    config_from_layer,
    kernel_hash,
    w_container,
)
from mico.costs import Cost
from mico.space import Policy, SearchSpace

DATA_DIR = Path(__file__).resolve().parent / "data"
O_CONTS = (2, 4, 8, 32)
WC, AC = (1, 2, 4, 8), (2, 4, 8)


# ---------------------------------------------------------------------------------- features
def _frame(configs: Sequence[KernelConfig] | pd.DataFrame) -> pd.DataFrame:
    if isinstance(configs, pd.DataFrame):
        df = configs.copy()
    else:
        df = pd.DataFrame([{**asdict(c), "out_h": c.out_h, "out_w": c.out_w, "macs": c.macs} for c in configs])
    df["wc"] = df["w_bits"].map(w_container)
    df["ac"] = df["a_bits"].map(a_container)
    groups = np.where(df["kind"] == "depthwise", df["in_c"], 1)
    df["pix"] = df["out_h"] * df["out_w"]
    df["outs"] = df["pix"] * df["out_c"]
    df["im2col"] = df["pix"] * df["k_h"] * df["k_w"] * df["in_c"] // groups
    df["wbytes"] = df["out_c"] * df["k_h"] * df["k_w"] * (df["in_c"] // groups) * df["wc"] / 8.0
    return df


def _design(df: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    cols, names = [], []
    kind = df["kind"].to_numpy()
    for k in KINDS:
        mk = (kind == k).astype(float)
        names.append(f"{k}:const")
        cols.append(mk)
        for ac in AC:
            names.append(f"{k}:a{ac}:pix")
            cols.append(mk * (df["ac"] == ac) * df["pix"])
            names.append(f"{k}:a{ac}:oddc_macs")
            cols.append(mk * (df["ac"] == ac) * df["im2col"] * (df["out_c"] % 2))
            names.append(f"{k}:a{ac}:oddp_macs")
            cols.append(mk * (df["ac"] == ac) * df["im2col"] / df["pix"] * (df["pix"] % 2) * df["out_c"])
        for wc in WC:
            for ac in AC:
                m = mk * (df["wc"] == wc) * (df["ac"] == ac)
                names.append(f"{k}:w{wc}a{ac}:macs")
                cols.append(m * df["macs"])
        for ac in AC:
            names.append(f"{k}:a{ac}:im2col")
            cols.append(mk * (df["ac"] == ac) * df["im2col"])
        for oc in O_CONTS:
            names.append(f"{k}:o{oc}:outs")
            cols.append(mk * (df["o_cont"] == oc) * df["outs"])
        for wc in WC:
            names.append(f"{k}:w{wc}:wbytes")
            cols.append(mk * (df["wc"] == wc) * df["wbytes"])
    return np.column_stack([np.asarray(c, dtype=float) for c in cols]), names


def _learn_features(df: pd.DataFrame, prior: np.ndarray) -> np.ndarray:
    kind = df["kind"].to_numpy()
    oh = np.column_stack([(kind == k).astype(float) for k in KINDS])
    num = np.column_stack([
        np.log2(df["macs"]), np.log2(df["in_c"]), np.log2(df["out_c"]), np.log2(df["pix"]), df["k_w"], df["stride"],
        df["w_bits"], df["a_bits"], df["wc"], df["ac"], np.log2(df["o_cont"]), np.log2(prior),
        np.log2(df["im2col"] + 1), df["in_c"] % 4, df["out_c"] % 2,
    ])
    return np.column_stack([oh, num])


# ---------------------------------------------------------------------------------- base
class _TableModel:
    """Shared machinery: per-layer tables over (w, a, o) for a space, `cost` and `totals`."""

    name = ""
    unit = "cycles"
    fixed_cycles = 0.0

    def __init__(self) -> None:
        self._tables: dict[str, np.ndarray] = {}

    def predict_configs(self, configs: Sequence[KernelConfig] | pd.DataFrame) -> np.ndarray:
        raise NotImplementedError

    def table(self, space: SearchSpace) -> np.ndarray:
        fp = space.fingerprint
        if fp not in self._tables:
            cfgs, idx = [], []
            for li, layer in enumerate(space.layers):
                for w in range(1, 9):
                    for a in range(1, 9):
                        for oi, o in enumerate(O_CONTS):
                            cfgs.append(config_from_layer(layer, w, a, o))
                            idx.append((li, w - 1, a - 1, oi))
            pred = self.predict_configs(cfgs)
            t = np.zeros((space.n_layers, 8, 8, len(O_CONTS)))
            ii = np.array(idx)
            t[ii[:, 0], ii[:, 1], ii[:, 2], ii[:, 3]] = pred
            self._tables[fp] = t
        return self._tables[fp]

    @staticmethod
    def _oidx(a_next: np.ndarray) -> np.ndarray:
        """Output-container index from the next layer's a_bits (last layer: int32)."""
        lut = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])  # bits -> index of 2/4/8 container
        o = np.full(a_next.shape, 3, dtype=np.int64)
        o[..., :-1] = lut[a_next[..., 1:].astype(np.int64)]
        return o

    def _per_layer(self, space: SearchSpace, bits: np.ndarray) -> np.ndarray:
        n = space.n_layers
        w, a = bits[:, :n].astype(np.int64), bits[:, n:].astype(np.int64)
        t = self.table(space)
        o = self._oidx(a)
        layers = np.arange(n)[None, :]
        return t[layers, w - 1, a - 1, o]

    def cost(self, space: SearchSpace, policy: Policy) -> Cost:
        p = space.effective(policy)
        per = self._per_layer(space, space.bits_matrix([p]))[0]
        return Cost(float(per.sum() + self.fixed_cycles), tuple(float(v) for v in per), self.unit)

    def totals(self, space: SearchSpace, policies: Sequence[Policy]) -> np.ndarray:
        if not len(policies):
            return np.zeros(0)
        bits = space.bits_matrix([space.effective(p) for p in policies])
        return self._per_layer(space, bits).sum(axis=1) + self.fixed_cycles

    # persistence ------------------------------------------------------------------
    def save(self, path: str | Path, meta: dict | None = None) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {k: v for k, v in self.__dict__.items() if k != "_tables"}
        with path.open("wb") as f:
            pickle.dump({"class": type(self).__name__, "state": state, "meta": meta or {}}, f)
        return path

    @classmethod
    def load(cls, path: str | Path, *, check_kernels: bool = True):
        with Path(path).open("rb") as f:
            d = pickle.load(f)
        obj = cls.__new__(cls)
        obj.__dict__.update(d["state"])
        obj._tables = {}
        kh = obj.__dict__.get("kernel_hash")
        if check_kernels and kh and kh != kernel_hash():
            raise KernelVersionMismatch(
                f"{path} was fitted on kernel library {kh}, deploy/kernels is now {kernel_hash()}; refit with "
                "`mico latency fit`"
            )
        return obj


def _target_of(target: str) -> str:
    from latency.sim.core import get_target

    return get_target(target).name


# ---------------------------------------------------------------------------------- analytic
class AnalyticLatency(_TableModel):
    """Per-op-kind cycle model of our kernels fitted by non-negative least squares (relative error)."""

    name = "latency-analytic"

    def __init__(self, target: str = "cortex-m7", path: str | Path | None = None, load: bool = True):
        super().__init__()
        self.target = _target_of(target)
        self.coef: np.ndarray | None = None
        self.names: list[str] = []
        self.kernel_hash = ""
        if path is not None or (load and (DATA_DIR / f"analytic-{self.target}.pkl").exists()):
            other = AnalyticLatency.load(path or DATA_DIR / f"analytic-{self.target}.pkl")
            self.__dict__.update({k: v for k, v in other.__dict__.items() if k != "_tables"})
        self.name = f"latency-analytic-{self.target}"

    def fit(self, df: pd.DataFrame) -> AnalyticLatency:
        from scipy.optimize import nnls

        f = _frame(df)
        X, self.names = _design(f)
        y = f["cycles"].to_numpy(float)
        wts = 1.0 / y
        keep = X.any(axis=0)
        coef = np.zeros(X.shape[1])
        coef[keep], _ = nnls(X[:, keep] * wts[:, None], y * wts, maxiter=20 * X.shape[1])
        self.coef = coef
        self.kernel_hash = df.attrs.get("provenance", {}).get("kernel_hash", kernel_hash())
        self._tables = {}
        return self

    def predict_configs(self, configs) -> np.ndarray:
        if self.coef is None:
            raise RuntimeError(f"{self.name} is not fitted; run `mico latency fit --target {self.target}`")
        X, _ = _design(_frame(configs))
        return np.maximum(X @ self.coef, 1.0)


# ---------------------------------------------------------------------------------- learned
class LearnedLatency(_TableModel):
    """Gradient boosting on shape + bit features, log-target residual over the analytic prior."""

    name = "latency-learned"

    def __init__(self, target: str = "cortex-m7", path: str | Path | None = None, seed: int = 0, load: bool = True):
        super().__init__()
        self.target = _target_of(target)
        self.seed = seed
        self.prior: AnalyticLatency | None = None
        self.gbm = None
        self.kernel_hash = ""
        p = path or DATA_DIR / f"learned-{self.target}.pkl"
        if path is not None or (load and Path(p).exists()):
            other = LearnedLatency.load(p)
            self.__dict__.update({k: v for k, v in other.__dict__.items() if k != "_tables"})
        self.name = f"latency-learned-{self.target}"

    def fit(self, df: pd.DataFrame) -> LearnedLatency:
        from sklearn.ensemble import GradientBoostingRegressor

        prior = AnalyticLatency(self.target, load=False).fit(df)
        f = _frame(df)
        base = prior.predict_configs(f)
        X = _learn_features(f, base)
        r = np.log(f["cycles"].to_numpy(float) / base)
        self.gbm = GradientBoostingRegressor(n_estimators=300, max_depth=3, learning_rate=0.05, subsample=0.8,
                                             random_state=self.seed).fit(X, r)
        self.prior = prior
        self.kernel_hash = prior.kernel_hash
        self._tables = {}
        return self

    def predict_configs(self, configs) -> np.ndarray:
        if self.gbm is None or self.prior is None:
            raise RuntimeError(f"{self.name} is not fitted; run `mico latency fit --target {self.target}`")
        f = _frame(configs)
        base = self.prior.predict_configs(f)
        return base * np.exp(self.gbm.predict(_learn_features(f, base)))


# ---------------------------------------------------------------------------------- LUT
class LUTLatency(_TableModel):
    """HAQ-style lookup table: exact simulated cycles of each layer of one space at its bit pairs."""

    name = "latency-lut"

    def __init__(self, target: str = "cortex-m7", lut: dict | None = None):
        super().__init__()
        self.target = _target_of(target)
        self.lut = lut or {}  # "fingerprint" -> {"l,w,a,o": cycles}
        self.name = f"latency-lut-{self.target}"

    def table(self, space: SearchSpace) -> np.ndarray:
        fp = space.fingerprint
        if fp not in self._tables:
            entries = self.lut.get(_layers_key(space))
            if entries is None:
                raise KeyError(f"no lookup table for model {space.model_name!r} on {self.target}; build it with "
                               "latency.models.build_lut(space, target)")
            t = np.full((space.n_layers, 8, 8, len(O_CONTS)), np.nan)
            for k, v in entries.items():
                li, w, a, o = (int(x) for x in k.split(","))
                t[li, w - 1, a - 1, O_CONTS.index(o)] = v
            self._tables[fp] = t
        return self._tables[fp]

    def predict_configs(self, configs):  # pragma: no cover - a LUT only knows its own layers
        raise NotImplementedError("a lookup table prices only the layers it has simulated")


def _layers_key(space: SearchSpace) -> str:
    import hashlib

    return hashlib.sha256(json.dumps([layer.to_dict() for layer in space.layers], sort_keys=True).encode()).hexdigest()[:16]


def lut_configs(space: SearchSpace) -> list[tuple[str, KernelConfig]]:
    """Every (layer, w, a, o) the space's policies can produce, as kernel configurations."""
    out = []
    for li, layer in enumerate(space.layers):
        ws = sorted(set(space.w_choices) | {w for i, w, _ in space.pinned if i == li})
        as_ = sorted(set(space.a_choices) | {a for i, _, a in space.pinned if i == li})
        if li == space.n_layers - 1:
            os_ = [32]
        else:
            nxt = sorted(set(space.a_choices) | {a for i, _, a in space.pinned if i == li + 1})
            os_ = sorted({a_container(b) for b in nxt})
        for w in ws:
            for a in as_:
                for o in os_:
                    out.append((f"{li},{w},{a},{o}", config_from_layer(layer, w, a, o)))
    return out


def build_lut(space: SearchSpace, target: str, *, progress: bool = False) -> dict[str, dict[str, float]]:
    from latency.profile import profile

    items = lut_configs(space)
    df = profile([c for _, c in items], target, progress=progress)
    return {_layers_key(space): {k: float(c) for (k, _), c in zip(items, df["cycles"])}}


# ---------------------------------------------------------------------------------- memory
class PeakMemory:
    """Analytic peak SRAM and flash of the deployed model (an estimate of deploy's planner rule).

    SRAM: the largest (input + output activation bytes, packed at their containers, + conv
    scratch) over the layers (a sequential lifetime rule: a layer's input and output live at
    the same time; residual tensors are not added). Flash: packed weight rows (padded to 4
    bytes) + 12 bytes per output channel (bias, multiplier, shift / weight sum).
    ``kind`` is ``"sram"`` or ``"flash"``. Deploy's memory planner was not exposed when this was
    written; this model states its own rule.
    """

    def __init__(self, kind: str = "sram"):
        if kind not in ("sram", "flash"):
            raise ValueError(f"kind must be 'sram' or 'flash', got {kind!r}")
        self.kind = kind
        self.name = f"peak-{kind}"
        self.unit = f"{kind}_bytes"

    def _layer(self, layer, w: int, a: int, o: int) -> float:
        c = config_from_layer(layer, w, a, o)
        wb, ib, ob, sb = c.buffer_bytes()
        if self.kind == "flash":
            return float(wb + 12 * c.out_c)
        return float(ib + ob + sb)

    def cost(self, space: SearchSpace, policy: Policy) -> Cost:
        p = space.effective(policy)
        n = space.n_layers
        per = []
        for i, layer in enumerate(space.layers):
            o = 32 if i == n - 1 else a_container(p.a_bits[i + 1])
            per.append(self._layer(layer, p.w_bits[i], p.a_bits[i], o))
        total = max(per) if self.kind == "sram" else sum(per)
        return Cost(float(total), tuple(per), self.unit)

    def totals(self, space: SearchSpace, policies: Sequence[Policy]) -> np.ndarray:
        return np.array([self.cost(space, p).total for p in policies])


class LatencyM7(LearnedLatency):
    """Registry entry: the learned model for cortex-m7 (loads latency/data/learned-cortex-m7.pkl)."""

    def __init__(self, **kw):
        super().__init__("cortex-m7", **kw)


class AnalyticM7(AnalyticLatency):
    def __init__(self, **kw):
        super().__init__("cortex-m7", **kw)


class LatencyA53(LearnedLatency):
    def __init__(self, **kw):
        super().__init__("cortex-a53", **kw)


class AnalyticA53(AnalyticLatency):
    def __init__(self, **kw):
        super().__init__("cortex-a53", **kw)


class PeakSRAM(PeakMemory):
    def __init__(self):
        super().__init__("sram")


class Flash(PeakMemory):
    def __init__(self):
        super().__init__("flash")
