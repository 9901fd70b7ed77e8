"""Full-precision training of zoo models, with a verified checkpoint cache.

:func:`train` trains a zoo model on its data set (deterministically for a given seed, on the
CPU, with plain tensor indexing instead of DataLoader workers), evaluates it on val and test,
and writes a checkpoint plus a JSON sidecar. :func:`load_or_train` returns the cached checkpoint
when one exists for exactly the same settings, after checking its key and its sha256.

Checkpoint cache layout (``<cache>`` is ``cache_dir``, ``$MICO_CACHE`` or ``<repo>/.mico_cache``)::

    <cache>/checkpoints/<model>-<key[:12]>.pt     {"key", "model", "state_dict"}
    <cache>/checkpoints/<model>-<key[:12]>.json   metadata: key, sha256 of the .pt, hparams, accuracies ...

``key = sha256(model name, dataset fingerprint, all hyper-parameters, seed, TRAIN_VERSION)``.
``torch.set_num_threads`` is left to the caller.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import math
import os
import platform
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from .data import DataSplits, Split, default_cache_dir, load_dataset
from .models import MODEL_ZOO, HyperParams, get_spec

__all__ = [
    "TRAIN_VERSION",
    "CheckpointError",
    "TrainResult",
    "add_train_parser",
    "checkpoint_hash",
    "checkpoint_key",
    "checkpoint_path",
    "evaluate_accuracy",
    "load_checkpoint",
    "load_or_train",
    "resolve_hparams",
    "run_train",
    "train",
]

logger = logging.getLogger(__name__)

#: Bump whenever the training procedure changes; it is part of every checkpoint key.
TRAIN_VERSION = 1

#: Maximum translation (pixels) of the "shift" augmentations.
SHIFT_PIXELS = 2


class CheckpointError(RuntimeError):
    """A checkpoint or its sidecar is missing, corrupted, or belongs to other settings."""


@dataclass(frozen=True, eq=False)
class TrainResult:
    """The outcome of :func:`train` / :func:`load_or_train`.

    Attributes:
        model_name: zoo name.
        dataset: data set name.
        model: the trained network, in eval mode.
        checkpoint: path of the ``.pt`` file (its sidecar is ``checkpoint.with_suffix(".json")``).
        checkpoint_sha256: sha256 of the ``.pt`` file (see :func:`checkpoint_hash`).
        key: the full cache key.
        hparams: the hyper-parameters used.
        seed: the training seed.
        val_acc, test_acc: top-1 accuracy in [0, 1] on the val and test splits.
        train_seconds: wall time of the training loop when it ran (also for cache hits).
        from_cache: True when the checkpoint was loaded instead of trained.
        dataset_fingerprint: :attr:`mico.data.DataSplits.fingerprint` of the training data.
        input_shape: shape of one model input, e.g. (1, 28, 28); use ``(1, *input_shape)`` to trace.
        num_classes: number of output logits.
    """

    model_name: str
    dataset: str
    model: nn.Module
    checkpoint: Path
    checkpoint_sha256: str
    key: str
    hparams: HyperParams
    seed: int
    val_acc: float
    test_acc: float
    train_seconds: float
    from_cache: bool
    dataset_fingerprint: str
    input_shape: tuple[int, ...]
    num_classes: int


# --------------------------------------------------------------------------------------------
# Keys, paths, hashes
# --------------------------------------------------------------------------------------------


def resolve_hparams(
    model_name: str, *, epochs: int | None = None, lr: float | None = None, batch_size: int | None = None
) -> HyperParams:
    """The zoo defaults of ``model_name`` with the given (non-None) overrides."""
    return get_spec(model_name).hparams.replace(epochs=epochs, lr=lr, batch_size=batch_size)


def checkpoint_key(model_name: str, dataset_fingerprint: str, hparams: HyperParams, seed: int) -> str:
    """sha256 of (model name, dataset fingerprint, all hyper-parameters, seed, TRAIN_VERSION)."""
    payload = {
        "model": model_name,
        "dataset_fingerprint": dataset_fingerprint,
        "hparams": hparams.as_dict(),
        "seed": int(seed),
        "train_version": TRAIN_VERSION,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def checkpoint_path(model_name: str, key: str, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """``<cache>/checkpoints/<model>-<key[:12]>.pt``."""
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    return root / "checkpoints" / f"{model_name}-{key[:12]}.pt"


def checkpoint_hash(path: str | os.PathLike[str]) -> str:
    """sha256 (hex) of the checkpoint file's bytes; part of downstream evaluation cache keys."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------


def evaluate_accuracy(model: nn.Module, split: Split, *, batch_size: int = 1000) -> float:
    """Top-1 accuracy in [0, 1] of ``model`` (put in eval mode) on ``split``."""
    if len(split) == 0:
        raise ValueError("cannot evaluate accuracy on an empty split")
    model.eval()
    correct = 0
    with torch.inference_mode():
        for i in range(0, len(split), batch_size):
            logits = model(split.x[i : i + batch_size])
            correct += int((logits.argmax(dim=1) == split.y[i : i + batch_size]).sum())
    return correct / len(split)


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


def _augment(x: torch.Tensor, kind: str, gen: torch.Generator) -> torch.Tensor:
    """Cheap batch augmentation of images (N, C, H, W): random shift (zero fill) and flip."""
    if kind == "none" or x.dim() != 4:
        return x
    n, _c, h, w = x.shape
    p = SHIFT_PIXELS
    padded = nn.functional.pad(x, (p, p, p, p))
    dy = torch.randint(0, 2 * p + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * p + 1, (n,), generator=gen)
    rows = (dy[:, None] + torch.arange(h)[None, :])[:, :, None]  # (N, H, 1)
    cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, :]  # (N, 1, W)
    if kind == "shift-flip":
        flip = torch.rand(n, generator=gen) < 0.5
        cols = torch.where(flip[:, None, None], cols.flip(-1), cols)
    batch = torch.arange(n)[:, None, None]
    out = padded[batch, :, rows, cols]  # (N, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()


def _optimizer(model: nn.Module, hp: HyperParams) -> torch.optim.Optimizer:
    if hp.optimizer == "adam":
        return torch.optim.AdamW(model.parameters(), lr=hp.lr, weight_decay=hp.weight_decay)
    return torch.optim.SGD(
        model.parameters(), lr=hp.lr, momentum=hp.momentum, nesterov=True, weight_decay=hp.weight_decay
    )


def _fit(
    model: nn.Module, data: DataSplits, hp: HyperParams, seed: int, *, progress: bool, label: str
) -> float:
    """Train ``model`` in place on ``data.train``; returns the wall time of the loop in seconds."""
    gen = torch.Generator().manual_seed(int(seed))
    x, y = data.train.x, data.train.y
    n = len(y)
    steps_per_epoch = math.ceil(n / hp.batch_size)
    total = hp.epochs * steps_per_epoch
    opt = _optimizer(model, hp)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: 0.5 * (1.0 + math.cos(math.pi * step / total))
    )
    loss_fn = nn.CrossEntropyLoss(label_smoothing=hp.label_smoothing)
    start = time.perf_counter()
    for epoch in range(hp.epochs):
        model.train()
        perm = torch.randperm(n, generator=gen)
        seen = correct = 0
        loss_sum = 0.0
        bar = tqdm(
            range(steps_per_epoch),
            desc=f"{label} epoch {epoch + 1}/{hp.epochs}",
            disable=not progress,
            leave=False,
            unit="batch",
        )
        for step in bar:
            idx = perm[step * hp.batch_size : (step + 1) * hp.batch_size]
            if len(idx) < 2:  # a batch of one breaks BatchNorm's batch statistics
                continue
            xb = _augment(x[idx], hp.augment, gen)
            yb = y[idx]
            logits = model(xb)
            loss = loss_fn(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            seen += len(idx)
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == yb).sum())
            if step % 20 == 0:
                bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.4f}")
        bar.close()
        logger.debug(
            "%s epoch %d/%d: train loss %.4f, train acc %.4f (%.1f s)",
            label,
            epoch + 1,
            hp.epochs,
            loss_sum / max(seen, 1),
            correct / max(seen, 1),
            time.perf_counter() - start,
        )
    model.eval()
    return time.perf_counter() - start


def _atomic_write(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)  # atomic: a concurrent reader sees the old file or the new one
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def train(
    model_name: str,
    *,
    epochs: int | None = None,
    lr: float | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    data_root: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train zoo model ``model_name`` on its data set and write its checkpoint (always trains).

    ``epochs``, ``lr`` and ``batch_size`` override the zoo defaults (``MODEL_ZOO[name].hparams``).
    Given the seed (and the thread count) the result is deterministic: the seed initialises the
    weights (``torch.manual_seed``) and drives a dedicated generator for shuffling and augmentation.
    """
    spec = get_spec(model_name)
    hp = resolve_hparams(model_name, epochs=epochs, lr=lr, batch_size=batch_size)
    data = load_dataset(spec.dataset, root=data_root, cache_dir=cache_dir)
    return _train_on(model_name, data, hp, seed, cache_dir=cache_dir, progress=progress)


def _train_on(
    model_name: str,
    data: DataSplits,
    hp: HyperParams,
    seed: int,
    *,
    cache_dir: str | os.PathLike[str] | None,
    progress: bool,
) -> TrainResult:
    key = checkpoint_key(model_name, data.fingerprint, hp, seed)
    path = checkpoint_path(model_name, key, cache_dir)
    torch.manual_seed(int(seed))
    model = get_spec(model_name).build(input_shape=data.input_shape, num_classes=data.num_classes)
    logger.info("training %s on %s with %s, seed %d", model_name, data.name, hp, seed)
    seconds = _fit(model, data, hp, seed, progress=progress, label=model_name)
    val_acc = evaluate_accuracy(model, data.val)
    test_acc = evaluate_accuracy(model, data.test)
    logger.info("%s: val acc %.4f, test acc %.4f, %.1f s", model_name, val_acc, test_acc, seconds)

    buffer = io.BytesIO()  # saving to a buffer keeps the bytes independent of the (temporary) file name
    torch.save({"key": key, "model": model_name, "state_dict": model.state_dict()}, buffer)
    _atomic_write(path, lambda tmp: Path(tmp).write_bytes(buffer.getvalue()))
    sha = checkpoint_hash(path)
    meta = {
        "key": key,
        "sha256": sha,
        "model": model_name,
        "dataset": data.name,
        "dataset_fingerprint": data.fingerprint,
        "input_shape": list(data.input_shape),
        "num_classes": data.num_classes,
        "hparams": hp.as_dict(),
        "seed": int(seed),
        "train_version": TRAIN_VERSION,
        "val_acc": val_acc,
        "test_acc": test_acc,
        "train_seconds": seconds,
        "num_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "host": platform.node(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    sidecar = path.with_suffix(".json")
    _atomic_write(sidecar, lambda tmp: Path(tmp).write_text(json.dumps(meta, indent=2) + "\n"))
    return TrainResult(
        model_name=model_name,
        dataset=data.name,
        model=model,
        checkpoint=path,
        checkpoint_sha256=sha,
        key=key,
        hparams=hp,
        seed=int(seed),
        val_acc=val_acc,
        test_acc=test_acc,
        train_seconds=seconds,
        from_cache=False,
        dataset_fingerprint=data.fingerprint,
        input_shape=data.input_shape,
        num_classes=data.num_classes,
    )


def load_checkpoint(
    path: str | os.PathLike[str], *, expected_key: str | None = None
) -> tuple[nn.Module, dict]:
    """Load a checkpoint written by :func:`train`, verified against its JSON sidecar.

    Checks that the sidecar exists, that the file's sha256 equals the sidecar's, that the key
    stored in the file equals the sidecar's (and ``expected_key`` when given), and that the
    weights fit the model. Returns ``(model in eval mode, sidecar metadata)``.

    Raises:
        CheckpointError: with what was expected, what was found, and what to do.
    """
    path = Path(path)
    sidecar = path.with_suffix(".json")
    if not path.is_file() or not sidecar.is_file():
        raise CheckpointError(
            f"checkpoint {path} or its sidecar {sidecar.name} is missing; train it with mico.train.train()"
        )
    try:
        meta = json.loads(sidecar.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(
            f"sidecar {sidecar} is not valid JSON ({exc}); delete both files and retrain"
        ) from exc
    missing = [k for k in ("key", "sha256", "model", "input_shape", "num_classes") if k not in meta]
    if missing:
        raise CheckpointError(f"sidecar {sidecar} lacks {', '.join(missing)}; delete both files and retrain")
    actual = checkpoint_hash(path)
    if meta.get("sha256") != actual:
        raise CheckpointError(
            f"checkpoint {path} is corrupted: its sha256 is {actual[:16]}..., the sidecar records "
            f"{str(meta.get('sha256'))[:16]}...; delete it and retrain"
        )
    if expected_key is not None and meta.get("key") != expected_key:
        raise CheckpointError(
            f"checkpoint {path} belongs to other settings: key {str(meta.get('key'))[:12]}, "
            f"expected {expected_key[:12]}; retrain"
        )
    try:
        blob = torch.load(path, weights_only=True)
    except Exception as exc:
        raise CheckpointError(
            f"checkpoint {path} cannot be read by torch.load ({exc}); delete it and retrain"
        ) from exc
    if blob.get("key") != meta.get("key") or blob.get("model") != meta.get("model"):
        raise CheckpointError(
            f"checkpoint {path} and its sidecar disagree (file key {str(blob.get('key'))[:12]}, "
            f"model {blob.get('model')!r}; sidecar key {str(meta.get('key'))[:12]}, "
            f"model {meta.get('model')!r}); retrain"
        )
    name = meta["model"]
    if name not in MODEL_ZOO:
        raise CheckpointError(
            f"checkpoint {path} is for model {name!r}, which is not in the zoo ({', '.join(MODEL_ZOO)})"
        )
    model = get_spec(name).build(input_shape=tuple(meta["input_shape"]), num_classes=int(meta["num_classes"]))
    try:
        model.load_state_dict(blob["state_dict"], strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {path} does not fit model {name!r} ({exc}); retrain") from exc
    model.eval()
    return model, meta


def load_or_train(
    model_name: str,
    *,
    epochs: int | None = None,
    lr: float | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    data_root: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> TrainResult:
    """The cached checkpoint for exactly these settings if it exists and verifies, else :func:`train`.

    A checkpoint that fails verification (sha256 mismatch, wrong key, unreadable) is reported with
    a warning that says why, and retrained; it is never used.
    """
    spec = get_spec(model_name)
    hp = resolve_hparams(model_name, epochs=epochs, lr=lr, batch_size=batch_size)
    data = load_dataset(spec.dataset, root=data_root, cache_dir=cache_dir)
    key = checkpoint_key(model_name, data.fingerprint, hp, seed)
    path = checkpoint_path(model_name, key, cache_dir)
    if path.exists() or path.with_suffix(".json").exists():
        try:
            model, meta = load_checkpoint(path, expected_key=key)
        except CheckpointError as exc:
            logger.warning("%s; retraining %s", exc, model_name)
        else:
            logger.info("using cached checkpoint %s", path)
            return TrainResult(
                model_name=model_name,
                dataset=data.name,
                model=model,
                checkpoint=path,
                checkpoint_sha256=meta["sha256"],
                key=key,
                hparams=hp,
                seed=int(seed),
                val_acc=float(meta["val_acc"]),
                test_acc=float(meta["test_acc"]),
                train_seconds=float(meta["train_seconds"]),
                from_cache=True,
                dataset_fingerprint=data.fingerprint,
                input_shape=data.input_shape,
                num_classes=data.num_classes,
            )
    return _train_on(model_name, data, hp, seed, cache_dir=cache_dir, progress=progress)


# --------------------------------------------------------------------------------------------
# Command line (wired into `mico train` by mico/cli.py)
# --------------------------------------------------------------------------------------------


def add_train_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``train`` sub-command to ``subparsers``; its handler is :func:`run_train`."""
    p = subparsers.add_parser(
        "train",
        help="train a zoo model in full precision (cached checkpoint)",
        description="Train a zoo model on its data set, or reuse the verified cached checkpoint.",
    )
    p.add_argument("model", choices=list(MODEL_ZOO), help="zoo model name")
    p.add_argument("--epochs", type=int, default=None, help="override the zoo default")
    p.add_argument("--lr", type=float, default=None, help="override the zoo default peak learning rate")
    p.add_argument("--batch-size", type=int, default=None, help="override the zoo default")
    p.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    p.add_argument("--data-root", default=None, help="folder with the data set files (if not the default)")
    p.add_argument("--cache-dir", default=None, help="cache root (default $MICO_CACHE or <repo>/.mico_cache)")
    p.add_argument("--force", action="store_true", help="retrain even if a cached checkpoint exists")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_train)
    return p


def run_train(args: argparse.Namespace) -> int:
    """Handler of ``mico train``: trains (or loads) and prints a one-line summary. Returns 0."""
    fn = train if getattr(args, "force", False) else load_or_train
    result = fn(
        args.model,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        seed=args.seed,
        data_root=args.data_root,
        cache_dir=getattr(args, "cache_dir", None),
        progress=not getattr(args, "no_progress", False),
    )
    source = "cached" if result.from_cache else "trained"
    print(
        f"{result.model_name} on {result.dataset} ({source}): val acc {result.val_acc:.4f}, "
        f"test acc {result.test_acc:.4f}, {result.train_seconds:.1f} s; checkpoint {result.checkpoint}"
    )
    return 0
