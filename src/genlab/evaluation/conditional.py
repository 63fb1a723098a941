"""Conditional generation (the CDSM estimators of chapter 4, CAFLOW of chapter 3) scored as the CDSM paper
scores it (Batzolis et al., arXiv 2111.13606; GBATZOLIS/conditional_score_diffusion, evaluation.py and
lightning_callbacks/PairedCallback.py): several draws per held-out condition, against the held-out example the
condition came from."""

from __future__ import annotations

import statistics
import time
from typing import TYPE_CHECKING, Any

from genlab.errors import NumericsError
from genlab.evaluation.registry import Run, metric, no_grad

if TYPE_CHECKING:
    import torch


@metric("conditional", settings=("conditional",), feature_net="always", requires={"condition"},
        datasets=("images",))
@no_grad
def conditional(run: Run) -> dict[str, Any]:
    """Conditional generation on held-out examples, ``draws`` samples per condition: PSNR (for inpainting over
    the hidden square only) and SSIM against the held-out image, consistency (PSNR of A(sample) against
    A(truth): the low-resolution image, the observed pixels, the edge map; of the MSE over all examples),
    diversity (per-pixel std over the draws, 0-255), FID of the samples against the held-out images and joint
    FID of (condition, sample) pairs (features of both concatenated; each per draw, mean and standard
    deviation over the draws), the feature net's perceptual distance, and how often the feature net gives a
    sample the held-out example's class. For a model with an exact conditional likelihood (CAFLOW) also
    the held-out NLL of x given its condition in bits/dim; for one sampled at a temperature, the scores of
    ``temperatures`` (settings) side by side. A few (truth, condition, draws) come along for figures."""
    import torch
    from genlab.generation import seeded_generator
    from genlab.metrics.feature_net import FeatureExtractor
    from genlab.metrics.fid import frechet_distance_of_features
    from genlab.metrics.image import psnr_of, region_mse, ssim, value_range
    from genlab.metrics.nll import evaluate_nll
    model, dataset, settings = run.model, run.dataset, run.settings("conditional")
    task, draws = model.task, settings.get("draws", 5)
    x = torch.as_tensor(dataset.x_test[: settings["n_examples"]])
    labels = torch.as_tensor(dataset.y_test[: settings["n_examples"]])
    # the inpainting squares, seeded apart from the sampler's stream (seeded_generator uses run.seed itself)
    y = model.condition(x, labels, torch.Generator().manual_seed(run.seed + 1))
    generator = seeded_generator(model, run.seed)
    started = time.perf_counter()
    samples = _draws(run, y, draws, settings["batch_size"], generator)
    seconds = time.perf_counter() - started
    low, high = value_range(dataset)
    hidden = task.hidden(y)
    structural = torch.stack([ssim(draw, x, dataset) for draw in samples])
    classifier = run.classifier.cpu()
    features = FeatureExtractor(classifier)
    truth_features = features(x)
    scores = _fidelity(run, samples, x, hidden, features, truth_features)
    peak_snr, sample_features = scores["peak_snr"], scores["features"]
    predicted = torch.stack([classifier.head(f).argmax(1) for f in sample_features])  # the body ran once, above
    result = {"task": task.kind, "estimator": model.estimator, "n_examples": len(x), "draws": draws,
              "psnr": float(peak_snr.mean()), "psnr_sem": float(peak_snr.mean(0).std() / len(x) ** 0.5),
              "psnr_region": "hidden square" if hidden is not None else "whole image",
              "ssim": float(structural.mean()), "diversity": scores["diversity"],
              "feature_distance": scores["feature_distance"],
              "class_agreement": float((predicted == labels).double().mean()),
              **_mean_and_spread("fid", scores["fids"]),
              "consistency_psnr": None, "joint_fid": None, "joint_fid_std": None,
              "seconds_per_sample": seconds / (draws * len(x))}
    if task.is_image:
        shown_features = features(task.shown(y))
        truth_measure, region = task.measure(x, y)
        measure_peak = 1.0 if task.kind == "edges" else high - low
        # PSNR of the MSE pooled over the examples: an edge map can match exactly (an infinite per-example PSNR)
        result["consistency_psnr"] = statistics.fmean(
            [float(psnr_of(region_mse(task.measure(draw, y)[0], truth_measure, region).mean(), measure_peak))
             for draw in samples])
        real_pairs = torch.cat([shown_features, truth_features], 1)
        result.update(_mean_and_spread("joint_fid", [
            frechet_distance_of_features(real_pairs, torch.cat([shown_features, f], 1)) for f in sample_features]))
    if "conditional_likelihood" in model.capabilities:  # exact log p(x | y), bits/dim as the nll metric gives
        noise = seeded_generator(model, run.seed + 2)  # the condition's dequantisation (families/caflow.py)
        result.update(evaluate_nll(lambda batch, y_batch: model.conditional_log_likelihood(batch, y_batch, noise), x,
                                   dataset.bin_width, settings["batch_size"], torch.Generator().manual_seed(run.seed),
                                   conditions=y))
    if "temperature" in model.capabilities:  # the fidelity-diversity trade-off (the authors sample at 0.9-0.5)
        result["by_temperature"] = [
            _at_temperature(run, x, y, hidden, features, truth_features, draws, settings["batch_size"], temperature,
                            generator)
            for temperature in settings.get("temperatures", [])]
    shown = min(8, len(x))
    observed = task.shown(y[:shown]) if task.is_image else x[:shown]  # a label is drawn as the example
    def pixels(images):  # 3 decimals are a 1000th of the range: the figure cannot tell, the file is a third
        return images.double().round(decimals=3).tolist()
    result["examples"] = {"truth": pixels(x[:shown]), "observed": pixels(observed),
                          "sample": pixels(samples[0, :shown]),
                          "draws": pixels(samples[:2, :shown].transpose(0, 1))}  # (examples, <= 2 draws, ...)
    return result


def _draws(run: Run, y: torch.Tensor, draws: int, batch: int, generator: torch.Generator,
           **options) -> torch.Tensor:
    """(draws, examples, ...) samples given the conditions y, clamped to the data's range; NaN is an error."""
    import torch
    from tqdm import tqdm
    from genlab.metrics.image import value_range
    model = run.model
    samples = torch.stack([
        torch.cat([model.sample(len(y[i:i + batch]), generator, condition=y[i:i + batch], **options).cpu()
                   for i in range(0, len(y), batch)])
        for _ in tqdm(range(draws), desc=f"conditional {run.exp.name}", leave=False)])
    if not torch.isfinite(samples).all():
        raise NumericsError(f"{run.exp.name}: conditional samples contain NaN/inf; the model diverged")
    return samples.clamp(*value_range(run.dataset))


def _fidelity(run: Run, samples: torch.Tensor, x: torch.Tensor, hidden, features, truth_features
              ) -> dict[str, Any]:
    """How (draws, examples, ...) samples match the held-out x: PSNR per draw and example (``hidden``: over the
    hidden pixels only), the draws' features, diversity over draws (pixel std, 0-255; None for one draw), the
    feature distance and the FID of each draw."""
    import torch
    from genlab.metrics.feature_net import feature_distance
    from genlab.metrics.fid import frechet_distance_of_features
    from genlab.metrics.image import psnr, value_range
    low, high = value_range(run.dataset)
    sample_features = [features(draw) for draw in samples]
    return {"peak_snr": torch.stack([psnr(draw, x, run.dataset, hidden)[1] for draw in samples]),
            "features": sample_features,
            "diversity": float(samples.std(0).mean() * 255 / (high - low)) if len(samples) > 1 else None,
            "feature_distance": float(torch.stack([feature_distance(f, truth_features)
                                                   for f in sample_features]).mean()),
            "fids": [frechet_distance_of_features(truth_features, f) for f in sample_features]}


def _at_temperature(run: Run, x, y, hidden, features, truth_features, draws: int, batch: int,
                    temperature: float, generator: torch.Generator) -> dict[str, float]:
    """PSNR, diversity, FID and feature distance of ``draws`` samples per condition at ``temperature``."""
    scores = _fidelity(run, _draws(run, y, draws, batch, generator, temperature=temperature), x, hidden, features,
                       truth_features)
    return {"temperature": temperature, "psnr": float(scores["peak_snr"].mean()), "diversity": scores["diversity"],
            "fid": statistics.fmean(scores["fids"]), "feature_distance": scores["feature_distance"]}


def _mean_and_spread(name: str, values: list[float]) -> dict[str, float | None]:
    """{name: mean over draws, name_std: their standard deviation} (the paper reports both)."""
    import torch
    spread = float(torch.tensor(values, dtype=torch.float64).std()) if len(values) > 1 else None
    return {name: statistics.fmean(values), f"{name}_std": spread}
