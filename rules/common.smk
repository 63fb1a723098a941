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
METRIC_FILES = gcfg.METRIC_FILES  # flat metrics JSON (DVC metrics), curves CSV (DVC plots)

wildcard_constraints:
    dataset=r"[a-z][a-z0-9_]*",
    model=r"[a-z][a-z0-9_]*",
    metric="|".join(METRIC_FILES),
    ext=r"json|csv",


def experiment_hash(wildcards):
    """Changes when the experiment's config does: Snakemake's params trigger reruns its jobs."""
    return gcfg.experiment(config, wildcards.dataset, wildcards.model).hash


def feature_net(wildcards):
    return f"results/{wildcards.dataset}/{config['evaluation']['fid']['feature_model']}/checkpoint.pt"


def metric_outputs(experiments):
    return [f"results/{e['dataset']}/{e['model']}/{METRIC_FILES[m]}" for e in experiments for m in e["metrics"]]


def is_image(dataset):
    return config["datasets"][dataset]["kind"] in gcfg.IMAGE_KINDS


# grid figures draw from one samples file per experiment, large enough for the largest grid
SAMPLE_COUNT = max([figure["grid"] ** 2 for figure in config["figures"].values() if "grid" in figure], default=1)


def figure_outputs(name=None):
    names = [name] if name else list(config["figures"])
    return expand("figures/{name}.{ext}", name=[f for n in names for f in gcfg.FIGURE_FILES[n]], ext=["pdf", "png"])


TABLE_DATASETS = sorted({e["dataset"] for e in EXPERIMENTS if set(e["metrics"]) & gcfg.TABLE_METRICS})
TABLES = expand("results/tables/{dataset}.{ext}", dataset=TABLE_DATASETS, ext=["csv", "tex", "json"])
DATA = expand("data/processed/{dataset}.npz", dataset=sorted({e["dataset"] for e in EXPERIMENTS}))
CHECKPOINTS = [f"results/{e['dataset']}/{e['model']}/checkpoint.pt" for e in EXPERIMENTS]
ANALYSES = [f"results/analysis/{name}.{ext}" for name in gcfg.ANALYSIS_TABLES
            if name in config["figures"] for ext in ("csv", "tex", "json")]
ALL_TARGETS = DATA + CHECKPOINTS + metric_outputs(EXPERIMENTS) + figure_outputs() + TABLES + ANALYSES
