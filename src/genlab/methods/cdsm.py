"""Consistency of conditional denoising score matching, checked against analytic conditional scores.

For pairs (x, y) from a Gaussian mixture on R^(dx+dy) (one component: jointly Gaussian), perturbing x by
x_t = alpha x + sigma z and y by y_s = alpha_y y + sigma_y z' keeps (x_t, y_s) a Gaussian mixture, so
grad_x log p(x_t | y_s) = grad_x log p(x_t, y_s) is the x-block of an analytic mixture score:
- the target of every estimator is grad_x log p(x_t | y): y clean (alpha_y = 1, sigma_y = 0);
- what CDiffE/CMDE converge to is grad_x log p(x_t | y_t), y diffused by their condition SDE.

The error of an estimator is the weighted L2 distance to the target,
    E_t E_{(x, y), x_t} [ sigma(t)^2 ||s(x_t, y, t) - grad_x log p(x_t | y)||^2 ] / dx,
with t on a grid in [t_min, 1] (the weight sigma^2 makes it the noise-prediction error, bounded as t -> 0).

The empirical CDSM minimiser: with n pairs and the condition localised by a Gaussian kernel of width h,
the minimiser over all functions of the empirical objective is
    s_n(x_t, y) = sum_i w_i (alpha x_i - x_t) / sigma^2,  w_i ~ K_h(y - y_i) N(x_t; alpha x_i, sigma^2 I),
which converges to the true conditional score as n -> infinity and h -> 0 slowly enough; the study uses
h = h0 n^(-1/(dy + 4)), the rate of a kernel regression in dy dimensions."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

from genlab.data.dataset import Dataset
from genlab.data.mixtures import GaussianMixture
from genlab.errors import ConfigError
from genlab.diffusion.sde import SDE

# A conditional score estimate: (x_t, y, alpha(t), sigma(t), t) -> score, all batched.
ScoreEstimate = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def conditional_score(mixture: GaussianMixture, x_t: torch.Tensor, y: torch.Tensor, alpha, sigma,
                      alpha_y=1.0, sigma_y=0.0) -> torch.Tensor:
    """grad_x log p(x_t | y_s) for x perturbed by (alpha, sigma) and y by (alpha_y, sigma_y), all (B,) or
    scalars; the defaults leave y clean."""
    batch, dx, dy = len(x_t), x_t.shape[1], y.shape[1]

    def blocks(x_part, y_part):
        x_part = torch.as_tensor(x_part, dtype=torch.float64).reshape(-1, 1).expand(batch, dx)
        y_part = torch.as_tensor(y_part, dtype=torch.float64).reshape(-1, 1).expand(batch, dy)
        return torch.cat([x_part, y_part], 1)
    joint = torch.cat([x_t.double(), y.double()], 1)
    return mixture.score(joint, blocks(alpha, alpha_y), blocks(sigma, sigma_y))[:, :dx]


def empirical_cdsm_minimiser(x_train: torch.Tensor, y_train: torch.Tensor, bandwidth: float) -> ScoreEstimate:
    """The closed-form minimiser of the kernel-localised empirical CDSM objective (module docstring)."""
    x_train, y_train = x_train.double(), y_train.double()

    def score(x_t, y, alpha, sigma, t=None):  # the kernel depends on t only through alpha and sigma
        alpha, sigma = alpha.double()[:, None], sigma.double()[:, None]
        means = alpha[:, :, None] * x_train.T[None]  # (B, dx, n)
        log_w = (-torch.cdist(y.double(), y_train).pow(2) / (2 * bandwidth**2)
                 - (x_t.double()[:, :, None] - means).pow(2).sum(1) / (2 * sigma**2))
        w = torch.softmax(log_w, dim=1)  # (B, n)
        return ((w[:, None, :] * means).sum(-1) - x_t.double()) / sigma**2
    return score


def weighted_error(estimate: ScoreEstimate, mixture: GaussianMixture, sde: SDE, x0: torch.Tensor, y: torch.Tensor,
                   times: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Per-time error sigma(t)^2 E||estimate - grad_x log p(x_t | y)||^2 / dx on test pairs (x0, y).
    ``estimate(x_t, y, alpha, sigma, t)`` returns the estimator's conditional score."""
    errors = []
    for t_value in times.tolist():
        t = torch.full((len(x0),), t_value, dtype=torch.float64)
        alpha, sigma = sde.marginal_coefficients(t)
        x_t = alpha[:, None] * x0.double() + sigma[:, None] * torch.randn(x0.shape, generator=generator,
                                                                            dtype=torch.float64)
        truth = conditional_score(mixture, x_t, y, alpha, sigma)
        difference = estimate(x_t, y, alpha, sigma, t).double() - truth
        errors.append(float((sigma[:, None] ** 2 * difference**2).sum(1).mean()) / x0.shape[1])
    return torch.tensor(errors, dtype=torch.float64)


def time_grid(t_min: float, points: int) -> torch.Tensor:
    """Times evenly spread on [t_min, 1], as training draws them (for a VE SDE: evenly in log sigma)."""
    return torch.linspace(t_min, 1.0, points, dtype=torch.float64)


def consistency_study(dataset: Dataset, estimators: dict[str, dict], settings: dict, seed: int,
                      run_root: str | Path, device: torch.device, progress: bool = True) -> list[dict]:
    """Train every estimator on the first n training pairs for each n in settings['sample_sizes'] and
    measure its error to the analytic conditional score per time; the same for the empirical CDSM
    minimiser. Runs are checkpointed under run_root (a killed study resumes where it stopped)."""
    from genlab.train import fit
    mixture = GaussianMixture.from_meta(dataset.meta)
    x_test = torch.as_tensor(dataset.x_test[: settings["test_points"]])
    y_test = torch.as_tensor(dataset.y_test[: settings["test_points"]])
    times = time_grid(settings["t_min"], settings["times"])
    rows = []

    def record(name, n, errors):
        rows.extend({"dataset": dataset.meta["name"], "estimator": name, "n": n, "t": float(t), "error": float(e)}
                    for t, e in zip(times, errors))
    sde = None
    for n in settings["sample_sizes"]:
        if n > len(dataset.x_train):
            raise ConfigError(f"figures.cdsm_consistency.sample_sizes: {n} exceeds the {len(dataset.x_train)} "
                              f"training pairs of {dataset.meta['name']}; raise its n_train")
        subset = Dataset(dataset.x_train[:n], dataset.x_test, dataset.y_train[:n], dataset.y_test, dataset.meta)
        for name, block in estimators.items():
            config = {"dataset": dataset.meta["config"], "model": block, "n": n, "seed": seed}
            model = fit(block, subset, Path(run_root) / f"{name}_n{n}", seed=seed, config=config, device=device,
                        progress=progress)
            sde = model.sde
            generator = torch.Generator(device=model.device).manual_seed(seed)

            def estimate(x_t, y, alpha, sigma, t, model=model, generator=generator):
                with torch.no_grad():
                    return model.conditional_score(x_t.float().to(model.device), t.float().to(model.device),
                                                   y.float().to(model.device), generator).cpu()
            record(name, n, weighted_error(estimate, mixture, sde, x_test, y_test, times,
                                           torch.Generator().manual_seed(seed)))
        bandwidth = settings["bandwidth"] * n ** (-1.0 / (y_test.shape[1] + 4))
        minimiser = empirical_cdsm_minimiser(torch.as_tensor(subset.x_train), torch.as_tensor(subset.y_train),
                                             bandwidth)
        record("empirical minimiser", n, weighted_error(minimiser, mixture, sde, x_test, y_test, times,
                                                        torch.Generator().manual_seed(seed)))
    return rows
