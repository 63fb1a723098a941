"""The SDEs' closed-form kernels against numerical integration of the SDE itself, and the DDPM chain
against its continuous limit."""

import math

import pytest
import torch
from scipy.integrate import quad

from genlab.diffusion.sde import DDPMSchedule, SubVPSDE, VESDE, VPSDE

SDES = [VPSDE(0.1, 20.0), SubVPSDE(0.1, 20.0), VESDE(0.01, 50.0)]


def _scalar(fn, t):
    return float(fn(torch.tensor([t], dtype=torch.float64))[0])


@pytest.mark.parametrize("sde", SDES, ids=lambda s: type(s).__name__)
@pytest.mark.parametrize("t", [1e-3, 0.1, 0.5, 1.0])
def test_kernel_matches_integrated_sde(sde, t):
    """alpha(t) = exp(int_0^t a), sigma(t)^2 = int_0^t (alpha(t)/alpha(s))^2 g(s)^2 ds."""
    alpha_t, sigma_t = (float(v[0]) for v in sde.marginal_coefficients(torch.tensor([t], dtype=torch.float64)))
    log_alpha = quad(lambda s: _scalar(sde.drift_coefficient, s), 0, t, epsabs=1e-12, epsrel=1e-10)[0]
    assert alpha_t == pytest.approx(math.exp(log_alpha), rel=1e-8)

    def integrand(s):
        log_ratio = quad(lambda u: _scalar(sde.drift_coefficient, u), s, t, epsabs=1e-12, epsrel=1e-10)[0]
        return math.exp(2 * log_ratio) * _scalar(sde.beta, s)

    variance = quad(integrand, 0, t, epsabs=1e-14, epsrel=1e-9, limit=200)[0]
    assert sigma_t**2 == pytest.approx(variance, rel=1e-6)


@pytest.mark.parametrize("sde", SDES, ids=lambda s: type(s).__name__)
def test_prior_matches_terminal_marginal(sde):
    """At T the kernel is (nearly) the prior: KL(N(alpha m, sigma^2) || prior) for a data point of size
    |m| = 3 is below 0.005 nats per dimension, so starting samplers at the prior is harmless."""
    alpha, sigma = (float(v) for v in sde.marginal_coefficients(torch.tensor([sde.T], dtype=torch.float64)))
    ratio = sigma**2 / sde.prior_std**2
    kl = 0.5 * (ratio - 1 - math.log(ratio) + (alpha * 3) ** 2 / sde.prior_std**2)
    assert kl < 0.005


def test_ddpm_chain_converges_to_vp_sde():
    """alpha_bar_n of the discrete chain vs alpha(n/N)^2 of the VP SDE it discretises: O(1/N) error."""
    errors = []
    for n_steps in (100, 1000, 10000):
        schedule = DDPMSchedule(n_steps, beta_start=0.1 / n_steps, beta_end=20.0 / n_steps)
        sde = schedule.to_vp_sde()
        t = torch.arange(1, n_steps + 1, dtype=torch.float64) / n_steps
        alpha, _ = sde.marginal_coefficients(t)
        errors.append(float((schedule.alphas_bar - alpha**2).abs().max()))
    assert errors[2] < 2e-4
    assert errors[0] / errors[1] > 7 and errors[1] / errors[2] > 7  # first order in 1/N


def test_ddpm_default_schedule_is_the_standard_vp():
    sde = DDPMSchedule(1000, 1e-4, 0.02).to_vp_sde()
    assert (sde.beta_min, sde.beta_max) == pytest.approx((0.1, 20.0))
