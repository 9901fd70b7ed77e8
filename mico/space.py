"""Search space vocabulary: `LayerSpec`, `Policy`, `SearchSpace` (numpy only, no torch).

A *layer* is a quantizable op (Conv1d, Conv2d incl. depthwise / grouped, Linear) in execution
order. A *policy* gives every layer a weight bitwidth ``w_bits[l]`` and an input-activation
bitwidth ``a_bits[l]``. The space knows which bits are allowed, which layers are pinned, and how
to sample, encode and decode policies.

Several layers may read the same activation tensor (a residual block's first conv and its 1x1
shortcut). Such layers form an *activation group*: the tensor is stored once, at the largest
``a_bits`` of the group. ``SearchSpace.effective(policy)`` applies that rule; the integer
reference, the cost models and deploy all use the effective policy.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

ALL_BITS = (1, 2, 3, 4, 5, 6, 7, 8)
DEFAULT_BITS = (2, 4, 8)
LAYER_KINDS = ("conv1d", "conv2d", "linear")


@dataclass(frozen=True)
class LayerSpec:
    """Static description of one quantizable layer (shapes exclude the batch dimension)."""

    name: str
    kind: str
    in_channels: int
    out_channels: int
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    groups: int
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    params: int
    macs: int

    def __post_init__(self) -> None:
        if self.kind not in LAYER_KINDS:
            raise ValueError(f"LayerSpec.kind must be one of {LAYER_KINDS}, got {self.kind!r}")
        if self.groups < 1 or self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(
                f"layer {self.name}: groups={self.groups} must divide in_channels={self.in_channels} "
                f"and out_channels={self.out_channels}"
            )

    @property
    def depthwise(self) -> bool:
        return self.groups > 1 and self.groups == self.in_channels == self.out_channels

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LayerSpec:
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items()})


@dataclass(frozen=True)
class Policy:
    """Per-layer weight and input-activation bitwidths."""

    w_bits: tuple[int, ...]
    a_bits: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "w_bits", tuple(int(b) for b in self.w_bits))
        object.__setattr__(self, "a_bits", tuple(int(b) for b in self.a_bits))
        if len(self.w_bits) != len(self.a_bits):
            raise ValueError(
                f"a policy needs as many w_bits as a_bits, got {len(self.w_bits)} and {len(self.a_bits)}"
            )

    def __len__(self) -> int:
        return len(self.w_bits)

    @classmethod
    def uniform(cls, n_layers: int, w: int, a: int | None = None) -> Policy:
        return cls((w,) * n_layers, ((w if a is None else a),) * n_layers)

    @property
    def min_bits(self) -> int:
        return min(min(self.w_bits), min(self.a_bits))

    def key(self) -> str:
        """Canonical short string, e.g. ``w8.4.2|a8.8.4``: the identity of a policy."""
        return "w" + ".".join(map(str, self.w_bits)) + "|a" + ".".join(map(str, self.a_bits))

    def to_dict(self) -> dict[str, list[int]]:
        return {"w_bits": list(self.w_bits), "a_bits": list(self.a_bits)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Policy:
        try:
            return cls(tuple(d["w_bits"]), tuple(d["a_bits"]))
        except KeyError as e:
            raise ValueError(f"a policy needs keys 'w_bits' and 'a_bits', found {sorted(d)}") from e


@dataclass(frozen=True)
class SearchSpace:
    """Layers, allowed bits, pinned layers and activation groups of one model.

    ``pinned`` maps a layer index to a fixed ``(w_bits, a_bits)``. ``a_groups`` lists groups of
    layer indices that read the same activation tensor (see module docstring).
    """

    layers: tuple[LayerSpec, ...]
    w_choices: tuple[int, ...] = DEFAULT_BITS
    a_choices: tuple[int, ...] = DEFAULT_BITS
    pinned: tuple[tuple[int, int, int], ...] = ()
    a_groups: tuple[tuple[int, ...], ...] = ()
    model_name: str = ""
    _pin_map: dict[int, tuple[int, int]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        for name in ("w_choices", "a_choices"):
            bits = tuple(sorted(set(int(b) for b in getattr(self, name))))
            if not bits or any(b not in ALL_BITS for b in bits):
                raise ValueError(f"{name} must be a non-empty subset of {ALL_BITS}, got {bits}")
            object.__setattr__(self, name, bits)
        if not self.layers:
            raise ValueError("a search space needs at least one quantizable layer, found none")
        pin_map: dict[int, tuple[int, int]] = {}
        for entry in self.pinned:
            idx, w, a = (int(v) for v in entry)
            if not 0 <= idx < len(self.layers):
                raise ValueError(f"pinned layer index {idx} outside 0..{len(self.layers) - 1}")
            pin_map[idx] = (w, a)
        object.__setattr__(self, "pinned", tuple(sorted((i, w, a) for i, (w, a) in pin_map.items())))
        object.__setattr__(self, "_pin_map", pin_map)
        object.__setattr__(self, "a_groups", tuple(tuple(sorted(g)) for g in self.a_groups if len(g) > 1))

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_model(cls, model: Any, example_input: Any, **kwargs: Any) -> SearchSpace:
        """Trace ``model`` (a torch module) on ``example_input``; see `mico.trace`."""
        from mico.trace import trace_space

        return trace_space(model, example_input, **kwargs)

    def with_bits(
        self,
        w_choices: Iterable[int] | None = None,
        a_choices: Iterable[int] | None = None,
        pin_first_last: int | None = None,
    ) -> SearchSpace:
        """A copy with other allowed bits; ``pin_first_last=8`` pins the first and last layer to 8/8."""
        pinned = dict(self._pin_map)
        if pin_first_last is not None:
            pinned[0] = (pin_first_last, pin_first_last)
            pinned[len(self.layers) - 1] = (pin_first_last, pin_first_last)
        return SearchSpace(
            self.layers,
            tuple(w_choices) if w_choices is not None else self.w_choices,
            tuple(a_choices) if a_choices is not None else self.a_choices,
            tuple((i, w, a) for i, (w, a) in pinned.items()),
            self.a_groups,
            self.model_name,
        )

    # ------------------------------------------------------------------ basic facts
    @property
    def n_layers(self) -> int:
        return len(self.layers)

    @property
    def n_dims(self) -> int:
        """Number of free decisions (2 per unpinned layer)."""
        return 2 * (self.n_layers - len(self._pin_map))

    @property
    def free_layers(self) -> tuple[int, ...]:
        return tuple(i for i in range(self.n_layers) if i not in self._pin_map)

    def size(self) -> int:
        """Number of distinct policies (as a Python int; may be huge)."""
        return (len(self.w_choices) * len(self.a_choices)) ** len(self.free_layers)

    @property
    def total_macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def fingerprint(self) -> str:
        """Hash of everything that defines the space (layers, bits, pins, groups)."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    # ------------------------------------------------------------------ policies
    def validate(self, policy: Policy) -> Policy:
        """Return ``policy`` if it lies in the space, else raise a ValueError saying why."""
        if len(policy) != self.n_layers:
            raise ValueError(
                f"policy has {len(policy)} layers but the space of {self.model_name or 'this model'} "
                f"has {self.n_layers}; was it made for another model?"
            )
        for i, (w, a) in enumerate(zip(policy.w_bits, policy.a_bits)):
            if i in self._pin_map:
                if (w, a) != self._pin_map[i]:
                    raise ValueError(
                        f"layer {i} ({self.layers[i].name}) is pinned to W{self._pin_map[i][0]}"
                        f"A{self._pin_map[i][1]}, the policy has W{w}A{a}"
                    )
                continue
            if w not in self.w_choices:
                raise ValueError(
                    f"w_bits[{i}] ({self.layers[i].name}) = {w} is not in the allowed set {self.w_choices}"
                )
            if a not in self.a_choices:
                raise ValueError(
                    f"a_bits[{i}] ({self.layers[i].name}) = {a} is not in the allowed set {self.a_choices}"
                )
        return policy

    def contains(self, policy: Policy) -> bool:
        try:
            self.validate(policy)
        except ValueError:
            return False
        return True

    def uniform(self, w: int, a: int | None = None) -> Policy:
        """All free layers at ``w``/``a`` (pinned layers keep their pin)."""
        a = w if a is None else a
        wb = [self._pin_map.get(i, (w, a))[0] for i in range(self.n_layers)]
        ab = [self._pin_map.get(i, (w, a))[1] for i in range(self.n_layers)]
        return Policy(tuple(wb), tuple(ab))

    def max_policy(self) -> Policy:
        return self.uniform(max(self.w_choices), max(self.a_choices))

    def min_policy(self) -> Policy:
        return self.uniform(min(self.w_choices), min(self.a_choices))

    def sample(self, rng: np.random.Generator) -> Policy:
        """A uniformly random policy of the space."""
        n = self.n_layers
        w = rng.choice(np.array(self.w_choices), size=n)
        a = rng.choice(np.array(self.a_choices), size=n)
        for i, (pw, pa) in self._pin_map.items():
            w[i], a[i] = pw, pa
        return Policy(tuple(w.tolist()), tuple(a.tolist()))

    def encode(self, policy: Policy) -> np.ndarray:
        """Policy -> integer vector of choice indices over the free layers ``[w..., a...]``."""
        self.validate(policy)
        free = self.free_layers
        wi = [self.w_choices.index(policy.w_bits[i]) for i in free]
        ai = [self.a_choices.index(policy.a_bits[i]) for i in free]
        return np.array(wi + ai, dtype=np.int64)

    def decode(self, x: Sequence[int] | np.ndarray) -> Policy:
        """Inverse of `encode`; indices are clipped into range so any integer vector decodes."""
        x = np.asarray(x, dtype=np.int64)
        free = self.free_layers
        if x.shape != (2 * len(free),):
            raise ValueError(f"expected an index vector of length {2 * len(free)}, got shape {x.shape}")
        wi = np.clip(x[: len(free)], 0, len(self.w_choices) - 1)
        ai = np.clip(x[len(free) :], 0, len(self.a_choices) - 1)
        w = {i: self.w_choices[j] for i, j in zip(free, wi.tolist())}
        a = {i: self.a_choices[j] for i, j in zip(free, ai.tolist())}
        wb = [self._pin_map[i][0] if i in self._pin_map else w[i] for i in range(self.n_layers)]
        ab = [self._pin_map[i][1] if i in self._pin_map else a[i] for i in range(self.n_layers)]
        return Policy(tuple(wb), tuple(ab))

    def bits_matrix(self, policies: Sequence[Policy]) -> np.ndarray:
        """Shape (n, 2L) float array ``[w_bits..., a_bits...]`` for vectorised cost models."""
        return np.array([list(p.w_bits) + list(p.a_bits) for p in policies], dtype=np.float64)

    def effective(self, policy: Policy) -> Policy:
        """Raise the ``a_bits`` of each activation group to the group's maximum (the stored precision)."""
        if not self.a_groups:
            return policy
        a = list(policy.a_bits)
        for group in self.a_groups:
            top = max(a[i] for i in group)
            for i in group:
                a[i] = top
        return Policy(policy.w_bits, tuple(a))

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "layers": [layer.to_dict() for layer in self.layers],
            "w_choices": list(self.w_choices),
            "a_choices": list(self.a_choices),
            "pinned": [list(p) for p in self.pinned],
            "a_groups": [list(g) for g in self.a_groups],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SearchSpace:
        return cls(
            tuple(LayerSpec.from_dict(x) for x in d["layers"]),
            tuple(d["w_choices"]),
            tuple(d["a_choices"]),
            tuple(tuple(p) for p in d.get("pinned", ())),
            tuple(tuple(g) for g in d.get("a_groups", ())),
            d.get("model_name", ""),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_json(cls, text: str) -> SearchSpace:
        return cls.from_dict(json.loads(text))

    def policy_to_json(self, policy: Policy) -> str:
        """Policy file content: bits plus the space fingerprint (checked by `policy_from_json`)."""
        self.validate(policy)
        return json.dumps({**policy.to_dict(), "space": self.fingerprint, "model": self.model_name})

    def policy_from_json(self, text: str) -> Policy:
        d = json.loads(text)
        fp = d.get("space")
        if fp is not None and fp != self.fingerprint:
            raise ValueError(
                f"policy file was made for space {fp} ({d.get('model', '?')}), this space is "
                f"{self.fingerprint} ({self.model_name}); search again for this model or space"
            )
        return self.validate(Policy.from_dict(d))
