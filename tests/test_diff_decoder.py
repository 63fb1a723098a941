"""DiffDecoder (ScoreVAE's baseline, issue 17): on a mixture whose modes are known, a diffusion decoder trained
with its encoder at beta = 0 keeps the mode in the latent, and at a beta where the latent costs more than it
saves, the posterior collapses to the prior and the reconstructions ignore it (the paper's failure mode)."""

import math

import torch

from genlab.checkpoints import load_trained
from genlab.data import make_dataset
from genlab.families import make_model
from genlab.train import train
from tests.test_score_vae import PRETRAINED, TRAINING


def diff_decoder_block(beta):
    options = {key: PRETRAINED[key] for key in ("sde", "network", "loss", "sampler")}
    return {"family": "diff_decoder", **options, "latent_dim": 2, "beta": beta,
            "encoder": {"hidden": 128, "depth": 2, "embedding": 32}, "training": TRAINING}


def nearest_mode(points, radius=2.0, modes=8):
    angles = torch.arange(modes) * 2 * math.pi / modes
    centres = radius * torch.stack([angles.cos(), angles.sin()], 1)
    return torch.cdist(points, centres).argmin(1)


def trained(beta, ring, run_dir):
    torch.manual_seed(0)
    model = make_model(diff_decoder_block(beta), ring.example_shape, ring.meta)
    train(model, ring, {**TRAINING, "steps": 500, "checkpoint_every": 500}, run_dir, seed=0, config_hash="d",
          config={}, device=torch.device("cpu"), progress=False)
    return load_trained(model, run_dir / "checkpoint.pt", "d")


def test_the_latent_carries_the_mode_at_beta_0_and_collapses_when_it_costs_more_than_it_saves(tmp_path):
    """Ring of 8 Gaussians (std 0.2, radius 2), a 2-D latent. beta = 0: the reconstructions land in the
    original's mode far more often than chance (1/8; 0.9 asked). beta = 1: naming one of 8 modes costs at least
    log 8 = 2.1 nats of KL per example, while knowing the mode lowers the decoder's denoising loss (the
    eps-error summed over 2 dimensions, averaged over t) by far less, so the optimum is q(z | x) = N(0, I):
    the KL falls below 0.05 nats (a posterior that moved off the prior by 0.3 std in one coordinate already
    costs 0.045) and the mode is kept no better than chance allows (0.25 asked: 1/8 plus four standard errors
    of 200 draws), while the decoder alone models the data: its prior draws sit on the ring. (At beta = 0 prior
    draws mean nothing: no term pulls the posteriors towards N(0, I).)"""
    ring = make_dataset("ring", {"kind": "ring", "n_train": 2000, "n_test": 200, "modes": 8, "radius": 2.0,
                                 "std": 0.2}, 0)
    x = torch.as_tensor(ring.x_test)
    kept, kl = {}, {}
    for beta in (0.0, 1.0):
        model = trained(beta, ring, tmp_path / str(beta))
        generator = torch.Generator().manual_seed(0)
        reconstructed = model.reconstruct(x, generator)
        kept[beta] = float((nearest_mode(reconstructed) == nearest_mode(x)).float().mean())
        with torch.no_grad():
            mean, log_std = model.encode(x)
            kl[beta] = float((0.5 * (mean**2 + torch.exp(2 * log_std) - 1) - log_std).sum(1).mean())
        if beta > 0:  # collapsed: the decoder alone models the data, its prior draws sit on the ring
            samples = model.sample(500, torch.Generator().manual_seed(1))
            assert (samples.norm(dim=1) - 2.0).abs().median() < 0.3
    assert kept[0.0] > 0.9, kept
    assert kl[1.0] < 0.05 and kept[1.0] < 0.25, (kl, kept)
