"""Experiment presets: one dataclass that resolves to a `Problem` (model, proxy, cost, budget).

``budget_ratio`` sets the constraint relative to the uniform W8A8 policy's cost (the paper's
setting: e.g. 0.5 = half the latency of W8A8). Used by ``mico search``, ``mico compare`` and
``mico demo``, so a preset means the same problem everywhere.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mico import registry
from mico.cache import EvalCache
from mico.costs import cheapest_policy
from mico.problem import Constraint, Problem
from mico.proxies import HybridProxy, PTQProxy, QATConfig, QATProxy, load_context
from mico.record import RunRecord


@dataclass(frozen=True)
class ExperimentConfig:
    """A search problem on a zoo model."""

    model: str = "lenet5"
    proxy: str = "hybrid"  # ptq | qat | hybrid
    cost: str = "bops"  # a registered cost model (see `mico.registry`)
    budget_ratio: float | None = 0.5  # constraint = ratio * cost(W8A8); None = unconstrained
    budget_mode: str = "w8a8"  # "w8a8": ratio * cost(W8A8); "span": cheapest + ratio * (cost(W8A8) - cheapest)
    extra_constraints: tuple[tuple[str, float], ...] = ()  # (cost name, ratio of W8A8) pairs
    evals: int = 50
    w_bits: tuple[int, ...] = (2, 4, 8)
    a_bits: tuple[int, ...] = (2, 4, 8)
    pin_first_last: int | None = None
    qat: QATConfig = field(default_factory=QATConfig)
    hybrid_threshold: int = 4
    train_seed: int = 0
    experiment: str = "default"

    def __post_init__(self) -> None:
        if self.evals <= 0:
            raise ValueError(f"evals must be a positive number of evaluations, got {self.evals}")
        if self.budget_ratio is not None and not self.budget_ratio > 0:
            raise ValueError(f"budget_ratio must be positive (e.g. 0.5 = half of W8A8), got {self.budget_ratio}")
        if self.budget_mode not in ("w8a8", "span"):
            raise ValueError(f"budget_mode must be 'w8a8' or 'span', got {self.budget_mode!r}")
        if self.proxy not in ("ptq", "qat", "hybrid"):
            raise ValueError(f"proxy must be one of ptq, qat, hybrid; got {self.proxy!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_problem(cfg: ExperimentConfig, *, run_dir: str | Path | None = None, cache: EvalCache | None = None,
                  progress: bool = True, backend: Any = None) -> Problem:
    ctx = load_context(cfg.model, seed=cfg.train_seed, progress=progress)
    space = ctx.space.with_bits(cfg.w_bits, cfg.a_bits, cfg.pin_first_last)
    if cfg.proxy == "ptq":
        proxy = PTQProxy(ctx)
    elif cfg.proxy == "qat":
        proxy = QATProxy(ctx, cfg.qat)
    else:
        proxy = HybridProxy(ctx, cfg.hybrid_threshold, cfg.qat)
    names = [cfg.cost] + [c for c, _ in cfg.extra_constraints]
    costs = {n: registry.cost_model(n) for n in dict.fromkeys(names)}
    ref = space.uniform(max(space.w_choices), max(space.a_choices))

    def limit(name: str, ratio: float) -> float:
        top = costs[name].cost(space, ref).total
        if cfg.budget_mode == "w8a8":
            return ratio * top
        low = cheapest_policy(space, costs[name])[1]
        return low + ratio * (top - low)

    constraints = []
    if cfg.budget_ratio is not None:
        constraints.append(Constraint(cfg.cost, limit(cfg.cost, cfg.budget_ratio)))
    for name, ratio in cfg.extra_constraints:
        constraints.append(Constraint(name, limit(name, ratio)))
    record = RunRecord(run_dir) if run_dir is not None else None
    return Problem(space, proxy, costs, constraints, cfg.evals, cache if cache is not None else EvalCache(),
                   record, name=f"{cfg.model}/{cfg.cost}", backend=backend)
