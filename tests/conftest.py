import copy
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from genlab import forkserver, paths
from genlab.data.mixtures import GaussianMixture

REPO = Path(__file__).resolve().parents[1]

if os.environ.get("PYTEST_XDIST_WORKER"):  # pytest -n: the workers share the cores; one torch thread each,
    torch.set_num_threads(1)  # in the worker and in the processes its tests start (torch's default there is one
    os.environ["OMP_NUM_THREADS"] = "1"  # thread per core: OpenMP threads spinning on cores the other worker uses)


# The slowest modules, longest first (their times: `pytest --durations`, README's test section). pytest -n with
# --dist loadscope --no-loadscope-reorder hands modules to the workers in this order, so the long ones start at
# once instead of leaving one worker busy at the end.
SLOWEST_FIRST = ("test_thesis_miniature.py", "test_pipeline.py", "test_intrinsic_dim.py", "test_family_likelihoods.py",
                 "test_gpu_route.py", "test_train.py", "test_live.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture
def mixture_2d() -> GaussianMixture:
    """A 3-component 2-D mixture with full, anisotropic covariances and unequal weights."""
    return GaussianMixture(
        weights=torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64),
        means=torch.tensor([[-2.0, 0.0], [1.5, 1.5], [1.0, -2.0]], dtype=torch.float64),
        covariances=torch.tensor([[[0.30, 0.10], [0.10, 0.20]], [[0.15, -0.05], [-0.05, 0.25]],
                                  [[0.40, 0.00], [0.00, 0.10]]], dtype=torch.float64))


def analytic_score_fn(mixture, sde):
    """The exact score of the mixture perturbed by the SDE's kernel at time t (a (B,) tensor)."""
    def score(x, t):
        alpha, sigma = sde.marginal_coefficients(t.double())
        return mixture.score(x, alpha, sigma).to(x.dtype)
    return score


def small_params() -> dict:
    """params/default.yaml shrunk to seconds of CPU: same experiments, tiny networks and sample counts."""
    params = yaml.safe_load((REPO / "params" / "default.yaml").read_text())
    params = copy.deepcopy(params)
    for experiment in params["experiments"]:  # the tiny evaluation blocks below hold for every experiment
        experiment.pop("evaluation", None)
    for model in params["models"].values():
        training = model["training"]
        if training["steps"] > 0:
            training.update(steps=60, checkpoint_every=30, log_every=10, warmup_steps=5)
        if model.get("network", {}).get("kind") == "mlp":
            model["network"].update(hidden=32, depth=1, embedding=16)
        if "sampler" in model:
            model["sampler"] = {"name": "ddim", "steps": 5, "eps": 1.0e-3, "denoise": True}
        if "likelihood" in model:
            model["likelihood"].update(rtol=1.0e-3, atol=1.0e-3)
        for key in ("hidden", "depth"):  # the five families' networks, at toy size
            if key in model:
                model[key] = 16 if key == "hidden" else 1
        if "encoder" in model:  # ScoreVAE's time-dependent encoder
            model["encoder"] = {"hidden": 16, "depth": 1, "embedding": 8}
        for player in ("generator", "discriminator"):
            if player in model:
                model[player] = {"hidden": 16, "depth": 1}
        model.update({key: value for key, value in {"transforms": 1, "importance_samples": 4, "langevin_steps": 2,
                                                     "sample_steps": 3, "buffer_size": 64}.items() if key in model})
        if "snapshots" in training:
            training["snapshots"] = [20, 60]
        if "early_stopping" in training:
            training["early_stopping"] = {"validation_fraction": 0.1, "every": 20, "patience": 2}
    params["datasets"]["ring"].update(n_train=500, n_test=100)
    for name in ("cond_gaussian", "cond_mixture", "banana_single", "banana_squeezed", "banana_river", "hemisphere_2_3",
                 "sinusoid_1_3", "hemisphere_3_5", "sinusoid_1_5"):
        params["datasets"][name].update(n_train=200, n_test=50)
    params["figures"]["cdsm_consistency"].update(sample_sizes=[50, 200], test_points=50, times=4)
    params["evaluation"] = {
        "fid": {"feature_model": "classifier", "n_samples": 64, "reference": "test", "batch_size": 64},
        "nll": {"n_examples": 16, "batch_size": 16},
        "cost": {"n_samples": 8, "repeats": 1},
        "reconstruction": {"n_examples": 16, "batch_size": 16},
        "modes": {"n_samples": 64},
        "geodesic": {"n_pairs": 8, "n_times": 5},
        "rae": {"epsilon": 0.1, "n_examples": 20},
        "conditional": {"n_examples": 16, "batch_size": 16},
        "intrinsic_dim": {"t0": 0.2, "n_points": 4, "baseline_points": 100, "baselines": ["MLE", "TwoNN"]},
        "sweep": {"n_samples": 32, "samplers": [{"name": "euler_maruyama", "steps": [2, 4]},
                                                 {"name": "ode", "tolerance": [1.0e-1]}]},
    }
    params["figures"]["diffusion_samplers"]["grid"] = 3
    params["figures"]["family_samples"]["grid"] = 2
    params["figures"]["reconstructions"]["grid"] = 2
    params["figures"]["kde_curse"] = {"dims": [1, 2], "sample_sizes": [16, 32], "repeats": 1}
    params["figures"]["autoencoder_dim"]["autoencoder"].update(width=16, steps=20)
    return params


# The default DAG cut to one experiment of each kind of job (data; training with one and with two players;
# evaluation with and without the feature net, sampling, the sampler sweep; a figure; tables; the reproduction
# report): the pipeline's behaviour tests and the Slurm run (tests/test_pipeline.py). Every experiment, metric and
# figure runs end to end in tests/test_thesis_miniature.py, at the thesis's own blocks.
RULE_KINDS_MODELS = ("classifier", "gaussian", "diffusion_vp", "diffusion_toy", "gan")
RULE_KINDS_DATASETS = ("digits", "ring")  # the 28x28 digits' feature net would add a job of each kind again


def rule_kinds_params() -> dict:
    params = small_params()
    params["experiments"] = [e for e in params["experiments"]
                             if e["model"] in RULE_KINDS_MODELS and e["dataset"] in RULE_KINDS_DATASETS]
    params["figures"] = {"diffusion_samplers": params["figures"]["diffusion_samplers"]}
    return params


# Running the pipeline's own commands (snakemake, dvc, genlab) from tests: the venv's bin comes first.
BIN = str(Path(sys.executable).parent)
ENV = {**os.environ, "PATH": BIN + os.pathsep + os.environ["PATH"]}


def run(args, cwd, check=True):
    result = subprocess.run(args, cwd=cwd, env=ENV, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout[-3000:]}\n"
                             f"{result.stderr[-3000:]}{failed_job_logs(result.stdout + result.stderr, cwd)}")
    return result


def failed_job_logs(output: str, cwd) -> str:
    """The end of each log Snakemake names for a failed job: the job's own error (CI keeps no files)."""
    logs = re.findall(r"log: (\S+) \(check log file", output)
    return "".join(f"\n--- {log} ---\n{(Path(cwd) / log).read_text(errors='replace')[-3000:]}"
                   for log in dict.fromkeys(logs) if (Path(cwd) / log).is_file())


def copy_repo(dest: Path) -> Path:
    files = run(["git", "ls-files", "-co", "--exclude-standard"], REPO).stdout.split()
    for name in files:
        if (REPO / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    return dest


def fresh_job_logs(repo: Path) -> list[str]:
    """The job logs of a local run that lack the line genlab.forkserver's caller ends a served job with: the
    jobs that started a fresh process (and paid its imports) instead of being a fork of the warm one."""
    logs = [log for log in (repo / paths.LOGS).rglob("*.log") if log.parent.name not in ("forkserver", "slurm")]
    assert logs, repo
    return [str(log.relative_to(repo)) for log in logs if forkserver.SERVED not in log.read_text()]


def dvc_outputs(repo: Path) -> dict[str, dict]:
    """Every path the repo's dvc.yaml versions (outs, metrics, plots) with its options."""
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    outs = {}
    for stage in stages.values():
        for kind in ("outs", "metrics", "plots"):
            for entry in stage.get(kind, []):
                (path, options), = entry.items() if isinstance(entry, dict) else ((entry, {}),)
                outs[path] = options or {}
    return outs
