"""The SDEs' closed-form kernels against numerical integration of the SDE itself, and the DDPM chain
against its continuous limit."""

import math

import pytest
import torch
from scipy.integrate import quad

from genlab.diffusion.sde import DDPMSchedule, LogSNRVPSDE, SubVPSDE, VESDE, VPSDE

# LogSNRVPSDE at T = 1 and at the finest group's end time of a 4-group multi-scale model
SDES = [VPSDE(0.1, 20.0), SubVPSDE(0.1, 20.0), VESDE(0.01, 50.0), LogSNRVPSDE(1.0), LogSNRVPSDE(0.25)]


def _scalar(fn, t):
    return float(fn(torch.tensor([t], dtype=torch.float64))[0])


@pytest.mark.parametrize("sde", SDES, ids=lambda s: f"{type(s).__name__}-T{s.T}")
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


@pytest.mark.parametrize("sde", SDES, ids=lambda s: f"{type(s).__name__}-T{s.T}")
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


@pytest.mark.parametrize("T", [0.25, 1.0])
def test_log_snr_sde_runs_from_plus_to_minus_ten_by_its_own_end_time(T):
    """The authors' schedule: log(alpha^2 / sigma^2) falls linearly to -10 at T, so every group is equally
    diffused at its own T; near t = 0 the exact kernel's noise vanishes (the authors' marginal keeps
    sigma = 0.0067 there), so the line holds from 0.4 T on, alpha^2 everywhere, and the noise at eps is below
    theirs."""
    sde = LogSNRVPSDE(T)
    t = torch.linspace(1e-3, T, 50, dtype=torch.float64)
    alpha, sigma = sde.marginal_coefficients(t)
    expected = 10 - 20 * (t - 1e-3) / (T - 1e-3)
    late = t >= 0.4 * T
    assert torch.allclose(torch.log(alpha**2 / sigma**2)[late], expected[late], atol=1e-3)
    assert torch.allclose(alpha**2, torch.sigmoid(expected), atol=1e-4)
    _, sigma_eps = sde.marginal_coefficients(torch.tensor([1e-3], dtype=torch.float64))
    assert 0 < float(sigma_eps) < math.sqrt(float(torch.sigmoid(torch.tensor(-10.0))))
