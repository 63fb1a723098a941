"""Dataset kinds by config name. A kind is made from its config block and a seed; adding one is a
function here plus its schema entry in params/schema.yaml."""

from __future__ import annotations

from typing import Any, Callable

import zlib

import numpy as np

from genlab.data import images, synthetic
from genlab.data.dataset import Dataset

# Synthetic makers return (x, meta) for n_train + n_test points (meta's "labels", if any, become y: the
# component each point comes from);
# image makers return ((x_train, y_train, x_test, y_test), meta).
SYNTHETIC: dict[str, Callable[..., Any]] = {
    "sphere": synthetic.sphere, "sphere_union": synthetic.sphere_union, "subspace": synthetic.subspace,
    "spaghetti": synthetic.spaghetti,
    "gaussian_mixture": synthetic.gaussian_mixture, "ring": synthetic.ring, "moons": synthetic.moons,
    "checkerboard": synthetic.checkerboard, "squares": synthetic.squares, "blobs": synthetic.blobs,
    "gaussian_blobs": synthetic.gaussian_blobs,
    "conditional_mixture": synthetic.conditional_mixture, "banana": synthetic.banana,
    "hemisphere": synthetic.hemisphere, "sinusoid": synthetic.sinusoid,
}
IMAGES: dict[str, Callable[..., Any]] = {"digits": images.digits, "mnist28": images.mnist28,
                                         "mnist": images.mnist, "cifar10": images.cifar10}
DATASET_KINDS = sorted({*SYNTHETIC, *IMAGES})


def make_dataset(name: str, config: dict[str, Any], seed: int, raw_dir: str = "data/raw") -> Dataset:
    """Build dataset ``name`` from its config block (``kind`` plus the kind's options)."""
    options = {key: value for key, value in config.items() if key != "kind"}
    kind = config["kind"]
    rng = np.random.default_rng([seed, _stable_hash(name)])
    meta: dict[str, Any] = {"name": name, "kind": kind, "seed": seed, "config": config}
    if kind in IMAGES:
        if kind not in ("digits", "mnist28"):  # read from files staged under data/raw
            options["raw_dir"] = raw_dir
        (x_train, y_train, x_test, y_test), extra = IMAGES[kind](rng, **options)
        meta.update(extra)
        return Dataset(x_train, x_test, y_train, y_test, meta).validate(name)
    n_train, n_test = options.pop("n_train"), options.pop("n_test")
    x, extra = SYNTHETIC[kind](rng, n_train + n_test, **options)
    labels = extra.pop("labels", None)
    meta.update(extra, source="synthetic", image=False)
    x = np.asarray(x, dtype=np.float32)
    if labels is not None:
        return Dataset(x[:n_train], x[n_train:], labels[:n_train], labels[n_train:], meta).validate(name)
    if "condition_dim" in extra:  # conditional data: the last coordinates are the condition vectors y
        x, y = x[:, : -extra["condition_dim"]], x[:, -extra["condition_dim"]:]
        return Dataset(x[:n_train], x[n_train:], y[:n_train], y[n_train:], meta).validate(name)
    return Dataset(x[:n_train], x[n_train:], meta=meta).validate(name)


def _stable_hash(text: str) -> int:
    """A process-independent integer for a name (Python's hash() is salted per process)."""
    return zlib.crc32(text.encode())
