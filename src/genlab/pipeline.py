"""What the DAG builds for a params file: the target lists and per-job inputs that the Snakemake rules, the
DVC stages and the CLI share. Paths come from genlab.paths, metrics from the metric registry and figures from
the figure registry, so nothing here spells a path."""

from __future__ import annotations

from typing import Any

from genlab import paths
from genlab.config import IMAGE_KINDS, pretrained_experiment
from genlab.evaluation import METRICS, get
from genlab.figures import FIGURES


def experiments(params: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["dataset"], e["model"]) for e in params["experiments"]]


def datasets(params: dict[str, Any]) -> list[str]:
    """The datasets the DAG reads: the experiments' and the CDSM consistency study's."""
    study = params["figures"].get("cdsm_consistency", {}).get("datasets", [])
    return sorted({d for d, _ in experiments(params)} | set(study))


def data_files(params: dict[str, Any]) -> list[str]:
    return [paths.data(d) for d in datasets(params)]


def checkpoints(params: dict[str, Any]) -> list[str]:
    return [paths.checkpoint(d, m) for d, m in experiments(params)]


def train_logs(params: dict[str, Any]) -> list[str]:
    return [paths.train_log(d, m) for d, m in experiments(params)]


def metric_files(params: dict[str, Any]) -> list[tuple[str, str]]:
    """(path, metric name) of every metric file the experiments list."""
    return [(get(name).path(e["dataset"], e["model"]), name) for e in params["experiments"] for name in e["metrics"]]


def train_inputs(params: dict[str, Any], dataset: str, model: str) -> dict[str, str]:
    """The data, and for a model on top of a pretrained one (ScoreVAE) that model's checkpoint."""
    inputs = {"data": paths.data(dataset)}
    pretrained = pretrained_experiment(params, dataset, model)
    if pretrained is not None:
        inputs["pretrained"] = paths.checkpoint(dataset, pretrained.model_name)
    return inputs


def feature_net(params: dict[str, Any], dataset: str) -> str:
    return paths.checkpoint(dataset, params["evaluation"]["fid"]["feature_model"])


def experiment_metrics(params: dict[str, Any], dataset: str, model: str) -> list[str]:
    """The metrics an experiment lists (in its order), evaluated together by one job."""
    return next(e["metrics"] for e in params["experiments"] if (e["dataset"], e["model"]) == (dataset, model))


def evaluation_outputs(params: dict[str, Any], dataset: str, model: str) -> dict[str, str]:
    """metric name -> the file its evaluation writes, for one experiment."""
    return {name: get(name).path(dataset, model) for name in experiment_metrics(params, dataset, model)}


def evaluation_inputs(params: dict[str, Any], dataset: str, model: str) -> dict[str, str]:
    """Data and checkpoint, plus the FID feature net if any of the experiment's metrics reads it."""
    inputs = {"data": paths.data(dataset), "checkpoint": paths.checkpoint(dataset, model)}
    kind = params["datasets"][dataset]["kind"]
    if any(get(name).needs_feature_net(kind) for name in experiment_metrics(params, dataset, model)):
        inputs["feature_net"] = feature_net(params, dataset)
    return inputs


def evaluation_settings(params: dict[str, Any], dataset: str, model: str) -> list[Any]:
    """The evaluation blocks the experiment's metrics read (hashed into its evaluation job's params)."""
    return [get(name).settings_of(params, dataset, model) for name in experiment_metrics(params, dataset, model)]


def is_image(params: dict[str, Any], dataset: str) -> bool:
    return params["datasets"][dataset]["kind"] in IMAGE_KINDS


def sample_count(params: dict[str, Any], dataset: str) -> int:
    """Samples drawn per experiment for figures: enough for the largest grid (images), or for a scatter plot."""
    grids = [block["grid"] ** 2 for block in params["figures"].values() if "grid" in block]
    return max(grids, default=1) if is_image(params, dataset) else 1000


def sample_files(params: dict[str, Any]) -> list[str]:
    return sorted({path for name in params["figures"] for path in FIGURES[name].input_files(params).get("samples", [])})


def samples_output(params: dict[str, Any], dataset: str, model: str) -> str | None:
    """The experiment's samples file if a figure draws from it: its evaluation job writes it (the model is
    loaded there already; a job of its own cost a process start more than the drawing)."""
    path = paths.samples(dataset, model)
    return path if path in sample_files(params) else None


TABLE_METRICS = tuple(name for name, metric in METRICS.items() if metric.columns)  # a row of a dataset's table


def table_datasets(params: dict[str, Any]) -> list[str]:
    return sorted({e["dataset"] for e in params["experiments"] if set(e["metrics"]) & set(TABLE_METRICS)})


def table_runs(params: dict[str, Any], dataset: str) -> list[dict[str, Any]]:
    """The rows of a dataset's table: each experiment with the metric files that fill its columns (and the
    feature net's accuracy file, the held-out FID floor)."""
    runs = []
    for e in params["experiments"]:
        if e["dataset"] != dataset:
            continue
        read = [m for m in e["metrics"] if m in TABLE_METRICS or m == "accuracy"]
        runs.append({"model": e["model"], "family": params["models"][e["model"]]["family"],
                     "metrics": {m: get(m).path(dataset, e["model"]) for m in read}})
    return runs


def table_inputs(params: dict[str, Any], dataset: str) -> list[str]:
    return [path for run in table_runs(params, dataset) for path in run["metrics"].values()]


def table_files(params: dict[str, Any]) -> list[str]:
    return [paths.table(d, ext) for d in table_datasets(params) for ext in ("csv", "tex", "json")]


def analysis_files(params: dict[str, Any]) -> list[str]:
    """Curves that analyses compute outside any experiment (the KDE study, the CDSM consistency study): the
    `curves` inputs of the figures that draw them."""
    return [path for name in params["figures"] for path in FIGURES[name].input_files(params).get("curves", [])]


def figure_outputs(params: dict[str, Any]) -> list[str]:
    return [path for name in params["figures"] for path in FIGURES[name].outputs()]


def reproduction_files() -> list[str]:
    return [paths.reproduction(ext) for ext in ("md", "json")]


def all_targets(params: dict[str, Any]) -> list[str]:
    """Everything `snakemake all` builds."""
    return [*data_files(params), *checkpoints(params), *(path for path, _ in metric_files(params)),
            *sample_files(params), *analysis_files(params), *figure_outputs(params), *table_files(params),
            *reproduction_files()]
