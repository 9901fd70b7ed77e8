"""Trace a PyTorch model into a small float graph and derive its `SearchSpace`.

`trace_graph` runs ``torch.fx.symbolic_trace`` and rewrites the result into `FloatGraph`: a list
of `Node`s in execution order with BatchNorm folded into the preceding conv / linear and ReLU /
ReLU6 fused into the op that produces their input where that is possible. This graph is what the
integer reference (`mico.quant`) quantizes and what `deploy` lowers, so both see the same model.

Supported ops (anything else raises `UnsupportedOpError` naming every offending node):
Conv1d, Conv2d (incl. depthwise / grouped; dilation 1, zero padding), Linear, BatchNorm1d/2d
after a conv or linear, ReLU, ReLU6, MaxPool1d/2d, AvgPool1d/2d, AdaptiveAvgPool1d/2d to 1,
Flatten, Dropout / Identity (removed), and ``+`` of two tensors (residual add).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mico.space import LayerSpec, SearchSpace

LAYER_OPS = ("conv1d", "conv2d", "linear")
# Ops whose output tensor carries its own quantization (scale, bits); the others pass it through.
REQUANT_OPS = ("input", "conv1d", "conv2d", "linear", "add", "avgpool")
TRANSPARENT_OPS = ("maxpool", "flatten", "relu")


class UnsupportedOpError(ValueError):
    """The model contains ops the integer contract cannot express."""


@dataclass
class Node:
    """One op of the float graph. ``inputs`` are names of earlier nodes."""

    name: str
    op: str
    inputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)
    weight: torch.Tensor | None = None  # folded float weight (conv / linear)
    bias: torch.Tensor | None = None  # folded float bias, always present for layers
    act: str | None = None  # fused activation: None, "relu" or "relu6"
    out_shape: tuple[int, ...] = ()
    layer: int | None = None  # index into SearchSpace.layers for quantizable layers


@dataclass
class FloatGraph:
    """BN-folded, activation-fused float graph in execution order."""

    nodes: list[Node]
    output: str
    input_shape: tuple[int, ...]

    def __post_init__(self) -> None:
        self.by_name = {n.name: n for n in self.nodes}

    @property
    def layer_nodes(self) -> list[Node]:
        return [n for n in self.nodes if n.op in LAYER_OPS]

    def users(self, name: str) -> list[Node]:
        return [n for n in self.nodes if name in n.inputs]

    def forward(self, x: torch.Tensor, record: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """Float forward pass (equals the original model in eval mode up to float rounding)."""
        env: dict[str, torch.Tensor] = {}
        for node in self.nodes:
            if node.op == "input":
                y = x
            else:
                y = apply_float_op(node, [env[i] for i in node.inputs])
            env[node.name] = y
            if record is not None:
                record[node.name] = y
        return env[self.output]


def apply_act(y: torch.Tensor, act: str | None) -> torch.Tensor:
    if act == "relu":
        return F.relu(y)
    if act == "relu6":
        return F.relu6(y)
    return y


def apply_float_op(node: Node, xs: list[torch.Tensor], weight: torch.Tensor | None = None) -> torch.Tensor:
    """Float semantics of one node; ``weight`` overrides the node's weight (fake-quant)."""
    a = node.attrs
    w = node.weight if weight is None else weight
    if node.op == "conv2d":
        y = F.conv2d(xs[0], w, node.bias, a["stride"], a["padding"], 1, a["groups"])
    elif node.op == "conv1d":
        y = F.conv1d(xs[0], w, node.bias, a["stride"], a["padding"], 1, a["groups"])
    elif node.op == "linear":
        y = F.linear(xs[0], w, node.bias)
    elif node.op == "add":
        y = xs[0] + xs[1]
    elif node.op == "maxpool":
        fn = F.max_pool2d if a["dims"] == 2 else F.max_pool1d
        y = fn(xs[0], a["kernel"], a["stride"], a["padding"])
    elif node.op == "avgpool":
        if a["kernel"] is None:  # adaptive pooling to 1 before shapes are known
            y = xs[0].mean(dim=tuple(range(2, xs[0].dim())), keepdim=True)
        else:
            fn = F.avg_pool2d if a["dims"] == 2 else F.avg_pool1d
            y = fn(xs[0], a["kernel"], a["stride"], a["padding"])
    elif node.op == "flatten":
        y = torch.flatten(xs[0], 1)
    elif node.op == "relu":
        y = xs[0]
    else:  # pragma: no cover - guarded by trace_graph
        raise UnsupportedOpError(f"unknown op {node.op}")
    return apply_act(y, node.act)


def _pair(v: Any, dims: int) -> tuple[int, ...]:
    return tuple(v) if isinstance(v, (tuple, list)) else (int(v),) * dims


def _fold_bn(node: Node, bn: nn.modules.batchnorm._BatchNorm) -> None:
    scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps) if bn.affine else (
        1.0 / torch.sqrt(bn.running_var + bn.eps)
    )
    shift = (bn.bias.detach() if bn.affine else 0.0) - bn.running_mean * scale
    shape = (-1,) + (1,) * (node.weight.dim() - 1)
    node.weight = node.weight * scale.reshape(shape)
    node.bias = node.bias * scale + shift


def trace_graph(model: nn.Module, example_input: torch.Tensor) -> FloatGraph:
    """Trace ``model`` (eval mode) into a `FloatGraph`; see the module docstring."""
    import torch.fx as fx

    model = model.eval()
    try:
        gm = fx.symbolic_trace(model)
    except Exception as e:  # fx raises many kinds of errors on data-dependent code
        raise UnsupportedOpError(
            f"torch.fx could not trace {type(model).__name__}: {e}. Models must be traceable "
            "(no data-dependent control flow)"
        ) from e
    modules = dict(gm.named_modules())
    nodes: list[Node] = []
    by_name: dict[str, Node] = {}
    alias: dict[str, str] = {}  # removed nodes (dropout, identity, folded BN, fused act) -> their source
    unsupported: list[str] = []
    users_count = {n.name: len(n.users) for n in gm.graph.nodes}

    def src(arg: Any) -> str:
        name = arg.name
        while name in alias:
            name = alias[name]
        return name

    def add(node: Node) -> None:
        nodes.append(node)
        by_name[node.name] = node

    output = None
    for n in gm.graph.nodes:
        if n.op == "placeholder":
            if any(x.op == "input" for x in nodes):
                unsupported.append(f"{n.name} (a second model input)")
            add(Node(n.name, "input", []))
            continue
        if n.op == "output":
            output = src(n.args[0])
            continue
        kind = None
        attrs: dict[str, Any] = {}
        if n.op == "call_module":
            mod = modules[n.target]
            if isinstance(mod, (nn.Conv1d, nn.Conv2d)):
                dims = 2 if isinstance(mod, nn.Conv2d) else 1
                if any(d != 1 for d in _pair(mod.dilation, dims)) or mod.padding_mode != "zeros" or isinstance(
                    mod.padding, str
                ):
                    unsupported.append(f"{n.target} ({type(mod).__name__} with dilation/padding mode)")
                    continue
                kind = f"conv{dims}d"
                attrs = {
                    "stride": _pair(mod.stride, dims),
                    "padding": _pair(mod.padding, dims),
                    "groups": mod.groups,
                    "kernel": _pair(mod.kernel_size, dims),
                    "module": n.target,
                }
                w, b = mod.weight.detach().clone(), mod.bias
            elif isinstance(mod, nn.Linear):
                kind, attrs = "linear", {"module": n.target}
                w, b = mod.weight.detach().clone(), mod.bias
            elif isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
                prev = by_name.get(src(n.args[0]))
                if prev is None or prev.op not in LAYER_OPS or prev.act or users_count[prev.name] != 1:
                    unsupported.append(f"{n.target} (BatchNorm not directly after a conv / linear)")
                    continue
                _fold_bn(prev, mod)
                alias[n.name] = prev.name
                continue
            elif isinstance(mod, (nn.ReLU, nn.ReLU6)):
                kind = "relu6" if isinstance(mod, nn.ReLU6) else "relu"
            elif isinstance(mod, (nn.Dropout, nn.Identity)):
                alias[n.name] = src(n.args[0])
                continue
            elif isinstance(mod, (nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d)):
                dims = 2 if isinstance(mod, (nn.MaxPool2d, nn.AvgPool2d)) else 1
                is_max = isinstance(mod, (nn.MaxPool1d, nn.MaxPool2d))
                if getattr(mod, "ceil_mode", False) or (is_max and any(d != 1 for d in _pair(mod.dilation, dims))):
                    unsupported.append(f"{n.target} (pooling with ceil_mode or dilation)")
                    continue
                if not is_max and (not mod.count_include_pad or any(_pair(mod.padding, dims))) and any(
                    _pair(mod.padding, dims)
                ):
                    unsupported.append(f"{n.target} (padded average pooling)")
                    continue
                kind = "maxpool" if is_max else "avgpool"
                stride = mod.stride if mod.stride is not None else mod.kernel_size
                attrs = {
                    "dims": dims,
                    "kernel": _pair(mod.kernel_size, dims),
                    "stride": _pair(stride, dims),
                    "padding": _pair(mod.padding, dims),
                }
            elif isinstance(mod, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d)):
                dims = 2 if isinstance(mod, nn.AdaptiveAvgPool2d) else 1
                if any(s != 1 for s in _pair(mod.output_size, dims)):
                    unsupported.append(f"{n.target} (adaptive pooling to a size other than 1)")
                    continue
                kind, attrs = "avgpool", {"dims": dims, "kernel": None, "stride": None, "padding": (0,) * dims}
            elif isinstance(mod, nn.Flatten):
                if mod.start_dim != 1 or mod.end_dim != -1:
                    unsupported.append(f"{n.target} (Flatten other than start_dim=1)")
                    continue
                kind = "flatten"
            else:
                unsupported.append(f"{n.target} ({type(mod).__name__})")
                continue
        elif n.op == "call_function":
            if n.target in (operator.add, torch.add) and len(n.args) == 2 and not n.kwargs:
                kind = "add"
            elif n.target in (F.relu, torch.relu):
                kind = "relu"
            elif n.target is torch.flatten and (n.args[1:] or [n.kwargs.get("start_dim", 0)])[0] == 1:
                kind = "flatten"
            else:
                unsupported.append(f"{n.name} (function {getattr(n.target, '__name__', n.target)})")
                continue
        elif n.op == "call_method" and n.target in ("relu", "flatten"):
            kind = n.target
        else:
            unsupported.append(f"{n.name} ({n.op} {n.target})")
            continue

        if kind in ("relu", "relu6"):
            prev = by_name.get(src(n.args[0]))
            fusable = prev is not None and prev.op in ("conv1d", "conv2d", "linear", "add") and prev.act is None
            if fusable and users_count[n.args[0].name] == 1 and users_count[prev.name] == 1:
                prev.act = kind
                alias[n.name] = prev.name
                continue
            if kind == "relu6":
                unsupported.append(f"{n.name} (ReLU6 not directly after a conv / linear / add)")
                continue
        inputs = [src(a) for a in n.all_input_nodes]
        node = Node(n.name, kind, inputs, attrs)
        if kind in LAYER_OPS:
            node.weight = w
            node.bias = b.detach().clone() if b is not None else torch.zeros(w.shape[0])
        add(node)

    if unsupported:
        raise UnsupportedOpError(
            "cannot quantize these ops of "
            + type(model).__name__
            + ": "
            + "; ".join(unsupported)
            + ". Supported: Conv1d/Conv2d, Linear, BatchNorm after a layer, ReLU/ReLU6, max/avg pooling, "
            "Flatten, Dropout, residual +"
        )
    graph = FloatGraph(nodes, output, tuple(example_input.shape[1:]))
    _infer_shapes(graph, example_input)
    last = graph.by_name[graph.output]
    while last.op in ("flatten",):
        last = graph.by_name[last.inputs[0]]
    if last.op not in LAYER_OPS or last.act is not None:
        raise UnsupportedOpError(
            f"the model's output must come from a Conv / Linear layer without activation (its logits), "
            f"found {last.op} {last.name}"
        )
    for i, node in enumerate(graph.layer_nodes):
        node.layer = i
    return graph


def _infer_shapes(graph: FloatGraph, example_input: torch.Tensor) -> None:
    record: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        graph.forward(example_input[:1].float(), record)
    for node in graph.nodes:
        node.out_shape = tuple(record[node.name].shape[1:])
        if node.op == "avgpool" and node.attrs["kernel"] is None:  # adaptive -> global pooling
            in_shape = graph.by_name[node.inputs[0]].out_shape
            node.attrs["kernel"] = tuple(in_shape[1:])
            node.attrs["stride"] = tuple(in_shape[1:])


def producer_consumers(graph: FloatGraph) -> dict[str, list[Node]]:
    """For every requant producer: the nodes that read its tensor, looking through transparent ops."""
    result: dict[str, list[Node]] = {}
    for node in graph.nodes:
        if node.op not in REQUANT_OPS:
            continue
        stack, readers = [node.name], []
        while stack:
            for user in graph.users(stack.pop()):
                if user.op in TRANSPARENT_OPS:
                    stack.append(user.name)
                else:
                    readers.append(user)
        result[node.name] = readers
    return result


def source_producer(graph: FloatGraph, name: str) -> Node:
    """The requant producer whose tensor reaches ``name`` through transparent ops."""
    node = graph.by_name[name]
    while node.op in TRANSPARENT_OPS:
        node = graph.by_name[node.inputs[0]]
    return node


def trace_space(
    model: nn.Module,
    example_input: torch.Tensor,
    *,
    w_choices: tuple[int, ...] = (2, 4, 8),
    a_choices: tuple[int, ...] = (2, 4, 8),
    pin_first_last: int | None = None,
    model_name: str = "",
) -> SearchSpace:
    """`SearchSpace` of ``model``: its layers in execution order with shapes, params and MACs."""
    graph = trace_graph(model, example_input)
    return space_from_graph(graph, w_choices, a_choices, pin_first_last, model_name)


def space_from_graph(
    graph: FloatGraph,
    w_choices: tuple[int, ...] = (2, 4, 8),
    a_choices: tuple[int, ...] = (2, 4, 8),
    pin_first_last: int | None = None,
    model_name: str = "",
) -> SearchSpace:
    layers = []
    for node in graph.layer_nodes:
        in_shape = graph.by_name[node.inputs[0]].out_shape
        w = node.weight
        params = w.numel() + w.shape[0]
        if node.op == "linear":
            kernel, stride, padding, groups = (), (), (), 1
            macs = w.numel()
            in_ch = w.shape[1]
        else:
            kernel, stride, padding, groups = (
                node.attrs["kernel"],
                node.attrs["stride"],
                node.attrs["padding"],
                node.attrs["groups"],
            )
            out_positions = 1
            for s in node.out_shape[1:]:
                out_positions *= s
            macs = w.numel() * out_positions
            in_ch = in_shape[0]
        layers.append(
            LayerSpec(
                name=node.attrs.get("module", node.name),
                kind=node.op,
                in_channels=int(in_ch),
                out_channels=int(w.shape[0]),
                kernel=tuple(kernel),
                stride=tuple(stride),
                padding=tuple(padding),
                groups=int(groups),
                in_shape=tuple(in_shape),
                out_shape=tuple(node.out_shape),
                params=int(params),
                macs=int(macs),
            )
        )
    groups = []
    for readers in producer_consumers(graph).values():
        idx = tuple(r.layer for r in readers if r.layer is not None)
        if len(idx) > 1:
            groups.append(idx)
    space = SearchSpace(tuple(layers), w_choices, a_choices, (), tuple(groups), model_name)
    if pin_first_last is not None:
        space = space.with_bits(pin_first_last=pin_first_last)
    return space
