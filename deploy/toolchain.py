"""Finding compilers and emulators, and compiling small things once per session (cached)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from mico.cache import default_cache_dir

KERNEL_DIR = Path(__file__).parent / "kernels"
TARGET_DIR = Path(__file__).parent / "targets"
TEMPLATE_DIR = Path(__file__).parent / "templates"

# tool -> Debian package that provides it
PACKAGES = {
    "gcc": "gcc",
    "arm-none-eabi-gcc": "gcc-arm-none-eabi (and libnewlib-arm-none-eabi)",
    "arm-none-eabi-size": "binutils-arm-none-eabi",
    "qemu-system-arm": "qemu-system-arm",
    "aarch64-linux-gnu-gcc": "gcc-aarch64-linux-gnu (and libc6-dev-arm64-cross)",
    "aarch64-linux-gnu-size": "binutils-aarch64-linux-gnu",
    "qemu-aarch64": "qemu-user",
    "size": "binutils",
}


class ToolchainError(RuntimeError):
    """A compiler or emulator is missing or failed."""


def require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pkg = PACKAGES.get(tool, tool)
        raise ToolchainError(f"{tool} not found on PATH; install the Debian package: sudo apt-get install {pkg}")
    return path


def cache_dir() -> Path:
    root = Path(os.environ.get("MICO_DEPLOY_CACHE", default_cache_dir() / "deploy"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def kernel_sources() -> list[Path]:
    return sorted(KERNEL_DIR.glob("*.c"))


def _digest(paths: list[Path], extra: str) -> str:
    h = hashlib.sha256(extra.encode())
    for p in sorted(paths):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def run(cmd: list[str], timeout: float = 300, cwd: Path | None = None) -> subprocess.CompletedProcess:
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    except subprocess.TimeoutExpired as e:
        raise ToolchainError(f"timed out after {timeout:.0f} s: {' '.join(map(str, cmd))}") from e
    if res.returncode != 0:
        raise ToolchainError(
            f"command failed (exit {res.returncode}): {' '.join(map(str, cmd))}\n{res.stdout[-4000:]}{res.stderr[-4000:]}"
        )
    return res


def host_kernel_library(sanitize: bool = False, extra_flags: tuple[str, ...] = ()) -> Path:
    """Shared library of all kernels for the host (ctypes), built once per source version."""
    cc = require("gcc")
    flags = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared", *extra_flags]
    if sanitize:
        flags = ["-std=c99", "-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=undefined",
                 "-fno-sanitize-recover=all", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared", *extra_flags]
    srcs = kernel_sources()
    key = _digest(srcs + sorted(KERNEL_DIR.glob("*.h")), " ".join(flags))
    out = cache_dir() / f"libmico_kernels_{key}.so"
    if not out.exists():
        tmp = out.with_suffix(f".tmp{os.getpid()}")
        run([cc, *flags, "-I", str(KERNEL_DIR), *map(str, srcs), "-o", str(tmp)])
        tmp.replace(out)
    return out


def icount_plugin() -> Path:
    """Our QEMU TCG plugin that counts instructions between marker instructions."""
    cc = require("gcc")
    src = TARGET_DIR / "common" / "mico_icount_plugin.c"
    key = _digest([src], "plugin")
    out = cache_dir() / f"libmico_icount_{key}.so"
    if not out.exists():
        tmp = out.with_suffix(f".tmp{os.getpid()}")
        run([cc, "-O2", "-shared", "-fPIC", "-Wall", "-Wextra", str(src), "-o", str(tmp)])
        tmp.replace(out)
    return out
