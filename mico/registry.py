"""Searchers, cost models, models and CLI commands by name, incl. third-party entry points.

Built-in entries are ``"module:attr"`` strings, imported only when asked for, so `mico` never
imports the packages above it (DESIGN.md section 1). A third-party package adds its own through
the entry-point groups ``mico.searchers``, ``mico.costs``, ``mico.models`` and ``mico.commands``.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

BUILTIN: dict[str, dict[str, str]] = {
    "mico.searchers": {
        "mico": "mico.mico_search:MiCoSearch",
        "random": "baselines.random_search:RandomSearch",
        "ga": "evolution.ga:GeneticSearch",
        "nsga2": "evolution.nsga2:NSGA2Search",
        "uniform": "baselines.uniform:UniformSearch",
        "greedy": "baselines.greedy:GreedySearch",
        "hawq": "baselines.hawq:HAWQSearch",
        "optuna": "baselines.optuna_tpe:OptunaTPESearch",
        "haq": "agents.haq:HAQ",
        "haq-sb3": "agents.haq:HAQSB3",
        "releq": "agents.releq:ReLeQ",
        "releq-ppo": "agents.releq:ReLeQPPO",
    },
    "mico.costs": {
        "bops": "mico.costs:BOPs",
        "size": "mico.costs:ModelSize",
        "latency-m7": "latency.models:LatencyM7",
        "latency-analytic-m7": "latency.models:AnalyticM7",
        "latency-a53": "latency.models:LatencyA53",
        "latency-analytic-a53": "latency.models:AnalyticA53",
        "peak-sram": "latency.models:PeakSRAM",
        "flash": "latency.models:Flash",
    },
    "mico.models": {},
    "mico.commands": {
        "compare": "mico.compare:register",
        "deploy": "deploy.cli:register",
        "latency": "latency.cli:register",
    },
}


def _load(target: str) -> Any:
    module, _, attr = target.partition(":")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def available(group: str) -> dict[str, str]:
    """Name -> target of every entry of ``group`` (built-in first, then entry points)."""
    out = dict(BUILTIN.get(group, {}))
    for ep in entry_points(group=group):
        out.setdefault(ep.name, ep.value)
    return out


def get(group: str, name: str) -> Any:
    entries = available(group)
    if name not in entries:
        kind = group.split(".")[-1].rstrip("s")
        raise ValueError(f"unknown {kind} {name!r}; known: {', '.join(sorted(entries))}")
    return _load(entries[name])


def searcher(name: str, **hyperparameters: Any) -> Any:
    """An instance of the searcher registered as ``name``."""
    cls = get("mico.searchers", name)
    try:
        return cls(**hyperparameters)
    except TypeError as e:
        raise ValueError(f"invalid hyper-parameters for searcher {name!r}: {e}") from e


def cost_model(name: str, **kwargs: Any) -> Any:
    return get("mico.costs", name)(**kwargs)
