"""The MiCo searcher: a surrogate model plus near-constraint sampling.

MiCo: End-to-End Mixed Precision Neural Network Co-Exploration Framework for Edge AI,
Jiang & Lyu, arXiv 2508.09500 (https://arxiv.org/abs/2508.09500).

Pseudocode::

    evaluate an initial design: best feasible uniform policies, all-max with a few layers lowered (repaired)
    repeat until the budget is used:
        roi <- roi_start + (roi_end - roi_start) * progress
        candidates <- genetic sampler over the encoded space, ~1000 policies in [C - roi * C_max, C] for every budget C
        fit an additive noise model, then a random forest on its residual with features [W, A, W*m, A*m]
        (m = MAC share); score = additive + forest mean + beta * std over trees
        evaluate the `batch` best-scored, mutually different candidates not yet evaluated

Deviations from the paper/reference code:

- Constraint costs are computed vectorised through `Problem.cost_totals` once per generation of
  the sampler (the reference re-evaluated the cost model per candidate, 10^4-10^5 times per
  iteration).
- Several constraints at once: a candidate must satisfy every budget and lie in the band of at
  least one of them (the binding one). Without a constraint the sampler samples broadly (uniform
  policies plus mutations of the best evaluated ones).
- Tight budgets never crash: infeasible offspring are *repaired* (bits of the layers whose
  lowering saves most cost are lowered until feasible); if no candidate lands in the band, the
  feasible set found is used; the all-min policy is always feasible (`Problem` checks that).
- The initial design adapts to the constraint: the most expensive feasible uniform policies
  instead of all-max / all-min, which are useless when infeasible or far below the budget.
- Batch proposals (``batch`` > 1) are kept diverse by a minimum Hamming distance between picks.
- The surrogate is pluggable (``"rf"`` random forest, ``"et"`` extra trees, ``"gp"`` Gaussian
  process); the exploration weight beta decays linearly with the used budget.
- Additive prior (``prior="additive"``, the default; ``"none"`` is the paper's surrogate): the
  accuracy is first fitted as ``c - sum_l s_l noise_l(W_l, A_l)`` with non-negative per-layer
  sensitivities on noise features ``2^-b`` and ``4^-b`` (ridge-regularised NNLS, the HAWQ-style
  assumption that layer errors add up), and the forest models what that misses. Forests alone
  fit sums of many per-layer effects poorly from a few dozen points.
- Prior optimum: each iteration the additive prior's best unevaluated policy under the budgets,
  found exactly by a binary program (`mico.encoding.Encoding.solve_per_layer`, the one HAWQ
  uses), joins the candidates; the sampler alone can miss it in a large space. LeNet-5 / PTQ /
  BOPs <= 0.25 x W8A8, 20 evaluations, 6 seeds: best feasible 0.98937 vs 0.98912 without it.
- Local exploitation: one-level swaps (raise one gene, lower another) and single moves around
  the three best feasible policies join the candidates (when they lie in the band) and one-gene
  neighbours of the best seed the sampler; at the budget the best policies differ by such
  swaps, which crossover and mutation reach only by chance.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mico.problem import Evaluation, Problem
from mico.search import AskTell
from mico.space import Policy

log = logging.getLogger(__name__)

SURROGATES = ("rf", "et", "gp")
PRIORS = ("additive", "none")


@dataclass
class MiCoSearch(AskTell):
    """Surrogate-guided search over policies sampled just under the budget(s)."""

    batch: int = 1  # policies per ask (mutually diverse)
    n_init: int = 8  # initial design size (capped at a quarter of the budget)
    n_candidates: int = 1000  # near-constraint candidates scored per iteration
    population: int = 200  # sampler population
    generations: int = 8  # sampler generations per iteration (stops early at n_candidates)
    roi_start: float = 0.1  # band width (fraction of C_max) at the start ...
    roi_end: float = 0.3  # ... and at the end of the budget
    p_crossover: float = 0.25  # uniform crossover, per gene
    p_mutation: float = 0.1  # mutation, per gene
    p_first_last: float = 0.5  # probability to force the first and last free layer to max bits
    surrogate: str = "rf"  # rf | et | gp
    prior: str = "additive"  # additive: per-layer quantization-noise model, the forest fits its residual; none
    n_trees: int = 100
    prior_optima: int = 1  # MILP optima of the additive prior added to the candidates per iteration (0 = none)
    beta: float = 1.0  # UCB exploration weight at the start (decays to beta/10)
    name: str = "mico"

    def __post_init__(self) -> None:
        for f in ("batch", "n_init", "n_candidates", "population", "generations", "n_trees"):
            if getattr(self, f) <= 0:
                raise ValueError(f"MiCoSearch.{f} must be positive, got {getattr(self, f)}")
        if self.prior_optima < 0:
            raise ValueError(f"MiCoSearch.prior_optima must be >= 0, got {self.prior_optima}")
        if not 0 < self.roi_start <= self.roi_end <= 1:
            raise ValueError(f"0 < roi_start <= roi_end <= 1 must hold, got {self.roi_start} and {self.roi_end}")
        if self.prior not in PRIORS:
            raise ValueError(f"MiCoSearch.prior must be one of {PRIORS}, got {self.prior!r}")
        if self.surrogate not in SURROGATES:
            raise ValueError(f"surrogate must be one of {SURROGATES}, got {self.surrogate!r}")

    # ------------------------------------------------------------------ setup
    def setup(self, problem: Problem, rng: np.random.Generator) -> None:
        space = problem.space
        self._free = np.array(space.free_layers, dtype=np.int64)
        self._nf = len(self._free)
        self._wch = np.array(space.w_choices)
        self._ach = np.array(space.a_choices)
        self._levels = np.array([len(self._wch)] * self._nf + [len(self._ach)] * self._nf)
        self._dim = 2 * self._nf
        base = space.max_policy()
        self._w_full = np.array(base.w_bits)
        self._a_full = np.array(base.a_bits)
        macs = np.array([space.layers[i].macs for i in self._free], dtype=np.float64)
        self._mac_share = macs / max(macs.sum(), 1.0)
        self._cons = list(problem.constraints)
        self._limits = np.array([c.limit for c in self._cons])
        self._build_cost_table()
        top = self._costs(self._max_row()[None, :])[0]
        self._cmax = np.maximum(top, self._limits) if self._cons else top
        # cost saved by lowering each gene one level from the all-max policy (repair heuristic)
        lowered = np.repeat(self._max_row()[None, :], self._dim, axis=0)
        lowered[np.arange(self._dim), np.arange(self._dim)] -= 1
        lowered = np.maximum(lowered, 0)
        saving = (top[None, :] - self._costs(lowered)) / np.maximum(self._cmax, 1e-30)
        self._saving = np.maximum(saving.sum(axis=1) if self._cons else np.ones(self._dim), 1e-9)
        self._X: list[np.ndarray] = []  # evaluated encodings
        self._y: list[float] = []
        self._feas: list[bool] = []
        self._seen: set[bytes] = set()
        self._init = self._initial_design()
        self._enc = None  # built on first use by `_prior_optimum`

    # ------------------------------------------------------------------ encoding helpers
    def _max_row(self) -> np.ndarray:
        return self._levels - 1

    def _bits(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w = np.repeat(self._w_full[None, :], len(X), axis=0)
        a = np.repeat(self._a_full[None, :], len(X), axis=0)
        w[:, self._free] = self._wch[X[:, : self._nf]]
        a[:, self._free] = self._ach[X[:, self._nf :]]
        return w, a

    def _policies(self, X: np.ndarray) -> list[Policy]:
        w, a = self._bits(X)
        return [Policy(tuple(wr), tuple(ar)) for wr, ar in zip(w.tolist(), a.tolist())]

    def _exact_costs(self, X: np.ndarray) -> np.ndarray:
        """(n, K) constraint costs, one vectorised `Problem.cost_totals` call."""
        if not self._cons or not len(X):
            return np.zeros((len(X), len(self._cons)))
        totals = self.problem.cost_totals(self._policies(X))
        return np.stack([totals[c.cost] for c in self._cons], axis=1)

    def _costs(self, X: np.ndarray) -> np.ndarray:
        """(n, K) constraint costs: the per-layer table when the costs proved additive, else exact."""
        if self._table is None or not len(X):
            return self._exact_costs(X)
        wi, ai = X[:, : self._nf], X[:, self._nf :]
        layer = np.arange(self._nf)[None, :]
        return self._table_base + self._table[layer, wi, ai].sum(axis=1)

    def _build_cost_table(self) -> None:
        """Probe each free layer at each (w, a) from all-max; keep the table if it reproduces random policies.

        Costs that add up over layers (BOPs, size, per-layer lookup tables) are then priced by
        numpy indexing, exactly; anything else (e.g. shared activation groups) falls back to
        `Problem.cost_totals` on every candidate.
        """
        self._table = None
        nw, na = len(self._wch), len(self._ach)
        if not self._cons or self._nf * nw * na > 20000:
            return
        top = self._max_row()
        probes = np.repeat(top[None, :], self._nf * nw * na, axis=0)
        idx = np.arange(len(probes))
        lay, rest = np.divmod(idx, nw * na)
        wi, ai = np.divmod(rest, na)
        probes[idx, lay] = wi
        probes[idx, self._nf + lay] = ai
        base = self._exact_costs(top[None, :])[0]
        table = (self._exact_costs(probes) - base).reshape(self._nf, nw, na, -1)
        check = (self.rng.random((32, self._dim)) * self._levels).astype(np.int64)
        exact = self._exact_costs(check)
        self._table, self._table_base = table, base
        approx = self._costs(check)
        if not np.allclose(approx, exact, rtol=1e-9, atol=1e-9 * np.abs(base).max()):
            log.info("%s: the constraint costs are not additive over layers; pricing candidates exactly", self.name)
            self._table = None

    def _feasible(self, C: np.ndarray) -> np.ndarray:
        return np.all(C <= self._limits * (1 + 1e-12), axis=1)

    def _band_distance(self, C: np.ndarray, roi: float) -> np.ndarray:
        """0 inside the band of some budget, >0 below it, >= 1e6 over a budget."""
        if not self._cons:
            return np.zeros(len(C))
        over = np.maximum(C - self._limits, 0) / self._cmax
        lo = self._limits - roi * self._cmax
        below = np.maximum(lo - C, 0) / self._cmax
        d = below.min(axis=1)
        bad = ~self._feasible(C)
        d[bad] = 1e6 + over[bad].sum(axis=1)
        return d

    def _features(self, X: np.ndarray) -> np.ndarray:
        w = self._wch[X[:, : self._nf]] / self._wch.max()
        a = self._ach[X[:, self._nf :]] / self._ach.max()
        return np.hstack([w, a, w * self._mac_share, a * self._mac_share])

    # ------------------------------------------------------------------ repair
    def _repair(self, X: np.ndarray) -> np.ndarray:
        """Lower genes (most cost-saving first, randomised) until every row is feasible."""
        X = X.copy()
        if not self._cons:
            return X
        for _ in range(int(self._levels.sum())):
            C = self._costs(X)
            bad = np.flatnonzero(~self._feasible(C))
            if not len(bad):
                break
            excess = (np.maximum(C[bad] - self._limits, 0) / self._cmax).sum(axis=1)
            movable = X[bad] > 0
            logw = np.where(movable, np.log(self._saving)[None, :], -np.inf)
            gumbel = -np.log(-np.log(self.rng.uniform(1e-12, 1.0, size=logw.shape)))
            rank = np.argsort(np.argsort(-(logw + gumbel), axis=1), axis=1)
            n_lower = np.clip(1 + np.floor(4 * excess / max(self._saving.max(), 1e-9)), 1, max(1, self._dim // 4))
            lower = movable & (rank < n_lower[:, None])
            X[bad] -= lower.astype(np.int64)
        return X

    # ------------------------------------------------------------------ initial design
    def _uniform_rows(self) -> np.ndarray:
        rows = []
        for wi in range(len(self._wch)):
            for ai in range(len(self._ach)):
                rows.append([wi] * self._nf + [ai] * self._nf)
        return np.array(rows, dtype=np.int64)

    def _initial_design(self) -> list[np.ndarray]:
        n_init = max(1, min(self.n_init, self.problem.budget // 4))
        U = self._uniform_rows()
        C = self._costs(U)
        feas = self._feasible(C)
        # most expensive feasible uniform policies first (normalised cost sum); all-max if unconstrained
        score = (C / self._cmax).sum(axis=1) if self._cons else U.sum(axis=1).astype(float)
        order = [i for i in np.argsort(-score, kind="stable") if feas[i]]
        picks: list[np.ndarray] = [U[i] for i in order[: max(1, n_init // 3)]]
        if not self._cons:
            picks.append(np.zeros(self._dim, dtype=np.int64))  # all-min: the other end of the range
        # all-max with a few genes lowered, repaired into the feasible set
        tries = 0
        while len(picks) < n_init and tries < 50 * n_init:
            tries += 1
            x = self._max_row().copy()
            k = self.rng.integers(1, max(2, self._dim // 4) + 1)
            genes = self.rng.choice(self._dim, size=min(k, self._dim), replace=False)
            x[genes] = (self.rng.random(len(genes)) * x[genes]).astype(np.int64)  # a lower level
            x = self._repair(x[None, :])[0]
            if not any(np.array_equal(x, p) for p in picks):
                picks.append(x)
        return picks

    # ------------------------------------------------------------------ near-constraint sampler
    def _offspring(self, P: np.ndarray, n: int) -> np.ndarray:
        i = self.rng.integers(0, len(P), size=n)
        j = self.rng.integers(0, len(P), size=n)
        swap = self.rng.random((n, self._dim)) < self.p_crossover
        kids = np.where(swap, P[j], P[i])
        mut = self.rng.random((n, self._dim)) < self.p_mutation
        new = (self.rng.random((n, self._dim)) * self._levels).astype(np.int64)
        kids = np.where(mut, new, kids)
        if self._nf >= 2 and self.p_first_last > 0:
            force = self.rng.random(n) < self.p_first_last
            top = self._max_row()
            for g in (0, self._nf - 1, self._nf, 2 * self._nf - 1):
                kids[force, g] = top[g]
        return kids

    def _seed_population(self) -> np.ndarray:
        rows = [self._uniform_rows()]
        if self._X:
            X = np.array(self._X)
            y = np.array(self._y) - 10.0 * ~np.array(self._feas)
            top = X[np.argsort(-y, kind="stable")[: max(1, len(X) // 4)]]
            rows.append(top)
            best = top[0]
            nb = np.repeat(best[None, :], self._dim, axis=0)  # one-gene neighbours of the best
            step = np.where(self.rng.random(self._dim) < 0.5, -1, 1)
            nb[np.arange(self._dim), np.arange(self._dim)] += step
            rows.append(np.clip(nb, 0, self._levels - 1))
        n_rand = max(0, self.population - sum(len(r) for r in rows))
        rows.append((self.rng.random((n_rand, self._dim)) * self._levels).astype(np.int64))
        return np.vstack(rows)

    def _candidates(self, roi: float) -> np.ndarray:
        """Unevaluated candidates in the band (or the nearest feasible ones found).

        Two sampler runs share the work: one seeded with the best evaluated and the uniform
        policies (exploitation), one seeded with random policies (exploration: without it the
        candidates collapse onto the incumbent's region and a costly, sensitive layer that the
        incumbents keep low is never raised again).
        """
        archive: dict[bytes, np.ndarray] = {}
        feasible_pool: dict[bytes, tuple[float, np.ndarray]] = {}

        def absorb(X: np.ndarray, d: np.ndarray) -> None:
            for x, di in zip(X, d):
                k = x.tobytes()
                if k in self._seen:
                    continue
                if di == 0:
                    archive[k] = x
                elif di < 1e6:
                    feasible_pool[k] = (float(di), x)

        half = max(1, self.n_candidates // 2)
        randoms = (self.rng.random((self.population, self._dim)) * self._levels).astype(np.int64)
        for P in (self._seed_population(), randoms):
            goal = len(archive) + half
            dP = self._band_distance(self._costs(P), roi)
            absorb(P, dP)
            for _ in range(self.generations):
                if len(archive) >= goal:
                    break
                kids = self._offspring(P, max(self.population, half))
                dk = self._band_distance(self._costs(kids), roi)
                bad = dk >= 1e6
                if bad.any():  # repair the infeasible children (tight budgets need it)
                    fixed = self._repair(kids[bad])
                    kids = np.vstack([kids[~bad], fixed])
                    dk = np.concatenate([dk[~bad], self._band_distance(self._costs(fixed), roi)])
                absorb(kids, dk)
                allP, alld = np.vstack([P, kids]), np.concatenate([dP, dk])
                _, uniq = np.unique(allP, axis=0, return_index=True)
                uniq = uniq[np.argsort(alld[uniq] + 1e-3 * self.rng.random(len(uniq)), kind="stable")]
                keep = uniq[: self.population]
                P, dP = allP[keep], alld[keep]
        for X in self._local_moves():  # swaps around the incumbents: the moves that matter at the budget
            absorb(X, self._band_distance(self._costs(X), roi))
        if archive:
            return np.array(list(archive.values()))
        if feasible_pool:  # nothing in the band: the nearest feasible candidates found
            ranked = sorted(feasible_pool.values(), key=lambda t: t[0])
            return np.array([x for _, x in ranked[: self.n_candidates]])
        return np.zeros((0, self._dim), dtype=np.int64)

    def _local_moves(self, n_best: int = 3) -> list[np.ndarray]:
        """One-level swaps (raise one gene, lower another) and single moves of the best feasible policies."""
        if not self._X:
            return []
        X, y = np.array(self._X), np.array(self._y)
        feas = np.array(self._feas)
        if not feas.any():
            return []
        out = []
        d = self._dim
        up, down = np.meshgrid(np.arange(d), np.arange(d), indexing="ij")
        up, down = up[up != down], down[up != down]
        for i in np.flatnonzero(feas)[np.argsort(-y[feas], kind="stable")][:n_best]:
            nb = np.repeat(X[i][None, :], len(up) + 2 * d, axis=0)
            nb[np.arange(len(up)), up] += 1
            nb[np.arange(len(up)), down] -= 1
            k = len(up)
            nb[k + np.arange(d), np.arange(d)] += 1
            nb[k + d + np.arange(d), np.arange(d)] -= 1
            ok = np.all((nb >= 0) & (nb < self._levels), axis=1)
            out.append(nb[ok])
        return out

    def _broad_candidates(self) -> np.ndarray:
        """Without a constraint: uniform samples plus mutations of the best evaluated policies."""
        P = self._seed_population()
        kids = self._offspring(P, self.n_candidates)
        X = np.vstack([P, kids])
        X = np.unique(X, axis=0)
        return np.array([x for x in X if x.tobytes() not in self._seen]).reshape(-1, self._dim)

    # ------------------------------------------------------------------ surrogate
    def _noise(self, X: np.ndarray) -> np.ndarray:
        """Per-layer quantization-noise features ``2^-b`` and ``4^-b`` of W and A, scaled to 1 at the lowest bits."""
        w = self._wch[X[:, : self._nf]].astype(np.float64)
        a = self._ach[X[:, self._nf :]].astype(np.float64)
        lw, la = self._wch.min(), self._ach.min()
        return np.hstack([2.0 ** (lw - w), 4.0 ** (lw - w), 2.0 ** (la - a), 4.0 ** (la - a)])

    def _additive_fit(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``acc ~ c - sum_l s_l noise_l`` with ``s >= 0`` (ridge-regularised NNLS); returns the coefficients."""
        from scipy.optimize import nnls

        Z = self._noise(X)
        lam = 1e-3 * max(1.0, float(np.var(y)) * len(y))
        A = np.hstack([-Z, np.ones((len(y), 1)), -np.ones((len(y), 1))])
        reg = np.hstack([np.sqrt(lam) * np.eye(Z.shape[1]), np.zeros((Z.shape[1], 2))])
        coef, _ = nnls(np.vstack([A, reg]), np.concatenate([y, np.zeros(Z.shape[1])]), maxiter=50 * A.shape[1])
        return coef

    def _additive_predict(self, coef: np.ndarray, X: np.ndarray) -> np.ndarray:
        Z = self._noise(X)
        return -Z @ coef[:-2] + coef[-2] - coef[-1]

    def _prior_optima(self, n: int) -> list[np.ndarray]:
        """The additive prior's ``n`` best unevaluated policies under the budgets, by MILP (additive costs only).

        The sampler explores the band just under the budget; this adds the prior's exact optima
        (the policies HAWQ's integer program would pick from the same data, next-best ones by
        no-good cuts) as candidates, scored like every other one.
        """
        if self.prior != "additive" or not self._cons or self._table is None or len(self._X) < 2:
            return []
        if self._enc is None:
            from mico.encoding import Encoding

            self._enc = Encoding(self.problem)
            self._layer_cost = self._enc.layer_costs()
        coef = self._additive_fit(np.array(self._X), np.array(self._y))
        nw, na, nf = len(self._wch), len(self._ach), self._nf
        wi, ai = np.meshgrid(np.arange(nw), np.arange(na), indexing="ij")
        pairs = np.hstack([wi.reshape(-1, 1).repeat(nf, 1), ai.reshape(-1, 1).repeat(nf, 1)]).astype(np.int64)
        drop = (self._noise(pairs) * coef[: 4 * nf]).reshape(len(pairs), 4, nf).sum(axis=1)  # (nw*na, nf)
        seen = [np.frombuffer(k, dtype=np.int64) for k in self._seen]
        found: list[np.ndarray] = []
        for _ in range(n):
            x = self._enc.solve_per_layer(drop.T, *self._layer_cost, exclude=seen + found, time_limit_s=2.0)
            if x is None:
                break
            found.append(x)
        return found

    def _fit_predict(self, Xc: np.ndarray) -> np.ndarray:
        Xe = np.array(self._X)
        X = self._features(Xe)
        y = np.array(self._y)
        F = self._features(Xc)
        base_c = np.zeros(len(Xc))
        if self.prior == "additive":
            coef = self._additive_fit(Xe, y)
            y = y - self._additive_predict(coef, Xe)
            base_c = self._additive_predict(coef, Xc)
        seed = int(self.rng.integers(2**31 - 1))
        if self.surrogate == "gp":
            from sklearn.gaussian_process import GaussianProcessRegressor
            from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

            kernel = ConstantKernel(1.0) * Matern(length_scale=1.0, nu=2.5) + WhiteKernel(1e-3)
            gp = GaussianProcessRegressor(kernel, normalize_y=True, random_state=seed, n_restarts_optimizer=0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # hyper-parameter bounds hit on tiny data sets
                gp.fit(X, y)
            mean, std = gp.predict(F, return_std=True)
        else:
            from sklearn.ensemble import ExtraTreesRegressor, RandomForestRegressor

            cls = RandomForestRegressor if self.surrogate == "rf" else ExtraTreesRegressor
            model = cls(n_estimators=self.n_trees, max_features=0.5, min_samples_leaf=1, random_state=seed, n_jobs=1)
            model.fit(X, y)
            F32 = np.ascontiguousarray(F, dtype=np.float32)
            per_tree = np.stack([t.predict(F32, check_input=False) for t in model.estimators_])
            mean, std = per_tree.mean(axis=0), per_tree.std(axis=0)
        progress = self.problem.used / self.problem.budget
        beta = self.beta * max(0.1, 1.0 - progress)
        return base_c + mean + beta * std

    def _pick(self, Xc: np.ndarray, score: np.ndarray, k: int) -> list[np.ndarray]:
        """Best-scored first; later picks keep a Hamming distance >= max(1, dim // 10) from earlier ones."""
        order = np.argsort(-score, kind="stable")
        min_dist = max(1, self._dim // 10)
        chosen: list[np.ndarray] = []
        for dist in (min_dist, 1):
            for i in order:
                if len(chosen) >= k:
                    return chosen
                if all(np.count_nonzero(Xc[i] != c) >= dist for c in chosen):
                    chosen.append(Xc[i])
        return chosen

    # ------------------------------------------------------------------ ask / tell
    def ask(self) -> list[Policy]:
        k = min(self.batch, self.problem.remaining)
        out: list[np.ndarray] = []
        while self._init and len(out) < k:
            x = self._init.pop(0)
            if x.tobytes() not in self._seen:
                out.append(x)
        if len(out) < k:
            if len(self._X) < 2:
                Xc = self._broad_candidates() if not self._cons else self._candidates(self.roi_end)
                Xc = self._repair(Xc) if len(Xc) else Xc
                picks = list(Xc[self.rng.permutation(len(Xc))[: k - len(out)]])
            else:
                progress = self.problem.used / self.problem.budget
                roi = self.roi_start + (self.roi_end - self.roi_start) * progress
                Xc = self._candidates(roi) if self._cons else self._broad_candidates()
                Xc = np.array([x for x in Xc if not any(np.array_equal(x, o) for o in out)]).reshape(-1, self._dim)
                opt = [x for x in self._prior_optima(self.prior_optima) if not any(np.array_equal(x, o) for o in out)]
                if opt:
                    Xc = np.vstack([Xc, np.array(opt)])
                picks = self._pick(Xc, self._fit_predict(Xc), k - len(out)) if len(Xc) else []
            out.extend(picks)
        if out and self._cons:  # the picks are priced exactly once more (the table is a shortcut)
            ok = self._feasible(self._exact_costs(np.array(out)))
            out = [x for x, good in zip(out, ok) if good]
        if not out:
            return self._fallback(k)
        for x in out:
            self._seen.add(x.tobytes())
        return self._policies(np.array(out))

    def _fallback(self, k: int) -> list[Policy]:
        """Random unevaluated feasible policies; [] when none is found (the space is used up)."""
        X = self._repair((self.rng.random((50 * k, self._dim)) * self._levels).astype(np.int64))
        out = []
        for x in X:
            if x.tobytes() not in self._seen:
                self._seen.add(x.tobytes())
                out.append(x)
            if len(out) >= k:
                break
        return self._policies(np.array(out)) if out else []

    def tell(self, evaluations: Sequence[Evaluation]) -> None:
        space = self.problem.space
        for ev in evaluations:
            if ev.repeat:
                continue
            x = space.encode(ev.policy)
            self._seen.add(x.tobytes())
            self._X.append(x)
            self._y.append(ev.accuracy)
            self._feas.append(ev.feasible)
