"""`Problem`: the one choke point between searchers and accuracy.

A problem is a search space, an accuracy proxy, cost models, constraints and an evaluation
budget. ``cost(policy)`` is cheap and unbudgeted. ``evaluate(policy)`` is the only way to obtain
an accuracy; it validates the policy, counts it against the budget (distinct policies of this
run; asking again is free and flagged ``repeat``), looks it up in the shared SQLite cache (a hit
saves time and is flagged ``cache_hit``; it still counts, so every searcher sees the same number of
distinct policies), times it, decides feasibility, and appends it to the run record. A run that
was killed resumes from its record: recorded policies are served from it, in budget order.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mico.cache import EvalCache, stable_hash
from mico.costs import CostModel, cheapest_policy
from mico.record import RunRecord
from mico.space import Policy, SearchSpace

log = logging.getLogger(__name__)


class BudgetExhausted(RuntimeError):
    """Raised by `Problem.evaluate` when the evaluation budget is used up."""


@dataclass(frozen=True)
class Constraint:
    """``costs[cost] <= limit``."""

    cost: str
    limit: float

    def __post_init__(self) -> None:
        if not np.isfinite(self.limit) or self.limit <= 0:
            raise ValueError(f"constraint {self.cost} <= {self.limit}: the limit must be a positive number")

    def __str__(self) -> str:
        return f"{self.cost} <= {self.limit:.6g}"


@dataclass(frozen=True)
class Evaluation:
    """One evaluated policy."""

    index: int  # position in the budget (0-based); repeats carry the original index
    policy: Policy
    accuracy: float
    costs: dict[str, float]
    feasible: bool
    regime: str = ""
    eval_s: float = 0.0  # compute time of the original evaluation
    cache_hit: bool = False
    repeat: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "policy": self.policy.to_dict(),
            "accuracy": self.accuracy,
            "costs": self.costs,
            "feasible": self.feasible,
            "regime": self.regime,
            "eval_s": self.eval_s,
            "cache_hit": self.cache_hit,
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Evaluation:
        return cls(
            d["index"], Policy.from_dict(d["policy"]), d["accuracy"], d["costs"], d["feasible"],
            d.get("regime", ""), d.get("eval_s", 0.0), d.get("cache_hit", False), False, d.get("extra", {}),
        )


class Problem:
    """Space + proxy + cost models + constraints + budget (see module docstring).

    ``proxy`` needs ``config() -> dict`` (everything that changes its result) and
    ``evaluate(policy) -> ProxyResult``. ``costs`` maps names to `CostModel`s; constraints refer to
    them by name. ``cache`` (an `EvalCache`) and ``record`` (a `RunRecord`) are optional.
    """

    def __init__(
        self,
        space: SearchSpace,
        proxy: Any,
        costs: dict[str, CostModel] | None = None,
        constraints: Sequence[Constraint] = (),
        budget: int = 100,
        cache: EvalCache | None = None,
        record: RunRecord | None = None,
        name: str = "",
        backend: Any = None,
    ):
        if not isinstance(budget, (int, np.integer)) or budget <= 0:
            raise ValueError(f"the evaluation budget must be a positive integer, got {budget!r}")
        self.space, self.proxy, self.costs = space, proxy, dict(costs or {})
        self.constraints = tuple(constraints)
        for c in self.constraints:
            if c.cost not in self.costs:
                raise ValueError(f"constraint {c} refers to cost {c.cost!r}; known costs: {sorted(self.costs)}")
        self.budget, self.cache, self.record, self.name = int(budget), cache, record, name
        self.backend = backend  # where proxy calls of a batch run (`mico.backends`); None = serial
        self.history: list[Evaluation] = []
        self._seen: dict[str, Evaluation] = {}
        self._replay: dict[str, Evaluation] = {}
        self._proxy_key = stable_hash(proxy.config())
        self.check_reachable()
        if record is not None:
            for d in record.load_trials():
                ev = Evaluation.from_dict(d)
                self._replay[ev.policy.key()] = ev
            if self._replay:
                log.info("resuming %s: %d recorded evaluations", record.dir, len(self._replay))

    # ------------------------------------------------------------------ costs
    def cost(self, policy: Policy) -> dict[str, float]:
        """Every cost of ``policy`` (cheap, unbudgeted)."""
        return {name: model.cost(self.space, policy).total for name, model in self.costs.items()}

    def cost_totals(self, policies: Sequence[Policy]) -> dict[str, np.ndarray]:
        """Vectorised totals of every cost for many policies."""
        return {name: np.asarray(model.totals(self.space, policies)) for name, model in self.costs.items()}

    def is_feasible(self, costs: dict[str, float]) -> bool:
        return all(costs[c.cost] <= c.limit * (1 + 1e-12) for c in self.constraints)

    def feasible_mask(self, policies: Sequence[Policy]) -> np.ndarray:
        totals = self.cost_totals(policies)
        mask = np.ones(len(policies), dtype=bool)
        for c in self.constraints:
            mask &= totals[c.cost] <= c.limit * (1 + 1e-12)
        return mask

    def check_reachable(self) -> None:
        """Raise if no policy can meet a constraint (judged by `mico.costs.cheapest_policy`)."""
        for c in self.constraints:
            policy, cost = cheapest_policy(self.space, self.costs[c.cost])
            if cost > c.limit:
                raise ValueError(
                    f"{c} is unreachable: the cheapest policy ({policy.key()}) costs {cost:.6g}; "
                    "raise the limit or allow other bits"
                )

    # ------------------------------------------------------------------ evaluation
    @property
    def used(self) -> int:
        return len(self._seen)

    @property
    def remaining(self) -> int:
        return self.budget - self.used

    @property
    def exhausted(self) -> bool:
        return self.used >= self.budget

    def cache_key(self, policy: Policy) -> str:
        return stable_hash({"proxy": self._proxy_key, "space": self.space.fingerprint, "policy": policy.key()})

    def evaluate(self, policy: Policy) -> Evaluation:
        """Accuracy, costs and feasibility of ``policy`` (see module docstring)."""
        return self.evaluate_many([policy])[0]

    def evaluate_many(self, policies: Sequence[Policy]) -> list[Evaluation]:
        """Evaluate a batch; new policies beyond the budget raise `BudgetExhausted` (none is lost).

        ``self.backend`` (an object with ``map(fn, items)``) may compute the proxy calls in
        parallel; results are recorded in the order of ``policies``.
        """
        out: list[Evaluation | None] = [None] * len(policies)
        todo: list[tuple[int, Policy, int]] = []  # (position, policy, budget index)
        claimed: dict[str, int] = {}
        for pos, policy in enumerate(policies):
            self.space.validate(policy)
            key = policy.key()
            if key in self._seen:
                out[pos] = _as_repeat(self._seen[key])
                continue
            if key in claimed:
                continue
            if self.used + len(claimed) >= self.budget:
                if not claimed:
                    raise BudgetExhausted(f"the evaluation budget of {self.budget} distinct policies is used up")
                break
            claimed[key] = pos
            if key in self._replay:
                ev = self._replay[key]
                self._accept(ev, record=False)
                out[pos] = ev
                del claimed[key]
                continue
            todo.append((pos, policy, self.used + len(claimed) - 1))
        results = self._compute([p for _, p, _ in todo])
        for (pos, policy, _), (res, hit) in zip(todo, results):
            costs = self.cost(policy)
            ev = Evaluation(
                self.used, policy, float(res["accuracy"]), costs, self.is_feasible(costs),
                res.get("regime", ""), float(res.get("eval_s", 0.0)), hit, False, res.get("extra", {}),
            )
            self._accept(ev, record=True)
            out[pos] = ev
        for pos, policy in enumerate(policies):  # duplicates inside the batch
            if out[pos] is None and policy.key() in self._seen:
                out[pos] = _as_repeat(self._seen[policy.key()])
        return [ev for ev in out if ev is not None]

    def _compute(self, policies: list[Policy]) -> list[tuple[dict[str, Any], bool]]:
        results: list[tuple[dict[str, Any], bool] | None] = [None] * len(policies)
        missing = []
        for i, p in enumerate(policies):
            hit = self.cache.get(self.cache_key(p)) if self.cache is not None else None
            if hit is not None:
                results[i] = (hit, True)
            else:
                missing.append(i)
        fn = _ProxyCall(self.proxy)
        todo = [policies[i] for i in missing]
        computed = self.backend.map(fn, todo) if self.backend is not None and len(todo) > 1 else [fn(p) for p in todo]
        for i, res in zip(missing, computed):
            if self.cache is not None:
                self.cache.put(self.cache_key(policies[i]), res)
            results[i] = (res, False)
        return results  # type: ignore[return-value]

    def _accept(self, ev: Evaluation, record: bool) -> None:
        self._seen[ev.policy.key()] = ev
        self.history.append(ev)
        if record and self.record is not None:
            self.record.append_trial(ev.to_dict())

    # ------------------------------------------------------------------ results
    def best_feasible(self) -> Evaluation | None:
        feasible = [e for e in self.history if e.feasible]
        return max(feasible, key=lambda e: (e.accuracy, -e.index)) if feasible else None

    def pareto_front(self, cost: str | None = None) -> list[Evaluation]:
        """Evaluations not dominated in (accuracy up, every cost -- or just ``cost`` -- down)."""
        names = [cost] if cost else list(self.costs)
        pts = [(e.accuracy, [e.costs[n] for n in names], e) for e in self.history]
        front = []
        for acc, cs, e in pts:
            dominated = any(
                a2 >= acc and all(c2 <= c for c2, c in zip(cs2, cs)) and (a2 > acc or any(c2 < c for c2, c in zip(cs2, cs)))
                for a2, cs2, _ in pts
            )
            if not dominated:
                front.append(e)
        return sorted(front, key=lambda e: [e.costs[n] for n in names])

    def config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "space": self.space.to_dict(),
            "space_fingerprint": self.space.fingerprint,
            "proxy": self.proxy.config(),
            "costs": sorted(self.costs),
            "constraints": [{"cost": c.cost, "limit": c.limit} for c in self.constraints],
            "budget": self.budget,
        }


def _as_repeat(ev: Evaluation) -> Evaluation:
    return Evaluation(ev.index, ev.policy, ev.accuracy, ev.costs, ev.feasible, ev.regime, ev.eval_s,
                      ev.cache_hit, True, ev.extra)


class _ProxyCall:
    """Picklable ``policy -> result dict`` (for process / Ray backends)."""

    def __init__(self, proxy: Any):
        self.proxy = proxy

    def __call__(self, policy: Policy) -> dict[str, Any]:
        t0 = time.perf_counter()
        res = self.proxy.evaluate(policy)
        return {"accuracy": res.accuracy, "regime": res.regime, "extra": res.extra,
                "eval_s": time.perf_counter() - t0}
