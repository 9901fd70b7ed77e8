"""Encoded-space operators shared by the evolutionary searchers (DEAP naming: ``cx*``, ``mut*``, ``sel*``).

A policy is encoded as `SearchSpace.encode` does: an integer vector of choice indices over the
free layers, ``[w..., a...]``. Every operator takes the searcher's seeded ``numpy`` generator;
nothing touches the global ``random`` state.
"""

from __future__ import annotations

import numpy as np
from deap import base

from mico.encoding import Encoding


def cx_uniform(X1: np.ndarray, X2: np.ndarray, p: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Uniform crossover of paired rows: each gene is swapped with probability ``p``."""
    swap = rng.random(X1.shape) < p
    return np.where(swap, X2, X1), np.where(swap, X1, X2)


def mut_level(X: np.ndarray, levels: np.ndarray, p: float, rng: np.random.Generator) -> np.ndarray:
    """Each gene moves one level up or down (clipped) with probability ``p``; at least one gene per row."""
    n, d = X.shape
    hit = rng.random((n, d)) < p
    hit[np.arange(n), rng.integers(0, d, size=n)] = True
    step = np.where(rng.random((n, d)) < 0.5, -1, 1)
    return np.clip(X + hit * step, 0, levels - 1)


def mut_repair(X: np.ndarray, enc: Encoding, rng: np.random.Generator) -> np.ndarray:
    """Repair: step genes toward the cheapest policy (`Encoding.cheapest`), those that save most
    cost first (randomised), until every row is feasible.

    Where costs fall with the bits this lowers the costliest bits; where a layer is cheaper at
    higher bits (Cortex-M7 latency of small layers) its genes move up instead. Savings are priced
    per layer with the additive table (`Encoding.unit_costs`); feasibility with the exact costs."""
    X = X.copy()
    if not len(enc.limits):
        return X
    target = enc.cheapest()
    unit = enc.unit_costs()
    nf = enc.nf
    layer = np.arange(nf)
    for _ in range(int(enc.levels.sum())):
        v = enc.violation(X)
        bad = np.flatnonzero(v > 0)
        if not len(bad):
            break
        Xb = X[bad]
        step = np.sign(target[None, :] - Xb)
        movable = step != 0
        if not movable.any():
            break
        wi, ai = Xb[:, :nf], Xb[:, nf:]
        now = unit[layer[None, :], wi, ai]
        gain_w = now - unit[layer[None, :], np.clip(wi + step[:, :nf], 0, len(enc.wch) - 1), ai]
        gain_a = now - unit[layer[None, :], wi, np.clip(ai + step[:, nf:], 0, len(enc.ach) - 1)]
        gain = np.hstack([gain_w, gain_a])
        scale = max(float(np.abs(gain[movable]).max()), 1e-12)
        key = np.where(movable, gain / scale, -np.inf)
        key = key + rng.gumbel(0.0, 0.25, size=key.shape)  # randomised order among similar savings
        rank = np.argsort(np.argsort(-key, axis=1), axis=1)
        n_move = np.clip(1 + np.floor(4 * v[bad] / max(scale, 1e-12)), 1, max(1, enc.dim // 4))
        X[bad] += (step * (movable & (rank < n_move[:, None]))).astype(np.int64)
    return X


def sel_tournament(keys: np.ndarray, n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``n`` tournament winners; ``keys`` is sortable (larger is better), one row per individual."""
    entrants = rng.integers(0, len(keys), size=(n, size))
    order = np.lexsort(keys.T[::-1])  # ascending by first column, then second ...
    rank = np.empty(len(keys), dtype=np.int64)
    rank[order] = np.arange(len(keys))
    return entrants[np.arange(n), np.argmax(rank[entrants], axis=1)]


def unique_new(X: np.ndarray, seen: set[bytes]) -> np.ndarray:
    """Rows of ``X`` not in ``seen`` and not repeated, in order."""
    out, keys = [], set()
    for x in X:
        k = x.tobytes()
        if k not in seen and k not in keys:
            keys.add(k)
            out.append(x)
    return np.array(out, dtype=np.int64).reshape(-1, X.shape[1])


class FeasibleFirstFitness(base.Fitness):
    """Maximise (feasible, accuracy or -violation): any feasible individual beats any infeasible one."""

    weights = (1.0, 1.0)


class AccuracyCostFitness(base.Fitness):
    """NSGA-II objectives: accuracy up, cost down."""

    weights = (1.0, -1.0)
