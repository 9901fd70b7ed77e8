"""Latency package: simulator (QEMU plugin + llvm-mca), profiler, cost models, error paths."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from latency.board import BoardCSVError, import_board_csv
from latency.profile import KernelConfig, KernelVersionMismatch, NoKernel, load_dataset, save_dataset
from latency.sim import SimulationTimeout, build_elf, get_target, simulate

needs_m7 = pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                              reason="needs gcc-arm-none-eabi and qemu-system-arm")
DATA = Path(__file__).resolve().parent.parent / "latency" / "data"

DOT = r"""
#include <stdio.h>
#include <stdint.h>
#define MARK() __asm__ volatile("mov r11, r11" ::: "memory")
static int8_t a[256], b[256];
__attribute__((noinline)) int32_t dot(const int8_t *x, const int8_t *y, int n) {
    int32_t s = 0; for (int i = 0; i < n; i++) s += x[i] * y[i]; return s; }
int main(void) { for (int i = 0; i < 256; i++) { a[i] = i; b[i] = 3 - i; }
    for (int r = 1; r <= 2; r++) { MARK(); volatile int32_t v = dot(a, b, 128 * r); MARK(); (void)v; }
    printf("done\n"); return 0; }
"""


@needs_m7
def test_m7_plugin_and_pricing(tmp_path):
    src = tmp_path / "dot.c"
    src.write_text(DOT)
    elf = build_elf([src], "cortex-m7", tmp_path / "dot.elf")
    r = simulate(elf, "cortex-m7", use_cache=False)
    assert "done" in r.stdout and len(r.region_cycles) == 2
    c1, c2 = r.region_cycles
    assert 1.8 < c2 / c1 < 2.2  # twice the work, about twice the cycles
    assert r.region_instructions[1] > 128 * 4 and r.unpriced_insns == 0
    again = simulate(elf, "cortex-m7")
    assert again.cached and again.region_cycles == r.region_cycles  # deterministic, cached


@pytest.mark.parametrize("target", ["cortex-m7", "cortex-a53"])
def test_calls_priced_as_branches(target):
    """llvm-mca 14 charges a call 100 cycles; the pricer prices BL / BLX / BLR as B / BX / BR."""
    from latency.sim.core import BlockPricer, get_target

    if not shutil.which("llvm-mca"):
        pytest.skip("needs llvm-mca")
    pr = BlockPricer(get_target(target))
    icall, ibranch = (["blx r3"], ["bx r3"]) if target == "cortex-m7" else (["blr x3"], ["br x3"])
    (c1, _), (c2, _), (c3, _), (c4, _) = pr._mca([["bl #64"], ["b #64"], icall, ibranch])
    assert c1 == c2 < 5 and c3 == c4 < 5
    assert pr._calls_as_branches(["add r0, r1, r2", "bl #8"]) == ["add r0, r1, r2", "b #8"]


# One inner loop placed at three offsets from a guest page boundary: inside one page, split
# exactly at the boundary, and split by a 32-bit instruction that crosses it. QEMU translates the
# split loops into two or three blocks; the real core does not care, so neither may the cycles.
PAGE_LOOP = {
    "cortex-m7": (1024, (0, 1024 - 26, 1024 - 24), r"""
    .syntax unified
    .text
    .balign 1024
    .space PAD
    .global mloop
    .thumb_func
    .type mloop, %function
mloop:
    push {r4-r7, lr}
    movs r2, #0
    movs r3, #0
1:  ldr.w r4, [r0], #4
    ldr.w r5, [r0], #4
    sxtb16 r6, r4
    sxtb16 r7, r5
    smlad r2, r6, r7, r2
    sxtb16 r4, r4, ror #8
    sxtb16 r5, r5, ror #8
    smlad r3, r4, r5, r3
    sub.w r0, r0, #8
    subs r1, r1, #1
    bne 1b
    add r0, r2, r3
    pop {r4-r7, pc}
""", "mov r11, r11"),
    "cortex-a53": (4096, (0, 4096 - 16), r"""
    .text
    .balign 4096
    .space PAD
    .global mloop
    .type mloop, %function
mloop:
    mov w2, #0
    mov w3, #0
1:  ldr w4, [x0]
    ldr w5, [x0, #4]
    madd w2, w4, w5, w2
    eor w3, w3, w4
    add w3, w3, w5
    subs w1, w1, #1
    b.ne 1b
    add w0, w2, w3
    ret
""", "orr x28, x28, x28"),
}


@pytest.mark.parametrize("target", ["cortex-m7", "cortex-a53"])
def test_cycles_do_not_depend_on_page_placement(tmp_path, target):
    from deploy.toolchain import require

    page, pads, loop, marker = PAGE_LOOP[target]
    try:
        require(get_target(target).cc)
    except Exception as e:  # noqa: BLE001 - the toolchain's own message says what to install
        pytest.skip(str(e))
    main = tmp_path / "main.c"
    main.write_text(f"""#include <stdio.h>
#include <stdint.h>
extern int32_t mloop(const int32_t *p, int n);
static int32_t buf[2] = {{0x01020304, 0x05060708}};
int main(void) {{ __asm__ volatile("{marker}" ::: "memory"); int32_t v = mloop(buf, 2000);
    __asm__ volatile("{marker}" ::: "memory"); printf("v=%ld\\n", (long)v); return 0; }}
""")
    cycles, starts = [], []
    for pad in pads:
        asm = tmp_path / f"loop{pad}.s"
        asm.write_text(loop.replace("PAD", str(pad)))
        elf = build_elf([main, asm], target, tmp_path / f"loop{pad}.elf")
        r = simulate(elf, target, use_cache=False)
        assert r.unpriced_insns == 0 and len(r.region_cycles) == 1
        cycles.append(r.cycles)
        nm = "arm-none-eabi-nm" if target == "cortex-m7" else "aarch64-linux-gnu-nm"
        sym = subprocess.run([nm, str(elf)], capture_output=True, text=True).stdout
        starts.append(int(next(ln.split()[0] for ln in sym.splitlines() if ln.endswith(" mloop")), 16))
    assert starts[0] % page == 0 and all(s % page == pads[i] for i, s in enumerate(starts))  # placed as meant
    assert max(cycles) / min(cycles) < 1.01, dict(zip(pads, cycles))


@needs_m7
def test_simulation_timeout(tmp_path):
    src = tmp_path / "spin.c"
    src.write_text("int main(void) { for (;;) { __asm__ volatile(\"nop\"); } }\n")
    elf = build_elf([src], "cortex-m7", tmp_path / "spin.elf")
    with pytest.raises(SimulationTimeout, match="exceeded"):
        simulate(elf, "cortex-m7", timeout=1.0, use_cache=False)


def test_unknown_target():
    with pytest.raises(ValueError, match="unknown target 'riscv'"):
        get_target("riscv")


def test_bits_without_kernel():
    with pytest.raises(NoKernel, match="no kernel for 9-bit weights"):
        KernelConfig("conv2d", 8, 8, 8, 8, 3, 3, 1, 1, 9, 8)
    with pytest.raises(NoKernel):
        KernelConfig("linear", 8, 8, 1, 1, 1, 1, 1, 0, 4, 0)


def test_dataset_from_other_kernel_version(tmp_path):
    df = pd.DataFrame([{"kind": "linear", "cycles": 10.0}])
    df.attrs["provenance"] = {"target": "cortex-m7", "kernel_hash": "0000deadbeef0000"}
    p = save_dataset(df, tmp_path / "old.csv")
    with pytest.raises(KernelVersionMismatch, match="0000deadbeef0000"):
        load_dataset(p)
    assert len(load_dataset(p, check_kernels=False)) == 1


def test_model_from_other_kernel_version_says_how_to_refit(tmp_path):
    """A fitted model whose kernel library changed is refused with the refit commands' location."""
    from latency.models import AnalyticLatency

    m = AnalyticLatency("cortex-m7", load=False)
    m.kernel_hash = "0000deadbeef0000"
    p = m.save(tmp_path / "old.pkl")
    with pytest.raises(KernelVersionMismatch, match=r"0000deadbeef0000.*results/latency/cortex-m7/fidelity\.md"):
        AnalyticLatency.load(p)
    assert AnalyticLatency.load(p, check_kernels=False).kernel_hash == "0000deadbeef0000"


def test_board_csv_ok_and_corrupt(tmp_path):
    ok = tmp_path / "ok.csv"
    ok.write_text("target,kind,in_c,out_c,in_h,in_w,k_h,k_w,stride,pad,w_bits,a_bits,cycles\n"
                  "cortex-m7,conv2d,8,8,8,8,3,3,1,1,4,8,12345\n")
    assert import_board_csv(ok).cycles.iloc[0] == 12345
    bad = tmp_path / "bad.csv"
    bad.write_text("target,kind,in_c,out_c,in_h,in_w,k_h,k_w,stride,pad,w_bits,a_bits,cycles\n"
                   "cortex-m7,conv2d,8,8,8,8,3,3,1,1,4,8,12345\ncortex-m7,conv2d,8,x,8,8,3,3,1,1,4,8,1\n")
    with pytest.raises(BoardCSVError, match="row 3: column 'out_c'"):
        import_board_csv(bad)
    (tmp_path / "nocol.csv").write_text("target,kind\ncortex-m7,conv2d\n")
    with pytest.raises(BoardCSVError, match="missing column"):
        import_board_csv(tmp_path / "nocol.csv")
    (tmp_path / "neg.csv").write_text(ok.read_text().replace("12345", "-3"))
    with pytest.raises(BoardCSVError, match="positive"):
        import_board_csv(tmp_path / "neg.csv")


@pytest.mark.skipif(not (DATA / "kernels-cortex-m7.csv").exists(), reason="no committed dataset")
def test_models_protocol_and_vectorised(tiny_space=None):
    from latency.models import AnalyticLatency, LearnedLatency, PeakMemory
    from mico.costs import CostModel
    from mico.space import LayerSpec, SearchSpace

    df = load_dataset(DATA / "kernels-cortex-m7.csv", check_kernels=False)
    df = df[df.status == 0]
    layers = (
        LayerSpec("c1", "conv2d", 3, 16, (3, 3), (1, 1), (1, 1), 1, (3, 16, 16), (16, 16, 16), 448, 110592),
        LayerSpec("fc", "linear", 4096, 10, (), (), (), 1, (4096,), (10,), 40970, 40960),
    )
    space = SearchSpace(layers, (2, 4, 8), (2, 4, 8))
    rng = np.random.default_rng(0)
    pols = [space.sample(rng) for _ in range(20)]
    for m in (AnalyticLatency("cortex-m7", load=False).fit(df), LearnedLatency("cortex-m7", load=False).fit(df),
              PeakMemory("sram"), PeakMemory("flash")):
        assert isinstance(m, CostModel)
        tot = m.totals(space, pols)
        one = [m.cost(space, p) for p in pols]
        assert np.allclose(tot, [c.total for c in one])
        assert all(c.total > 0 and len(c.per_layer) == 2 for c in one)


def test_one_plugin_and_startup():
    """latency.sim prices blocks with deploy's plugin and builds with deploy's startup / linker script."""
    from deploy.toolchain import TARGET_DIR
    from latency.sim import core

    assert not (Path(core.__file__).parent / "csrc").exists()
    assert core.plugin_source() == TARGET_DIR / "common" / "mico_icount_plugin.c"
    dt = get_target("cortex-m7").deploy_target
    assert "cortex-m7/startup.c" in dt.extra_sources and any("link.ld" in a for a in dt.ldflags)


@pytest.mark.skipif(not (DATA / "kernels-cortex-m7.csv").exists(), reason="no committed dataset")
def test_structural_features_follow_the_dispatcher():
    from latency.models import _design, _frame

    df = load_dataset(DATA / "kernels-cortex-m7.csv", check_kernels=False).head(120)
    f = _frame(df, "cortex-m7")
    # the variant the host library's mico_conv_select picks is the one the M7 harness reported
    # (only meaningful while the dataset matches the kernels)
    from latency.profile import kernel_hash

    if df.attrs["provenance"]["kernel_hash"] == kernel_hash():  # the C enum's 9 (long) is 13 here, 10 (fields) 14
        assert (f["var"] == df["variant"].replace({9: 13, 10: 14})).all()
    X, names = _design(f)
    assert X.shape == (len(df), len(names)) and np.isfinite(X).all() and (X >= 0).all()
    a53 = _frame(df, "cortex-a53")  # mico_conv_neon.c's paths: int16 (8-bit weights and activations),
    dw = (a53["kind"] == "depthwise").to_numpy()  # int8 tiles or short columns; NEON depthwise
    int8 = ((a53["wc"] < 8) | (a53["ac"] < 8)).to_numpy()
    one = ((a53["in_c"] == 1) & (a53["stride"] == 1) & (a53["out_w"] > 1)).to_numpy()  # single channel
    assert (a53["var"][dw] == 11).all() and (a53["var"][~dw & one] == 12).all()
    assert (a53["var"][~dw & ~one & ~int8] == 5).all()
    assert set(a53["var"][~dw & ~one & int8]) <= {9, 10} and {9, 10} <= set(a53["var"])
    Xa, names_a = _design(a53)
    on = {n.split(":")[0] for n, c in zip(names_a, Xa.T) if c.any()}
    assert {"neon", "n8", "outer", "dwn"} <= on and not on & {"dualmac", "poly", "rows", "dw", "dw3"}


def test_poly_and_neon_subbyte_features():
    """The dispatcher query sees deploy's poly kernel (it needs the weight-sum pointer deploy always
    passes) and its loop terms, and the NEON sub-byte ones, are populated where those paths run."""
    from latency.models import _design, _frame
    from latency.profile import sample_configs

    cfgs = [KernelConfig("conv2d", 32, 16, 8, 8, 3, 3, 1, 1, 2, 2, 2),  # poly, whole-word im2col (in_c % 16 == 0)
            KernelConfig("conv2d", 24, 16, 8, 8, 3, 3, 1, 1, 2, 2, 2),  # poly, per-element im2col
            KernelConfig("linear", 64, 10, 1, 1, 1, 1, 1, 0, 1, 2, 32),  # poly, 1-bit weights, one pixel
            KernelConfig("conv2d", 32, 16, 8, 8, 3, 3, 1, 1, 8, 8, 8)]
    # on Cortex-M7 the 8x8 sub-byte convolutions (64 output pixels) run the long-multiply kernel, 3x3
    # ones (9 pixels) poly
    m7 = [KernelConfig("conv2d", 32, 16, 3, 3, 3, 3, 1, 1, 2, 2, 2), KernelConfig("conv2d", 24, 16, 3, 3, 3, 3, 1, 1, 2, 2, 2),
          *cfgs[2:], cfgs[0], KernelConfig("conv2d", 32, 16, 8, 8, 3, 3, 1, 1, 4, 4, 8)]
    f = _frame(m7, "cortex-m7")
    assert list(f["var"]) == [7, 7, 7, 2, 13, 13]
    X, names = _design(f)
    col = {n: X[:, i] for i, n in enumerate(names)}
    assert col["poly:w2a2:wp2"][0] == 4 * 8 * (3 * 3 * 32 / 16)  # pixel pairs x channel pairs x words
    assert col["poly:w2a2:el_in_words"][0] > 0 and col["poly:w2a2:el_in"][0] == 0
    assert col["poly:w2a2:el_in"][1] > 0 and col["poly:w2a2:el_in_words"][1] == 0
    assert col["poly:w1a2:wp1"][2] == 5 * 2 and col["poly:w1a2:wp2"][2] == 0 and col["poly:w2a2:wp1"][2] == 0
    assert col["poly:const"][3] == 0 and col["long:const"][3] == 0
    # long: W2A2 4 fields (8 words a tap, 72 -> 3 blocks of 24), W4A4 3 fields (11 words a tap, 99 -> 5
    # blocks of 20, 100 steps); 32 pixel pairs x 8 channel pairs
    assert col["long:steps"][4] == 32 * 8 * 72 and col["long:blocks"][4] == 32 * 8 * 3
    assert col["long:steps"][5] == 32 * 8 * 100 and col["long:a4:rowcv"][5] == 8 * 8 * 11
    assert col["long:w4:wt"][5] == 16 * 99 and col["poly:const"][5] == 0
    a = _frame(cfgs, "cortex-a53")
    X, names = _design(a)
    col = {n: X[:, i] for i, n in enumerate(names)}
    assert list(a["var"]) == [9, 9, 9, 5]  # int8 tiles for sub-byte operands, the int16 path for W8A8
    # W2A2: 2-channel x 4-pixel tiles (16 pixel groups x 8 channel pairs) over 16-byte blocks of 64
    # weights (288 -> 5 blocks), MLA.16B into int8 lanes (4 fields x 6 <= 127)
    assert col["n8:px4:w2:mla:blk"][0] == 16 * 8 * 5 and col["n8:px4:w2:place"][0] == 64 * 5
    # one pixel (linear): 4-channel tiles, 128 one-bit weights a block
    assert col["n8:px1:w1:mla:blk"][2] == 3 and col["n8:px4:w1:mla:blk"][2] == 0
    assert col["neon:steps"][3] == 32 * 8 * (288 // 8) and col["n8:const"][3] == 0
    # the profiler's design reaches the poly kernel (1-bit weights too) and the long-multiply kernel
    s = _frame(sample_configs(480), "cortex-m7")
    assert (s["var"] == 7).sum() >= 20 and ((s["var"] == 7) & (s["wc"] == 1)).sum() >= 4
    assert (s["var"] == 13).sum() >= 20


def test_overhead_model_recovers_linear_costs():
    from latency.wholemodel import OP_TERMS, OverheadModel, op_features

    rng = np.random.default_rng(0)
    true = np.abs(rng.normal(size=len(OP_TERMS) + 1)) * 10

    def pool(kind):
        c, cont, oh = int(rng.integers(1, 40)), int(rng.choice([2, 4, 8])), int(rng.integers(1, 15))
        return {"kind": kind, "c": c, "in_cont": cont, "out_cont": int(rng.choice([2, 4, 8])), "k_h": 2, "k_w": 2,
                "stride_h": 2, "stride_w": 2, "pad_h": 0, "pad_w": 0, "in_h": 2 * oh, "in_w": 2 * oh, "out_h": oh,
                "out_w": oh}

    def elementwise(kind):
        return {"kind": kind, "n": int(rng.integers(10, 5000)), "a_cont": int(rng.choice([2, 4, 8])), "b_cont": 8,
                "out_cont": int(rng.choice([2, 4, 8])), "cont": int(rng.choice([2, 4, 8]))}

    for words in (True, False):
        rows = []
        for _ in range(200):
            ops = [pool(k) if k.endswith("pool") else elementwise(k) if k != "conv" else {"kind": "conv"}
                   for k in rng.choice(["conv", "maxpool", "avgpool", "add", "relu"], size=rng.integers(1, 6))]
            c = float(op_features(ops, words) @ true)
            rows.append({"ops": ops, "op_cycles": {"add": c * 0.9}, "other_cycles": c * 0.1})
        m = OverheadModel(words=words).fit(rows)
        for r in rows:
            assert abs(m.predict(r["ops"]) / (sum(r["op_cycles"].values()) + r["other_cycles"]) - 1) < 1e-6


@pytest.mark.parametrize("name", ["lenet5", "cnn-small", "resnet8", "har-cnn1d"])
def test_overhead_containers_follow_the_policy(name):
    """The overhead plan prices every op at the containers deploy gives its tensors at a policy: it
    equals the overhead of the ops lowered at the policy itself (resnet8: residual maps read by two
    layers take the larger a_bits)."""
    from latency.wholemodel import OverheadPlan, op_features, policy_ops, space_ops, zoo_case

    space = zoo_case(name).space
    ops = space_ops(space)
    rng = np.random.default_rng(1)
    coef = rng.uniform(1, 10, size=len(op_features([], True)))
    for words in (True, False):
        plan = OverheadPlan(ops, coef, words)
        pols = [space.sample(rng) for _ in range(6)]
        got = plan.cycles(np.array([p.a_bits for p in pols]))
        for g, p in zip(got, pols, strict=True):
            assert g == pytest.approx(float(op_features(policy_ops(name, p), words) @ coef))
    if name == "lenet5":  # the pooled maps (fused into conv1 and conv2) are the inputs of layers 1 and 2
        assert not [o for o in ops if o["kind"] == "maxpool"]
        assert [o["ctl"] for o in ops if o["kind"] == "convpool"] == [{"out_cont": (1,)}, {"out_cont": (2,)}]
    if name == "resnet8":  # the first residual sum feeds layers 3 and 5
        assert [o["ctl"].get("out_cont") for o in ops if o["kind"] == "add"] == [(3, 5), (6, 8), None]


@pytest.mark.parametrize("name", ["lenet5", "cnn-small"])
def test_latency_per_layer_costs_carry_the_pooling_they_set(name):
    """The pooling a layer's a_bits sets is part of that layer's per-layer cost, so that per-layer
    pricing (HAWQ's integer program, MiCo's cost table) is exact where every pooled map is read by
    one layer: total - sum(per_layer) is the same for every policy."""
    from latency.models import LearnedLatency
    from latency.wholemodel import zoo_case

    space = zoo_case(name).space
    model = LearnedLatency("cortex-m7")
    rng = np.random.default_rng(0)
    rest = []
    for p in [space.uniform(8, 8), space.uniform(2, 2), *(space.sample(rng) for _ in range(10))]:
        c = model.cost(space, p)
        assert c.total == pytest.approx(float(model.totals(space, [p])[0]))
        rest.append(c.total - sum(c.per_layer))
    assert np.ptp(rest) < 1e-6 * max(rest)
    # and the pooling does depend on the bits (whole bytes a word at a time at 8 bits; at 2 bits more
    # lanes a word, and LeNet-5's 6 channels of 2 bits do not fill whole bytes)
    j = 1 if name == "lenet5" else 2
    a2, a8 = (model.overhead(space, space.bits_matrix([space.uniform(8, b)]))[0][0, j] for b in (2, 8))
    assert a2 > 0 and a8 > 0 and abs(a8 - a2) > 0.05 * max(a2, a8)


@needs_m7
@pytest.mark.slow
def test_whole_model_simulation_matches_cost_model():
    from latency.models import LearnedLatency
    from latency.wholemodel import simulate_policy, zoo_case

    case = zoo_case("mlp")
    pol = case.space.uniform(4, 4)
    r = simulate_policy(case, pol, "cortex-m7")
    assert r["cycles"] > 0 and r["conv_cycles"] > 0.5 * r["cycles"]
    if (DATA / "learned-cortex-m7.pkl").exists():
        pred = LearnedLatency("cortex-m7").cost(case.space, pol).total
        assert abs(pred / r["cycles"] - 1) < 0.1
