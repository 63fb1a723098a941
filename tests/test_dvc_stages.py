"""The DVC stages and profiles without the pipeline fixture (tests/test_pipeline.py builds that): every DVC
output is a Snakemake output, dvc.yaml is current, `dvc repro` with another params file builds exactly what it
lists, and the Slurm profile resolves. A module of its own so that pytest -n runs it beside the pipeline's."""

from pathlib import Path

import pytest
import yaml

from tests.conftest import copy_repo, dvc_outputs, run, small_params

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


def mini_params() -> dict:
    """A params file other than the default: two ring experiments under another dataset name and two
    figures, at the tiny scale."""
    params = small_params()
    params["datasets"] = {"ring_mini": params["datasets"]["ring"]}
    params["models"] = {m: params["models"][m] for m in ("gaussian", "diffusion_toy")}
    params["experiments"] = [{"dataset": "ring_mini", "model": m, "metrics": ["nll", "cost", "modes"]}
                             for m in ("gaussian", "diffusion_toy")]
    params["evaluation"] = {k: params["evaluation"][k] for k in ("nll", "cost", "modes")}
    params["figures"] = {"kde_curse": params["figures"]["kde_curse"], "training_curves": {}}
    return params


def test_dvc_repro_with_another_params_file_builds_exactly_what_it_lists(tmp_path):
    """`genlab dvc-yaml --params P` gives stages that run Snakemake on P: `dvc repro` builds every output the
    dvc.yaml lists, nothing of the default params, and the stages depend on the params keys they read."""
    repo = copy_repo(tmp_path)
    (repo / "params" / "mini.yaml").write_text(yaml.safe_dump(mini_params(), sort_keys=False))
    run(["genlab", "dvc-yaml", "--params", "params/mini.yaml", "--out", "dvc.yaml"], repo)
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    assert all("--configfile params/mini.yaml" in stage["cmd"] for stage in stages.values())
    assert stages["train"]["params"] == [{"params/mini.yaml": ["seed", "device", "experiments", "models.diffusion_toy",
                                                               "models.gaussian"]}]
    git = ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.com"]
    run(["git", "init", "-q"], repo)
    run(git + ["add", "-A"], repo)
    run(git + ["commit", "-q", "-m", "snapshot"], repo)
    run(["dvc", "repro"], repo)
    listed = dvc_outputs(repo)
    assert "results/ring_mini/diffusion_toy/checkpoint.pt" in listed and "figures/training_curves.png" in listed
    missing = [path for path in listed if not (repo / path).is_file()]
    assert not missing, missing
    assert not (repo / "results" / "digits").exists() and not (repo / "data" / "processed" / "ring.npz").exists()
    assert "up to date" in run(["dvc", "status"], repo).stdout


def test_slurm_profile_is_found_from_the_repo_root(tmp_path):
    """`snakemake --profile slurm all` resolves the repo's slurm/ profile and requests GPUs for training
    through the `gpu` resource (the real-Slurm run is a separate CI job)."""
    repo = copy_repo(tmp_path)
    result = run(["snakemake", "--profile", "slurm", "-n", "all"], repo)
    assert "Using profiles slurm" in result.stdout + result.stderr
    train_blocks = [block for block in result.stdout.split("\n\n") if "rule train:" in block]
    assert train_blocks and all("gpu=1" in block for block in train_blocks)
