"""Time one MiCo iteration (sampler + surrogate fit + scoring) at 2L = 40 dimensions.

Usage: PYTHONPATH=. .venv/bin/python scripts/bench_mico_iter.py [--layers 20] [--iters 10]
Writes results/mico_iteration_time.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from mico.costs import BOPs, ModelSize
from mico.mico_search import MiCoSearch
from mico.problem import Constraint, Problem
from mico.proxies import ToyProxy
from mico.space import LayerSpec, SearchSpace


def space_of(n_layers: int) -> SearchSpace:
    rng = np.random.default_rng(0)
    layers = []
    for i in range(n_layers):
        c = int(rng.choice([8, 16, 32, 64]))
        hw = int(rng.choice([4, 8, 16]))
        layers.append(LayerSpec(f"l{i}", "conv2d", c, c, (3, 3), (1, 1), (1, 1), 1, (c, hw, hw), (c, hw, hw),
                                c * c * 9 + c, c * c * 9 * hw * hw))
    return SearchSpace(tuple(layers), (2, 4, 8), (2, 4, 8), model_name=f"bench{n_layers}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--layers", type=int, default=20)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--out", default="results/mico_iteration_time.md")
    args = ap.parse_args()
    space = space_of(args.layers)
    top = space.max_policy()
    rows = []
    for label, cons in [
        ("bops <= 0.5 W8A8", [("bops", 0.5)]),
        ("bops <= 0.1 W8A8 (tight)", [("bops", 0.1)]),
        ("bops <= 0.5 and size <= 0.6 W8A8", [("bops", 0.5), ("size", 0.6)]),
        ("unconstrained", []),
    ]:
        costs = {"bops": BOPs(), "size": ModelSize()}
        constraints = [Constraint(n, r * costs[n].cost(space, top).total) for n, r in cons]
        budget = 20 + args.iters
        prob = Problem(space, ToyProxy(space), costs, constraints, budget)
        s = MiCoSearch()
        s.problem, s.rng = prob, np.random.default_rng(0)
        t0 = time.perf_counter()
        s.setup(prob, s.rng)
        setup_s = time.perf_counter() - t0
        while len(s._X) < 20:  # initial design + random fill, so the surrogate has data
            s.tell(prob.evaluate_many(s.ask()))
        times = []
        for _ in range(args.iters):
            t0 = time.perf_counter()
            batch = s.ask()
            times.append(time.perf_counter() - t0)
            s.tell(prob.evaluate_many(batch))
        rows.append((label, setup_s, float(np.median(times)), float(np.max(times))))
    cmd = "PYTHONPATH=. .venv/bin/python " + " ".join(sys.argv)
    lines = [f"Command: `{cmd}`", "",
             f"MiCo iteration time (ask: near-constraint sampler ~1000 candidates + random-forest fit and UCB "
             f"scoring), {args.layers} layers = {2 * args.layers} dimensions, {{2,4,8}} bits, 20 evaluations "
             f"in the surrogate, {args.iters} iterations; machine shared with other jobs (2 cores).", "",
             "| constraints | setup (s) | iteration median (s) | iteration max (s) |", "|---|---|---|---|"]
    lines += [f"| {a} | {b:.3f} | {c:.3f} | {d:.3f} |" for a, b, c, d in rows]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
