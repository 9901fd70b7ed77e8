"""``deploy(int_graph, target=..., out_dir=...)``: lower, generate, build, run, compare."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deploy.codegen import FORMAT_VERSION, _env, generate
from deploy.lower import LoweredModel, lower, pack_input
from deploy.targets import DeployError, build, execute, get_target
from deploy.toolchain import KERNEL_DIR, TARGET_DIR
from mico.quant import IntGraph


@dataclass
class DeployResult:
    """What one deployment produced and measured."""

    target: str
    out_dir: Path
    logits: np.ndarray  # float32 (N, classes): acc * scale
    acc: np.ndarray  # int32 (N, classes) from the target
    reference: np.ndarray  # int64 (N, classes) from IntGraph.run
    n_inputs: int
    n_exact: int  # inputs whose logits equal the reference bit for bit
    flash_bytes: int  # whole ELF: text + data
    sram_bytes: int  # whole ELF: data + bss (incl. stack and heap on Cortex-M7)
    model_flash_bytes: int  # model.o + kernel objects: text + data
    arena_bytes: int  # activations + scratch (the planned arena)
    weight_bytes: int
    instructions: int | None  # per inference (mean over inputs; exact counts on ARM), None on host
    instructions_per_input: list[int] = field(default_factory=list)
    paths: dict[str, Path] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def bit_exact(self) -> bool:
        return self.n_exact == self.n_inputs

    @property
    def agreement(self) -> float:
        return self.n_exact / max(self.n_inputs, 1)


def _quantized_inputs(g: IntGraph, inputs: Any, shape: tuple[int, ...], n_random: int, seed: int) -> torch.Tensor:
    if inputs is None:
        rng = np.random.default_rng(seed)
        q = g.input_q
        return torch.from_numpy(rng.integers(q.lo, q.hi + 1, size=(n_random, *shape)).astype(np.float64))
    x = torch.as_tensor(inputs)
    if x.dtype.is_floating_point:
        return g.quantize_input(x)
    return x.double()


def export_folder(m: LoweredModel, out_dir: Path, target: str, model_name: str, inputs_bin: bytes,
                  extra_meta: dict[str, Any] | None = None):
    """Write a self-contained folder: sources, kernels, harness, Makefile, README, inputs.bin."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    gen = generate(m, out_dir, model_name=model_name, extra_meta={"target": target, **(extra_meta or {})})
    kdir = out_dir / "kernels"
    shutil.rmtree(kdir, ignore_errors=True)
    kdir.mkdir()
    for f in sorted(KERNEL_DIR.glob("*.[ch]")):
        shutil.copy2(f, kdir / f.name)
    hdir = out_dir / "harness"
    shutil.rmtree(hdir, ignore_errors=True)
    (hdir / "cortex-m7").mkdir(parents=True)
    shutil.copy2(TARGET_DIR / "common" / "main.c", hdir / "main.c")
    for f in ("startup.c", "link.ld"):
        shutil.copy2(TARGET_DIR / "cortex-m7" / f, hdir / "cortex-m7" / f)
    (out_dir / "inputs.bin").write_bytes(inputs_bin)
    env = _env()
    iq = m.input_q
    ctx = dict(model_name=model_name, target=target, format_version=FORMAT_VERSION, policy_key=m.policy.key(),
               w_bits=list(m.policy.w_bits), a_bits=list(m.policy.a_bits), arena_bytes=gen.plan.arena_bytes,
               n_inputs=len(inputs_bin) // max(m.input_bytes, 1), input_bytes=m.input_bytes,
               input_cont=m.tensors[m.input_id].cont, n_outputs=m.n_outputs, input_scale=iq.scale,
               input_lo=iq.lo, input_hi=iq.hi)
    (out_dir / "Makefile").write_text(env.get_template("Makefile.j2").render(**ctx))
    (out_dir / "README.md").write_text(env.get_template("README.md.j2").render(**ctx))
    return gen


def deploy(
    int_graph: IntGraph,
    *,
    target: str,
    out_dir: str | Path,
    inputs: Any = None,
    n_random_inputs: int = 8,
    model_name: str = "model",
    seed: int = 0,
    timeout: float = 300,
    check: bool = False,
    extra_cflags: tuple[str, ...] = (),
) -> DeployResult:
    """Deploy ``int_graph`` to ``target`` and run it on ``inputs``.

    ``inputs``: float inputs (quantized with the graph's input quantizer), integer-valued quantized
    inputs (an integer tensor), or None for ``n_random_inputs`` random quantized inputs. The target's
    logits are compared with `IntGraph.run`; ``check=True`` raises `DeployError` on any mismatch.
    """
    t = get_target(target)
    out_dir = Path(out_dir).resolve()  # the build and QEMU run in other working directories
    m = lower(int_graph, target)
    xq = _quantized_inputs(int_graph, inputs, m.input_shape, n_random_inputs, seed)
    inputs_bin = pack_input(m, xq.numpy().astype(np.int64))
    gen = export_folder(m, out_dir, target, model_name, inputs_bin)
    b = build(t, out_dir, extra_cflags)
    logits_path = out_dir / "logits.bin"
    logits_path.unlink(missing_ok=True)
    r = execute(t, out_dir, b.elf, timeout=timeout)
    n = xq.shape[0]
    acc = np.fromfile(logits_path, dtype="<i4")
    if acc.size != n * m.n_outputs or r.n != n:
        raise DeployError(f"{target}: expected {n} x {m.n_outputs} logits, got {acc.size} values for {r.n} inputs")
    acc = acc.reshape(n, m.n_outputs)
    ref = int_graph.run(xq).reshape(n, -1).numpy()
    exact = int((acc.astype(np.int64) == ref).all(axis=1).sum())
    if check and exact != n:
        raise DeployError(f"{target}: {n - exact} of {n} inputs differ from the integer reference")
    logits = acc.astype(np.float32) * m.out_scale[None, :]
    counts = r.instructions
    return DeployResult(
        target=target, out_dir=out_dir, logits=logits, acc=acc, reference=ref, n_inputs=n, n_exact=exact,
        flash_bytes=b.flash_bytes, sram_bytes=b.sram_bytes, model_flash_bytes=b.model_flash_bytes,
        arena_bytes=gen.plan.arena_bytes, weight_bytes=m.weight_bytes,
        instructions=int(round(np.mean(counts))) if counts else None, instructions_per_input=counts,
        paths={"out_dir": out_dir, "elf": b.elf, "model_c": gen.model_c, "model_h": gen.model_h,
               "meta": gen.meta_json, "logits": logits_path},
        meta=gen.meta,
    )
