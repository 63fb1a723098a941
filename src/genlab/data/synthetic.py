"""Synthetic datasets with known ground truth: manifolds with a known intrinsic dimension (isometrically
embedded in R^D by a random orthonormal frame), Gaussian mixtures with analytic densities and scores,
and the classic 2-D toys."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

# torch (and the mixtures, which are torch) are imported by the kinds that use them: a manifold or image data
# job then does not pay torch's import (3 s on the project's CPU)


def _frame(rng: np.random.Generator, ambient_dim: int, k: int) -> np.ndarray:
    """A random (ambient_dim x k) matrix with orthonormal columns: an isometric linear embedding."""
    q, _ = np.linalg.qr(rng.normal(size=(ambient_dim, k)))
    return q


def sphere(rng, n, k, ambient_dim, noise_std=0.0, angle_std=None):
    """Samples on the unit k-sphere S^k (in R^{k+1}) embedded isometrically in R^D: uniform, or with
    ``angle_std`` the authors' non-uniform sampling (GBATZOLIS/ID-diff, KSphereDataset.sample_sphere): all k
    hyperspherical angles ~ N(0, angle_std^2), concentrated around a pole for small angle_std."""
    if ambient_dim < k + 1:
        raise ValueError(f"a {k}-sphere needs ambient_dim >= {k + 1}, got {ambient_dim}")
    if angle_std is None:
        s = rng.normal(size=(n, k + 1))
        s /= np.linalg.norm(s, axis=1, keepdims=True)
    else:
        s = _from_angles(rng.normal(size=(n, k)) * angle_std)
    x = s @ _frame(rng, ambient_dim, k + 1).T
    return x + noise_std * rng.normal(size=x.shape), {"intrinsic_dim": k}


def sphere_union(rng, n, ks, ambient_dim, noise_std=0.0):
    """Uniform samples on a union of unit spheres of dimensions ``ks`` (n / len(ks) points each, shuffled),
    each in its own random frame of R^D: the authors' KSphere with a list of manifold dimensions and the
    random_isometry embedding (GBATZOLIS/ID-diff, lightning_data_modules/KSphereDataset.py). The spheres meet
    only if their frames' spans share a unit vector, which random frames do not when sum(k + 1) <= D. The
    intrinsic dimension is a point's own sphere's: the labels are the sphere each point lies on."""
    if sum(k + 1 for k in ks) > ambient_dim:
        raise ValueError(f"spheres of dimensions {ks} need ambient_dim >= {sum(k + 1 for k in ks)} to be disjoint, "
                         f"got {ambient_dim}")
    labels = np.arange(n) % len(ks)
    rng.shuffle(labels)
    x = np.empty((n, ambient_dim))
    for label, k in enumerate(ks):
        rows = labels == label
        x[rows] = sphere(rng, int(rows.sum()), k, ambient_dim, noise_std)[0]
    return x, {"intrinsic_dim": None, "component_dims": list(ks), "labels": labels}


def subspace(rng, n, k, ambient_dim, noise_std=0.0):
    """A standard Gaussian on a random k-dimensional linear subspace of R^D."""
    x = rng.normal(size=(n, k)) @ _frame(rng, ambient_dim, k).T
    return x + noise_std * rng.normal(size=x.shape), {"intrinsic_dim": k}


def spaghetti(rng, n, ambient_dim, noise_std=0.0):
    """A closed curve that winds through R^D: coordinate j is sin(2 pi f_j s + phi_j) / sqrt(D), s ~ U(0, 1),
    with integer frequencies so that the curve closes; intrinsic dimension 1."""
    s = rng.uniform(size=(n, 1))
    freqs = rng.integers(1, 6, size=ambient_dim)
    phases = rng.uniform(0, 2 * np.pi, size=ambient_dim)
    x = np.sin(2 * np.pi * freqs * s + phases) * np.sqrt(2.0 / ambient_dim)
    return x + noise_std * rng.normal(size=x.shape), {"intrinsic_dim": 1}


def gaussian_mixture(rng, n, components, dim, spread=2.0, std_min=0.2, std_max=0.6):
    import torch
    from genlab.data.mixtures import random_mixture
    mixture = random_mixture(rng, components, dim, spread, (std_min, std_max))
    g = torch.Generator().manual_seed(int(rng.integers(2**31)))
    return mixture.sample(n, g).numpy(), {"mixture": mixture.to_meta()}


def conditional_mixture(rng, n, components, x_dim, y_dim, spread=2.0, std_min=0.3, std_max=1.0):
    """Pairs (x, y) from a random Gaussian mixture on R^(x_dim + y_dim) with rotated covariances, so that x
    and y are correlated within each component (components = 1: jointly Gaussian). The conditional score
    of x_t given y is analytic (genlab.methods.cdsm): ground truth for the conditional estimators.
    Returned joint; the registry splits the last y_dim coordinates off as the condition vectors."""
    import torch
    from genlab.data.mixtures import random_mixture
    mixture = random_mixture(rng, components, x_dim + y_dim, spread, (std_min, std_max))
    g = torch.Generator().manual_seed(int(rng.integers(2**31)))
    return mixture.sample(n, g).numpy(), {"mixture": mixture.to_meta(), "condition_dim": y_dim}


def ring(rng, n, modes=8, radius=2.0, std=0.15):
    import torch
    from genlab.data.mixtures import ring_mixture
    mixture = ring_mixture(modes, radius, std)
    g = torch.Generator().manual_seed(int(rng.integers(2**31)))
    return mixture.sample(n, g).numpy(), {"mixture": mixture.to_meta()}


def moons(rng, n, noise=0.05):
    from sklearn.datasets import make_moons  # imported here: sklearn costs every CLI call 0.7 s otherwise
    x, _ = make_moons(n_samples=n, noise=noise, random_state=int(rng.integers(2**31)))
    return (x - x.mean(0)) / x.std(0), {}


def checkerboard(rng, n, squares=4):
    """Uniform density on the black squares of a squares x squares board on [-2, 2]^2."""
    cell = 4.0 / squares
    i = rng.integers(0, squares, size=n)
    j = (rng.integers(0, squares // 2, size=n) * 2 + (i % 2)) % squares
    x = np.stack([i, j], axis=1) * cell - 2.0 + rng.uniform(0, cell, size=(n, 2))
    # density is 1 / (black area) on black squares: half the board is black
    return x, {"log_density_on_support": float(-np.log(0.5 * 16.0))}


def squares(rng, n, k, size=8, side=2):
    """Image manifold of known dimension k (linear): k non-overlapping side x side squares at positions fixed
    for the dataset, each with its own brightness in [0, 1] per image; images (1, size, size) in [-1, 1]."""
    cells = [(r, c) for r in range(0, size - side + 1, side) for c in range(0, size - side + 1, side)]
    if k > len(cells):
        raise ValueError(f"{k} squares of side {side} do not fit without overlap in a {size}x{size} image")
    chosen = rng.choice(len(cells), k, replace=False)
    masks = np.zeros((k, size, size))
    for i, cell in enumerate(chosen):
        r, c = cells[cell]
        masks[i, r:r + side, c:c + side] = 1.0
    brightness = rng.uniform(size=(n, k))
    x = np.einsum("nk,khw->nhw", brightness, masks) * 2 - 1
    return x[:, None], {"intrinsic_dim": k}


def blob_images(centres: np.ndarray, size: int, width: float) -> np.ndarray:
    """Images (n, size, size) of k Gaussian bumps with centres (n, k, 2), summed, mapped as 2 x - 1."""
    grid = np.arange(size)
    bumps_r = np.exp(-0.5 * ((grid[None, None, :] - centres[..., 0:1]) / width) ** 2)  # (n, k, size)
    bumps_c = np.exp(-0.5 * ((grid[None, None, :] - centres[..., 1:2]) / width) ** 2)
    return np.einsum("nkh,nkw->nhw", bumps_r, bumps_c) * 2 - 1


def blobs(rng, n, k, size=8, width=1.0):
    """Image manifold of known dimension 2k (curved): k Gaussian bumps of fixed width and brightness whose
    centres move continuously over the image (each uniform in [1, size - 2]^2 per image), summed. The map
    from the 2k centre coordinates to the image is smooth and of full rank 2k (tested)."""
    centres = rng.uniform(1, size - 2, size=(n, k, 2))
    return blob_images(centres, size, width)[:, None], {"intrinsic_dim": 2 * k}


def gaussian_blob_images(stds: np.ndarray, centres: np.ndarray, size: int, scaling: str = "per_image") -> np.ndarray:
    """Images (n, size, size) of Gaussian bumps with stds (n, k) at pixel centres (k, 2), each of amplitude
    1 / (sqrt(2 pi) std), summed and min-max scaled to [0, 1] per image (``per_image``, the authors'), or
    all divided by the largest pixel of the n images (``global``: a linear map, so the sums' smooth manifold
    unchanged)."""
    grid = np.arange(size)
    amplitude = 1 / (np.sqrt(2 * np.pi) * stds)
    bumps_r = np.exp(-0.5 * ((grid - centres[:, 0:1]) / stds[..., None]) ** 2)  # (n, k, size)
    bumps_c = np.exp(-0.5 * ((grid - centres[:, 1:2]) / stds[..., None]) ** 2)
    x = np.einsum("nk,nkh,nkw->nhw", amplitude, bumps_r, bumps_c)
    if scaling == "global":
        return x / x.max()
    low, high = x.min(axis=(1, 2), keepdims=True), x.max(axis=(1, 2), keepdims=True)
    return (x - low) / (high - low)


def gaussian_blobs(rng, n, k, size=32, std_range=(1.0, 5.0), scaling="per_image"):
    """The intrinsic-dimension paper's Gaussian blobs (GBATZOLIS/ID-diff, FixedGaussiansManifold): k bumps
    at distinct pixels fixed for the dataset, each image drawing every bump's std uniformly in std_range,
    summed and min-max scaled to [0, 1] (the authors' range: their data are not centred). The k stds are
    the coordinates: a curved manifold of dimension k (tested: the Jacobian has full rank k). The per-image
    scaling divides by the image's range, whose brightest pixel switches between bumps: the manifold has
    creases there, and both the auto-encoder check and the score spectrum see one more dimension
    (benchmarks/results/autoencoder_dim.md); ``scaling: global`` (one divisor for the whole set) gives the
    smooth manifold of the sums for comparison."""
    if scaling not in ("per_image", "global"):
        raise ValueError(f"scaling {scaling!r}: use per_image (the authors') or global")
    if k > size * size:
        raise ValueError(f"{k} blobs at distinct pixels do not fit in a {size}x{size} image")
    low, high = std_range
    if not 0 < low <= high:
        raise ValueError(f"std_range {list(std_range)} must satisfy 0 < low <= high")
    centres = np.stack(np.divmod(rng.choice(size * size, k, replace=False), size), axis=1)
    stds = rng.uniform(low, high, size=(n, k))
    return (gaussian_blob_images(stds, centres, size, scaling)[:, None],
            {"intrinsic_dim": k, "blob_centres": centres.tolist()})


# Banana densities (score-based pullback geometry, Diepeveen, Batzolis et al. 2024): x = psi^-1(u) with
# u ~ N(0, diag(scale^2)) and psi(x) = (x1 - bend(x2), x2), a shear with unit Jacobian determinant, so the
# density N(psi(x); 0, diag(scale^2)) is exact and the ground-truth geodesics are psi^-1 of straight lines.
# Parameters of the paper's data (its code's sample_dataset.py): shear 1/9 and variances (1/4, 4) for the
# single banana, (1/81, 4) squeezed; the river bends along sin(2 x2) with variances (1/25, 3).
BANANAS = {
    "single": {"bend": "parabola", "amplitude": 1 / 9, "frequency": 1.0, "scale": [1 / 2, 2.0]},
    "squeezed": {"bend": "parabola", "amplitude": 1 / 9, "frequency": 1.0, "scale": [1 / 9, 2.0]},
    "river": {"bend": "sine", "amplitude": 1.0, "frequency": 2.0, "scale": [1 / 5, 3**0.5]},
}


def banana_bend(spec: dict, x2):
    """The curve x1 = bend(x2) the banana follows."""
    if spec["bend"] == "parabola":
        return spec["amplitude"] * x2**2
    import torch
    return spec["amplitude"] * torch.sin(spec["frequency"] * x2)


def banana_psi(spec: dict, x: torch.Tensor, inverse: bool = False) -> torch.Tensor:
    """psi(x) = (x1 - bend(x2), x2), or its inverse (u1 + bend(u2), u2), on (..., 2) tensors."""
    import torch
    bend = banana_bend(spec, x[..., 1])
    return torch.stack([x[..., 0] + bend if inverse else x[..., 0] - bend, x[..., 1]], -1)


def banana_geodesic(spec: dict, x0: torch.Tensor, x1: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
    """Ground-truth geodesics of a banana density: psi^-1 of the straight line between psi(x0) and psi(x1),
    psi(x) = (x1 - bend(x2), x2). Shape (P, T, 2)."""
    t = times[None, :, None]
    return banana_psi(spec, (1 - t) * banana_psi(spec, x0)[:, None] + t * banana_psi(spec, x1)[:, None], inverse=True)


def banana(rng, n, variant="single"):
    """Exact samples of a banana density (BANANAS); sampled through psi^-1 rather than by Langevin MCMC, so
    the data carry no sampler bias."""
    if variant not in BANANAS:
        raise ValueError(f"unknown banana variant {variant!r}; choose one of {sorted(BANANAS)}")
    spec = BANANAS[variant]
    import torch
    u = rng.normal(size=(n, 2)) * np.asarray(spec["scale"])
    return banana_psi(spec, torch.as_tensor(u), inverse=True).numpy(), {"banana": spec}


def _from_angles(angles: np.ndarray) -> np.ndarray:
    """Hyperspherical angles (n, k) -> points of S^k (n, k + 1): x_i = cos(theta_i) prod_{j<i} sin(theta_j)
    for i <= k, x_{k+1} = prod_{j<=k} sin(theta_j)."""
    sines = np.cumprod(np.concatenate([np.ones((len(angles), 1)), np.sin(angles)], axis=1), axis=1)
    return np.concatenate([sines[:, :-1] * np.cos(angles), sines[:, -1:]], axis=1)


def hemisphere(rng, n, k, ambient_dim, noise_std=0.0):
    """The authors' hemisphere(K, N) (GBATZOLIS/Score-Based-Pullback-Riemannian-Geometry, sample_dataset.py):
    points of the unit k-sphere in hyperspherical coordinates, the polar angle theta_1 ~ Beta(5, 5) * pi/2 (a
    band of latitudes around pi/4) and the other k - 1 angles uniform on [0, pi] (half of the azimuth),
    embedded isometrically in R^D; no noise unless noise_std > 0: intrinsic dimension k.
    (Their code draws a k-th angle that its coordinate loop never reads; leaving it out changes nothing.)"""
    if ambient_dim < k + 1:
        raise ValueError(f"a {k}-hemisphere needs ambient_dim >= {k + 1}, got {ambient_dim}")
    angles = np.concatenate([rng.beta(5, 5, size=(n, 1)) * np.pi / 2,
                             rng.uniform(0, np.pi, size=(n, k - 1))], axis=1)
    x = _from_angles(angles) @ _frame(rng, ambient_dim, k + 1).T
    return x + noise_std * rng.normal(size=x.shape), {"intrinsic_dim": k}


def sinusoid(rng, n, k, ambient_dim, noise_std=1e-3 ** 0.5):
    """The authors' sinusoid(K, N) (same file): z ~ N(0, 3 I_k) are the last k coordinates, and each of the
    other D - k is sin(<shear_j, z>) with shear_j ~ U[1, 2]^k plus noise of noise_std (theirs: variance 1e-3)
    off the manifold only: intrinsic dimension k."""
    if ambient_dim <= k:
        raise ValueError(f"sinusoid({k}, {ambient_dim}) needs ambient_dim > k")
    z = rng.normal(size=(n, k)) * 3**0.5
    shears = rng.uniform(1, 2, size=(k, ambient_dim - k))
    off_manifold = np.sin(z @ shears) + noise_std * rng.normal(size=(n, ambient_dim - k))
    return np.concatenate([off_manifold, z], axis=1), {"intrinsic_dim": k}
