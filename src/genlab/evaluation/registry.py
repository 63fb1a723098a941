"""The metric registry: each metric is declared once, on the function that computes it, with what it needs
and what it writes. The CLI (`genlab evaluate`), the config checks, the evaluate rule's inputs and hashing,
the DVC metrics and plots and the per-dataset tables all read these declarations.

A metric is a function of one `Run` (the experiment's params, data, weights and feature net, each loaded on
first use) returning a flat dict (written as {name}.json with provenance) or a list of rows ({name}.csv).
See README, "Adding a metric"."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

from genlab import paths
from genlab.config import IMAGE_KINDS, Experiment, evaluation_block, experiment
from genlab.errors import ConfigError

FEATURE_NET = ("never", "images", "always")  # when a metric reads the dataset's FID feature net


@dataclass(frozen=True)
class Metric:
    """One metric: ``compute(run)``; its output kind (json: flat numbers, csv: rows); the evaluation blocks it
    reads (its files are rebuilt when they change); when it needs the FID feature net; the capabilities the
    family must declare; the dataset kinds it applies to ("images" for the labelled image kinds; None: any);
    the per-dataset table's columns it fills (column -> key of its flat values); for CSVs, how to reduce the
    rows to flat values (``summary``) and the axes of its DVC plot."""

    name: str
    compute: Callable[["Run"], Any]
    output: str = "json"
    settings: tuple[str, ...] = ()
    feature_net: str = "never"
    requires: frozenset[str] = frozenset()
    datasets: tuple[str, ...] | None = None
    columns: dict[str, str] = field(default_factory=dict)
    summary: Callable[[Path], dict[str, Any]] | None = None
    plot: dict[str, str] | None = None

    @property
    def doc(self) -> str:
        return (self.compute.__doc__ or "").strip().split("\n\n")[0]

    def path(self, dataset: str, model: str) -> str:
        return paths.metric(dataset, model, self.name, self.output)

    def needs_feature_net(self, dataset_kind: str) -> bool:
        return self.feature_net == "always" or (self.feature_net == "images" and dataset_kind in IMAGE_KINDS)

    @property
    def kinds(self) -> tuple[str, ...] | None:
        """The dataset kinds it applies to ("images" expanded), None for any."""
        if self.datasets is None:
            return None
        return tuple(k for name in self.datasets for k in (IMAGE_KINDS if name == "images" else (name,)))

    def supports(self, dataset_kind: str) -> bool:
        return self.kinds is None or dataset_kind in self.kinds

    def settings_of(self, params: dict[str, Any], dataset: str, model: str) -> list[Any]:
        """The evaluation blocks this metric reads for one experiment (its own keys over them), as hashed into
        its job's params."""
        return [evaluation_block(params, dataset, model, block) for block in self.settings]

    def values(self, path: str | Path) -> dict[str, Any]:
        """The flat values of a written metric file ({} when it is absent), for tables."""
        path = Path(path)
        if not path.exists():
            return {}
        return self.summary(path) if self.summary else json.loads(path.read_text())


METRICS: dict[str, Metric] = {}


def metric(name: str, **declaration: Any) -> Callable:
    """Register the decorated function as metric ``name`` (keywords: the fields of `Metric`)."""
    if declaration.get("feature_net", "never") not in FEATURE_NET:
        raise ValueError(f"metric {name}: feature_net must be one of {FEATURE_NET}")
    declaration["requires"] = frozenset(declaration.get("requires", ()))

    def register(compute: Callable) -> Callable:
        if name in METRICS:
            raise ValueError(f"metric {name!r} is declared twice")
        METRICS[name] = Metric(name, compute, **declaration)
        return compute
    return register


def no_grad(compute: Callable) -> Callable:
    """torch.no_grad() as a decorator that imports torch when the function runs, not when it is declared."""
    @functools.wraps(compute)
    def without_gradients(*args: Any, **kwargs: Any) -> Any:
        import torch
        with torch.no_grad():
            return compute(*args, **kwargs)
    return without_gradients


def get(name: str) -> Metric:
    if name not in METRICS:
        raise ConfigError(f"unknown metric {name!r}; known: {sorted(METRICS)}")
    return METRICS[name]


class Run:
    """What a metric evaluates: one trained experiment. The dataset, the trained model, the raw checkpoint
    (snapshots, training cost) and the FID feature net are loaded when a metric first asks for them."""

    def __init__(self, params: dict[str, Any], exp: Experiment, data: str, checkpoint: str,
                 feature_net: str | None = None, device: str | None = None):
        self.params, self.exp, self.seed = params, exp, exp.seed
        self.data_path, self.checkpoint_path, self.feature_net_path = data, checkpoint, feature_net
        self.device = device

    def settings(self, block: str) -> dict[str, Any]:
        return evaluation_block(self.params, self.exp.dataset_name, self.exp.model_name, block)

    @property
    def is_image(self) -> bool:
        return self.exp.dataset["kind"] in IMAGE_KINDS

    # torch is imported where a run is loaded, not with the declarations: the Snakefile, the params checks
    # and the figure and table commands read those and need no torch (3 s of every such process)
    @cached_property
    def dataset(self):
        from genlab.data import load_dataset
        return load_dataset(self.data_path)

    @cached_property
    def model(self):
        from genlab.checkpoints import trained_model
        return trained_model(self.exp, self.dataset, self.checkpoint_path, self.device)

    @cached_property
    def checkpoint(self) -> dict[str, Any]:
        from genlab.checkpoints import load_checkpoint
        return load_checkpoint(self.checkpoint_path, self.exp.hash)

    @cached_property
    def fid_draw(self) -> tuple[Any, dict[str, float]]:
        """The default sampler's ``fid.n_samples`` samples in batches of ``fid.batch_size`` (seed: the run's)
        and their cost, drawn once per process: the FID's samples, and the cost metric's timing when the
        experiment computes the FID too (the same model and sampler need not be run twice)."""
        from genlab.generation import generate
        settings = self.settings("fid")
        return generate(self.model, settings["n_samples"], settings["batch_size"], self.seed, progress=True)

    @cached_property
    def classifier(self):
        """The dataset's FID feature net (evaluation.fid.feature_model), on CPU."""
        if not self.feature_net_path:
            raise ConfigError(f"{self.exp.name}: this metric needs --feature-net (the dataset's classifier checkpoint)")
        from genlab.checkpoints import trained_model
        feature_exp = experiment(self.params, self.exp.dataset_name, self.settings("fid")["feature_model"])
        return trained_model(feature_exp, self.dataset, self.feature_net_path, "cpu")

