"""benchmarks/gpu_route.py (issue 13's GPU route) up to where it needs a GPU: without one it stops with exit 2
before measuring; with `--device cpu` the same code runs its three parts on a few thesis blocks."""

import csv
import subprocess
import sys

import pytest
import torch

from tests.conftest import REPO

SCRIPT = [sys.executable, str(REPO / "benchmarks" / "gpu_route.py")]


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is visible: the script would measure it")
def test_without_a_gpu_it_stops_before_measuring(tmp_path):
    result = subprocess.run([*SCRIPT, "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert result.returncode == 2 and "no GPU visible" in result.stderr
    assert not (tmp_path / "out").exists()


def test_all_three_parts_run_on_the_cpu(tmp_path):
    """The trainer against the bare loop, the projection, and the miniature DAG (ScoreVAE brings its pretrained
    U-Net and the digits feature net along), on thesis-scale blocks, at a few steps."""
    out = tmp_path / "out"
    result = subprocess.run([*SCRIPT, "--out", str(out), "--device", "cpu", "--steps", "3", "--probe-seconds", "0.05",
                             "--compare", "ring/diffusion_toy", "--only", "ring/diffusion_toy", "digits/score_vae"],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    compared = list(csv.DictReader(open(out / "trainer_vs_bare.csv")))
    assert [r["experiment"] for r in compared] == ["ring/diffusion_toy"]
    assert float(compared[0]["bare_steps_per_s"]) > 0 and float(compared[0]["genlab_steps_per_s"]) > 0
    projected = {r["experiment"]: r for r in csv.DictReader(open(out / "projection.csv"))}
    assert set(projected) == {"ring/diffusion_toy", "digits/score_vae"}
    # 100000 steps at the measured rate: the hours follow from the rate (overhead factor >= 1)
    row = projected["digits/score_vae"]
    assert float(row["projected_hours"]) >= 100000 / float(row["steps_per_s"]) / 3600 * 0.99
    jobs = {r["job"]: r for r in csv.DictReader(open(out / "miniature.csv"))}
    assert {"train digits/diffusion_vp_digits", "train digits/score_vae", "evaluate digits/score_vae",
            "train digits/classifier", "evaluate ring/diffusion_toy", "data digits"} <= set(jobs)
    assert all(r["ok"] == "True" for r in jobs.values()), [r for r in jobs.values() if r["ok"] != "True"]
    assert list(jobs).index("train digits/diffusion_vp_digits") < list(jobs).index("train digits/score_vae")
    assert "## The miniature thesis DAG" in (out / "gpu_route.md").read_text()
