"""Samplers driven by the exact score of a Gaussian mixture must reproduce the mixture: moments, mode
weights, and two-sample KS tests on random projections. Tolerances: n = 4000 samples, so a mean has a
standard error of about sqrt(0.3/4000) ~ 0.01 per coordinate; we allow 5 standard errors plus the
sampler's own discretisation bias at the chosen step count."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import ks_2samp

from genlab.diffusion.samplers import SAMPLERS, ddim
from genlab.diffusion.sde import SubVPSDE, VESDE, VPSDE
from tests.conftest import analytic_score_fn

N = 4000
CASES = [
    ("euler_maruyama", VPSDE(), {"steps": 500}),
    ("predictor_corrector", VPSDE(), {"steps": 250, "snr": 0.16}),
    ("ode", VPSDE(), {"rtol": 1e-5, "atol": 1e-5}),
    ("ddim", VPSDE(), {"steps": 250}),
    ("ddpm", VPSDE(), {"steps": 500}),
    ("euler_maruyama", SubVPSDE(), {"steps": 500}),
    ("ode", VESDE(0.01, 20.0), {"rtol": 1e-5, "atol": 1e-5}),
    ("ddim", VESDE(0.01, 20.0), {"steps": 250}),
]


@pytest.mark.parametrize("name,sde,options", CASES,
                         ids=[f"{c[0]}-{type(c[1]).__name__}" for c in CASES])
def test_sampler_reproduces_mixture(mixture_2d, name, sde, options):
    g = torch.Generator().manual_seed(1)
    x_T = sde.prior_sample((N, 2), generator=g).double()
    samples = SAMPLERS[name](analytic_score_fn(mixture_2d, sde), sde, x_T, generator=g, **options)
    reference = mixture_2d.sample(N, torch.Generator().manual_seed(2))
    truth_mean = (mixture_2d.weights[:, None] * mixture_2d.means).sum(0)
    assert torch.allclose(samples.mean(0), truth_mean, atol=0.08), (samples.mean(0), truth_mean)
    truth_cov = torch.cov(mixture_2d.sample(200_000, torch.Generator().manual_seed(3)).T)
    assert torch.allclose(torch.cov(samples.T), truth_cov, atol=0.12, rtol=0.05)
    # mode weights: assign each sample to its most responsible component
    comp, _ = mixture_2d.component_log_probs(samples)
    weights = torch.bincount(comp.argmax(1), minlength=3).double() / N
    se = torch.sqrt(mixture_2d.weights * (1 - mixture_2d.weights) / N)
    assert ((weights - mixture_2d.weights).abs() < 5 * se + 0.01).all(), weights
    # distribution: KS on 6 fixed projections, Bonferroni at 1e-3 overall
    for angle in np.linspace(0, math.pi, 6, endpoint=False):
        direction = torch.tensor([math.cos(angle), math.sin(angle)], dtype=torch.float64)
        p = ks_2samp((samples @ direction).numpy(), (reference @ direction).numpy()).pvalue
        assert p > 1e-3 / 6, f"projection {angle:.2f}: KS p = {p:.2e}"


def test_sampler_with_wrong_score_fails_the_checks(mixture_2d):
    """The checks above can fail: a score of a mixture with shifted means is caught by the mean test."""
    sde = VPSDE()
    wrong = type(mixture_2d)(mixture_2d.weights, mixture_2d.means + 0.3, mixture_2d.covariances)
    g = torch.Generator().manual_seed(1)
    samples = SAMPLERS["ode"](analytic_score_fn(wrong, sde), sde, sde.prior_sample((N, 2), generator=g).double())
    truth_mean = (mixture_2d.weights[:, None] * mixture_2d.means).sum(0)
    assert not torch.allclose(samples.mean(0), truth_mean, atol=0.08)


def test_ddpm_step_is_the_seed_posterior_mean(mixture_2d):
    """One DDIM(eta=1) step from t to s has the DDPM posterior mean of seed section 1.1.8:
    mu = sqrt(abar_s) beta_t / (1 - abar_t) x0_hat + sqrt(alpha_t)(1 - abar_s)/(1 - abar_t) x_t,
    with abar = alpha(t)^2 and alpha_t = abar_t / abar_s (the single-step beta_t = 1 - alpha_t)."""
    sde = VPSDE()
    score = analytic_score_fn(mixture_2d, sde)
    x_t = torch.randn(16, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    t_val, s_val = 0.5, 0.3
    # steps=1 from T=t to eps=s: ddim's grid is [T, eps]; emulate with an SDE whose T is t
    sde.T = t_val
    out = ddim(score, sde, x_t, steps=1, eta=1.0, eps=s_val, denoise=False)
    t, s = torch.tensor([t_val], dtype=torch.float64), torch.tensor([s_val], dtype=torch.float64)
    (a_t, sig_t), (a_s, _) = sde.marginal_coefficients(t), sde.marginal_coefficients(s)
    abar_t, abar_s = a_t**2, a_s**2
    alpha_step = abar_t / abar_s
    beta_step = 1 - alpha_step
    eps_hat = -sig_t * score(x_t, t.expand(16))
    x0_hat = (x_t - torch.sqrt(1 - abar_t) * eps_hat) / torch.sqrt(abar_t)
    mu = (torch.sqrt(abar_s) * beta_step / (1 - abar_t)) * x0_hat + \
         (torch.sqrt(alpha_step) * (1 - abar_s) / (1 - abar_t)) * x_t
    assert torch.allclose(out, mu, atol=1e-10)
