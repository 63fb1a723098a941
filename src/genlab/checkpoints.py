"""Checkpoint I/O and device choice: reading a trained experiment back for evaluation, sampling or as the
pretrained part of another model. The training loop (train.py) writes the files read here."""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import torch

from genlab.errors import CheckpointError, ConfigError
from genlab.families import Family


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was requested but no GPU is visible; use --device cpu or auto")
    return torch.device(name)


def _reason(error: Exception) -> str:
    """One line of a load error: the safe loader's own reason where it gives one (its message is a paragraph
    that ends in advice to load unsafely), else the error's first line."""
    text = str(error).split("WeightsUnpickler error:", 1)[-1]
    return next((line.strip() for line in text.splitlines() if line.strip()), type(error).__name__)


def load_checkpoint(path: str | Path, config_hash: str | None = None) -> dict[str, Any]:
    """Read a checkpoint; a truncated/corrupt file or one written for another config is refused."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist: train it first (`snakemake {path}`)")
    try:
        # weights_only: tensors and plain containers only. A checkpoint can come from anyone (a shared DVC
        # remote); a full unpickle would run whatever code its pickle names.
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a damaged zip/pickle
        named = re.search(r"GLOBAL ([\w.]+)", str(error))
        if isinstance(error, pickle.UnpicklingError) and named:  # the safe loader met a global it does not allow
            raise CheckpointError(f"checkpoint {path} names the Python object {named.group(1)}, which genlab refuses "
                                  f"to unpickle (a genlab checkpoint holds tensors and plain data only; this file is "
                                  f"crafted, from another program or from a genlab before 2026-11-26); delete it "
                                  f"and rerun training") from error
        raise CheckpointError(f"checkpoint {path} is unreadable (truncated or corrupt: {_reason(error)}); "
                              f"delete it and rerun training") from error
    if not isinstance(state, dict) or "config_hash" not in state or "model" not in state:
        raise CheckpointError(f"{path} is not a genlab checkpoint; delete it and rerun training")
    if config_hash is not None and state["config_hash"] != config_hash:
        raise CheckpointError(
            f"checkpoint {path} was written for config hash {state['config_hash']} but this experiment's "
            f"config hashes to {config_hash}; delete {path.parent} to retrain, or use the params it was "
            f"trained with (its config is stored in the checkpoint under 'config')")
    return state


def load_trained(model: Family, path: str | Path, config_hash: str, use_ema: bool = True) -> Family:
    """Load trained weights (EMA by default) into ``model`` for evaluation."""
    state = load_checkpoint(path, config_hash)
    load_weights(model, state["ema" if use_ema else "model"], path)
    return model.eval()


def load_weights(model: torch.nn.Module, weights: dict[str, Any], path: str | Path) -> None:
    """``model.load_state_dict(weights)``, read from ``path``; weights of another network (a dataset of another
    shape, or a checkpoint of a genlab whose family built another network for the same config) are one
    CheckpointError naming the file."""
    try:
        model.load_state_dict(weights)
    except RuntimeError as error:
        first = str(error).strip().splitlines()[-1].strip()
        raise CheckpointError(f"checkpoint {path} does not fit this model ({first}): it holds another network "
                              f"(trained on data of another shape, or by an older genlab); delete "
                              f"{Path(path).parent} to retrain") from error


def trained_model(exp, dataset, checkpoint: str | Path, device: str | None = None) -> Family:
    """The experiment's family (an `Experiment`) with its trained EMA weights, on ``device`` (default: the
    params' device)."""
    from genlab.families import make_model
    model = make_model(exp.model, dataset.example_shape, dataset.meta, exp.model_name)
    return load_trained(model, checkpoint, exp.hash).to(resolve_device(device or exp.device))
