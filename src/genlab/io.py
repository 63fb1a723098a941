"""Atomic file output and provenance.

Every output is written to a temporary file in the destination's folder and renamed into place, so a
kill at any moment leaves either the old file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import functools
import glob
import csv
import io
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``, on failure delete it.

    A SIGKILL cannot run the clean-up, so temporaries a killed writer of the same file left behind are
    removed first (one writer per output: Snakemake's directory lock sees to that)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_csv(path: str | os.PathLike, rows: list[dict[str, Any]]) -> None:
    """Rows of dicts as CSV; the header is the union of keys in first-seen order."""
    buffer = io.StringIO()
    fields = list(dict.fromkeys(key for row in rows for key in row)) or ["step"]
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, buffer.getvalue())


def write_json(path: str | os.PathLike, data: dict[str, Any]) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic) or type(value).__name__ == "Tensor":  # numpy and torch scalars
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def save_npz(path: str | os.PathLike, **arrays: Any) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:  # a handle, so numpy does not append '.npz' to the temp name
            np.savez_compressed(handle, **arrays)


def torch_save(path: str | os.PathLike, obj: Any) -> None:
    import torch  # this module is read by commands that never load torch (tables, figures, data files)
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


@functools.lru_cache(maxsize=1)  # one answer per process: an evaluation job writes several metric files
def git_commit() -> str:
    """The commit of the code that produced an output ('+dirty' when the tree has changes), or 'unknown'."""
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def provenance(config_hash: str, seed: int, wall_time_s: float) -> dict[str, Any]:
    import torch
    return {"git_commit": git_commit(), "config_hash": config_hash, "seed": seed,
            "wall_time_s": round(wall_time_s, 3), "torch": torch.__version__}


def write_metrics(path: str | os.PathLike, metrics: dict[str, Any], *, config_hash: str, seed: int,
                  wall_time_s: float) -> None:
    """Flat ``{name: value}`` metrics plus a ``provenance`` entry (DVC reads the numeric leaves)."""
    write_json(path, {**metrics, "provenance": provenance(config_hash, seed, wall_time_s)})
