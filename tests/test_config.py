"""Params validation: both shipped params files are valid; malformed ones stop with one line that names
the culprit, from the CLI and from the Snakefile."""

import copy
import subprocess
import sys

import pytest
import yaml

from genlab import cli
from genlab import config as cfg
from genlab import validation
from genlab.errors import ConfigError
from tests.conftest import REPO

DEFAULT = yaml.safe_load((REPO / "params" / "default.yaml").read_text())


@pytest.mark.parametrize("name", ["default.yaml", "thesis.yaml"])
def test_shipped_params_are_valid(name):
    params = validation.load_params(REPO / "params" / name)
    assert params["experiments"]


def _mutate(path, value):
    params = copy.deepcopy(DEFAULT)
    *parents, last = path
    node = params
    for key in parents:
        node = node[key]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return params


DELETE = object()
INDEX = {(e["dataset"], e["model"]): i for i, e in enumerate(DEFAULT["experiments"])}
# (where, new value, text the one-line error must contain)
BAD = [
    (["sede"], 1, "'sede' was unexpected"),
    (["seed"], -1, "seed"),
    (["seed"], "zero", "seed"),
    (["device"], "tpu", "device"),
    (["datasets", "digits", "test_fraction"], 1.5, "datasets.digits.test_fraction"),
    (["datasets", "digits", "kind"], "imagenet", "datasets.digits.kind"),
    (["datasets", "ring", "n_train"], -5, "datasets.ring.n_train"),
    (["datasets", "ring", "modes"], 0, "datasets.ring.modes"),
    (["models", "diffusion_vp", "family"], "vae2", "models.diffusion_vp.family"),
    (["models", "diffusion_vp", "sde", "kind"], "vpp", "models.diffusion_vp.sde.kind"),
    (["models", "diffusion_vp", "sde", "sigma_max"], 50, "sigma_max"),
    (["models", "diffusion_vp", "network", "hidden"], 0, "models.diffusion_vp.network.hidden"),
    (["models", "diffusion_vp", "network", "widht"], 3, "'widht' was unexpected"),
    (["models", "diffusion_vp", "training", "steps"], -1, "models.diffusion_vp.training.steps"),
    (["models", "diffusion_vp", "training", "lr"], "fast", "models.diffusion_vp.training.lr"),
    (["models", "diffusion_vp", "training", "batch_size"], 0, "training.batch_size"),
    (["models", "diffusion_vp", "training", "ema_decay"], 1.0, "training.ema_decay"),
    (["models", "diffusion_vp", "training", "lr"], DELETE, "'lr' is a required property"),
    (["models", "diffusion_vp", "loss", "weighting"], "uniform", "loss.weighting"),
    (["models", "diffusion_vp", "sampler", "name"], "heun", "sampler.name"),
    (["models", "diffusion_vp", "likelihood", "method"], "skilling", "likelihood.method"),
    (["experiments", 0, "dataset"], "cifar100", "unknown dataset 'cifar100'"),
    (["experiments", 2, "model"], "diffusion_xl", "unknown model 'diffusion_xl'"),
    (["experiments", 2, "metrics"], ["fid", "bleu"], "experiments.2.metrics"),
    (["experiments", INDEX["ring", "gaussian"], "metrics"], ["fid"], "'fid' needs a dataset of kind digits/mnist28/mnist/cifar10"),
    (["experiments", INDEX["digits", "cde_label"], "metrics"], ["fid"], "'fid' needs a family with capabilities ['sample']"),
    (["experiments", INDEX["digits", "vae"], "metrics"], ["conditional"], "'conditional' needs a family with capabilities ['condition']"),
    (["models", "cmde", "condition", "kind"], "label", "must be a declared model of family conditional with condition"),
    (["experiments", INDEX["mnist28", "cde_superres28"], "evaluation"], {"fid": {"n_samples": 3}},
     "evaluation.fid: its metrics ['conditional'] read no such block"),
    (["experiments", INDEX["mnist28", "cde_superres28"], "evaluation"], {"conditional": {"n_examples": 1}},
     "evaluation.conditional: 1 is less than the minimum of 2"),
    (["experiments", INDEX["mnist28", "cde_superres28"], "evaluation"], {"conditional": {"nexamples": 5}},
     "evaluation.conditional: Additional properties are not allowed"),
    (["experiments", INDEX["mnist28", "classifier"], "training"], {"steps": 500, "lr": 0.1},
     "training: Additional properties are not allowed ('lr' was unexpected)"),
    (["figures", "cdsm_consistency", "datasets"], ["ring"], "must be a declared dataset of kind conditional_mixture"),
    (["experiments", INDEX["digits", "gan"], "metrics"], ["reconstruction"], "'reconstruction' needs a family with capabilities ['reconstruct']"),
    (["experiments", INDEX["digits", "vae"], "metrics"], ["intrinsic_dim"], "'intrinsic_dim' needs a family with capabilities ['score']"),
    (["evaluation", "intrinsic_dim", "baselines"], ["PCA"], "evaluation.intrinsic_dim.baselines"),
    (["models", "gan", "objective"], "hinge", "models.gan.objective"),
    (["models", "gan", "critic_steps"], 0, "models.gan.critic_steps"),
    (["models", "gan", "generator", "hidden"], 0, "models.gan.generator.hidden"),
    (["models", "gan", "training", "betas"], [0.5], "models.gan.training.betas"),
    (["models", "vae", "importance_samples"], 0, "models.vae.importance_samples"),
    (["models", "flow", "kind"], "glow", "models.flow.kind"),
    (["models", "flow", "training", "early_stopping", "patience"], 0, "early_stopping.patience"),
    (["models", "autoregressive", "output"], "softmax", "models.autoregressive.output"),
    (["models", "ebm", "langevin_steps"], 0, "models.ebm.langevin_steps"),
    (["models", "ebm", "temperature"], 1.0, "'temperature' was unexpected"),
    (["figures", "mode_collapse", "runs"], {}, "figures.mode_collapse.runs"),
    (["models", "wgan28", "training", "snapshots"], DELETE, "models.wgan28.training.snapshots must list the steps"),
    (["models", "gan28", "generator", "activation"], "relu", "generator.activation: 'relu' is not one of"),
    (["figures", "kde_curse", "dims"], [], "figures.kde_curse.dims"),
    (["experiments", 1, "metrics"], ["sweep"], "'sweep' needs a family with capabilities ['samplers']"),
    (["evaluation", "fid", "feature_model"], "gaussian", "must be a classifier"),
    (["evaluation", "fid", "n_samples"], 1, "evaluation.fid.n_samples"),
    (["evaluation", "sweep", "samplers", 0, "steps"], [0], "evaluation.sweep.samplers.0.steps"),
    (["figures", "diffusion_samplers", "model"], "gaussian", "figures.diffusion_samplers"),
    (["models", "diffusion_vp", "training", "lr"], float("nan"), "models.diffusion_vp.training.lr: nan is not a finite"),
    (["models", "gan", "training", "betas"], [0.5, float("inf")], "models.gan.training.betas.1: inf is not a finite"),
    (["evaluation", "geodesic", "n_pairs"], float("-inf"), "evaluation.geodesic.n_pairs: -inf is not a finite"),
    (["datasets", "ring", "n_train"], 10**12, "datasets.ring"),
    (["models", "diffusion_vp", "training", "steps"], 10**12, "models.diffusion_vp.training.steps"),
    (["evaluation", "fid", "n_samples"], 10**9, "evaluation.fid.n_samples: 1000000000 is greater than the maximum"),
    (["models"], {}, "models"),
    (["experiments"], [], "experiments"),
]


@pytest.mark.parametrize("path,value,message", BAD, ids=[".".join(map(str, b[0])) for b in BAD])
def test_malformed_params_name_the_culprit(path, value, message, tmp_path, capsys):
    """Through the CLI entry point (in-process): exit code 2 and one stderr line naming the key."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(_mutate(path, value)))
    assert cli.main(["check-params", "--params", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and err.startswith(f"genlab: error: {bad}:"), err


def test_an_experiments_own_evaluation_keys_reach_its_metric_and_its_job_hash():
    from genlab import pipeline
    from genlab.evaluation.registry import Run
    params = validation.validate(copy.deepcopy(DEFAULT))
    own = cfg.evaluation_block(params, "mnist28", "cde_superres28", "conditional")
    shared = cfg.evaluation_block(params, "digits", "cde_superres", "conditional")
    assert own == {**params["evaluation"]["conditional"], "n_examples": 120, "batch_size": 120}
    assert shared == params["evaluation"]["conditional"]
    run = Run(params, cfg.experiment(params, "mnist28", "cde_superres28"), "data.npz", "checkpoint.pt")
    assert run.settings("conditional") == own
    assert pipeline.evaluation_settings(params, "mnist28", "cde_superres28") == [[own]]  # its evaluation reruns


def test_an_experiments_own_steps_stand_over_its_blocks_and_the_smoke_switch_caps_them():
    from genlab import smoke
    params = validation.validate(copy.deepcopy(DEFAULT))
    block = params["models"]["classifier"]["training"]
    own = cfg.experiment(params, "mnist28", "classifier")
    assert own.training == {**block, "steps": 500} and block["steps"] == 1500
    assert cfg.experiment(params, "digits", "classifier").training == block
    assert own.hash == cfg.experiment(_mutate(["experiments", INDEX["mnist28", "classifier"], "training"],
                                              {"steps": 7}), "mnist28", "classifier").hash  # steps: unhashed
    shrunk = smoke.shrink(params)
    assert cfg.experiment(shrunk, "mnist28", "classifier").training["steps"] == smoke.STEPS
    assert smoke.shrink(shrunk) == shrunk


def test_duplicate_experiment_is_refused():
    params = copy.deepcopy(DEFAULT)
    params["experiments"].append(dict(params["experiments"][0]))
    with pytest.raises(ConfigError, match="listed twice"):
        validation.validate(params)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "genlab.cli", *args], capture_output=True, text=True,
                          cwd=REPO)


def test_cli_reports_one_line_and_exits_nonzero(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(_mutate(["models", "diffusion_vp", "network", "widht"], 3)))
    result = _cli("check-params", "--params", str(bad))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "'widht' was unexpected" in result.stderr


@pytest.mark.parametrize("content,message", [
    ("seed: [unclosed", "not valid YAML"),
    ("- just\n- a list\n", "expected a mapping"),
])
def test_cli_rejects_unparseable_params(tmp_path, content, message):
    bad = tmp_path / "bad.yaml"
    bad.write_text(content)
    result = _cli("check-params", "--params", str(bad))
    assert result.returncode == 2 and message in result.stderr


def test_cli_missing_files_are_named(tmp_path):
    result = _cli("check-params", "--params", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2 and "nope.yaml does not exist" in result.stderr
    result = _cli("train", "--dataset", "digits", "--model", "gaussian", "--data", str(tmp_path / "no.npz"),
                  "--run-dir", str(tmp_path / "run"))
    assert result.returncode == 2 and "no.npz does not exist" in result.stderr


def test_snakefile_validates_with_the_same_schema(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(_mutate(["models", "diffusion_vp", "training", "steps"], -1)))
    result = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--configfile", str(bad),
                             "--directory", str(tmp_path)], capture_output=True, text=True, cwd=REPO)
    assert result.returncode != 0
    assert "models.diffusion_vp.training.steps" in result.stdout + result.stderr


def test_hash_ignores_step_count_but_not_the_model():
    a = cfg.experiment(DEFAULT, "digits", "diffusion_vp")
    more = _mutate(["models", "diffusion_vp", "training", "steps"], 99999)
    assert cfg.experiment(more, "digits", "diffusion_vp").hash == a.hash
    other = _mutate(["models", "diffusion_vp", "network", "hidden"], 64)
    assert cfg.experiment(other, "digits", "diffusion_vp").hash != a.hash


@pytest.mark.parametrize("problem,message", [
    ("nan", "x_train has 1 examples with NaN/inf values"),
    ("shape", "but x_test examples (3,)"),
    ("labels", "y_train has 3 labels for 20 examples"),
    ("missing", "missing arrays ['x_test']"),
])
def test_cli_rejects_malformed_dataset_files(tmp_path, problem, message):
    import json

    import numpy as np
    x = np.zeros((20, 2), np.float32)
    arrays = {"x_train": x, "x_test": x[:5], "meta": np.array(json.dumps({}))}
    if problem == "nan":
        arrays["x_train"] = x.copy()
        arrays["x_train"][4, 1] = np.nan
    elif problem == "shape":
        arrays["x_test"] = np.zeros((5, 3), np.float32)
    elif problem == "labels":
        arrays.update(y_train=np.zeros(3, np.int64), y_test=np.zeros(5, np.int64))
    else:
        del arrays["x_test"]
    np.savez(tmp_path / "bad.npz", **arrays)
    result = _cli("train", "--dataset", "ring", "--model", "diffusion_toy", "--data", str(tmp_path / "bad.npz"),
                  "--run-dir", str(tmp_path / "run"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr and "bad.npz" in result.stderr


def test_thesis_configfile_replaces_the_default_and_overrides_reach_the_cli(tmp_path):
    """`--configfile params/thesis.yaml` must replace, not merge into, the embedded default (a merge would
    mix the default MLP's keys into the thesis U-Net's block); `--config` overrides reach the CLI."""
    from tests.conftest import copy_repo, run
    repo = copy_repo(tmp_path)
    plan = run(["snakemake", "-n", "all", "--configfile", "params/thesis.yaml"], repo).stdout
    assert "cifar10" in plan and "mnist" in plan
    resolved = yaml.safe_load((repo / "results/params.yaml").read_text())
    assert resolved["models"]["diffusion_vp"]["network"]["kind"] == "unet"
    run(["snakemake", "-n", "all", "--config", "seed=7"], repo)
    resolved = yaml.safe_load((repo / "results/params.yaml").read_text())
    assert resolved["seed"] == 7 and resolved["models"]["diffusion_vp"]["network"]["kind"] == "mlp"
