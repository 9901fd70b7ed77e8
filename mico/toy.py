"""A toy MPQ problem with a known optimum, built without any model (for searcher tests, regret curves and ``mico/MPQ-toy-v0``).

The layers are conv2d layers of ``8 (i + 1)`` channels, 3x3
kernels on 8x8 maps, with MACs alternating x1 / x2. Accuracy is `mico.proxies.ToyProxy`, the cost
BOPs (plus model size, unconstrained), the constraint ``bops <= ratio * bops(W8A8)``. With 6
layers and bits {2, 4, 8} the space has 9^6 = 531,441 policies: `enumerate_optimum` finds the best
feasible one exactly, vectorised.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mico.costs import BOPs, ModelSize
from mico.problem import Constraint, Problem
from mico.proxies import ToyProxy
from mico.space import LayerSpec, SearchSpace


def toy_space(n_layers: int = 6, bits: Sequence[int] = (2, 4, 8)) -> SearchSpace:
    layers = []
    for i in range(n_layers):
        c = 8 * (i + 1)
        layers.append(LayerSpec(f"l{i}", "conv2d", c, c, (3, 3), (1, 1), (1, 1), 1, (c, 8, 8), (c, 8, 8),
                                c * c * 9 + c, c * c * 9 * 64 * (1 + i % 2)))
    return SearchSpace(tuple(layers), tuple(bits), tuple(bits), model_name="toy")


def toy_problem(n_layers: int = 6, budget: int = 100, ratio: float = 0.4, bits: Sequence[int] = (2, 4, 8),
                proxy_seed: int = 0, cache=None, record=None) -> Problem:
    """``bops <= ratio * bops(W8A8)`` over `toy_space`, accuracy from `ToyProxy(seed=proxy_seed)`."""
    space = toy_space(n_layers, bits)
    bops = BOPs()
    limit = ratio * bops.cost(space, space.max_policy()).total
    return Problem(space, ToyProxy(space, seed=proxy_seed), {"bops": bops, "size": ModelSize()},
                   [Constraint("bops", limit)], budget, cache=cache, record=record, name="toy")


def enumerate_optimum(problem: Problem, chunk: int = 1 << 16) -> tuple[float, np.ndarray]:
    """Best feasible toy accuracy and its bits row ``[w..., a...]``, by exhaustive enumeration.

    Needs a `ToyProxy` accuracy, additive costs (BOPs, size), no pinned layers and no activation
    groups; every policy is scored with `ToyProxy.accuracies` and a vectorised cost table.
    """
    space = problem.space
    if space.pinned or space.a_groups or not hasattr(problem.proxy, "accuracies"):
        raise ValueError("enumerate_optimum needs a ToyProxy problem without pinned layers or activation groups")
    n, wc, ac = space.n_layers, np.array(space.w_choices), np.array(space.a_choices)
    pairs = np.array([(w, a) for w in wc for a in ac], dtype=np.float64)  # (P, 2)
    tables = {}
    for c in problem.constraints:  # per-layer cost of each (w, a) pair
        model = problem.costs[c.cost]
        tables[c.cost] = np.array([model.cost(space, space.uniform(int(w), int(a))).per_layer for w, a in pairs]).T
    best_acc, best_row = -np.inf, None
    total = len(pairs) ** n
    for start in range(0, total, chunk):
        idx = np.arange(start, min(start + chunk, total))
        digits = np.stack([(idx // len(pairs) ** k) % len(pairs) for k in range(n)], axis=1)  # (m, n)
        bits = np.concatenate([pairs[digits, 0], pairs[digits, 1]], axis=1)
        ok = np.ones(len(idx), dtype=bool)
        for c in problem.constraints:
            ok &= tables[c.cost][np.arange(n), digits].sum(axis=1) <= c.limit * (1 + 1e-12)
        if not ok.any():
            continue
        acc = problem.proxy.accuracies(bits[ok])
        j = int(np.argmax(acc))
        if acc[j] > best_acc:
            best_acc, best_row = float(acc[j]), bits[ok][j]
    if best_row is None:
        raise ValueError("no feasible policy")
    return best_acc, best_row.astype(int)
