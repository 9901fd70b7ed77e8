"""The ``mico`` command line.

Built-in sub-commands: ``train``, ``space``, ``search``, ``demo``. Packages above the core
(deploy, latency, ...) and third-party plug-ins add theirs through the ``mico.commands`` entry
point group: a function ``register(subparsers)`` that adds a parser with ``set_defaults(func=...)``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from mico import registry

log = logging.getLogger("mico")


def _bits(text: str) -> tuple[int, ...]:
    try:
        bits = tuple(int(b) for b in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated bitwidths like 2,4,8, got {text!r}") from None
    if not bits or any(b < 1 or b > 8 for b in bits):
        raise argparse.ArgumentTypeError(f"bitwidths must lie in 1..8, got {text!r}")
    return bits


def add_problem_args(p: argparse.ArgumentParser) -> None:
    """Options shared by every command that builds a search problem (see `ExperimentConfig`)."""
    p.add_argument("--model", default="lenet5", help="zoo model (see `mico space --list`)")
    p.add_argument("--proxy", default="hybrid", choices=["ptq", "qat", "hybrid"],
                   help="accuracy proxy: PTQ, QAT fine-tune, or hybrid (PTQ when all bits >= 4, else QAT)")
    p.add_argument("--cost", default="bops", help="cost model the budget applies to (bops, size, latency models)")
    p.add_argument("--budget-ratio", type=float, default=0.5,
                   help="constraint as a fraction of the uniform W8A8 policy's cost (0 = unconstrained)")
    p.add_argument("--budget-mode", default="w8a8", choices=["w8a8", "span"],
                   help="w8a8: limit = ratio x cost(W8A8); span: cheapest + ratio x (cost(W8A8) - cheapest), "
                        "for cost models where the lowest bits are not proportionally cheaper")
    p.add_argument("--evals", type=int, default=50, help="accuracy evaluations (distinct policies) per run")
    p.add_argument("--w-bits", type=_bits, default=(2, 4, 8), help="allowed weight bitwidths, e.g. 2,4,8")
    p.add_argument("--a-bits", type=_bits, default=(2, 4, 8), help="allowed activation bitwidths")
    p.add_argument("--pin-first-last", type=int, default=None, help="pin first and last layer to W{n}A{n}")
    p.add_argument("--qat-steps", type=int, default=300, help="optimiser steps of each QAT fine-tune")
    p.add_argument("--backend", default="serial", choices=["serial", "processes", "ray"],
                   help="where the accuracy evaluations of a batch run (batch searchers only)")
    p.add_argument("--workers", type=int, default=2, help="workers of the processes / ray backend")
    p.add_argument("--ray-address", default=None, help="address of a running Ray cluster (default: start a local one)")


def backend_from_args(args: argparse.Namespace):
    from mico.backends import make_backend

    if args.backend == "serial":
        return make_backend("serial")
    if args.backend == "ray":
        return make_backend("ray", workers=args.workers, address=args.ray_address)
    return make_backend(args.backend, workers=args.workers)


def config_from_args(args: argparse.Namespace):
    from mico.experiment import ExperimentConfig
    from mico.proxies import QATConfig

    return ExperimentConfig(
        model=args.model, proxy=args.proxy, cost=args.cost,
        budget_ratio=args.budget_ratio or None, budget_mode=args.budget_mode, evals=args.evals, w_bits=args.w_bits, a_bits=args.a_bits,
        pin_first_last=args.pin_first_last, qat=QATConfig(steps=args.qat_steps),
    )


def cmd_space(args: argparse.Namespace) -> int:
    from mico.models import MODEL_ZOO

    if args.list or not args.model:
        for name, spec in sorted(MODEL_ZOO.items()):
            print(f"{name:18s} {spec.dataset:14s} {spec.description}")
        return 0
    from mico.proxies import load_context

    ctx = load_context(args.model)
    print(f"{args.model}: {ctx.space.n_layers} layers, {ctx.space.total_macs:,} MACs, fingerprint {ctx.space.fingerprint}")
    for i, layer in enumerate(ctx.space.layers):
        print(f"{i:3d} {layer.name:24s} {layer.kind:7s} {layer.in_shape!s:16s} -> {layer.out_shape!s:16s} "
              f"params {layer.params:8d} MACs {layer.macs:10d}")
    if ctx.space.a_groups:
        print("activation groups (layers reading one tensor):", ctx.space.a_groups)
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from mico.experiment import build_problem
    from mico.record import RunRecord
    from mico.search import run

    cfg = config_from_args(args)
    searcher = registry.searcher(args.searcher)
    run_dir = Path(args.run_dir) if args.run_dir else RunRecord.new_dir(args.runs, cfg.experiment, cfg.model,
                                                                        searcher.name, args.seed)
    problem = build_problem(cfg, run_dir=run_dir, backend=backend_from_args(args))
    result = run(searcher, problem, seed=args.seed)
    best = result.best
    print(f"run directory: {run_dir}")
    print(f"evaluations: {result.used}/{problem.budget}, wall {result.wall_s:.1f} s")
    if best is None:
        print("no feasible policy found")
        return 1
    print(f"best feasible: accuracy {best.accuracy:.4f} ({best.regime}), costs {best.costs}")
    print(f"policy: {json.dumps(best.policy.to_dict())}")
    (run_dir / "best_policy.json").write_text(problem.space.policy_to_json(best.policy))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from mico.demo import main as demo_main

    return demo_main(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mico", description="Mixed-precision quantization testbed")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    from mico.train import add_train_parser

    add_train_parser(sub)

    p = sub.add_parser("space", help="list zoo models, or show the layers of one model's search space")
    p.add_argument("model", nargs="?", help="zoo model name")
    p.add_argument("--list", action="store_true", help="list the zoo models")
    p.set_defaults(func=cmd_space)

    p = sub.add_parser("search", help="run one searcher on one problem and write a run record")
    add_problem_args(p)
    p.add_argument("--searcher", default="random",
                   help=f"registered searcher ({', '.join(sorted(registry.available('mico.searchers')))})")
    p.add_argument("--seed", type=int, default=0, help="searcher seed (same seed -> same trials)")
    p.add_argument("--runs", default="runs", help="root of run directories")
    p.add_argument("--run-dir", default=None, help="explicit run directory (resumes if it holds trials)")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("demo", help="the main job end to end on LeNet-5 / MNIST (see README)")
    p.add_argument("--evals", type=int, default=None, help="evaluations per searcher (default: preset)")
    p.add_argument("--seeds", type=int, default=None, help="seeds per searcher (default: preset)")
    p.add_argument("--out", default="runs/demo", help="output directory")
    p.set_defaults(func=cmd_demo)

    for name, target in sorted(registry.available("mico.commands").items()):
        try:
            registry._load(target)(sub)
        except Exception as e:  # a broken plug-in must not break the CLI
            log.warning("command plug-in %s (%s) failed to load: %s", name, target, e)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        log.error("%s", e)
        return 1


if __name__ == "__main__":
    sys.exit(main())
