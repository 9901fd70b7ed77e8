"""Hardware-aware latency cost models (the `mico.costs.CostModel` protocol), unit ``cycles``.

Every model prices a layer from its kernel configuration (`latency.profile.config_from_layer`):
the layer's shape, its weight bits ``w``, input-activation bits ``a`` and output container. The
output container of layer ``l`` is the activation container of layer ``l+1``'s (effective)
``a_bits``; the last layer writes int32 logits. For a search space, each model precomputes a
table ``T[l, w-1, a-1, o]`` over all bits 1..8 once (cached per space fingerprint), so pricing
a policy is a table lookup and `totals` is vectorised numpy indexing.

Models:
- `AnalyticLatency`: cycles = sum_j theta_j * feature_j over the *structure* of our kernels: the
  variant the dispatcher picks (deploy's own ``mico_conv_select`` via the host library; A53:
  depthwise or the NEON entry), its tiles (2x2 / 4x1 output tiles x weight words per container,
  remainder tiles), byte-lane steps and flushes, im2col per pixel / tap / element (inside vs.
  padding, per container pair, fast paths), zero tails, requantization per output container,
  depthwise row conversion and channel-pair MACs; non-negative least squares on relative error.
- `LearnedLatency`: gradient boosting on shape + bit + structural features predicting log(cycles / analytic)
  (the analytic model is the prior, so unseen shapes extrapolate through it).
- `LUTLatency`: HAQ-style lookup table of exact simulations of the model's own layers at every
  bit pair of the space (`build_lut`).
- `PeakMemory`: analytic peak SRAM (activations + scratch) and flash (packed weights + per-channel
  requant parameters); see its docstring for the rule.
The whole-model latency is the sum of per-layer kernel cycles plus `overhead(space)`: the
pooling / residual-add / ReLU ops and the fixed ``model_run`` overhead of the deployed model,
calibrated on simulated whole-model deployments (`latency.wholemodel.OverheadModel`).
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
VARIANT_NAMES = {1: "portable", 2: "dualmac", 3: "bytelane", 4: "dw", 5: "neon"}


def _variant_m7(df: pd.DataFrame) -> np.ndarray:
    """The kernel the dispatcher picks on a DSP (non-AArch64) build: asks deploy's own
    ``mico_conv_select`` through the host library, so the model follows kernel-selection changes."""
    import ctypes as ct

    from deploy.ckernels import ConvParams, library
    from latency.profile import KernelConfig

    lib = library()
    out = np.zeros(len(df), dtype=np.int64)
    cache: dict[tuple, int] = {}
    cols = [f for f in KernelConfig.__dataclass_fields__]
    for i, row in enumerate(df[cols].itertuples(index=False, name=None)):
        if row not in cache:
            p = ConvParams(**KernelConfig(*row).c_params())
            cache[row] = int(lib.mico_conv_select(ct.byref(p)))
        out[i] = cache[row]
    return out


def _variant(df: pd.DataFrame, target: str) -> np.ndarray:
    dw = (df["kind"] == "depthwise").to_numpy()
    if target == "cortex-a53":  # AArch64 build: depthwise kernel, else the NEON entry (dual-MAC algorithm)
        return np.where(dw, 4, 5)
    return _variant_m7(df)


def _valid_taps(n_out: np.ndarray, k: np.ndarray, s: np.ndarray, pad: np.ndarray, n_in: np.ndarray) -> np.ndarray:
    """Sum over output positions and kernel taps of [input index in range] (one dimension)."""
    out = np.zeros(len(n_out))
    for i, (no, kk, ss, pp, ni) in enumerate(zip(n_out, k, s, pad, n_in)):
        o = np.arange(no)[:, None] * ss - pp + np.arange(kk)[None, :]
        out[i] = ((o >= 0) & (o < ni)).sum()
    return out


def _dw_rows(df: pd.DataFrame) -> np.ndarray:
    """Input rows the depthwise kernel converts (ring of k_h rows, slot = row mod k_h)."""
    out = np.zeros(len(df))
    for i, (oh_n, kh, s, p, ih_n) in enumerate(zip(df["out_h"], df["k_h"], df["stride"], df["pad"], df["in_h"])):
        slot = {}
        n = 0
        for oh in range(oh_n):
            for k in range(kh):
                ih = oh * s - p + k
                if slot.get(ih % kh) != ih:
                    slot[ih % kh] = ih
                    n += 0 <= ih < ih_n
        out[i] = n
    return out


def _frame(configs: Sequence[KernelConfig] | pd.DataFrame, target: str = "cortex-m7") -> pd.DataFrame:
    """Structural features of how our kernels execute a configuration (see `_design`)."""
    if isinstance(configs, pd.DataFrame):
        df = configs.copy()
    else:
        df = pd.DataFrame([{**asdict(c), "out_h": c.out_h, "out_w": c.out_w, "macs": c.macs} for c in configs])
    df = df.reset_index(drop=True)
    df["wc"] = df["w_bits"].map(w_container)
    df["ac"] = df["a_bits"].map(a_container)
    dw = (df["kind"] == "depthwise").to_numpy()
    groups = np.where(dw, df["in_c"], 1)
    df["var"] = _variant(df, target)
    P = (df["out_h"] * df["out_w"]).to_numpy(float)
    oc = df["out_c"].to_numpy(float)
    cin = df["in_c"].to_numpy(float)
    kh, kw = df["k_h"].to_numpy(float), df["k_w"].to_numpy(float)
    wc = df["wc"].to_numpy(float)
    K = kh * kw * cin / groups
    pw = 32.0 / wc
    nw = np.ceil(K / pw)
    kp = nw * pw
    df["pix"] = P
    df["outs"] = P * oc
    df["im2col"] = P * K
    df["wbytes"] = oc * K * wc / 8.0
    # valid taps (inside the image) per dimension: separable
    two_d = df["kind"].isin(["conv2d", "depthwise"]).to_numpy()
    sh = np.where(two_d, df["stride"], 1)
    ph = np.where(two_d, df["pad"], 0)
    vh = _valid_taps(df["out_h"].to_numpy(), df["k_h"].to_numpy(), sh, ph, df["in_h"].to_numpy())
    vw = _valid_taps(df["out_w"].to_numpy(), df["k_w"].to_numpy(), df["stride"].to_numpy(), df["pad"].to_numpy(),
                     df["in_w"].to_numpy())
    taps = P * kh * kw
    df["taps_in"] = vh * vw
    df["taps_out"] = taps - vh * vw
    df["el_in"] = vh * vw * cin / groups
    df["el_out"] = (taps - vh * vw) * cin / groups
    df["tail"] = P * (kp - K)
    df["nw"] = nw
    pairs = np.ceil(P / 2)
    one = P == 1
    t41 = np.where(one, np.floor(oc / 4), 0)
    t22 = np.where(one, np.ceil((oc - 4 * t41) / 2), pairs * np.ceil(oc / 2))
    df["t22"], df["t41"] = t22, t41
    df["w22"], df["w41"] = t22 * nw, t41 * nw
    # byte-lane flush schedule
    xmax = 2.0 ** df["a_bits"].to_numpy(float) - 1
    wmax = np.where(wc == 1, 1.0, 2.0 ** (wc - 1) + 2.0 ** (df["w_bits"].to_numpy(float) - 1) - 1)
    steps = np.floor(255 / (4 * xmax * wmax))
    L = 8.0 / wc
    fs = np.ones(len(df))
    for _ in range(4):
        fs = np.where((fs * 2 <= steps) & (fs * 2 <= L), fs * 2, fs)
    tw = np.where(fs == L, np.maximum(np.floor(steps / L), 1), 1)
    t2 = pairs * np.ceil(oc / 2)
    df["bl_tiles"] = t2
    df["bl_steps"] = t2 * nw * L
    df["bl_flush"] = t2 * np.where(fs < L, nw * L / fs, np.ceil(nw / tw))
    df["bl_fast"] = ((wc == 2) & (df["ac"] == 2) & (cin % 16 == 0)).astype(float)
    # depthwise
    cp = cin + (cin % 2)
    rows = np.where(dw, _dw_rows(df) if dw.any() else 0, 0)
    df["dw_rows"] = rows
    df["dw_conv"] = rows * df["in_w"] * cp
    df["dw_wt"] = kh * kw * cp
    df["dw_pp"] = P * cp / 2
    df["dw_mac"] = P * cp / 2 * kh * kw
    df["dw_oh"] = df["out_h"].astype(float)
    df["fast8"] = ((wc == 8) & (df["ac"] == 8) & (cin % 4 == 0)).astype(float)
    return df


def _design(df: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """One block of columns per kernel variant (dispatcher choice), each term a loop of the kernel:
    dual-MAC: 2x2 / 4x1 tiles x weight words per container, im2col per pixel / tap / element
    (inside vs. padding, per container pair, int8 fast path), zero tail, requant per output
    container; byte-lane: 4-product steps, flushes, tiles, im2col; depthwise: weight widening,
    input-row conversion, channel-pair MACs (3-wide unrolled or general), requant; + constants."""
    cols, names = [], []
    var = df["var"].to_numpy()
    wc, ac, oc = df["wc"].to_numpy(), df["ac"].to_numpy(), df["o_cont"].to_numpy()

    def add(name, v):
        names.append(name)
        cols.append(np.asarray(v, dtype=float))

    for v in (2, 3, 5):  # im2col + GEMM variants
        m = (var == v).astype(float)
        vn = VARIANT_NAMES[v]
        add(f"{vn}:const", m)
        add(f"{vn}:pix", m * df["pix"])
        add(f"{vn}:taps_in", m * df["taps_in"])
        add(f"{vn}:taps_out", m * df["taps_out"])
        add(f"{vn}:el_out", m * df["el_out"])
        for w in WC:
            add(f"{vn}:w{w}:tail", m * (wc == w) * df["tail"])
            for a in AC:
                fast = df["fast8"] if (v != 3 and w == 8 and a == 8) else df["bl_fast"] if (v == 3 and w == 2 and a == 2) else 0
                add(f"{vn}:w{w}a{a}:el_in", m * (wc == w) * (ac == a) * df["el_in"] * (1 - fast))
                if not np.isscalar(fast):
                    add(f"{vn}:w{w}a{a}:el_in_fast", m * (wc == w) * (ac == a) * df["el_in"] * fast)
        for o in O_CONTS:
            add(f"{vn}:o{o}:outs", m * (oc == o) * df["outs"])
        if v == 3:
            add(f"{vn}:tiles", m * df["bl_tiles"])
            add(f"{vn}:flush", m * df["bl_flush"])
            for w in WC[:3]:
                add(f"{vn}:w{w}:steps", m * (wc == w) * df["bl_steps"])
        else:
            add(f"{vn}:t22", m * df["t22"])
            add(f"{vn}:t41", m * df["t41"])
            for w in WC:
                add(f"{vn}:w{w}:w22", m * (wc == w) * df["w22"])
                add(f"{vn}:w{w}:w41", m * (wc == w) * df["w41"])
    m = (var == 4).astype(float)
    add("dw:const", m)
    add("dw:oh", m * df["dw_oh"])
    add("dw:rows", m * df["dw_rows"])
    for a in AC:
        add(f"dw:a{a}:conv", m * (ac == a) * df["dw_conv"] * (1 - (a == 8) * (df["in_c"] % 2 == 0)))
    add("dw:a8:conv_fast", m * (ac == 8) * (df["in_c"] % 2 == 0) * df["dw_conv"])
    for w in WC:
        add(f"dw:w{w}:wt", m * (wc == w) * df["dw_wt"])
    add("dw:pp", m * df["dw_pp"])
    add("dw:mac_k3", m * (df["k_w"] == 3) * df["dw_mac"])
    add("dw:mac_gen", m * (df["k_w"] != 3) * df["dw_mac"])
    add("dw:pix", m * df["pix"])
    for o in O_CONTS:
        add(f"dw:o{o}:outs", m * (oc == o) * df["outs"])
    m = (var == 1).astype(float)  # portable (grouped convs): direct loops
    add("portable:const", m)
    for w in WC:
        for a in AC:
            add(f"portable:w{w}a{a}:macs", m * (wc == w) * (ac == a) * df["macs"])
    add("portable:outs", m * df["outs"])
    return np.column_stack(cols), names


def _learn_features(df: pd.DataFrame, prior: np.ndarray) -> np.ndarray:
    kind = df["kind"].to_numpy()
    oh = np.column_stack([(kind == k).astype(float) for k in KINDS] + [(df["var"] == v).astype(float) for v in VARIANT_NAMES])
    lg = lambda c: np.log2(df[c].to_numpy(float) + 1)  # noqa: E731
    num = np.column_stack([
        lg("macs"), lg("in_c"), lg("out_c"), lg("pix"), df["k_w"], df["stride"], df["w_bits"], df["a_bits"], df["wc"],
        df["ac"], np.log2(df["o_cont"]), np.log2(prior), lg("im2col"), df["in_c"] % 4, df["out_c"] % 4,
        df["pix"] % 2, lg("nw"), lg("taps_out"), lg("bl_flush"), lg("tail"), df["fast8"], df["bl_fast"],
    ])
    return np.column_stack([oh, num])


# ---------------------------------------------------------------------------------- base
class _TableModel:
    """Shared machinery: per-layer tables over (w, a, o) for a space, `cost` and `totals`."""

    name = ""
    unit = "cycles"
    fixed_cycles = 0.0
    overhead_coef: np.ndarray | None = None  # `latency.wholemodel.OverheadModel` coefficients

    def __init__(self) -> None:
        self._tables: dict[str, np.ndarray] = {}

    def overhead(self, space: SearchSpace) -> float:
        """Cycles of ``model_run`` outside the conv kernels: pooling / add / ReLU ops of the deployed
        model (zoo models: from deploy's lowering) and the fixed call overhead; 0 if not calibrated."""
        if self.overhead_coef is None:
            return self.fixed_cycles
        cache = self.__dict__.setdefault("_ovh", {})
        fp = space.fingerprint
        if fp not in cache:
            from latency.wholemodel import op_features, space_ops

            try:
                ops = space_ops(space)
            except (KeyError, ValueError):
                ops = []  # not a zoo model: the constant only
            cache[fp] = float(op_features(ops) @ np.asarray(self.overhead_coef)) + self.fixed_cycles
        return cache[fp]

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
        return Cost(float(per.sum() + self.overhead(space)), tuple(float(v) for v in per), self.unit)

    def totals(self, space: SearchSpace, policies: Sequence[Policy]) -> np.ndarray:
        if not len(policies):
            return np.zeros(0)
        bits = space.bits_matrix([space.effective(p) for p in policies])
        return self._per_layer(space, bits).sum(axis=1) + self.overhead(space)

    # persistence ------------------------------------------------------------------
    def save(self, path: str | Path, meta: dict | None = None) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {k: v for k, v in self.__dict__.items() if k not in ("_tables", "_ovh")}
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
            self.__dict__.update({k: v for k, v in other.__dict__.items() if k not in ("_tables", "_ovh")})
        self.name = f"latency-analytic-{self.target}"

    def fit(self, df: pd.DataFrame) -> AnalyticLatency:
        from scipy.optimize import nnls

        f = _frame(df, self.target)
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
        return self.predict_frame(_frame(configs, self.target))

    def predict_frame(self, f: pd.DataFrame) -> np.ndarray:
        X, _ = _design(f)
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
            self.__dict__.update({k: v for k, v in other.__dict__.items() if k not in ("_tables", "_ovh")})
        self.name = f"latency-learned-{self.target}"

    def fit(self, df: pd.DataFrame) -> LearnedLatency:
        from sklearn.ensemble import GradientBoostingRegressor

        prior = AnalyticLatency(self.target, load=False).fit(df)
        f = _frame(df, self.target)
        base = prior.predict_frame(f)
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
        f = _frame(configs, self.target)
        base = self.prior.predict_frame(f)
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
            # a table built for some output containers only answers the others with the nearest one
            for oi in range(len(O_CONTS)):
                for oj in sorted(range(len(O_CONTS)), key=lambda j: abs(j - oi)):
                    miss = np.isnan(t[..., oi])
                    t[..., oi][miss] = t[..., oj][miss]
            self._tables[fp] = t
        return self._tables[fp]

    def predict_configs(self, configs):  # pragma: no cover - a LUT only knows its own layers
        raise NotImplementedError("a lookup table prices only the layers it has simulated")


def _layers_key(space: SearchSpace) -> str:
    import hashlib

    return hashlib.sha256(json.dumps([layer.to_dict() for layer in space.layers], sort_keys=True).encode()).hexdigest()[:16]


def lut_configs(space: SearchSpace, o_conts: Sequence[int] | None = None) -> list[tuple[str, KernelConfig]]:
    """Every (layer, w, a, o) the space's policies can produce, as kernel configurations
    (``o_conts``: only these output containers; the last layer always writes int32)."""
    out = []
    for li, layer in enumerate(space.layers):
        ws = sorted(set(space.w_choices) | {w for i, w, _ in space.pinned if i == li})
        as_ = sorted(set(space.a_choices) | {a for i, _, a in space.pinned if i == li})
        if li == space.n_layers - 1:
            os_ = [32]
        else:
            nxt = sorted(set(space.a_choices) | {a for i, _, a in space.pinned if i == li + 1})
            os_ = sorted({a_container(b) for b in nxt})
            if o_conts is not None:
                os_ = [o for o in os_ if o in o_conts] or [max(os_)]
        for w in ws:
            for a in as_:
                for o in os_:
                    out.append((f"{li},{w},{a},{o}", config_from_layer(layer, w, a, o)))
    return out


def build_lut(space: SearchSpace, target: str, *, progress: bool = False,
              o_conts: Sequence[int] | None = None) -> dict[str, dict[str, float]]:
    from latency.profile import profile

    items = lut_configs(space, o_conts)
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
