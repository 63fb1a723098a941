"""The pipeline's behaviour at a scale CI affords, on the default DAG cut to one experiment of each kind of
job (tests/conftest.py: rule_kinds_params; every experiment, metric and figure runs in
tests/test_thesis_miniature.py): `snakemake all`, then DVC (`dvc repro` recomputes nothing, a push/pull round
trip through a local directory remote restores bit-identical files, after `snakemake --touch` nothing is
scheduled), the report, the job costs, two runs at once, a kill -9 mid-run; and the same DAG through a real
one-node Slurm cluster (started by tests/slurm/start_cluster.sh: Debian's slurmctld/slurmd/munge, a fake GPU
gres), whose results equal this local run's. The Slurm test needs root and apt (CI has both); elsewhere it
is skipped, but under CI=true a cluster that cannot start is a failure, not a skip."""

import csv
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from tests.conftest import ENV, REPO, copy_repo, dvc_outputs, fresh_job_logs, rule_kinds_params, run

pytestmark = pytest.mark.pipeline


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _prepare(repo: Path) -> Path:
    """A copy of the repository whose default params are the rule-kinds DAG, with its own dvc.yaml."""
    copy_repo(repo)
    (repo / "params" / "default.yaml").write_text(yaml.safe_dump(rule_kinds_params(), sort_keys=False))
    run(["genlab", "dvc-yaml", "--params", "params/default.yaml", "--out", "dvc.yaml"], repo)
    return repo


# Built once per module: pytest -n runs with --dist loadscope, so this module's tests share one worker.
@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    repo = _prepare(tmp_path_factory.mktemp("repo"))
    git = ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.com"]
    run(["git", "init", "-q"], repo)
    run(git + ["add", "-A"], repo)
    run(git + ["commit", "-q", "-m", "snapshot"], repo)
    run(["snakemake", "--cores", "2", "all"], repo)
    return repo


def test_all_outputs_are_produced(pipeline):
    for path in dvc_outputs(pipeline):
        assert (pipeline / path).stat().st_size > 0, path
    table = (pipeline / "results/tables/digits.csv").read_text()
    assert "diffusion_vp" in table and "gaussian" in table and "held-out data" in table
    assert not fresh_job_logs(pipeline)  # every local job a fork of the warm process (the Slurm test: same numbers)
    assert "\\begin{tabular}" in (pipeline / "results/tables/digits.tex").read_text()
    assert (pipeline / "figures/fid_vs_nfe.png").read_bytes()[:4] == b"\x89PNG"
    assert (pipeline / "results/notebooks/diffusion_samplers.ipynb").exists()
    fid = json.loads((pipeline / "results/digits/diffusion_vp/fid.json").read_text())
    assert fid["fid"] > 0 and fid["provenance"]["config_hash"]
    ring = json.loads((pipeline / "results/ring/diffusion_toy/nll.json").read_text())
    assert "true_nll_bpd" in ring
    rows = json.loads((pipeline / "results/tables/digits.json").read_text())
    assert rows["gan"]["NLL (bits/dim)"] is None  # what a family cannot have is n/a, never a number
    # the reproduction report: one verdict per claim of claims.yaml, read from this run's results
    report = json.loads((pipeline / "results/reproduction.json").read_text())
    verdicts = {row["id"]: row["verdict"] for row in report["claims"]}
    assert verdicts["ring_diffusion_ode_likelihood"] in ("holds", "differs")  # read from this run
    assert verdicts["id_sphere_exact"] == "not run at this scale"  # an experiment this DAG leaves out
    assert "| verdict |" in (pipeline / "results/reproduction.md").read_text().replace("Verdict", "verdict")
    modes = (pipeline / "results/digits/gan/modes.csv").read_text().splitlines()
    assert len(modes) == 1 + 2 + 1  # header, the two snapshots of small_params, the final EMA weights


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


def test_pipeline_through_slurm_equals_local_run(pipeline, slurm_cluster, tmp_path, capsys):
    """`snakemake --profile slurm all` submits every job with sbatch, training jobs ask for the GPU through the
    `gpu` resource, slurmctld records each COMPLETED, and the data, weights and metrics equal the local run's
    (the module's pipeline, before any other test touches it)."""
    cluster = _prepare(tmp_path / "slurm")
    # the profiles' resources are used as they are (train and evaluation ask for gpu: 1; the node has one)
    result = run(["timeout", "-s", "KILL", "1500", "snakemake", "all", "--profile", "slurm", "--jobs", "4",
                  "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "1",
                  "--slurm-keep-successful-logs", "--verbose"], cluster)
    calls = [line for line in (result.stdout + result.stderr).splitlines() if "sbatch call:" in line]
    train_calls = [c for c in calls if "rule_train" in c]
    data_calls = [c for c in calls if "rule_data" in c]
    assert len(train_calls) == len(rule_kinds_params()["experiments"]) and len(data_calls) == 2, calls
    assert all("--gpus=1" in c for c in train_calls), train_calls
    assert not any("--gpus" in c for c in data_calls), data_calls
    # this run's jobs: its workflow's job name and folder (a reused temp folder holds an earlier run's too)
    names = {re.search(r"--job-name (\S+)", c).group(1) for c in calls}
    ours = [line for line in open("/tmp/slurm-ci/log/jobcomp.txt")
            if f"WorkDir={cluster} " in line and re.search(r"\bName=(\S+)", line).group(1) in names]
    assert len(ours) == len(calls) and all("JobState=COMPLETED" in line for line in ours), ours
    for rule in ("data", "train", "evaluate_*", "table"):  # one evaluate rule per experiment
        assert [log for folder in (cluster / "results/logs/slurm").glob(f"rule_{rule}")
                for log in folder.rglob("*.log")], rule
    with capsys.disabled():  # for the CI log: the real cluster ran the pipeline
        print(f"\n[slurm] {len(calls)} jobs submitted through sbatch ({len(train_calls)} training jobs with "
              f"--gpus=1), {len(ours)} COMPLETED in slurmctld's job log")

    local = pipeline
    for dataset in ("digits", "ring"):
        a, b = (np.load(root / f"data/processed/{dataset}.npz") for root in (local, cluster))
        assert all(np.array_equal(a[key], b[key]) for key in a.files), dataset
    checkpoints = sorted((local / "results").glob("*/*/checkpoint.pt"))
    assert len(checkpoints) == len(rule_kinds_params()["experiments"])
    for path in checkpoints:
        rel = path.relative_to(local)
        a, b = (torch.load(root / rel, weights_only=True) for root in (local, cluster))
        for name, tensor in a["ema"].items():
            assert torch.equal(tensor, b["ema"][name]), f"{rel}: ema.{name}"
    for metric in ("fid", "nll"):
        for path in sorted((local / "results").glob(f"*/*/{metric}.json")):
            a, b = (json.loads((root / path.relative_to(local)).read_text()) for root in (local, cluster))
            for key in ("fid", "nll_bpd", "true_nll_bpd"):
                assert a.get(key) == b.get(key), f"{path.relative_to(local)}: {key}"
    assert (cluster / "figures/fid_vs_nfe.png").exists() and (cluster / "results/tables/digits.csv").exists()


def test_report_collects_figures_and_tables(pipeline):
    run(["snakemake", "--report", "report.html"], pipeline)
    html = (pipeline / "report.html").read_text(errors="replace")
    for name in ("fid_vs_nfe.png", "diffusion_samples.png", "digits.csv", "ring.csv", "held-out real images"):
        assert name in html, name


def test_every_job_has_its_cost(pipeline):
    """benchmarks/job_costs.py finds a benchmark file for every job of the run and reports its critical path."""
    out = pipeline / "benchmarks/results/job_costs"
    text = run([sys.executable, "benchmarks/job_costs.py", "--out", str(out)], pipeline).stdout
    rows = list(csv.DictReader(out.with_suffix(".csv").open()))
    experiments = len(rule_kinds_params()["experiments"])
    kinds = [row["kind"] for row in rows]
    assert kinds.count("train") == experiments and kinds.count("evaluate") == experiments, kinds
    assert all(row["seconds"] for row in rows), [row["job"] for row in rows if not row["seconds"]]
    assert "(0 without a benchmark file)" in text and "### Critical path" in text


def test_snakemake_then_schedules_nothing(pipeline):
    assert "Nothing to be done" in run(["snakemake", "-n", "all"], pipeline).stdout


def test_dvc_repro_recomputes_nothing_and_round_trips(pipeline, tmp_path):
    checkpoint = pipeline / "results/digits/diffusion_vp/checkpoint.pt"
    before = checkpoint.stat().st_mtime_ns
    run(["dvc", "repro"], pipeline)
    assert checkpoint.stat().st_mtime_ns == before, "dvc repro retrained a model"
    again = run(["dvc", "repro"], pipeline).stdout
    assert "up to date" in again or "didn't change" in again
    # push to a local directory remote, wipe cache and cached outputs, pull back
    run(["dvc", "remote", "modify", "--local", "local", "url", str(tmp_path / "remote")], pipeline)
    run(["dvc", "push"], pipeline)
    cached = [p for p, o in dvc_outputs(pipeline).items() if o.get("cache", True)]
    hashes = {p: sha256(pipeline / p) for p in cached}
    shutil.rmtree(pipeline / ".dvc" / "cache")
    for path in cached:
        (pipeline / path).unlink()
    run(["dvc", "pull"], pipeline)
    assert {p: sha256(pipeline / p) for p in cached} == hashes
    # pulled files get fresh mtimes; --touch re-establishes Snakemake's view without recomputing
    run(["snakemake", "--cores", "1", "--touch", "all"], pipeline)
    assert "Nothing to be done" in run(["snakemake", "-n", "all"], pipeline).stdout


def test_two_runs_at_once_do_not_corrupt(pipeline):
    """Snakemake's directory lock lets one run work; the other stops; the outputs end complete."""
    target = pipeline / "results/ring/diffusion_toy/cost.json"
    target.unlink()
    first, second = (subprocess.Popen(["snakemake", "--cores", "1", "all"], cwd=pipeline, env=ENV,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                     for _ in range(2))
    outputs = [p.communicate(timeout=600)[0] for p in (first, second)]
    codes = sorted(p.returncode for p in (first, second))
    assert codes[0] == 0, outputs
    if codes[1] != 0:  # the loser stopped (if it started after the winner finished, it had no work): at
        # the lock, or earlier, while building its job graph, because a file of the job the winner runs
        # vanished under it (Snakemake removes a job's outputs before running it, and locks after the graph)
        loser = next(out for p, out in zip((first, second), outputs) if p.returncode != 0)
        vanished = re.search(r"File or directory not found: (\S+)", loser)
        assert ("cannot be locked" in loser or "LockException" in loser
                or (vanished and vanished.group(1).startswith("results/ring/diffusion_toy/"))), outputs
    assert json.loads(target.read_text())["nfe"] > 0
    assert "Nothing to be done" in run(["snakemake", "-n", "all"], pipeline).stdout


def test_kill_9_mid_pipeline_then_rerun_completes(pipeline):
    """SIGKILL the whole Snakemake process group during training; a plain rerun resumes and completes,
    and no temporary file is left behind."""
    run_dir = pipeline / "results/digits/diffusion_vp"
    for name in ("checkpoint.pt", "train_state.pt"):
        (run_dir / name).unlink(missing_ok=True)
    process = subprocess.Popen(["snakemake", "--cores", "2", "all"], cwd=pipeline,
                               env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    log = pipeline / "results/logs/train/digits/diffusion_vp.log"
    deadline = time.time() + 300
    while not (log.exists() and "digits/diffusion_vp" in log.read_text(errors="replace")):
        assert process.poll() is None and time.time() < deadline, "training never started"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    run(["snakemake", "--cores", "2", "all"], pipeline)
    assert "Nothing to be done" in run(["snakemake", "-n", "all"], pipeline).stdout
    leftovers = [p for p in pipeline.rglob(".*.tmp") if ".snakemake" not in p.parts and ".dvc" not in p.parts]
    assert not leftovers, leftovers
