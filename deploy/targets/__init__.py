"""Build and run targets: ``host`` (gcc), ``cortex-m7`` (arm-none-eabi-gcc + QEMU mps2-an500,
semihosting) and ``cortex-a53`` (aarch64-linux-gnu-gcc -static + qemu-aarch64).

Instruction counts on the ARM targets come from our QEMU TCG plugin
(``common/mico_icount_plugin.c``), which counts the guest instructions between the marker
instructions the harness puts around each ``model_run`` call: exact and deterministic.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from deploy.toolchain import (
    KERNEL_DIR,
    TARGET_DIR,
    ToolchainError,
    _digest,
    cache_dir,
    icount_plugin,
    require,
    run,
)

COMMON_CFLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror")


class DeployError(RuntimeError):
    """Deployment failed: model too large, emulator fault or timeout, wrong results."""


@dataclass(frozen=True)
class Target:
    name: str
    cc: str
    size_tool: str
    cflags: tuple[str, ...]
    ldflags: tuple[str, ...] = ()
    extra_sources: tuple[str, ...] = ()  # relative to deploy/targets
    flash_limit: int | None = None
    sram_limit: int | None = None
    emulator: str | None = None
    board: str = ""
    ld_files: tuple[str, ...] = field(default_factory=tuple)


TARGETS: dict[str, Target] = {
    "host": Target("host", "gcc", "size", (), ("-lm",), board="this x86-64 machine"),
    "cortex-m7": Target(
        "cortex-m7", "arm-none-eabi-gcc", "arm-none-eabi-size",
        ("-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-d16", "-ffunction-sections",
         "-fdata-sections"),
        ("-nostartfiles", "--specs=rdimon.specs", "-Wl,--gc-sections", "-T", "{targets}/cortex-m7/link.ld"),
        ("cortex-m7/startup.c",), flash_limit=1024 * 1024, sram_limit=320 * 1024, emulator="qemu-system-arm",
        board="STM32F746 (Cortex-M7, 1 MB flash, 320 KB SRAM) emulated by QEMU mps2-an500",
        ld_files=("cortex-m7/link.ld",),
    ),
    "cortex-a53": Target(
        "cortex-a53", "aarch64-linux-gnu-gcc", "aarch64-linux-gnu-size", ("-mcpu=cortex-a53",), ("-static",),
        emulator="qemu-aarch64", board="Cortex-A53 (AArch64 Linux user mode) emulated by qemu-aarch64",
    ),
}


def get_target(name: str) -> Target:
    if name not in TARGETS:
        raise ValueError(f"unknown target {name!r}; choose one of {sorted(TARGETS)}")
    return TARGETS[name]


@dataclass
class BuildResult:
    elf: Path
    text: int
    data: int
    bss: int
    model_flash_bytes: int
    model_sram_bytes: int

    @property
    def flash_bytes(self) -> int:
        return self.text + self.data

    @property
    def sram_bytes(self) -> int:
        return self.data + self.bss


@dataclass
class RunResult:
    n: int
    instructions: list[int]
    stdout: str


def _size(t: Target, path: Path) -> tuple[int, int, int]:
    out = run([require(t.size_tool), "-B", str(path)]).stdout.splitlines()
    total = [0, 0, 0]
    for line in out[1:]:
        parts = line.split()
        for i in range(3):
            total[i] += int(parts[i])
    return total[0], total[1], total[2]


def kernel_objects(t: Target, extra_cflags: tuple[str, ...] = ()) -> list[Path]:
    """The kernel library compiled for ``t`` (cached by source hash and flags)."""
    cc = require(t.cc)
    flags = [*COMMON_CFLAGS, *t.cflags, *extra_cflags]
    srcs = sorted(KERNEL_DIR.glob("*.c"))
    key = _digest(srcs + sorted(KERNEL_DIR.glob("*.h")), t.name + " ".join(flags))
    d = cache_dir() / f"kernels_{t.name}_{key}"
    objs = [d / (s.stem + ".o") for s in srcs]
    if all(o.exists() for o in objs):
        return objs
    import fcntl

    # Several processes (pytest-xdist workers, parallel deployments) may want the same library:
    # build it once, under an exclusive lock, in a private folder renamed into place when complete.
    with open(cache_dir() / f"{d.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not all(o.exists() for o in objs):
            tmp = d.with_name(f"{d.name}.tmp{os.getpid()}")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            for s in srcs:
                run([cc, *flags, "-I", str(KERNEL_DIR), "-c", str(s), "-o", str(tmp / (s.stem + ".o"))])
            shutil.rmtree(d, ignore_errors=True)  # an incomplete leftover (we hold the lock)
            tmp.rename(d)
    return objs


def build(t: Target, out_dir: Path, extra_cflags: tuple[str, ...] = ()) -> BuildResult:
    """Compile model.c + harness + startup and link with the cached kernel objects."""
    cc = require(t.cc)
    require(t.size_tool)
    out_dir = Path(out_dir)
    build_dir = out_dir / "build" / t.name
    build_dir.mkdir(parents=True, exist_ok=True)
    flags = [*COMMON_CFLAGS, *t.cflags, *extra_cflags, "-I", str(out_dir), "-I", str(KERNEL_DIR)]
    objs = []
    srcs = [out_dir / "model.c", TARGET_DIR / "common" / "main.c", *(TARGET_DIR / s for s in t.extra_sources)]
    for s in srcs:
        o = build_dir / (s.stem + ".o")
        run([cc, *flags, "-c", str(s), "-o", str(o)])
        objs.append(o)
    kobjs = kernel_objects(t, extra_cflags)
    elf = build_dir / "app.elf"
    ld = [a.replace("{targets}", str(TARGET_DIR)) for a in t.ldflags]
    run([cc, *t.cflags, *extra_cflags, *map(str, objs), *map(str, kobjs), *ld, "-o", str(elf)])
    text, data, bss = _size(t, elf)
    mt, md, mb = _size(t, build_dir / "model.o")
    kt = kd = kb = 0
    for k in kobjs:
        a, b, c = _size(t, k)
        kt, kd, kb = kt + a, kd + b, kb + c
    res = BuildResult(elf, text, data, bss, mt + md + kt + kd, md + mb + kd + kb)
    check_limits(t, res)
    return res


def check_limits(t: Target, b: BuildResult) -> None:
    msgs = []
    if t.flash_limit is not None and b.flash_bytes > t.flash_limit:
        msgs.append(f"flash {b.flash_bytes} B exceeds the {t.flash_limit} B of the board by "
                    f"{b.flash_bytes - t.flash_limit} B")
    if t.sram_limit is not None and b.sram_bytes > t.sram_limit:
        msgs.append(f"SRAM {b.sram_bytes} B (data + bss incl. stack and heap) exceeds the {t.sram_limit} B of the "
                    f"board by {b.sram_bytes - t.sram_limit} B")
    if msgs:
        raise DeployError(f"the model does not fit {t.board}: " + "; ".join(msgs)
                          + ". Choose lower bits or a smaller model.")


def execute(t: Target, out_dir: Path, elf: Path, timeout: float = 120) -> RunResult:
    """Run ``elf`` with inputs.bin in ``out_dir`` (writes logits.bin there)."""
    import subprocess

    out_dir = Path(out_dir)
    if t.name == "host":
        cmd = [str(elf)]
    elif t.name == "cortex-m7":
        cmd = [require("qemu-system-arm"), "-M", "mps2-an500", "-nographic", "-monitor", "none", "-serial", "none",
               "-semihosting-config", "enable=on,target=native", "-plugin", str(icount_plugin()), "-d", "plugin",
               "-kernel", str(elf)]
    else:
        cmd = [require("qemu-aarch64"), "-cpu", "cortex-a53", "-plugin", str(icount_plugin()), "-d", "plugin",
               str(elf)]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=out_dir)
    except subprocess.TimeoutExpired as e:
        raise DeployError(f"{t.name}: the program did not finish within {timeout:.0f} s (hang?): "
                          f"{' '.join(cmd)}") from e
    out = res.stdout + res.stderr
    if res.returncode != 0 or "MICO_DONE" not in out:
        code = res.returncode
        why = {103: "hard fault", 104: "memory management fault", 105: "bus fault", 106: "usage fault",
               99: "unexpected interrupt"}.get(code, "error")
        err = re.findall(r"MICO_ERROR.*", out)
        raise DeployError(f"{t.name}: run failed with exit code {code} ({why}); {' '.join(err)}\n{out[-2000:]}")
    n = int(re.search(r"MICO_DONE (\d+)", out).group(1))
    counts = [int(x) for x in re.findall(r"MICO_ICOUNT (\d+)", res.stderr)]
    return RunResult(n, counts, res.stdout)


__all__ = ["TARGETS", "Target", "get_target", "build", "execute", "DeployError", "ToolchainError", "BuildResult",
           "RunResult"]
