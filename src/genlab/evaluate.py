"""Evaluations of a trained experiment, each returning a flat dict of numbers (the CLI adds provenance).

All sampling is seeded from the experiment seed and runs in batches; the feature net for FID is the
dataset's classifier experiment."""

from __future__ import annotations

import logging
import time
from typing import Any

import torch
from tqdm import tqdm

from genlab.config import Experiment
from genlab.data import Dataset
from genlab.data.mixtures import GaussianMixture
from genlab.errors import ConfigError, NumericsError
from genlab.families import Family
from genlab.metrics.feature_net import Classifier
from genlab.metrics.fid import frechet_distance
from genlab.metrics.nll import bits_per_dim, evaluate_nll

log = logging.getLogger(__name__)


def _generator(model: Family, seed: int) -> torch.Generator:
    return torch.Generator(device=model.device).manual_seed(seed)


def generate(model: Family, n: int, batch_size: int, seed: int, progress: bool = False,
             **sampler_options) -> tuple[torch.Tensor, dict[str, float]]:
    """n samples (on CPU) and their cost: network evaluations per batch and seconds per sample."""
    generator = _generator(model, seed)
    model.network_evaluations = 0
    chunks, batches = [], 0
    sync = torch.cuda.synchronize if model.device.type == "cuda" else (lambda: None)
    started = time.perf_counter()
    for start in tqdm(range(0, n, batch_size), disable=not progress, desc="sampling", mininterval=2.0):
        chunks.append(model.sample(min(batch_size, n - start), generator=generator, **sampler_options).cpu())
        batches += 1
    sync()
    seconds = time.perf_counter() - started
    samples = torch.cat(chunks)
    if not torch.isfinite(samples).all():
        raise NumericsError(f"sampling with {sampler_options or 'the default sampler'} produced non-finite "
                            "values; the model or sampler settings diverged")
    return samples, {"nfe": model.network_evaluations / batches, "seconds_per_sample": seconds / n}


def accuracy(classifier: Classifier, dataset: Dataset, fid_batch_size: int) -> dict[str, Any]:
    x_test, y_test = torch.as_tensor(dataset.x_test), torch.as_tensor(dataset.y_test)
    classifier.cpu()
    return {"test_accuracy": classifier.accuracy(x_test, y_test),
            "train_accuracy": classifier.accuracy(torch.as_tensor(dataset.x_train),
                                                  torch.as_tensor(dataset.y_train)),
            # the FID of held-out real data: the floor no model can be expected to beat
            "fid_test_vs_train": frechet_distance(torch.as_tensor(dataset.x_train), x_test, classifier,
                                                  fid_batch_size)}


def fid(model: Family, exp: Experiment, dataset: Dataset, classifier: Classifier,
        settings: dict[str, Any]) -> dict[str, Any]:
    reference = torch.as_tensor(dataset.split(settings["reference"])[0])
    samples, cost = generate(model, settings["n_samples"], settings["batch_size"], exp.seed, progress=True)
    return {"fid": frechet_distance(reference, samples, classifier.cpu(), settings["batch_size"]),
            "n_samples": settings["n_samples"], "reference": settings["reference"], "nfe": cost["nfe"]}


def nll(model: Family, exp: Experiment, dataset: Dataset, settings: dict[str, Any]) -> dict[str, Any]:
    if not model.has_likelihood:
        return {"nll_bpd": None, "note": f"{exp.family} has no normalised likelihood"}
    x = torch.as_tensor(dataset.x_test[: settings["n_examples"]]).to(model.device)
    dequantization, probes = torch.Generator().manual_seed(exp.seed), _generator(model, exp.seed)
    def log_likelihoods(batch):  # fresh probes per batch; bounds (the VAE's ELBO) on the same examples
        return {"log_likelihood": model.log_likelihood(batch, generator=probes),
                **model.log_likelihood_bounds(batch, generator=probes)}

    metrics = evaluate_nll(log_likelihoods, x, dataset.bin_width, settings["batch_size"], dequantization)
    metrics["nll_kind"] = model.likelihood_kind
    if "mixture" in dataset.meta:  # ground truth on the same examples: the analytic mixture density
        truth = GaussianMixture.from_meta(dataset.meta).log_prob(x.cpu().flatten(1))
        metrics["true_nll_bpd"] = float(bits_per_dim(truth, dataset.dim).mean())
    return metrics


def cost(model: Family, exp: Experiment, checkpoint: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """NFE and wall-clock seconds per sample (median over repeats, after one warm-up), plus training cost."""
    generate(model, min(8, settings["n_samples"]), settings["n_samples"], exp.seed)  # warm-up
    runs = [generate(model, settings["n_samples"], settings["n_samples"], exp.seed + r)[1]
            for r in range(settings["repeats"])]
    seconds = sorted(run["seconds_per_sample"] for run in runs)[len(runs) // 2]
    return {"nfe": runs[0]["nfe"], "seconds_per_sample": seconds, "seconds_per_1000": 1000 * seconds,
            "device": str(model.device), "parameters": sum(p.numel() for p in model.parameters()),
            "train_steps": checkpoint["step"], "train_time_s": checkpoint["elapsed_s"]}


def sweep_settings(samplers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Expand sweep entries ({name, steps: [..]} or {name, tolerance: [..]}) to sampler option sets."""
    settings = []
    for entry in samplers:
        fixed = {k: v for k, v in entry.items() if k not in ("steps", "tolerance")}
        if "steps" in entry:
            settings += [{**fixed, "steps": steps} for steps in entry["steps"]]
        if "tolerance" in entry:
            settings += [{**fixed, "rtol": tol, "atol": tol} for tol in entry["tolerance"]]
        if "steps" not in entry and "tolerance" not in entry:
            settings.append(fixed)
    return settings


def sweep(model: Family, exp: Experiment, dataset: Dataset, classifier: Classifier, n_samples: int,
          samplers: list[dict[str, Any]], fid_settings: dict[str, Any]) -> list[dict[str, Any]]:
    """FID against NFE for every sampler setting: the data of the FID-vs-NFE figure."""
    reference = torch.as_tensor(dataset.split(fid_settings["reference"])[0])
    rows = []
    for options in tqdm(sweep_settings(samplers), desc="sampler sweep"):
        samples, cost_ = generate(model, n_samples, fid_settings["batch_size"], exp.seed, **options)
        row = {"sampler": options["name"], "steps": options.get("steps"), "tolerance": options.get("rtol"),
               "nfe": cost_["nfe"], "seconds_per_sample": cost_["seconds_per_sample"],
               "fid": frechet_distance(reference, samples, classifier.cpu(), fid_settings["batch_size"])}
        log.info("sweep %s", row)
        rows.append(row)
    return rows


def reconstruction(model: Family, exp: Experiment, dataset: Dataset, classifier: Classifier | None,
                   settings: dict[str, Any]) -> dict[str, Any]:
    """Auto-encoders on held-out examples (Fig 1.3): reconstruction MSE per dimension, PSNR with the data's
    peak-to-peak range as the peak (2 for images in [-1, 1]) and, on images, SSIM and the FID of the
    reconstructions (feature net, against the training set). Latents as representations (seed 1.2.4): the
    held-out accuracy of a linear probe (multinomial logistic regression) on the encoder means, beside the
    same probe on the raw inputs, for labelled data."""
    if not hasattr(model, "reconstruct"):
        raise ConfigError(f"metric reconstruction needs an auto-encoder; {exp.family} has no reconstruct()")
    x = torch.as_tensor(dataset.x_test[: settings["n_examples"]])
    generator = _generator(model, exp.seed)
    reconstructed = torch.cat([model.reconstruct(x[i:i + settings["batch_size"]], generator=generator).cpu()
                               for i in tqdm(range(0, len(x), settings["batch_size"]),
                                             desc=f"reconstruct {exp.name}", leave=False)])
    if not torch.isfinite(reconstructed).all():
        raise NumericsError(f"{exp.name}: reconstructions contain NaN/inf; the model diverged")
    mse, psnr = _psnr(reconstructed, x, dataset)
    result = {"mse": float(mse.mean()), "psnr": float(psnr.mean()), "psnr_sem": float(psnr.std() / len(psnr) ** 0.5),
              "n_examples": len(x), "latent_dim": model.latent_dim}
    if classifier is not None:  # images
        clamped = reconstructed.clamp(*_value_range(dataset))
        result.update(ssim=float(_ssim(clamped, x, dataset).mean()),
                      fid=frechet_distance(torch.as_tensor(dataset.x_train), clamped, classifier.cpu(), 1000))
    if dataset.y_train is not None and dataset.meta.get("classes"):
        result.update(probe_accuracy=linear_probe(model.latent, dataset), pixel_probe_accuracy=linear_probe(
            lambda inputs: inputs.flatten(1), dataset))
    return result


def linear_probe(features, dataset: Dataset, batch_size: int = 1000) -> float:
    """Test accuracy of multinomial logistic regression fitted on features(x) of the training split
    (standardised with the training statistics)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def embed(x):
        x = torch.as_tensor(x)
        return torch.cat([features(x[i:i + batch_size]).cpu() for i in range(0, len(x), batch_size)]).numpy()

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    probe.fit(embed(dataset.x_train), dataset.y_train)
    return float(probe.score(embed(dataset.x_test), dataset.y_test))


def _value_range(dataset: Dataset) -> tuple[float, float]:
    """The smallest and largest value in the training data ([-1, 1] for images)."""
    return float(dataset.x_train.min()), float(dataset.x_train.max())


def _psnr(estimate: torch.Tensor, truth: torch.Tensor, dataset: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-example MSE and PSNR, the peak being the data's peak-to-peak range (2 for images in [-1, 1])."""
    low, high = _value_range(dataset)
    mse = (estimate - truth).flatten(1).pow(2).mean(1).double()
    return mse, 10 * torch.log10((high - low) ** 2 / mse)


def _ssim(estimate: torch.Tensor, truth: torch.Tensor, dataset: Dataset) -> torch.Tensor:
    """Per-example SSIM; the Gaussian window shrinks to 7 (3) pixels on images smaller than the usual 11."""
    from torchmetrics.functional.image import structural_similarity_index_measure
    side = min(truth.shape[-2:])
    kernel = 11 if side >= 11 else 7 if side >= 7 else 3
    low, high = _value_range(dataset)
    return structural_similarity_index_measure(estimate.double(), truth.double(), kernel_size=kernel,
                                               data_range=high - low, reduction="none")


def _predicted_classes(classifier: Classifier, samples: torch.Tensor) -> torch.Tensor:
    """The feature net's class for each sample, in batches of 1000."""
    return torch.cat([classifier(samples[i:i + 1000]).argmax(1) for i in range(0, len(samples), 1000)])


@torch.no_grad()
def conditional(model: Family, exp: Experiment, dataset: Dataset, classifier: Classifier,
                settings: dict[str, Any]) -> dict[str, Any]:
    """Conditional generation on held-out examples, one sample per condition: PSNR and SSIM against the
    held-out image (for inpainting the whole image; the observed half counts too), FID of the samples,
    and how often the feature net gives a sample the held-out example's class (for class-conditional
    sampling, the class asked for). A few (truth, observed, sample) triples come along for figures."""
    if not hasattr(model, "condition"):
        raise ConfigError(f"metric conditional needs a conditional score model (family conditional), not {exp.family}")
    x = torch.as_tensor(dataset.x_test[: settings["n_examples"]])
    labels = torch.as_tensor(dataset.y_test[: settings["n_examples"]])
    generator = _generator(model, exp.seed)
    batch = settings["batch_size"]
    started = time.perf_counter()
    samples = torch.cat([model.sample(len(x[i:i + batch]), generator, condition=model.condition(x[i:i + batch],
                                                                                                  labels[i:i + batch])).cpu()
                         for i in tqdm(range(0, len(x), batch), desc=f"conditional {exp.name}", leave=False)])
    seconds = time.perf_counter() - started
    if not torch.isfinite(samples).all():
        raise NumericsError(f"{exp.name}: conditional samples contain NaN/inf; the model diverged")
    samples = samples.clamp(*_value_range(dataset))
    mse, psnr = _psnr(samples, x, dataset)
    ssim = _ssim(samples, x, dataset)
    classifier = classifier.cpu()
    predicted = _predicted_classes(classifier, samples)
    shown = min(8, len(x))
    return {"task": model.condition_options["kind"], "estimator": model.estimator, "n_examples": len(x),
            "psnr": float(psnr.mean()), "psnr_sem": float(psnr.std() / len(psnr) ** 0.5), "mse": float(mse.mean()),
            "ssim": float(ssim.mean()), "class_agreement": float((predicted == labels).double().mean()),
            "fid": frechet_distance(torch.as_tensor(dataset.x_train), samples, classifier, 1000),
            "seconds_per_sample": seconds / len(x),
            "examples": {"truth": x[:shown].tolist(), "observed": model.observed(x[:shown]).tolist(),
                         "sample": samples[:shown].tolist()}}


def mode_coverage(samples: torch.Tensor, dataset: Dataset, classifier: Classifier | None,
                  min_share: float = 0.2) -> dict[str, Any]:
    """Which modes a sample covers. Images: the feature net's class histogram. Mixtures: each sample is
    assigned to its nearest component if it lies within 3 standard deviations of its mean (a
    'high-quality' sample). A mode counts as covered when it receives at least ``min_share`` of its fair
    share n / modes, so a handful of stray samples does not make a collapsed model look diverse."""
    if classifier is not None:
        labels = _predicted_classes(classifier, samples)
        modes, quality = int(dataset.meta["classes"]), None  # the classifier assigns every sample
    else:
        mixture = GaussianMixture.from_meta(dataset.meta)
        x = samples.flatten(1).double()
        distance = torch.cdist(x, mixture.means)
        labels = distance.argmin(1)
        std = torch.sqrt(torch.diagonal(mixture.covariances, dim1=1, dim2=2).max(1).values)
        good = distance.gather(1, labels[:, None])[:, 0] <= 3 * std[labels]
        labels, modes, quality = labels[good], len(mixture.weights), float(good.double().mean())
    counts = torch.bincount(labels, minlength=modes).double()
    share = counts / len(samples)
    covered = int((counts >= min_share * len(samples) / modes).sum())
    return {"modes_covered": covered, "modes": modes, "high_quality": quality,
            **{f"share_{k}": float(share[k]) for k in range(modes)}}


@torch.no_grad()
def modes(model: Family, exp: Experiment, dataset: Dataset, checkpoint: dict[str, Any],
          classifier: Classifier | None, settings: dict[str, Any]) -> list[dict[str, Any]]:
    """Mode coverage of the final EMA weights (step 'ema') and, along training (Fig 1.2), of every snapshot
    of the raw weights kept by ``training.snapshots``."""
    if classifier is None and "mixture" not in dataset.meta:
        raise ConfigError(f"metric modes needs labelled images or a Gaussian mixture dataset; {exp.dataset_name} "
                          "is neither")
    rows = []
    classifier = classifier.cpu() if classifier is not None else None
    final = {k: v.clone() for k, v in model.state_dict().items()}
    for step, weights in [*sorted((checkpoint.get("snapshots") or {}).items()), ("ema", final)]:
        model.load_state_dict(weights)
        samples, _ = generate(model, settings["n_samples"], settings["n_samples"], exp.seed)
        rows.append({"step": step, **mode_coverage(samples, dataset, classifier)})
    return rows


def intrinsic_dimension(model: Family | None, exp: Experiment | None, dataset: Dataset,
                        settings: dict[str, Any], seed: int) -> dict[str, Any]:
    """Intrinsic dimension of the data manifold (Stanczuk, Batzolis et al. 2024) from a trained score
    model's spectrum at held-out points, beside the scikit-dimension baselines on the training points and
    the ground truth when the dataset knows it. Without a model, the baselines alone."""
    from genlab.methods.intrinsic_dim import estimate_intrinsic_dimension
    from genlab.metrics.id_baselines import run_baselines
    truth = dataset.meta.get("intrinsic_dim")
    result: dict[str, Any] = {"true_dim": truth, "ambient_dim": dataset.dim}
    if model is not None:
        if not hasattr(model, "score"):
            raise ConfigError(f"metric intrinsic_dim needs a score model (family diffusion), not {exp.family}")
        x = torch.as_tensor(dataset.x_test[: settings["n_points"]]).to(model.device)
        estimate = estimate_intrinsic_dimension(model.score, model.sde, x, settings["t0"],
                                                settings.get("n_perturbations"), seed)
        spectra = estimate["spectra"].cpu().double()
        counts = torch.bincount(estimate["estimates"], minlength=dataset.dim + 1)
        result.update(estimate=estimate["median"],
                      histogram={str(d): int(c) for d, c in enumerate(counts) if c > 0},
                      # the mean spectrum normalised by its largest value: the figure's curve
                      mean_spectrum=(spectra / spectra[:, :1]).mean(0).tolist())
    x_train = dataset.x_train[: settings["baseline_points"]]
    result["baselines"] = run_baselines(x_train, settings["baselines"], seed)
    return result


def banana_geodesic(spec: dict, x0: torch.Tensor, x1: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
    """Ground-truth geodesics of a banana density (data/synthetic.BANANAS): psi^-1 of the straight line
    between psi(x0) and psi(x1), psi(x) = (x1 - bend(x2), x2). Shape (P, T, 2)."""
    from genlab.data.synthetic import banana_psi
    t = times[None, :, None]
    return banana_psi(spec, (1 - t) * banana_psi(spec, x0)[:, None] + t * banana_psi(spec, x1)[:, None], inverse=True)


EXAMPLE_GEODESICS = 6  # geodesics kept in the metrics file for figures


@torch.no_grad()
def geodesic(model: Family, exp: Experiment, dataset: Dataset, settings: dict[str, Any]) -> dict[str, Any]:
    """Geodesic error of a pullback flow on a banana density: the mean distance, over random pairs of
    held-out points and evenly spaced times, between the learned geodesic and the ground truth; also
    relative to the mean distance between the pair's end points."""
    if not hasattr(model, "geodesic"):
        raise ConfigError(f"metric geodesic needs a pullback flow (family pullback), not {exp.family}")
    if "banana" not in dataset.meta:
        raise ConfigError(f"metric geodesic needs a dataset with known geodesics (kind banana); "
                          f"{dataset.meta.get('name')} is {dataset.meta.get('kind')}")
    x = torch.as_tensor(dataset.x_test, dtype=torch.float64)
    generator = torch.Generator().manual_seed(exp.seed)
    pairs = torch.randint(len(x), (settings["n_pairs"], 2), generator=generator)
    x0, x1 = x[pairs[:, 0]], x[pairs[:, 1]]
    times = torch.linspace(0, 1, settings["n_times"], dtype=torch.float64)
    learned = model.geodesic(x0.float(), x1.float(), times.float()).cpu().double()
    truth = banana_geodesic(dataset.meta["banana"], x0, x1, times)
    error = (learned - truth).norm(dim=-1).mean(1)  # per pair, averaged over time
    return {"geodesic_error": float(error.mean()), "geodesic_error_sem": float(error.std() / len(error) ** 0.5),
            "relative_geodesic_error": float(error.mean() / (x1 - x0).norm(dim=-1).mean()),
            "n_pairs": settings["n_pairs"], "n_times": settings["n_times"],
            "examples": {"learned": learned[:EXAMPLE_GEODESICS].tolist(), "truth": truth[:EXAMPLE_GEODESICS].tolist()}}


@torch.no_grad()
def rae(model: Family, exp: Experiment, dataset: Dataset, settings: dict[str, Any]) -> dict[str, Any]:
    """The Riemannian auto-encoder of a pullback flow: the latent dimensions kept at the configured eps
    against the manifold's true dimension, the learned variance spectrum, and the held-out reconstruction
    error when keeping d = 1..D coordinates."""
    if not hasattr(model, "rae_dimension"):
        raise ConfigError(f"metric rae needs a pullback flow (family pullback), not {exp.family}")
    x = torch.as_tensor(dataset.x_test[: settings["n_examples"]]).to(model.device)
    mse = [float((model.rae_reconstruct(x, keep) - x).flatten(1).pow(2).mean()) for keep in range(1, model.dim + 1)]
    return {"true_dim": dataset.meta.get("intrinsic_dim"), "epsilon": settings["epsilon"],
            "retained_dim": model.rae_dimension(settings["epsilon"]),
            "variances": model.variances.sort(descending=True).values.tolist(), "mse_by_kept_dim": mse}
