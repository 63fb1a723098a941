"""The training loop: resume after a kill or a preemption signal is bit-identical to an uninterrupted
run; a NaN loss stops with a clear error and keeps the last good checkpoint; foreign or damaged
checkpoints are refused."""

import csv
import json
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml

from genlab import config as cfg
from genlab.data import load_dataset, make_dataset
from genlab.errors import CheckpointError, NumericsError
from genlab.families import make_model
from genlab.checkpoints import load_checkpoint
from genlab.train import seed_everything, train
from tests.conftest import small_params

STEPS = 500  # the first checkpoint (step 100) well before the end, where the kills land


def _setup(tmp_path, steps=STEPS):
    params = small_params()
    params["models"]["diffusion_toy"]["training"].update(steps=steps, checkpoint_every=100, log_every=50)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    data = tmp_path / "ring.npz"
    make_dataset("ring", params["datasets"]["ring"], params["seed"]).save(data)
    return params, path, data


def _train_cmd(params_path, data, run_dir):
    return [sys.executable, "-m", "genlab.cli", "train", "--params", str(params_path), "--dataset", "ring",
            "--model", "diffusion_toy", "--data", str(data), "--run-dir", str(run_dir), "--no-progress",
            "--device", "cpu"]


def _assert_same_run(run_a, run_b):
    a, b = load_checkpoint(run_a / "checkpoint.pt"), load_checkpoint(run_b / "checkpoint.pt")
    assert a["step"] == b["step"] == STEPS
    for key in ("model", "ema"):
        for name, tensor in a[key].items():
            assert torch.equal(tensor, b[key][name]), f"{key}.{name} differs"
    state_a, state_b = load_checkpoint(run_a / "train_state.pt"), load_checkpoint(run_b / "train_state.pt")
    for (na, ta), (nb, tb) in zip(state_a["optimizer"]["state"].items(), state_b["optimizer"]["state"].items()):
        assert all(torch.equal(ta[k], tb[k]) for k in ta), "optimizer state differs"

    def losses(run):
        with open(run / "train_log.csv") as handle:
            return [(row["step"], row["loss"]) for row in csv.DictReader(handle)]

    assert losses(run_a) == losses(run_b)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("uninterrupted")
    params, params_path, data = _setup(tmp_path)
    subprocess.run(_train_cmd(params_path, data, tmp_path / "run"), check=True, capture_output=True)
    return tmp_path / "run"


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGUSR1], ids=lambda s: s.name)
def test_resume_after_interruption_is_bit_identical(tmp_path, uninterrupted, sig):
    params, params_path, data = _setup(tmp_path)
    run = tmp_path / "run"
    process = subprocess.Popen(_train_cmd(params_path, data, run), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not (run / "train_state.pt").exists():
        assert process.poll() is None and time.time() < deadline, "training ended before its first checkpoint"
        time.sleep(0.02)
    process.send_signal(sig)
    code = process.wait(timeout=60)
    assert code == (-signal.SIGKILL if sig == signal.SIGKILL else 143), process.stderr.read()
    interrupted_at = load_checkpoint(run / "train_state.pt")["step"]
    assert 0 < interrupted_at < STEPS
    assert not (run / "checkpoint.pt").exists()
    subprocess.run(_train_cmd(params_path, data, run), check=True, capture_output=True)
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")], "a temporary file was left behind"
    _assert_same_run(uninterrupted, run)


def test_nan_loss_stops_with_clear_error_and_keeps_last_good_state(tmp_path):
    params, _, data_path = _setup(tmp_path, steps=400)
    exp = cfg.experiment(params, "ring", "diffusion_toy")
    dataset = load_dataset(data_path)
    seed_everything(exp.seed)
    model = make_model(exp.model, dataset.example_shape, dataset.meta)
    original_loss, calls = model.loss, {"n": 0}

    def loss(batch):
        calls["n"] += 1
        out = original_loss(batch)
        if calls["n"] == 250:
            out["loss"] = out["loss"] * float("nan")
        return out

    model.loss = loss
    with pytest.raises(NumericsError, match=r"loss became nan at step 250.*train_state.pt \(step 200\)"):
        train(model, dataset, exp.training, tmp_path / "run", seed=exp.seed, config_hash=exp.hash,
              config=exp.resolved(), device=torch.device("cpu"), progress=False)
    assert load_checkpoint(tmp_path / "run" / "train_state.pt")["step"] == 200
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_foreign_checkpoint_is_refused(tmp_path, uninterrupted):
    params, params_path, data = _setup(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    (run / "train_state.pt").write_bytes((uninterrupted / "checkpoint.pt").read_bytes())
    params["models"]["diffusion_toy"]["training"]["lr"] *= 2  # another config: another hash
    params_path.write_text(yaml.safe_dump(params))
    result = subprocess.run(_train_cmd(params_path, data, run), capture_output=True, text=True)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("genlab: error: checkpoint") and "config hash" in lines[-1]


def test_a_state_of_another_network_for_the_same_config_is_refused(tmp_path, uninterrupted):
    """What a run directory holds after the family's network changed under the same config (the 28x28 feature
    net's new depth, 2026-11-27): one line naming the file and the fix, exit 2, the file left as it was."""
    params, params_path, data = _setup(tmp_path)
    state = load_checkpoint(uninterrupted / "checkpoint.pt")
    for key in ("model", "ema"):
        state[key] = {name: torch.zeros(3) if i == 0 else tensor for i, (name, tensor) in enumerate(state[key].items())}
    run = tmp_path / "run"
    run.mkdir()
    torch.save(state, run / "train_state.pt")
    before = (run / "train_state.pt").read_bytes()
    result = subprocess.run(_train_cmd(params_path, data, run), capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"genlab: error: checkpoint {run / 'train_state.pt'} does not fit this model (size mismatch")
    assert last.endswith(f"delete {run} to retrain") and "Traceback" not in result.stderr
    assert (run / "train_state.pt").read_bytes() == before and not (run / "checkpoint.pt").exists()


def test_truncated_checkpoint_is_refused(tmp_path, uninterrupted):
    damaged = tmp_path / "checkpoint.pt"
    content = (uninterrupted / "checkpoint.pt").read_bytes()
    damaged.write_bytes(content[: len(content) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(damaged)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"junk.pt is unreadable \(truncated or corrupt: ") as refused:
        load_checkpoint(tmp_path / "junk.pt")
    assert "\n" not in str(refused.value) and "weights_only" not in str(refused.value)  # one line, no unsafe advice


class _RunsACommand:
    """A pickle that runs a shell command when unpickled: what a crafted checkpoint on a shared remote can be."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os
        return os.system, (f"touch {self.marker}",)


def test_crafted_checkpoint_is_refused_without_running_its_code(tmp_path, uninterrupted):
    params, params_path, data = _setup(tmp_path)
    marker = tmp_path / "code_ran"
    good = load_checkpoint(uninterrupted / "checkpoint.pt")
    crafted = tmp_path / "crafted.pt"
    torch.save({**good, "rng": _RunsACommand(marker)}, crafted)  # everything else a valid checkpoint
    exp = cfg.experiment(params, "ring", "diffusion_toy")
    for command in (_train_cmd(params_path, data, tmp_path / "run"),
                    [sys.executable, "-m", "genlab.cli", "evaluate", "--params", str(params_path), "--dataset",
                     "ring", "--model", "diffusion_toy", "--data", str(data), "--checkpoint", str(crafted),
                     "--metric", "nll", "--out", str(tmp_path / "nll.json"), "--device", "cpu"]):
        (tmp_path / "run").mkdir(exist_ok=True)
        (tmp_path / "run" / "train_state.pt").write_bytes(crafted.read_bytes())
        result = subprocess.run(command, capture_output=True, text=True)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert lines[-1].startswith("genlab: error: checkpoint") and "posix.system" in lines[-1], lines[-1]
        assert not marker.exists(), "loading the crafted checkpoint ran its command"
    assert not (tmp_path / "nll.json").exists() and not (tmp_path / "run" / "checkpoint.pt").exists()
    assert good["config_hash"] == exp.hash  # the crafted file would have passed every other check


def _kill_after(cmd, seconds):
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(seconds)
    process.kill()
    process.wait()


@pytest.mark.parametrize("delay", [0.5, 1.5, 3.0])
def test_kill_9_during_data_and_evaluation_leaves_no_partial_file(tmp_path, uninterrupted, delay):
    """Whenever the kill lands, an output is either absent or complete, no temp file remains, and a
    rerun completes."""
    params, params_path, data = _setup(tmp_path)
    params["datasets"]["big"] = {"kind": "sphere", "n_train": 400_000, "n_test": 1000, "k": 10,
                                 "ambient_dim": 100}
    params_path.write_text(yaml.safe_dump(params))
    big = tmp_path / "big.npz"
    data_cmd = [sys.executable, "-m", "genlab.cli", "data", "--params", str(params_path), "--dataset", "big",
                "--out", str(big)]
    metric = tmp_path / "cost.json"
    eval_cmd = [sys.executable, "-m", "genlab.cli", "evaluate", "--params", str(params_path), "--dataset",
                "ring", "--model", "diffusion_toy", "--metric", "cost", "--data", str(data), "--checkpoint",
                str(uninterrupted / "checkpoint.pt"), "--out", str(metric), "--device", "cpu"]
    for cmd, output, check in ((data_cmd, big, lambda p: load_dataset(p).x_train.shape == (400_000, 100)),
                               (eval_cmd, metric, lambda p: json.loads(p.read_text())["nfe"] > 0)):
        _kill_after(cmd, delay)
        assert not output.exists() or check(output)
        subprocess.run(cmd, check=True, capture_output=True)
        assert check(output)
        assert not list(tmp_path.glob(".*.tmp")), "the rerun left a killed writer's temporary file"


ADAMW_CHECK = """
import sys, torch
from genlab.train import AdamW
torch.manual_seed(0)
shapes = [(5, 3), (3,), (4, 4)]
init = [torch.randn(s) for s in shapes]
grads = [[None if (i % 7 == 3 and j == 1) else torch.randn(s) for j, s in enumerate(shapes)] for i in range(30)]

def run(cls):
    params = [torch.nn.Parameter(x.clone()) for x in init]
    def make():
        return cls([{"params": params[:2]}, {"params": params[2:], "lr_scale": 3.0}], lr=1e-3, weight_decay=1e-2,
                   betas=(0.5, 0.99), fused=True)  # as genlab.train.adamw
    optimizer = make()
    for i, step_grads in enumerate(grads):
        optimizer.zero_grad(set_to_none=True)
        for p, g in zip(params, step_grads):
            p.grad = None if g is None else g.clone()
        for group in optimizer.param_groups:  # the trainer's schedule: lr set every step, per-group scales
            group["lr"] = 1e-3 * (1 + i % 3) * group.get("lr_scale", 1.0)
        optimizer.step()
        if i == 15:  # a resume: the state dict into a new optimizer
            state = optimizer.state_dict()
            optimizer = make()
            optimizer.load_state_dict(state)
    return params, optimizer.state_dict()

ours, ours_state = run(AdamW)
assert "torch._dynamo" not in sys.modules, "genlab's AdamW imported torch._dynamo"
theirs, theirs_state = run(torch.optim.AdamW)
assert all(torch.equal(a, b) for a, b in zip(ours, theirs)), "parameters differ from torch.optim.AdamW's"
assert ours_state["param_groups"] == theirs_state["param_groups"]
assert all(torch.equal(ours_state["state"][i][k], theirs_state["state"][i][k]) for i in theirs_state["state"]
           for k in theirs_state["state"][i])
print("ok")
"""


def test_adamw_is_torchs_bit_for_bit_without_importing_dynamo():
    """genlab.train.AdamW skips the wrappers that import torch._dynamo (2.5 s per training process) and is
    otherwise torch.optim.AdamW: the same parameters, bit for bit, over 30 steps with two parameter groups,
    a missing gradient, the trainer's per-step learning rates and a state-dict round trip, and the same state
    dict. In a fresh interpreter: this one may have imported Dynamo already."""
    result = subprocess.run([sys.executable, "-c", ADAMW_CHECK], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]


def test_the_fused_update_is_adamws_update_up_to_float_order():
    """The trainer's fused AdamW against the foreach form of the same update (the earlier default): equal to
    float32's last bits, not bit for bit (one kernel orders the operations its own way); 200 steps of a
    schedule with weight decay keep the drift at round-off, so a model's trajectory starts the same."""
    from genlab.train import adamw
    torch.manual_seed(0)
    init = [torch.randn(64, 32), torch.randn(32), torch.randn(7, 3, 3, 3)]
    grads = [[torch.randn_like(x) for x in init] for _ in range(200)]
    settings = {"lr": 1e-3, "weight_decay": 1e-2, "betas": (0.9, 0.99)}

    def run(make):
        params = [torch.nn.Parameter(x.clone()) for x in init]
        optimizer = make(params)
        for step_grads in grads:
            for p, g in zip(params, step_grads):
                p.grad = g.clone()
            optimizer.step()
        return params

    fused = run(lambda params: adamw(params, settings))
    foreach = run(lambda params: torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-2, betas=(0.9, 0.99),
                                                   foreach=True))
    moved = max(float((p - x).abs().max()) for p, x in zip(fused, init))
    assert moved > 0.02  # 200 steps of lr 1e-3 on random gradients moved the parameters (not two starts compared)
    for a, b in zip(fused, foreach):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_the_checkpoint_keeps_what_evaluation_reads_and_the_state_what_resuming_reads(uninterrupted):
    checkpoint = load_checkpoint(uninterrupted / "checkpoint.pt")
    state = load_checkpoint(uninterrupted / "train_state.pt")
    assert not {"optimizer", "rng", "window"} & set(checkpoint) and {"optimizer", "rng", "window"} <= set(state)
    for key in ("model", "ema"):
        assert all(torch.equal(tensor, state[key][name]) for name, tensor in checkpoint[key].items())
    assert (checkpoint["step"], checkpoint["config_hash"], checkpoint["log"]) == (state["step"], state["config_hash"],
                                                                               state["log"])
    assert (uninterrupted / "checkpoint.pt").stat().st_size < 0.6 * (uninterrupted / "train_state.pt").stat().st_size
