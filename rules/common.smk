# Config validation, helpers and target lists. Paths derive from dataset and model names only.
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

import genlab.config as gcfg

try:
    validate(config, workflow.source_path("../params/schema.yaml"))
except WorkflowError:
    gcfg.validate(config, "config")  # re-raises as one line naming the offending key
    raise
gcfg.check_references(config, "config")

# The CLI reads the same (merged, validated) config that Snakemake sees, including --config overrides.
PARAMS = gcfg.write_resolved_params(config, "results/params.yaml")
EXPERIMENTS = config["experiments"]
METRIC_FILES = {"accuracy": "accuracy.json", "fid": "fid.json", "nll": "nll.json", "cost": "cost.json",
                "sweep": "sampler_sweep.csv"}

wildcard_constraints:
    dataset=r"[a-z][a-z0-9_]*",
    model=r"[a-z][a-z0-9_]*",
    metric=r"accuracy|fid|nll|cost",


def experiment_hash(wildcards):
    """Changes when the experiment's config does: Snakemake's params trigger reruns its jobs."""
    return gcfg.experiment(config, wildcards.dataset, wildcards.model).hash


def feature_net(wildcards):
    return f"results/{wildcards.dataset}/{config['evaluation']['fid']['feature_model']}/checkpoint.pt"


def metric_outputs(experiments):
    return [f"results/{e['dataset']}/{e['model']}/{METRIC_FILES[m]}" for e in experiments for m in e["metrics"]]


def figure_outputs():
    outputs = []
    if "diffusion_samplers" in config["figures"]:
        outputs += expand("figures/{name}.{ext}", name=["diffusion_samples", "fid_vs_nfe"], ext=["pdf", "png"])
    return outputs


TABLE_DATASETS = sorted({e["dataset"] for e in EXPERIMENTS if set(e["metrics"]) - {"accuracy"}})
TABLES = expand("results/tables/{dataset}.{ext}", dataset=TABLE_DATASETS, ext=["csv", "tex"])
DATA = expand("data/processed/{dataset}.npz", dataset=sorted({e["dataset"] for e in EXPERIMENTS}))
CHECKPOINTS = [f"results/{e['dataset']}/{e['model']}/checkpoint.pt" for e in EXPERIMENTS]
ALL_TARGETS = DATA + CHECKPOINTS + metric_outputs(EXPERIMENTS) + figure_outputs() + TABLES
