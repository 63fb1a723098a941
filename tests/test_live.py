"""Live training metrics (genlab.live): the dvclive series are train_log.csv's columns, written while the job
runs; after a SIGKILL and a resume they are one continuous series equal to an uninterrupted run's; sample
grids of image models leave training bit-identical; an unwritable folder is one line; DVC reads the series
through dvc.yaml's top-level plots and metrics."""

import csv
import json
import shutil
import signal
import subprocess
import time

import numpy as np
import pytest
import torch
from PIL import Image

from genlab import config as cfg
from genlab.checkpoints import load_checkpoint
from genlab.data import make_dataset
from genlab.dvc import live_logs
from genlab.errors import ConfigError
from genlab.families import MODELS, make_model
from genlab.live import IMAGES_DIR, LIVE_DIR, METRICS_DIR, SAMPLES, SUMMARY_FILE, LiveLog
from genlab.train import seed_everything, train
from tests.conftest import REPO, copy_repo, run, small_params
from tests.test_train import STEPS, _setup, _train_cmd, uninterrupted  # noqa: F401 (uninterrupted: a fixture)

WALL_CLOCK = ("elapsed_s", "steps_per_s")


def _complete_lines(path):
    """The lines a writer has finished (a reader may look while a row is half written)."""
    text = path.read_text() if path.exists() else ""
    return text[:text.rfind("\n") + 1].splitlines()


def series(run_dir):
    """Every dvclive metric TSV of a run as {name: [(step, value), ...]}."""
    result = {}
    for path in sorted((run_dir / LIVE_DIR / METRICS_DIR).glob("*.tsv")):
        rows = csv.DictReader(_complete_lines(path), delimiter="\t")
        result[path.stem] = [(int(row["step"]), float(row[path.stem])) for row in rows]
    return result


def last_logged_step(run_dir):
    steps = series(run_dir).get("loss", [])
    return steps[-1][0] if steps else 0


def assert_live_is_the_log(run_dir):
    with open(run_dir / "train_log.csv") as handle:
        rows = list(csv.DictReader(handle))
    columns = [key for key in rows[0] if key != "step"]
    assert {"loss", "lr", "elapsed_s", "steps_per_s"} <= set(columns)
    live = series(run_dir)
    assert sorted(live) == sorted(columns)
    for key in columns:
        assert live[key] == [(int(row["step"]), float(row[key])) for row in rows if row[key] != ""], key
    summary = json.loads((run_dir / LIVE_DIR / SUMMARY_FILE).read_text())
    assert summary["step"] == int(rows[-1]["step"]) and summary["loss"] == float(rows[-1]["loss"])
    return live, summary


def test_live_series_are_the_train_log_columns(uninterrupted):
    assert_live_is_the_log(uninterrupted)
    # nothing else of dvclive's: no dvc.yaml, params, report or experiment files
    files = {p.relative_to(uninterrupted / LIVE_DIR).as_posix() for p in (uninterrupted / LIVE_DIR).rglob("*")
             if p.is_file()}
    assert files == {SUMMARY_FILE, *(f"{METRICS_DIR}/{key}.tsv" for key in series(uninterrupted))}


def test_files_are_byte_for_byte_what_dvclive_writes(tmp_path):
    """genlab.live.DVCLiveFiles against dvclive's own Live (the writer it replaces, constructed as genlab did:
    resumed, no DVC repository, no Studio), fed the same calls: a fresh run's empty summary, rows with an
    integer, NaN and infinities, a metric that starts late, a grid, the summary again: every file equal."""
    from dvclive import Live
    from genlab.live import DVCLiveFiles

    class OfflineLive(Live):
        def _init_dvc(self):
            self._dvc_file = "dvc.yaml"

        def _init_studio(self):
            self._studio_events_to_skip = {"start", "data", "done"}

    theirs = OfflineLive(str(tmp_path / "theirs"), resume=True, save_dvc_exp=False, dvcyaml=None, report=None,
                         monitor_system=False)
    ours = DVCLiveFiles(tmp_path / "ours")
    (tmp_path / "ours").mkdir()
    grid = (np.arange(30 * 20 * 3) % 256).astype(np.uint8).reshape(30, 20, 3)
    calls = [("summary",), ("row", 10, {"loss": 0.1 + 0.2, "lr": 1e-3, "count": 7}),
             ("row", 20, {"loss": float("nan"), "lr": 5e-4, "count": 8, "val_loss": float("inf")}),
             ("image", 20, "samples/step_00000020.png", grid), ("summary",),
             ("row", 30, {"loss": -float("inf"), "lr": 2.5e-4, "count": 9, "val_loss": 1.0 / 3}), ("summary",)]
    for writer in (theirs, ours):
        for call in calls:
            if call[0] == "summary":
                writer.make_summary()
            elif call[0] == "row":
                writer.step = call[1]
                for key, value in call[2].items():
                    writer.log_metric(key, value)
            else:
                writer.step = call[1]
                writer.log_image(call[2], call[3])
    files = {root: {p.relative_to(tmp_path / root).as_posix(): p.read_bytes()
                    for p in (tmp_path / root).rglob("*") if p.is_file()} for root in ("theirs", "ours")}
    assert set(files["ours"]) == {SUMMARY_FILE, f"{IMAGES_DIR}/{SAMPLES}/step_00000020.png",
                                  *(f"{METRICS_DIR}/{key}.tsv" for key in ("loss", "lr", "count", "val_loss"))}
    assert files["ours"] == files["theirs"]
    assert json.loads(files["ours"][SUMMARY_FILE]) == {"step": 30, "loss": "-inf", "lr": 2.5e-4, "count": 9,
                                                       "val_loss": 1.0 / 3}


def test_live_series_grow_while_training_and_are_continuous_after_sigkill(tmp_path, uninterrupted):
    """Read from this process while the job runs: the series grow before checkpoint.pt exists. The job is
    killed when its live log is ahead of its train_state.pt (frozen with SIGSTOP to compare the two), so the
    resume restarts behind rows already written: afterwards every series has each step once, and equals
    the uninterrupted run's (wall-clock fields: the same steps)."""
    params, params_path, data = _setup(tmp_path)
    run_dir = tmp_path / "run"
    process = subprocess.Popen(_train_cmd(params_path, data, run_dir), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    seen, deadline = [], time.time() + 120
    while True:
        assert process.poll() is None and time.time() < deadline, "training ended before it could be killed"
        assert not (run_dir / "checkpoint.pt").exists()
        logged = last_logged_step(run_dir)
        if logged and logged not in seen:
            seen.append(logged)
        if (run_dir / "train_state.pt").exists() and len(seen) >= 3:
            process.send_signal(signal.SIGSTOP)
            state_step = load_checkpoint(run_dir / "train_state.pt")["step"]
            logged = last_logged_step(run_dir)
            if logged > state_step:
                process.kill()
                break
            process.send_signal(signal.SIGCONT)
        time.sleep(0.01)
    assert process.wait(timeout=60) == -signal.SIGKILL
    assert seen == sorted(seen), "the live series went backwards while training"
    assert 0 < state_step < logged < STEPS
    subprocess.run(_train_cmd(params_path, data, run_dir), check=True, capture_output=True)
    resumed, resumed_summary = assert_live_is_the_log(run_dir)
    reference, reference_summary = assert_live_is_the_log(uninterrupted)
    assert sorted(resumed) == sorted(reference)
    for key in reference:
        assert [s for s, _ in resumed[key]] == [s for s, _ in reference[key]], f"{key}: duplicated or missing steps"
        if key not in WALL_CLOCK:
            assert resumed[key] == reference[key], key
    for key in WALL_CLOCK:
        del resumed_summary[key], reference_summary[key]
    assert resumed_summary == reference_summary


def test_reopening_rebuilds_the_series_from_the_state_and_keeps_earlier_grids(tmp_path):
    """What a kill leaves after the last train_state.pt (rows, a half-written line and summary, later grids)
    is replaced by the state's rows; grids up to the resumed step stay."""
    rows = [{"step": s, "loss": 1.0 / s, "lr": 0.1, "elapsed_s": s / 10, "steps_per_s": 10.0} for s in (10, 20, 30)]
    log = LiveLog(tmp_path, [], 0)
    for row in rows:
        log.log_row(row)
    grids = tmp_path / LIVE_DIR / IMAGES_DIR / SAMPLES
    grids.mkdir(parents=True)
    for step in (10, 20, 30):
        Image.fromarray(np.zeros((4, 4), np.uint8)).save(grids / f"step_{step:08d}.png")
    with open(tmp_path / LIVE_DIR / METRICS_DIR / "loss.tsv", "a") as handle:
        handle.write("40\t0.0")  # killed mid-row
    (tmp_path / LIVE_DIR / SUMMARY_FILE).write_text('{"step": 4')  # killed mid-summary
    LiveLog(tmp_path, rows[:2], 20)
    assert series(tmp_path)["loss"] == [(10, 0.1), (20, 0.05)]
    assert (tmp_path / LIVE_DIR / METRICS_DIR / "loss.tsv").read_text().endswith("0.05\n")
    assert json.loads((tmp_path / LIVE_DIR / SUMMARY_FILE).read_text())["step"] == 20
    assert sorted(p.name for p in grids.iterdir()) == ["step_00000010.png", "step_00000020.png"]


def _train_digits(params, model_name, run_dir):
    exp = cfg.experiment(params, "digits", model_name)
    dataset = make_dataset("digits", params["datasets"]["digits"], params["seed"])
    seed_everything(exp.seed)
    model = make_model(exp.model, dataset.example_shape, dataset.meta)
    train(model, dataset, exp.training, run_dir, seed=exp.seed, config_hash=exp.hash, config=exp.resolved(),
          device=torch.device("cpu"), progress=False)
    return load_checkpoint(run_dir / "train_state.pt")  # weights, optimizer, RNG streams and log


@pytest.mark.parametrize("model_name", ["vae", "ebm", "diffusion_vp"])  # SGLD: gradients and its own noise
def test_sample_grids_along_training_leave_it_bit_identical(tmp_path, model_name):
    params = small_params()  # 60 steps
    plain = _train_digits(params, model_name, tmp_path / "plain")
    params["models"][model_name]["training"]["sample_every"] = 25
    sampled = _train_digits(params, model_name, tmp_path / "sampled")
    grids = tmp_path / "sampled" / LIVE_DIR / IMAGES_DIR / SAMPLES
    assert sorted(p.name for p in grids.iterdir()) == ["step_00000025.png", "step_00000050.png",
                                                       "step_00000060.png"]  # and at the end
    image = Image.open(grids / "step_00000060.png")
    assert image.mode == "L" and image.size == (284, 284)  # 8 x 8 digits of 8 x 8 pixels, gutters, x4
    assert len({(grids / name).read_bytes() for name in ("step_00000025.png", "step_00000060.png")}) == 2
    assert not (tmp_path / "plain" / LIVE_DIR / IMAGES_DIR).exists()
    for key in ("model", "ema"):
        for name, tensor in plain[key].items():
            assert torch.equal(tensor, sampled[key][name]), f"{key}.{name} differs"
    for state_a, state_b in zip(plain["optimizer"]["state"].values(), sampled["optimizer"]["state"].values()):
        assert all(torch.equal(state_a[k], state_b[k]) for k in state_a), "optimizer state differs"
    for stream in ("torch", "batches"):
        assert torch.equal(plain["rng"][stream], sampled["rng"][stream]), stream
    assert plain["rng"]["python"] == sampled["rng"]["python"]
    assert torch.equal(plain["rng"]["numpy"]["keys"], sampled["rng"]["numpy"]["keys"])
    strip = lambda rows: [{k: v for k, v in row.items() if k not in WALL_CLOCK} for row in rows]  # noqa: E731
    assert strip(plain["log"]) == strip(sampled["log"])


def test_sample_every_needs_a_family_that_samples(tmp_path):
    params = small_params()
    params["models"]["cde_label"]["training"]["sample_every"] = 10
    with pytest.raises(ConfigError, match="sample_every.*cannot sample"):
        _train_digits(params, "cde_label", tmp_path / "run")


def test_thesis_draws_grids_for_its_image_models_and_default_for_none():
    thesis = cfg.load_params(REPO / "params" / "thesis.yaml")
    drawn = set()
    for exp in thesis["experiments"]:
        block = thesis["models"][exp["model"]]
        if block["training"].get("sample_every"):
            assert "sample" in MODELS[block["family"]].capabilities, exp
            if thesis["datasets"][exp["dataset"]]["kind"] in cfg.IMAGE_KINDS:
                drawn.add(f"{exp['dataset']}/{exp['model']}")
    assert drawn == {"digits/gan", "digits/wgan", "digits/vae", "digits/vae_scorevae_beta", "digits/flow", "digits/ebm",
                     "digits/diffusion_vp_digits", "mnist/diffusion_vp", "mnist/gan", "mnist/gan_minimax", "mnist/wgan", "mnist/vae",
                     "mnist/flow_mnist", "mnist/ebm", "cifar10/diffusion_vp", "mnist28/diffusion_unet",
                     "mnist28/multiscale"}
    images = {plot for plot in live_logs(thesis)["plots"] if isinstance(plot, str)}  # dvc.yaml's image folders
    assert images == {f"results/{run}/{LIVE_DIR}/{IMAGES_DIR}" for run in drawn}
    default = cfg.load_params(REPO / "params" / "default.yaml")  # the CPU budget: no grids
    assert not any("sample_every" in block["training"] for block in default["models"].values())


def test_unwritable_live_folder_is_one_line(tmp_path):
    params, params_path, data = _setup(tmp_path)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / LIVE_DIR).write_text("a file where the folder goes")
    result = subprocess.run(_train_cmd(params_path, data, run_dir), capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"genlab: error: cannot write the live training metrics in {run_dir / LIVE_DIR}"), last
    assert "writable folder" in last and not (run_dir / "train_state.pt").exists()  # before any training


def test_dvc_reads_the_live_series_through_dvc_yaml(tmp_path, uninterrupted):
    """The committed dvc.yaml's top-level plots and metrics, in a copy of the repo holding one run's folder:
    `dvc plots show` finds its series (x: step), `dvc metrics show` its summary."""
    repo = copy_repo(tmp_path)
    run_dir = repo / "results" / "ring" / "diffusion_toy"
    shutil.copytree(uninterrupted / LIVE_DIR, run_dir / LIVE_DIR)
    git = ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.com"]
    run(["git", "init", "-q"], repo)
    run(git + ["add", "-A"], repo)
    run(git + ["commit", "-q", "-m", "snapshot"], repo)
    plots = json.loads(run(["dvc", "plots", "show", "--json"], repo).stdout)["data"]
    folder = f"results/ring/diffusion_toy/{LIVE_DIR}/{METRICS_DIR}"
    for key, points in series(uninterrupted).items():
        values = plots[f"{folder}/{key}.tsv"][0]["content"]["data"]["values"]
        assert [(int(v["step"]), float(v[key])) for v in values] == points, key
    metrics = json.loads(run(["dvc", "metrics", "show", "--json"], repo).stdout)
    summary = next(iter(metrics.values()))["data"][f"results/ring/diffusion_toy/{LIVE_DIR}/{SUMMARY_FILE}"]["data"]
    assert summary["step"] == STEPS
