"""The smoke switch (genlab.smoke): one transformation that keeps every experiment, network, sampler, metric
and figure of a params file and shrinks only counts of work; idempotent, so the params the Snakefile resolves
and the CLI reads back are shrunk once."""

import copy
import subprocess
import sys

import pytest
import yaml

from genlab import paths, smoke, validation
from genlab.families import make_model
from tests.conftest import REPO, copy_repo, run

SHIPPED = ["default.yaml", "thesis.yaml"]


@pytest.fixture(scope="module", params=SHIPPED)
def shipped(request):
    return validation.load_params(REPO / "params" / request.param)


def _leaves(value, path=()):
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _leaves(child, (*path, key))
    elif isinstance(value, list) and not all(isinstance(v, (int, float)) for v in value):
        for i, child in enumerate(value):
            yield from _leaves(child, (*path, i))
    else:
        yield path, value


def test_shrunk_params_are_valid_and_idempotent(shipped):
    shrunk = smoke.shrink(shipped)
    assert validation.validate(copy.deepcopy(shrunk)) == shrunk  # valid, and validating applies nothing more
    assert smoke.shrink(shrunk) == shrunk
    assert shrunk["smoke"] is True and "smoke" not in shipped  # the original is not modified


def test_only_counts_of_work_change(shipped):
    """Every experiment, network, sampler name, metric and figure stays; what changes is a count of work (and
    never grows) or an ODE tolerance (never tightened)."""
    shrunk = smoke.shrink(shipped)
    def without_own_settings(experiments):  # an experiment's own evaluation keys and steps are counts: below
        return [{key: value for key, value in e.items() if key not in ("evaluation", "training")} for e in experiments]
    assert without_own_settings(shrunk["experiments"]) == without_own_settings(shipped["experiments"])
    assert shrunk.keys() - {"smoke"} == shipped.keys()
    counts = {"steps", "batch_size", "warmup_steps", *smoke.SCALED_WITH_STEPS, "snapshots", "every", "kl_warmup_steps", "sample_every",
              "reach_target_steps",
              *smoke.CAPS}
    before = dict(_leaves(shipped))
    changed = {path: (before[path], value) for path, value in _leaves(shrunk) if path in before and before[path] != value}
    assert changed, "nothing was shrunk"
    for path, (old, new) in changed.items():
        key = next(k for k in reversed(path) if isinstance(k, str))
        if key in smoke.TOLERANCES:
            assert min(new) if isinstance(new, list) else new >= smoke.TOLERANCE, path
            continue
        assert key in counts, f"{'.'.join(map(str, path))} changed ({old} -> {new}) but is not a count of work"
        assert (max(new) <= max(old)) if isinstance(new, list) else new <= old, path
    assert all(e["training"]["steps"] <= smoke.STEPS for e in shrunk["experiments"] if "training" in e)
    for name, block in shrunk["models"].items():
        training = block["training"]
        assert training["steps"] <= smoke.STEPS and training["batch_size"] <= smoke.BATCH, name
        assert all(s <= training["steps"] for s in training.get("snapshots", [])), name
        assert training["warmup_steps"] <= training["steps"] or training["steps"] == 0, name
        if training.get("sample_every"):  # one small grid, at the end
            assert training["sample_every"] == training["steps"] and training["sample_grid"] == smoke.SMOKE_GRID
        for key in ("network", "hidden", "depth", "channels", "transforms", "latent_dim", "generator", "encoder"):
            assert block.get(key) == shipped["models"][name].get(key), f"models.{name}.{key}: same networks"


def test_same_networks_same_parameter_count():
    """The thesis U-Net under the switch is the thesis U-Net: the same number of parameters."""
    params = validation.load_params(REPO / "params" / "thesis.yaml")
    block, shrunk = params["models"]["diffusion_vp"], smoke.shrink(params)["models"]["diffusion_vp"]

    def count(b):
        return sum(p.numel() for p in make_model(b, (3, 32, 32), {"image": True, "bin_width": 2 / 255}).parameters())

    assert count(shrunk) == count(block) > 20_000_000


def test_steps_scale_keeps_the_schedule_in_place():
    training = {"steps": 300000, "batch_size": 128, "warmup_steps": 5000, "checkpoint_every": 5000, "log_every": 100,
                "snapshots": [1000, 150000, 300000], "early_stopping": {"every": 1000}}
    block = smoke.shrink({"models": {"m": {"family": "x", "training": training}}})["models"]["m"]["training"]
    assert block["steps"] == smoke.STEPS and block["batch_size"] == smoke.BATCH
    assert block["log_every"] == 1  # ceil of a fraction
    assert block["warmup_steps"] == smoke.STEPS  # the whole run: never a first step at the full rate
    assert block["checkpoint_every"] == smoke.STEPS // 2  # one periodic checkpoint, mid-run
    assert block["snapshots"] == [1, 3, 6] and block["early_stopping"]["every"] == 1
    assert smoke.shrink({"models": {"m": {"family": "x", "training": block}}})["models"]["m"]["training"] == block


def test_switch_through_the_cli_and_snakemake(tmp_path):
    """`smoke: true` in a params file, and `--config smoke=True` on the Snakemake command line, reach what the
    CLI reads: the resolved params are the shrunk ones."""
    params = yaml.safe_load((REPO / "params" / "thesis.yaml").read_text())
    path = tmp_path / "smoke.yaml"
    path.write_text(yaml.safe_dump({**params, "smoke": True}))
    loaded = validation.load_params(path)
    assert loaded == smoke.shrink(validation.load_params(REPO / "params" / "thesis.yaml"))
    repo = copy_repo(tmp_path / "repo")
    run(["snakemake", "-n", "--quiet", "all", "--configfile", "params/thesis.yaml", "--config", "smoke=True"], repo)
    resolved = yaml.safe_load((repo / paths.PARAMS).read_text())
    assert resolved == loaded
    checked = subprocess.run([sys.executable, "-m", "genlab.cli", "check-params", "--params", str(path)], cwd=REPO,
                             capture_output=True, text=True)
    assert checked.returncode == 0 and f"valid ({len(params['experiments'])} experiments)" in checked.stdout


def test_counts_with_a_data_dependent_default_are_capped_too(shipped):
    """The intrinsic dimension's scores per point default to 4 D (4096 thesis U-Net calls a point on 32x32
    blobs): no key-name cap reaches a default, so the switch writes the cap where the file writes nothing, and
    an experiment's own count is capped by its key."""
    shrunk = smoke.shrink(shipped)
    for metric, counts in smoke.DATA_DEPENDENT_COUNTS.items():
        if metric not in shipped["evaluation"]:
            continue
        for key, cap in counts.items():
            assert shrunk["evaluation"][metric][key] == min(shipped["evaluation"][metric].get(key, cap), cap)
            for exp in shrunk["experiments"]:
                assert exp.get("evaluation", {}).get(metric, {}).get(key, 0) <= cap, exp
