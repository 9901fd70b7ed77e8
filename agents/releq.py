"""ReLeQ: Reinforcement Learning for Quantization (Elthakeb, Pilligundla, Mireshghallah, Yazdanbakhsh,
Esmaeilzadeh; arXiv 1811.01704, IEEE Micro 2020).

A PPO agent with an LSTM policy sweeps the layers, picks each layer's bits from a discrete set,
and is rewarded by a shaped function of the accuracy ratio and the quantization state.

Pseudocode::

    bits = max everywhere                      # persistent across episodes
    for episode in 1..N:                       # until the problem's evaluation budget is used
        for each decision t: b_t ~ pi_LSTM(s_t)   # s_t: layer features, b_l / b_max, q, y
        y = acc(bits) / acc_ref; x = q(bits) - b_min / b_max
        R = -1 if y < m else 2 (1 - x^a) y^(b / y) - 1;  PPO update on the collected rollouts
    last episodes: act greedily

`ReLeQ` is the faithful variant on sb3-contrib `RecurrentPPO`; `ReLeQPPO` is plain SB3 `PPO`
(MLP policy) on the same environment.

Deviations from the paper:

* Accuracy comes from ``problem.evaluate`` (the problem's proxy, no 5-10 epoch fine-tune), and the
  search stops when the problem's evaluation budget is used (or after ``max_episodes``).
* The bit set is the space's allowed set (ReLeQ: {2, 3, 4, 5, 8}) and, by default, the agent also
  chooses activation bits (``mode="interleaved"``; ReLeQ quantises weights only: use
  ``mode="weights"``), so it searches the same space as every other searcher.
* ReLeQ has no hardware budget; here the problem's constraints are enforced by HAQ's action wall
  (``constraint="wall"``) and the quantization state ``q`` is computed on the enforced bits.
* By default the reward is terminal only (``step_rewards=False``, the paper's variant): the main
  script's reward after every layer evaluates a new policy per step and would spend the budget
  2L times faster.
* The softmax temperature 0.5 is not applied (SB3's categorical policy); no std(W_l) feature (a
  `LayerSpec` holds no weights); ``acc_ref`` is the accuracy of the all-max policy (one evaluation).
* The greedy tail (``greedy_episodes`` deterministic episodes) starts when ``min(greedy_episodes,
  budget // 5)`` evaluations remain, not after a fixed episode count.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from agents._common import budget_callback, check_positive, seeded_torch, training_env
from envs.mpq_env import RELEQ_CONSTANTS, MPQEnv
from mico.problem import Problem

log = logging.getLogger(__name__)


@dataclass
class ReLeQ:
    """ReLeQ on RecurrentPPO (LSTM 128 -> 128 -> 128 policy, 128 -> 64 value head); see module docstring."""

    mode: str = "interleaved"  # "weights" = ReLeQ's weights-only search
    releq_constants: str | tuple[float, float, float] = "lenet"  # (m, a, b) or a key of RELEQ_CONSTANTS
    learning_rate: float = 1e-4
    clip_range: float = 0.3
    vf_coef: float = 1.0
    ent_coef: float = 0.01
    gamma: float = 0.9
    lstm_hidden: int = 128
    episodes_per_rollout: int = 4  # PPO rollout length in episodes
    n_epochs: int = 4
    step_rewards: bool = False
    persistent_bits: bool = True
    greedy_episodes: int = 10
    max_episodes: int = 2000
    patience: int = 200  # stop after this many episodes without a new policy (0: never)
    n_envs: int = 1  # > 1: vectorised copies whose finishing episodes are evaluated as one batch
    name: str = "releq"

    def __post_init__(self) -> None:
        if self.mode not in ("interleaved", "weights", "joint"):
            raise ValueError(f"{type(self).__name__}.mode must be 'interleaved', 'weights' or 'joint', "
                             f"got {self.mode!r}")
        if isinstance(self.releq_constants, str) and self.releq_constants not in RELEQ_CONSTANTS:
            raise ValueError(f"releq_constants must be (m, a, b) or one of {sorted(RELEQ_CONSTANTS)}, "
                             f"got {self.releq_constants!r}")
        check_positive(self, "learning_rate", "clip_range", "vf_coef", "lstm_hidden", "episodes_per_rollout",
                       "n_epochs", "max_episodes", "n_envs")
        check_positive(self, "ent_coef", "greedy_episodes", "patience",
                       allow_zero=("ent_coef", "greedy_episodes", "patience"))
        if not 0 <= self.gamma <= 1:
            raise ValueError(f"{type(self).__name__}.gamma must lie in [0, 1], got {self.gamma!r}")

    def make_env(self, problem: Problem) -> MPQEnv:
        return MPQEnv(problem, mode=self.mode, action_type="discrete", constraint="wall", reward="releq",
                      releq_constants=self.releq_constants, step_rewards=self.step_rewards,
                      persistent_bits=self.persistent_bits)

    def _model(self, env: Any, episode_steps: int, seed: int):
        from sb3_contrib import RecurrentPPO

        n_steps = self.episodes_per_rollout * episode_steps
        return RecurrentPPO(
            "MlpLstmPolicy", env, learning_rate=self.learning_rate, n_steps=n_steps, batch_size=n_steps * self.n_envs,
            n_epochs=self.n_epochs, gamma=self.gamma, clip_range=self.clip_range, vf_coef=self.vf_coef,
            ent_coef=self.ent_coef, seed=seed, device="cpu", verbose=0,
            policy_kwargs={"lstm_hidden_size": self.lstm_hidden, "net_arch": {"pi": [128, 128], "vf": [128, 64]}})

    def search(self, problem: Problem, *, seed: int) -> None:
        with seeded_torch(seed):
            env, n_steps = training_env(lambda: self.make_env(problem), self.n_envs, seed)
            model = self._model(env, n_steps, seed)
            model.learn(total_timesteps=self.max_episodes * n_steps,
                        callback=budget_callback(problem, reserve=min(self.greedy_episodes, problem.budget // 5),
                                                 max_episodes=self.max_episodes, patience=self.patience))
            self._greedy(model, env if self.n_envs == 1 else self.make_env(problem), problem)

    def _greedy(self, model, env: MPQEnv, problem: Problem) -> None:
        import numpy as np

        for _ in range(self.greedy_episodes):
            if problem.exhausted:
                return
            obs, _ = env.reset()
            state, start = None, np.ones((1,), dtype=bool)
            while True:
                action, state = model.predict(obs, state=state, episode_start=start, deterministic=True)
                obs, _, terminated, _, info = env.step(action)
                start = np.zeros((1,), dtype=bool)
                if terminated:
                    break
            if info["budget_exhausted"]:
                return


@dataclass
class ReLeQPPO(ReLeQ):
    """Plain SB3 PPO (MLP policy, SB3 defaults except the rollout length) on ReLeQ's environment."""

    learning_rate: float = 3e-4
    clip_range: float = 0.2
    vf_coef: float = 0.5
    ent_coef: float = 0.0
    gamma: float = 0.99
    n_epochs: int = 10
    name: str = "releq-ppo"

    def _model(self, env: Any, episode_steps: int, seed: int):
        from stable_baselines3 import PPO

        n_steps = self.episodes_per_rollout * episode_steps
        return PPO("MlpPolicy", env, learning_rate=self.learning_rate, n_steps=n_steps, batch_size=n_steps * self.n_envs,
                   n_epochs=self.n_epochs, gamma=self.gamma, clip_range=self.clip_range, vf_coef=self.vf_coef,
                   ent_coef=self.ent_coef, seed=seed, device="cpu", verbose=0)
