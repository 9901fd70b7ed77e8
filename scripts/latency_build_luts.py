"""Simulate every zoo layer at every (w, a, out-container) of the {2,4,8} space: HAQ-style LUTs.

These per-layer simulations are also the whole-model ground truth of `latency_fidelity.py`.
Usage: .venv/bin/python scripts/latency_build_luts.py --target cortex-m7
"""

from __future__ import annotations

import argparse
import inspect
import json
import time
from pathlib import Path

import torch

from latency.models import build_lut
from mico.models import MODEL_ZOO, build_model
from mico.trace import trace_space


def zoo_spaces(bits=(2, 4, 8)):
    for name, spec in MODEL_ZOO.items():
        shp = inspect.signature(spec.builder).parameters["input_shape"].default
        space = trace_space(build_model(name).eval(), torch.zeros(1, *shp))
        yield name, space.with_bits(bits, bits)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", default="cortex-m7")
    ap.add_argument("--out", default=None)
    ap.add_argument("--o-conts", default="2,4,8", help="output containers to simulate (others: nearest)")
    args = ap.parse_args()
    out = Path(args.out or f"latency/data/lut-{args.target}.json")
    lut: dict = {}
    for name, space in zoo_spaces():
        t = time.time()
        lut.update(build_lut(space, args.target, o_conts=[int(x) for x in args.o_conts.split(",")]))
        print(f"{name}: {space.n_layers} layers, {time.time() - t:.1f} s", flush=True)
    out.write_text(json.dumps(lut))
    print("wrote", out)


if __name__ == "__main__":
    main()
