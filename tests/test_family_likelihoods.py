"""Likelihood families against a known density: the default-scale toy models (params/default.yaml, the
same blocks the pipeline trains) on the ring of Gaussians, whose true NLL is analytic.

Tolerances are what the default scale reaches with margin (measured: flow 0.006, MADE 0.010 nats/dim;
the diffusion model, 0.016, is checked by the pipeline test). The VAE is a bound: its IWAE NLL must lie
above the truth (up to noise) and below its own ELBO; at default scale it stays 0.12 nats/dim above the
truth (a Gaussian decoder must map a 2-D Gaussian prior onto eight separated modes), so it is held to
0.2, and the gap is reported in the README rather than hidden."""

import math

import pytest
import torch
import yaml

from genlab.data import make_dataset
from genlab.data.mixtures import GaussianMixture
from genlab.families import make_model
from genlab.checkpoints import load_trained
from genlab.train import seed_everything, train
from tests.conftest import REPO

DEFAULT = yaml.safe_load((REPO / "params" / "default.yaml").read_text())


@pytest.fixture(scope="module")
def ring():
    return make_dataset("ring", DEFAULT["datasets"]["ring"], DEFAULT["seed"])


def _trained(ring, name, tmp_path):
    block = DEFAULT["models"][name]
    seed_everything(0)
    model = make_model(block, ring.example_shape, ring.meta)
    train(model, ring, block["training"], tmp_path / name, seed=0, config_hash="h", config={},
          device=torch.device("cpu"), progress=False)
    return load_trained(make_model(block, ring.example_shape, ring.meta), tmp_path / name / "checkpoint.pt", "h")


def _gap(log_likelihood, truth):
    """Mean and standard error of (model NLL - true NLL) in nats per dimension (D = 2)."""
    diff = (truth - log_likelihood.double()) / 2
    return float(diff.mean()), float(diff.std() / math.sqrt(len(diff)))


@pytest.mark.parametrize("name,tolerance", [("flow_toy", 0.05), ("autoregressive_toy", 0.05)])
def test_exact_likelihood_families_reach_the_true_density(ring, name, tolerance, tmp_path):
    model = _trained(ring, name, tmp_path)
    x = torch.as_tensor(ring.x_test)
    truth = GaussianMixture.from_meta(ring.meta).log_prob(x.double())
    with torch.no_grad():
        gap, sem = _gap(model.log_likelihood(x), truth)
    assert abs(gap) < tolerance, f"{name}: {gap:.4f} +- {sem:.4f} nats/dim from the truth"


def test_vae_bounds_are_ordered_and_near_the_true_density(ring, tmp_path):
    model = _trained(ring, "vae_toy", tmp_path)
    x = torch.as_tensor(ring.x_test)
    truth = GaussianMixture.from_meta(ring.meta).log_prob(x.double())
    generator = torch.Generator().manual_seed(0)
    iwae_gap, iwae_sem = _gap(model.log_likelihood(x, generator), truth)
    elbo_gap, _ = _gap(model.log_likelihood_bounds(x, generator)["elbo"], truth)
    assert iwae_gap > -3 * iwae_sem, "the IWAE bound lies below the true likelihood"
    assert elbo_gap > iwae_gap, "IWAE is not tighter than the ELBO"
    assert iwae_gap < 0.2


def _diagonal_gaussian_bpd(digits) -> float:
    """Bits/dim of the maximum-likelihood diagonal Gaussian on dequantised test digits (closed form)."""
    from genlab.metrics.nll import bits_per_dim, dequantize
    x_train = torch.as_tensor(digits.x_train).flatten(1).double()
    x_train = dequantize(x_train, digits.bin_width, torch.Generator().manual_seed(0))
    mean, std = x_train.mean(0), x_train.std(0)
    x = dequantize(torch.as_tensor(digits.x_test).flatten(1).double(), digits.bin_width,
                   torch.Generator().manual_seed(1))
    log_p = torch.distributions.Normal(mean, std).log_prob(x).sum(1)
    return float(bits_per_dim(log_p, digits.dim, digits.bin_width).mean())


@pytest.mark.parametrize("name,steps", [("flow", 800), ("autoregressive", 800)])
def test_exact_families_beat_uniform_and_diagonal_gaussian_on_digits(name, steps, tmp_path):
    """The issue's check at a CI budget: the default blocks with fewer steps (early stopping may stop them
    sooner) already beat log2(17) bits/dim and the diagonal Gaussian by a wide margin."""
    from genlab.metrics.nll import evaluate_nll
    digits = make_dataset("digits", DEFAULT["datasets"]["digits"], DEFAULT["seed"])
    block = {**DEFAULT["models"][name]}
    block["training"] = {**block["training"], "steps": steps}
    seed_everything(0)
    model = make_model(block, digits.example_shape, digits.meta)
    train(model, digits, block["training"], tmp_path, seed=0, config_hash="h", config={},
          device=torch.device("cpu"), progress=False)
    model = load_trained(make_model(block, digits.example_shape, digits.meta), tmp_path / "checkpoint.pt", "h")
    with torch.no_grad():
        bpd = evaluate_nll(model.log_likelihood, torch.as_tensor(digits.x_test), digits.bin_width, 360,
                           torch.Generator().manual_seed(1))["nll_bpd"]
    diagonal = _diagonal_gaussian_bpd(digits)
    assert bpd < math.log2(17) - 1.0 and bpd < diagonal - 0.5, (bpd, diagonal)
