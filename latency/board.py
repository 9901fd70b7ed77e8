"""Import kernel measurements from a real board (CSV), validated, into the profiler schema.

Schema (header row required, one kernel call per row):
    target   cortex-m7 | cortex-a53 | host
    kind     conv2d | depthwise | conv1d | linear
    in_c, out_c, in_h, in_w, k_h, k_w, stride, pad     positive ints (pad >= 0); conv1d/linear: in_h=1
    w_bits, a_bits                                      1..8
    o_cont   output container 2 | 4 | 8 | 32 (optional, default 8)
    cycles   measured cycles (> 0), or latency_ms together with clock_hz
The result has the columns of a profiler dataset (`latency.profile.COLUMNS`) and provenance
``source: board:<file>``, so the cost models can be fitted on it (`AnalyticLatency.fit`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from latency.profile import KernelConfig, NoKernel
from latency.sim.core import get_target

REQUIRED = ["target", "kind", "in_c", "out_c", "in_h", "in_w", "k_h", "k_w", "stride", "pad", "w_bits", "a_bits"]
INTS = ["in_c", "out_c", "in_h", "in_w", "k_h", "k_w", "stride", "pad", "w_bits", "a_bits", "o_cont"]


class BoardCSVError(ValueError):
    """The CSV does not follow the documented schema (message names the file, row and column)."""


def import_board_csv(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    try:
        df = pd.read_csv(path, comment="#")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise BoardCSVError(f"{path}: not a readable CSV ({e})") from e
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise BoardCSVError(f"{path}: missing column(s) {missing}; required: {REQUIRED} + cycles (or latency_ms, clock_hz)")
    if "cycles" not in df.columns:
        if {"latency_ms", "clock_hz"} <= set(df.columns):
            df["cycles"] = pd.to_numeric(df["latency_ms"], errors="coerce") * 1e-3 * pd.to_numeric(df["clock_hz"], errors="coerce")
        else:
            raise BoardCSVError(f"{path}: needs a 'cycles' column or both 'latency_ms' and 'clock_hz'")
    if "o_cont" not in df.columns:
        df["o_cont"] = 8
    rows = []
    for i, r in df.iterrows():
        line = i + 2
        try:
            get_target(str(r["target"]))
            ints = {}
            for c in INTS:
                v = pd.to_numeric(r[c], errors="coerce")
                if pd.isna(v) or float(v) != int(v):
                    raise BoardCSVError(f"{path}, row {line}: column {c!r} must be an integer, got {r[c]!r}")
                ints[c] = int(v)
            cyc = pd.to_numeric(r["cycles"], errors="coerce")
            if pd.isna(cyc) or cyc <= 0:
                raise BoardCSVError(f"{path}, row {line}: cycles must be a positive number, got {r['cycles']!r}")
            cfg = KernelConfig(str(r["kind"]), **ints)
        except BoardCSVError:
            raise
        except (ValueError, NoKernel, TypeError) as e:
            raise BoardCSVError(f"{path}, row {line}: {e}") from e
        rows.append({**cfg.__dict__, "out_h": cfg.out_h, "out_w": cfg.out_w, "macs": cfg.macs, "shape": cfg.shape_key,
                     "cycles": float(cyc), "instructions": -1, "status": 0, "target": r["target"]})
    out = pd.DataFrame(rows)
    out.attrs["provenance"] = {"source": f"board:{path.name}", "target": ",".join(sorted(set(df["target"].astype(str))))}
    return out
