"""Probability-flow ODE likelihood with the exact score of a Gaussian mixture equals the mixture's true
log-density; the Hutchinson estimate agrees with the exact trace within its standard error."""

import math

import pytest
import torch

from genlab.diffusion.likelihood import ode_log_likelihood
from genlab.diffusion.sde import SubVPSDE, VESDE, VPSDE
from genlab.metrics.nll import bits_per_dim
from tests.conftest import analytic_score_fn


@pytest.mark.parametrize("sde", [VPSDE(), SubVPSDE(), VESDE(0.01, 20.0)], ids=lambda s: type(s).__name__)
def test_ode_likelihood_equals_true_density(mixture_2d, sde):
    x = mixture_2d.sample(64, torch.Generator().manual_seed(0))
    ll = ode_log_likelihood(analytic_score_fn(mixture_2d, sde), sde, x, method="exact", rtol=1e-6, atol=1e-6)
    truth = mixture_2d.log_prob(x)
    # the criterion: 0.01 bits/dim on the mean NLL
    assert abs(float(bits_per_dim(ll, 2).mean() - bits_per_dim(truth, 2).mean())) < 0.01
    # Per point the only error left is p_T vs the prior: log p_T(x_T) - log prior(x_T) ~ alpha_T x_T.m /
    # prior_std^2, about 0.01 nats for VP (alpha_T = 0.0066) but 0.1 nats for VE (x_T ~ 20, m ~ 2,
    # prior_std^2 = 400): it averages out over x_T (the mean test), so per point we check VP/sub-VP only.
    if not isinstance(sde, VESDE):
        assert float((bits_per_dim(ll, 2) - bits_per_dim(truth, 2)).abs().max()) < 0.01


def test_ode_likelihood_detects_a_wrong_score(mixture_2d):
    sde = VPSDE()
    wrong = type(mixture_2d)(mixture_2d.weights, mixture_2d.means, mixture_2d.covariances * 1.5)
    x = mixture_2d.sample(64, torch.Generator().manual_seed(0))
    ll = ode_log_likelihood(analytic_score_fn(wrong, sde), sde, x, method="exact")
    assert abs(float(bits_per_dim(ll, 2).mean() - bits_per_dim(mixture_2d.log_prob(x), 2).mean())) > 0.05


@pytest.mark.parametrize("probe", ["rademacher", "gaussian"])
def test_hutchinson_agrees_with_exact_trace(mixture_2d, probe):
    sde = VPSDE()
    score = analytic_score_fn(mixture_2d, sde)
    x = mixture_2d.sample(8, torch.Generator().manual_seed(0))
    exact = ode_log_likelihood(score, sde, x, method="exact")
    repeats = 40
    g = torch.Generator().manual_seed(1)
    draws = torch.stack([ode_log_likelihood(score, sde, x, method="hutchinson", probe=probe, generator=g)
                         for _ in range(repeats)])
    mean, se = draws.mean(0), draws.std(0) / math.sqrt(repeats)
    assert (se > 0).all()  # it is an estimator, not the exact trace again
    assert ((mean - exact).abs() <= 4 * se + 1e-4).all(), ((mean - exact) / se)
