"""Conditional generation (CDSM estimators): one sample per held-out condition, scored against the held-out
example it came from."""

from __future__ import annotations

import time
from typing import Any

import torch
from tqdm import tqdm

from genlab.errors import NumericsError
from genlab.evaluation.registry import Run, metric
from genlab.generation import seeded_generator
from genlab.metrics.fid import frechet_distance
from genlab.metrics.image import psnr, ssim, value_range


@metric("conditional", settings=("conditional",), feature_net="always", requires={"condition"},
        datasets=("images",))
@torch.no_grad()
def conditional(run: Run) -> dict[str, Any]:
    """Conditional generation on held-out examples, one sample per condition: PSNR and SSIM against the
    held-out image (for inpainting the whole image; the observed half counts too), FID of the samples,
    and how often the feature net gives a sample the held-out example's class (for class-conditional
    sampling, the class asked for). A few (truth, observed, sample) triples come along for figures."""
    model, dataset, settings = run.model, run.dataset, run.settings("conditional")
    x = torch.as_tensor(dataset.x_test[: settings["n_examples"]])
    labels = torch.as_tensor(dataset.y_test[: settings["n_examples"]])
    generator = seeded_generator(model, run.seed)
    batch = settings["batch_size"]
    started = time.perf_counter()
    samples = torch.cat([model.sample(len(x[i:i + batch]), generator, condition=model.condition(x[i:i + batch],
                                                                                                  labels[i:i + batch])).cpu()
                         for i in tqdm(range(0, len(x), batch), desc=f"conditional {run.exp.name}", leave=False)])
    seconds = time.perf_counter() - started
    if not torch.isfinite(samples).all():
        raise NumericsError(f"{run.exp.name}: conditional samples contain NaN/inf; the model diverged")
    samples = samples.clamp(*value_range(dataset))
    mse, peak_snr = psnr(samples, x, dataset)
    structural = ssim(samples, x, dataset)
    classifier = run.classifier.cpu()
    predicted = classifier.predict(samples)
    shown = min(8, len(x))
    return {"task": model.condition_options["kind"], "estimator": model.estimator, "n_examples": len(x),
            "psnr": float(peak_snr.mean()), "psnr_sem": float(peak_snr.std() / len(peak_snr) ** 0.5),
            "mse": float(mse.mean()), "ssim": float(structural.mean()),
            "class_agreement": float((predicted == labels).double().mean()),
            "fid": frechet_distance(torch.as_tensor(dataset.x_train), samples, classifier, 1000),
            "seconds_per_sample": seconds / len(x),
            "examples": {"truth": x[:shown].tolist(), "observed": model.observed(x[:shown]).tolist(),
                         "sample": samples[:shown].tolist()}}
