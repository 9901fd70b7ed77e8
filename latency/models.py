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
  padding, per container pair, fast paths; with the row ring: rows converted once, words copied
  per tap, one run per kernel row), zero tails, requantization per output container,
  depthwise row conversion and channel-pair MACs (or byte fields, 4 outputs a MLA); the M7 ``poly`` kernel (1/2/4-bit
  weights x 2/4-bit activations): 2-pixel / 1-pixel tiles x weight words per container pair, word or
  element im2col; the A53 NEON entry: 2x2 tiles, 8-deep int16 steps +
  scalar tail (8-bit weights), 8-byte row blocks + half blocks on int16 SMLAL or SMLAL.8B tiles
  (2/4-bit activation containers) with SADALP folds, per-pixel column reorder into field order,
  narrowing and column sums, vector vs. scalar im2col per activation container; non-negative least
  squares on relative error.
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
import re
from collections.abc import Sequence
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from deploy.lower import conv_scratch_bytes
from latency.profile import (
    KERNEL_DIR,
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
VARIANT_NAMES = {1: "portable", 2: "dualmac", 3: "bytelane", 4: "dw", 5: "neon", 7: "poly", 8: "rows",
                 9: "n8", 10: "outer", 11: "dwn", 12: "nr", 13: "long", 14: "fields"}
LONG = 13  # the long-multiply kernel (C enum MICO_CONV_LONG = 9; 9-12 name the A53 paths here)
FIELDS = 14  # the in-place 4-bit-weight kernel (C enum MICO_CONV_FIELDS = 10)


@lru_cache(maxsize=1)
def rows_unrolled_cases() -> tuple[tuple[int, int], ...]:
    """The (weight pairs, pixel step) cases mico_conv_rows.c compiles with constant offsets: its
    ``RW_CASE(NP, PW)`` list, read from the kernel source (one list for both)."""
    src = (KERNEL_DIR / "mico_conv_rows.c").read_text()
    cases = tuple((int(a), int(b)) for a, b in re.findall(r"RW_CASE\((\d+),\s*(\d+)\)", src))
    if not cases:
        raise RuntimeError(f"no RW_CASE(pairs, step) list in {KERNEL_DIR / 'mico_conv_rows.c'}; the latency model "
                           "mirrors it: update rows_unrolled_cases with the kernel")
    return cases


def _variant_m7(df: pd.DataFrame) -> np.ndarray:
    """The kernel the dispatcher picks on a DSP (non-AArch64) build: asks deploy's own
    ``mico_conv_select`` through the host library, so the model follows kernel-selection changes."""
    import ctypes as ct

    from deploy.ckernels import ConvParams, library
    from latency.profile import KernelConfig

    lib = library()
    # deploy always passes the per-row weight sums (``wsum``); the poly kernel requires them, so the
    # query must carry a non-null pointer too (the dispatcher only tests it for NULL)
    dummy = ct.c_int32(0)
    out = np.zeros(len(df), dtype=np.int64)
    cache: dict[tuple, int] = {}
    cols = [f for f in KernelConfig.__dataclass_fields__]
    for i, row in enumerate(df[cols].itertuples(index=False, name=None)):
        if row not in cache:
            p = ConvParams(**KernelConfig(*row).c_params())
            p.wsum = ct.addressof(dummy)
            v = int(lib.mico_conv_select(ct.byref(p)))
            cache[row] = {9: LONG, 10: FIELDS}.get(v, v)
        out[i] = cache[row]
    return out


def _rows_fields(df: pd.DataFrame) -> np.ndarray:
    """Pixels per operand word of the first-layer kernel's sub-byte path (deploy's own
    ``mico_conv_rows_fields`` through the host library; 0: its 16-bit dual-MAC path) of every row."""
    from deploy.ckernels import rows_fields
    from latency.profile import KernelConfig

    cols = [f for f in KernelConfig.__dataclass_fields__]
    cache: dict[tuple, int] = {}
    out = np.zeros(len(df))
    for i, row in enumerate(df[cols].itertuples(index=False, name=None)):
        if row not in cache:
            cache[row] = rows_fields(KernelConfig(*row).c_params())
        out[i] = cache[row]
    return out


def _rows_lut(df: pd.DataFrame) -> np.ndarray:
    """Per row of the frame, the first-layer kernel's table-lookup plan (deploy.lower.rows_lut_plan,
    the mirror of the kernel's rl_plan that tests hold equal): columns G, cpw, nw, erow, whether its
    pixel loop has constant counts (rl_row's cases) and the window row length; zeros where the path
    does not run (not a first layer on a DSP build, or not 2-bit activations)."""
    from deploy.lower import rows_lut_plan
    from latency.profile import KernelConfig

    cols = [f for f in KernelConfig.__dataclass_fields__]
    cache: dict[tuple, tuple] = {}
    out = np.zeros((len(df), 6))
    var = df["var"].to_numpy()
    for i, row in enumerate(df[cols].itertuples(index=False, name=None)):
        if var[i] != 8:
            continue
        if row not in cache:
            p = KernelConfig(*row).c_params()
            L = rows_lut_plan(p)
            if L is None:
                cache[row] = (0,) * 6
            else:
                const = ((p["k_h"], L["G"], L["g"]) == (5, 2, 3) and L["nw"] <= 3) or (
                    (p["k_h"], L["G"], L["g"]) == (3, 1, 3) and L["nw"] <= 4)
                cache[row] = (L["G"], L["cpw"], L["nw"], L["erow"], float(const), L["lw"])
        out[i] = cache[row]
    return out


def _variant(df: pd.DataFrame, target: str) -> np.ndarray:
    dw = (df["kind"] == "depthwise").to_numpy()
    if target == "cortex-a53":  # AArch64 build (mico_conv_neon.c / mico_conv_dw.c, NEON paths)
        wc, ac = df["wc"].to_numpy(), df["ac"].to_numpy()
        int8 = (ac < 8) | (wc < 8)  # the int8 path (8-bit activations flipped; deploy always passes wsum)
        outer = int8 & _outer_ok(df)
        kh, kw = df["k_h"].to_numpy(), df["k_w"].to_numpy()
        nr = (df["in_c"].to_numpy() == 1) & (df["stride"].to_numpy() == 1) & (kh <= 16) & (kh * kw <= 256) & (
            df["out_w"].to_numpy() > 1)  # single-channel layers, output pixels in the lanes (nr_run)
        return np.where(dw, 11, np.where(nr, 12, np.where(outer, 10, np.where(int8, 9, 5))))
    return _variant_m7(df)


def _outer_ok(df: pd.DataFrame) -> np.ndarray:
    """mico_conv_neon.c: n8_outer_ok (short columns with output channels in the lanes)."""
    K = (df["k_h"] * df["k_w"] * df["in_c"]).to_numpy(float)
    wc, oc = df["wc"].to_numpy(float), df["out_c"].to_numpy(float)
    e = 128 / wc
    kpe = np.ceil(K / e) * e
    ocp = np.ceil(oc / 16) * 16
    return (K * wc < 128) & (oc <= 128) & ((df["out_h"] * df["out_w"]).to_numpy() > 1) & (oc * kpe > K * ocp)


def _valid_taps(n_out: np.ndarray, k: np.ndarray, s: np.ndarray, pad: np.ndarray, n_in: np.ndarray) -> np.ndarray:
    """Sum over output positions and kernel taps of [input index in range] (one dimension)."""
    out = np.zeros(len(n_out))
    for i, (no, kk, ss, pp, ni) in enumerate(zip(n_out, k, s, pad, n_in)):
        o = np.arange(no)[:, None] * ss - pp + np.arange(kk)[None, :]
        out[i] = ((o >= 0) & (o < ni)).sum()
    return out


def _dw_rows(df: pd.DataFrame, outside: bool = False) -> np.ndarray:
    """Input rows the depthwise kernel converts (ring of k_h rows, slot = row mod k_h); with
    ``outside`` the ring loads of rows outside the image (zero-filled) instead."""
    out = np.zeros(len(df))
    for i, (oh_n, kh, s, p, ih_n) in enumerate(zip(df["out_h"], df["k_h"], df["stride"], df["pad"], df["in_h"])):
        slot = {}
        n = 0
        for oh in range(oh_n):
            for k in range(kh):
                ih = oh * s - p + k
                if slot.get(ih % kh) != ih:
                    slot[ih % kh] = ih
                    n += (not 0 <= ih < ih_n) if outside else (0 <= ih < ih_n)
        out[i] = n
    return out


# gather-path terms (mico_gather.c): per pixel, per border row, byte rows / words, short and long
# sub-byte rows / stream words
G_FEATURES = ("g_pix", "g_border", "g_rows_b", "g_words_b", "g_rows_s", "g_rows_l", "g_words_l")
# row-ring terms (mico_ring_row, see _frame): copied words, kernel-row runs, converted rows
R_FEATURES = ("r_words", "r_runs", "r_rows")


def _interior(n, k, s, p, size) -> np.ndarray:
    """Output positions (per dimension) whose whole window lies inside the input."""
    n, k, s, p, size = (np.asarray(v, dtype=float) for v in (n, k, s, p, size))
    lo = np.ceil(p / s)
    hi = np.minimum(n - 1, np.floor((size - k + p) / s))
    return np.maximum(0.0, hi - lo + 1)


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
    # dual-MAC on Cortex-M7: sub-byte weights run the assembly pair loops (dm_asm_pays): per pixel pair
    # one loop over the floor(oc / 2) channel pairs (an odd last channel: a compiled 2x2 tile), and one
    # pixel as ceil(oc / 2) channel pairs over its compacted column; 8-bit weights (and every build
    # without the assembly) compiled 2x2 tiles, 4x1 for one pixel
    dm_asm = ((wc < 8) & (target == "cortex-m7")).astype(float)
    t41 = np.where(one, np.floor(oc / 4), 0) * (1 - dm_asm)
    t21 = np.where(one, np.ceil(oc / 2), 0) * dm_asm
    t22 = np.where(one, np.ceil((oc - 4 * t41) / 2) * (1 - dm_asm),
                   pairs * np.where(dm_asm > 0, oc % 2, np.ceil(oc / 2)))
    t22a = np.where(one, 0, pairs * np.floor(oc / 2)) * dm_asm
    df["t22"], df["t41"], df["t21"], df["t22a"] = t22, t41, t21, t22a
    df["w22"], df["w41"], df["w21"] = t22 * nw, t41 * nw, t21 * nw
    df["w22a"] = t22a * nw  # 2x2 tiles' weight words in the assembly pair loops
    df["dm_pl"] = np.where(one, 1, pairs) * dm_asm * (oc >= 2)  # pair-loop calls (one per pixel pair)
    df["dm_cmp"] = one * dm_asm * K  # the one-pixel column compacted in place
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
    df["bl_fs"] = fs  # steps between flushes (the kernel's compile-time case with the weight container)
    df["bl_words"] = t2 * nw
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
    # dual-MAC word-at-a-time im2col: whole input words per tap when in_c is a multiple of the block
    blk = np.maximum(32 / df["ac"].to_numpy(float), 32 / wc)
    df["words"] = (1 - df["fast8"]) * (cin % blk == 0)
    # receptive fields gathered as one packed stream (mico_gather.c) when in_c does not fill whole
    # words: dual-MAC outside its word paths, poly when in_c is not a multiple of a weight word's
    # elements; per pixel a call, per kernel row a copy, per 32 stream bits a word, and the slower
    # path of pixels whose window crosses the border
    g_dm = (1 - df["fast8"].to_numpy(float)) * (1 - df["words"].to_numpy(float))
    g_poly = (cin % (32 / wc) != 0).astype(float)
    # the fields kernel reads a 1x1 window over whole bytes in place and gathers any other field
    g_fl = 1.0 - ((kh == 1) & (kw == 1) & (sh == 1) & (df["stride"].to_numpy() == 1) & (ph == 0)
                  & (df["pad"].to_numpy() == 0) & ((cin * df["ac"].to_numpy(float)) % 8 == 0))
    gather = np.where(df["var"].to_numpy() == 7, g_poly, np.where(df["var"].to_numpy() == FIELDS, g_fl, g_dm))
    inner = _interior(df["out_h"].to_numpy(), df["k_h"].to_numpy(), sh, ph, df["in_h"].to_numpy()) * _interior(
        df["out_w"].to_numpy(), df["k_w"].to_numpy(), df["stride"].to_numpy(), df["pad"].to_numpy(),
        df["in_w"].to_numpy())
    acn = df["ac"].to_numpy(float)
    b8 = (acn == 8).astype(float)  # 8-bit containers: whole bytes, word copies
    short = (kw * cin * acn <= 25).astype(float)  # sub-byte rows read with one 32-bit load
    df["g_pix"] = gather * P
    df["g_border"] = gather * (P - inner) * kh
    df["g_rows_b"] = gather * b8 * P * kh
    df["g_words_b"] = gather * b8 * P * kh * np.ceil(kw * cin / 4)
    df["g_rows_s"] = gather * (1 - b8) * short * P * kh
    df["g_rows_l"] = gather * (1 - b8) * (1 - short) * P * kh
    df["g_words_l"] = gather * (1 - b8) * (1 - short) * P * kh * np.ceil(kw * cin * acn / 32)
    # row ring (mico_ring_row): whole-word im2col (dual-MAC fast8 / words, poly words) with
    # k_h k_w > stride_h stride_w converts each input row once (el_cv replaces the per-tap
    # elements in the conversion terms) and copies the converted words per tap (r_words: dual-MAC
    # 2 elements a word, poly G / E words an element), one run per kernel row (r_runs), each row
    # converted once (r_rows)
    sw = df["stride"].to_numpy(float)
    pays = (kh * kw > sh * sw).astype(float)
    g_e = np.where((wc == 4) & (acn == 4), 0.5, 0.25)  # poly: G / E column words per element
    ring = pays * np.where(df["var"].to_numpy() == 7, 1.0 - g_poly,
                           np.where(df["var"].to_numpy() == 2, 1.0 - g_dm, 0.0))
    in_h, in_w = df["in_h"].to_numpy(float), df["in_w"].to_numpy(float)
    df["ring"] = ring
    df["el_cv"] = df["el_in"].to_numpy(float) * (1 - ring) + ring * in_h * in_w * cin
    df["r_words"] = ring * df["el_in"].to_numpy(float) * np.where(df["var"].to_numpy() == 7, g_e, 0.5)
    df["r_runs"] = ring * P * kh
    df["r_rows"] = ring * in_h
    # depthwise k_w == 3, stride 1: channel-major ring rows, two output pixels per step (dw3_run)
    dw3 = dw & (df["k_w"] == 3).to_numpy() & (df["stride"] == 1).to_numpy() & (kh <= 16)
    df["dw3"] = dw3.astype(float)
    rows_out = np.where(dw, _dw_rows(df, outside=True) if dw.any() else 0, 0)
    w2 = df["in_w"].to_numpy(float) + 2 * df["pad"].to_numpy(float) + 2
    df["dw3_conv"] = rows * df["in_w"] * cin
    df["dw3_padz"] = rows * cin * (w2 - df["in_w"].to_numpy(float))
    df["dw3_memset"] = rows_out * cin * w2
    df["dw3_wt"] = cin * kh * 3
    it = df["out_h"].to_numpy(float) * cin * np.ceil(df["out_w"].to_numpy(float) / 2)
    df["dw3_it"] = it
    df["dw3_mac"] = it * kh
    df["dw3_ch"] = df["out_h"].to_numpy(float) * cin
    # its byte-ring paths (mico_conv_dw.c dw_group: activations of at most 4 bits, unsigned as
    # profiled; g = 255 // (max|w| max x), container maxima): byte fields (dwb, g >= 3 k_h) or byte
    # groups of min(g, 3) taps flushed into 16-bit lanes (dwp, g >= 2, rows of 12+ outputs in whole groups
    # of 4: dwp_pays); channel-major byte rows of (R + 5) & ~3 (R = out_w rounded up to 4), groups of 4
    # outputs per channel: 3x3 kernels every group in the assembly rows, others the odd last group in C
    acn = df["ac"].to_numpy(float)
    wmag = np.where(wc == 1, 1.0, 2.0 ** (wc - 1))
    g = np.where(acn <= 4, np.floor(255 / (wmag * (2.0 ** acn - 1))), 0)
    df["dwb"] = (dw3 & (g >= 3 * kh)).astype(float)
    ow_ = df["out_w"].to_numpy(float)
    dwp_pays = (ow_ >= 12) & (ow_ % 4 == 0)
    df["dwp2"] = (dw3 & (g < 3 * kh) & (g == 2) & dwp_pays).astype(float)
    df["dwp3"] = (dw3 & (g < 3 * kh) & (g >= 3) & dwp_pays).astype(float)
    wb = np.floor((np.ceil(ow_ / 4) * 4 + 5) / 4) * 4
    df["dwb_memset"] = (rows + rows_out) * cin * wb
    k3_ = kh == 3
    df["dwb_grp"] = df["out_h"].to_numpy(float) * cin * np.where(k3_, np.ceil(ow_ / 4), np.floor(ow_ / 4))
    df["dwb_tail"] = df["out_h"].to_numpy(float) * cin * (ow_ % 4 != 0) * ~k3_
    # M7 poly kernel: pixel pairs x channel pairs, 2-pixel tiles (P2) and the odd last pixel (P1), each
    # over the nw weight words
    cpairs = np.ceil(oc / 2)
    pk_t2 = np.floor(P / 2) * cpairs
    pk_t1 = (P % 2) * cpairs
    df["pk_t2"], df["pk_t1"] = pk_t2, pk_t1
    df["pk_w2"], df["pk_w1"] = pk_t2 * nw, pk_t1 * nw
    # M7 long-multiply kernel (mico_conv_long.c): F-field words (tw a tap, nt in all) padded to nch
    # blocks of an even nbe <= nb steps; asm pair loop over floor(oc / 2) channel pairs (per step 2
    # LDRD + 4 UMLAL, per block a computed jump and the extraction), the odd channel in C; the weights
    # converted once per call; the column: each input row converted once into the ring (when it pays)
    # and copied per tap
    F_l = np.where((wc <= 2) & (df["ac"].to_numpy() == 2), 4.0, 3.0)  # 1-bit weights as 2-bit containers
    tw_l = np.ceil(cin / F_l)
    nt_l = kh * kw * tw_l
    # nb: mico_field_steps (even) at the container maxima of each layout (W2A2 28, W4A4 24, W4A2 / W2A4 120)
    nbm = np.where(F_l == 4, 28.0, np.where((wc == 4) & (df["ac"].to_numpy() == 4), 24.0, 120.0))
    nch = np.ceil(nt_l / nbm)
    per = np.ceil(nt_l / np.maximum(nch, 1))
    ntp = nch * (per + per % 2)
    ppairs = np.ceil(P / 2)
    df["lg_tiles"] = ppairs * np.floor(oc / 2)
    df["lg_steps"] = df["lg_tiles"] * ntp
    df["lg_blocks"] = df["lg_tiles"] * nch
    df["lg_ctiles"] = ppairs * (oc % 2)
    df["lg_csteps"] = df["lg_ctiles"] * ntp
    df["lg_wt"] = (oc + oc % 2) * nt_l  # weight words converted
    df["lg_wtail"] = (oc + oc % 2) * kh * kw * (cin % F_l != 0)  # partial words (per-field loop)
    lg_ring = (kh * kw > sh * df["stride"].to_numpy(float)).astype(float)
    df["lg_ring"] = lg_ring
    df["lg_rowcv"] = lg_ring * df["in_h"].to_numpy(float) * df["in_w"].to_numpy(float) * tw_l  # ring words
    df["lg_tapcv"] = (1 - lg_ring) * vh * vw * tw_l  # words converted per tap (no ring)
    df["lg_copy"] = lg_ring * vh * vw * tw_l  # ring words copied into columns
    df["lg_runs"] = lg_ring * P * kh
    df["lg_pad"] = P * (ntp - nt_l)
    # A53 NEON: always 2x2 tiles (the odd pixel / channel is duplicated); per tile 8-deep int16 steps
    # + scalar tail (8-bit weights), 8-byte row blocks (64/c weights) + a 4-byte half block
    # (sub-byte weights), on int16 SMLAL (8-bit activation containers) or SMLAL.8B into int16 lanes
    # folded with SADALP every 16 blocks (2/4-bit containers); per pixel: column permute into field
    # order (sub-byte weights), narrowing to int8 and column sums (1-bit weights)
    nz_t = pairs * cpairs
    df["nz_tiles"] = nz_t
    per4 = np.where(wc == 8, 8, 32 / wc)
    kp8 = np.ceil(K / per4) * per4
    B = 64 / wc
    nb = np.floor(kp8 / B)
    half = (kp8 - nb * B > 0).astype(float)
    df["nz_kp8"] = kp8
    df["nz_steps"] = nz_t * np.floor(K / 8)
    df["nz_scal"] = nz_t * (K % 8)
    df["nz_blk"] = nz_t * nb
    df["nz_half"] = nz_t * half
    df["nz_fold"] = nz_t * (np.ceil(nb / 16) + half * (nb % 16 == 0))
    df["nz_col"] = P * kp8
    df["nz_pblk"] = P * nb  # full blocks de-interleaved (LD2 / LD4) per pixel
    df["nz_ptail"] = P * half * B / 2  # scalar permute of the final half block per pixel
    df["pairs"] = pairs
    df["nz_tailp"] = P * (kp8 - K)
    ac_ = df["ac"].to_numpy()
    vec = np.where(ac_ == 8, np.floor(cin / 8) * 8,
                   np.where((ac_ == 4) & (cin % 2 == 0), np.floor(cin / 16) * 16,
                            np.where((ac_ == 2) & (cin % 4 == 0), np.floor(cin / 16) * 16, 0)))
    # im2col per tap (vectors of channels) from 16 channels on; below, one widened run per kernel row
    small = (cin < 16).astype(float)
    df["nz_small"] = small
    df["nz_el_vec"] = (1 - small) * vh * vw * vec
    df["nz_el_sc"] = (1 - small) * vh * vw * (cin - vec)
    df["nz_vec_runs"] = (1 - small) * vh * vw * np.where(ac_ == 8, np.floor(cin / 8), np.floor(vec / 16))
    df["nz_run_el"] = small * vh * vw * cin
    df["nz_runs"] = small * vh * df["out_w"].to_numpy(float)
    # first-layer row ring (mico_conv_rows.c, 1-3 input channels): widened input rows, weights
    # widened once, per output channel 4-pixel groups x kernel rows x weight pairs (unrolled for the
    # (pairs, pixel step) cases the kernel compiles with constant offsets: `rows_unrolled_cases`),
    # 2-pixel requantization passes
    rw_np = np.ceil(kw * cin / 2)
    rw_pw = df["stride"].to_numpy(float) * cin
    spec = np.zeros(len(df), dtype=bool)
    for a, b in rows_unrolled_cases():
        spec |= (rw_np == a) & (rw_pw == b)
    quads = df["out_h"].to_numpy(float) * np.ceil(df["out_w"].to_numpy(float) / 4) * oc
    df["rw_spec"] = spec.astype(float)
    is_rw = (df["var"] == 8).to_numpy()
    vert = pd.DataFrame({"out_h": df["out_h"], "k_h": df["k_h"], "in_h": df["in_h"], "stride": sh, "pad": ph})
    df["rw_rows"] = np.where(is_rw, _dw_rows(vert[is_rw].reindex(vert.index, fill_value=1)), 0.0) if is_rw.any() else 0.0
    df["rw_conv"] = df["rw_rows"] * df["in_w"] * cin
    df["rw_wt"] = oc * kh * rw_np
    df["rw_quads"] = quads
    df["rw_kh"] = quads * kh
    df["rw_mac"] = quads * kh * rw_np
    df["rw_pairs"] = df["out_h"].to_numpy(float) * np.ceil(df["out_w"].to_numpy(float) / 2)
    # its sub-byte path (rf_conv): NX pixels per X word; per kernel row entering the ring, its words
    # (one element get each, then the in-place combination); per group of NX pixels and group of up
    # to 3 channel pairs, K X loads and one SMLAL and Y load per pair; per pair the digits, per
    # group one requantization call
    # its table-lookup path (2-bit activation containers, rl_conv): per input row entering the ring its
    # window bytes, per call the tables' words and the weights they read, per pixel k_h G lookups of nw
    # words (constant loops in the common shapes) and nw cpw fields unpacked, one requantization call a row
    lut = _rows_lut(df) if is_rw.any() else np.zeros((len(df), 6))
    rl = (lut[:, 0] > 0).astype(float)
    P_ = P.astype(float)
    looks = P_ * kh * lut[:, 0]
    rl_cols = {"rl": rl, "rl_conv": df["rw_rows"].to_numpy(float) * lut[:, 5], "rl_build": kh * lut[:, 3] * lut[:, 2],
               "rl_wt": rl * K * oc, "rl_look": looks, "rl_lookw": looks * lut[:, 2] * (1 - lut[:, 4]),
               "rl_lookw_c": looks * lut[:, 2] * lut[:, 4], "rl_unpack": P_ * lut[:, 2] * lut[:, 1],
               "rl_orows": rl * df["out_h"].to_numpy(float)}
    nx = np.where(is_rw & (rl == 0), _rows_fields(df) if is_rw.any() else 0.0, 0.0)
    rf = (nx > 0).astype(float)
    nxs = np.maximum(nx, 1)
    rf_len = (np.ceil(df["out_w"].to_numpy(float) / nxs) * nxs - 1) * rw_pw + kw * cin
    rf_groups = df["out_h"].to_numpy(float) * np.ceil(df["out_w"].to_numpy(float) / nxs)
    npairs = np.ceil(oc / 2)
    rf_cols = {"rf": rf, "rf_conv": rf * df["rw_rows"].to_numpy(float) * rf_len, "rf_wt": rf * npairs * K,
               "rf_groups": rf * rf_groups, "rf_xk": rf * rf_groups * np.ceil(npairs / 3) * K,
               "rf_kh": rf * rf_groups * np.ceil(npairs / 3) * kh, "rf_mac": rf * rf_groups * npairs * K,
               "rf_digits": rf * rf_groups * oc * nx}
    # these and the A53 counts join in one step (column by column the frame fragments)
    return pd.concat([df, pd.DataFrame({**rf_cols, **rl_cols, **_a53_features(df, P, K, cin, oc, kh, kw, wc)},
                                       index=df.index)],
                     axis=1)


def _a53_features(df: pd.DataFrame, P, K, cin, oc, kh, kw, wc) -> dict[str, np.ndarray]:
    """Loop counts of the Cortex-A53 NEON paths (deploy/kernels/mico_conv_neon.c, mico_conv_dw.c), as new
    columns."""
    f: dict[str, np.ndarray] = {}
    ac = df["ac"].to_numpy(float)
    xm = np.where(ac == 8, 128.0, 2.0 ** ac - 1)  # profiled activations are unsigned (8-bit: flipped)
    pm = np.where(wc == 1, 1.0, 2.0 ** (wc - 1)) * xm  # largest |w x| with container maxima
    F = 8 / wc
    in_w = df["in_w"].to_numpy(float)
    pad = df["pad"].to_numpy(float)
    var = df["var"].to_numpy()
    a53 = var >= 9  # rows of an A53 frame on the NEON paths (the loops below only for those)
    a53i16 = var == 5
    rows = np.zeros(len(df))
    if (a53 | a53i16).any():
        rows[a53 | a53i16] = _dw_rows(df[a53 | a53i16])
    ring8 = ((kh <= 16) & (df["out_w"].to_numpy() > 1)).astype(float)  # rows ring (int8 path: always fits)
    # the int16 path's ring where it fits the scratch (mico_conv_neon.c: nz_run)
    L = (in_w + 2 * pad) * cin + 16
    kp8 = np.ceil(K / 8) * 8
    sb = np.zeros(len(df))
    if a53i16.any():
        sb[a53i16] = [conv_scratch_bytes(KernelConfig(*r).c_params(), True)
                      for r in df[a53i16][list(KernelConfig.__dataclass_fields__)].itertuples(index=False, name=None)]
    ring16 = ring8 * (15 + 4 * kp8 + 16 + 24 * oc + 2 * kh * L <= sb)
    for tag, ring in (("a8", ring8), ("a16", ring16)):
        f[f"{tag}_ringrows"] = ring * rows
        f[f"{tag}_ringel"] = ring * rows * in_w * cin  # elements converted into the ring
        f[f"{tag}_ringpad"] = ring * rows * (2 * pad * cin + 16)  # zeroed per ring row
        f[f"{tag}_copies"] = ring * P * kh * np.ceil(kw * cin / (16 if tag == "a8" else 8))  # 16-byte copies
        f[f"{tag}_segs"] = ring * P * kh
        f[f"{tag}_in"] = (1 - ring) * df["el_in"].to_numpy(float)
        f[f"{tag}_out"] = (1 - ring) * df["el_out"].to_numpy(float)
        f[f"{tag}_taps_in"] = (1 - ring) * df["taps_in"].to_numpy(float)
        f[f"{tag}_taps_out"] = (1 - ring) * df["taps_out"].to_numpy(float)
        f[f"{tag}_oh"] = ring * df["out_h"].to_numpy(float) * kh
    # int8 tiles: 16-byte weight blocks of E = 128 / wc elements
    e = 128 / wc
    nblk = np.ceil(K / e)
    kpe = nblk * e
    one = P == 1
    npx = np.where(one, 1.0, 4.0)
    nc = np.where(one, 4.0, 2.0)
    tiles = np.ceil(P / npx) * np.ceil(oc / nc)
    mla = F * pm <= 127
    nb = np.where(mla, np.floor(127 / np.maximum(F * pm, 1)), np.floor(32767 / (2 * F * pm)))
    f["n8_one"] = one.astype(float)
    f["n8_mla"] = mla.astype(float)
    f["n8_tiles"] = tiles
    f["n8_blk"] = tiles * nblk
    f["n8_chunks"] = tiles * np.ceil(nblk / np.maximum(nb, 1))
    f["n8_place"] = P * nblk  # per pixel: block de-interleave (LD2 / LD4) and stores
    f["n8_kpe"] = P * kpe  # per pixel: zero tail, 1-bit column sums
    f["n8_flip"] = P * np.ceil(K / 16) * (ac == 8)
    f["n8_groups"] = np.ceil(P / npx)
    # short columns: output channels in the lanes
    G = np.ceil(oc / 16)
    step = np.where(127 / pm >= 3, np.floor(127 / pm), np.floor(32767 / pm))
    f["ou_mla"] = (127 / pm >= 3).astype(float)
    f["ou_steps"] = P * K * G
    f["ou_k"] = P * K
    f["ou_chunks"] = P * np.ceil(K / step) * G
    f["ou_wt"] = K * G * 16
    f["ou_g"] = P * G
    # int16 path (W8A8): 2x2 tiles, 8-deep steps
    # depthwise (NEON): 8 / 4 / 1 channels per step and tap
    taps = P * kh * kw
    f["dn_v8"] = taps * np.floor(cin / 8)
    f["dn_v4"] = taps * np.floor((cin % 8) / 4)
    f["dn_s1"] = taps * (cin % 4)
    f["dn_khw"] = P * kh * (np.floor(cin / 8) + np.floor((cin % 8) / 4) + (cin % 4))
    f["dn_rows"] = rows * in_w * (cin + cin % 2)
    f["dn_wt"] = kh * kw * cin
    # its int8 path (dw_neon8: activations of at most 4 bits, unsigned as profiled, every tap sum
    # inside int16 by container): 16 / 8 / 1 channels per step and tap, int8 ring rows
    acf = df["ac"].to_numpy(float)
    wmag = np.where(wc == 1, 1.0, 2.0 ** (wc - 1))
    f["dn8"] = ((acf <= 4) & (kh * kw * wmag * (2.0 ** acf - 1) <= 32767)).astype(float)
    f["dn8_v16"] = taps * np.floor(cin / 16)
    f["dn8_v8"] = taps * np.floor((cin % 16) / 8)
    f["dn8_s1"] = taps * (cin % 8)
    f["dn8_khw"] = P * kh * (np.floor(cin / 16) + np.floor((cin % 16) / 8) + (cin % 8))
    f["dn8_rows"] = rows * in_w * cin
    # single-channel layers (nr_run): per output row the ring, per 16 output pixels and channel a
    # call over the taps (MLA.16B / SMLAL into int8 / int16 lanes, or int16 x 2 for 8-bit inputs)
    grp = df["out_h"].to_numpy(float) * np.ceil(df["out_w"].to_numpy(float) / 16)
    f["nr_chan"] = grp * oc
    f["nr_taps"] = grp * oc * kh * kw
    nr_mla = (ac < 8) & (127 / pm >= 3)
    f["nr_mla"] = nr_mla.astype(float)
    f["nr_folds"] = grp * oc * np.floor(kh * kw / np.where(nr_mla, np.floor(127 / pm), np.floor(32767 / pm)))
    f["nr_gather"] = P * oc
    return f

def _design(df: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """One block of columns per kernel variant (dispatcher choice), each term a loop of the kernel:
    dual-MAC: 2x2 / 4x1 tiles x weight words per container, im2col per pixel / tap / element
    (inside vs. padding, per container pair, int8 fast path), the gathered-field path (per pixel,
    border row, byte / short / long row, stream word), the row ring (copied words, kernel-row runs,
    converted rows), zero tail, requant per output container; byte-lane: 4-product steps, flushes,
    tiles, im2col; depthwise: weight widening,
    input-row conversion, channel-pair MACs (3-wide unrolled or general), requant; + constants."""
    cols, names = [], []
    var = df["var"].to_numpy()
    wc, ac, oc = df["wc"].to_numpy(), df["ac"].to_numpy(), df["o_cont"].to_numpy()

    def add(name, v):
        names.append(name)
        cols.append(np.asarray(v, dtype=float))

    def ring_kernel(vn: str, m, rows, conv, wt) -> None:  # kernels over a ring of converted input rows
        add(f"{vn}:const", m)
        add(f"{vn}:oh", m * df["dw_oh"])
        add(f"{vn}:rows", m * rows)
        for a in AC:
            add(f"{vn}:a{a}:conv", m * (ac == a) * conv)
        for w in WC:
            add(f"{vn}:w{w}:wt", m * (wc == w) * wt)

    for v in (2, 3):  # im2col + GEMM variants (M7 / portable builds)
        m = (var == v).astype(float)
        vn = VARIANT_NAMES[v]
        add(f"{vn}:const", m)
        add(f"{vn}:pix", m * df["pix"])
        add(f"{vn}:taps_in", m * df["taps_in"])
        add(f"{vn}:taps_out", m * df["taps_out"])
        if v == 2:
            add(f"{vn}:el_out", m * df["el_out"] * (1 - df["words"]))
            add(f"{vn}:el_out_words", m * df["el_out"] * df["words"])
        else:
            add(f"{vn}:el_out", m * df["el_out"])
        for w in WC:
            add(f"{vn}:w{w}:tail", m * (wc == w) * df["tail"])
            for a in AC:
                if v == 3:
                    fast = df["bl_fast"] if (w == 2 and a == 2) else 0
                else:
                    fast = df["fast8"] if (w == 8 and a == 8) else df["words"]
                add(f"{vn}:w{w}a{a}:el_in", m * (wc == w) * (ac == a) * df["el_in"] * (1 - fast))
                if not np.isscalar(fast):
                    add(f"{vn}:w{w}a{a}:el_in_fast", m * (wc == w) * (ac == a) * df["el_cv"] * fast)
        for o in O_CONTS:
            add(f"{vn}:o{o}:outs", m * (oc == o) * df["outs"])
        if v == 2:
            for g in G_FEATURES:
                add(f"{vn}:{g}", m * df[g])
            for r in R_FEATURES:
                add(f"{vn}:{r}", m * df[r])
        if v == 3:
            add(f"{vn}:tiles", m * df["bl_tiles"])
            add(f"{vn}:flush", m * df["bl_flush"])
            for w in WC[:3]:
                add(f"{vn}:w{w}:words", m * (wc == w) * df["bl_words"])  # 2 weight-word loads + XOR per tile
                for f_ in (1, 2, 4, 8):  # unrolled step loop per (container, flush spacing) case
                    if f_ <= 8 // w:
                        add(f"{vn}:w{w}fs{f_}:steps", m * (wc == w) * (df["bl_fs"] == f_) * df["bl_steps"])
        else:
            add(f"{vn}:t22", m * df["t22"])
            add(f"{vn}:t41", m * df["t41"])
            add(f"{vn}:t21", m * df["t21"])
            add(f"{vn}:t22a", m * df["t22a"])
            add(f"{vn}:pl", m * df["dm_pl"])
            add(f"{vn}:cmp", m * df["dm_cmp"])
            for w in WC:
                add(f"{vn}:w{w}:w22", m * (wc == w) * df["w22"])
                add(f"{vn}:w{w}:w41", m * (wc == w) * df["w41"])
                if w < 8:
                    add(f"{vn}:w{w}:w22a", m * (wc == w) * df["w22a"])
                    add(f"{vn}:w{w}:w21", m * (wc == w) * df["w21"])
    # M7 poly kernel (1/2/4-bit weight x 2/4-bit activation containers, deploy/kernels/mico_conv_poly.c):
    # 2-pixel x 2-channel tiles and a one-pixel tail; per tile and weight word one shift/AND per field
    # group and F products per MLA/MUL, extraction schedule fixed per (weight, activation) layout;
    # im2col whole words when in_c is a multiple of the 32/c elements of a weight word, else per element
    m = (var == 7).astype(float)
    E = 32 / np.maximum(wc, 1)
    words = (df["in_c"].to_numpy(float) % E == 0).astype(float)
    add("poly:const", m)
    add("poly:pix", m * df["pix"])
    add("poly:taps_in", m * df["taps_in"])
    add("poly:taps_out", m * df["taps_out"])
    add("poly:t2", m * df["pk_t2"])
    add("poly:t1", m * df["pk_t1"])
    for w in (1, 2, 4):
        for a in (2, 4):
            mwa = m * (wc == w) * (ac == a)
            add(f"poly:w{w}a{a}:wp2", mwa * df["pk_w2"])
            add(f"poly:w{w}a{a}:wp1", mwa * df["pk_w1"])
            add(f"poly:w{w}a{a}:el_in_words", mwa * words * df["el_cv"])
            add(f"poly:w{w}a{a}:el_in", mwa * (1 - words) * df["el_in"])
            add(f"poly:w{w}a{a}:el_out", mwa * df["el_out"])
            add(f"poly:w{w}a{a}:tail", mwa * df["tail"])
    for o in O_CONTS:
        add(f"poly:o{o}:outs", m * (oc == o) * df["outs"])
    for g in (*G_FEATURES, *R_FEATURES):
        add(f"poly:{g}", m * df[g])
    m = (var == LONG).astype(float)  # M7 long-multiply kernel (features: _frame, lg_*)
    add("long:const", m)
    add("long:pix", m * df["pix"])
    add("long:taps_out", m * df["taps_out"])
    add("long:pad", m * df["lg_pad"])
    for f_ in ("tiles", "steps", "blocks", "ctiles", "csteps", "runs"):
        add(f"long:{f_}", m * df[f"lg_{f_}"])
    for w in (1, 2, 4):
        add(f"long:w{w}:wt", m * (wc == w) * df["lg_wt"])
        add(f"long:w{w}:wtail", m * (wc == w) * df["lg_wtail"])
    for a in (2, 4):
        ma = m * (ac == a)
        add(f"long:a{a}:rowcv", ma * df["lg_rowcv"])
        add(f"long:a{a}:tapcv", ma * df["lg_tapcv"])
        add(f"long:a{a}:copy", ma * df["lg_copy"])
    for o in O_CONTS:
        add(f"long:o{o}:outs", m * (oc == o) * df["outs"])
    # M7 fields kernel (mico_conv_fields.c): per pixel the column (3 words per weight word, a pass per
    # word, whole 4-bit words faster), gathered first unless read in place; then one assembly loop over
    # the channels (per channel setup and the computed entry by nw % 4; per weight word LDM, LDR, EOR,
    # 3 AND + 3 UMLAL; per 2 words a flush; per 4 a loop test)
    m = (var == FIELDS).astype(float)
    nwf = df["nw"].to_numpy(float)
    add("fields:const", m)
    add("fields:pix", m * df["pix"])
    for a in (2, 4):
        add(f"fields:a{a}:col", m * (ac == a) * df["pix"] * nwf)
    add("fields:chans", m * df["outs"])
    add("fields:odd", m * df["outs"] * (nwf % 2))
    add("fields:words", m * df["outs"] * nwf)
    for g in G_FEATURES:
        add(f"fields:{g}", m * df[g])
    for o in O_CONTS:
        add(f"fields:o{o}:outs", m * (oc == o) * df["outs"])
    def a53_col(vn: str, m: np.ndarray, t: str) -> None:  # a pixel's column: row ring or im2col (t: a8 / a16)
        for f in ("ringrows", "ringpad", "oh", "copies", "segs", "taps_in", "taps_out", "out"):
            add(f"{vn}:{f}", m * df[f"{t}_{f}"])
        for a in AC:
            add(f"{vn}:a{a}:ringel", m * (ac == a) * df[f"{t}_ringel"])
            add(f"{vn}:a{a}:el_in", m * (ac == a) * df[f"{t}_in"])
        for o in O_CONTS:
            add(f"{vn}:o{o}:outs", m * (oc == o) * df["outs"])

    m = (var == 5).astype(float)  # A53 int16 path (8-bit weights and activations): 2x2 SMLAL tiles
    add("neon:const", m)
    add("neon:pix", m * df["pix"])
    add("neon:pairs", m * df["pairs"])
    add("neon:tiles", m * df["nz_tiles"])
    a53_col("neon", m, "a16")
    add("neon:tail", m * df["nz_tailp"])
    add("neon:steps", m * df["nz_steps"])
    add("neon:scal", m * df["nz_scal"])
    m = (var == 9).astype(float)  # A53 int8 tiles: 2 channels x 4 pixels (4 x 1 for one pixel)
    add("n8:const", m)
    add("n8:pix", m * df["pix"])
    add("n8:groups", m * df["n8_groups"])
    a53_col("n8", m, "a8")
    add("n8:kpe", m * df["n8_kpe"])
    add("n8:flip", m * df["n8_flip"])
    add("n8:w1:colsum", m * (wc == 1) * df["n8_kpe"])
    for one, tag in ((0, "px4"), (1, "px1")):
        mo = m * (df["n8_one"] == one)
        add(f"n8:{tag}:tiles", mo * df["n8_tiles"])
        add(f"n8:{tag}:chunks", mo * df["n8_chunks"])
        for w in WC:
            add(f"n8:{tag}:w{w}:place", mo * (wc == w) * df["n8_place"])
            for ml, mt in ((1, "mla"), (0, "mul")):
                add(f"n8:{tag}:w{w}:{mt}:blk", mo * (wc == w) * (df["n8_mla"] == ml) * df["n8_blk"])
    m = (var == 10).astype(float)  # A53 short columns: output channels in the lanes
    add("outer:const", m)
    add("outer:pix", m * df["pix"])
    a53_col("outer", m, "a8")
    add("outer:flip", m * df["n8_flip"])
    for w in WC:
        add(f"outer:w{w}:wt", m * (wc == w) * df["ou_wt"])
    add("outer:k", m * df["ou_k"])
    add("outer:g", m * df["ou_g"])
    for ml, mt in ((1, "mla"), (0, "mul")):
        add(f"outer:{mt}:steps", m * (df["ou_mla"] == ml) * df["ou_steps"])
        add(f"outer:{mt}:chunks", m * (df["ou_mla"] == ml) * df["ou_chunks"])
    m = (var == 12).astype(float)  # A53 single-channel layers: output pixels in the lanes
    ring_kernel("nr", m, df["dw_rows"], df["dw_rows"] * df["in_w"], df["out_c"] * df["k_h"] * df["k_w"])
    add("nr:pix", m * df["pix"])
    add("nr:chan", m * df["nr_chan"])
    for mode, sel in (("a8", ac == 8), ("mla", (ac < 8) & (df["nr_mla"] == 1)), ("mul", (ac < 8) & (df["nr_mla"] == 0))):
        add(f"nr:{mode}:taps", m * sel * df["nr_taps"])
    add("nr:folds", m * df["nr_folds"])
    add("nr:gather", m * df["nr_gather"])
    for o in O_CONTS:
        add(f"nr:o{o}:outs", m * (oc == o) * df["outs"])
    m8 = (var == 11) * df["dn8"].to_numpy()  # A53 NEON depthwise, int8 lanes
    ring_kernel("dwn8", m8, df["dw_rows"], df["dn8_rows"], df["dn_wt"])
    add("dwn8:pix", m8 * df["pix"])
    for t in ("v16", "v8", "s1", "khw"):
        add(f"dwn8:{t}", m8 * df[f"dn8_{t}"])
    for o in O_CONTS:
        add(f"dwn8:o{o}:outs", m8 * (oc == o) * df["outs"])
    m = (var == 11) * (1 - df["dn8"].to_numpy())  # A53 NEON depthwise, int16 lanes
    ring_kernel("dwn", m, df["dw_rows"], df["dn_rows"], df["dn_wt"])
    add("dwn:pix", m * df["pix"])
    add("dwn:v8", m * df["dn_v8"])
    add("dwn:v4", m * df["dn_v4"])
    add("dwn:s1", m * df["dn_s1"])
    add("dwn:khw", m * df["dn_khw"])
    for o in O_CONTS:
        add(f"dwn:o{o}:outs", m * (oc == o) * df["outs"])
    # depthwise 3-wide, stride 1, on a byte ring: byte fields (dwb) or byte groups of 2 / 3 taps
    byte = df["dwb"].to_numpy() + df["dwp2"].to_numpy() + df["dwp3"].to_numpy()
    mb = (var == 4) * byte
    add("dwb:const", mb)
    add("dwb:oh", mb * df["dw_oh"])
    add("dwb:rows", mb * df["dw_rows"])
    for a in (2, 4):
        add(f"dwb:a{a}:conv", mb * (ac == a) * df["dw3_conv"])
    add("dwb:memset", mb * df["dwb_memset"])
    for w in WC:
        add(f"dwb:w{w}:wt", mb * (wc == w) * df["dw3_wt"])
    # 8-bit outputs go straight out (every shift > 32, as profiled) where the row is whole groups of 4
    direct = ((oc == 8) & (df["out_w"].to_numpy() % 4 == 0)).astype(float)
    kh = df["k_h"].to_numpy(float)
    k3 = (kh == 3).astype(float)  # 3x3: assembly rows over every channel (requantized bytes or raw sums)
    sels = (("asm", k3 * direct), ("asms", k3 * (1 - direct)), ("c", 1 - k3))
    add("dwb:asm:ch", mb * k3 * df["dw3_ch"])
    add("dwb:c:ch", mb * (1 - k3) * df["dw3_ch"])
    for path in ("dwb", "dwp2", "dwp3"):
        mp = (var == 4) * df[path].to_numpy()
        for tag, sel in sels:
            add(f"{path}:{tag}:grp", mp * sel * df["dwb_grp"])
        add(f"{path}:tail", mp * df["dwb_tail"])
    for o in O_CONTS:
        if o != 8:
            add(f"dwb:o{o}:outs", mb * (oc == o) * df["outs"])
    m3 = (var == 4) * df["dw3"].to_numpy() * (1 - byte)  # the rest: int16 channel pairs
    add("dw3:const", m3)
    add("dw3:oh", m3 * df["dw_oh"])
    add("dw3:rows", m3 * df["dw_rows"])
    for a in AC:
        add(f"dw3:a{a}:conv", m3 * (ac == a) * df["dw3_conv"])
    add("dw3:padz", m3 * df["dw3_padz"])
    add("dw3:memset", m3 * df["dw3_memset"])
    for w in WC:
        add(f"dw3:w{w}:wt", m3 * (wc == w) * df["dw3_wt"])
    for tag, sel in sels:  # assembly rows for 3x3 (requantized bytes or raw sums), else C
        add(f"dw3:{tag}:it", m3 * sel * df["dw3_it"])
        add(f"dw3:{tag}:mac", m3 * sel * df["dw3_mac"])
        add(f"dw3:{tag}:ch", m3 * sel * df["dw3_ch"])
    add("dw3:tail", m3 * k3 * df["out_h"] * df["in_c"] * (df["out_w"] % 2))
    for o in O_CONTS:
        add(f"dw3:o{o}:outs", m3 * (oc == o) * df["outs"])
    m = (var == 4) * (1 - df["dw3"].to_numpy())  # depthwise, general path
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
    m = (var == 8) * (1 - df["rf"].to_numpy() - df["rl"].to_numpy())  # first-layer row ring, 16-bit dual MACs
    ring_kernel("rows", m, df["rw_rows"], df["rw_conv"], df["rw_wt"])
    add("rows:quads", m * df["rw_quads"])
    for sp_, sel in (("spec", df["rw_spec"]), ("gen", 1 - df["rw_spec"])):
        add(f"rows:{sp_}:kh", m * sel * df["rw_kh"])
        add(f"rows:{sp_}:mac", m * sel * df["rw_mac"])
    add("rows:pairs", m * df["rw_pairs"])
    for o in O_CONTS:
        add(f"rows:o{o}:outs", m * (oc == o) * df["outs"])
    m = df["rl"].to_numpy()  # its table-lookup path (2-bit activations)
    add("rowsl:const", m)
    add("rowsl:rows", m * df["rw_rows"])
    for f_ in ("conv", "build", "wt", "look", "lookw", "lookw_c", "unpack", "orows"):
        add(f"rowsl:{f_}", df[f"rl_{f_}"])
    for o in O_CONTS:
        add(f"rowsl:o{o}:outs", m * (oc == o) * df["outs"])
    m = df["rf"].to_numpy()  # its sub-byte path (SMLAL over NX pixels x 2 channels)
    add("rowsf:const", m)
    add("rowsf:rows", m * df["rw_rows"])
    for a in (2, 4):
        add(f"rowsf:a{a}:conv", m * (ac == a) * df["rf_conv"])
    for w in (1, 2, 4):
        add(f"rowsf:w{w}:wt", m * (wc == w) * df["rf_wt"])
    for f_ in ("groups", "xk", "kh", "mac", "digits"):
        add(f"rowsf:{f_}", m * df[f"rf_{f_}"])
    for o in O_CONTS:
        add(f"rowsf:o{o}:outs", m * (oc == o) * df["outs"])
    m = (var == 1).astype(float)  # portable (grouped convs): direct loops
    add("portable:const", m)
    for w in WC:
        for a in AC:
            add(f"portable:w{w}a{a}:macs", m * (wc == w) * (ac == a) * df["macs"])
    add("portable:outs", m * df["outs"])
    return np.column_stack(cols), names


def _learn_features(df: pd.DataFrame, prior: np.ndarray, target: str) -> np.ndarray:
    """Inputs of the learned correction: kind / variant one-hots and log loop counts (the Cortex-A53
    paths add their variants and counts for that target only, the Cortex-M7 long-multiply kernel its
    own for Cortex-M7)."""
    a53 = target == "cortex-a53"
    kind = df["kind"].to_numpy()
    variants = [v for v in VARIANT_NAMES if v not in (LONG, FIELDS)] if a53 else [
        v for v in VARIANT_NAMES if v <= 8 or v in (LONG, FIELDS)]
    oh = np.column_stack([(kind == k).astype(float) for k in KINDS] + [(df["var"] == v).astype(float) for v in variants])
    lg = lambda c: np.log2(df[c].to_numpy(float) + 1)  # noqa: E731
    cols = [
        lg("macs"), lg("in_c"), lg("out_c"), lg("pix"), df["k_w"], df["stride"], df["w_bits"], df["a_bits"], df["wc"],
        df["ac"], np.log2(df["o_cont"]), np.log2(prior), lg("im2col"), df["in_c"] % 4, df["out_c"] % 4,
        df["pix"] % 2, lg("nw"), lg("taps_out"), lg("bl_flush"), lg("tail"), df["fast8"], df["bl_fast"],
        lg("pk_w2"), lg("nz_blk"), lg("nz_col"), df["in_c"] % 16, df["words"], df["dw3"], df["ring"],
    ]
    if a53:
        cols += [lg("n8_blk"), lg("ou_steps"), df["in_c"] % 8, df["dn8"]]
    else:
        cols += [lg("lg_steps"), lg("lg_blocks"), lg("rf_mac"), lg("rl_look"), df["dwb"], df["dwp2"] + df["dwp3"]]
    return np.column_stack([oh, np.column_stack(cols)])


# ---------------------------------------------------------------------------------- base
class _TableModel:
    """Shared machinery: per-layer tables over (w, a, o) for a space, `cost` and `totals`."""

    name = ""
    unit = "cycles"
    fixed_cycles = 0.0
    overhead_coef: np.ndarray | None = None  # `latency.wholemodel.OverheadModel` coefficients

    def __init__(self) -> None:
        self._tables: dict[str, np.ndarray] = {}

    def _overhead_plan(self, space: SearchSpace):
        """`latency.wholemodel.OverheadPlan` of the space (zoo models: the pooling / add / ReLU ops
        of deploy's lowering; others: the call overhead only), or None if not calibrated."""
        if self.overhead_coef is None:
            return None
        cache = self.__dict__.setdefault("_ovh", {})
        fp = space.fingerprint
        if fp not in cache:
            from latency.wholemodel import OverheadPlan, word_paths

            cache[fp] = OverheadPlan(self._space_ops(space), self.overhead_coef, words=word_paths(self.target))
        return cache[fp]

    def _space_ops(self, space: SearchSpace) -> list[dict]:
        """`latency.wholemodel.space_ops` of a zoo space (cached); [] for other models (not known)."""
        cache = self.__dict__.setdefault("_sops", {})
        fp = space.fingerprint
        if fp not in cache:
            from latency.wholemodel import space_ops

            try:
                cache[fp] = space_ops(space, name=_zoo_name(space))
            except (KeyError, ValueError):
                cache[fp] = []  # not a zoo model: the constant only
        return cache[fp]

    def overhead(self, space: SearchSpace, bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cycles of ``model_run`` outside the conv kernels for each row of ``space.bits_matrix``
        (effective policies), at the containers the policy gives each op's tensors: (per layer:
        the ops that follow that layer's a_bits, e.g. pooling the map it reads; the rest incl. the
        fixed call overhead). ``fixed_cycles`` only if not calibrated."""
        n = space.n_layers
        plan = self._overhead_plan(space)
        if plan is None:
            return np.zeros((len(bits), n)), np.full(len(bits), self.fixed_cycles)
        a = bits[:, n:]
        return plan.layer_cycles(a), plan.rest_cycles(a) + self.fixed_cycles

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

    def _fused_layers(self, space: SearchSpace) -> list[int]:
        """Layers whose max pooling deploy's lowering fuses into the conv (zoo models; others: none known).
        Their kernel writes a byte per element (the pooling pass is an op of the overhead plan)."""
        return sorted({o["layer"] for o in self._space_ops(space) if o["kind"] == "convpool"})

    def _per_layer(self, space: SearchSpace, bits: np.ndarray) -> np.ndarray:
        n = space.n_layers
        w, a = bits[:, :n].astype(np.int64), bits[:, n:].astype(np.int64)
        t = self.table(space)
        o = self._oidx(a)
        fused = self._fused_layers(space)
        if fused:
            o[:, fused] = O_CONTS.index(8)
        layers = np.arange(n)[None, :]
        return t[layers, w - 1, a - 1, o]

    def cost(self, space: SearchSpace, policy: Policy) -> Cost:
        p = space.effective(policy)
        bits = space.bits_matrix([p])
        lay, rest = self.overhead(space, bits)
        per = self._per_layer(space, bits)[0] + lay[0]  # a layer's kernel + the ops that follow its bits
        return Cost(float(per.sum() + rest[0]), tuple(float(v) for v in per), self.unit)

    def totals(self, space: SearchSpace, policies: Sequence[Policy]) -> np.ndarray:
        if not len(policies):
            return np.zeros(0)
        bits = space.bits_matrix([space.effective(p) for p in policies])
        lay, rest = self.overhead(space, bits)
        return (self._per_layer(space, bits) + lay).sum(axis=1) + rest

    # persistence ------------------------------------------------------------------
    def save(self, path: str | Path, meta: dict | None = None) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {k: v for k, v in self.__dict__.items() if k not in ("_tables", "_ovh", "_sops")}
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
            tgt = obj.__dict__.get("target", "<target>")
            raise KernelVersionMismatch(
                f"{path} was fitted on kernel library {kh}, deploy/kernels is now {kernel_hash()}: the latency "
                f"model no longer describes the kernels. Re-profile and refit with the four commands at the top of "
                f"results/latency/{tgt}/fidelity.md (profile, LUTs, whole models, fit + report; a few minutes per "
                "target)"
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
            self.__dict__.update({k: v for k, v in other.__dict__.items() if k not in ("_tables", "_ovh", "_sops")})
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
            self.__dict__.update({k: v for k, v in other.__dict__.items() if k not in ("_tables", "_ovh", "_sops")})
        self.name = f"latency-learned-{self.target}"

    def fit(self, df: pd.DataFrame) -> LearnedLatency:
        from sklearn.ensemble import GradientBoostingRegressor

        prior = AnalyticLatency(self.target, load=False).fit(df)
        f = _frame(df, self.target)
        base = prior.predict_frame(f)
        X = _learn_features(f, base, self.target)
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
        return base * np.exp(self.gbm.predict(_learn_features(f, base, self.target)))


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


def _zoo_name(space: SearchSpace) -> str | None:
    """The zoo model a space was traced from: its ``model_name``, else the zoo model with the same
    layers (spaces from `mico.trace.trace_space` carry no name; their non-conv ops still count)."""
    from mico.models import MODEL_ZOO

    name = getattr(space, "model_name", None)
    if name in MODEL_ZOO:
        return name
    key = _layers_key(space)
    if key not in _ZOO_KEYS:
        from latency.wholemodel import zoo_case

        for n in MODEL_ZOO:
            if n not in _ZOO_KEYS.values():
                _ZOO_KEYS[_layers_key(zoo_case(n).space)] = n
            if key in _ZOO_KEYS:
                break
    return _ZOO_KEYS.get(key)


_ZOO_KEYS: dict[str, str] = {}


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
    bad = df[df["status"] != 0]
    if len(bad):
        raise RuntimeError(f"{len(bad)} layer configurations did not run (status {sorted(set(bad['status']))}), e.g. "
                           f"{bad.iloc[0]['shape']}; a lookup table must not hold their cycles")
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
