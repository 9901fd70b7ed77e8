"""MPQEnv: Gymnasium / SB3 env checks, determinism, constraint handling, rewards, bad input."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs import ENV_IDS, MPQEnv, make_toy_env
from envs.wrappers import ActionMaskObservation, DiscreteActions
from mico.costs import BOPs
from mico.problem import Constraint, Problem
from mico.proxies import ToyProxy
from mico.space import SearchSpace
from mico.toy import enumerate_optimum, toy_problem

from .conftest import SubByteSlowCost

VARIANTS = [
    dict(mode=m, action_type=a, constraint=c, reward=r)
    for m, a, c, r in [
        ("interleaved", "continuous", "wall", "haq"), ("weights", "continuous", "wall", "haq"),
        ("joint", "continuous", "mask", "lagrangian"), ("interleaved", "discrete", "mask", "releq"),
        ("joint", "discrete", "penalty", "haq"), ("interleaved", "incdec", "none", "releq"),
        ("joint", "incdec", "mask", "haq"), ("weights", "discrete", "mask", "lagrangian"),
    ]
]


def _make(env_id: str):
    kw = {"problem": toy_problem(budget=10_000)} if env_id == "mico/MPQ-v0" else {}
    return gym.make(env_id, **kw)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_registered_ids_pass_gymnasium_and_sb3_checkers(env_id):
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = _make(env_id)
    check_env(env.unwrapped, skip_render_check=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SB3 recommends a [-1, 1] Box; HAQ's action is in [0, 1]
        sb3_check_env(env.unwrapped)


@pytest.mark.parametrize("kw", VARIANTS, ids=lambda kw: "-".join(kw.values()))
def test_variants_pass_checker_and_stay_in_space(kw):
    env = make_toy_env(budget=10_000, **kw)
    check_env(env, skip_render_check=True)
    env.action_space.seed(0)
    for _ in range(3):
        obs, _ = env.reset()
        done = False
        while not done:
            assert env.observation_space.contains(obs)
            if kw["constraint"] == "mask" and kw["action_type"] != "continuous":
                mask = env.action_masks()
                action = int(np.flatnonzero(mask)[-1])
            else:
                action = env.action_space.sample()
            obs, reward, done, trunc, info = env.step(action)
            assert np.isfinite(reward) and not trunc
        assert env.problem.space.contains(info["policy"])
        if kw["constraint"] in ("wall", "mask"):
            assert info["feasible"], info


def _rollout(env_id: str, seed: int, episodes: int = 4):
    env = _make(env_id)
    env.action_space.seed(seed)
    out = []
    obs, _ = env.reset(seed=seed)
    for _ in range(episodes):
        done = False
        while not done:
            obs, r, done, _, info = env.step(env.action_space.sample())
            out.append((obs.tobytes(), r))
        out.append(info["policy"].key())
        obs, _ = env.reset()
    return out


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_seeded_rollouts_identical(env_id):
    assert _rollout(env_id, 5) == _rollout(env_id, 5)
    assert _rollout(env_id, 5) != _rollout(env_id, 6)


def test_haq_action_mapping_and_info():
    env = make_toy_env(budget=100)
    env.reset(seed=0)
    expected = {0.0: 2, 0.33: 2, 0.34: 4, 0.66: 4, 0.67: 8, 1.0: 8}  # round(-0.5 + a * 3) over {2, 4, 8}
    for a, bits in expected.items():
        wi, _ = env._map_action(np.array([a], dtype=np.float32), 0, 0)
        assert env.wc[wi] == bits, a
    for _ in range(env.n_steps):
        _, r, done, _, info = env.step(np.array([1.0], dtype=np.float32))
    assert done
    assert info["proposed_w_bits"] == (8,) * 6 and info["proposed_a_bits"] == (8,) * 6
    assert info["feasible"] and info["costs"]["bops"] <= env.problem.constraints[0].limit
    assert info["evaluations_used"] == 1 and env.problem.used == 2  # + the all-max reference
    assert r == pytest.approx(0.1 * 100 * (info["accuracy"] - env.acc_ref))


def test_action_wall_matches_haq_sweep():
    """Last layer first: a_bits down one step, re-check, then w_bits; repeat until the budget holds."""
    env = make_toy_env(budget=100)
    w8 = np.full(6, 8)
    w, a = env.action_wall(w8, w8)
    limit = env.problem.constraints[0].limit
    # replay the sweep by hand
    ww, aa = list(w8), list(w8)
    bops = BOPs()
    space = env.problem.space

    def cost():
        from mico.space import Policy

        return bops.cost(space, Policy(tuple(ww), tuple(aa))).total

    lower = {8: 4, 4: 2}
    while cost() > limit:
        for layer in reversed(range(6)):
            if aa[layer] > 2:
                aa[layer] = lower[aa[layer]]
                if cost() <= limit:
                    break
            if ww[layer] > 2:
                ww[layer] = lower[ww[layer]]
                if cost() <= limit:
                    break
    assert list(w) == ww and list(a) == aa
    assert bops.cost(space, __import__("mico.space").space.Policy(tuple(w), tuple(a))).total <= limit


def test_action_wall_and_completion_follow_really_cheaper_bits():
    """Where lower bits cost more, the wall moves toward the cheaper (higher) bits and ends feasible."""
    from mico.space import Policy

    space = toy_problem().space
    slow = SubByteSlowCost()
    best = [(8, 8), (8, 8)] + [(2, 2)] * 4
    cheapest = slow.cost(space, Policy(tuple(w for w, _ in best), tuple(a for _, a in best))).total
    all2 = slow.cost(space, Policy((2,) * 6, (2,) * 6)).total
    assert all2 > 1.05 * cheapest  # the all-minimum policy is not the cheapest one
    prob = Problem(space, ToyProxy(space), {"slow": slow}, [Constraint("slow", 1.05 * cheapest)], 50)
    env = MPQEnv(prob)  # the old wall refused this budget: all-2-bit breaks it
    assert env._wmin0.tolist() == [w for w, _ in best] and env._amin0.tolist() == [a for _, a in best]
    w, a = env.action_wall(np.full(6, 2), np.full(6, 2))
    assert w[:2].min() >= 4 and a[:2].min() >= 4 and w[2:].max() == 2  # raised toward the cheaper 8 bits
    assert slow.cost(space, Policy(tuple(w.tolist()), tuple(a.tolist()))).total <= 1.05 * cheapest
    for ep in range(3):  # random episodes always end feasible
        env.reset(seed=ep)
        done = False
        while not done:
            _, _, done, _, info = env.step(env.action_space.sample())
        assert info["feasible"]
    with pytest.raises(ValueError, match=r"unreachable: the cheapest policy \(w8.8.2.2.2.2\|a8.8.2.2.2.2\) costs"):
        Problem(space, ToyProxy(space), {"slow": slow}, [Constraint("slow", 0.9 * cheapest)], 50)


def test_mask_keeps_budget_reachable():
    env = make_toy_env(budget=1000, action_type="discrete", constraint="mask", reward="haq", ratio=0.15)
    for ep in range(5):
        env.reset(seed=ep)
        done = False
        while not done:
            mask = env.action_masks()
            assert mask.any()
            _, _, done, _, info = env.step(int(np.flatnonzero(mask)[-1]))  # the most bits allowed
        assert info["feasible"]
    # a masked (infeasible) action is lowered, and recorded as proposed
    env.reset(seed=0)
    done = False
    while not done:
        _, _, done, _, info = env.step(2)
    assert info["feasible"] and info["proposed_w_bits"] == info["w_bits"]


def test_penalty_and_none_constraints():
    env = make_toy_env(budget=100, constraint="penalty", penalty=2.0)
    env.reset(seed=0)
    for _ in range(env.n_steps):
        _, r, done, _, info = env.step(np.array([1.0], dtype=np.float32))
    assert not info["feasible"] and info["accuracy"] is None and r < -2.0
    assert env.problem.used == 0  # infeasible policies are not evaluated
    env = make_toy_env(budget=100, constraint="none", acc_ref=0.95)
    env.reset(seed=0)
    for _ in range(env.n_steps):
        _, r, done, _, info = env.step(np.array([1.0], dtype=np.float32))
    assert not info["feasible"] and info["accuracy"] is not None


def test_releq_reward_formula():
    env = make_toy_env(budget=100, action_type="discrete", reward="releq", acc_ref=0.9,
                       releq_constants=(0.8, 0.6, 3.0))
    w = np.array([2, 4, 8, 2, 4, 8])
    a = np.array([8, 8, 8, 4, 4, 4])
    q = (w.sum() + a.sum()) / (12 * 8)
    x = q - 2 / 8
    y = 0.85 / 0.9
    assert env._releq_reward(0.85, w, a) == pytest.approx(2 * (1 - x ** 0.6) * y ** (3 / y) - 1)
    assert env._releq_reward(0.70, w, a) == -1.0  # y < m


def test_lagrangian_multiplier_rises_on_violation():
    env = make_toy_env(budget=100, constraint="none", reward="lagrangian", lagrange_lr=0.5, acc_ref=0.95)
    for _ in range(2):
        env.reset()
        for _ in range(env.n_steps):
            _, r, _, _, info = env.step(np.array([1.0], dtype=np.float32))
    assert info["lagrange_mu"] > 0
    g = info["costs"]["bops"] / env.problem.constraints[0].limit - 1
    mu_before = 0.5 * g  # one episode of dual ascent from 0
    assert r == pytest.approx(0.1 * 100 * (info["accuracy"] - 0.95) - mu_before * g)
    assert info["lagrange_mu"] == pytest.approx(2 * mu_before)


def test_step_rewards_and_budget_exhaustion_end_episode_gracefully():
    env = make_toy_env(budget=3, action_type="discrete", reward="releq", step_rewards=True, acc_ref=0.95)
    env.reset(seed=0)
    rewards, done, steps = [], False, 0
    while not done:
        _, r, done, trunc, info = env.step(steps % 3)
        rewards.append(r)
        steps += 1
    assert info["budget_exhausted"] and steps < env.n_steps and r == 0.0
    assert env.problem.used == 3
    env.reset()  # still usable: repeats are free, new policies end the episode again
    with pytest.raises(RuntimeError, match="episode ended"):
        while True:
            env.step(0)


def test_bad_input_errors():
    env = make_toy_env(budget=10)
    with pytest.raises(RuntimeError, match="before reset"):
        env.step(np.array([0.5], dtype=np.float32))
    env.reset(seed=0)
    for bad in (np.array([1.5], dtype=np.float32), np.array([0.1, 0.2], dtype=np.float32), [np.nan], "x"):
        with pytest.raises(ValueError, match=r"in \[0, 1\]"):
            env.step(bad)
    denv = make_toy_env(budget=10, action_type="discrete")
    denv.reset(seed=0)
    for bad in (3, -1, 1.0, np.array([0, 1])):
        with pytest.raises(ValueError, match="integer in"):
            denv.step(bad)
    for kw, match in [(dict(mode="both"), "mode must be one of"), (dict(reward="x"), "reward must be one of"),
                      (dict(constraint="x"), "constraint must be"), (dict(releq_constants="vgg"), "releq"),
                      (dict(acc_ref=-1.0), "acc_ref")]:
        with pytest.raises(ValueError, match=match):
            make_toy_env(**kw)
    with pytest.raises(TypeError, match="mico.problem.Problem"):
        MPQEnv(problem=None)


def test_infeasible_budget_raises_with_cheapest_cost():
    space = toy_problem().space
    with pytest.raises(ValueError, match="unreachable: the cheapest policy .* costs"):
        Problem(space, ToyProxy(space), {"bops": BOPs()}, [Constraint("bops", 1.0)], 10)
    # weights mode keeps activations at 8 bits: a limit below W2A8 is unreachable there
    limit = 0.1 * BOPs().cost(space, space.max_policy()).total
    prob = Problem(space, ToyProxy(space), {"bops": BOPs()}, [Constraint("bops", limit)], 10)
    with pytest.raises(ValueError, match="unreachable in mode='weights'.*mode='interleaved'"):
        MPQEnv(prob, mode="weights")


def test_pinned_layers_groups_and_non_additive_cost():
    space = toy_problem().space
    layers = space.layers
    grouped = SearchSpace(layers, (2, 4, 8), (2, 4, 8), pinned=((0, 8, 8),), a_groups=((2, 3),))

    class PeakBOPs:  # not additive: max over layers
        name, unit = "peak", "bops"

        def cost(self, space, policy):
            per = BOPs().cost(space, policy).per_layer
            from mico.costs import Cost

            return Cost(max(per), tuple(per), self.unit)

        def totals(self, space, policies):
            return np.array([self.cost(space, p).total for p in policies])

    for costs, name in (({"bops": BOPs()}, "bops"), ({"peak": PeakBOPs()}, "peak")):
        ref = costs[name].cost(grouped, grouped.max_policy()).total
        prob = Problem(grouped, ToyProxy(grouped), costs, [Constraint(name, 0.5 * ref)], 50)
        env = MPQEnv(prob, action_type="discrete", constraint="mask")
        assert env._additive == (name == "bops")
        assert env.n_steps == 2 * (len(layers) - 1)
        for ep in range(3):
            env.reset(seed=ep)
            done = False
            while not done:
                _, _, done, _, info = env.step(int(np.flatnonzero(env.action_masks())[-1]))
            assert info["feasible"] and info["w_bits"][0] == 8


def test_wrappers():
    env = DiscreteActions(make_toy_env(budget=100, mode="joint"), bins=3)
    assert env.action_space.n == 9
    check_env(env.unwrapped, skip_render_check=True)
    env.reset(seed=0)
    _, _, _, _, _ = env.step(8)
    assert env.unwrapped._w[0] == 8 and env.unwrapped._a[0] == 8
    menv = ActionMaskObservation(make_toy_env(budget=100, action_type="discrete", constraint="mask"))
    obs, _ = menv.reset(seed=0)
    assert obs.shape == menv.observation_space.shape and menv.observation_space.contains(obs)


def test_toy_optimum_enumeration():
    prob = toy_problem(budget=10)
    acc, row = enumerate_optimum(prob)
    from mico.space import Policy

    pol = Policy(tuple(row[:6]), tuple(row[6:]))
    assert prob.is_feasible(prob.cost(pol))
    assert prob.proxy.evaluate(pol).accuracy == pytest.approx(acc)
    rng = np.random.default_rng(0)
    for _ in range(200):
        p = prob.space.sample(rng)
        if prob.is_feasible(prob.cost(p)):
            assert prob.proxy.evaluate(p).accuracy <= acc + 1e-12


def test_package_registers_on_import():
    assert set(ENV_IDS) <= set(gym.registry)
    assert envs.MPQEnv is MPQEnv


