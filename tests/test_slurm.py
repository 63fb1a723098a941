"""The smoke pipeline through a real one-node Slurm cluster (started by tests/slurm/start_cluster.sh:
Debian's slurmctld/slurmd/munge, a fake GPU gres): `snakemake --profile slurm all` submits every job with
sbatch, training jobs ask for the GPU through the `gpu` resource, and the results equal a local run's.

Needs root and apt (CI has both); elsewhere it is skipped, but under CI=true a cluster that cannot
start is a failure, not a skip."""

import json
import os
import subprocess

import numpy as np
import pytest
import torch
import yaml

from tests.conftest import REPO, copy_repo, run, small_params

pytestmark = pytest.mark.pipeline


@pytest.fixture(scope="module")
def slurm_cluster():
    if os.geteuid() != 0 and not os.environ.get("CI"):
        pytest.skip("starting a Slurm cluster needs root")
    result = subprocess.run(["bash", str(REPO / "tests/slurm/start_cluster.sh")], capture_output=True, text=True)
    if result.returncode != 0:
        message = f"Slurm cluster did not start:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    yield
    subprocess.run(["bash", str(REPO / "tests/slurm/stop_cluster.sh")], capture_output=True, text=True)


# Through sbatch every job costs seconds of scheduling: the cluster runs a subset of the default DAG that
# covers every rule kind (data, train with one and with two players, every evaluate kind, samples, a
# figure, tables) rather than all of it.
CLUSTER_MODELS = {"classifier", "gaussian", "diffusion_vp", "diffusion_toy", "gan"}


def _cluster_params():
    params = small_params()
    params["experiments"] = [e for e in params["experiments"] if e["model"] in CLUSTER_MODELS]
    params["figures"] = {"diffusion_samplers": params["figures"]["diffusion_samplers"]}
    return params


def _prepare(tmp_path, name):
    repo = copy_repo(tmp_path / name)
    (repo / "params" / "default.yaml").write_text(yaml.safe_dump(_cluster_params(), sort_keys=False))
    return repo


def test_pipeline_through_slurm_equals_local_run(slurm_cluster, tmp_path, capsys):
    local = _prepare(tmp_path, "local")
    run(["snakemake", "--cores", "2", "all"], local)
    cluster = _prepare(tmp_path, "slurm")
    # the profiles' resources are used as they are (train and evaluation ask for gpu: 1; the node has one)
    result = run(["timeout", "-s", "KILL", "1500", "snakemake", "all", "--profile", "slurm", "--jobs", "4",
                  "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "1",
                  "--slurm-keep-successful-logs", "--verbose"], cluster)
    calls = [line for line in (result.stdout + result.stderr).splitlines() if "sbatch call:" in line]
    train_calls = [c for c in calls if "rule_train" in c]
    data_calls = [c for c in calls if "rule_data" in c]
    experiments = _cluster_params()["experiments"]
    assert len(train_calls) == len(experiments) and len(data_calls) == 2, calls
    assert all("--gpus=1" in c for c in train_calls), train_calls
    assert not any("--gpus" in c for c in data_calls), data_calls
    ours = [line for line in open("/tmp/slurm-ci/log/jobcomp.txt") if f"WorkDir={cluster} " in line]
    assert len(ours) == len(calls) and all("JobState=COMPLETED" in line for line in ours), ours
    for rule in ("data", "train", "evaluate_*", "table"):  # one evaluate rule per experiment
        assert [log for folder in (cluster / "results/logs/slurm").glob(f"rule_{rule}")
                for log in folder.rglob("*.log")], rule
    with capsys.disabled():  # for the CI log: the real cluster ran the pipeline
        print(f"\n[slurm] {len(calls)} jobs submitted through sbatch ({len(train_calls)} training jobs with "
              f"--gpus=1), {len(ours)} COMPLETED in slurmctld's job log")

    for dataset in ("digits", "ring"):
        a, b = (np.load(root / f"data/processed/{dataset}.npz") for root in (local, cluster))
        assert all(np.array_equal(a[key], b[key]) for key in a.files), dataset
    for run_dir in sorted((local / "results").glob("*/*/checkpoint.pt")):
        rel = run_dir.relative_to(local)
        a, b = (torch.load(root / rel, weights_only=True) for root in (local, cluster))
        for name, tensor in a["ema"].items():
            assert torch.equal(tensor, b["ema"][name]), f"{rel}: ema.{name}"
    for metric in ("fid", "nll"):
        for path in sorted((local / "results").glob(f"*/*/{metric}.json")):
            a, b = (json.loads((root / path.relative_to(local)).read_text()) for root in (local, cluster))
            for key in ("fid", "nll_bpd", "true_nll_bpd"):
                assert a.get(key) == b.get(key), f"{path.relative_to(local)}: {key}"
    assert (cluster / "figures/fid_vs_nfe.png").exists() and (cluster / "results/tables/digits.csv").exists()
