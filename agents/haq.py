"""HAQ: Hardware-Aware Automated Quantization (Wang, Liu, Lin, Lin, Han; CVPR 2019, arXiv 1811.08886).

DDPG walks the layers and proposes a bitwidth per decision; HAQ's action wall lowers the bits
until the hardware budget holds; the episode's reward (accuracy only) trains the agent.

Pseudocode::

    for episode in 1..N:                      # until the problem's evaluation budget is used
        for each decision t: a_t = U(0,1) if warm-up else TruncNormal(mu(s_t), sigma_e, [0, 1])
        bits = wall(map(a)); R = 0.1 * (acc(bits) - acc_ref)   # action wall, accuracy in %
        store (s_t, a_t, R, s_t+1, done_t) for every t     # terminal reward relabelled
        after warm-up: one DDPG step per stored transition, critic target R - b + Q'(s', mu'(s'))

`HAQ` is the faithful variant (own compact DDPG in torch: SB3's DDPG cannot relabel the
episode's transitions with its final reward, nor subtract the moving-average baseline in the
critic target); `HAQSB3` is plain stable-baselines3 DDPG on the same environment.

Deviations from the paper:

* Accuracy comes from ``problem.evaluate`` (the problem's proxy, no 1-epoch fine-tune), and the
  search stops when the problem's evaluation budget is used (or after ``max_episodes``).
* Cost is the problem's constraint cost models (e.g. BOPs) through a lookup table, not BISMO /
  BitFusion latency or energy; the budget is the problem's constraint, not ratio x cost(8/8).
* The action maps onto the *index* of the space's allowed bits (identical to HAQ's formula for a
  contiguous set such as 2..8); the first / last layers are pinned only if the space pins them.
* ``acc_ref`` (HAQ's ``acc_original``) is 1.0 (100 %): a constant shift of every reward that the
  moving-average baseline removes, and it spares one evaluation.
* Observation: HAQ's ten features taken from `envs.MPQEnv`'s vector (``HAQ_FEATURES``); parameters
  and the input size are log-scaled before min-max normalisation, constant columns are 0.
* The action wall steps each layer toward its *cheapest* allowed bits, which is HAQ's "lower the
  bits" wherever costs fall with the bits; on hardware where a sub-byte kernel is slower than
  the 8-bit one (our Cortex-M7 latency for some layers) it moves toward the really cheaper bits
  instead of making the policy slower (see ``envs.MPQEnv.action_wall``).
* Hidden sizes 300-300 follow the authors' code (the brief mentioned 400-300; set ``hidden1``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from agents._common import budget_callback, check_positive, seeded_torch, training_env
from envs.mpq_env import DYNAMIC_FEATURES, STATIC_FEATURES, MPQEnv
from mico.problem import Problem

log = logging.getLogger(__name__)

_ALL = STATIC_FEATURES + DYNAMIC_FEATURES
#: HAQ's observation: [is_depthwise, c_in, c_out, stride, kernel, n_params, H*W, idx, prev_action, is_weight]
HAQ_FEATURES = tuple(_ALL.index(n) for n in (
    "depthwise", "in_channels", "out_channels", "stride", "kernel", "log_params", "log_in_spatial", "layer_idx",
    "prev_action", "is_weight"))


@dataclass
class HAQ:
    """HAQ's DDPG with the action wall (see module docstring); one field per hyper-parameter."""

    mode: str = "interleaved"  # "interleaved" (HAQ linear quantization: W and A) or "weights" (k-means)
    hidden1: int = 300  # actor / critic first hidden layer
    hidden2: int = 300  # second hidden layer
    lr_actor: float = 1e-4
    lr_critic: float = 1e-3
    batch_size: int = 64
    tau: float = 0.01  # soft target update
    discount: float = 1.0
    replay_per_decision: int = 128  # replay size = 128 x decisions per episode
    warmup_episodes: int = 20  # uniform random actions, no updates
    max_episodes: int = 600
    sigma_init: float = 0.5  # truncated-normal exploration sigma after warm-up
    sigma_decay: float = 0.99  # per episode
    baseline_alpha: float = 0.5  # moving average of the batch-mean reward
    reward_lambda: float = 0.1  # R = lambda * (acc% - acc_ref%)
    haq_features: bool = True  # HAQ's 10 features (False: the environment's full vector)
    patience: int = 0  # stop after this many episodes without a new policy (0: run max_episodes, as HAQ)
    name: str = "haq"

    def __post_init__(self) -> None:
        if self.mode not in ("interleaved", "weights"):
            raise ValueError(f"HAQ.mode must be 'interleaved' or 'weights', got {self.mode!r}")
        for n in ("hidden1", "hidden2", "batch_size", "replay_per_decision", "max_episodes"):
            v = getattr(self, n)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ValueError(f"HAQ.{n} must be a positive integer, got {v!r}")
        for n in ("warmup_episodes", "patience"):
            v = getattr(self, n)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ValueError(f"HAQ.{n} must be an integer >= 0, got {v!r}")
        check_positive(self, "lr_actor", "lr_critic", "sigma_init", "reward_lambda")
        for n in ("tau", "discount", "sigma_decay", "baseline_alpha"):
            v = getattr(self, n)
            if not 0 <= v <= 1 or (n == "tau" and v == 0):
                raise ValueError(f"HAQ.{n} must lie in (0, 1] (tau) or [0, 1], got {v!r}")

    def make_env(self, problem: Problem) -> MPQEnv:
        return MPQEnv(problem, mode=self.mode, action_type="continuous", constraint="wall", reward="haq",
                      acc_ref=1.0, haq_lambda=self.reward_lambda)

    def search(self, problem: Problem, *, seed: int) -> None:
        import torch

        env = self.make_env(problem)
        rng = np.random.default_rng(seed)
        cols = np.array(HAQ_FEATURES if self.haq_features else range(env.observation_space.shape[0]))
        with seeded_torch(seed):
            agent = _DDPG(len(cols), self, rng, capacity=self.replay_per_decision * env.n_steps)
            env.reset(seed=seed)
            stale, used = 0, problem.used
            for episode in range(self.max_episodes):
                if problem.exhausted or (self.patience and stale >= self.patience):
                    break
                obs, _ = env.reset()
                obs = obs[cols]
                states, actions, nexts, dones = [], [], [], []
                while True:
                    if episode < self.warmup_episodes:
                        a = float(rng.uniform())
                    else:
                        sigma = self.sigma_init * self.sigma_decay ** (episode - self.warmup_episodes)
                        with torch.no_grad():
                            mu = float(agent.actor(torch.as_tensor(obs[None]))[0, 0])
                        a = _truncated_normal(mu, sigma, rng)
                    nxt, reward, terminated, _, info = env.step(np.array([a], dtype=np.float32))
                    nxt = nxt[cols]
                    states.append(obs)
                    actions.append(a)
                    nexts.append(nxt)
                    dones.append(terminated)
                    obs = nxt
                    if terminated:
                        break
                if info["budget_exhausted"]:
                    break
                stale, used = (stale + 1 if problem.used == used else 0), problem.used
                for s, a, s2, d in zip(states, actions, nexts, dones):  # the final reward on every step
                    agent.store(s, a, reward, s2, d)
                if episode >= self.warmup_episodes:
                    for _ in range(len(states)):
                        agent.update()
                log.debug("haq episode %d reward %.4f bits %s", episode, reward, info["w_bits"])


def _truncated_normal(mu: float, sigma: float, rng: np.random.Generator) -> float:
    """A draw of Normal(mu, sigma) truncated to [0, 1] (inverse-CDF sampling)."""
    from scipy.special import ndtr, ndtri

    lo, hi = ndtr((0.0 - mu) / sigma), ndtr((1.0 - mu) / sigma)
    if hi - lo < 1e-12:  # mass far outside: clip the mean
        return float(min(max(mu, 0.0), 1.0))
    u = rng.uniform(lo, hi)
    return float(min(max(mu + sigma * ndtri(u), 0.0), 1.0))


class _DDPG:
    """HAQ's DDPG: actor s->h1->h2->1 (sigmoid), critic ReLU(W_s s + W_a a)->h2->1, EMA reward baseline."""

    def __init__(self, n_obs: int, hp: HAQ, rng: np.random.Generator, capacity: int):
        import copy

        import torch
        from torch import nn

        class Critic(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.fs, self.fa = nn.Linear(n_obs, hp.hidden1), nn.Linear(1, hp.hidden1)
                self.out = nn.Sequential(nn.ReLU(), nn.Linear(hp.hidden1, hp.hidden2), nn.ReLU(),
                                         nn.Linear(hp.hidden2, 1))

            def forward(self, s, a):
                return self.out(self.fs(s) + self.fa(a))

        self.torch, self.hp, self.rng = torch, hp, rng
        self.actor = nn.Sequential(nn.Linear(n_obs, hp.hidden1), nn.ReLU(), nn.Linear(hp.hidden1, hp.hidden2),
                                   nn.ReLU(), nn.Linear(hp.hidden2, 1), nn.Sigmoid())
        self.critic = Critic()
        self.actor_t, self.critic_t = copy.deepcopy(self.actor), copy.deepcopy(self.critic)
        self.opt_a = torch.optim.Adam(self.actor.parameters(), lr=hp.lr_actor)
        self.opt_c = torch.optim.Adam(self.critic.parameters(), lr=hp.lr_critic)
        self.capacity, self.n = capacity, 0
        self.buf_s = np.zeros((capacity, n_obs), np.float32)
        self.buf_a = np.zeros((capacity, 1), np.float32)
        self.buf_r = np.zeros((capacity, 1), np.float32)
        self.buf_s2 = np.zeros((capacity, n_obs), np.float32)
        self.buf_d = np.zeros((capacity, 1), np.float32)
        self.baseline: float | None = None

    def store(self, s, a, r, s2, done) -> None:
        i = self.n % self.capacity
        self.buf_s[i], self.buf_a[i], self.buf_r[i], self.buf_s2[i], self.buf_d[i] = s, a, r, s2, float(done)
        self.n += 1

    def update(self) -> None:
        torch, hp = self.torch, self.hp
        size = min(self.n, self.capacity)
        if size < hp.batch_size:
            return
        idx = self.rng.integers(0, size, size=hp.batch_size)
        s, a, r = (torch.as_tensor(x[idx]) for x in (self.buf_s, self.buf_a, self.buf_r))
        s2, d = torch.as_tensor(self.buf_s2[idx]), torch.as_tensor(self.buf_d[idx])
        mean_r = float(r.mean())
        self.baseline = mean_r if self.baseline is None else \
            self.baseline + hp.baseline_alpha * (mean_r - self.baseline)
        with torch.no_grad():
            target = (r - self.baseline) + hp.discount * (1 - d) * self.critic_t(s2, self.actor_t(s2))
        loss_c = torch.nn.functional.mse_loss(self.critic(s, a), target)
        self.opt_c.zero_grad()
        loss_c.backward()
        self.opt_c.step()
        loss_a = -self.critic(s, self.actor(s)).mean()
        self.opt_a.zero_grad()
        loss_a.backward()
        self.opt_a.step()
        with torch.no_grad():
            for net, tgt in ((self.actor, self.actor_t), (self.critic, self.critic_t)):
                for p, pt in zip(net.parameters(), tgt.parameters()):
                    pt.mul_(1 - hp.tau).add_(p, alpha=hp.tau)


@dataclass
class HAQSB3:
    """Plain stable-baselines3 DDPG (default settings, Gaussian noise) on HAQ's environment.

    The modern baseline of `HAQ`: no reward relabelling or baseline; SB3's step-wise replay and
    updates; ``learning_starts`` = HAQ's warm-up episodes.
    """

    mode: str = "interleaved"
    learning_rate: float = 1e-3
    noise_sigma: float = 0.2
    warmup_episodes: int = 20
    gamma: float = 0.99
    batch_size: int = 64
    max_episodes: int = 600
    patience: int = 200  # stop after this many episodes without a new policy (0: never)
    n_envs: int = 1  # > 1: vectorised copies whose finishing episodes are evaluated as one batch
    name: str = "haq-sb3"

    def __post_init__(self) -> None:
        if self.mode not in ("interleaved", "weights", "joint"):
            raise ValueError(f"HAQSB3.mode must be 'interleaved', 'weights' or 'joint', got {self.mode!r}")
        check_positive(self, "learning_rate", "noise_sigma", "batch_size", "max_episodes", "n_envs")
        check_positive(self, "warmup_episodes", "patience", allow_zero=("warmup_episodes", "patience"))
        if not 0 <= self.gamma <= 1:
            raise ValueError(f"HAQSB3.gamma must lie in [0, 1], got {self.gamma!r}")

    def search(self, problem: Problem, *, seed: int) -> None:
        from stable_baselines3 import DDPG
        from stable_baselines3.common.noise import NormalActionNoise

        def make() -> MPQEnv:
            return MPQEnv(problem, mode=self.mode, action_type="continuous", constraint="wall", reward="haq",
                          acc_ref=1.0)

        with seeded_torch(seed):
            env, n_steps = training_env(make, self.n_envs, seed)
            k = env.action_space.shape[0]
            model = DDPG("MlpPolicy", env, learning_rate=self.learning_rate, gamma=self.gamma,
                         batch_size=self.batch_size, learning_starts=self.warmup_episodes * n_steps,
                         action_noise=NormalActionNoise(np.zeros(k), self.noise_sigma * np.ones(k)),
                         seed=seed, device="cpu", verbose=0)
            model.learn(total_timesteps=self.max_episodes * n_steps,
                        callback=budget_callback(problem, max_episodes=self.max_episodes, patience=self.patience))
