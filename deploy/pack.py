"""Bit packing of weights and activations (the storage format the C kernels read).

* **Containers**: a b-bit weight is stored in the next container of {1, 2, 4, 8} bits
  (`weight_container`); a b-bit activation in the next of {2, 4, 8} (`act_container`: a 1-bit
  activation uses a 2-bit container). Values stay in their b-bit range.
* **Order**: a tensor is a flat stream of elements; element ``i`` of a ``c``-bit container lives in
  byte ``i // (8 / c)`` at bit ``(i % (8 / c)) * c`` (little-endian within the byte). Signed values
  are stored as ``c``-bit two's complement, unsigned values as they are. The last byte is padded
  with zero bits; no tail element is dropped.
* **1-bit weights** are {-1, +1}: bit 1 = +1, bit 0 = -1.
* **Weight rows**: a layer's weights are one row per output channel (K elements in the kernel's
  order, see `deploy.lower`), each row packed on its own and padded with zero elements to a
  multiple of 32 bits, so every row starts on a 4-byte boundary.
"""

from __future__ import annotations

import numpy as np

CONTAINERS_W = (1, 2, 4, 8)
CONTAINERS_A = (2, 4, 8)


def weight_container(bits: int) -> int:
    if not 1 <= bits <= 8:
        raise ValueError(f"weight bits must be in 1..8, got {bits}")
    return next(c for c in CONTAINERS_W if c >= bits)


def act_container(bits: int) -> int:
    if not 1 <= bits <= 8:
        raise ValueError(f"activation bits must be in 1..8, got {bits}")
    return next(c for c in CONTAINERS_A if c >= bits)


def packed_bytes(n: int, cont: int) -> int:
    """Bytes of ``n`` elements of a ``cont``-bit container (tail byte included)."""
    return (n * cont + 7) // 8


def pack(values: np.ndarray, cont: int) -> bytes:
    """Pack integer ``values`` (flattened in C order) into ``cont``-bit fields (two's complement)."""
    v = np.asarray(values).reshape(-1).astype(np.int64)
    if cont not in (1, 2, 4, 8):
        raise ValueError(f"container must be 1, 2, 4 or 8 bits, got {cont}")
    lo, hi = -(1 << (cont - 1)), (1 << cont) - 1
    if v.size and (v.min() < lo or v.max() > hi):
        raise ValueError(f"values {v.min()}..{v.max()} do not fit a {cont}-bit container")
    fields = (v & ((1 << cont) - 1)).astype(np.uint8)
    per = 8 // cont
    pad = (-fields.size) % per
    fields = np.concatenate([fields, np.zeros(pad, np.uint8)]).reshape(-1, per)
    shifts = (np.arange(per) * cont).astype(np.uint8)
    return (fields << shifts).sum(axis=1, dtype=np.uint32).astype(np.uint8).tobytes()


def unpack(data: bytes, n: int, cont: int, signed: bool) -> np.ndarray:
    """Inverse of `pack` for ``n`` elements."""
    raw = np.frombuffer(bytes(data), dtype=np.uint8)
    per = 8 // cont
    shifts = (np.arange(per) * cont).astype(np.uint8)
    fields = ((raw[:, None] >> shifts) & ((1 << cont) - 1)).reshape(-1)[:n].astype(np.int64)
    if signed:
        fields = np.where(fields >= (1 << (cont - 1)), fields - (1 << cont), fields)
    return fields


def pack_weight_rows(w2d: np.ndarray, bits: int) -> tuple[bytes, int]:
    """Pack an (out, K) integer weight matrix row by row; returns (bytes, row_bytes).

    1-bit weights must be in {-1, +1} and are stored as bits (1 = +1).
    """
    w2d = np.asarray(w2d, dtype=np.int64)
    cont = weight_container(bits)
    rows, k = w2d.shape
    if bits == 1:
        if np.any((w2d != 1) & (w2d != -1)):
            raise ValueError("1-bit weights must be -1 or +1")
        w2d = (w2d > 0).astype(np.int64)
    else:
        qmax = (1 << (bits - 1)) - 1
        if w2d.size and np.abs(w2d).max() > qmax:
            raise ValueError(f"{bits}-bit weights must lie in [-{qmax}, {qmax}], found {np.abs(w2d).max()}")
    per_word = 32 // cont
    k_pad = -(-k // per_word) * per_word
    padded = np.zeros((rows, k_pad), dtype=np.int64)
    padded[:, :k] = w2d
    row_bytes = k_pad * cont // 8
    return pack(padded, cont), row_bytes


def unpack_weight_rows(data: bytes, rows: int, k: int, bits: int) -> np.ndarray:
    cont = weight_container(bits)
    per_word = 32 // cont
    k_pad = -(-k // per_word) * per_word
    v = unpack(data, rows * k_pad, cont, signed=bits != 1).reshape(rows, k_pad)[:, :k]
    return np.where(v > 0, 1, -1) if bits == 1 else v
