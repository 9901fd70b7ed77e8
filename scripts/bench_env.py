"""Environment speed: steps per second of `MPQEnv` on the toy problem (proxy = ToyProxy).

Run: ``.venv/bin/python scripts/bench_env.py [--steps 200000] [--out results/env_speed.md]``.
Actions are drawn up front from a seeded generator, so the timing is the environment alone
(mapping, constraint handling, observation, end-of-episode cost and ``problem.evaluate``).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from envs import make_toy_env  # noqa: E402

CONFIGS = [
    ("interleaved / continuous / wall / haq (HAQ)", dict(mode="interleaved", action_type="continuous",
                                                        constraint="wall", reward="haq")),
    ("weights / continuous / wall / haq", dict(mode="weights", action_type="continuous", constraint="wall",
                                                reward="haq")),
    ("joint / continuous / wall / haq", dict(mode="joint", action_type="continuous", constraint="wall",
                                              reward="haq")),
    ("interleaved / discrete / mask / releq", dict(mode="interleaved", action_type="discrete",
                                                    constraint="mask", reward="releq")),
    ("interleaved / incdec / penalty / lagrangian (persistent)", dict(
        mode="interleaved", action_type="incdec", constraint="penalty", reward="lagrangian",
        persistent_bits=True)),
]


def bench(kwargs: dict, steps: int, n_layers: int, budget: int) -> tuple[float, int]:
    env = make_toy_env(n_layers=n_layers, budget=budget, **kwargs)
    rng = np.random.default_rng(0)
    space = env.action_space
    if hasattr(space, "n"):
        actions = list(rng.integers(0, space.n, size=steps))
    else:
        actions = list(rng.random((steps, space.shape[0]), dtype=np.float32))
    env.reset(seed=0)
    episodes = 0
    t0 = time.perf_counter()
    for a in actions:
        _, _, terminated, truncated, _ = env.step(a)
        if terminated or truncated:
            episodes += 1
            env.reset()
    dt = time.perf_counter() - t0
    return steps / dt, episodes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200_000)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--out", default="results/env_speed.md")
    args = ap.parse_args()
    rows = []
    for name, kw in CONFIGS:
        sps, eps = bench(kw, args.steps, args.layers, budget=10 * args.steps)
        rows.append(f"| {name} | {sps:,.0f} | {eps:,} |")
        print(rows[-1], flush=True)
    text = "\n".join([
        "# MPQEnv speed (toy proxy)",
        "",
        f"Command: `.venv/bin/python scripts/bench_env.py --steps {args.steps} --layers {args.layers}`",
        "",
        f"Toy problem: {args.layers} conv layers, bits {{2,4,8}} for W and A, BOPs <= 0.4 x W8A8, ToyProxy "
        "accuracy; every episode ends with `problem.evaluate` (a new distinct policy is costed, validated and "
        "recorded in the problem history; repeats are served from it). Seeded random actions drawn up front.",
        f"Machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
        "single process.",
        "",
        "| configuration (mode / action / constraint / reward) | steps/s | episodes |",
        "|---|---|---|",
        *rows,
        "",
        "Goal: >= 10,000 steps/s. Step path: static features precomputed per decision, per-layer costs from a",
        "lookup table `LUT[cost, layer, w, a]` (validated against the cost models at construction, exact",
        "`CostModel` calls otherwise), incremental cost / quantization-state bookkeeping, vectorised",
        "feasibility of all candidate bits for masks.",
        "",
    ])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
