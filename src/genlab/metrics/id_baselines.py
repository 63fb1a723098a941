"""scikit-dimension's intrinsic-dimension estimators as baselines, with settings that are sane here:
MiND_ML is told the ambient dimension (it caps at 10 otherwise), and the estimators whose fit scales
badly (DANCo, ESS: minutes per dataset at their defaults) see a seeded subsample. ESS's simplex volumes are
computed for all of a neighbourhood's pairs at once (`VectorisedESS`): the library's own arithmetic, batched,
the same floats 10x sooner; DANCo's neighbour pairs come from numpy, not a numba kernel compiled per process
(`PairsDANCo`)."""

from __future__ import annotations

import math

import numpy as np
import skdim
from skdim._commonfuncs import efficient_indnComb, lens


class VectorisedESS(skdim.id.ESS):
    """skdim's ESS (Johnsson et al. 2015) with version 'a' computed for a neighbourhood's simplices in one
    batched call instead of a Python loop over up to 5000 of them per point: the same groups (the same draws
    from its random state), Gram determinants and lengths, summed in the same order, so the same floats
    (tests/test_intrinsic_dim.py holds the two equal)."""

    def _computeEss(self, X, verbose=False):
        if self.ver != "a" or self.d + 1 > X.shape[1]:
            return super()._computeEss(X, verbose)
        vectors = self._vecToCs_onedir(X, 1)
        groups = efficient_indnComb(len(vectors), self.d + 1, self.random_state_)
        simplices = vectors[groups]  # (groups, d + 1, D): each simplex's edge vectors from the centre
        weight = np.prod(np.sqrt(np.sum(simplices**2, axis=2)), axis=1)
        volume = np.linalg.det(np.matmul(simplices, simplices.transpose(0, 2, 1)))
        return np.sum(np.sqrt(np.abs(volume))) / np.sum(weight)


class PairsDANCo(skdim.id.DANCo):
    """skdim's DANCo with the pairs of a point's neighbours from ``np.triu_indices`` instead of skdim's
    numba-compiled ``indnComb(k, 2)``: the same pairs in the same (row-major) order, so the same angles and
    estimate (tests/test_intrinsic_dim.py holds the two equal), without the 2-3 s numba spends compiling
    ``indnComb`` again in every process (skdim does not cache it)."""

    def _loc_angles(self, pt, nbs):
        vec = nbs - pt
        vec_len = lens(vec)
        first, second = np.triu_indices(len(nbs), 1)
        cos_th = np.sum(vec[first] * vec[second], axis=1) / (vec_len[first] * vec_len[second])
        if np.any(np.abs(cos_th) > 1):
            np.clip(cos_th, a_min=None, a_max=1, out=cos_th)
        return np.arccos(cos_th)


class PPCA:
    """Minka's (2000) Bayesian model selection for probabilistic PCA: the number of components that
    maximises the evidence (scikit-learn's ``PCA(n_components="mle")``), the paper's PPCA baseline
    (GBATZOLIS/ID-diff, benchmark.py)."""

    def fit(self, x: np.ndarray) -> "PPCA":
        from sklearn.decomposition import PCA
        self.dimension_ = PCA(n_components="mle").fit(x).n_components_
        return self


class NeighboursMLE:
    """skdim's MLE (Levina-Bickel, combined by the harmonic mean as R's maxLikGlobalDimEst) with m
    neighbours per point: skdim takes m as an argument of ``fit`` (default 20; its ``K`` is then unused)."""

    def __init__(self, neighbours: int):
        self.neighbours = neighbours

    def fit(self, x: np.ndarray) -> "NeighboursMLE":
        self.dimension_ = skdim.id.MLE().fit(x, n_neighbors=self.neighbours).dimension_
        return self


# The paper's baselines (benchmark.py: R's intrinsicDimension) are MLE with m = 5 and 20 neighbours,
# PCA with the Fukunaga-Olsen threshold on the whole set (pcaLocalDimEst(data, "FO"): skdim's lPCA is its
# port) and PPCA; the others are scikit-dimension's strongest.
BASELINES = {
    "MLE": lambda dim: skdim.id.MLE(),  # m = 20 neighbours, skdim's default
    "MLE_5": lambda dim: NeighboursMLE(5),
    "PPCA": lambda dim: PPCA(),
    "TwoNN": lambda dim: skdim.id.TwoNN(),
    "lPCA": lambda dim: skdim.id.lPCA(),
    "DANCo": lambda dim: PairsDANCo(D=dim),
    "MiND_ML": lambda dim: skdim.id.MiND_ML(D=dim),
    "ESS": lambda dim: VectorisedESS(),
}
MAX_POINTS = {"DANCo": 1000, "ESS": 300}


def run_baselines(x: np.ndarray, names: list[str] | None = None, seed: int = 0,
                  max_points: dict[str, int] = MAX_POINTS) -> dict[str, float | None]:
    """Global estimate of each named baseline on points x (N, ...), flattened; None where it fails. An
    estimator named in max_points sees a seeded subset of that many points (the pipeline's: DANCo and ESS
    cost more than linearly in N)."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    rng = np.random.default_rng(seed)
    results: dict[str, float | None] = {}
    for name in names or list(BASELINES):
        limit = max_points.get(name, len(x))
        subset = x[rng.choice(len(x), limit, replace=False)] if len(x) > limit else x
        np.random.seed(seed)  # some estimators (DANCo's calibration) draw from numpy's global RNG
        try:
            value = float(BASELINES[name](x.shape[1]).fit(subset).dimension_)
        except (ValueError, np.linalg.LinAlgError, FloatingPointError):
            value = math.nan
        results[name] = value if math.isfinite(value) else None
    return results
