"""Load and validate params files against params/schema.yaml (the same schema the Snakefile uses), check
the cross-references a schema cannot express, and hand out typed experiment objects."""

from __future__ import annotations

import copy
import hashlib
import json
import math
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
# Training options that do not change the trained function, so they are left out of the config hash:
# raising `steps` continues from the last checkpoint instead of refusing it; sample grids are drawn in a forked
# RNG (genlab.live), so adding them to a half-trained run resumes it.
UNHASHED_TRAINING_KEYS = ("steps", "checkpoint_every", "log_every", "sample_every", "sample_grid")


# libyaml's parser where PyYAML was built with it (its wheels are): the same documents ten times faster, which
# every CLI call pays for the params file (1400 lines once resolved)
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(stream: Any) -> Any:
    """yaml.safe_load, with libyaml when available."""
    return yaml.load(stream, Loader=_YAML_LOADER)


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    with open(SCHEMA_PATH) as handle:
        return load_yaml(handle)


def _where(error: jsonschema.ValidationError) -> str:
    return ".".join(str(part) for part in error.absolute_path) or "<top level>"


def validate(params: dict[str, Any], source: str = "params") -> dict[str, Any]:
    """Raise ConfigError with one line naming the offending key; return params unchanged otherwise."""
    if not isinstance(params, dict):
        raise ConfigError(f"{source}: expected a mapping of parameters at the top level, got "
                          f"{type(params).__name__}")
    _check_finite(params, source)
    validator = jsonschema.Draft202012Validator(schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(params))
    if error is not None:
        raise ConfigError(f"{source}: {_where(error)}: {error.message} (see params/schema.yaml)")
    check_references(params, source)
    return params


def _check_finite(value: Any, source: str, where: tuple = ()) -> None:
    """YAML reads .nan and .inf as numbers and JSON Schema's bounds do not catch them (nan < 0 is false):
    refuse them here, before a learning rate of nan reaches the optimizer."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{source}: {'.'.join(map(str, where)) or '<top level>'}: {value} is not a finite "
                          f"number (see params/schema.yaml)")
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        _check_finite(child, source, (*where, key))


SAMPLE_GRID = 8  # samples per side of a live sample grid unless training.sample_grid says (genlab.live)
IMAGE_KINDS = ("digits", "mnist28", "mnist", "cifar10")  # labelled image datasets: FID, feature net, sample grids


def evaluation_block(params: dict[str, Any], dataset: str, model: str, block: str) -> dict[str, Any] | None:
    """The evaluation block that experiment dataset/model reads: ``evaluation.<block>`` with the experiment's
    own ``evaluation.<block>`` keys over it (None if the params have no such block)."""
    base = params["evaluation"].get(block)
    entry = next(e for e in params["experiments"] if (e["dataset"], e["model"]) == (dataset, model))
    override = entry.get("evaluation", {}).get(block)
    return {**base, **override} if base is not None and override else base


def check_references(params: dict[str, Any], source: str = "params") -> None:
    """Cross-references a schema cannot express: experiments name declared datasets and models, once each,
    and a model built on a pretrained one (ScoreVAE) finds it. What the metric and figure registries add
    (capabilities, dataset kinds, figure blocks) is checked by genlab.validation, above them."""
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
    for i, exp in enumerate(params["experiments"]):
        pretrained = models[exp["model"]].get("pretrained")
        if pretrained is None:
            continue
        if models.get(pretrained, {}).get("family") != "diffusion":
            raise ConfigError(f"{source}: models.{exp['model']}.pretrained: {pretrained!r} must be a declared "
                              f"model of family diffusion (the frozen score model)")
        if (exp["dataset"], pretrained) not in pairs:
            raise ConfigError(f"{source}: experiments.{i}: {exp['model']!r} starts from {exp['dataset']}/{pretrained}, "
                              f"so that must be an experiment too (its checkpoint is the pretrained model)")


def load_params(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"params file {path} does not exist (try params/default.yaml)")
    try:
        with open(path) as handle:
            params = load_yaml(handle)
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
    ``pretrained_experiment`` says where its weights come from. The experiment's own ``training`` keys (its
    number of steps) stand over the block's."""
    for exp in params["experiments"]:
        if exp["dataset"] == dataset and exp["model"] == model:
            block = params["models"][model]
            if "training" in exp:
                block = {**block, "training": {**block["training"], **exp["training"]}}
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
