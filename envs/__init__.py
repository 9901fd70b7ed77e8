"""Gymnasium environments for mixed-precision quantization search (HAQ / ReLeQ style).

Importing this package registers:

* ``mico/MPQ-v0``: `envs.mpq_env.MPQEnv` over a given problem (``gymnasium.make("mico/MPQ-v0",
  problem=problem, **options)``);
* ``mico/MPQ-toy-v0``: the same on the 6-layer toy problem (`mico.toy.toy_problem`), continuous
  HAQ-style actions and the action wall; it builds its problem itself, so ``check_env`` can make it;
* ``mico/MPQ-toy-discrete-v0``: the toy problem with discrete actions, action masks and ReLeQ's
  shaped reward (for DQN, PPO, MaskablePPO).
"""

from __future__ import annotations

import gymnasium

from envs.mpq_env import MPQEnv

__all__ = ["MPQEnv", "make_toy_env", "ENV_IDS"]

ENV_IDS = ("mico/MPQ-v0", "mico/MPQ-toy-v0", "mico/MPQ-toy-discrete-v0")


def make_toy_env(n_layers: int = 6, budget: int = 1_000_000, ratio: float = 0.4, proxy_seed: int = 0,
                 **kwargs) -> MPQEnv:
    """`MPQEnv` on a fresh `mico.toy.toy_problem` (kwargs go to the environment)."""
    from mico.toy import toy_problem

    return MPQEnv(toy_problem(n_layers=n_layers, budget=budget, ratio=ratio, proxy_seed=proxy_seed), **kwargs)


def _register() -> None:
    if "mico/MPQ-v0" in gymnasium.registry:
        return
    gymnasium.register(id="mico/MPQ-v0", entry_point="envs.mpq_env:MPQEnv")
    gymnasium.register(id="mico/MPQ-toy-v0", entry_point="envs:make_toy_env")
    gymnasium.register(id="mico/MPQ-toy-discrete-v0", entry_point="envs:make_toy_env",
                       kwargs={"action_type": "discrete", "constraint": "mask", "reward": "releq"})


_register()
