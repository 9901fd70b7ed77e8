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
    """Repair: lower the bits of the genes that save most cost (randomised) until every row is feasible."""
    X = X.copy()
    if not len(enc.limits):
        return X
    for _ in range(int(enc.levels.sum())):
        v = enc.violation(X)
        bad = np.flatnonzero(v > 0)
        if not len(bad):
            break
        movable = X[bad] > 0
        key = np.where(movable, np.log(enc.saving)[None, :], -np.inf)
        key = key - np.log(-np.log(rng.uniform(1e-12, 1.0, size=key.shape)))  # Gumbel-top-k sampling
        rank = np.argsort(np.argsort(-key, axis=1), axis=1)
        n_lower = np.clip(1 + np.floor(4 * v[bad] / enc.saving.max()), 1, max(1, enc.dim // 4))
        X[bad] -= (movable & (rank < n_lower[:, None])).astype(np.int64)
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
