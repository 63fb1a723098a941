"""scikit-dimension's intrinsic-dimension estimators as baselines, with settings that are sane here:
MiND_ML is told the ambient dimension (it caps at 10 otherwise), and the estimators whose fit scales
badly (DANCo, ESS: minutes per dataset at their defaults) see a seeded subsample."""

from __future__ import annotations

import math

import numpy as np
import skdim

BASELINES = {
    "MLE": lambda dim: skdim.id.MLE(),
    "TwoNN": lambda dim: skdim.id.TwoNN(),
    "lPCA": lambda dim: skdim.id.lPCA(),
    "DANCo": lambda dim: skdim.id.DANCo(D=dim),
    "MiND_ML": lambda dim: skdim.id.MiND_ML(D=dim),
    "ESS": lambda dim: skdim.id.ESS(),
}
MAX_POINTS = {"DANCo": 1000, "ESS": 300}


def run_baselines(x: np.ndarray, names: list[str] | None = None, seed: int = 0) -> dict[str, float | None]:
    """Global estimate of each named baseline on points x (N, ...), flattened; None where it fails."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    rng = np.random.default_rng(seed)
    results: dict[str, float | None] = {}
    for name in names or list(BASELINES):
        limit = MAX_POINTS.get(name, len(x))
        subset = x[rng.choice(len(x), limit, replace=False)] if len(x) > limit else x
        np.random.seed(seed)  # some estimators (DANCo's calibration) draw from numpy's global RNG
        try:
            value = float(BASELINES[name](x.shape[1]).fit(subset).dimension_)
        except (ValueError, np.linalg.LinAlgError, FloatingPointError):
            value = math.nan
        results[name] = value if math.isfinite(value) else None
    return results
