"""Samplers for the reverse process, each a short function of (score_fn, sde, x_T, options) in the style
of k-diffusion's sampling.py. score_fn(x, t) takes t as a (B,) tensor. All integrate from T down to
eps and, with denoise=True, finish with one Tweedie step E[x_0 | x_eps] = (x + sigma^2 s) / alpha.
The number of score evaluations is counted by the caller (genlab.families.diffusion), not here."""

from __future__ import annotations

from typing import Callable

import torch

from genlab.diffusion.sde import SDE, _bcast

# torchdiffeq solvers with adaptive steps (they accept the step_t option)
ADAPTIVE = {"dopri5", "dopri8", "bosh3", "fehlberg2", "adaptive_heun"}

ScoreFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def time_grid(sde: SDE, steps: int, eps: float, device=None) -> torch.Tensor:
    return torch.linspace(sde.T, eps, steps + 1, device=device)


def _full(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return t.expand(len(x))


def tweedie_denoise(score_fn: ScoreFn, sde: SDE, x: torch.Tensor, t: float) -> torch.Tensor:
    tt = torch.full((len(x),), t, device=x.device)
    alpha, sigma = sde.marginal_coefficients(tt)
    return (x + _bcast(sigma**2, x) * score_fn(x, tt)) / _bcast(alpha, x)


def _finish(score_fn, sde, x, eps, denoise):
    return tweedie_denoise(score_fn, sde, x, eps) if denoise else x


@torch.no_grad()
def euler_maruyama(score_fn: ScoreFn, sde: SDE, x: torch.Tensor, steps: int = 100, eps: float = 1e-3,
                   denoise: bool = True, generator=None) -> torch.Tensor:
    """Euler-Maruyama on the reverse-time SDE dx = [f - g^2 s] dt + g dW-bar (no noise on the last step)."""
    ts = time_grid(sde, steps, eps, x.device)
    for i in range(steps):
        x = _reverse_sde_step(score_fn, sde, x, ts[i], ts[i + 1], i < steps - 1, generator)
    return _finish(score_fn, sde, x, eps, denoise)


def _reverse_sde_step(score_fn, sde, x, t_now, t_next, add_noise, generator):
    """One Euler-Maruyama step of the reverse SDE from t_now down to t_next."""
    t, dt = _full(t_now, x), t_next - t_now
    x = x + sde.reverse_drift(x, t, score_fn(x, t)) * dt
    if add_noise:
        noise = torch.randn(x.shape, generator=generator, device=x.device)
        x = x + _bcast(sde.diffusion(t), x) * torch.sqrt(-dt) * noise
    return x


@torch.no_grad()
def langevin_correct(score_fn: ScoreFn, x: torch.Tensor, t: torch.Tensor, snr: float, generator=None):
    """One Langevin MCMC step at fixed t with the step size set by a target signal-to-noise ratio."""
    grad = score_fn(x, t)
    noise = torch.randn(x.shape, generator=generator, device=x.device)
    grad_norm = grad.flatten(1).norm(dim=1).mean()
    noise_norm = noise.flatten(1).norm(dim=1).mean()
    step = 2 * (snr * noise_norm / grad_norm) ** 2
    return x + step * grad + torch.sqrt(2 * step) * noise


@torch.no_grad()
def predictor_corrector(score_fn: ScoreFn, sde: SDE, x: torch.Tensor, steps: int = 100, snr: float = 0.16,
                        corrector_steps: int = 1, eps: float = 1e-3, denoise: bool = True,
                        generator=None) -> torch.Tensor:
    """Song et al.'s PC sampler: Langevin corrector steps, then an Euler-Maruyama predictor step."""
    ts = time_grid(sde, steps, eps, x.device)
    for i in range(steps):
        for _ in range(corrector_steps):
            x = langevin_correct(score_fn, x, _full(ts[i], x), snr, generator)
        x = _reverse_sde_step(score_fn, sde, x, ts[i], ts[i + 1], i < steps - 1, generator)
    return _finish(score_fn, sde, x, eps, denoise)


@torch.no_grad()
def probability_flow_ode(score_fn: ScoreFn, sde: SDE, x: torch.Tensor, rtol: float = 1e-5,
                         atol: float = 1e-5, method: str = "dopri5", eps: float = 1e-3,
                         denoise: bool = True, generator=None) -> torch.Tensor:
    """Integrate dx/dt = f - g^2 s / 2 from T to eps with an adaptive solver (torchdiffeq)."""

    def drift(t, x_flat):
        x_t = x_flat.view_as(x)
        tt = _full(t, x)
        return sde.reverse_drift(x_t, tt, score_fn(x_t, tt), probability_flow=True).flatten()

    times = torch.tensor([sde.T, eps], device=x.device, dtype=x.dtype)
    # step_t: land exactly on eps instead of stepping past it and interpolating back (torchdiffeq's
    # default), which would evaluate the score at t < eps, where the kernel is undefined for t < 0.
    options = {"step_t": times} if method in ADAPTIVE else None
    from torchdiffeq import odeint  # imports scipy (0.6 s): only where an ODE is solved
    x = odeint(drift, x.flatten(), times, rtol=rtol, atol=atol, method=method, options=options)[-1].view_as(x)
    return _finish(score_fn, sde, x, eps, denoise)


@torch.no_grad()
def ddim(score_fn: ScoreFn, sde: SDE, x: torch.Tensor, steps: int = 50, eta: float = 0.0, eps: float = 1e-3,
         denoise: bool = True, generator=None) -> torch.Tensor:
    """DDIM (Song, Meng, Ermon 2021) for any kernel x_t = alpha x_0 + sigma z.

    x_s = alpha_s x0_hat + sqrt(sigma_s^2 - c^2) eps_hat + c z, with eps_hat = -sigma_t s(x_t, t),
    x0_hat = (x_t - sigma_t eps_hat) / alpha_t and c^2 = eta^2 (sigma_s^2/sigma_t^2)(sigma_t^2 -
    (alpha_t/alpha_s)^2 sigma_s^2), the posterior variance of q(x_s | x_t, x_0) times eta^2.
    eta = 0 is the deterministic DDIM (a first-order probability-flow ODE solver); eta = 1 is DDPM's
    ancestral sampler (see ddpm)."""
    ts = time_grid(sde, steps, eps, x.device)
    for i in range(steps):
        t, s = _full(ts[i], x), _full(ts[i + 1], x)
        (alpha_t, sigma_t), (alpha_s, sigma_s) = sde.marginal_coefficients(t), sde.marginal_coefficients(s)
        eps_hat = -_bcast(sigma_t, x) * score_fn(x, t)
        x0_hat = (x - _bcast(sigma_t, x) * eps_hat) / _bcast(alpha_t, x)
        c2 = eta**2 * (sigma_s**2 / sigma_t**2) * (sigma_t**2 - (alpha_t / alpha_s) ** 2 * sigma_s**2)
        c2 = c2.clamp(min=0.0)
        x = _bcast(alpha_s, x) * x0_hat + _bcast(torch.sqrt(sigma_s**2 - c2), x) * eps_hat
        if eta > 0 and i < steps - 1:
            x = x + _bcast(torch.sqrt(c2), x) * torch.randn(x.shape, generator=generator, device=x.device)
    return _finish(score_fn, sde, x, eps, denoise)


def ddpm(score_fn: ScoreFn, sde: SDE, x: torch.Tensor, steps: int = 1000, eps: float = 1e-3,
         denoise: bool = True, generator=None) -> torch.Tensor:
    """DDPM ancestral sampling: x_{t-1} ~ N(mu(x_t, t), beta-tilde_t I) with the posterior mean of seed
    section 1.1.8. For alpha_bar = alpha^2 this is DDIM with eta = 1 exactly (tested)."""
    return ddim(score_fn, sde, x, steps=steps, eta=1.0, eps=eps, denoise=denoise, generator=generator)


SAMPLERS = {"euler_maruyama": euler_maruyama, "predictor_corrector": predictor_corrector,
            "ode": probability_flow_ode, "ddim": ddim, "ddpm": ddpm}

# Samplers of the reverse SDE (the others solve the probability-flow ODE: DDIM is a first-order solver).
STOCHASTIC = {"euler_maruyama", "predictor_corrector", "ddpm"}
