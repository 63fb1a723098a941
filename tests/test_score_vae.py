"""ScoreVAE (issue 5): Bayes' rule for scores against finite differences, the frozen pretrained model, the
params cross-references, and on a mixture whose modes are known, that the latent carries the mode."""

import math

import pytest
import torch

from genlab import config as cfg
from genlab.data import make_dataset
from genlab.errors import ConfigError
from genlab.families import make_model
from genlab.families.vae import _normal_log_prob
from genlab.checkpoints import load_trained
from genlab.train import train
from tests.conftest import small_params

PRETRAINED = {"family": "diffusion", "sde": {"kind": "vp", "beta_min": 0.1, "beta_max": 20.0},
              "network": {"kind": "mlp", "hidden": 128, "depth": 2, "embedding": 32, "dropout": 0.0},
              "loss": {"weighting": "simple", "importance_sampling": False, "eps": 1.0e-5},
              "sampler": {"name": "euler_maruyama", "steps": 200, "eps": 1.0e-3, "denoise": True},
              "likelihood": {"method": "exact"}}
TRAINING = {"steps": 500, "batch_size": 256, "lr": 3.0e-3, "warmup_steps": 50, "weight_decay": 0.0, "grad_clip": 1.0,
            "ema_decay": 0.99, "checkpoint_every": 500, "log_every": 100, "dequantize": False,
            "mixed_precision": "none"}


def score_vae_block(latent_dim=2):
    return {"family": "score_vae", "pretrained": PRETRAINED, "latent_dim": latent_dim, "beta": 1.0e-3,
            "encoder": {"hidden": 128, "depth": 2, "embedding": 32}}


def test_decoder_score_is_pretrained_score_plus_grad_log_posterior():
    """s(x_t, z, t) = s_pre(x_t, t) + grad_x log q(z | x_t, t), the gradient checked by central differences
    of the Gaussian log-density. The networks run in float32: with h = 1e-2 the difference quotient's
    truncation error (h^2 times the third derivative) and round-off (1e-7 |log q| / h) stay below 1e-3."""
    torch.manual_seed(0)
    model = make_model(score_vae_block(), (2,), {})
    x = torch.randn(3, 2)
    t = torch.tensor([0.05, 0.3, 0.8])
    z = torch.randn(3, 2)

    def log_q(points):
        return _normal_log_prob(z, *model.posterior(points, t))

    h = 1e-2
    with torch.no_grad():
        numeric = torch.stack([(log_q(x + h * e) - log_q(x - h * e)) / (2 * h) for e in torch.eye(2)], 1)
    assert numeric.abs().max() > 0.1  # a gradient worth checking
    torch.testing.assert_close(model.latent_score(x, t, z), numeric, rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(model.conditional_score(x, t, z), model.diffusion.score(x, t) + numeric,
                               rtol=1e-3, atol=1e-3)


def test_training_moves_the_encoder_only_and_the_latent_keeps_the_mode(tmp_path):
    """Ring of 8 Gaussians: a pretrained score model, then ScoreVAE with a 2-D latent. Reconstructions must
    land in the original's mode far more often than chance (1/8), and the pretrained weights stay frozen."""
    ring = make_dataset("ring", {"kind": "ring", "n_train": 2000, "n_test": 200, "modes": 8, "radius": 2.0,
                                 "std": 0.2}, 0)
    torch.manual_seed(0)
    pretrained = make_model(PRETRAINED, ring.example_shape, ring.meta)
    train(pretrained, ring, {**TRAINING, "steps": 1000, "checkpoint_every": 1000}, tmp_path / "pre", seed=0,
          config_hash="p", config={}, device=torch.device("cpu"), progress=False)
    pretrained = load_trained(pretrained, tmp_path / "pre" / "checkpoint.pt", "p")

    torch.manual_seed(0)
    model = make_model({**score_vae_block(), "training": TRAINING}, ring.example_shape, ring.meta)
    model.load_pretrained({"ema": pretrained.state_dict()}, "pre")
    encoder_before = [p.clone() for p in model.encoder.parameters()]
    train(model, ring, TRAINING, tmp_path / "svae", seed=0, config_hash="s", config={}, device=torch.device("cpu"),
          progress=False)
    model = load_trained(model, tmp_path / "svae" / "checkpoint.pt", "s")
    for name, value in pretrained.state_dict().items():
        torch.testing.assert_close(model.diffusion.state_dict()[name], value, rtol=0, atol=0, msg=name)
    assert any(not torch.equal(a, b) for a, b in zip(encoder_before, model.encoder.parameters()))

    x = torch.as_tensor(ring.x_test)
    generator = torch.Generator().manual_seed(0)
    reconstructed = model.reconstruct(x, generator)
    unconditional = pretrained.sample(len(x), generator)

    def mode(points):  # the nearest of the 8 centres (angles 2 pi k / 8 at radius 2)
        return torch.remainder(torch.round(torch.atan2(points[:, 1], points[:, 0]) / (2 * math.pi / 8)), 8)

    kept = float((mode(reconstructed) == mode(x)).double().mean())
    chance = float((mode(unconditional) == mode(x)).double().mean())
    # binomial s.e. of a share of 200 is <= 0.035: 0.8 vs chance 0.125 is a gap of many standard errors
    assert kept > 0.8 and chance < 0.3, (kept, chance)


def test_params_must_name_a_pretrained_diffusion_experiment():
    params = small_params()
    assert cfg.experiment(params, "digits", "score_vae").model["pretrained"] == params["models"]["diffusion_vp"]
    assert cfg.pretrained_experiment(params, "digits", "score_vae").name == "digits/diffusion_vp"
    params["models"]["score_vae"]["pretrained"] = "vae"
    with pytest.raises(ConfigError, match="pretrained: 'vae' must be a declared model of family diffusion"):
        cfg.check_references(params)
    params = small_params()
    params["experiments"] = [e for e in params["experiments"] if e["model"] != "diffusion_vp"]
    params["figures"].pop("diffusion_samplers")
    params["figures"]["family_samples"]["runs"]["digits"].remove("diffusion_vp")
    with pytest.raises(ConfigError, match="digits/diffusion_vp, so that must be an experiment too"):
        cfg.check_references(params)


def test_train_needs_the_pretrained_checkpoint_and_refuses_a_corrupt_one(tmp_path, capsys):
    import yaml

    from genlab import cli
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(small_params()))
    common = ["--params", str(tmp_path / "p.yaml"), "--dataset", "digits", "--model", "score_vae"]
    data = tmp_path / "digits.npz"
    assert cli.main(["data", *common[:4], "--out", str(data)]) == 0
    train = ["train", *common, "--data", str(data), "--run-dir", str(tmp_path / "run"), "--no-progress"]
    assert cli.main(train) == 2
    assert "starts from digits/diffusion_vp: pass its checkpoint with --pretrained" in capsys.readouterr().err
    (tmp_path / "broken.pt").write_bytes(b"not a checkpoint")
    assert cli.main([*train, "--pretrained", str(tmp_path / "broken.pt")]) == 2
    assert "broken.pt is unreadable" in capsys.readouterr().err
    assert not (tmp_path / "run" / "checkpoint.pt").exists()
