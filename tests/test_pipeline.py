"""The whole pipeline at a scale CI affords: `snakemake all` on params/default.yaml shrunk to seconds
(same experiments, tiny networks), then DVC: `dvc repro` recomputes nothing, a push/pull round trip
through a local directory remote restores bit-identical files, and after `snakemake --touch` nothing is
scheduled. Also: every DVC output is a Snakemake output of the real params/default.yaml."""

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

import pytest
import yaml

from tests.conftest import ENV, copy_repo, dvc_outputs, run, small_params

pytestmark = pytest.mark.pipeline


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# Built once per module: pytest -n runs with --dist loadscope, so this module's tests share one worker.
@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    repo = copy_repo(tmp_path_factory.mktemp("repo"))
    (repo / "params" / "default.yaml").write_text(yaml.safe_dump(small_params(), sort_keys=False))
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
    assert "\\begin{tabular}" in (pipeline / "results/tables/digits.tex").read_text()
    assert (pipeline / "figures/fid_vs_nfe.png").read_bytes()[:4] == b"\x89PNG"
    assert (pipeline / "results/notebooks/diffusion_samplers.ipynb").exists()
    fid = json.loads((pipeline / "results/digits/diffusion_vp/fid.json").read_text())
    assert fid["fid"] > 0 and fid["provenance"]["config_hash"]
    ring = json.loads((pipeline / "results/ring/diffusion_toy/nll.json").read_text())
    assert "true_nll_bpd" in ring
    for figure in ("family_samples", "mode_collapse", "reconstructions", "kde_curse", "pullback_geodesics",
                   "rae_spectra", "training_curves"):
        assert (pipeline / f"figures/{figure}.png").read_bytes()[:4] == b"\x89PNG", figure
    # one row per family; what a family cannot have is n/a, never a number
    rows = json.loads((pipeline / "results/tables/digits.json").read_text())
    assert {"gan", "wgan", "vae", "flow", "autoregressive", "ebm", "diffusion_vp"} <= set(rows)
    for family_without_likelihood in ("gan", "wgan", "ebm"):
        assert rows[family_without_likelihood]["NLL (bits/dim)"] is None
    assert rows["vae"]["ELBO (bits/dim)"] is not None and rows["vae"]["NLL kind"].startswith("IWAE")
    autoencoders = json.loads((pipeline / "results/analysis/reconstructions.json").read_text())
    assert {"vae", "score_vae", "raw inputs"} <= set(autoencoders)
    assert autoencoders["score_vae"]["latent dim"] == autoencoders["vae"]["latent dim"]
    geodesics = json.loads((pipeline / "results/analysis/pullback_geodesics.json").read_text())
    flows = {name: row for name, row in geodesics.items() if row["flow"] not in ("straight line", "ground truth")}
    assert len(flows) == 12 and all(row["geodesic error"] > 0 and row["variation error"] > 0 for row in flows.values())
    for dataset in ("banana_single", "banana_squeezed", "banana_river"):  # the reference rows, on the same pairs
        assert geodesics[f"{dataset}/straight line"]["geodesic error"] > 0
        assert geodesics[f"{dataset}/ground truth"]["geodesic error"] == 0
    # the reproduction report: one verdict per claim of claims.yaml, read from this run's results
    report = json.loads((pipeline / "results/reproduction.json").read_text())
    verdicts = {row["id"]: row["verdict"] for row in report["claims"]}
    assert verdicts["id_sphere_exact"] in ("holds", "differs") and verdicts["id_sphere10_thesis"] == "not run at this scale"
    assert "| verdict |" in (pipeline / "results/reproduction.md").read_text().replace("Verdict", "verdict")
    modes = (pipeline / "results/digits/gan/modes.csv").read_text().splitlines()
    assert len(modes) == 1 + 2 + 1  # header, the two snapshots of small_params, the final EMA weights


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
    experiments = len(small_params()["experiments"])
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
