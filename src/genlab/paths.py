"""Where every pipeline file lives: the one place a path template is written.

Rules, DVC stages, tables, figures, claims and the CLI all call these functions. Each takes names (a
dataset, a model, a metric, a figure) and returns a repo-relative path; called with Snakemake wildcards
("{dataset}", "{model}") it returns the rule's pattern. Light on purpose: no torch, no genlab imports."""

from __future__ import annotations

PARAMS = "results/params.yaml"  # the validated, merged params the CLI reads (written by the Snakefile)
RAW_DIR = "data/raw"  # MNIST / CIFAR-10 files staged by the user (clusters)


def data(dataset: str) -> str:
    return f"data/processed/{dataset}.npz"


def run_dir(dataset: str, model: str) -> str:
    """The folder of one experiment: its checkpoint, training log, samples and metric files."""
    return f"results/{dataset}/{model}"


# A run's live training log (genlab.live), in DVCLive's layout: series, sample grids, the latest values
LIVE_DIR, LIVE_METRICS, LIVE_IMAGES, LIVE_SUMMARY = "dvclive", "plots/metrics", "plots/images", "metrics.json"


def live(dataset: str, model: str) -> str:
    """The run's live training log, written while it trains (not a Snakemake output: it survives a kill)."""
    return f"{run_dir(dataset, model)}/{LIVE_DIR}"


def checkpoint(dataset: str, model: str) -> str:
    return f"{run_dir(dataset, model)}/checkpoint.pt"


def train_log(dataset: str, model: str) -> str:
    return f"{run_dir(dataset, model)}/train_log.csv"


def samples(dataset: str, model: str) -> str:
    return f"{run_dir(dataset, model)}/samples.npz"


def metric(dataset: str, model: str, name: str, ext: str) -> str:
    """A metric file: flat metrics as {name}.json (DVC metrics), curves as {name}.csv (DVC plots)."""
    return f"{run_dir(dataset, model)}/{name}.{ext}"


def table(dataset: str, ext: str) -> str:
    """The per-dataset comparison table (one row per experiment)."""
    return f"results/tables/{dataset}.{ext}"


def analysis(name: str, ext: str) -> str:
    """A figure's own table, or an analysis's curves (kde_curse)."""
    return f"results/analysis/{name}.{ext}"


def cdsm_curves(dataset: str) -> str:
    return f"results/analysis/cdsm/{dataset}.csv"


def autoencoder_curves(dataset: str) -> str:
    """Held-out reconstruction error against latent size on one dataset (the auto-encoder check)."""
    return f"results/analysis/autoencoder_dim/{dataset}.csv"


def cdsm_runs(dataset: str) -> str:
    return f"results/cdsm_runs/{dataset}"


def figure(stem: str, ext: str) -> str:
    return f"figures/{stem}.{ext}"


def executed_notebook(name: str) -> str:
    """The executed copy of a notebook (papermill), kept for inspection."""
    return f"results/notebooks/{name}.ipynb"


def caption(name: str) -> str:
    """A figure's caption for the Snakemake report, written by the figure job from its spec."""
    return f"results/captions/{name}.rst"


LOGS = "results/logs"


def log(kind: str, name: str) -> str:
    return f"{LOGS}/{kind}/{name}.log"


def log_key(path: str) -> tuple[str, str]:
    """(kind, name) of a job's log file: the inverse of `log`."""
    prefix, suffix = f"{LOGS}/", ".log"
    if not (path.startswith(prefix) and path.endswith(suffix)):
        raise ValueError(f"{path} is not a job log ({log('<kind>', '<name>')})")
    kind, _, name = path[len(prefix):-len(suffix)].partition("/")
    return kind, name


def benchmark(kind: str, name: str) -> str:
    """A Snakemake benchmark file (wall time, memory, CPU) of one job: every rule that has log(kind, name)
    has this one too, so a job's cost is found from its log (genlab.jobcosts)."""
    return f"results/benchmarks/{kind}/{name}.tsv"


def reproduction(ext: str) -> str:
    """The reproduction report (md, json): each claim of the thesis, the paper's value, ours and a verdict."""
    return f"results/reproduction.{ext}"
