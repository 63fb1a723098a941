"""The geometry of the data: intrinsic dimension from the score's spectrum (chapter 5), pullback geodesics
against the ground truth and the Riemannian auto-encoder (chapter 7)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from genlab.evaluation.registry import Run, metric, no_grad

if TYPE_CHECKING:
    import torch

    from genlab.data import Dataset
    from genlab.families import Family


def intrinsic_dimension(model: Family | None, dataset: Dataset, settings: dict[str, Any], seed: int) -> dict[str, Any]:
    """Intrinsic dimension of the data manifold (Stanczuk, Batzolis et al. 2024) from a trained score
    model's spectrum at held-out points, beside the scikit-dimension baselines on the training points and
    the ground truth when the dataset knows it. Without a model, the baselines alone."""
    import numpy as np
    import torch
    from genlab.methods.intrinsic_dim import estimate_intrinsic_dimension
    from genlab.metrics.id_baselines import run_baselines
    truth = dataset.meta.get("intrinsic_dim")
    result: dict[str, Any] = {"true_dim": truth, "ambient_dim": dataset.dim}
    if model is not None:
        per_class = bool(settings.get("by_label")) and dataset.y_test is not None \
            and not dataset.meta.get("component_dims")
        chosen = (balanced_indices(dataset.y_test, settings["n_points"]) if per_class
                  else np.arange(min(settings["n_points"], len(dataset.x_test))))
        x = torch.as_tensor(dataset.x_test[chosen]).to(model.device)
        estimate = estimate_intrinsic_dimension(model.score, model.sde, x, settings["t0"],
                                                settings.get("n_perturbations"), seed,
                                                settings.get("skip_first_gap", False))
        spectra = estimate["spectra"].cpu().double()
        result.update(estimate=estimate["median"], histogram=_histogram(estimate["estimates"]),
                      # the mean spectrum normalised by its largest value: the figure's curve
                      mean_spectrum=(spectra / spectra[:, :1]).mean(0).tolist())
        if dataset.meta.get("component_dims"):  # a union of manifolds: each point against its own one's dimension
            result["by_component"] = _by_label(estimate["estimates"], dataset.y_test[chosen],
                                               dict(enumerate(dataset.meta["component_dims"])))
        elif per_class:  # the paper's per-digit MNIST
            labels = dataset.y_test[chosen]
            result["by_label"] = _by_label(estimate["estimates"], labels, {c: c for c in sorted(set(labels.tolist()))})
    x_train = dataset.x_train[: settings["baseline_points"]]
    result["baselines"] = run_baselines(x_train, settings["baselines"], seed)
    return result


def balanced_indices(labels, n_points: int):
    """n_points held-out points taken a class at a time (each class's first point, then each one's second,
    ...; a class that runs out drops out), in test order: per-class medians from equal counts, where the
    first n_points of a shuffled split can hold a class twice as often as another (the 28x28 digits' first
    100 test points hold 2 sevens and 14 twos)."""
    import numpy as np
    labels = np.asarray(labels)
    per_class = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    rounds = max(len(members) for members in per_class)
    order = [members[r] for r in range(rounds) for members in per_class if r < len(members)]
    return np.sort(np.array(order[:n_points], dtype=int))


def _by_label(estimates: torch.Tensor, labels, names: dict[int, Any]) -> dict[str, dict[str, Any]]:
    """The estimates of each label's points apart: {names[label]: points, histogram, median}."""
    import torch
    labels = torch.as_tensor(labels)
    groups = {}
    for label, name in names.items():
        own = estimates[labels == label]
        groups[str(name)] = {"points": len(own), "histogram": _histogram(own),
                             "median": int(own.median()) if len(own) else None}
    return groups


def _histogram(estimates: torch.Tensor) -> dict[str, int]:
    """Per-point integer estimates -> {estimate: number of points}, the estimates that occur, ascending."""
    import torch
    return {str(d): int(c) for d, c in enumerate(torch.bincount(estimates)) if c > 0}


@metric("intrinsic_dim", settings=("intrinsic_dim",), requires={"score"})
def intrinsic_dim(run: Run) -> dict[str, Any]:
    """Intrinsic dimension from the score spectrum of the trained model, beside the baselines."""
    return intrinsic_dimension(run.model, run.dataset, run.settings("intrinsic_dim"), run.seed)


EXAMPLE_GEODESICS = 6  # geodesics kept in the metrics file for figures


VARIATION_NOISE = 0.1  # the authors' variation error: the end point moved by 0.1 N(0, I) (src/eval/variation_error.py)


@metric("geodesic", settings=("geodesic",), requires={"geodesic"}, datasets=("banana",))
def geodesic(run: Run) -> dict[str, Any]:
    """Geodesic error of a pullback flow on a banana density: the mean distance, over random pairs of
    held-out points and evenly spaced times, between the learned geodesic and the ground truth; also
    relative to the mean distance between the pair's end points. Beside it, on the same pairs, the
    straight line's error (the baseline a flow must beat) and the authors' variation error, the mean distance
    between the learned geodesics to x1 and to x1 + 0.1 N(0, I) (stability; the true geodesics' value shown
    as its reference)."""
    return geodesic_errors(run.model, run.dataset, run.settings("geodesic"), run.seed)


@no_grad
def geodesic_errors(model: Family, dataset: Dataset, settings: dict[str, Any], seed: int) -> dict[str, Any]:
    """The `geodesic` metric's values for a trained pullback flow (also benchmarks/pullback_budget.py's)."""
    import torch
    from genlab.data.synthetic import banana_geodesic
    x = torch.as_tensor(dataset.x_test, dtype=torch.float64)
    generator = torch.Generator().manual_seed(seed)
    pairs = torch.randint(len(x), (settings["n_pairs"], 2), generator=generator)
    x0, x1 = x[pairs[:, 0]], x[pairs[:, 1]]
    moved = x1 + VARIATION_NOISE * torch.randn(x1.shape, generator=generator, dtype=torch.float64)
    times = torch.linspace(0, 1, settings["n_times"], dtype=torch.float64)
    spec = dataset.meta["banana"]

    def learned_path(end: torch.Tensor) -> torch.Tensor:
        return model.geodesic(x0.float(), end.float(), times.float()).cpu().double()

    def distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a - b).norm(dim=-1).mean(1)  # per pair, averaged over time

    learned, truth = learned_path(x1), banana_geodesic(spec, x0, x1, times)
    line = x0[:, None] + times[None, :, None] * (x1 - x0)[:, None]
    error, line_error = distance(learned, truth), distance(line, truth)
    variation = distance(learned, learned_path(moved))
    true_variation = distance(truth, banana_geodesic(spec, x0, moved, times))
    line_variation = (times.mean() * (moved - x1).norm(dim=-1))  # the lines to x1 and to moved part linearly
    sem = len(error) ** 0.5
    return {"geodesic_error": float(error.mean()), "geodesic_error_sem": float(error.std() / sem),
            "relative_geodesic_error": float(error.mean() / (x1 - x0).norm(dim=-1).mean()),
            "straight_line_error": float(line_error.mean()), "straight_line_error_sem": float(line_error.std() / sem),
            "variation_error": float(variation.mean()), "variation_error_sem": float(variation.std() / sem),
            "true_variation": float(true_variation.mean()), "straight_line_variation": float(line_variation.mean()),
            "n_pairs": settings["n_pairs"], "n_times": settings["n_times"],
            "examples": {"learned": learned[:EXAMPLE_GEODESICS].tolist(), "truth": truth[:EXAMPLE_GEODESICS].tolist()}}


@metric("rae", settings=("rae",), requires={"rae"})
@no_grad
def rae(run: Run) -> dict[str, Any]:
    """The Riemannian auto-encoder of a pullback flow: the latent dimensions kept at the configured eps
    against the manifold's true dimension, the learned variance spectrum, and the held-out reconstruction
    error when keeping d = 1..D coordinates; beside it linear PCA (fitted on the training data) under the same
    rule, which is all the flow has to beat: on a flat or gently curved manifold PCA alone finds K."""
    import torch
    from genlab.families.pullback import retained_dimension
    model, dataset, settings = run.model, run.dataset, run.settings("rae")
    x = torch.as_tensor(dataset.x_test[: settings["n_examples"]]).to(model.device)
    mse = [float((model.rae_reconstruct(x, keep) - x).flatten(1).pow(2).mean()) for keep in range(1, model.dim + 1)]
    pca = principal_components(torch.as_tensor(dataset.x_train).flatten(1).double())
    x = x.flatten(1).double().cpu()
    pca_mse = [float((pca.reconstruct(x, keep) - x).pow(2).mean()) for keep in range(1, model.dim + 1)]
    return {"true_dim": dataset.meta.get("intrinsic_dim"), "epsilon": settings["epsilon"],
            "retained_dim": model.rae_dimension(settings["epsilon"]),
            "variances": model.variances.sort(descending=True).values.tolist(), "mse_by_kept_dim": mse,
            "pca_retained_dim": retained_dimension(pca.variances, settings["epsilon"]),
            "pca_variances": pca.variances.tolist(), "pca_mse_by_kept_dim": pca_mse}


class PrincipalComponents:
    """Linear PCA: the mean, the principal directions (columns, by decreasing variance) and their variances."""

    def __init__(self, mean: torch.Tensor, directions: torch.Tensor, variances: torch.Tensor):
        self.mean, self.directions, self.variances = mean, directions, variances

    def reconstruct(self, x: torch.Tensor, keep: int) -> torch.Tensor:
        """Project onto the ``keep`` directions of largest variance through the mean."""
        basis = self.directions[:, :keep]
        return self.mean + (x - self.mean) @ basis @ basis.T


def principal_components(x: torch.Tensor) -> PrincipalComponents:
    import torch
    mean = x.mean(0)
    variances, directions = torch.linalg.eigh(torch.cov((x - mean).T).reshape(x.shape[1], x.shape[1]))
    return PrincipalComponents(mean, directions.flip(1), variances.flip(0).clamp_min(0))
