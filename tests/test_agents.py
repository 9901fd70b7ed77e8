"""RL searchers (HAQ, ReLeQ and their SB3 variants) and SB3 algorithms on MPQEnv."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from agents.haq import HAQ, HAQSB3
from agents.releq import ReLeQ, ReLeQPPO
from envs import make_toy_env
from envs.wrappers import DiscreteActions
from mico.search import run
from mico.toy import toy_problem

SEARCHERS = {
    "haq": lambda: HAQ(warmup_episodes=3, max_episodes=15, hidden1=64, hidden2=64),
    "haq-sb3": lambda: HAQSB3(warmup_episodes=4, max_episodes=12),
    "releq": lambda: ReLeQ(episodes_per_rollout=2, greedy_episodes=2, max_episodes=40),
    "releq-ppo": lambda: ReLeQPPO(episodes_per_rollout=2, greedy_episodes=2, max_episodes=40),
}
REGISTRY = {"haq": "agents.haq:HAQ", "haq-sb3": "agents.haq:HAQSB3", "releq": "agents.releq:ReLeQ",
            "releq-ppo": "agents.releq:ReLeQPPO"}


@pytest.mark.parametrize("name", sorted(SEARCHERS))
def test_searcher_conformance(name):
    """In budget, in the space, feasible, and the same seed gives the same trials."""
    runs = []
    for seed in (3, 3, 4):
        prob = toy_problem(budget=12, n_layers=5)
        result = run(SEARCHERS[name](), prob, seed=seed)
        assert prob.used <= 12 and result.used == prob.used and prob.used >= 4
        assert all(prob.space.contains(e.policy) for e in prob.history)
        assert result.best is not None
        runs.append([e.policy.key() for e in prob.history])
    assert runs[0] == runs[1], f"{name}: the same seed gave different trials"
    assert runs[0] != runs[2], f"{name}: different seeds gave the same trials"


def test_defaults_match_the_papers():
    haq = HAQ()
    assert (haq.lr_actor, haq.lr_critic, haq.tau, haq.discount, haq.batch_size) == (1e-4, 1e-3, 0.01, 1.0, 64)
    assert (haq.warmup_episodes, haq.sigma_init, haq.sigma_decay, haq.reward_lambda) == (20, 0.5, 0.99, 0.1)
    releq = ReLeQ()
    assert (releq.learning_rate, releq.clip_range, releq.vf_coef, releq.ent_coef) == (1e-4, 0.3, 1.0, 0.01)
    assert releq.lstm_hidden == 128 and releq.persistent_bits


def test_registry_names():
    import importlib

    for name, target in REGISTRY.items():
        module, _, attr = target.partition(":")
        assert getattr(importlib.import_module(module), attr)().name == name


@pytest.mark.parametrize("cls,kw,match", [
    (HAQ, dict(lr_actor=0), "lr_actor must be a number > 0"),
    (HAQ, dict(tau=1.5), "tau must lie in"),
    (HAQ, dict(hidden1=0), "hidden1 must be a positive integer"),
    (HAQ, dict(warmup_episodes=-1), "warmup_episodes must be an integer >= 0"),
    (HAQ, dict(mode="joint"), "mode must be 'interleaved' or 'weights'"),
    (HAQSB3, dict(gamma=2.0), "gamma must lie in"),
    (ReLeQ, dict(releq_constants="vgg"), "releq_constants must be"),
    (ReLeQ, dict(clip_range=-0.1), "clip_range must be a number > 0"),
    (ReLeQ, dict(mode="both"), "mode must be"),
    (ReLeQPPO, dict(n_epochs=0), "n_epochs must be a number > 0"),
])
def test_invalid_hyperparameters(cls, kw, match):
    with pytest.raises(ValueError, match=match):
        cls(**kw)


def test_seeding_leaves_global_state_alone():
    import random

    import torch

    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)
    threads = torch.get_num_threads()
    run(SEARCHERS["haq"](), toy_problem(budget=6, n_layers=4), seed=0)
    assert random.random() == random.Random(1).random()
    assert torch.get_num_threads() == threads
    assert np.random.rand() == np.random.RandomState(1).rand()


@pytest.fixture(autouse=True)
def _single_thread():
    """One torch thread: tiny networks, and no thread contention on a busy machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _smoke(algo, env, steps: int = 64, **kw):
    model = algo("MlpPolicy", env, seed=0, device="cpu", verbose=0, **kw)
    model.learn(total_timesteps=steps)
    obs, _ = env.reset(seed=1)
    action, _ = model.predict(obs, deterministic=True)
    assert env.action_space.contains(action)


@pytest.mark.parametrize("algo_name", ["PPO", "A2C", "DQN", "SAC", "TD3", "DDPG", "MaskablePPO", "RecurrentPPO"])
def test_sb3_algorithms_train_out_of_the_box(algo_name):
    import sb3_contrib
    import stable_baselines3 as sb3

    budget = 50
    if algo_name == "DQN":
        env = DiscreteActions(make_toy_env(n_layers=4, budget=budget))
        _smoke(sb3.DQN, env, learning_starts=16, buffer_size=1000)
    elif algo_name in ("SAC", "TD3", "DDPG"):
        env = make_toy_env(n_layers=4, budget=budget)
        _smoke(getattr(sb3, algo_name), env, learning_starts=16, buffer_size=1000, batch_size=16)
    elif algo_name == "MaskablePPO":
        env = gym.make("mico/MPQ-toy-discrete-v0", n_layers=4, budget=budget).unwrapped
        _smoke(sb3_contrib.MaskablePPO, env, n_steps=32, batch_size=16)
    elif algo_name == "RecurrentPPO":
        env = make_toy_env(n_layers=4, budget=budget, action_type="discrete", reward="releq")
        model = sb3_contrib.RecurrentPPO("MlpLstmPolicy", env, n_steps=32, batch_size=16, seed=0, device="cpu")
        model.learn(total_timesteps=64)
    else:
        env = make_toy_env(n_layers=4, budget=budget, action_type="discrete")
        _smoke(getattr(sb3, algo_name), env, n_steps=32, **({"batch_size": 16} if algo_name == "PPO" else {}))
    assert 0 < env.unwrapped.problem.used <= budget


class _SpyBackend:
    """Serial backend that records the size of every batch it computes."""

    name = "spy"

    def __init__(self):
        self.batches: list[int] = []

    def map(self, fn, items):
        self.batches.append(len(items))
        return [fn(x) for x in items]

    def close(self):
        pass


@pytest.mark.parametrize("cls,kw", [(HAQSB3, {"warmup_episodes": 2, "max_episodes": 40}),
                                    (ReLeQPPO, {"episodes_per_rollout": 2, "max_episodes": 40, "greedy_episodes": 2})])
def test_vectorised_sb3_agents_evaluate_finishing_episodes_as_one_batch(cls, kw):
    """n_envs copies share the problem: episodes ending together reach the backend as one batch,
    the budget holds, evaluations are counted once, and the same seed gives the same trials."""
    from envs.vec import BatchedEvalVecEnv

    trials = []
    for _ in range(2):
        prob = toy_problem(budget=14, ratio=0.5, n_layers=4)
        prob.backend = _SpyBackend()
        run(cls(n_envs=3, **kw), prob, seed=5)
        assert prob.used <= 14
        assert max(prob.backend.batches) >= 2  # parallel evaluation happened
        trials.append([(e.policy.key(), e.accuracy) for e in prob.history])
    assert trials[0] == trials[1]
    with pytest.raises(ValueError, match="MPQEnv copies over one Problem"):
        BatchedEvalVecEnv([lambda: make_toy_env(budget=5), lambda: make_toy_env(budget=5)])
    with pytest.raises(ValueError, match="n_envs"):
        HAQSB3(n_envs=0)
