"""`MPQEnv`: mixed-precision quantization search as a Gymnasium environment over a `Problem`."""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from mico.costs import cheapest_policy
from mico.problem import BudgetExhausted, Problem
from mico.space import Policy

MODES = ("interleaved", "weights", "joint")
ACTION_TYPES = ("continuous", "discrete", "incdec")
CONSTRAINTS = ("wall", "mask", "penalty", "none")
REWARDS = ("haq", "releq", "lagrangian")
#: ReLeQ reward constants (m, a, b) per network, from the paper's code (see haq-releq.md).
RELEQ_CONSTANTS = {"lenet": (0.8, 0.6, 3.0), "cifar": (0.1, 0.8, 1.0), "svhn": (0.1, 0.8, 1.0),
                   "resnet20": (0.6, 0.8, 1.0), "mobilenet": (0.7, 0.8, 1.0)}
STATIC_FEATURES = ("layer_idx", "conv1d", "conv2d", "linear", "in_channels", "out_channels", "kernel",
                   "stride", "log_params", "log_macs", "mac_share", "depthwise", "log_in_spatial",
                   "is_weight")
DYNAMIC_FEATURES = ("prev_action", "mean_bits", "slot_bits", "cost_so_far", "min_remaining_cost",
                    "quant_state", "last_accuracy", "progress")
_COST_CLIP = 10.0
_ACC_CLIP = 2.0


class MPQEnv(gym.Env):
    """Choose a weight and an activation bitwidth for every layer of a `Problem`'s search space.

    ## Description

    An episode walks the free (unpinned) layers of ``problem.space`` in execution order and makes
    one decision per step: ``mode="interleaved"`` decides ``w_bits`` then ``a_bits`` of each layer
    (2L steps, HAQ's linear mode); ``"weights"`` decides only ``w_bits`` (L steps; activations
    fixed to the largest allowed bits, HAQ's k-means mode and ReLeQ); ``"joint"`` decides both in
    one step per layer. After the last step the policy is made to meet the constraints (see
    ``constraint``), evaluated with ``problem.evaluate`` (the only source of accuracy, so the
    evaluation budget is shared with every other searcher) and rewarded.

    ## Action Space

    ``action_type="continuous"``: ``Box(0, 1, (k,), float32)``, k = 2 in joint mode else 1. HAQ's
    mapping ``round(b_min - 0.5 + a (b_max - b_min + 1))`` applied to the *index* into the allowed
    bits (identical to HAQ's for a contiguous set such as 2..8; for {2, 4, 8} every choice gets
    the same share of [0, 1]). ``"discrete"``: ``Discrete(n)`` choice index (n = the larger of
    the weight and activation sets; an index past a smaller set means its top choice and is masked)
    or ``Discrete(n_w * n_a)`` in joint mode (``i -> (i // n_a, i % n_a)``). ``"incdec"`` (ReLeQ's
    variant): ``Discrete(3)`` = decrement / keep / increment the slot's current bits by one
    choice (``Discrete(9)`` in joint mode: ``(i // 3, i % 3)`` for weights, activations).
    An action outside the space raises ``ValueError``.

    ## Observation Space

    ``Box(0, high, (22,), float32)``. Static columns are min-max normalised over the layers
    (a constant column is 0); cost ratios are clipped to [0, 10], accuracy ratios to [0, 2].

    | idx | name               | meaning                                                              |
    |-----|--------------------|----------------------------------------------------------------------|
    | 0   | layer_idx          | layer index / (L - 1)                                                |
    | 1-3 | kind one-hot       | conv1d, conv2d, linear                                               |
    | 4   | in_channels        | min-max normalised                                                   |
    | 5   | out_channels       | min-max normalised                                                   |
    | 6   | kernel             | product of the kernel sizes, normalised                              |
    | 7   | stride             | product of the strides, normalised                                   |
    | 8   | log_params         | log(params), normalised                                              |
    | 9   | log_macs           | log(MACs), normalised                                                |
    | 10  | mac_share          | MACs / total MACs                                                    |
    | 11  | depthwise          | 1 for a depthwise conv                                               |
    | 12  | log_in_spatial     | log(input H*W or length), normalised (HAQ's feature)                 |
    | 13  | is_weight          | 1 weight decision, 0 activation decision, 0.5 joint                  |
    | 14  | prev_action        | bits of the previous decision / b_max (0 at the first step)          |
    | 15  | mean_bits          | mean bits decided so far in this episode / b_max                     |
    | 16  | slot_bits          | current bits of this slot / b_max (persistent bits, ReLeQ's b_l)     |
    | 17  | cost_so_far        | cost of completed (and pinned) layers / limit                        |
    | 18  | min_remaining_cost | cost of the other layers at their cheapest / limit                   |
    | 19  | quant_state        | ReLeQ's q = sum of current bits / (n_slots b_max)                    |
    | 20  | last_accuracy      | last evaluated accuracy / acc_ref (ReLeQ's y; 0 before any)          |
    | 21  | progress           | decision index / number of decisions                                 |

    "Cost" and "limit" refer to the first constraint (without constraints: the first cost model
    and its W8A8 cost).

    ## Rewards

    ``reward="haq"``: terminal ``haq_lambda * acc_scale * (acc - acc_ref)`` (HAQ: 0.1 x accuracy
    in %). ``"releq"``: ``-1`` if ``y < m`` else ``2 (1 - x^a) y^(b / y) - 1`` with
    ``y = acc / acc_ref``, ``x = q - b_min / b_max`` and (m, a, b) from ``releq_constants``;
    terminal, or after every step when ``step_rewards`` (ReLeQ's main script; every step then
    evaluates the current bit vector and costs budget). ``"lagrangian"``: the HAQ term minus
    ``mu * g`` with ``g = max_c(cost_c / limit_c) - 1``; after each episode
    ``mu <- max(0, mu + lagrange_lr * g)``. ``constraint="penalty"`` does not evaluate an
    infeasible policy and gives ``-penalty * (1 + g)``. Other steps give 0. ``acc_ref=None``
    evaluates the all-max policy once (one evaluation of the budget) when first needed.

    ## Starting State

    Slots start at the largest allowed bits (pinned layers at their pins), or, with
    ``persistent_bits``, at the previous episode's proposed bits (ReLeQ). ``reset(seed=...)``
    clears the cross-episode state (persistent bits, last accuracy, Lagrange multiplier) so
    seeded rollouts repeat exactly; the problem's evaluations stay (asking again is free).

    ## Episode End

    Terminated after the last decision, or early (``info["budget_exhausted"]``, reward 0) when a
    needed evaluation finds the problem's budget used up. Never truncated. ``step`` after the end
    raises ``RuntimeError``. Terminal ``info``: proposed and enforced ``w_bits``/``a_bits``,
    ``costs``, ``feasible``, ``accuracy``, ``evaluations_used``, ``cache_hits``, ``repeats``,
    ``repeat``, ``budget_exhausted``, ``policy``.

    ## Arguments

    ``problem`` (required), ``mode``, ``action_type``, ``constraint`` ("wall": HAQ's action wall
    after the episode; "mask": infeasible choices masked (``action_masks()`` for MaskablePPO) and
    an infeasible action lowered to the highest feasible choice below it; "penalty"; "none"),
    ``reward``, ``acc_ref``, ``acc_scale`` (100), ``haq_lambda`` (0.1), ``releq_constants``
    ((m, a, b) or a key of `RELEQ_CONSTANTS`), ``step_rewards``, ``persistent_bits``, ``penalty``,
    ``lagrange_lr``, ``lagrange_init``.

    ## Version History

    * v0: initial version.
    """

    metadata = {"render_modes": []}

    def __init__(self, problem: Problem | None = None, mode: str = "interleaved", action_type: str = "continuous",
                 constraint: str = "wall", reward: str = "haq", acc_ref: float | None = None,
                 acc_scale: float = 100.0, haq_lambda: float = 0.1,
                 releq_constants: tuple[float, float, float] | str = "lenet", step_rewards: bool = False,
                 persistent_bits: bool = False, penalty: float = 1.0, lagrange_lr: float = 0.05,
                 lagrange_init: float = 0.0, render_mode: str | None = None):
        if not isinstance(problem, Problem):
            raise TypeError(f"problem must be a mico.problem.Problem, got {type(problem).__name__}; "
                            "use gymnasium.make('mico/MPQ-v0', problem=...) or 'mico/MPQ-toy-v0'")
        for name, value, known in (("mode", mode, MODES), ("action_type", action_type, ACTION_TYPES),
                                   ("constraint", constraint, CONSTRAINTS), ("reward", reward, REWARDS)):
            if value not in known:
                raise ValueError(f"{name} must be one of {known}, got {value!r}")
        if isinstance(releq_constants, str):
            if releq_constants not in RELEQ_CONSTANTS:
                raise ValueError(f"releq_constants must be (m, a, b) or one of {sorted(RELEQ_CONSTANTS)}, "
                                 f"got {releq_constants!r}")
            releq_constants = RELEQ_CONSTANTS[releq_constants]
        if len(releq_constants) != 3:
            raise ValueError(f"releq_constants must be (m, a, b), got {releq_constants!r}")
        if acc_ref is not None and not acc_ref > 0:
            raise ValueError(f"acc_ref must be a positive accuracy or None, got {acc_ref!r}")
        if penalty < 0 or lagrange_lr < 0 or lagrange_init < 0:
            raise ValueError(f"penalty, lagrange_lr and lagrange_init must be >= 0, got "
                             f"{penalty}, {lagrange_lr}, {lagrange_init}")
        if render_mode is not None:
            raise ValueError(f"MPQEnv has no render modes, got render_mode={render_mode!r}")
        self.problem, self.mode, self.action_type = problem, mode, action_type
        self.constraint, self.reward_type = constraint, reward
        self.acc_ref, self.acc_scale, self.haq_lambda = acc_ref, float(acc_scale), float(haq_lambda)
        self.releq_m, self.releq_a, self.releq_b = (float(v) for v in releq_constants)
        self.step_rewards, self.persistent_bits = bool(step_rewards), bool(persistent_bits)
        self.penalty, self.lagrange_lr, self.lagrange_init = float(penalty), float(lagrange_lr), float(lagrange_init)
        self.render_mode = None

        space = problem.space
        self.space, self.L = space, space.n_layers
        self.wc = np.array(space.w_choices, dtype=np.int64)
        self.ac = np.array(space.a_choices, dtype=np.int64)
        self.nw, self.na = len(self.wc), len(self.ac)
        self.b_max = max(int(self.wc[-1]), int(self.ac[-1]))
        self.b_min_q = min(int(self.wc[0]), int(self.ac[0]))
        pins = {i: (w, a) for i, w, a in space.pinned}
        self.free = [i for i in range(self.L) if i not in pins]
        if not self.free:
            raise ValueError("every layer of the space is pinned: there is nothing to decide")
        # initial (max) bits and the cheapest completion; weights mode fixes activations at max
        self._w0 = np.array([pins.get(i, (self.wc[-1], 0))[0] for i in range(self.L)], dtype=np.int64)
        self._a0 = np.array([pins.get(i, (0, self.ac[-1]))[1] for i in range(self.L)], dtype=np.int64)
        self._wmin0 = self._w0.copy()
        self._amin0 = self._a0.copy()
        self._wmin0[self.free] = self.wc[0]
        if mode != "weights":
            self._amin0[self.free] = self.ac[0]
        # decisions: (layer, slot) with slot 0 = w, 1 = a, 2 = joint
        decisions = []
        for layer in self.free:
            if mode == "interleaved":
                decisions += [(layer, 0), (layer, 1)]
            elif mode == "weights":
                decisions.append((layer, 0))
            else:
                decisions.append((layer, 2))
        self.decisions = decisions
        self.n_steps = len(decisions)
        self._n_slots = len(self.free) * (1 if mode == "weights" else 2)

        self._init_costs()
        self._init_spaces()
        self._static = self._static_features()
        # layers complete before decision d (pinned layers always complete)
        done = np.zeros((self.n_steps + 1, self.L), dtype=bool)
        done[:, [i for i in range(self.L) if i in pins]] = True
        for d, (layer, slot) in enumerate(decisions):
            if slot != 0 or mode == "weights":
                done[d + 1:, layer] = True
        self._done_before = done
        self._done_list = [np.flatnonzero(row).tolist() for row in done]
        self._fast = self._additive and not self._groups and self._ref_row is not None
        if self._fast:
            self._lut_ref = self._lut[self._ref_row].tolist()  # [layer][w][a] as Python floats
            self._fixed_ref = float(self._fixed[self._ref_row])
        self._obs_buf = np.zeros(self.observation_space.shape, dtype=np.float32)
        # cross-episode state
        self._mu = self.lagrange_init
        self._persist_w, self._persist_a = self._w0.copy(), self._a0.copy()
        self._last_acc = 0.0
        self._d = -1  # -1: needs reset
        self.evaluations_used = 0
        self.cache_hits = 0
        self.repeats = 0
        self._prefetched: set[str] = set()

    # ------------------------------------------------------------------ construction helpers
    def _init_costs(self) -> None:
        """Per-constraint lookup tables ``LUT[c, layer, w, a]`` (HAQ's LUT) if the costs are additive."""
        prob = self.problem
        self._ar = np.arange(self.L)
        self.constraints = list(prob.constraints)
        if self.constraints:
            self.ref_name = self.constraints[0].cost
            self.ref_limit = float(self.constraints[0].limit)
        elif prob.costs:
            self.ref_name = next(iter(prob.costs))
            self.ref_limit = float(prob.costs[self.ref_name].cost(self.space, self.space.max_policy()).total)
        else:
            self.ref_name, self.ref_limit = None, 1.0
        names = [c.cost for c in self.constraints]
        if self.ref_name is not None and self.ref_name not in names:
            names = [self.ref_name] + names
        self._cost_names = names
        self._limits = np.array([prob.constraints[i].limit for i in range(len(self.constraints))], dtype=np.float64)
        self._ref_row = names.index(self.ref_name) if self.ref_name is not None else None
        self._con_rows = np.array([names.index(c.cost) for c in self.constraints], dtype=np.int64)
        wvals = sorted(set(self.wc.tolist()) | set(self._w0.tolist()))
        avals = sorted(set(self.ac.tolist()) | set(self._a0.tolist()))
        lut = np.full((len(names), self.L, 9, 9), np.nan)
        fixed = np.zeros(len(names))
        for ci, name in enumerate(names):
            model = prob.costs[name]
            for w in wvals:
                for a in avals:
                    c = model.cost(self.space, Policy((w,) * self.L, (a,) * self.L))
                    lut[ci, :, w, a] = c.per_layer
                    fixed[ci] = c.total - sum(c.per_layer)
        self._lut, self._fixed = lut, fixed
        self._groups = [np.array(g) for g in self.space.a_groups]
        self._additive = True
        if names:  # check the table against the models on deterministic mixed policies
            probes = []
            for k in range(4):
                w = np.array([self.wc[(i + k) % self.nw] for i in range(self.L)])
                a = np.array([self.ac[(2 * i + k) % self.na] for i in range(self.L)])
                pw, pa = self._w0.copy(), self._a0.copy()
                pw[self.free], pa[self.free] = w[self.free], a[self.free]
                probes.append((pw, pa))
            W = np.stack([p[0] for p in probes])
            A = np.stack([p[1] for p in probes])
            fast = self._totals_lut(W, A)
            pols = [Policy(tuple(w.tolist()), tuple(a.tolist())) for w, a in probes]
            exact = np.stack([np.asarray(prob.costs[n].totals(self.space, pols), dtype=np.float64) for n in names])
            self._additive = bool(np.allclose(fast, exact, rtol=1e-9, atol=1e-9))
        if self.constraints:
            self._cheapest_completion()
            cheapest = self._totals(self._wmin0[None], self._amin0[None])[:, 0]
            for row, c in zip(self._con_rows, self.constraints):
                if cheapest[row] > c.limit * (1 + 1e-12):
                    raise ValueError(
                        f"{c} is unreachable in mode={self.mode!r}: the cheapest policy the environment can "
                        f"propose (each free layer at its cheapest allowed choice) costs {cheapest[row]:.6g}; "
                        "raise the limit or allow more bit choices"
                        + (" (mode='weights' keeps activations at their largest bits: mode='interleaved' "
                           "can also lower them)" if self.mode == "weights" else ""))

    def _cheapest_completion(self) -> None:
        """Each free layer's cheapest choice: the completion of undecided layers and the wall's target.

        Lower bits are not always cheaper (on Cortex-M7 a sub-byte kernel can be slower than the
        8-bit one), so the choice is the per-layer argmin over the allowed (w, a) pairs of
        sum_c cost_c / limit_c (activations stay at their largest bits in ``mode="weights"``);
        ties go to fewer bits. For costs that fall with the bits this is the all-minimum policy,
        HAQ's setting.
        """
        score = (self._lut[self._con_rows] / self._limits[:, None, None, None]).sum(axis=0)  # (L, 9, 9)
        W, A = self._wmin0.copy(), self._amin0.copy()
        for layer in self.free:
            a_opts = [int(self._a0[layer])] if self.mode == "weights" else self.ac.tolist()
            best = min((float(score[layer, w, a]), w + a, w, a) for w in self.wc.tolist() for a in a_opts)
            W[layer], A[layer] = best[2], best[3]
        # a layer's cost can depend on its neighbours' bits (e.g. the input container), so the
        # per-layer argmin is compared, on exact totals, with every uniform choice and with each
        # constraint's own cheapest policy (`mico.costs.cheapest_policy`)
        cands = [(W, A)]
        for w in self.wc.tolist():
            for a in ([None] if self.mode == "weights" else self.ac.tolist()):
                cw, ca = self._w0.copy(), self._a0.copy()
                cw[self.free] = w
                if a is not None:
                    ca[self.free] = a
                cands.append((cw, ca))
        for c in self.constraints:
            pol = cheapest_policy(self.space, self.problem.costs[c.cost])[0]
            cw, ca = np.array(pol.w_bits, dtype=np.int64), np.array(pol.a_bits, dtype=np.int64)
            if self.mode == "weights":
                ca = self._a0.copy()
            cands.append((cw, ca))
        tot = self._totals(np.stack([c[0] for c in cands]), np.stack([c[1] for c in cands]))[self._con_rows]
        worst = (tot / self._limits[:, None]).max(axis=0)
        j = int(np.argmin(worst))
        self._wmin0[:], self._amin0[:] = cands[j]

    def _effective_a(self, A: np.ndarray) -> np.ndarray:
        if not self._groups:
            return A
        A = A.copy()
        for g in self._groups:
            A[:, g] = A[:, g].max(axis=1, keepdims=True)
        return A

    def _totals_lut(self, W: np.ndarray, A: np.ndarray) -> np.ndarray:
        A = self._effective_a(A)
        return self._lut[:, self._ar, W, A].sum(axis=-1) + self._fixed[:, None]

    def _totals(self, W: np.ndarray, A: np.ndarray) -> np.ndarray:
        """Cost totals, shape (n_costs, n), of the bit matrices ``W``, ``A`` (n, L)."""
        if self._additive:
            return self._totals_lut(W, A)
        pols = [Policy(tuple(w.tolist()), tuple(a.tolist())) for w, a in zip(W, A)]
        return np.stack([np.asarray(self.problem.costs[n].totals(self.space, pols), dtype=np.float64)
                         for n in self._cost_names])

    def _ref_per_layer(self, w: np.ndarray, a: np.ndarray) -> np.ndarray:
        if self._additive:
            return self._lut[self._ref_row, self._ar, w, self._effective_a(a[None])[0]]
        c = self.problem.costs[self.ref_name].cost(self.space, Policy(tuple(w.tolist()), tuple(a.tolist())))
        return np.asarray(c.per_layer, dtype=np.float64)

    def _init_spaces(self) -> None:
        joint = self.mode == "joint"
        if self.action_type == "continuous":
            self.action_space = spaces.Box(0.0, 1.0, (2 if joint else 1,), dtype=np.float32)
            self._k = 2 if joint else 1
        elif self.action_type == "discrete":
            self.action_space = spaces.Discrete(self.nw * self.na if joint else max(self.nw, self.na))
        else:
            self.action_space = spaces.Discrete(9 if joint else 3)
        n_static, n_dyn = len(STATIC_FEATURES), len(DYNAMIC_FEATURES)
        high = np.ones(n_static + n_dyn, dtype=np.float32)
        high[n_static + DYNAMIC_FEATURES.index("cost_so_far")] = _COST_CLIP
        high[n_static + DYNAMIC_FEATURES.index("min_remaining_cost")] = _COST_CLIP
        high[n_static + DYNAMIC_FEATURES.index("last_accuracy")] = _ACC_CLIP
        self.observation_space = spaces.Box(np.zeros_like(high), high, dtype=np.float32)
        self._n_static = n_static

    def _static_features(self) -> np.ndarray:
        layers = self.space.layers

        def norm(v: list[float]) -> np.ndarray:
            v = np.asarray(v, dtype=np.float64)
            span = v.max() - v.min()
            return (v - v.min()) / span if span > 0 else np.zeros_like(v)

        total_macs = max(sum(layer.macs for layer in layers), 1)
        cols = {
            "layer_idx": np.arange(self.L) / max(self.L - 1, 1),
            "conv1d": np.array([layer.kind == "conv1d" for layer in layers], dtype=float),
            "conv2d": np.array([layer.kind == "conv2d" for layer in layers], dtype=float),
            "linear": np.array([layer.kind == "linear" for layer in layers], dtype=float),
            "in_channels": norm([layer.in_channels for layer in layers]),
            "out_channels": norm([layer.out_channels for layer in layers]),
            "kernel": norm([math.prod(layer.kernel) if layer.kernel else 1 for layer in layers]),
            "stride": norm([math.prod(layer.stride) if layer.stride else 1 for layer in layers]),
            "log_params": norm([math.log(max(layer.params, 1)) for layer in layers]),
            "log_macs": norm([math.log(max(layer.macs, 1)) for layer in layers]),
            "mac_share": np.array([layer.macs / total_macs for layer in layers]),
            "depthwise": np.array([layer.depthwise for layer in layers], dtype=float),
            "log_in_spatial": norm([math.log(max(math.prod(layer.in_shape[1:]) if len(layer.in_shape) > 1 else 1, 1))
                                    for layer in layers]),
        }
        per_layer = np.stack([cols[name] for name in STATIC_FEATURES[:-1]], axis=1)
        rows = np.zeros((self.n_steps + 1, len(STATIC_FEATURES)), dtype=np.float32)
        for d, (layer, slot) in enumerate(self.decisions):
            rows[d, :-1] = per_layer[layer]
            rows[d, -1] = (1.0, 0.0, 0.5)[slot]
        rows[self.n_steps] = rows[self.n_steps - 1]  # terminal observation repeats the last layer
        return rows

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if seed is not None:  # a seeded reset starts a fresh run (see Starting State)
            self._mu = self.lagrange_init
            self._persist_w, self._persist_a = self._w0.copy(), self._a0.copy()
            self._last_acc = 0.0
        if self.persistent_bits:
            self._w, self._a = self._persist_w.copy(), self._persist_a.copy()
        else:
            self._w, self._a = self._w0.copy(), self._a0.copy()
        self._wmin, self._amin = self._wmin0.copy(), self._amin0.copy()
        self._d = 0
        self._prev_bits = 0
        self._bits_sum = 0
        self._n_decided = 0
        self._proposed_w, self._proposed_a = self._w.copy(), self._a.copy()
        self._qsum = self._quant_state(self._w, self._a) * self._n_slots * self.b_max
        if self._fast:
            lut, wm, am = self._lut_ref, self._wmin.tolist(), self._amin.tolist()
            self._per = [lut[i][wm[i]][am[i]] for i in range(self.L)]
        return self._obs(), {"decision": 0, "layer": self.decisions[0][0]}

    def step(self, action: Any):
        if self._d < 0:
            raise RuntimeError("step() called before reset(); call env.reset() first")
        if self._d >= self.n_steps:
            raise RuntimeError("step() called after the episode ended; call env.reset() to start a new one")
        layer, slot = self.decisions[self._d]
        wi, ai = self._map_action(action, layer, slot)
        if self.constraint == "mask":
            wi, ai = self._enforce_mask(layer, slot, wi, ai)
        if slot != 1:
            b = int(self.wc[wi])
            self._qsum += b - int(self._w[layer])
            self._w[layer] = self._wmin[layer] = b
            self._proposed_w[layer] = b
            self._bits_sum += b
            self._n_decided += 1
            self._prev_bits = b
        if slot != 0:
            b = int(self.ac[ai])
            self._qsum += b - int(self._a[layer])
            self._a[layer] = self._amin[layer] = b
            self._proposed_a[layer] = b
            self._bits_sum += b
            self._n_decided += 1
            self._prev_bits = b
        if self._fast:
            self._per[layer] = self._lut_ref[layer][int(self._wmin[layer])][int(self._amin[layer])]
        self._d += 1
        if self._d == self.n_steps:
            return self._finish()
        reward, info = 0.0, {"decision": self._d, "layer": self.decisions[self._d][0]}
        if self.step_rewards:
            policy = Policy(tuple(self._w.tolist()), tuple(self._a.tolist()))
            ev = self._evaluate(policy)
            if ev is None:
                self._d = self.n_steps
                return self._obs(), 0.0, True, False, self._terminal_info(policy, None, True)
            reward = self._releq_reward(ev.accuracy, self._w, self._a) if self.reward_type == "releq" \
                else self._haq_reward(ev.accuracy)
        return self._obs(), float(reward), False, False, info

    # ------------------------------------------------------------------ actions
    def _map_action(self, action: Any, layer: int, slot: int) -> tuple[int, int]:
        """Action -> (weight choice index, activation choice index) of this decision."""
        at = self.action_type
        if at == "continuous":
            k = self._k
            try:
                x = action.tolist() if isinstance(action, np.ndarray) and action.ndim == 1 else \
                    np.asarray(action, dtype=np.float64).reshape(-1).tolist()
            except (TypeError, ValueError):
                x = []
            if len(x) != k or not all(isinstance(v, (int, float)) and -1e-6 <= v <= 1 + 1e-6 for v in x):
                raise ValueError(f"action must be {k} number(s) in [0, 1] (action space {self.action_space}), "
                                 f"got {action!r}")
            wi = min(max(int(x[0] * self.nw), 0), self.nw - 1)  # round(-0.5 + a n) over the choice index
            ai = min(max(int(x[-1] * self.na), 0), self.na - 1)
            if slot == 1:
                wi = 0
            return wi, ai
        if isinstance(action, (int, np.integer)) and not isinstance(action, bool):
            i = int(action)
        elif isinstance(action, np.ndarray) and action.size == 1 and np.issubdtype(action.dtype, np.integer):
            i = int(action.reshape(-1)[0])
        else:
            i = -1
        if not 0 <= i < self.action_space.n:
            raise ValueError(f"action must be an integer in [0, {self.action_space.n - 1}] "
                             f"({self.action_space}), got {action!r}")
        if at == "discrete":
            if slot == 2:
                return i // self.na, i % self.na
            return min(i, self.nw - 1), min(i, self.na - 1)
        # incdec: 0 = decrement, 1 = keep, 2 = increment, relative to the slot's current bits
        cw = int(np.searchsorted(self.wc, self._w[layer]))
        ca = int(np.searchsorted(self.ac, self._a[layer]))
        dw, da = (i // 3 - 1, i % 3 - 1) if slot == 2 else (i - 1, i - 1)
        return min(max(cw + dw, 0), self.nw - 1), min(max(ca + da, 0), self.na - 1)

    def _candidates(self, layer: int, slot: int) -> tuple[np.ndarray, np.ndarray]:
        """Every (wi, ai) choice pair this decision can make (flattened)."""
        if slot == 0:
            return np.arange(self.nw), np.zeros(self.nw, dtype=np.int64)
        if slot == 1:
            return np.zeros(self.na, dtype=np.int64), np.arange(self.na)
        return np.repeat(np.arange(self.nw), self.na), np.tile(np.arange(self.na), self.nw)

    def _feasible(self, layer: int, slot: int, wi: np.ndarray, ai: np.ndarray) -> np.ndarray:
        """Whether each candidate keeps the cheapest completion within every constraint."""
        if not self.constraints:
            return np.ones(len(wi), dtype=bool)
        W = np.repeat(self._wmin[None], len(wi), axis=0)
        A = np.repeat(self._amin[None], len(wi), axis=0)
        if slot != 1:
            W[:, layer] = self.wc[wi]
        if slot != 0:
            A[:, layer] = self.ac[ai]
        tot = self._totals(W, A)[self._con_rows]
        return np.all(tot <= self._limits[:, None] * (1 + 1e-12), axis=0)

    def _enforce_mask(self, layer: int, slot: int, wi: int, ai: int) -> tuple[int, int]:
        cw, ca = self._candidates(layer, slot)
        ok = self._feasible(layer, slot, cw, ca)
        sel = ok & (cw <= wi) & (ca <= ai) if slot == 2 else ok & ((cw <= wi) if slot == 0 else (ca <= ai))
        if not sel.any():  # cheapest choice is always feasible (induction from the start state)
            sel = ok
        j = np.flatnonzero(sel)
        if slot == 2:  # the most bits, then the most weight bits
            j = j[np.lexsort((cw[j], cw[j] + ca[j]))][-1]
        else:
            j = j[-1]
        return int(cw[j]), int(ca[j])

    def action_masks(self) -> np.ndarray:
        """Boolean mask over the discrete actions that keep the constraints reachable (MaskablePPO).

        Without ``constraint="mask"`` only the out-of-set indices are masked. For a continuous
        action space: the mask over the allowed choices of this decision.
        """
        if self._d < 0 or self._d >= self.n_steps:
            n = self.action_space.n if isinstance(self.action_space, spaces.Discrete) else self.nw
            return np.ones(n, dtype=bool)
        layer, slot = self.decisions[self._d]
        cw, ca = self._candidates(layer, slot)
        ok = self._feasible(layer, slot, cw, ca) if self.constraint == "mask" else np.ones(len(cw), dtype=bool)
        if self.action_type == "incdec":
            cur_w = int(np.searchsorted(self.wc, self._w[layer]))
            cur_a = int(np.searchsorted(self.ac, self._a[layer]))
            n = 9 if slot == 2 else 3
            mask = np.zeros(n, dtype=bool)
            for i in range(n):
                dw, da = (i // 3 - 1, i % 3 - 1) if slot == 2 else (i - 1, i - 1)
                w = min(max(cur_w + dw, 0), self.nw - 1) if slot != 1 else 0
                a = min(max(cur_a + da, 0), self.na - 1) if slot != 0 else 0
                k = w * self.na + a if slot == 2 else (w if slot == 0 else a)
                mask[i] = ok[k]
            if not mask.any():  # one step cannot reach a feasible choice: allow the full decrement
                mask[0] = True  # (the environment then lowers the bits to the highest feasible choice)
            return mask
        if self.action_type == "discrete" and slot != 2:
            mask = np.zeros(self.action_space.n, dtype=bool)
            mask[: len(ok)] = ok
            return mask
        return ok

    # ------------------------------------------------------------------ end of episode
    def action_wall(self, w: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """HAQ's action wall: step bits toward the cheapest choice, last layer first, until every constraint holds.

        While the policy breaks a constraint: sweep the free layers from the last to the first;
        move ``a_bits`` one allowed step toward the layer's cheapest choice (see
        ``_cheapest_completion``) and re-check, then ``w_bits`` and re-check; repeat the sweep.
        Where costs fall with the bits the cheapest choice is the minimum and this is HAQ's wall
        exactly (lower the bits); where they do not (sub-byte kernels slower than 8-bit ones) the
        wall moves toward the bits that really are cheaper. Activations are not changed in
        ``mode="weights"``. It ends feasible: the all-cheapest policy is checked at construction.
        """
        w, a = w.copy(), a.copy()
        if not self.constraints:
            return w, a

        def ok() -> bool:
            tot = self._totals(w[None], a[None])[self._con_rows, 0]
            return bool(np.all(tot <= self._limits * (1 + 1e-12)))

        def toward(choices: np.ndarray, cur: int, target: int) -> int:
            i, j = int(np.searchsorted(choices, cur)), int(np.searchsorted(choices, target))
            return int(choices[i + (1 if j > i else -1)])

        move_a = self.mode != "weights"
        done = ok()
        while not done:
            changed = False
            for layer in reversed(self.free):
                if move_a and a[layer] != self._amin0[layer]:
                    a[layer] = toward(self.ac, int(a[layer]), int(self._amin0[layer]))
                    changed = True
                    if ok():
                        done = True
                        break
                if w[layer] != self._wmin0[layer]:
                    w[layer] = toward(self.wc, int(w[layer]), int(self._wmin0[layer]))
                    changed = True
                    if ok():
                        done = True
                        break
            if not changed:
                break
        return w, a

    def _finish(self):
        w, a = self._w, self._a
        if self.persistent_bits:
            self._persist_w, self._persist_a = w.copy(), a.copy()
        if self.constraint == "wall":
            w, a = self.action_wall(w, a)
        policy = Policy(tuple(w.tolist()), tuple(a.tolist()))
        costs = self.problem.cost(policy)
        feasible = self.problem.is_feasible(costs)
        viol = max((costs[c.cost] / c.limit for c in self.constraints), default=1.0) - 1.0
        if self.constraint == "penalty" and not feasible:
            return self._obs(), float(-self.penalty * (1.0 + viol)), True, False, \
                self._terminal_info(policy, None, False, costs, feasible)
        ev = self._evaluate(policy)
        if ev is None:
            return self._obs(), 0.0, True, False, self._terminal_info(policy, None, True, costs, feasible)
        if self.reward_type == "releq":
            reward = self._releq_reward(ev.accuracy, w, a)
        else:
            reward = self._haq_reward(ev.accuracy)
            if self.reward_type == "lagrangian":
                reward -= self._mu * viol
                self._mu = max(0.0, self._mu + self.lagrange_lr * viol)
        return self._obs(), float(reward), True, False, self._terminal_info(policy, ev, False, costs, feasible)

    def terminal_policy(self, action: Any) -> Policy | None:
        """The policy ``step(action)`` would evaluate, or None if that step does not end the episode
        with an evaluation. Changes no state: `envs.vec.BatchedEvalVecEnv` uses it to evaluate the
        policies of every episode ending in one vectorised step as one batch."""
        if self._d != self.n_steps - 1:
            return None
        layer, slot = self.decisions[self._d]
        wi, ai = self._map_action(action, layer, slot)
        if self.constraint == "mask":
            wi, ai = self._enforce_mask(layer, slot, wi, ai)
        w, a = self._w.copy(), self._a.copy()
        if slot != 1:
            w[layer] = int(self.wc[wi])
        if slot != 0:
            a[layer] = int(self.ac[ai])
        if self.constraint == "wall":
            w, a = self.action_wall(w, a)
        policy = Policy(tuple(w.tolist()), tuple(a.tolist()))
        if self.constraint == "penalty" and not self.problem.is_feasible(self.problem.cost(policy)):
            return None
        return policy

    def _evaluate(self, policy: Policy):
        """``problem.evaluate`` with counting; None when the budget is used up."""
        try:
            if self.acc_ref is None:
                self.acc_ref = float(self.problem.evaluate(self.space.max_policy()).accuracy)
                if not self.acc_ref > 0:
                    self.acc_ref = 1.0
            ev = self.problem.evaluate(policy)
        except BudgetExhausted:
            return None
        prefetched = policy.key() in self._prefetched  # evaluated for this episode by a batched VecEnv
        self._prefetched.discard(policy.key())
        self.evaluations_used += prefetched or not ev.repeat
        self.cache_hits += bool(ev.cache_hit)
        self.repeats += not prefetched and bool(ev.repeat)
        self._last_acc = float(ev.accuracy)
        self._last_ev = ev
        return ev

    def _haq_reward(self, acc: float) -> float:
        return self.haq_lambda * self.acc_scale * (acc - self.acc_ref)

    def _releq_reward(self, acc: float, w: np.ndarray, a: np.ndarray) -> float:
        y = acc / self.acc_ref
        if y < self.releq_m:
            return -1.0
        x = max(self._quant_state(w, a) - self.b_min_q / self.b_max, 0.0)
        return 2.0 * (1.0 - x ** self.releq_a) * y ** (self.releq_b / y) - 1.0

    def _quant_state(self, w: np.ndarray, a: np.ndarray) -> float:
        s = float(w[self.free].sum()) + (float(a[self.free].sum()) if self.mode != "weights" else 0.0)
        return s / (self._n_slots * self.b_max)

    def _terminal_info(self, policy: Policy, ev: Any, exhausted: bool, costs: dict | None = None,
                       feasible: bool | None = None) -> dict[str, Any]:
        if costs is None:
            costs = self.problem.cost(policy)
            feasible = self.problem.is_feasible(costs)
        return {
            "proposed_w_bits": tuple(self._proposed_w.tolist()),
            "proposed_a_bits": tuple(self._proposed_a.tolist()),
            "w_bits": policy.w_bits, "a_bits": policy.a_bits, "policy": policy,
            "costs": costs, "feasible": feasible,
            "accuracy": None if ev is None else float(ev.accuracy),
            "repeat": None if ev is None else bool(ev.repeat),
            "evaluations_used": self.evaluations_used, "cache_hits": self.cache_hits, "repeats": self.repeats,
            "budget_exhausted": exhausted, "lagrange_mu": self._mu,
        }

    # ------------------------------------------------------------------ observation
    def _obs(self) -> np.ndarray:
        d = self._d
        obs = self._obs_buf.copy()
        obs[: self._n_static] = self._static[d]
        if d < self.n_steps:
            layer, slot = self.decisions[d]
            slot_bits = int(self._a[layer] if slot == 1 else self._w[layer])
        else:
            slot_bits = self._prev_bits
        if self._ref_row is None:
            so_far = rest = 0.0
        elif self._fast:  # per-layer costs kept up to date by `step`
            per = self._per
            done = self._done_list[d]
            so_far = self._fixed_ref + sum(per[i] for i in done)
            rest = sum(per) - so_far + self._fixed_ref
        else:
            per = self._ref_per_layer(self._wmin, self._amin)
            mask = self._done_before[d]
            so_far = float(per[mask].sum()) + float(self._fixed[self._ref_row])
            rest = float(per[~mask].sum())
        inv = 1.0 / self.ref_limit
        obs[self._n_static:] = (
            self._prev_bits / self.b_max,
            (self._bits_sum / self._n_decided / self.b_max) if self._n_decided else 0.0,
            slot_bits / self.b_max,
            min(max(so_far * inv, 0.0), _COST_CLIP),
            min(max(rest * inv, 0.0), _COST_CLIP),
            self._qsum / (self._n_slots * self.b_max),
            min(max(self._last_acc / self.acc_ref, 0.0), _ACC_CLIP) if self.acc_ref else 0.0,
            d / self.n_steps,
        )
        return obs
