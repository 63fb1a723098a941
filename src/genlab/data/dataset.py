"""The on-disk dataset format: ``x_train``, ``x_test`` (float32), optional ``y_train``/``y_test`` (int64)
and ``meta`` (a JSON string: source, seed, shape, and whatever ground truth the generator knows: true
intrinsic dimension, mixture parameters, quantisation bin width)."""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from genlab.errors import DataError
from genlab.io import save_npz


@dataclass
class Dataset:
    x_train: np.ndarray
    x_test: np.ndarray
    y_train: np.ndarray | None = None
    y_test: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def example_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def dim(self) -> int:
        return int(np.prod(self.example_shape))

    @property
    def bin_width(self) -> float | None:
        """Width of a quantisation bin in data units (images), or None for continuous data."""
        return self.meta.get("bin_width")

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray | None]:
        if name not in ("train", "test"):
            raise DataError(f"unknown split {name!r}: use 'train' or 'test'")
        return getattr(self, f"x_{name}"), getattr(self, f"y_{name}")

    def validate(self, source: str = "dataset") -> "Dataset":
        for name in ("x_train", "x_test"):
            x = getattr(self, name)
            if x.ndim < 2 or len(x) == 0:
                raise DataError(f"{source}: {name} must have shape (N, ...) with N > 0, got {x.shape}")
            if not np.isfinite(x).all():
                bad = int((~np.isfinite(x)).any(axis=tuple(range(1, x.ndim))).sum())
                raise DataError(f"{source}: {name} has {bad} examples with NaN/inf values; "
                                "regenerate the dataset or clean the raw files")
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise DataError(f"{source}: x_train examples have shape {self.x_train.shape[1:]} but x_test "
                            f"examples {self.x_test.shape[1:]}")
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if y is not None and len(y) != len(x):
                raise DataError(f"{source}: y_{split} has {len(y)} labels for {len(x)} examples")
        return self

    def save(self, path: str | os.PathLike) -> None:
        self.validate(str(path))
        arrays = {"x_train": self.x_train.astype(np.float32), "x_test": self.x_test.astype(np.float32),
                  "meta": np.array(json.dumps(self.meta, sort_keys=True))}
        if self.y_train is not None:
            # class labels stay integers; condition vectors (conditional_mixture) stay floats
            dtype = np.float32 if np.issubdtype(self.y_train.dtype, np.floating) else np.int64
            arrays["y_train"] = self.y_train.astype(dtype)
            arrays["y_test"] = self.y_test.astype(dtype)
        save_npz(path, **arrays)


def load_dataset(path: str | os.PathLike) -> Dataset:
    """Load and check a dataset file; every problem is a DataError naming the file."""
    if not os.path.exists(path):
        raise DataError(f"dataset file {path} does not exist: run `genlab data` (or `snakemake {path}`)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = {"x_train", "x_test", "meta"} - set(npz.files)
            if missing:
                raise DataError(f"{path}: missing arrays {sorted(missing)}; regenerate it with `genlab data`")
            dataset = Dataset(
                x_train=npz["x_train"], x_test=npz["x_test"],
                y_train=npz["y_train"] if "y_train" in npz.files else None,
                y_test=npz["y_test"] if "y_test" in npz.files else None,
                meta=json.loads(str(npz["meta"])))
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, json.JSONDecodeError) as error:
        raise DataError(f"{path} is not a readable dataset file ({error}); delete it and rerun") from error
    return dataset.validate(str(path))
