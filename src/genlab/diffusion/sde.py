"""Forward SDEs dx = a(t) x dt + g(t) dW with linear drift: VP, sub-VP and VE.

Each SDE is defined by three functions of t: the drift coefficient a(t), the diffusion g(t), and the
perturbation kernel x_t | x_0 ~ N(alpha(t) x_0, sigma(t)^2 I). Samplers, losses and the likelihood are
written once against this interface (score_sde_pytorch's sde_lib.py is the model). The kernel is exact
for the SDE as written: sigma(t)^2 = int_0^t (alpha(t)/alpha(s))^2 g(s)^2 ds, which the tests check, so a
mixture's analytic perturbed score is the exact score of the process."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch


def _bcast(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape a per-example (B,) tensor to broadcast against x of shape (B, ...)."""
    return values.reshape(-1, *([1] * (like.dim() - 1)))


class SDE(ABC):
    T: float = 1.0

    @abstractmethod
    def beta(self, t: torch.Tensor) -> torch.Tensor:
        """g(t)^2."""

    @abstractmethod
    def drift_coefficient(self, t: torch.Tensor) -> torch.Tensor:
        """a(t) in f(x, t) = a(t) x."""

    @abstractmethod
    def marginal_coefficients(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(alpha(t), sigma(t)) of the kernel x_t = alpha(t) x_0 + sigma(t) z."""

    @property
    @abstractmethod
    def prior_std(self) -> float:
        """Standard deviation of the Gaussian prior p_T that sampling starts from."""

    def diffusion(self, t: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(self.beta(t))

    def drift(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return _bcast(self.drift_coefficient(t), x) * x

    def perturb(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        alpha, sigma = self.marginal_coefficients(t)
        return _bcast(alpha, x0) * x0 + _bcast(sigma, x0) * noise

    def reverse_drift(self, x, t, score, probability_flow: bool = False) -> torch.Tensor:
        """Drift of the reverse-time SDE, or of the probability-flow ODE: f - (1 or 1/2) g^2 score."""
        weight = 0.5 if probability_flow else 1.0
        return self.drift(x, t) - weight * _bcast(self.beta(t), x) * score

    def prior_sample(self, shape, generator=None, device=None) -> torch.Tensor:
        return self.prior_std * torch.randn(shape, generator=generator, device=device)

    def prior_log_prob(self, x: torch.Tensor) -> torch.Tensor:
        d = x[0].numel()
        sq = x.flatten(1).pow(2).sum(1)
        return -0.5 * d * math.log(2 * math.pi * self.prior_std**2) - 0.5 * sq / self.prior_std**2

    def noise_level(self, t: torch.Tensor) -> torch.Tensor:
        """log(sigma/alpha): the SDE-independent noise level networks are conditioned on (monotone in t)."""
        alpha, sigma = self.marginal_coefficients(t)
        return torch.log(sigma) - torch.log(alpha)


class VPSDE(SDE):
    """Variance preserving: beta(t) = beta_min + t (beta_max - beta_min); the DDPM limit."""

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0):
        self.beta_min, self.beta_max = beta_min, beta_max

    def beta(self, t):
        return self.beta_min + t * (self.beta_max - self.beta_min)

    def drift_coefficient(self, t):
        return -0.5 * self.beta(t)

    def log_alpha(self, t):
        return -0.25 * t**2 * (self.beta_max - self.beta_min) - 0.5 * t * self.beta_min

    def marginal_coefficients(self, t):
        log_alpha = self.log_alpha(t)
        return torch.exp(log_alpha), torch.sqrt(-torch.expm1(2 * log_alpha))

    @property
    def prior_std(self):
        return 1.0


class SubVPSDE(VPSDE):
    """sub-VP (Song et al. 2021): g(t)^2 = beta(t) (1 - alpha(t)^4), kernel std 1 - alpha(t)^2."""

    def beta(self, t):
        return super().beta(t) * -torch.expm1(4 * self.log_alpha(t))

    def drift_coefficient(self, t):
        return -0.5 * VPSDE.beta(self, t)

    def marginal_coefficients(self, t):
        log_alpha = self.log_alpha(t)
        return torch.exp(log_alpha), -torch.expm1(2 * log_alpha)


class VESDE(SDE):
    """Variance exploding: dx = sqrt(d sigma_ve(t)^2 / dt) dW with sigma_ve(t) = s_min (s_max/s_min)^t.

    The kernel variance is sigma_ve(t)^2 - s_min^2 (exact for this SDE started at the data at t=0)."""

    def __init__(self, sigma_min: float = 0.01, sigma_max: float = 50.0):
        self.sigma_min, self.sigma_max = sigma_min, sigma_max
        self.log_ratio = math.log(sigma_max / sigma_min)

    def beta(self, t):
        return self.sigma_min**2 * torch.exp(2 * t * self.log_ratio) * 2 * self.log_ratio

    def drift_coefficient(self, t):
        return torch.zeros_like(t)

    def marginal_coefficients(self, t):
        variance = self.sigma_min**2 * torch.expm1(2 * t * self.log_ratio)
        return torch.ones_like(t), torch.sqrt(variance)

    @property
    def prior_std(self):
        return math.sqrt(self.sigma_max**2 - self.sigma_min**2)


class LogSNRVPSDE(SDE):
    """Variance preserving with a log signal-to-noise ratio linear in t, fully diffused at its own end time T:
    lambda(t) = l_max - (l_max - l_min) (t - eps) / (T - eps), so g(t)^2 = sigmoid(-lambda(t)) (l_max - l_min)
    / (T - eps). This is the authors' SNR_VP_SDE (GBATZOLIS/MSDiff, sde_lib.py, a=2, b=c=0; l = +-10) that
    gives each coefficient group of the multi-scale model its own speed (T = k / groups).

    Their kernel, alpha^2 = sigmoid(lambda), is not the kernel of this SDE started at the data at t = 0 (it
    has noise at t = 0). Here alpha(t)^2 = sigmoid(lambda(t)) / sigmoid(lambda(0)) and sigma^2 = 1 - alpha^2,
    the exact kernel (tested, as for the other SDEs): the same to 5e-5 in alpha^2 everywhere and to 1e-3 in
    log-SNR from t = 0.4 T on, but with less noise near eps (sigma(eps) = 0.0019 against their 0.0067 at T = 1, both
    below a quarter of an 8-bit grey level)."""

    def __init__(self, T: float = 1.0, log_snr_max: float = 10.0, log_snr_min: float = -10.0, eps: float = 1e-3):
        if not T > eps:
            raise ValueError(f"the end time T = {T} must exceed eps = {eps}")
        self.T, self.eps = float(T), eps
        self.log_snr_max, self.log_snr_min = log_snr_max, log_snr_min
        self.slope = (log_snr_max - log_snr_min) / (self.T - eps)

    def log_snr(self, t):
        return self.log_snr_max - self.slope * (t - self.eps)

    def beta(self, t):
        return torch.sigmoid(-self.log_snr(t)) * self.slope

    def drift_coefficient(self, t):
        return -0.5 * self.beta(t)

    def marginal_coefficients(self, t):
        zero = torch.zeros_like(t)
        log_alpha2 = torch.nn.functional.logsigmoid(self.log_snr(t)) - torch.nn.functional.logsigmoid(self.log_snr(zero))
        return torch.exp(0.5 * log_alpha2), torch.sqrt(-torch.expm1(log_alpha2))

    @property
    def prior_std(self):
        return 1.0


SDES = {"vp": VPSDE, "subvp": SubVPSDE, "ve": VESDE, "vp_logsnr": LogSNRVPSDE}


def make_sde(config: dict) -> SDE:
    options = {key: value for key, value in config.items() if key != "kind"}
    return SDES[config["kind"]](**options)


class DDPMSchedule:
    """The discrete DDPM forward chain: beta_1..beta_N linear, alpha_bar_n = prod (1 - beta_i).

    With beta_i = beta(t_i)/N on the grid t_i = i/N it is the Euler discretisation of the VP SDE, and
    alpha_bar_n -> alpha(n/N)^2 as N grows (tested): the discrete and continuous views are one model."""

    def __init__(self, num_steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02):
        self.num_steps = num_steps
        self.betas = torch.linspace(beta_start, beta_end, num_steps, dtype=torch.float64)
        self.alphas_bar = torch.cumprod(1 - self.betas, dim=0)

    def to_vp_sde(self) -> VPSDE:
        n = self.num_steps
        return VPSDE(beta_min=float(self.betas[0]) * n, beta_max=float(self.betas[-1]) * n)
