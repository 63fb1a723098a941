"""Images tiled into one picture: numpy only, so that a training run's live sample grids (genlab.live) cost
no matplotlib import (0.3-0.6 s per training process); the figures (genlab.plots) draw the same tiling."""

from __future__ import annotations

import numpy as np


def grid_image(samples: np.ndarray, grid: int) -> np.ndarray:
    """The first grid^2 images (N, C, H, W) in [-1, 1] tiled into one (H', W', C) array in [0, 1], with a
    one-pixel white gutter (0 under the reversed grey map of 1-channel images, 1 for RGB)."""
    images = np.clip((samples[:grid * grid] + 1) / 2, 0, 1).transpose(0, 2, 3, 1)
    h, w, c = images.shape[1:]
    canvas = np.full((grid * (h + 1) - 1, grid * (w + 1) - 1, c), 0.0 if c == 1 else 1.0)
    for i, image in enumerate(images):
        r, col = divmod(i, grid)
        canvas[r * (h + 1):r * (h + 1) + h, col * (w + 1):col * (w + 1) + w] = image
    return canvas
