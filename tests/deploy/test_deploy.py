"""End to end: lower, generate, build, run on host / Cortex-M7 / Cortex-A53, compare bit for bit."""

import json
import shutil

import numpy as np
import pytest

from deploy.api import deploy
from deploy.lower import LoweringError, lower
from deploy.plan import plan_memory
from deploy.targets import BuildResult, DeployError, build, check_limits, execute, get_target
from deploy.toolchain import ToolchainError, require

ARCHS = ["cnn", "resnet_dw", "conv1d", "mlp", "residual_relu"]
HAVE_ARM = shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")
HAVE_A53 = shutil.which("qemu-aarch64") and shutil.which("aarch64-linux-gnu-gcc")


@pytest.mark.parametrize("arch", ARCHS)
def test_host_bit_exact(model_cases, arch, tmp_path):
    c = model_cases[arch]
    for i, pol in enumerate(c.policies(3, seed=1)):
        r = deploy(c.int_graph(pol), target="host", out_dir=tmp_path / str(i), inputs=c.x_test[:100])
        assert r.n_inputs == 100
        assert r.bit_exact, f"{arch} {pol.key()}: {r.n_exact}/100"
        np.testing.assert_array_equal(r.logits.argmax(1), c.int_graph(pol).logits(c.x_test[:100]).argmax(1).numpy())


def test_max_pooling_fuses_into_the_conv(model_cases, tmp_path):
    """The lowering runs a conv's 2x2 max pooling inside the conv (no maxpool op, no pooled-away tensor
    in the arena, the conv's scratch holds the map a byte per element): bit-exact on host, under
    sanitizers, and the same logits as the unfused lowering."""
    c = model_cases["cnn"]
    pol = c.policies(1)[0]
    g = c.int_graph(pol)
    fused, plain = lower(g), lower(g, fuse_pool=False)
    assert not any(op.kind == "maxpool" for op in fused.ops) and any(op.kind == "maxpool" for op in plain.ops)
    pooled = [op for op in fused.ops if op.kind == "conv" and op.params["pool_h"] == 2]
    assert pooled and len(fused.ops) == len(plain.ops) - len(pooled)
    assert all(op.prep is None for op in lower(g, "cortex-a53").ops)  # the AArch64 kernels prepare nothing
    for op in pooled:
        t = fused.tensors[op.output]
        assert t.hwc == (op.params["out_h"] // 2, op.params["out_w"] // 2, op.params["out_c"])
    r = deploy(g, target="host", out_dir=tmp_path, inputs=c.x_test[:50],
               extra_cflags=("-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g"))
    assert r.bit_exact, f"{r.n_exact}/50"


@pytest.mark.skipif(not HAVE_ARM, reason="needs gcc-arm-none-eabi and qemu-system-arm")
@pytest.mark.parametrize("arch", ["resnet_dw", "conv1d", "cnn"])
def test_cortex_m7_bit_exact(model_cases, arch, tmp_path):
    c = model_cases[arch]
    pol = c.policies(1)[0]  # 1- and 2-bit layers
    r = deploy(c.int_graph(pol), target="cortex-m7", out_dir=tmp_path, inputs=c.x_test[:100])
    assert r.bit_exact, f"{r.n_exact}/100"
    assert r.instructions and r.instructions > 1000
    counts = r.instructions_per_input
    assert len(counts) == 100 and max(counts) - min(counts) < 0.01 * min(counts)  # only clamps differ
    assert 0 < r.flash_bytes < 1024 * 1024 and 0 < r.sram_bytes < 320 * 1024
    meta = json.loads((tmp_path / "model_meta.json").read_text())
    assert meta["policy"] == pol.to_dict() and meta["format_version"] == 1


@pytest.mark.skipif(not HAVE_A53, reason="needs gcc-aarch64-linux-gnu and qemu-user")
@pytest.mark.parametrize("arch", ["cnn", "mlp"])
def test_cortex_a53_bit_exact(model_cases, arch, tmp_path):
    c = model_cases[arch]
    pol = c.policies(2)[1]  # odd bits
    r = deploy(c.int_graph(pol), target="cortex-a53", out_dir=tmp_path, inputs=c.x_test[:100])
    assert r.bit_exact and r.instructions > 0


@pytest.mark.slow
@pytest.mark.parametrize("target", ["cortex-m7", "cortex-a53"])
@pytest.mark.parametrize("arch", ARCHS)
def test_arm_all_archs_bit_exact(model_cases, arch, target, tmp_path):
    c = model_cases[arch]
    for i, pol in enumerate(c.policies(5, seed=2)):
        r = deploy(c.int_graph(pol), target=target, out_dir=tmp_path / str(i), inputs=c.x_test[:100])
        assert r.bit_exact, f"{arch} {pol.key()} {target}: {r.n_exact}/100"


def test_host_sanitizers(model_cases, tmp_path):
    c = model_cases["resnet_dw"]
    pol = c.policies(1)[0]
    r = deploy(c.int_graph(pol), target="host", out_dir=tmp_path, inputs=c.x_test[:20],
               extra_cflags=("-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g"))
    assert r.bit_exact


def test_memory_plan_has_no_live_overlap(model_cases):
    for c in model_cases.values():
        m = lower(c.int_graph(c.policies(1)[0]))
        plan = plan_memory(m)
        bufs = {id(b): b for b in plan.buffers.values()}.values()
        for a in bufs:
            assert a.offset % 8 == 0 and a.offset + a.size <= plan.arena_bytes
            for b in bufs:
                if a is b or a.last < b.first or b.last < a.first:
                    continue
                assert a.offset + a.size <= b.offset or b.offset + b.size <= a.offset
        assert plan.arena_bytes <= plan.naive_bytes


def test_output_folder_is_self_contained(model_cases, tmp_path):
    c = model_cases["mlp"]
    deploy(c.int_graph(c.policies(1)[0]), target="host", out_dir=tmp_path, inputs=c.x_test[:4])
    for f in ("model.c", "model.h", "model_meta.json", "Makefile", "README.md", "inputs.bin", "harness/main.c",
              "harness/cortex-m7/startup.c", "harness/cortex-m7/link.ld", "kernels/mico_nn.h"):
        assert (tmp_path / f).exists(), f
    assert "const uint8_t op0_w" in (tmp_path / "model.c").read_text()


def test_lowering_names_unsupported_ops(model_cases):
    c = model_cases["mlp"]
    g = c.int_graph(c.policies(1)[0])
    g.ops[2].op = "softmax"
    with pytest.raises(LoweringError, match="softmax"):
        lower(g)


def test_missing_tool_names_the_package():
    with pytest.raises(ToolchainError, match="apt-get install"):
        require("no-such-compiler-xyz")


def test_too_large_for_board_says_by_how_much(tmp_path):
    t = get_target("cortex-m7")
    with pytest.raises(DeployError, match="by 47424 B"):
        check_limits(t, BuildResult(tmp_path / "x.elf", 1_000_000, 96_000, 1000, 0, 0))
    with pytest.raises(DeployError, match="SRAM"):
        check_limits(t, BuildResult(tmp_path / "x.elf", 1000, 0, 400_000, 0, 0))


@pytest.mark.skipif(not HAVE_ARM, reason="needs gcc-arm-none-eabi and qemu-system-arm")
def test_fault_on_cortex_m7_is_a_clear_error(tmp_path):
    (tmp_path / "model.h").write_text(
        "#include <stdint.h>\n#define MODEL_INPUT_BYTES 1\n#define MODEL_OUTPUT_LEN 1\nextern int model_failed_op;\n"
        "int model_run(const uint8_t *input, int32_t *output);\n")
    (tmp_path / "model.c").write_text(
        '#include "model.h"\nint model_failed_op = -1;\n'
        "int model_run(const uint8_t *input, int32_t *output) {\n"
        "    *output = *(volatile int32_t *)0xF0000000u + input[0];\n    return 0;\n}\n")
    (tmp_path / "inputs.bin").write_bytes(b"\x01")
    t = get_target("cortex-m7")
    b = build(t, tmp_path)
    with pytest.raises(DeployError, match="fault"):
        execute(t, tmp_path, b.elf, timeout=30)
