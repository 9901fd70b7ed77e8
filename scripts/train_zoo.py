"""Train the zoo models in full precision and write the accuracy table ``results/fp_accuracy.md``.

Usage::

    .venv/bin/python scripts/train_zoo.py                 # every zoo model (cached checkpoints reused)
    .venv/bin/python scripts/train_zoo.py lenet5 mlp --force   # retrain these, timing the training

The table lists model, data set, parameters, MACs per inference, epochs, val / test accuracy and
the wall time of the training loop; the exact command is written at the top of the file.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # run as a file from a checkout that is not pip-installed

from mico.models import MODEL_ZOO  # noqa: E402
from mico.train import TrainResult, load_or_train, train  # noqa: E402

logger = logging.getLogger("train_zoo")


def count_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one inference through the Conv1d / Conv2d / Linear layers."""
    total = 0

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        per_output = module.weight[0].numel()  # (in / groups) * kernel for convs, in_features for Linear
        total += output[0].numel() * per_output

    handles = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear))
    ]
    try:
        model.eval()
        with torch.inference_mode():
            model(torch.zeros(1, *input_shape))
    finally:
        for h in handles:
            h.remove()
    return total


def row(result: TrainResult) -> list[str]:
    """One markdown table row for ``result``."""
    params = sum(p.numel() for p in result.model.parameters())
    macs = count_macs(result.model, result.input_shape)
    return [
        result.model_name,
        result.dataset,
        f"{params:,}",
        f"{macs / 1e6:.2f} M",
        str(result.hparams.epochs),
        f"{100 * result.val_acc:.2f}",
        f"{100 * result.test_acc:.2f}",
        f"{result.train_seconds:.0f}" + (" (cached)" if result.from_cache else ""),
        "-" if result.from_cache else f"{os.getloadavg()[0]:.1f}",
    ]


def markdown(rows: list[list[str]], command: str) -> str:
    """The results file: command, machine, table."""
    header = ["model", "dataset", "params", "MACs", "epochs", "val acc %", "test acc %", "train s"]
    header.append("host load")
    lines = [
        "# Full-precision accuracy of the model zoo",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__} with "
        f"{torch.get_num_threads()} threads; {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}. "
        "Training seconds are the wall time of the training loop (data loading and evaluation excluded); "
        "'(cached)' marks a checkpoint reused from the cache with the time of its original training. "
        "'host load' is the 1-minute load average when the training ended: other jobs share the machine, "
        "and a load above the core count inflates the times. "
        "Val is the split the search sees; test is held out (HAR: users 22-30, never seen in training).",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" if i < 2 else "---:" for i in range(len(header))) + "|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Train (or load) the requested models, print the table and write it to ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help=f"zoo models (default: all of {', '.join(MODEL_ZOO)})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="retrain even when a cached checkpoint exists")
    parser.add_argument(
        "--cache-dir", default=None, help="cache root (default $MICO_CACHE or <repo>/.mico_cache)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument(
        "--out", default=str(REPO / "results" / "fp_accuracy.md"), help="markdown file to write"
    )
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    unknown = [m for m in args.models if m not in MODEL_ZOO]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; known models: {', '.join(MODEL_ZOO)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    fn = train if args.force else load_or_train
    rows = []
    for name in args.models or list(MODEL_ZOO):
        result = fn(name, seed=args.seed, cache_dir=args.cache_dir, progress=not args.no_progress)
        rows.append(row(result))
        logger.info("%s", " | ".join(rows[-1]))
    command = ".venv/bin/python " + " ".join(
        shlex.quote(a) for a in [os.path.relpath(sys.argv[0], REPO), *sys.argv[1:]]
    )
    text = markdown(rows, command)
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    logger.info("wrote %s", out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
