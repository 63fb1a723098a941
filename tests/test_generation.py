"""The figures' samples file, drawn by the evaluation job after its metrics: the same arrays as when drawn
alone from a freshly loaded model (the metrics that swap in training snapshots leave the model as it came)."""

import numpy as np
import yaml

from genlab import cli
from genlab import config as cfg
from genlab.checkpoints import load_checkpoint, trained_model
from genlab.data import load_dataset, make_dataset
from genlab.generation import samples_file
from tests.conftest import small_params


def test_evaluation_draws_the_samples_a_fresh_model_draws(tmp_path):
    params = small_params()
    params["experiments"].append({"dataset": "ring", "model": "gan", "metrics": ["modes"]})  # thesis.yaml's
    params["models"]["gan"]["training"].update(steps=20, snapshots=[10, 20], checkpoint_every=100)
    params_path, data, run = tmp_path / "params.yaml", tmp_path / "ring.npz", tmp_path / "run"
    params_path.write_text(yaml.safe_dump(params))
    make_dataset("ring", params["datasets"]["ring"], params["seed"]).save(data)
    common = ["--params", str(params_path), "--dataset", "ring", "--model", "gan", "--device", "cpu"]
    assert cli.main(["train", *common, "--data", str(data), "--run-dir", str(run), "--no-progress"]) == 0
    checkpoint, samples = run / "checkpoint.pt", tmp_path / "samples.npz"
    # modes swaps each training snapshot into the model before the samples are drawn
    assert cli.main(["evaluate", *common, "--data", str(data), "--checkpoint", str(checkpoint), "--metric", "modes",
                     "--out", str(tmp_path / "modes.csv"), "--samples", str(samples), "--samples-n", "50"]) == 0
    exp, dataset = cfg.experiment(params, "ring", "gan"), load_dataset(data)
    alone = samples_file(trained_model(exp, dataset, checkpoint, "cpu"), dataset, load_checkpoint(checkpoint, exp.hash),
                         50, exp.seed)
    with np.load(samples) as drawn:
        assert sorted(drawn.files) == sorted(alone) == ["nfe", "samples", "snapshot_samples", "snapshot_steps"]
        for key, value in alone.items():
            np.testing.assert_array_equal(drawn[key], value, err_msg=key)
    assert alone["samples"].shape == (50, 2) and alone["snapshot_samples"].shape == (2, 50, 2)
    # the final weights' samples are not the last snapshot's (else the check above could not tell them apart)
    assert not np.array_equal(alone["samples"], alone["snapshot_samples"][-1])


def test_evaluate_with_nothing_to_do_is_refused(tmp_path, capsys):
    params_path = tmp_path / "params.yaml"
    params_path.write_text(yaml.safe_dump(small_params()))
    assert cli.main(["evaluate", "--params", str(params_path), "--dataset", "ring", "--model", "gaussian",
                     "--data", "x.npz", "--checkpoint", "c.pt"]) == 2
    assert "nothing to evaluate: give --metric" in capsys.readouterr().err


def test_cpu_sized_network_calls_give_the_rows_one_call_gives(monkeypatch):
    """Sampling's large batches go through the network in cache-sized calls on a CPU (genlab.batching): a
    conditional U-Net's outputs for 7 rows in calls of 3 (the per-row time and the image condition cut alike)
    are those of one call, and a call where gradients flow is never cut."""
    import torch

    from genlab import batching
    from genlab.families import make_model
    params = yaml.safe_load(open("params/default.yaml"))
    data = make_dataset("digits", params["datasets"]["digits"], 0)
    block = {**params["models"]["cde_superres"], "network": {"kind": "unet", "channels": 8, "channel_mults": [1, 2],
                                                              "blocks_per_level": 1, "embedding": 16,
                                                              "attention": False}}
    model = make_model(block, data.example_shape, data.meta).eval()
    g = torch.Generator().manual_seed(0)
    x, y, t = torch.randn(7, 1, 8, 8, generator=g), torch.randn(7, 1, 8, 8, generator=g), torch.rand(7, generator=g)
    calls = []
    network = model.network.forward
    monkeypatch.setattr(model.network, "forward", lambda *args: calls.append(len(args[0])) or network(*args))
    with torch.no_grad():
        whole = model.eps(x, t, y)
        monkeypatch.setitem(batching.ELEMENTS_PER_CALL, "cpu", 3 * 64)
        cut = model.eps(x, t, y)
    assert calls == [7, 3, 3, 1]
    # a smaller batch may take another convolution algorithm: equal to float32's last few bits (the default
    # run's 28x28 draws and FIDs came out bitwise equal, docs/design.md)
    torch.testing.assert_close(cut, whole, rtol=1e-5, atol=1e-5)
    model.eps(x, t, y)  # gradients on: one call
    assert calls[-1] == 7
