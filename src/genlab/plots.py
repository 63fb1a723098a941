"""Plotting functions the notebooks call; each returns a matplotlib Figure."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from genlab.diffusion.samplers import STOCHASTIC  # noqa: E402

SAMPLER_LABELS = {"euler_maruyama": "Euler-Maruyama (SDE)", "predictor_corrector": "predictor-corrector (SDE)",
                  "ddpm": "DDPM ancestral (SDE)", "ddim": "DDIM (ODE)", "ode": "probability-flow ODE (dopri5)"}


def sample_grid(samples: np.ndarray, grid: int | None = None, title: str | None = None):
    """Images (N, C, H, W) in [-1, 1] as a grid; 2-D points as a scatter plot."""
    if samples.ndim == 2 and samples.shape[1] == 2:
        fig, ax = plt.subplots(figsize=(4, 4))
        ax.scatter(samples[:, 0], samples[:, 1], s=2, alpha=0.5)
        ax.set_aspect("equal")
    else:
        n = len(samples) if grid is None else grid * grid
        grid = grid or int(math.ceil(math.sqrt(n)))
        images = np.clip((samples[:n] + 1) / 2, 0, 1).transpose(0, 2, 3, 1)
        h, w, c = images.shape[1:]
        # background drawn white: 0 under the reversed grey map of 1-channel images, 1 for RGB
        canvas = np.full((grid * (h + 1) - 1, grid * (w + 1) - 1, c), 0.0 if c == 1 else 1.0)
        for i, image in enumerate(images):
            r, col = divmod(i, grid)
            canvas[r * (h + 1):r * (h + 1) + h, col * (w + 1):col * (w + 1) + w] = image
        fig, ax = plt.subplots(figsize=(5, 5))
        ax.imshow(canvas.squeeze(-1) if c == 1 else canvas, cmap="gray_r" if c == 1 else None,
                  interpolation="nearest", vmin=0, vmax=1)
        ax.axis("off")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def fid_vs_nfe(sweep: pd.DataFrame, floor: float | None = None, title: str | None = None):
    """FID against the number of network evaluations, one line per sampler (SDE solid, ODE dashed)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, rows in sweep.groupby("sampler", sort=False):
        rows = rows.sort_values("nfe")
        ax.plot(rows["nfe"], rows["fid"], marker="o", linestyle="-" if name in STOCHASTIC else "--",
                label=SAMPLER_LABELS.get(name, name))
    if floor is not None:
        ax.axhline(floor, color="grey", linewidth=1, linestyle=":", label="held-out data")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("network evaluations per sample (NFE)")
    ax.set_ylabel("FID (pipeline feature net)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def save(fig, stem: str | Path) -> list[str]:
    """Save as PDF and PNG (atomically) and close the figure."""
    from genlab.io import atomic_path
    paths = []
    for ext in ("pdf", "png"):
        path = Path(f"{stem}.{ext}")
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=ext, dpi=150, bbox_inches="tight")
        paths.append(str(path))
    plt.close(fig)
    return paths
