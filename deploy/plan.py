"""Static memory plan: one arena, tensors and scratch buffers placed first-fit by lifetime.

Every activation tensor lives from the op that writes it to the last op that reads it (through
aliases such as flatten); the scratch buffer of op i lives during op i only. Buffers are placed
largest first, each at the lowest 8-byte-aligned offset where it overlaps no placed buffer whose
lifetime intersects its own (TinyEngine / TFLM style). The network input and the logits are owned
by the caller and are not in the arena.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from deploy.lower import LoweredModel

ALIGN = 8


@dataclass
class Buffer:
    key: str  # "t<id>" for a tensor, "s<op>" for scratch
    size: int
    first: int
    last: int
    offset: int = -1


@dataclass
class MemoryPlan:
    buffers: dict[str, Buffer] = field(default_factory=dict)
    arena_bytes: int = 0

    def tensor_offset(self, tid: int) -> int:
        return self.buffers[f"t{tid}"].offset

    def scratch(self, op_index: int) -> tuple[int, int]:
        b = self.buffers.get(f"s{op_index}")
        return (b.offset, b.size) if b else (0, 0)

    @property
    def naive_bytes(self) -> int:
        """What one buffer per tensor would need (for comparison)."""
        return sum(b.size for b in self.buffers.values())


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def plan_memory(m: LoweredModel) -> MemoryPlan:
    root = {t.id: (t.alias_of if t.alias_of is not None else t.id) for t in m.tensors}
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for i, op in enumerate(m.ops):
        r = root[op.output]
        first.setdefault(r, i)
        last[r] = max(last.get(r, i), i)
        for t in op.inputs:
            last[root[t]] = max(last.get(root[t], i), i)
    plan = MemoryPlan()
    for r, f in first.items():
        t = m.tensors[r]
        if t.external:
            continue
        plan.buffers[f"t{r}"] = Buffer(f"t{r}", _align(t.nbytes), f, last[r])
    for i, op in enumerate(m.ops):
        if op.scratch_bytes:
            plan.buffers[f"s{i}"] = Buffer(f"s{i}", _align(op.scratch_bytes), i, i)
    placed: list[Buffer] = []
    for b in sorted(plan.buffers.values(), key=lambda b: (-b.size, b.first, b.key)):
        live = sorted((p for p in placed if p.first <= b.last and b.first <= p.last), key=lambda p: p.offset)
        off = 0
        for p in live:
            if off + b.size <= p.offset:
                break
            off = max(off, p.offset + p.size)
        b.offset = off
        placed.append(b)
    plan.arena_bytes = max((b.offset + b.size for b in placed), default=0)
    for t in m.tensors:  # aliases share their root's place
        if t.alias_of is not None and f"t{t.alias_of}" in plan.buffers:
            plan.buffers[f"t{t.id}"] = plan.buffers[f"t{t.alias_of}"]
    return plan
