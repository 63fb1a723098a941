"""Params checked against the plug-in registries: a metric against the family's declared capabilities, the
dataset's kind and the evaluation blocks it reads; a figure block against its spec. genlab.config checks the
schema and the plain cross-references; this module stands above the registries and adds what they declare.
The CLI and the Snakefile load params through here."""

from __future__ import annotations

import os
from typing import Any

import jsonschema

from genlab import config, smoke
from genlab.errors import ConfigError
from genlab.evaluation import METRICS
from genlab.families import CAPABILITIES
from genlab.figures import FIGURES


def validate(params: dict[str, Any], source: str = "params") -> dict[str, Any]:
    """The schema, the cross-references and the registries' requirements (one line naming the key); returns
    the params to run: shrunk by the smoke switch when it is on (genlab.smoke)."""
    config.validate(params, source)
    check_plugins(params, source)
    return smoke.apply(params)


def load_params(path: str | os.PathLike) -> dict[str, Any]:
    params = config.load_params(path)
    check_plugins(params, str(path))
    return smoke.apply(params)


def _check_overrides(params: dict[str, Any], exp: dict[str, Any], where: str) -> None:
    """An experiment's ``evaluation`` names blocks its metrics read, and each merged block fits the schema."""
    read = {block for name in exp["metrics"] for block in METRICS[name].settings}
    for block in exp.get("evaluation", {}):
        if block not in read:
            raise ConfigError(f"{where}.evaluation.{block}: its metrics {exp['metrics']} read no such block "
                              f"(they read {sorted(read)})")
        merged = config.evaluation_block(params, exp["dataset"], exp["model"], block)
        block_schema = {**config.schema()["properties"]["evaluation"]["properties"][block],
                        "$defs": config.schema()["$defs"]}
        error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(block_schema).iter_errors(merged))
        if error is not None:
            raise ConfigError(f"{where}.evaluation.{block}: {error.message} (see params/schema.yaml)")


def check_plugins(params: dict[str, Any], source: str = "params") -> None:
    """Each metric suits the family's declared capabilities, the dataset's kind and the evaluation blocks
    present (the metric registry); the feature net exists where a metric reads it; each figure block fits
    its spec (the figure registry)."""
    datasets, models, evaluation = params["datasets"], params["models"], params["evaluation"]
    pairs = {(e["dataset"], e["model"]) for e in params["experiments"]}
    for i, exp in enumerate(params["experiments"]):
        where = f"{source}: experiments.{i}"
        family, kind = models[exp["model"]]["family"], datasets[exp["dataset"]]["kind"]
        capabilities = CAPABILITIES[family]
        for name in exp["metrics"]:
            metric = METRICS[name]
            if not metric.requires <= capabilities:
                raise ConfigError(f"{where}.metrics: {name!r} needs a family with capabilities "
                                  f"{sorted(metric.requires)}; {exp['model']!r} is {family}, whose capabilities are "
                                  f"{sorted(capabilities)} (genlab/families)")
            if not metric.supports(kind):
                raise ConfigError(f"{where}.metrics: {name!r} needs a dataset of kind "
                                  f"{'/'.join(metric.kinds)}; {exp['dataset']!r} is {kind}")
            for block in (*metric.settings, *(("fid",) if metric.needs_feature_net(kind) else ())):
                if block not in evaluation:
                    raise ConfigError(f"{where}.metrics: {name!r} needs an evaluation.{block} block (see "
                                      f"params/README.md)")
        _check_overrides(params, exp, where)
    for exp in params["experiments"]:
        kind = datasets[exp["dataset"]]["kind"]
        if not any(METRICS[m].needs_feature_net(kind) for m in exp["metrics"]):
            continue
        fid_model = evaluation["fid"]["feature_model"]
        if (exp["dataset"], fid_model) not in pairs:
            raise ConfigError(f"{source}: evaluation.fid.feature_model: experiment {exp['dataset']}/"
                              f"{exp['model']} asks for metrics read through the feature net, so "
                              f"{exp['dataset']}/{fid_model} must be an experiment too (the FID feature net)")
        if models[fid_model]["family"] != "classifier":
            raise ConfigError(f"{source}: evaluation.fid.feature_model: {fid_model!r} must be a classifier")
    listed = {(e["dataset"], e["model"]): set(e["metrics"]) for e in params["experiments"]}
    for name, block in params["figures"].items():
        where = f"{source}: figures.{name}"
        if name not in FIGURES:
            raise ConfigError(f"{where}: unknown figure; known: {sorted(FIGURES)} (see genlab/figures.py)")
        figure = FIGURES[name]
        error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(figure.schema).iter_errors(block))
        if error is not None:
            path = ".".join(str(part) for part in error.absolute_path)
            raise ConfigError(f"{where}{'.' + path if path else ''}: {error.message} (see params/README.md)")
        for dataset, model in figure.runs(params):
            if (dataset, model) not in listed:
                raise ConfigError(f"{where}: {dataset}/{model} is not an experiment")
            if not set(figure.reads) <= listed[dataset, model]:
                raise ConfigError(f"{where}: experiment {dataset}/{model} must list metrics {sorted(figure.reads)}")
        message = figure.check(params, block) if figure.check else None
        if message:
            raise ConfigError(f"{where}: {message}")
