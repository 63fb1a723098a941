"""Data-parallel training (torchrun, gloo on CPU, 2 processes) follows the one-process run with the same
global batch: same parameters within float tolerance (only the all-reduce's summation order differs).
The check uses a deterministic loss (a classifier without dropout), so any difference is the mechanism's."""

import subprocess
import sys

import torch
import yaml

from genlab.data import make_dataset
from genlab.checkpoints import load_checkpoint
from tests.conftest import small_params


def _train(tmp_path, name, processes, model):
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"] \
        if processes > 1 else [sys.executable]
    cmd = launcher + ["-m", "genlab.cli", "train", "--params", str(tmp_path / "params.yaml"), "--dataset",
                      "digits", "--model", model, "--data", str(tmp_path / "digits.npz"), "--run-dir",
                      str(tmp_path / name), "--no-progress", "--device", "cpu"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return load_checkpoint(tmp_path / name / "checkpoint.pt")


def test_two_processes_match_one_process_with_the_same_global_batch(tmp_path):
    params = small_params()
    params["models"]["classifier"].update(dropout=0.0, width=8, features=16)
    params["models"]["classifier"]["training"].update(steps=40, batch_size=64, checkpoint_every=20)
    params["models"]["diffusion_vp"]["training"].update(steps=20, batch_size=32)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    make_dataset("digits", params["datasets"]["digits"], params["seed"]).save(tmp_path / "digits.npz")
    one = _train(tmp_path, "one", 1, "classifier")
    two = _train(tmp_path, "two", 2, "classifier")
    assert one["step"] == two["step"] == 40
    for key in ("model", "ema"):
        for name, tensor in one[key].items():
            assert torch.allclose(tensor, two[key][name], rtol=1e-4, atol=1e-6), f"{key}.{name}"
    assert len(load_checkpoint(tmp_path / "two" / "train_state.pt")["rng"]["torch_per_rank"]) == 2
    # the stochastic diffusion loss trains data-parallel too (ranks draw different noise)
    diffusion = _train(tmp_path, "diffusion", 2, "diffusion_vp")
    assert diffusion["step"] == 20 and all(torch.isfinite(t).all() for t in diffusion["model"].values())
