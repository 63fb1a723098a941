"""Intrinsic dimension from the score, checked training-free: data concentrated near a k-dimensional
linear subspace of R^D (a Gaussian of width 1 along the subspace and 1e-3 across it) has an analytic
perturbed score, and with it the estimate is exact for every point."""

import pytest
import torch

from genlab.data.mixtures import GaussianMixture
from genlab.diffusion.sde import VESDE
from genlab.methods.intrinsic_dim import dimension_from_spectrum, estimate_intrinsic_dimension
from tests.conftest import analytic_score_fn


def near_subspace(k: int, dim: int, width: float = 1e-3, seed: int = 0) -> GaussianMixture:
    g = torch.Generator().manual_seed(seed)
    frame, _ = torch.linalg.qr(torch.randn(dim, k, generator=g, dtype=torch.float64))
    covariance = frame @ frame.T + width**2 * torch.eye(dim, dtype=torch.float64)
    return GaussianMixture(torch.ones(1, dtype=torch.float64), torch.zeros(1, dim, dtype=torch.float64),
                           covariance[None])


@pytest.mark.parametrize("k,dim", [(1, 10), (3, 20), (10, 30), (25, 40)])
def test_exact_on_data_near_a_subspace(k, dim):
    mixture = near_subspace(k, dim)
    sde = VESDE(sigma_min=1e-4, sigma_max=10.0)
    points = mixture.sample(8, torch.Generator().manual_seed(1))
    # t0 with sigma(t0) ~ 1e-2: between the normal width 1e-3 and the tangential width 1
    t0 = float(torch.log(torch.tensor(1e-2 / 1e-4)) / torch.log(torch.tensor(10.0 / 1e-4)))
    result = estimate_intrinsic_dimension(analytic_score_fn(mixture, sde), sde, points, t0)
    assert result["estimates"].tolist() == [k] * len(points)
    assert result["median"] == k


def test_spectrum_gap_rule():
    assert dimension_from_spectrum(torch.tensor([90.0, 88.0, 85.0, 1.2, 1.0, 0.8])) == 3
    assert dimension_from_spectrum(torch.tensor([50.0, 1.0, 0.9, 0.9])) == 3


def test_baselines_run_with_sane_settings():
    """The wiring of the scikit-dimension baselines: on a 5-sphere in R^30 each lands near 5 (global
    lPCA sees the 6-dimensional span of the sphere, as it should)."""
    from genlab.data import make_dataset
    from genlab.metrics.id_baselines import run_baselines
    x = make_dataset("s", {"kind": "sphere", "n_train": 800, "n_test": 10, "k": 5, "ambient_dim": 30}, 0).x_train
    estimates = run_baselines(x, ["MLE", "TwoNN", "lPCA", "MiND_ML", "DANCo"])
    assert estimates["lPCA"] == 6
    for name in ("MLE", "TwoNN", "MiND_ML", "DANCo"):
        assert 4.0 <= estimates[name] <= 6.5, (name, estimates[name])
    assert run_baselines(x, ["DANCo"])["DANCo"] == estimates["DANCo"]  # seeded: reproducible
