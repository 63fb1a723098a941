"""Auto-encoders (Fig 1.3, ScoreVAE): reconstruction error and perceptual quality on held-out examples, and
the latents as representations (linear probes)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from genlab.errors import NumericsError
from genlab.evaluation.registry import Run, metric

if TYPE_CHECKING:
    from genlab.data import Dataset


@metric("reconstruction", settings=("reconstruction",), feature_net="images", requires={"reconstruct"},
        columns={"recon. PSNR (dB)": "psnr"})
def reconstruction(run: Run) -> dict[str, Any]:
    """Reconstruction MSE per dimension and PSNR on held-out examples (the data's peak-to-peak range as the
    peak: 2 for images in [-1, 1]) and, on images, SSIM, the sharpness (high-frequency energy of the
    reconstructions over the originals'), the FID of the reconstructions (feature net,
    against the training set) and the per-example perceptual distance to the original (LPIPS' recipe on the
    feature net, as the conditional metric's). Latents as representations (seed 1.2.4): the held-out
    accuracy of a linear probe (multinomial logistic regression) on the encoder means, beside the same probe
    on the raw inputs, for labelled data."""
    import torch
    from tqdm import tqdm
    from genlab.generation import seeded_generator
    from genlab.metrics.feature_net import FeatureExtractor, feature_distance
    from genlab.metrics.fid import frechet_distance
    from genlab.metrics.image import high_frequency_ratio, psnr, ssim, value_range
    model, dataset, settings = run.model, run.dataset, run.settings("reconstruction")
    x = torch.as_tensor(dataset.x_test[: settings["n_examples"]])
    generator = seeded_generator(model, run.seed)
    reconstructed = torch.cat([model.reconstruct(x[i:i + settings["batch_size"]], generator=generator).cpu()
                               for i in tqdm(range(0, len(x), settings["batch_size"]),
                                             desc=f"reconstruct {run.exp.name}", leave=False)])
    if not torch.isfinite(reconstructed).all():
        raise NumericsError(f"{run.exp.name}: reconstructions contain NaN/inf; the model diverged")
    mse, peak_snr = psnr(reconstructed, x, dataset)
    result = {"mse": float(mse.mean()), "psnr": float(peak_snr.mean()),
              "psnr_sem": float(peak_snr.std() / len(peak_snr) ** 0.5), "n_examples": len(x),
              "latent_dim": model.latent_dim}
    if run.is_image:
        clamped = reconstructed.clamp(*value_range(dataset))
        classifier = run.classifier.cpu()
        features = FeatureExtractor(classifier)
        distances = feature_distance(features(clamped), features(x))
        result.update(ssim=float(ssim(clamped, x, dataset).mean()),
                      high_frequency_ratio=high_frequency_ratio(clamped, x),
                      fid=frechet_distance(torch.as_tensor(dataset.x_train), clamped, classifier, 1000),
                      feature_distance=float(distances.mean()),
                      feature_distance_sem=float(distances.std() / len(distances) ** 0.5))
    if dataset.y_train is not None and dataset.meta.get("classes"):
        result.update(probe_accuracy=linear_probe(model.latent, dataset), pixel_probe_accuracy=linear_probe(
            lambda inputs: inputs.flatten(1), dataset))
    return result


def linear_probe(features, dataset: Dataset, batch_size: int = 1000) -> float:
    """Test accuracy of multinomial logistic regression fitted on features(x) of the training split
    (standardised with the training statistics)."""
    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def embed(x):
        x = torch.as_tensor(x)
        return torch.cat([features(x[i:i + batch_size]).cpu() for i in range(0, len(x), batch_size)]).numpy()

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    probe.fit(embed(dataset.x_train), dataset.y_train)
    return float(probe.score(embed(dataset.x_test), dataset.y_test))
