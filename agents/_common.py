"""Shared helpers of the RL searchers: seeded, single-threaded torch; a budget callback for SB3;
the (vectorised) training environment."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np


@contextlib.contextmanager
def seeded_torch(seed: int) -> Iterator[None]:
    """Seed Python, NumPy and torch for a deterministic run; restore their global state afterwards.

    stable-baselines3 seeds the global generators (``set_random_seed``); saving and restoring them
    keeps a searcher from changing anyone else's random state. Torch runs single-threaded with
    deterministic algorithms, so the same seed gives the same trials.
    """
    import torch

    py_state, np_state = random.getstate(), np.random.get_state()
    threads, det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.set_num_threads(1)
        torch.use_deterministic_algorithms(True)
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)
        try:
            yield
        finally:
            torch.set_num_threads(threads)
            torch.use_deterministic_algorithms(det)
            random.setstate(py_state)
            np.random.set_state(np_state)


def budget_callback(problem: Any, reserve: int = 0, max_episodes: int | None = None, patience: int = 0) -> Any:
    """An SB3 callback that stops training when the problem has ``reserve`` evaluations left,
    an episode ended on an exhausted budget, ``max_episodes`` episodes were played, or (``patience``
    > 0) the last ``patience`` episodes proposed no new policy (the agent has converged)."""
    from stable_baselines3.common.callbacks import BaseCallback

    class _Budget(BaseCallback):
        episodes = 0
        stale = 0
        used = -1

        def _on_step(self) -> bool:
            for done, info in zip(self.locals.get("dones", ()), self.locals.get("infos", ())):
                if done:
                    self.episodes += 1
                    if info.get("budget_exhausted"):
                        return False
                    self.stale = self.stale + 1 if problem.used == self.used else 0
                    self.used = problem.used
            if max_episodes is not None and self.episodes >= max_episodes:
                return False
            if patience and self.stale >= patience:
                return False
            return problem.remaining > reserve

    return _Budget()


def check_positive(obj: Any, *names: str, allow_zero: tuple[str, ...] = ()) -> None:
    """Raise a ValueError naming the first hyper-parameter that is not positive (or >= 0)."""
    for name in names:
        v = getattr(obj, name)
        ok = v >= 0 if name in allow_zero else v > 0
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not np.isfinite(v) or not ok:
            bound = ">= 0" if name in allow_zero else "> 0"
            raise ValueError(f"{type(obj).__name__}.{name} must be a number {bound}, got {v!r}")


def training_env(make: Callable[[], Any], n_envs: int, seed: int) -> tuple[Any, int]:
    """The environment an SB3 agent trains on and its episode length.

    ``n_envs == 1``: one `MPQEnv`, reset with ``seed``. More: `envs.vec.BatchedEvalVecEnv` over
    ``n_envs`` copies sharing the problem (copy i seeded ``seed + i``), so the episodes ending in
    one step are evaluated as one batch on the problem's backend.
    """
    if n_envs == 1:
        env = make()
        env.reset(seed=seed)
        return env, env.n_steps
    from envs.vec import BatchedEvalVecEnv

    vec = BatchedEvalVecEnv([make] * n_envs)
    vec.seed(seed)
    return vec, vec.envs[0].unwrapped.n_steps
