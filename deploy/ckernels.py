"""ctypes bindings of the kernel library on the host (for property tests and quick checks)."""

from __future__ import annotations

import ctypes as ct
from functools import lru_cache

import numpy as np

from deploy.toolchain import host_kernel_library

VARIANTS = {"auto": 0, "portable": 1, "dualmac": 2, "bytelane": 3, "dw": 4, "neon": 5, "poly": 7, "rows": 8,
            "long": 9, "fields": 10}
CONV_FIELDS = (
    "in_h in_w in_c out_h out_w out_c k_h k_w stride_h stride_w pad_h pad_w groups w_bits w_cont in_bits "
    "in_cont in_signed out_cont out_signed out_lo out_hi out_chw w_row_bytes pool_h pool_w"
).split()


class ConvParams(ct.Structure):
    _fields_ = [(n, ct.c_int32) for n in CONV_FIELDS] + [
        ("weights", ct.c_void_p), ("bias", ct.c_void_p), ("mult", ct.c_void_p), ("shift", ct.c_void_p),
        ("wsum", ct.c_void_p), ("prep", ct.c_void_p),
    ]


class AddParams(ct.Structure):
    _fields_ = [(n, ct.c_int32) for n in "n a_cont a_signed b_cont b_signed out_cont out_lo out_hi m_a m_b shift".split()]


class PoolParams(ct.Structure):
    _fields_ = [(n, ct.c_int32) for n in (
        "in_h in_w c out_h out_w k_h k_w stride_h stride_w pad_h pad_w in_cont in_signed out_cont out_lo out_hi "
        "mult shift").split()]


class ReluParams(ct.Structure):
    _fields_ = [(n, ct.c_int32) for n in ("n", "cont", "is_signed")]


@lru_cache(maxsize=6)
def library(sanitize: bool = False, extra_flags: tuple[str, ...] = ()) -> ct.CDLL:
    """The host build of the kernels (``extra_flags``: e.g. ``-DMICO_REQUANT_WORDS`` for the
    32-bit targets' two-word requantization path)."""
    lib = ct.CDLL(str(host_kernel_library(sanitize=sanitize, extra_flags=extra_flags)))
    lib.mico_conv_variant_run.restype = ct.c_int
    lib.mico_conv_get_buffer_size.restype = ct.c_int32
    lib.mico_conv_select.restype = ct.c_int
    lib.mico_conv_rows_fields.restype = ct.c_int32
    lib.mico_conv_rows_lut_bytes.restype = ct.c_int32
    lib.mico_conv_prepare.restype = ct.c_int32
    return lib


def _buf(data: bytes | np.ndarray) -> ct.Array:
    raw = bytes(data) if not isinstance(data, np.ndarray) else data.tobytes()
    return ct.create_string_buffer(raw, max(len(raw), 1))


def run_conv(op, in_bytes: bytes, variant: str = "auto", lib: ct.CDLL | None = None) -> tuple[int, bytes]:
    """Run one lowered conv op (`deploy.lower.COp`) on packed input bytes; returns (status, output)."""
    lib = lib or library()
    p, keep = _conv_params(op)
    prep = getattr(op, "prep", None)
    if prep:
        keep.append(_buf(prep))
        p.prep = ct.addressof(keep[-1])
    ph, pw = max(op.params.get("pool_h", 0), 1), max(op.params.get("pool_w", 0), 1)
    n_out = op.params["out_h"] // ph * (op.params["out_w"] // pw) * op.params["out_c"]
    cont = op.params["out_cont"]
    out_len = 4 * n_out if cont == 32 else (n_out * cont + 7) // 8
    out = ct.create_string_buffer(out_len + 8)
    size = lib.mico_conv_get_buffer_size(ct.byref(p))
    scratch = ct.create_string_buffer(max(size, 1))
    inp = _buf(in_bytes + b"\0" * 8)
    st = lib.mico_conv_variant_run(VARIANTS[variant], ct.byref(p), inp, out, scratch, size)
    return st, out.raw[:out_len]


def _conv_params(op) -> tuple[ConvParams, list]:
    """The C params of a lowered conv op and the buffers its pointers point into (keep them alive)."""
    keep = [_buf(op.weights), _buf(op.bias.astype(np.int32)), _buf(op.mult.astype(np.int32)),
            _buf(op.shift.astype(np.int8)), _buf(op.wsum.astype(np.int32))]
    p = ConvParams(**{k: int(v) for k, v in op.params.items()})
    p.weights, p.bias, p.mult, p.shift, p.wsum = (ct.addressof(b) for b in keep)
    return p, keep


def prepare(op, lib: ct.CDLL | None = None) -> bytes | None:
    """`mico_conv_prepare` of a lowered conv op: the constant data the kernel the host build picks
    (the same choice as Cortex-M7's) would make on every call, or None where it makes none."""
    lib = lib or library()
    p, keep = _conv_params(op)
    n = int(lib.mico_conv_prepare(ct.byref(p), None, 0))
    if n <= 0:
        return None
    dst = ct.create_string_buffer(n)
    if int(lib.mico_conv_prepare(ct.byref(p), dst, n)) != n:
        raise RuntimeError("mico_conv_prepare wrote a different size than it asked for")
    del keep
    return dst.raw


def run_add(params: dict[str, int], a: bytes, b: bytes, lib: ct.CDLL | None = None) -> tuple[int, bytes]:
    """Run `mico_add` (``params``: the fields of `AddParams`) on packed inputs; (status, output)."""
    lib = lib or library()
    p = AddParams(**{k: int(v) for k, v in params.items()})
    n_bytes = (p.n * p.out_cont + 7) // 8
    out = ct.create_string_buffer(n_bytes + 8)
    st = lib.mico_add(ct.byref(p), _buf(a + b"\0" * 8), _buf(b + b"\0" * 8), out)
    return st, out.raw[:n_bytes]


def run_maxpool(params: dict[str, int], x: bytes, lib: ct.CDLL | None = None) -> tuple[int, bytes]:
    """Run `mico_maxpool` (``params``: the fields of `PoolParams`) on packed NHWC input; (status, output)."""
    lib = lib or library()
    p = PoolParams(**{k: int(params.get(k, 0)) for k, _ in PoolParams._fields_})
    n_bytes = (p.out_h * p.out_w * p.c * p.in_cont + 7) // 8
    out = ct.create_string_buffer(n_bytes)
    st = lib.mico_maxpool(ct.byref(p), _buf(x), out)
    return st, out.raw[:n_bytes]


def buffer_size(op, lib: ct.CDLL | None = None) -> int:
    lib = lib or library()
    p = ConvParams(**{k: int(v) for k, v in op.params.items()})
    return lib.mico_conv_get_buffer_size(ct.byref(p))


def rows_fields(params: dict[str, int], lib: ct.CDLL | None = None) -> int:
    """Output pixels per 32-bit operand of the first-layer kernel's sub-byte path for these conv
    parameters (`mico_conv_rows_fields`: 2-4; 0 where it takes the 16-bit dual-MAC path)."""
    lib = lib or library()
    p = ConvParams(**{k: int(v) for k, v in params.items()})
    return int(lib.mico_conv_rows_fields(ct.byref(p)))


def rows_lut_bytes(params: dict[str, int], lib: ct.CDLL | None = None) -> int:
    """Scratch bytes of the first-layer kernel's table-lookup path for these conv parameters
    (`mico_conv_rows_lut_bytes`; 0 where that path does not apply)."""
    lib = lib or library()
    p = ConvParams(**{k: int(v) for k, v in params.items()})
    return int(lib.mico_conv_rows_lut_bytes(ct.byref(p)))


def selected_variant(op, lib: ct.CDLL | None = None) -> str:
    lib = lib or library()
    p = ConvParams(**{k: int(v) for k, v in op.params.items()})
    p.wsum = 1  # lowered ops always carry wsum; the selection only tests it for NULL, never reads it
    code = lib.mico_conv_select(ct.byref(p))
    return {v: k for k, v in VARIANTS.items()}[code]
