"""Wrappers that adapt `MPQEnv` to more learners.

* `DiscreteActions`: a ``Box(0, 1, (k,))`` action becomes ``Discrete(bins^k)`` (DQN, PPO with a
  categorical policy); action ``i`` is the centre of its bin, so with ``bins`` = the number of
  allowed bits every choice is reachable exactly once.
* `ActionMaskObservation`: appends ``action_masks()`` to the observation, for learners without
  mask support that should still see which choices keep the budget reachable.

(``gymnasium.wrappers.FlattenObservation``, ``NormalizeReward`` and SB3's ``VecNormalize`` work
unchanged: the observation is already a flat ``Box``.)
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class DiscreteActions(gym.ActionWrapper):
    """``Box(0, 1, (k,))`` -> ``Discrete(bins ** k)``; ``i`` -> bin centres ``(digit + 0.5) / bins``."""

    def __init__(self, env: gym.Env, bins: int | None = None):
        super().__init__(env)
        box = env.action_space
        if not isinstance(box, spaces.Box) or box.shape is None or len(box.shape) != 1:
            raise ValueError(f"DiscreteActions needs a 1-D Box action space, got {box}; "
                             "MPQEnv(action_type='continuous') has one")
        base = env.unwrapped
        if bins is None:
            bins = max(getattr(base, "nw", 2), getattr(base, "na", 2))
        if bins < 2:
            raise ValueError(f"bins must be >= 2, got {bins}")
        self.bins, self.k = int(bins), box.shape[0]
        self.action_space = spaces.Discrete(self.bins ** self.k)
        self._low, self._high = box.low.astype(np.float64), box.high.astype(np.float64)

    def action(self, action: Any) -> np.ndarray:
        i = int(action)
        if not 0 <= i < self.action_space.n:
            raise ValueError(f"action must be an integer in [0, {self.action_space.n - 1}], got {action!r}")
        digits = [(i // self.bins ** j) % self.bins for j in reversed(range(self.k))]
        frac = (np.array(digits, dtype=np.float64) + 0.5) / self.bins
        return (self._low + frac * (self._high - self._low)).astype(np.float32)

    def action_masks(self) -> np.ndarray:
        return np.ones(self.action_space.n, dtype=bool)


class ActionMaskObservation(gym.ObservationWrapper):
    """Append the environment's ``action_masks()`` (as 0/1 floats) to the observation."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        if not hasattr(env.unwrapped, "action_masks"):
            raise ValueError("ActionMaskObservation needs an environment with action_masks() (MPQEnv)")
        n = len(env.unwrapped.action_masks())
        obs = env.observation_space
        self.observation_space = spaces.Box(
            np.concatenate([obs.low, np.zeros(n, np.float32)]), np.concatenate([obs.high, np.ones(n, np.float32)]),
            dtype=np.float32)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        mask = self.env.unwrapped.action_masks().astype(np.float32)
        return np.concatenate([observation, mask]).astype(np.float32)
