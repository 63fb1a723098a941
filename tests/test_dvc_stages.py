"""The DVC stages and profiles without the pipeline fixture (tests/test_pipeline.py builds that): every DVC
output is a Snakemake output, dvc.yaml is current, and the Slurm profile resolves. `dvc repro` with another
params file (the thesis's, under the smoke switch) is tests/test_thesis_miniature.py. A module of its own so
that pytest -n runs it beside the pipeline's."""

from pathlib import Path

import pytest

from tests.conftest import copy_repo, dvc_outputs, run

pytestmark = pytest.mark.pipeline


def test_every_dvc_output_is_a_snakemake_output(tmp_path):
    repo = copy_repo(tmp_path)
    summary = run(["snakemake", "--summary", "all"], repo).stdout.splitlines()
    snakemake_outputs = {line.split("\t")[0] for line in summary[1:] if line.strip()}
    missing = set(dvc_outputs(repo)) - snakemake_outputs
    assert not missing, f"DVC outputs that no Snakemake rule produces: {sorted(missing)}"


def test_dvc_yaml_is_generated_from_the_default_params():
    from genlab import config as cfg
    from genlab.dvc import render
    repo = Path(__file__).resolve().parents[1]
    expected = render(cfg.load_params(repo / "params" / "default.yaml"))
    assert (repo / "dvc.yaml").read_text() == expected, "dvc.yaml is stale: run `genlab dvc-yaml`"


def test_slurm_profile_is_found_from_the_repo_root(tmp_path):
    """`snakemake --profile slurm all` resolves the repo's slurm/ profile and requests GPUs for training
    through the `gpu` resource (the real-Slurm run is a separate CI job)."""
    repo = copy_repo(tmp_path)
    result = run(["snakemake", "--profile", "slurm", "-n", "all"], repo)
    assert "Using profiles slurm" in result.stdout + result.stderr
    train_blocks = [block for block in result.stdout.split("\n\n") if "rule train:" in block]
    assert train_blocks and all("gpu=1" in block for block in train_blocks)
