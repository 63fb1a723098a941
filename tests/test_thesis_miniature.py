"""The thesis DAG in miniature (issue 13): params/thesis.yaml as it is (all its experiments, U-Nets, samplers and
metrics, MNIST and CIFAR-10 included) with the smoke switch on (genlab.smoke: only counts of work shrink), on
stand-in MNIST/CIFAR-10 files in their real formats, through `dvc repro` with the thesis dvc.yaml: every stage,
hence every rule (data, train, evaluate, samples, analyses, figures, tables, the reproduction report), then the
HTML report. A thesis block that cannot run at all fails here, with the job and its log's last line named,
instead of hours into a cluster allocation."""

import json
import re
from pathlib import Path

import pytest
import yaml

from genlab import paths
from genlab.data.images import write_standin_files
from tests.conftest import copy_repo, dvc_outputs, fresh_job_logs, run

pytestmark = pytest.mark.pipeline
THESIS = "params/thesis.yaml"


def failed_jobs(repo: Path, output: str) -> list[str]:
    """'kind dataset/model: the last line of its log' for each job Snakemake reports as failed."""
    failures = []
    for block in re.split(r"\n(?=Error in rule )", output)[1:]:
        log = re.search(r"log: (\S+)", block)
        if not log:
            failures.append(block.splitlines()[0])
            continue
        kind, name = paths.log_key(log.group(1))
        lines = (repo / log.group(1)).read_text(errors="replace").strip().splitlines() if (repo / log.group(1)).exists() else []
        failures.append(f"{kind} {name}: {lines[-1] if lines else '(empty log)'}")
    return failures


def run_pipeline(args: list[str], repo: Path):
    result = run(args, repo, check=False)
    if result.returncode != 0:
        output = result.stdout + result.stderr
        raise AssertionError(f"{' '.join(args)} failed; the jobs that failed, with their logs' last lines:\n"
                             + "\n".join(failed_jobs(repo, output) or [output[-3000:]]))
    return result


@pytest.fixture(scope="module")
def miniature(tmp_path_factory):
    repo = copy_repo(tmp_path_factory.mktemp("thesis"))
    # the switch as a user sets it in a params file; the YAML text is kept as it is (anchors and all)
    (repo / THESIS).write_text((repo / THESIS).read_text() + "\nsmoke: true\n")
    write_standin_files(repo / paths.RAW_DIR, n_train=80, n_test=16)
    run(["genlab", "dvc-yaml", "--params", THESIS, "--out", "dvc.yaml"], repo)
    git = ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.com"]
    run(["git", "init", "-q"], repo)
    run(git + ["add", "-A"], repo)
    run(git + ["commit", "-q", "-m", "snapshot"], repo)
    run_pipeline(["dvc", "repro"], repo)
    return repo


def test_dvc_repro_builds_exactly_what_the_thesis_dvc_yaml_lists(miniature):
    stages = yaml.safe_load((miniature / "dvc.yaml").read_text())["stages"]
    assert all(f"--configfile {THESIS}" in stage["cmd"] for stage in stages.values())
    assert {"models.diffusion_vp", "models.flow_mnist", "experiments"} <= set(stages["train"]["params"][0][THESIS])
    listed = dvc_outputs(miniature)
    missing = [path for path in listed if not (miniature / path).is_file() or not (miniature / path).stat().st_size]
    assert not missing, missing
    for path in ("results/cifar10/diffusion_vp/fid.json", "results/mnist/autoregressive_mnist/nll.json",
                 "results/tables/mnist.json", "results/tables/cifar10.json", "figures/family_samples.png"):
        assert path in listed, path
    assert not (miniature / "results" / "digits" / "diffusion_vp").exists()  # the default's experiment, not the thesis's
    assert "up to date" in run(["dvc", "status"], miniature).stdout
    assert "Nothing to be done" in run(["snakemake", "-n", "all", "--configfile", THESIS], miniature).stdout


def test_the_thesis_networks_ran_at_their_own_size(miniature):
    """The smoke switch shrank the work, not the networks: the checkpoints hold the thesis U-Nets."""
    cost = json.loads((miniature / "results/cifar10/diffusion_vp/cost.json").read_text())
    assert cost["parameters"] > 20_000_000 and cost["train_steps"] == 6
    resolved = yaml.safe_load((miniature / paths.PARAMS).read_text())
    assert resolved["smoke"] is True and resolved["models"]["diffusion_vp"]["network"]["channels"] == 128
    report = json.loads((miniature / "results/reproduction.json").read_text())
    assert {row["verdict"] for row in report["claims"]} <= {"holds", "differs", "not run at this scale"}


def test_every_family_figure_and_analysis_has_its_output(miniature):
    """What the pipeline tests' small DAG (tests/test_pipeline.py) does not run: every figure, a table row per
    family, the autoencoders' and the geodesics' analyses, the reproduction report's verdicts."""
    for figure in ("family_samples", "mode_collapse", "reconstructions", "kde_curse", "pullback_geodesics",
                   "rae_spectra", "training_curves", "intrinsic_dim_spectra", "cdsm_consistency",
                   "conditional_label", "conditional_inpaint", "conditional_superres", "conditional_edges",
                   "diffusion_samples", "fid_vs_nfe"):
        assert (miniature / f"figures/{figure}.png").read_bytes()[:4] == b"\x89PNG", figure
    # one row per family; what a family cannot have is n/a, never a number
    rows = json.loads((miniature / "results/tables/digits.json").read_text())
    assert {"gan", "wgan", "vae", "flow", "autoregressive", "ebm", "diffusion_vp_digits", "score_vae"} <= set(rows)
    for family_without_likelihood in ("gan", "wgan", "ebm"):
        assert rows[family_without_likelihood]["NLL (bits/dim)"] is None
    assert rows["vae"]["ELBO (bits/dim)"] is not None and rows["vae"]["NLL kind"].startswith("IWAE")
    autoencoders = json.loads((miniature / "results/analysis/reconstructions.json").read_text())
    assert {"digits/vae", "digits/score_vae", "digits/diff_decoder", "digits/diff_decoder_beta0", "digits/raw inputs",
            "mnist/vae28", "mnist/score_vae_mnist", "mnist/raw inputs"} <= set(autoencoders)
    assert autoencoders["digits/score_vae"]["latent dim"] == autoencoders["digits/vae"]["latent dim"]
    assert autoencoders["mnist/score_vae_mnist"]["latent dim"] == autoencoders["mnist/vae28"]["latent dim"]  # Fig 1.3
    assert all(0 <= autoencoders[name]["feature distance"] <= 4 for name in ("digits/vae", "digits/score_vae"))
    assert all(0 <= autoencoders[name]["high-frequency energy ratio"] < 10
               for name in ("digits/vae", "digits/score_vae", "mnist/vae28", "mnist/score_vae_mnist"))
    dimensions = json.loads((miniature / "results/analysis/intrinsic_dim.json").read_text())
    assert {"union (k = 10)", "union (k = 30)"} <= set(dimensions)  # a row per sphere of the union
    geodesics = json.loads((miniature / "results/analysis/pullback_geodesics.json").read_text())
    flows = {name: row for name, row in geodesics.items() if row["flow"] not in ("straight line", "ground truth")}
    assert len(flows) == 12 and all(row["geodesic error"] > 0 and row["variation error"] > 0 for row in flows.values())
    for dataset in ("banana_single", "banana_squeezed", "banana_river"):  # the reference rows, on the same pairs
        assert geodesics[f"{dataset}/straight line"]["geodesic error"] > 0
        assert geodesics[f"{dataset}/ground truth"]["geodesic error"] == 0
    report = json.loads((miniature / "results/reproduction.json").read_text())
    verdicts = {row["id"]: row["verdict"] for row in report["claims"]}
    assert verdicts["id_sphere10_thesis"] in ("holds", "differs") and verdicts["id_sphere_exact"] == "not run at this scale"
    resolved = yaml.safe_load((miniature / paths.PARAMS).read_text())
    modes = (miniature / "results/digits/gan/modes.csv").read_text().splitlines()
    assert len(modes) == 1 + len(resolved["models"]["gan"]["training"]["snapshots"]) + 1  # header, snapshots, EMA


def test_live_logs_and_sample_grids_of_the_thesis_runs(miniature):
    for dataset, model in (("mnist", "diffusion_vp"), ("ring", "flow_toy"), ("banana_river", "pullback")):
        live = miniature / paths.live(dataset, model)
        assert json.loads((live / paths.LIVE_SUMMARY).read_text())["step"] == 6, live
    grids = sorted((miniature / paths.live("cifar10", "diffusion_vp") / paths.LIVE_IMAGES).rglob("*.png"))
    assert [grid.name for grid in grids] == ["step_00000006.png"]  # smoke: one grid, at the end


def test_every_job_ran_as_a_fork_of_the_warm_process(miniature):
    """genlab.forkserver in Snakemake's local runs (DVC's stages call Snakemake): no job paid the imports."""
    assert len(list((miniature / paths.LOGS).rglob("*.log"))) > 200
    assert not fresh_job_logs(miniature)


def test_html_report(miniature):
    run(["snakemake", "--report", "report.html", "--configfile", THESIS], miniature)
    html = (miniature / "report.html").read_text(errors="replace")
    for name in ("family_samples.png", "mnist.csv", "cifar10.csv"):
        assert name in html, name


def test_a_broken_thesis_block_fails_naming_its_job(tmp_path):
    """A block the schema accepts but that cannot run (a U-Net with more levels than 28x28 images halve into):
    the smoke run stops at that job, and the failure names it and what its log says."""
    repo = copy_repo(tmp_path)
    params = yaml.safe_load((repo / THESIS).read_text())
    params["models"]["diffusion_vp"]["network"]["channel_mults"] = [1, 2, 2, 2, 2, 2]
    (repo / THESIS).write_text(yaml.safe_dump({**params, "smoke": True}, sort_keys=False))
    write_standin_files(repo / paths.RAW_DIR, n_train=80, n_test=16)
    with pytest.raises(AssertionError) as failure:
        # the target first: --configfile takes a list and would swallow it
        run_pipeline(["snakemake", paths.checkpoint("mnist", "diffusion_vp"), "--cores", "1", "--configfile", THESIS],
                     repo)
    message = str(failure.value)
    assert ("train mnist/diffusion_vp: genlab: error: models.diffusion_vp: cannot be built for data of shape "
            "(1, 28, 28): UNet with 6 levels needs H, W divisible by 32, got 28x28") in message, message
