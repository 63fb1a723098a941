"""The auto-encoder check of the intrinsic dimension (genlab.analysis.autoencoder_dim): the batched networks
are the plain auto-encoders they stand for, and on data of known dimension the error stops falling there."""

import json

import numpy as np
import pytest
import torch
import yaml

from genlab.analysis.autoencoder_dim import AutoEncoders, knee_of, reconstruction_errors
from genlab.data.registry import make_dataset

SETTINGS = {"width": 64, "depth": 2, "steps": 1500, "batch_size": 128, "lr": 1.0e-3}


def test_each_batched_network_is_a_plain_mlp_auto_encoder_with_its_own_latent_size():
    """Model i of the batch computes what torch.nn.Linear layers with its slice of the weights compute, with
    only its first L_i latent units: the units beyond get no gradient and change nothing."""
    sizes = [1, 3, 4]
    model = AutoEncoders(6, sizes, width=5, depth=2, seed=0)
    x = torch.randn(7, 6)
    out = model(x)
    for i, size in enumerate(sizes):
        h = x
        for part in (model.encoder, model.decoder):
            layers = [m for m in part if not isinstance(m, torch.nn.SiLU)]
            for j, layer in enumerate(layers):
                weight, bias = layer.weight[i], layer.bias[i, 0]
                if part is model.decoder and j == 0:
                    weight = weight[:size]  # the decoder reads only the kept latent units
                h = h @ weight + bias
                if j < len(layers) - 1:
                    h = torch.nn.functional.silu(h)
            if part is model.encoder:
                h = h[:, :size]
        torch.testing.assert_close(out[i], h)
    out.pow(2).sum().backward()
    last_encoder, first_decoder = model.encoder[-1], model.decoder[0]
    for i, size in enumerate(sizes):
        assert last_encoder.weight.grad[i, :, size:].abs().sum() == 0
        assert first_decoder.weight.grad[i, size:, :].abs().sum() == 0
        assert last_encoder.weight.grad[i, :, :size].abs().max() > 0


def test_knee_is_the_first_size_within_the_tolerance_of_the_best():
    assert knee_of([2, 3, 4, 5], [0.5, 0.2, 0.004, 0.001]) == 4
    assert knee_of([2, 3, 4, 5], [0.5, 0.2, 0.012, 0.001]) == 5
    assert knee_of([2, 3], [0.001, 0.0], tolerance=0.01) == 2


def test_error_on_a_linear_subspace_falls_as_pca_says_and_stops_at_its_dimension():
    """Gaussian data on a 3-D subspace of R^8 with equal variance per direction. A linear latent of L < 3
    units loses (3 - L) / 3 of the variance (Eckart-Young); an auto-encoder can represent that linear map, so
    it loses no more (up to the held-out estimate's noise), and may lose less: a curved code threads the
    Gaussian (measured: 0.64 and 0.32 at L = 1 and 2 after these 600 steps, 0.54 and 0.19 after 1500), but
    no continuous code of fewer units than the dimension keeps all of it. One of 3 or more units keeps all
    but optimisation error (1.5e-4): the knee is 3."""
    rng = np.random.default_rng(0)
    frame = np.linalg.qr(rng.standard_normal((8, 3)))[0]
    x = rng.standard_normal((3000, 3)) @ frame.T
    rows = reconstruction_errors(x[:2500], x[2500:], [1, 2, 3, 4], {**SETTINGS, "steps": 600}, seed=0)
    errors = {row["latent_dim"]: row["relative_error"] for row in rows}
    assert [row["latent_dim"] for row in rows if row["knee"]] == [3]
    # 500 held-out points: the variance of one direction is estimated to about 1/sqrt(250) = 6%
    assert errors[1] < 1.1 * 2 / 3 and errors[2] < 1.1 / 3
    assert errors[1] > 0.25 * 2 / 3 and errors[2] > 0.25 / 3
    assert errors[3] < 0.01 and errors[4] < 0.01 and errors[2] > 100 * errors[3]


def test_cli_writes_the_curve_and_names_a_dataset_it_does_not_know(tmp_path, capsys):
    from genlab import cli
    params = yaml.safe_load(open("params/default.yaml"))
    params["figures"]["autoencoder_dim"]["autoencoder"] = {**SETTINGS, "steps": 50}
    params["figures"]["autoencoder_dim"]["latent_sizes"]["id_sphere"] = [1, 2]
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(params))
    make_dataset("id_sphere", {"kind": "sphere", "n_train": 300, "n_test": 50, "k": 1, "ambient_dim": 4}, 0).save(
        tmp_path / "s.npz")
    out = tmp_path / "curve.csv"
    args = ["autoencoder-dim", "--params", str(tmp_path / "p.yaml"), "--data", str(tmp_path / "s.npz"),
            "--no-progress", "--out", str(out)]
    assert cli.main([*args, "--dataset", "id_sphere"]) == 0
    lines = out.read_text().splitlines()
    assert lines[0].startswith("latent_dim,test_mse,relative_error,knee") and len(lines) == 3
    assert cli.main([*args, "--dataset", "id_squares"]) == 2
    assert "latent_sizes names ['id_blobs', 'id_sphere']" in capsys.readouterr().err


def test_params_check_names_latent_sizes_without_runs(tmp_path):
    from genlab.validation import validate
    from genlab.errors import ConfigError
    params = yaml.safe_load(open("params/default.yaml"))
    params["figures"]["autoencoder_dim"]["latent_sizes"]["id_squares"] = [19, 20, 21]
    with pytest.raises(ConfigError, match="give latent sizes for exactly the datasets in runs"):
        validate(params)


def test_table_and_figure_from_curves_and_metric_files(tmp_path):
    """The notebook behind figures.autoencoder_dim: the knee, the estimates and the error at each."""
    import pandas as pd

    from genlab.figures import execute
    curve = pd.DataFrame({"latent_dim": [2, 3, 4, 5], "test_mse": [0.4, 0.1, 0.002, 0.001],
                          "relative_error": [0.4, 0.1, 0.002, 0.001], "knee": [False, False, True, False],
                          "seconds": [1.0] * 4})
    curve.to_csv(tmp_path / "cube.csv", index=False)
    metric = {"experiment": "cube/score_ve", "true_dim": 4, "ambient_dim": 9, "estimate": 4,
              "baselines": {"MLE": 3.2, "lPCA": 5.0}}
    (tmp_path / "id.json").write_text(json.dumps(metric))
    out = {ext: str(tmp_path / f"ae.{ext}") for ext in ("csv", "tex", "json")}
    execute("notebooks/autoencoder_dim.ipynb", str(tmp_path / "run.ipynb"),
            {"intrinsic_dim": [str(tmp_path / "id.json")], "curves": [str(tmp_path / "cube.csv")], "settings": {},
             "runs": ["cube/score_ve"], "figures": {"autoencoder_dim": str(tmp_path / "autoencoder_dim")},
             "table": out})
    row = json.loads(open(out["json"]).read())["cube/score_ve"]
    assert row["knee"] == 4 and row["ours"] == 4 and row["relative error at MLE"] == 0.1
    assert row["relative error at lPCA"] == 0.001 and row["relative error at true"] == 0.002
    assert (tmp_path / "autoencoder_dim.png").read_bytes()[:4] == b"\x89PNG"
