"""``mico deploy``: compile a searched policy to C, run it on a target, check it bit for bit."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "deploy", help="compile a policy to bare-metal C, run it on a target and check it bit for bit",
        description=__doc__,
    )
    p.add_argument("--model", required=True, help="model name (as for `mico search`)")
    p.add_argument("--policy", required=True, help="policy JSON file ({'w_bits': [...], 'a_bits': [...]})")
    p.add_argument("--target", default="host", choices=["host", "cortex-m7", "cortex-a53"])
    p.add_argument("--out", default=None, help="output folder (default deploy_<model>_<target>)")
    p.add_argument("--n-inputs", type=int, default=100, help="test inputs to run and compare")
    p.add_argument("--qat-steps", type=int, default=0,
                   help="fine-tune the policy with QAT for this many steps over the whole train split before "
                        "deploying (cached; 0: the post-training-quantized graph). Low-bit policies need it")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    try:
        from mico.proxies import final_finetune, load_context
    except ImportError as e:  # pragma: no cover - until mico.proxies lands
        raise SystemExit(f"mico deploy needs mico.proxies.load_context ({e})") from e
    from deploy.api import deploy

    ctx = load_context(args.model, seed=args.seed)
    policy = ctx.space.policy_from_json(Path(args.policy).read_text())
    if args.qat_steps < 0:
        raise ValueError(f"--qat-steps must be >= 0 (0 deploys the PTQ graph), got {args.qat_steps}")
    out = Path(args.out or f"deploy_{args.model}_{args.target}")
    test = ctx.data.test
    g = final_finetune(ctx, policy, args.qat_steps) if args.qat_steps else ctx.int_graph(policy)
    r = deploy(g, target=args.target, out_dir=out, inputs=test.x[: args.n_inputs], model_name=args.model)
    acc = float((r.logits.argmax(1) == test.y[: args.n_inputs].numpy()).mean())
    how = f"QAT {args.qat_steps} steps" if args.qat_steps else "PTQ"
    print(f"{args.model} on {args.target}: {r.n_exact}/{r.n_inputs} inputs bit-exact vs the integer reference; "
          f"accuracy {acc:.4f} on them, {g.accuracy(test.x, test.y):.4f} on the whole test split ({how})")
    print(f"flash {r.flash_bytes} B (model + kernels {r.model_flash_bytes} B), SRAM {r.sram_bytes} B "
          f"(arena {r.arena_bytes} B)" + (f", {r.instructions} instructions / inference" if r.instructions else ""))
    print(f"output folder: {out} (build by hand: make -C {out} TARGET={args.target})")
    return 0 if r.bit_exact else 1
