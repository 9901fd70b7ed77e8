"""Tests of mico.train on the digits MLP: determinism, checkpoint cache, corruption detection, CLI."""

from __future__ import annotations

import argparse
import json
import logging
import shutil
from pathlib import Path

import pytest
import torch

from mico.data import Split, load_dataset
from mico.train import (
    CheckpointError,
    _augment,
    add_train_parser,
    checkpoint_hash,
    checkpoint_key,
    evaluate_accuracy,
    load_checkpoint,
    load_or_train,
    resolve_hparams,
    run_train,
    train,
)

EPOCHS = 8  # the digits MLP reaches > 90 % val in well under a second


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """The digits MLP trains fastest on one thread (and is immune to a busy machine's other jobs)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mico_cache")


@pytest.fixture(scope="module")
def trained(cache: Path):
    return train("mlp", epochs=EPOCHS, seed=0, cache_dir=cache, progress=False)


def test_train_reaches_good_accuracy_and_writes_checkpoint(trained, cache: Path) -> None:
    assert trained.val_acc > 0.9 and trained.test_acc > 0.9
    assert not trained.model.training and not trained.from_cache
    assert trained.checkpoint.is_file() and trained.checkpoint.name == f"mlp-{trained.key[:12]}.pt"
    meta = json.loads(trained.checkpoint.with_suffix(".json").read_text())
    assert meta["key"] == trained.key and meta["sha256"] == checkpoint_hash(trained.checkpoint)
    assert meta["hparams"]["epochs"] == EPOCHS and meta["seed"] == 0
    assert trained.hparams.epochs == EPOCHS and trained.train_seconds > 0
    data = load_dataset("digits", cache_dir=cache)
    assert evaluate_accuracy(trained.model, data.val) == pytest.approx(trained.val_acc)


def test_training_is_deterministic_given_the_seed(trained, tmp_path: Path) -> None:
    again = train("mlp", epochs=EPOCHS, seed=0, cache_dir=tmp_path, progress=False)
    assert _same_weights(again.model, trained.model)
    assert again.key == trained.key and checkpoint_hash(again.checkpoint) == trained.checkpoint_sha256
    other = train("mlp", epochs=EPOCHS, seed=1, cache_dir=tmp_path, progress=False)
    assert not _same_weights(other.model, trained.model) and other.key != trained.key


def test_cache_hit_returns_identical_weights(trained, cache: Path) -> None:
    hit = load_or_train("mlp", epochs=EPOCHS, seed=0, cache_dir=cache, progress=False)
    assert hit.from_cache and hit.checkpoint == trained.checkpoint
    assert _same_weights(hit.model, trained.model) and not hit.model.training
    assert (hit.val_acc, hit.test_acc, hit.key) == (trained.val_acc, trained.test_acc, trained.key)


def test_key_covers_every_setting(trained) -> None:
    fp = trained.dataset_fingerprint
    hp = resolve_hparams("mlp", epochs=EPOCHS)
    base = checkpoint_key("mlp", fp, hp, 0)
    assert base == trained.key
    variants = [
        checkpoint_key("lenet5", fp, hp, 0),
        checkpoint_key("mlp", "0" * 64, hp, 0),
        checkpoint_key("mlp", fp, hp, 1),
        checkpoint_key("mlp", fp, hp.replace(lr=hp.lr * 2), 0),
        checkpoint_key("mlp", fp, hp.replace(batch_size=hp.batch_size + 1), 0),
        checkpoint_key("mlp", fp, hp.replace(weight_decay=1e-3), 0),
        checkpoint_key("mlp", fp, hp.replace(augment="shift"), 0),
    ]
    assert len({base, *variants}) == len(variants) + 1


def test_corrupted_checkpoint_is_detected_and_retrained(
    trained, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "cache"
    shutil.copytree(trained.checkpoint.parent.parent, cache)
    path = cache / "checkpoints" / trained.checkpoint.name
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # one flipped byte
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="corrupted"):
        load_checkpoint(path)
    with caplog.at_level(logging.WARNING, logger="mico.train"):
        result = load_or_train("mlp", epochs=EPOCHS, seed=0, cache_dir=cache, progress=False)
    assert "corrupted" in caplog.text and "retraining" in caplog.text
    assert not result.from_cache and _same_weights(result.model, trained.model)
    assert checkpoint_hash(path) == trained.checkpoint_sha256  # rewritten, verifies again
    assert load_or_train("mlp", epochs=EPOCHS, seed=0, cache_dir=cache, progress=False).from_cache


def test_checkpoint_of_other_settings_is_rejected(trained, tmp_path: Path) -> None:
    other_key = checkpoint_key("mlp", trained.dataset_fingerprint, trained.hparams, 7)
    with pytest.raises(CheckpointError, match="other settings"):
        load_checkpoint(trained.checkpoint, expected_key=other_key)
    with pytest.raises(CheckpointError, match="missing"):
        load_checkpoint(tmp_path / "nothing.pt")


def test_unknown_model_lists_known_names(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="known models: .*lenet5.*mlp"):
        train("alexnet", cache_dir=tmp_path)


def test_augment_shift_and_flip_are_seeded_and_shape_preserving() -> None:
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).reshape(2, 1, 6, 6)
    a = _augment(x, "shift-flip", torch.Generator().manual_seed(0))
    b = _augment(x, "shift-flip", torch.Generator().manual_seed(0))
    assert a.shape == x.shape and torch.equal(a, b)
    assert torch.equal(_augment(x, "none", torch.Generator()), x)
    seq = torch.randn(4, 6, 128)
    assert torch.equal(_augment(seq, "shift", torch.Generator()), seq)  # 1D data is left alone
    shifted = _augment(x, "shift", torch.Generator().manual_seed(1))
    for img in shifted[:, 0]:  # each output is a translate of the input with zero fill
        nz = img[img > 0]
        assert set(nz.tolist()) <= set(x.flatten().tolist())


def test_evaluate_accuracy_rejects_empty_split(trained) -> None:
    with pytest.raises(ValueError, match="empty"):
        evaluate_accuracy(trained.model, Split(torch.zeros(0, 1, 8, 8), torch.zeros(0, dtype=torch.int64)))


def test_run_train_cli(trained, cache: Path, capsys: pytest.CaptureFixture) -> None:
    parser = argparse.ArgumentParser(prog="mico")
    add_train_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["train", "mlp", "--epochs", str(EPOCHS), "--cache-dir", str(cache), "--no-progress"]
    )
    assert args.func(args) == 0 and args.func is run_train
    out = capsys.readouterr().out
    assert "mlp on digits (cached)" in out and f"{trained.test_acc:.4f}" in out
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "nosuchmodel"])
