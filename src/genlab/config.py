"""Load and validate params files against params/schema.yaml (the same schema the Snakefile uses), check
the cross-references a schema cannot express, and hand out typed experiment objects."""

from __future__ import annotations

import copy
import hashlib
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from genlab.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = REPO_ROOT / "params" / "schema.yaml"
GENERATIVE_METRICS = {"fid", "nll", "cost", "sweep"}
# Training options that do not change the trained function, so they are left out of the config hash:
# raising `steps` continues from the last checkpoint instead of refusing it.
UNHASHED_TRAINING_KEYS = ("steps", "checkpoint_every", "log_every")


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    with open(SCHEMA_PATH) as handle:
        return yaml.safe_load(handle)


def _where(error: jsonschema.ValidationError) -> str:
    return ".".join(str(part) for part in error.absolute_path) or "<top level>"


def validate(params: dict[str, Any], source: str = "params") -> dict[str, Any]:
    """Raise ConfigError with one line naming the offending key; return params unchanged otherwise."""
    if not isinstance(params, dict):
        raise ConfigError(f"{source}: expected a mapping of parameters at the top level, got "
                          f"{type(params).__name__}")
    validator = jsonschema.Draft202012Validator(schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(params))
    if error is not None:
        raise ConfigError(f"{source}: {_where(error)}: {error.message} (see params/schema.yaml)")
    check_references(params, source)
    return params


# Where each metric is written under results/{dataset}/{model}/: flat metrics JSON, curves CSV.
METRIC_FILES = {"accuracy": "accuracy.json", "fid": "fid.json", "nll": "nll.json", "cost": "cost.json",
                "reconstruction": "reconstruction.json", "intrinsic_dim": "intrinsic_dim.json", "sweep": "sweep.csv",
                "modes": "modes.csv", "conditional": "conditional.json", "geodesic": "geodesic.json", "rae": "rae.json"}
# The metrics that make a row of a dataset's results table (results/tables/{dataset}.*).
TABLE_METRICS = {"fid", "nll", "cost", "reconstruction", "modes"}
# The figures/ files (PDF and PNG each) each figure block's notebook writes.
FIGURE_FILES = {"diffusion_samplers": ["diffusion_samples", "fid_vs_nfe"], "family_samples": ["family_samples"],
                "mode_collapse": ["mode_collapse"], "reconstructions": ["reconstructions"],
                "kde_curse": ["kde_curse"], "intrinsic_dim": ["intrinsic_dim_spectra"],
                "cdsm_consistency": ["cdsm_consistency"], "conditional_generation": ["conditional_generation"],
                "pullback_geodesics": ["pullback_geodesics"], "rae": ["rae_spectra"]}
# The metrics each figure reads from every experiment it draws.
FIGURE_METRICS = {"diffusion_samplers": {"sweep", "fid"}, "family_samples": {"fid"}, "mode_collapse": {"modes"},
                  "reconstructions": {"reconstruction"}, "kde_curse": set(), "intrinsic_dim": {"intrinsic_dim"},
                  "cdsm_consistency": set(), "conditional_generation": {"conditional"},
                  "pullback_geodesics": {"geodesic", "nll"}, "rae": {"rae"}}
# Figure blocks whose notebook also writes a table, results/analysis/{name}.{csv,tex,json}.
ANALYSIS_TABLES = ("intrinsic_dim", "conditional_generation", "reconstructions", "pullback_geodesics", "rae")
IMAGE_KINDS = ("digits", "mnist", "cifar10")
AUTOENCODERS = ("vae", "score_vae")  # families with encode/reconstruct: metric reconstruction


def needs_feature_net(metric: str, dataset_kind: str) -> bool:
    """Whether evaluating ``metric`` reads the dataset's FID feature net (classifier experiment)."""
    return metric in ("fid", "sweep", "conditional") or (metric in ("modes", "reconstruction")
                                                         and dataset_kind in IMAGE_KINDS)


def figure_experiments(figure: dict[str, Any]) -> list[tuple[str, str]]:
    """The (dataset, model) experiments a figure block draws: `dataset`/`datasets` x `model`/`models`."""
    datasets = figure.get("datasets", [figure["dataset"]] if "dataset" in figure else [])
    models = figure.get("models", [figure["model"]] if "model" in figure else [])
    return [(dataset, model) for dataset in datasets for model in models]


def check_references(params: dict[str, Any], source: str = "params") -> None:
    """Cross-references: experiments name declared datasets/models; metrics fit the family and data."""
    datasets, models = params["datasets"], params["models"]
    pairs = set()
    for i, exp in enumerate(params["experiments"]):
        where = f"{source}: experiments.{i}"
        if exp["dataset"] not in datasets:
            raise ConfigError(f"{where}.dataset: unknown dataset {exp['dataset']!r}; declared: "
                              f"{sorted(datasets)}")
        if exp["model"] not in models:
            raise ConfigError(f"{where}.model: unknown model {exp['model']!r}; declared: {sorted(models)}")
        pair = (exp["dataset"], exp["model"])
        if pair in pairs:
            raise ConfigError(f"{where}: experiment {pair[0]}/{pair[1]} is listed twice")
        pairs.add(pair)
        family = models[exp["model"]]["family"]
        metrics = set(exp["metrics"])
        if family == "classifier" and metrics - {"accuracy"}:
            raise ConfigError(f"{where}.metrics: a classifier supports only 'accuracy', got "
                              f"{sorted(metrics - {'accuracy'})}")
        if family != "classifier" and "accuracy" in metrics:
            raise ConfigError(f"{where}.metrics: 'accuracy' is for classifier models only")
        if "sweep" in metrics and family != "diffusion":
            raise ConfigError(f"{where}.metrics: the sampler 'sweep' needs a diffusion model, "
                              f"{exp['model']!r} is {family}")
        if "intrinsic_dim" in metrics and family != "diffusion":
            raise ConfigError(f"{where}.metrics: 'intrinsic_dim' needs a score model (diffusion), "
                              f"{exp['model']!r} is {family}")
        if (family == "conditional") != (metrics == {"conditional"}):
            raise ConfigError(f"{where}.metrics: a conditional model ({exp['model']!r} is {family}) is evaluated by "
                              f"metric 'conditional' alone, and 'conditional' needs family conditional")
        for metric in metrics & {"geodesic", "rae"}:
            if family != "pullback":
                raise ConfigError(f"{where}.metrics: {metric!r} needs a pullback flow, {exp['model']!r} is {family}")
            if metric not in params["evaluation"]:
                raise ConfigError(f"{where}.metrics: {metric!r} needs an evaluation.{metric} block (see params/README.md)")
        if "geodesic" in metrics and datasets[exp["dataset"]]["kind"] != "banana":
            raise ConfigError(f"{where}.metrics: 'geodesic' needs known geodesics (a banana dataset), "
                              f"{exp['dataset']!r} is {datasets[exp['dataset']]['kind']}")
        if "reconstruction" in metrics and family not in AUTOENCODERS:
            raise ConfigError(f"{where}.metrics: 'reconstruction' needs an auto-encoder {AUTOENCODERS}, "
                              f"{exp['model']!r} is {family}")
        pretrained = models[exp["model"]].get("pretrained")
        if pretrained is not None:
            if models.get(pretrained, {}).get("family") != "diffusion":
                raise ConfigError(f"{source}: models.{exp['model']}.pretrained: {pretrained!r} must be a declared "
                                  f"model of family diffusion (the frozen score model)")
            if (exp["dataset"], pretrained) not in {(e["dataset"], e["model"]) for e in params["experiments"]}:
                raise ConfigError(f"{where}: {exp['model']!r} starts from {exp['dataset']}/{pretrained}, so that "
                                  f"must be an experiment too (its checkpoint is the pretrained model)")
        if "modes" in metrics and datasets[exp["dataset"]]["kind"] not in (*IMAGE_KINDS, "ring", "gaussian_mixture"):
            raise ConfigError(f"{where}.metrics: 'modes' needs labelled images or a Gaussian mixture, "
                              f"{exp['dataset']!r} is {datasets[exp['dataset']]['kind']}")
        if metrics & {"fid", "accuracy", "conditional"}:
            kind = datasets[exp["dataset"]]["kind"]
            if kind not in IMAGE_KINDS:
                raise ConfigError(f"{where}.metrics: fid/accuracy/conditional need a labelled image dataset, "
                                  f"{exp['dataset']!r} is {kind}")
    fid_model = params["evaluation"]["fid"]["feature_model"]
    for exp in params["experiments"]:
        kind = datasets[exp["dataset"]]["kind"]
        if any(needs_feature_net(m, kind) for m in exp["metrics"]) and (exp["dataset"], fid_model) not in pairs:
            raise ConfigError(f"{source}: evaluation.fid.feature_model: experiment {exp['dataset']}/"
                              f"{exp['model']} asks for fid, so {exp['dataset']}/{fid_model} must be an "
                              f"experiment too (the FID feature net)")
        if "fid" in exp["metrics"] and models[fid_model]["family"] != "classifier":
            raise ConfigError(f"{source}: evaluation.fid.feature_model: {fid_model!r} must be a classifier")
    study = params["figures"].get("cdsm_consistency")
    for dataset in study["datasets"] if study else []:
        if datasets.get(dataset, {}).get("kind") != "conditional_mixture":
            raise ConfigError(f"{source}: figures.cdsm_consistency.datasets: {dataset!r} must be a declared "
                              f"dataset of kind conditional_mixture (its conditional score is analytic)")
    for model in study["estimators"] if study else []:
        block = models.get(model, {})
        if block.get("family") != "conditional" or block["condition"]["kind"] != "given":
            raise ConfigError(f"{source}: figures.cdsm_consistency.estimators: {model!r} must be a declared model "
                              f"of family conditional with condition {{kind: given}}")
    for name, figure in params["figures"].items():
        for dataset, model in figure_experiments(figure):
            exp = next((e for e in params["experiments"] if (e["dataset"], e["model"]) == (dataset, model)), None)
            if exp is None:
                raise ConfigError(f"{source}: figures.{name}: {dataset}/{model} is not an experiment")
            if not FIGURE_METRICS[name] <= set(exp["metrics"]):
                raise ConfigError(f"{source}: figures.{name}: experiment {dataset}/{model} must list metrics "
                                  f"{sorted(FIGURE_METRICS[name])}")
            if name == "mode_collapse" and not models[model]["training"].get("snapshots"):
                raise ConfigError(f"{source}: figures.{name}: models.{model}.training.snapshots must list the "
                                  f"steps whose weights the figure draws")
        if name == "diffusion_samplers":
            feature = [e for e in params["experiments"] if (e["dataset"], e["model"]) ==
                       (figure["dataset"], params["evaluation"]["fid"]["feature_model"])]
            if not (feature and "accuracy" in feature[0]["metrics"]):
                raise ConfigError(f"{source}: figures.{name}: the feature net experiment {figure['dataset']}/"
                                  f"{params['evaluation']['fid']['feature_model']} must list metric 'accuracy' "
                                  f"(the figure draws its held-out FID floor)")


def load_params(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"params file {path} does not exist (try params/default.yaml)")
    try:
        with open(path) as handle:
            params = yaml.safe_load(handle)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: not valid YAML ({getattr(error, 'problem', error)})") from error
    return validate(params, str(path))


def config_hash(obj: Any) -> str:
    """Short stable hash of a JSON-serialisable object (key order does not matter)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Experiment:
    """A named model config trained on a named dataset; every file path derives from these names."""

    dataset_name: str
    model_name: str
    dataset: dict[str, Any]
    model: dict[str, Any]
    metrics: tuple[str, ...]
    seed: int
    device: str

    @property
    def name(self) -> str:
        return f"{self.dataset_name}/{self.model_name}"

    @property
    def family(self) -> str:
        return self.model["family"]

    @property
    def training(self) -> dict[str, Any]:
        return self.model["training"]

    def resolved(self) -> dict[str, Any]:
        """Everything that determines the trained model (stored inside its checkpoint)."""
        return {"dataset_name": self.dataset_name, "dataset": self.dataset, "model_name": self.model_name,
                "model": self.model, "seed": self.seed}

    @property
    def hash(self) -> str:
        resolved = copy.deepcopy(self.resolved())
        for key in UNHASHED_TRAINING_KEYS:
            resolved["model"]["training"].pop(key, None)
        return config_hash(resolved)


def experiment(params: dict[str, Any], dataset: str, model: str) -> Experiment:
    """The experiment ``dataset``/``model``. A model block that names a ``pretrained`` model (ScoreVAE) gets
    that model's block in its place, so the hash covers the pretrained config and the family can build it;
    ``pretrained_experiment`` says where its weights come from."""
    for exp in params["experiments"]:
        if exp["dataset"] == dataset and exp["model"] == model:
            block = params["models"][model]
            if "pretrained" in block:
                block = {**block, "pretrained": params["models"][block["pretrained"]]}
            return Experiment(dataset, model, params["datasets"][dataset], block,
                              tuple(exp["metrics"]), params["seed"], params["device"])
    known = ", ".join(f"{e['dataset']}/{e['model']}" for e in params["experiments"])
    raise ConfigError(f"no experiment {dataset}/{model} in params; declared: {known}")


def pretrained_experiment(params: dict[str, Any], dataset: str, model: str) -> Experiment | None:
    """The experiment whose checkpoint model ``model`` starts from on ``dataset`` (None if it names none)."""
    name = params["models"][model].get("pretrained")
    return experiment(params, dataset, name) if name else None


def write_resolved_params(params: dict[str, Any], path: str | os.PathLike) -> str:
    """Write the validated, merged params where the CLI reads them; untouched when unchanged, so that
    re-parsing the Snakefile (every Slurm job does) does not rewrite it."""
    from genlab.io import write_text
    text = yaml.safe_dump(json.loads(json.dumps(params)), sort_keys=False)
    path = Path(path)
    if not path.exists() or path.read_text() != text:
        write_text(path, text)
    return str(path)
