"""Cycle-approximate ground truth: per-block execution counts (QEMU TCG plugin) x llvm-mca prices.

See `latency.sim.core` for the method and its known limits.
"""

from latency.sim.core import (
    TARGETS,
    SimError,
    SimResult,
    SimulationTimeout,
    Target,
    build_elf,
    get_target,
    simulate,
)

__all__ = [
    "TARGETS",
    "SimError",
    "SimResult",
    "SimulationTimeout",
    "Target",
    "build_elf",
    "get_target",
    "simulate",
]
