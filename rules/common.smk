# Config validation and the helpers the rules call. Paths come from genlab.paths, target lists from
# genlab.pipeline, metrics and figures from their registries: nothing here spells a path or lists a metric.
import genlab.config as gcfg
from genlab import forkserver, paths, pipeline
from genlab.figures import FIGURES
from genlab.validation import validate

# the schema, the cross-references and the registries (one line naming the key); with --config smoke=True, every
# count of work shrunk (genlab/smoke.py): the rules, the hashes and the CLI all see the shrunk params
config.update(validate(config, "config"))

# The CLI reads the same (merged, validated) config that Snakemake sees, including --config overrides.
PARAMS = gcfg.write_resolved_params(config, paths.PARAMS)


wildcard_constraints:
    dataset=r"[a-z][a-z0-9_]*",
    model=r"[a-z][a-z0-9_]*",


def experiment_hash(wildcards):
    """Changes when the experiment's config does: Snakemake's params trigger reruns its jobs."""
    return gcfg.experiment(config, wildcards.dataset, wildcards.model).hash


def dataset_hash(wildcards):
    return gcfg.config_hash(config["datasets"][wildcards.dataset])


def run_dir(wildcards):
    return paths.run_dir(wildcards.dataset, wildcards.model)


def train_inputs(wildcards):
    return pipeline.train_inputs(config, wildcards.dataset, wildcards.model)


def pretrained_flag(wildcards, input):
    return f"--pretrained {input.pretrained}" if "pretrained" in input.keys() else ""


def launcher(wildcards, resources):
    """More than one GPU requested (e.g. --set-resources train:gpu=4): data-parallel over them."""
    gpus = int(resources.get("gpu", 0))
    return f"torchrun --standalone --nproc_per_node {gpus} -m genlab.cli" if gpus > 1 else "genlab"


# The resources of every evaluation job (rules/evaluate.smk; a GPU on clusters, undeclared locally): set here
# because the profile's set-resources names rules one by one, and each experiment has its own evaluate rule.
EVALUATION_RESOURCES = {"gpu": 1, "mem_mb": 16000, "runtime": 240}


def metric_flags(dataset, model):
    """--metric NAME --out FILE for each metric of the experiment, in its order, then --samples FILE
    --samples-n N where a figure draws from its samples (in the job's params: a new count reruns it; the
    other experiments' params are as before the samples moved here, so a finished run stays finished)."""
    outputs = pipeline.evaluation_outputs(config, dataset, model)
    flags = " ".join(f"--metric {name} --out {path}" for name, path in outputs.items())
    samples = pipeline.samples_output(config, dataset, model)
    return f"{flags} --samples {samples} --samples-n {pipeline.sample_count(config, dataset)}" if samples else flags


def feature_net_flag(wildcards, input):
    return f"--feature-net {input.feature_net}" if "feature_net" in input.keys() else ""


def samples_output(dataset, model):
    path = pipeline.samples_output(config, dataset, model)
    return {"samples": path} if path else {}


def table_inputs(wildcards):
    return pipeline.table_inputs(config, wildcards.dataset)


def kde_settings(wildcards):
    return gcfg.config_hash([config["seed"], config["figures"]["kde_curse"]])


def speed_settings(wildcards):
    study = config["figures"]["multiscale"]
    return gcfg.config_hash([config["seed"], study, [config["models"][m] for m in study["models"]]])


def cdsm_settings(wildcards):
    study = config["figures"]["cdsm_consistency"]
    return gcfg.config_hash([config["seed"], study, config["datasets"][wildcards.dataset],
                             [config["models"][m] for m in study["estimators"]]])


def autoencoder_settings(wildcards):
    block = config["figures"]["autoencoder_dim"]
    return gcfg.config_hash([config["seed"], block["autoencoder"], block["latent_sizes"][wildcards.dataset],
                             config["datasets"][wildcards.dataset]])


def cdsm_run_dir(wildcards):
    return paths.cdsm_runs(wildcards.dataset)


def figure_inputs(name):
    return {"notebook": FIGURES[name].notebook, **FIGURES[name].input_files(config)}


def figure_outputs(name):
    """The figure job's outputs, named; PNGs and the table's CSV go into the Snakemake report with the
    captions the job writes from the spec."""
    figure = FIGURES[name]
    outputs = {}
    for stem in figure.files:
        caption = f"../{paths.caption(stem)}"  # relative to this rules/ folder
        outputs[f"{stem}_pdf"] = paths.figure(stem, "pdf")
        outputs[f"{stem}_png"] = report(paths.figure(stem, "png"), caption=caption, category=figure.category)
        outputs[f"{stem}_caption"] = paths.caption(stem)
    for ext, path in figure.table_files().items():
        first = f"../{paths.caption(next(iter(figure.files)))}"
        outputs[ext] = report(path, caption=first, category=figure.category) if ext == "csv" else path
    outputs["executed"] = paths.executed_notebook(name)
    return outputs


def reproduction_inputs(wildcards):
    """The files the claims read that this params' DAG builds (the others are 'not run at this scale')."""
    from genlab.claims import claim_inputs, load_claims
    built = set(pipeline.all_targets(config))
    return [path for path in claim_inputs(load_claims("claims.yaml")) if path in built]
