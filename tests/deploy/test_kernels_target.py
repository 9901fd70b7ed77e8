"""Conv kernels on the ARM targets themselves (real DSP / NEON instructions): random shapes and bit
pairs through the dispatcher and every fast variant, each checked on the target against
mico_conv_portable (which the host property tests check against the contract)."""

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from kernel_ref import random_conv

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from bench_kernels import build_bench  # noqa: E402

TOOLS = {"cortex-m7": ("qemu-system-arm", "arm-none-eabi-gcc"), "cortex-a53": ("qemu-aarch64", "aarch64-linux-gnu-gcc")}


def _cases(n, seed):
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(n):
        cin = int(rng.choice([3, 8, 12, 16, 20, 32, 48, 64]))
        kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        h, w = int(rng.integers(kh, 7)), int(rng.integers(kw, 7))
        op, xb, _ = random_conv(rng, cin=cin, cout=int(rng.integers(1, 7)), h=h, w=w, k=(kh, kw),
                                stride=(int(rng.integers(1, 3)), int(rng.integers(1, 3))),
                                pad=(int(rng.integers(0, kh)), int(rng.integers(0, kw))), groups=1,
                                w_bits=int(rng.choice([1, 2, 3, 4, 8])), in_bits=int(rng.choice([1, 2, 3, 4, 8])),
                                in_signed=bool(rng.integers(0, 2)), out_bits=int(rng.choice([2, 4, 8])),
                                out_signed=bool(rng.integers(0, 2)))
        cases.append((op, xb))
    return cases


@pytest.mark.parametrize("target", ["cortex-m7", "cortex-a53"])
@pytest.mark.parametrize("variant", ["MICO_CONV_AUTO", "MICO_CONV_POLY"])
def test_conv_on_target_matches_portable(target, variant, tmp_path, monkeypatch):
    if not all(shutil.which(t) for t in TOOLS[target]):
        pytest.skip(f"needs {' and '.join(TOOLS[target])}")
    cases = _cases(60, 7)
    if variant == "MICO_CONV_POLY":
        cases = [(op, xb) for op, xb in cases if op.params["w_cont"] in (1, 2, 4) and op.params["in_cont"] in (2, 4)]
        assert cases
    monkeypatch.setenv("MICO_BENCH_VARIANT", variant)
    build_bench(cases, target, tmp_path)  # raises if any call fails or differs from portable


def test_long_on_m7(tmp_path, monkeypatch):
    """The long-multiply kernel's UMLAL loop on Cortex-M7: every 1/2/4-bit weight x 2/4-bit activation
    container pair (1-bit weights spread to 2-bit containers), signed and
    unsigned inputs, channel counts with and without padding fields, K from one extraction block to
    several (blocks from 2 to the longest, 120 steps: the computed jump into the unrolled run), odd
    channel and pixel counts, strides and padding."""
    if not all(shutil.which(t) for t in TOOLS["cortex-m7"]):
        pytest.skip(f"needs {' and '.join(TOOLS['cortex-m7'])}")
    rng = np.random.default_rng(11)
    cases = []
    for cin, k, stride, pad, (h, w) in [(5, (3, 3), (1, 1), (1, 1), (5, 6)), (6, (5, 5), (1, 1), (0, 0), (9, 8)),
                                        (16, (3, 3), (1, 1), (1, 1), (6, 6)), (17, (3, 1), (2, 1), (1, 0), (9, 5)),
                                        (32, (3, 3), (1, 2), (1, 1), (7, 9)), (64, (1, 1), (1, 1), (0, 0), (4, 5)),
                                        (120, (1, 3), (1, 1), (0, 1), (4, 6))]:  # W4A2 / W2A4: one block of 120
        for wb, ab, sg in ((4, 4, False), (2, 2, True), (4, 2, False), (2, 4, True), (3, 3, False), (1, 2, False),
                           (1, 4, True)):
            op, xb, _ = random_conv(rng, cin=cin, cout=int(rng.integers(1, 8)), h=h, w=w, k=k, stride=stride, pad=pad,
                                    groups=1, w_bits=wb, in_bits=ab, in_signed=sg, out_bits=int(rng.choice([2, 4, 8])))
            assert op.params["out_h"] * op.params["out_w"] >= 16
            cases.append((op, xb))
    monkeypatch.setenv("MICO_BENCH_VARIANT", "MICO_CONV_LONG")
    build_bench(cases, "cortex-m7", tmp_path)  # raises if any call fails or differs from portable


def _square_cases(seed, shapes, bits, couts):
    """Square layers (in_c, k, side, pad) x (w_bits, in_bits, signed) bit triples, random out_c and output
    container."""
    rng = np.random.default_rng(seed)
    cases = []
    for cin, k, hw, pad in shapes:
        for wb, ab, sg in bits:
            op, xb, _ = random_conv(rng, cin=cin, cout=int(rng.choice(couts)), h=hw, w=hw, k=(k, k), stride=(1, 1),
                                    pad=(pad, pad), groups=1, w_bits=wb, in_bits=ab, in_signed=sg,
                                    out_bits=int(rng.choice([2, 4, 8])))
            cases.append((op, xb))
    return cases


@pytest.mark.parametrize("target", ["cortex-m7", "cortex-a53"])
def test_fields_on_target(target, tmp_path, monkeypatch):
    """The in-place 4-bit-weight kernel (mico_conv_fields.c; its UMLAL channel loop on Cortex-M7):
    K with every remainder of 4 weight words (the loop's four entry points), one to many blocks,
    signed and unsigned 1-4-bit inputs, 1, 5 and 6 output channels, and gathered fields (3x3,
    padding, several pixels)."""
    if not all(shutil.which(t) for t in TOOLS[target]):
        pytest.skip(f"needs {' and '.join(TOOLS[target])}")
    cases = _square_cases(13, [(8, 1, 1, 0), (16, 1, 1, 0), (24, 1, 1, 0), (32, 1, 1, 0), (7, 1, 1, 0), (120, 1, 1, 0),
                               (400, 1, 1, 0), (37, 1, 1, 0), (12, 3, 4, 1), (5, 3, 3, 0)],
                          ((4, 4, False), (4, 2, False), (3, 4, True), (4, 2, True), (4, 1, False)), [1, 5, 6])
    monkeypatch.setenv("MICO_BENCH_VARIANT", "MICO_CONV_FIELDS")
    build_bench(cases, target, tmp_path)  # raises if any call fails or differs from portable


def test_dualmac_subbyte_weights_on_m7(tmp_path, monkeypatch):
    """The dual-MAC kernel's Cortex-M7 assembly pair loops for 1/2/4-bit weight containers: 2 channels x
    2 pixels (an odd last channel through the compiled tile), and one pixel over the compacted column
    (linear layers, the odd last pixel, an odd last channel as a pair of its row with itself), with
    8-bit signed and unsigned activations, short and long columns, K with and without a partial
    weight word."""
    if not all(shutil.which(t) for t in TOOLS["cortex-m7"]):
        pytest.skip(f"needs {' and '.join(TOOLS['cortex-m7'])}")
    cases = _square_cases(17, [(256, 1, 1, 0), (37, 1, 1, 0), (300, 1, 1, 0), (32, 3, 5, 1), (64, 3, 3, 0), (300, 1, 3, 0),
                               (16, 3, 4, 1), (8, 1, 3, 0), (12, 3, 3, 1)],
                          ((4, 8, False), (2, 8, True), (1, 8, False), (3, 8, True), (4, 4, False)), [1, 3, 6])
    monkeypatch.setenv("MICO_BENCH_VARIANT", "MICO_CONV_DUALMAC")
    build_bench(cases, "cortex-m7", tmp_path)  # raises if any call fails or differs from portable


@pytest.mark.parametrize("target", ["cortex-m7", "cortex-a53"])
def test_poly_one_bit_weights_on_target(target, tmp_path, monkeypatch):
    """The poly kernel's 1-bit-weight layouts (W1A2: 4 products per MLA, one word per extraction into
    16-bit lanes; W1A4: every product extracted) and their Cortex-M7 assembly: the channel-pair loop,
    the one-pixel loop (linear layers, the odd pixel), lane chunks (K past 341 / 68 weight words),
    word and gathered im2col (in_c a multiple of 32 or not, the row ring), padding, signed and
    unsigned 1-4-bit inputs, odd channel counts."""
    if not all(shutil.which(t) for t in TOOLS[target]):
        pytest.skip(f"needs {' and '.join(TOOLS[target])}")
    rng = np.random.default_rng(19)
    cases = []
    for cin, k, (h, w), pad in [(32, 1, (4, 5), 0), (64, 3, (4, 4), 1), (12, 3, (5, 5), 1), (7, 1, (3, 1), 0),
                                (400, 1, (1, 1), 0), (96, 1, (1, 1), 0), (2400, 1, (2, 1), 0), (11008, 1, (1, 2), 0),
                                (40, 3, (3, 3), 0)]:
        for wb, ab, sg in ((1, 2, False), (1, 1, True), (1, 4, False), (1, 3, True)):
            op, xb, _ = random_conv(rng, cin=cin, cout=int(rng.choice([1, 2, 5, 6])), h=h, w=w, k=(k, k),
                                    stride=(1, 1), pad=(pad, pad), groups=1, w_bits=wb, in_bits=ab, in_signed=sg,
                                    out_bits=int(rng.choice([2, 4, 8])))
            cases.append((op, xb))
    monkeypatch.setenv("MICO_BENCH_VARIANT", "MICO_CONV_POLY")
    build_bench(cases, target, tmp_path)  # raises if any call fails or differs from portable


@pytest.mark.parametrize("target", ["cortex-m7", "cortex-a53"])
def test_single_output_channel_on_target(target, tmp_path, monkeypatch):
    """One output channel through poly's two-pixel path (found by the latency profiler: the M7
    assembly pair loop ran with zero pairs, wrapped its count and ended in a bus fault)."""
    if not all(shutil.which(t) for t in TOOLS[target]):
        pytest.skip(f"needs {' and '.join(TOOLS[target])}")
    rng = np.random.default_rng(3)
    cases = []
    for cin in (12, 16):
        for wb, ab in ((4, 4), (2, 2), (4, 2), (2, 4)):
            op, xb, _ = random_conv(rng, cin=cin, cout=1, h=6, w=6, k=(3, 3), stride=(1, 1), pad=(1, 1), groups=1,
                                    w_bits=wb, in_bits=ab, in_signed=False, out_bits=8)
            cases.append((op, xb))
    monkeypatch.setenv("MICO_BENCH_VARIANT", "MICO_CONV_POLY")
    build_bench(cases, target, tmp_path)  # raises if any call fails or differs from portable


@pytest.mark.parametrize("target", ["cortex-m7", "cortex-a53"])
def test_rows_on_target(target, tmp_path, monkeypatch):
    """The first-layer row-ring kernel on the targets (SMLAD and unaligned loads on Cortex-M7; with
    sub-byte operands SMLAL over several pixels and two channels)."""
    if not all(shutil.which(t) for t in TOOLS[target]):
        pytest.skip(f"needs {' and '.join(TOOLS[target])}")
    rng = np.random.default_rng(5)
    cases = []
    for cin, k, stride, pad, (h, w) in [(1, (5, 5), (1, 1), (2, 2), (10, 10)), (3, (3, 3), (1, 1), (1, 1), (7, 9)),
                                        (2, (7, 7), (2, 2), (3, 3), (9, 11)), (1, (3, 3), (2, 1), (0, 1), (8, 7))]:
        for wb, ab, sg in ((8, 8, False), (4, 4, True), (2, 2, False), (1, 2, False), (2, 4, False), (4, 2, True)):
            op, xb, _ = random_conv(rng, cin=cin, cout=int(rng.integers(1, 7)), h=h, w=w, k=k, stride=stride, pad=pad,
                                    groups=1, w_bits=wb, in_bits=ab, in_signed=sg, out_bits=int(rng.choice([2, 4, 8])))
            cases.append((op, xb))
    monkeypatch.setenv("MICO_BENCH_VARIANT", "MICO_CONV_ROWS")
    build_bench(cases, target, tmp_path)  # raises if any call fails or differs from portable


def test_int8_path_on_a53(tmp_path):
    """The Cortex-A53 int8 path (activations in 2/4-bit containers, and 8-bit ones with sub-byte
    weights, unsigned ones flipped to x - 128): every weight container with every activation
    container and sign, 4-pixel convolution tiles with a partial last group and
    odd channel counts, single-pixel layers, partial last weight blocks, and K large enough for
    every fold (int8 -> int16 lanes after 128 folds, int16 -> int32 in SMLAL chunks)."""
    if not all(shutil.which(t) for t in TOOLS["cortex-a53"]):
        pytest.skip("needs qemu-aarch64 and aarch64-linux-gnu-gcc")
    rng = np.random.default_rng(11)
    cases = []
    for wb in (1, 2, 3, 4, 8):
        for ab in (1, 2, 4, 8):
            for sg in (False, True):
                cin = int(rng.choice([1, 3, 12, 16, 24, 40]))
                op, xb, _ = random_conv(rng, cin=cin, cout=int(rng.integers(1, 8)), h=5, w=7, k=(3, 3),
                                        stride=(1, int(rng.integers(1, 3))), pad=(1, 1), groups=1, w_bits=wb,
                                        in_bits=ab, in_signed=sg, out_bits=int(rng.choice([2, 4, 8])))
                cases.append((op, xb))
                op, xb, _ = random_conv(rng, cin=int(rng.integers(5, 400)), cout=int(rng.integers(1, 10)), h=1, w=1,
                                        k=(1, 1), stride=(1, 1), pad=(0, 0), groups=1, w_bits=wb, in_bits=ab,
                                        in_signed=sg, out_bits=None)
                cases.append((op, xb))
    # short columns (K w_cont < 128 bits) with many output channels: output channels in the lanes
    for wb, ab, sg, cin, k, cout in ((2, 2, False, 8, 1, 40), (1, 4, True, 3, 3, 17), (4, 2, False, 6, 3, 128),
                                     (2, 8, False, 16, 1, 24), (4, 4, False, 5, 1, 33), (8, 2, True, 3, 1, 64),
                                     (4, 8, True, 2, 3, 16), (2, 4, False, 60, 1, 100)):
        op, xb, _ = random_conv(rng, cin=cin, cout=cout, h=5, w=6, k=(k, k), stride=(1, 1), pad=(k // 2, k // 2),
                                groups=1, w_bits=wb, in_bits=ab, in_signed=sg, out_bits=int(rng.choice([2, 4, 8])),
                                mult_scale_log2=int(rng.choice([0, 7])))
        cases.append((op, xb))
    for wb, ab, cin in ((2, 4, 8300), (1, 4, 8400), (4, 4, 2300), (8, 4, 700), (8, 2, 700), (4, 8, 700), (1, 8, 900)):
        op, xb, _ = random_conv(rng, cin=cin, cout=3, h=1, w=1, k=(1, 1), stride=(1, 1), pad=(0, 0), groups=1,
                                w_bits=wb, in_bits=ab, in_signed=False, out_bits=None)
        cases.append((op, xb))
    build_bench(cases, "cortex-a53", tmp_path)  # raises if any call fails or differs from portable


@pytest.mark.parametrize("target", ["cortex-m7", "cortex-a53"])
def test_requant_store_on_target(target, tmp_path, monkeypatch):
    """The shared requantization pass with many output channels (the AArch64 path requantizes and
    packs 16 channels at a time): every shift > 32 (the high-word shortcut) and shifts from 28 (the
    64-bit path), every shift <= 32 with accumulators whose 32-bit shortcut overflows, 2/4/8-bit
    outputs, signed and unsigned, channel counts whose pixels start inside a byte."""
    if not all(shutil.which(t) for t in TOOLS[target]):
        pytest.skip(f"needs {' and '.join(TOOLS[target])}")
    rng = np.random.default_rng(13)
    cases = []
    for cout in (6, 16, 18, 23, 35, 48):
        for ob in (2, 4, 8):
            for wb, ab in ((2, 2), (4, 4), (8, 8)):
                for scale in (0, 7):
                    op, xb, _ = random_conv(rng, cin=8, cout=cout, h=3, w=3, k=(3, 3), stride=(1, 1), pad=(1, 1),
                                            groups=1, w_bits=wb, in_bits=ab, in_signed=False, out_bits=ob,
                                            out_signed=bool(rng.integers(0, 2)), mult_scale_log2=scale)
                    cases.append((op, xb))
    # every shift <= 32 (Cortex-M7: sp_q3): small sums that rarely saturate, and multipliers of 2^16
    # or more, where v 2^(32-k) often overflows 32 bits (the 64-bit fallback)
    for cout in (6, 16, 35):
        for ob in (2, 4, 8):
            for cin, k, bits, mult_range, bias in ((1, (5, 5), 2, (0.5, 2.0), 4), (16, (3, 3), 8, (65536.0, 131072.0), 2000)):
                op, xb, _ = random_conv(rng, cin=cin, cout=cout, h=6, w=6, k=k, stride=(1, 1), pad=(1, 1), groups=1,
                                        w_bits=bits, in_bits=bits, in_signed=False, out_bits=ob,
                                        out_signed=bool(rng.integers(0, 2)), mult_scale_log2=0, mult_range=mult_range,
                                        bias_max=bias)
                cases.append((op, xb))
    build_bench(cases, target, tmp_path)  # raises if any call fails or differs from portable


@pytest.mark.parametrize("target", ["cortex-m7", "cortex-a53"])
def test_depthwise_on_target(target, tmp_path, monkeypatch):
    """Depthwise convolutions on the targets (Cortex-M7: SMLAD pairs, the 3x3 path and its byte-field
    path; Cortex-A53: 8 and 4 channels per NEON step and single ones): channel counts on both sides of 4 and 8, 3x3 and
    other kernels, strides, padding, every container pair and output width."""
    if not all(shutil.which(t) for t in TOOLS[target]):
        pytest.skip(f"needs {' and '.join(TOOLS[target])}")
    rng = np.random.default_rng(17)
    cases = []
    for c in (1, 3, 4, 7, 8, 13, 16, 21, 32):
        k = (3, 3) if c % 2 else (int(rng.integers(1, 6)), int(rng.integers(1, 6)))
        stride = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        op, xb, _ = random_conv(rng, cin=c, cout=c, h=int(rng.integers(k[0], 9)), w=int(rng.integers(k[1], 9)), k=k,
                                stride=stride, pad=(int(rng.integers(0, k[0])), int(rng.integers(0, k[1]))), groups=c,
                                w_bits=int(rng.choice([1, 2, 4, 8])), in_bits=int(rng.choice([2, 4, 8])),
                                in_signed=bool(rng.integers(0, 2)), out_bits=int(rng.choice([2, 4, 8])),
                                mult_scale_log2=int(rng.choice([0, 7])))
        cases.append((op, xb))
    # the byte-field path (3-wide, stride_w 1, unsigned activations within the byte bound), 8-bit
    # outputs with every shift > 32 (the Cortex-M7 assembly row, requantizing where the row is whole
    # groups of 4, else raw sums for every group) and the rest; output widths with and without a
    # partial group of 4
    for c, k, stride, wb, ab, ob, ms, w in [(8, (3, 3), (1, 1), 2, 2, 8, 0, 9), (5, (3, 3), (2, 1), 4, 2, 8, 0, 7),
                                           (6, (5, 3), (1, 1), 2, 2, 8, 0, 10), (4, (3, 3), (1, 1), 1, 4, 8, 0, 6),
                                           (7, (3, 3), (1, 1), 2, 2, 4, 0, 9), (3, (1, 3), (1, 1), 4, 2, 8, 7, 5),
                                           # byte groups (W4A4, W2A4: rows of 12+ outputs in whole groups of 4),
                                           # their int16 fallback on ragged rows, and rows shorter than 4
                                           (6, (3, 3), (1, 1), 4, 4, 8, 0, 16), (5, (3, 3), (1, 1), 2, 4, 4, 0, 12),
                                           (5, (3, 3), (1, 1), 4, 4, 4, 0, 14), (4, (3, 3), (1, 1), 2, 2, 4, 0, 3),
                                           (9, (3, 3), (1, 1), 2, 2, 8, 0, 2)]:
        op, xb, _ = random_conv(rng, cin=c, cout=c, h=6, w=w, k=k, stride=stride, pad=(k[0] // 2, 1), groups=c,
                                w_bits=wb, in_bits=ab, in_signed=False, out_bits=ob, mult_scale_log2=ms)
        cases.append((op, xb))
    build_bench(cases, target, tmp_path)  # raises if any call fails or differs from portable


def test_single_channel_on_a53(tmp_path):
    """Cortex-A53 single-channel layers with stride_w 1 (first layers): output pixels in the lanes
    over a ring of input rows; int8 lanes with MLA (W2A2) or SMLAL folds (W4A4, W8A4: 17 taps a
    fold), int16 lanes for 8-bit activations; rows of 16 pixels with a partial last one, tall and
    wide kernels, vertical stride, padding, signed inputs."""
    if not all(shutil.which(t) for t in TOOLS["cortex-a53"]):
        pytest.skip("needs qemu-aarch64 and aarch64-linux-gnu-gcc")
    rng = np.random.default_rng(19)
    cases = []
    for (kh, kw), (h, w), sh, pad in (((5, 5), (12, 37), 1, (2, 2)), ((3, 3), (9, 16), 2, (1, 1)),
                                      ((7, 1), (10, 18), 1, (3, 0)), ((1, 9), (4, 40), 1, (0, 4)),
                                      ((5, 5), (8, 20), 1, (0, 0))):
        for wb, ab, sg in ((2, 2, False), (4, 4, True), (8, 4, False), (8, 8, False), (2, 8, True), (1, 2, False)):
            op, xb, _ = random_conv(rng, cin=1, cout=int(rng.integers(1, 20)), h=h, w=w, k=(kh, kw), stride=(sh, 1),
                                    pad=pad, groups=1, w_bits=wb, in_bits=ab, in_signed=sg,
                                    out_bits=int(rng.choice([2, 4, 8])), mult_scale_log2=int(rng.choice([0, 7])))
            cases.append((op, xb))
    build_bench(cases, "cortex-a53", tmp_path)  # raises if any call fails or differs from portable


@pytest.mark.parametrize("target", ["cortex-m7", "cortex-a53"])
def test_maxpool_on_target(target, tmp_path):
    """mico_maxpool's word paths (USUB8 / SEL on Cortex-M7, UMAX on AArch64; the host build runs the
    element loop) against numpy: 2x2 windows of stride 2 with whole-byte pixels of 4+ bytes, of 1-3
    bytes (a last chunk read as a word) and sub-byte pixels that do not fill whole bytes (LeNet-5's
    6 channels of 2 bits), odd input sizes, and the general path with padding; every container and
    sign."""
    if not all(shutil.which(t) for t in TOOLS[target]):
        pytest.skip(f"needs {' and '.join(TOOLS[target])}")
    from deploy.codegen import c_array
    from deploy.pack import pack
    from deploy.targets import COMMON_CFLAGS, TARGET_DIR, execute, get_target, kernel_objects
    from deploy.toolchain import KERNEL_DIR, require, run
    from mico.quant import act_range

    rng = np.random.default_rng(3)
    defs, calls = [], []
    i = 0
    for cont in (2, 4, 8):
        for signed in (False, True):
            for c, (h, w), k, s, pad in [(6, (8, 8), 2, 2, 0), (16, (7, 9), 2, 2, 0), (3, (6, 5), 2, 2, 0),
                                         (5, (5, 7), 2, 2, 0), (8, (6, 6), 3, 2, 1), (6, (5, 5), 3, 1, 1)]:
                oh, ow = (h + 2 * pad - k) // s + 1, (w + 2 * pad - k) // s + 1
                lo, hi = act_range(cont, signed)
                x = rng.integers(lo, hi + 1, size=(h, w, c))
                xp = np.full((h + 2 * pad, w + 2 * pad, c), lo - 1)
                xp[pad:pad + h, pad:pad + w] = x
                exp = np.stack([np.stack([xp[a * s:a * s + k, b * s:b * s + k].max(axis=(0, 1)) for b in range(ow)])
                                for a in range(oh)])
                xb, eb = pack(x.reshape(-1), cont), pack(exp.reshape(-1), cont)
                defs.append(f"static const uint8_t in{i}[] = {{ {c_array(xb)} }};")
                defs.append(f"static const uint8_t ex{i}[] = {{ {c_array(eb)} }};")
                defs.append(f"static const mico_pool_params p{i} = {{ .in_h = {h}, .in_w = {w}, .c = {c}, .out_h = {oh}, "
                            f".out_w = {ow}, .k_h = {k}, .k_w = {k}, .stride_h = {s}, .stride_w = {s}, .pad_h = {pad}, "
                            f".pad_w = {pad}, .in_cont = {cont}, .in_signed = {int(signed)} }};")
                calls.append(f"    memset(out, 0, sizeof out); /* the packing's spare bits of a last byte compare as 0 */\n"
                             f"    if (mico_maxpool(&p{i}, in{i}, out) != MICO_OK || memcmp(out, ex{i}, {len(eb)}) != 0) "
                             f"{{ bad = 1; printf(\"MICO_BAD case {i}\\n\"); }}")
                i += 1
    src = ("#include <stdio.h>\n#include <string.h>\n#include \"mico_nn.h\"\nstatic uint8_t out[4096];\n"
           + "\n".join(defs) + "\nint main(void) {\n    int bad = 0;\n" + "\n".join(calls)
           + "\n    printf(\"MICO_DONE %d\\n\", bad);\n    return bad;\n}\n")
    (tmp_path / "bench.c").write_text(src)
    (tmp_path / "inputs.bin").write_bytes(b"")
    t = get_target(target)
    elf = tmp_path / "bench.elf"
    run([require(t.cc), *COMMON_CFLAGS, *t.cflags, "-I", str(KERNEL_DIR), str(tmp_path / "bench.c"),
         *[str(TARGET_DIR / s_) for s_ in t.extra_sources], *[str(o) for o in kernel_objects(t)],
         *[a.replace("{targets}", str(TARGET_DIR)) for a in t.ldflags], "-o", str(elf)])
    assert execute(t, tmp_path, elf, timeout=120).n == 0
