"""A vectorised MPQ environment whose finishing episodes are evaluated as one batch.

SB3 agents train on several `MPQEnv` copies at once (``n_envs``); each copy ends its episode with
one accuracy evaluation. `BatchedEvalVecEnv` looks ahead with `MPQEnv.terminal_policy`, hands the
policies of every episode that ends in this step to `Problem.evaluate_many` as one batch (so the
problem's backend, e.g. ``processes`` or ``ray``, computes them in parallel and the budget, cache
and record stay in one process, in order), and then steps the copies, whose own evaluation is
now answered from the problem. Everything else is SB3's `DummyVecEnv`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import gymnasium as gym
from stable_baselines3.common.vec_env import DummyVecEnv

from mico.problem import BudgetExhausted


class BatchedEvalVecEnv(DummyVecEnv):
    """`DummyVecEnv` over `MPQEnv` copies that share one `Problem`, with batched terminal evaluations."""

    def __init__(self, env_fns: Sequence[Callable[[], gym.Env]]):
        super().__init__(list(env_fns))
        envs = [e.unwrapped for e in self.envs]
        problems = {id(getattr(e, "problem", None)) for e in envs}
        if len(problems) != 1 or not hasattr(envs[0], "terminal_policy"):
            raise ValueError(f"BatchedEvalVecEnv needs MPQEnv copies over one Problem; got {len(problems)} "
                             f"problem(s) in {[type(e).__name__ for e in envs]}")
        self.problem = envs[0].problem

    def step_wait(self):
        envs = [e.unwrapped for e in self.envs]
        pending = [(env, env.terminal_policy(action)) for env, action in zip(envs, self.actions)]
        pending = [(env, p) for env, p in pending if p is not None]
        if len(pending) > 1:
            try:
                fresh = {ev.policy.key() for ev in self.problem.evaluate_many([p for _, p in pending])
                         if not ev.repeat}
            except BudgetExhausted:
                fresh = set()
            for env, p in pending:  # the first copy that proposed a new policy counts its evaluation
                if p.key() in fresh:
                    env._prefetched.add(p.key())
                    fresh.discard(p.key())
        return super().step_wait()
