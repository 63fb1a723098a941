"""Mode coverage: which classes (images, through the feature net) or mixture components a model's samples
fall in, for the final weights and along training (Fig 1.2)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from genlab.evaluation.registry import Run, metric, no_grad

if TYPE_CHECKING:
    import torch

    from genlab.data import Dataset
    from genlab.families.classifier import Classifier


# A high-quality image sample: the feature net gives one class at least this probability (a recognisable
# digit, not a blot that the argmax assigns to some class anyway); the accuracy metric reports the share of
# held-out real digits that reach it, the reference for a model's share.
CONFIDENCE = 0.9


def mode_coverage(samples: torch.Tensor, dataset: Dataset, classifier: Classifier | None,
                  min_share: float = 0.2) -> dict[str, Any]:
    """Which modes a sample covers. Images: the feature net's class of every sample; high quality where its
    probability is at least CONFIDENCE. Mixtures: each sample is assigned to its nearest component if it lies
    within 3 standard deviations of its mean (a 'high-quality' sample; the others count nowhere). A mode
    counts as covered when it receives at least ``min_share`` of its fair share n / modes, so a handful of
    stray samples does not make a collapsed model look diverse; ``high_quality_modes`` counts the
    high-quality samples alone (on mixtures the same as ``modes_covered``)."""
    import torch
    from genlab.data.mixtures import GaussianMixture
    if classifier is not None:
        logits = classifier.logits(samples)
        labels, modes = logits.argmax(1), int(dataset.meta["classes"])  # the classifier assigns every sample
        good = logits.softmax(1).max(1).values >= CONFIDENCE
        recognisable = labels[good]
    else:
        mixture = GaussianMixture.from_meta(dataset.meta)
        x = samples.flatten(1).double()
        distance = torch.cdist(x, mixture.means)
        labels = distance.argmin(1)
        std = torch.sqrt(torch.diagonal(mixture.covariances, dim1=1, dim2=2).max(1).values)
        good = distance.gather(1, labels[:, None])[:, 0] <= 3 * std[labels]
        labels, modes = labels[good], len(mixture.weights)
        recognisable = labels

    def covered(assigned: torch.Tensor) -> int:
        return int((torch.bincount(assigned, minlength=modes) >= min_share * len(samples) / modes).sum())

    share = torch.bincount(labels, minlength=modes).double() / len(samples)
    return {"modes_covered": covered(labels), "modes": modes, "high_quality": float(good.double().mean()),
            "high_quality_modes": covered(recognisable), "top_share": float(share.max()),
            **{f"share_{k}": float(share[k]) for k in range(modes)}}


def final_modes(path: Path) -> dict[str, Any]:
    """The row of the final (EMA) weights: 'covered/total', the fraction of high-quality samples (mixtures:
    within 3 standard deviations of a mode, so a Gaussian 'covers' every mode of the ring, but with 0.3;
    images: classified with probability at least CONFIDENCE) and the modes those alone cover."""
    import pandas as pd  # 0.3 s to import: only where a modes file is summarised
    final = pd.read_csv(path).astype({"step": str}).set_index("step").loc["ema"]
    return {"modes_covered": f"{int(final['modes_covered'])}/{int(final['modes'])}",
            "high_quality": None if pd.isna(final["high_quality"]) else float(final["high_quality"]),
            "high_quality_modes": f"{int(final['high_quality_modes'])}/{int(final['modes'])}"}


@metric("modes", output="csv", settings=("modes",), feature_net="images", requires={"sample"},
        datasets=("images", "ring", "gaussian_mixture"),
        columns={"modes covered": "modes_covered", "high-quality samples": "high_quality",
                 "modes by high-quality samples": "high_quality_modes"},
        summary=final_modes, plot={"x": "step", "y": "modes_covered"})
def modes(run: Run) -> list[dict[str, Any]]:
    """Mode coverage of the final EMA weights (step 'ema') and, along training (Fig 1.2), of every snapshot
    of the raw weights kept by ``training.snapshots``."""
    classifier = run.classifier.cpu() if run.is_image else None
    return coverage_along_training(run.model, run.checkpoint.get("snapshots"), run.dataset, classifier,
                                   run.settings("modes")["n_samples"], run.seed)


@no_grad
def coverage_along_training(model, snapshots: dict | None, dataset: Dataset, classifier: Classifier | None,
                            n_samples: int, seed: int) -> list[dict[str, Any]]:
    """A row per snapshot of raw weights (in step order), then one for the weights ``model`` holds (step
    'ema'): the mode coverage of ``n_samples`` samples drawn with ``seed``. ``model`` holds its own weights
    again at the end."""
    from genlab.generation import generate
    rows = []
    final = {k: v.clone() for k, v in model.state_dict().items()}
    for step, weights in [*sorted((snapshots or {}).items()), ("ema", final)]:
        model.load_state_dict(weights)
        samples, _ = generate(model, n_samples, n_samples, seed)
        rows.append({"step": step, **mode_coverage(samples, dataset, classifier)})
    return rows
