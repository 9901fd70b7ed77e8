"""Code generator: a lowered model -> ``model.c`` / ``model.h`` / ``model_meta.json``.

Weights, biases and requantization parameters become ``const`` arrays (flash); all activations
and scratch buffers live in one static arena placed by `deploy.plan.plan_memory`; ``model_run``
calls one kernel per op with literal parameter structs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deploy.lower import LoweredModel
from deploy.plan import MemoryPlan, plan_memory
from deploy.toolchain import TEMPLATE_DIR

FORMAT_VERSION = 1


@dataclass
class GeneratedModel:
    model_c: Path
    model_h: Path
    meta_json: Path
    plan: MemoryPlan
    meta: dict[str, Any]


def _env():
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)), trim_blocks=True,
                              lstrip_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined)


def c_array(values: np.ndarray | bytes, per_line: int = 24) -> str:
    if isinstance(values, (bytes, bytearray)):
        v = [f"0x{b:02x}" for b in values]
    else:
        v = [str(int(x)) for x in np.asarray(values).reshape(-1)]
    if not v:
        return "0"
    return "\n".join("    " + ", ".join(v[i : i + per_line]) + "," for i in range(0, len(v), per_line))


def _fields(d: dict[str, int]) -> str:
    return ", ".join(f".{k} = {int(v)}" for k, v in d.items())


def _float_lit(x: float) -> str:
    return f"{float(np.float32(x)).hex()}f" if np.isfinite(x) else "0.0f"


def generate(m: LoweredModel, out_dir: Path, *, model_name: str = "model",
             extra_meta: dict[str, Any] | None = None) -> GeneratedModel:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plan = plan_memory(m)

    def ref(tid: int, const: bool) -> str:
        t = m.tensors[tid]
        root = m.tensors[t.alias_of] if t.alias_of is not None else t
        if root.external == "input":
            return "input"
        if root.external == "output":
            return "output"
        return f"(mico_arena + {plan.tensor_offset(root.id)})"

    ops = []
    for i, op in enumerate(m.ops):
        d: dict[str, Any] = {"name": op.name, "kind": op.kind, "layer": op.layer, "w_bits": op.w_bits,
                             "a_bits": op.a_bits, "macs": op.macs, "in0": ref(op.inputs[0], True),
                             "out": ref(op.output, False)}
        if op.kind == "conv":
            d.update(w=c_array(op.weights), wlen=len(op.weights), n_ch=op.params["out_c"],
                     bias=c_array(op.bias, 10**9).strip().rstrip(","), mult=c_array(op.mult, 10**9).strip().rstrip(","),
                     shift=c_array(op.shift, 10**9).strip().rstrip(","), wsum=c_array(op.wsum, 10**9).strip().rstrip(","),
                     fields=_fields(op.params))
            d.update(prep=None, prep_words=0)
            if op.prep:  # 4-byte words (the kernels read it as uint32 / uint64)
                words = np.frombuffer(op.prep + b"\0" * (-len(op.prep) % 4), dtype="<u4")
                d.update(prep="\n".join("    " + ", ".join(f"0x{int(x):08x}u" for x in words[i : i + 8]) + ","
                                        for i in range(0, len(words), 8)), prep_words=len(words))
            off, size = plan.scratch(i)
            d.update(scratch=f"(mico_arena + {off})" if size else "(void *)0", scratch_size=size)
        elif op.kind == "add":
            f = dict(op.params, m_a=int(op.mult[0]), m_b=int(op.mult[1]), shift=int(op.shift[0]))
            d.update(fields=_fields(f), in1=ref(op.inputs[1], True))
        elif op.kind in ("maxpool", "avgpool"):
            f = dict(op.params)
            if op.kind == "avgpool":
                f.update(mult=int(op.mult[0]), shift=int(op.shift[0]))
            d.update(fields=_fields(f))
        else:
            d.update(fields=_fields(op.params))
        ops.append(d)

    iq = m.input_q
    ctx = dict(
        format_version=FORMAT_VERSION, model_name=model_name, policy_key=m.policy.key(),
        input_shape=tuple(m.input_shape), input_bits=iq.bits, input_signed=iq.signed, input_scale=iq.scale,
        input_cont=m.tensors[m.input_id].cont, input_bytes=m.input_bytes, n_outputs=m.n_outputs,
        arena_bytes=plan.arena_bytes, weight_bytes=m.weight_bytes, ops=ops,
        out_scale="\n".join("    " + ", ".join(_float_lit(x) for x in m.out_scale[i : i + 8]) + ","
                            for i in range(0, len(m.out_scale), 8)),
    )
    env = _env()
    model_c = out_dir / "model.c"
    model_h = out_dir / "model.h"
    model_c.write_text(env.get_template("model.c.j2").render(**ctx))
    model_h.write_text(env.get_template("model.h.j2").render(**ctx))
    layers = [
        {"op": op.name, "layer": op.layer, "w_bits": op.w_bits, "a_bits": op.a_bits, "macs": op.macs,
         "weight_bytes": len(op.weights), "params": op.params}
        for op in m.ops if op.kind == "conv"
    ]
    meta = {
        "format_version": FORMAT_VERSION,
        "model": model_name,
        "policy": m.policy.to_dict(),
        "policy_key": m.policy.key(),
        "input": {"shape": list(m.input_shape), "bits": iq.bits, "signed": iq.signed, "scale": iq.scale,
                  "lo": iq.lo, "hi": iq.hi, "container": m.tensors[m.input_id].cont, "bytes": m.input_bytes,
                  "layout": "NHWC"},
        "n_outputs": m.n_outputs,
        "layers": layers,
        "weight_bytes": m.weight_bytes,
        "prep_bytes": m.prep_bytes,
        "arena_bytes": plan.arena_bytes,
        "arena_naive_bytes": plan.naive_bytes,
        "total_macs": sum(op.macs for op in m.ops),
        **(extra_meta or {}),
    }
    meta_json = out_dir / "model_meta.json"
    meta_json.write_text(json.dumps(meta, indent=1))
    return GeneratedModel(model_c, model_h, meta_json, plan, meta)
