"""Metrics against reference computations, and the networks' shapes."""

import math

import numpy as np
import pytest
import torch
from torch import nn
from scipy import linalg
from scipy.stats import multivariate_normal

from genlab.diffusion.losses import TimeSampler
from genlab.diffusion.sde import VESDE, VPSDE
from genlab.families.gaussian import GaussianBaseline
from genlab.families.classifier import Classifier
from genlab.metrics.feature_net import FeatureExtractor
from genlab.metrics.fid import frechet_distance
from genlab.metrics.nll import bits_per_dim, evaluate_nll
from genlab.nn import MLP, ConditionalMLP, UNet


def test_uniform_model_scores_log2_levels():
    """A density uniform over the dequantisation box of 17 levels in [-1, 1] is log2(17) bits/dim."""
    width, dim = 2 / 16, 64
    log_density = torch.full((10,), -dim * math.log(2 + width), dtype=torch.float64)
    assert torch.allclose(bits_per_dim(log_density, dim, width), torch.tensor(math.log2(17)).double(),
                          atol=1e-6)


def test_gaussian_baseline_matches_scipy():
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.normal(size=(500, 3)) @ rng.normal(size=(3, 3)), dtype=torch.float32)
    model = GaussianBaseline((3,), ridge=0.0)
    model.initialize(x)
    reference = multivariate_normal(x.double().mean(0).numpy(), np.cov(x.double().numpy().T, bias=True))
    assert np.allclose(model.log_likelihood(x[:20]).numpy(), reference.logpdf(x[:20].numpy()), atol=1e-4)
    metrics = evaluate_nll(model.log_likelihood, x[:20], None, 7)
    assert metrics["n_examples"] == 20
    assert metrics["nll_bpd"] == pytest.approx(float(-reference.logpdf(x[:20].numpy()).mean() / 3 / math.log(2)),
                                               abs=1e-4)


def _reference_fid(f_real, f_fake):
    mu1, mu2 = f_real.mean(0), f_fake.mean(0)
    s1, s2 = np.cov(f_real, rowvar=False), np.cov(f_fake, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def test_fid_matches_reference_formula():
    torch.manual_seed(0)
    classifier = Classifier((1, 8, 8), classes=10, features=16).eval()
    real = torch.rand(400, 1, 8, 8) * 2 - 1
    fake = (torch.rand(300, 1, 8, 8) * 2 - 1) * 0.5 + 0.2
    ours = frechet_distance(real, fake, classifier, batch_size=128)
    with torch.no_grad():
        reference = _reference_fid(classifier.features(real).double().numpy(),
                                   classifier.features(fake).double().numpy())
    assert ours == pytest.approx(reference, rel=1e-3)
    assert frechet_distance(real, real, classifier) == pytest.approx(0, abs=1e-3)


def test_fid_is_torchmetrics_fid_to_the_last_bit():
    """genlab computes the FID as torchmetrics does (metrics/fid.py, without its 1.1 s import): the library,
    fed the same batches, gives the same float."""
    from torchmetrics.image.fid import FrechetInceptionDistance
    torch.manual_seed(1)
    classifier = Classifier((1, 8, 8), classes=10, features=16).eval()
    real = torch.rand(333, 1, 8, 8) * 2 - 1
    fake = torch.tanh(torch.randn(250, 1, 8, 8))
    library = FrechetInceptionDistance(feature=FeatureExtractor(classifier), normalize=False)
    for images, is_real in ((real, True), (fake, False)):
        for i in range(0, len(images), 100):
            library.update(images[i:i + 100], real=is_real)
    assert frechet_distance(real, fake, classifier, batch_size=100) == float(library.compute())



@pytest.mark.parametrize("shape", [(7, 1, 8, 8), (5, 1, 28, 28), (3, 3, 16, 16)])
def test_ssim_is_torchmetrics_ssim_to_the_last_bit(shape):
    """genlab's SSIM (metrics/image.py, without torchmetrics' 1.1 s import) gives the library's floats, on the
    8x8 digits (the 11-pixel window reflected past the border), 28x28 and colour images; and 1 for a perfect
    match, less for noise."""
    from torchmetrics.functional.image import structural_similarity_index_measure
    from genlab.metrics.image import ssim
    generator = torch.Generator().manual_seed(3)
    truth = torch.rand(shape, generator=generator) * 2 - 1
    estimate = (truth + 0.3 * torch.randn(shape, generator=generator)).clamp(-1, 1)
    dataset = type("Data", (), {"x_train": torch.tensor([-1.0, 1.0])})()
    ours = ssim(estimate, truth, dataset)
    library = structural_similarity_index_measure(estimate.double(), truth.double(), data_range=2.0,
                                                  reduction="none")
    assert torch.equal(ours, library), (ours, library)
    torch.testing.assert_close(ssim(truth, truth, dataset), torch.ones(shape[0], dtype=torch.float64))
    assert (ours < 0.9).all()


def test_joint_fid_of_features_is_the_reference_frechet_distance_of_the_concatenated_features():
    from genlab.metrics.fid import frechet_distance_of_features
    generator = torch.Generator().manual_seed(2)
    condition = torch.randn(500, 6, generator=generator)
    truth = condition @ torch.randn(6, 6, generator=generator) + 0.1 * torch.randn(500, 6, generator=generator)
    sample = torch.randn(500, 6, generator=generator)  # right marginal scale, no dependence on the condition
    real, fake = torch.cat([condition, truth], 1), torch.cat([condition, sample], 1)
    ours = frechet_distance_of_features(real, fake)
    assert ours == pytest.approx(_reference_fid(real.double().numpy(), fake.double().numpy()), rel=1e-6)
    assert frechet_distance_of_features(real, real) == pytest.approx(0, abs=1e-6)


def test_region_psnr_and_feature_distance_of_the_conditional_metric():
    from genlab.metrics.feature_net import feature_distance
    from genlab.metrics.image import psnr_of, region_mse
    truth = torch.zeros(2, 1, 4, 4)
    estimate = truth.clone()
    estimate[:, :, :2, :2] = 0.5  # wrong only in the top-left quarter
    hidden = torch.zeros(2, 1, 4, 4, dtype=torch.bool)
    hidden[:, :, :2, :] = True  # the top half
    torch.testing.assert_close(region_mse(estimate, truth), torch.full((2,), 0.25 / 4, dtype=torch.float64))
    torch.testing.assert_close(region_mse(estimate, truth, hidden), torch.full((2,), 0.25 / 2, dtype=torch.float64))
    torch.testing.assert_close(psnr_of(torch.tensor([0.04]), 2.0), torch.tensor([20.0]))  # 10 log10(4 / 0.04)
    features = torch.randn(5, 8)
    torch.testing.assert_close(feature_distance(features, 3 * features), torch.zeros(5, dtype=torch.float64))
    torch.testing.assert_close(feature_distance(features, -features), torch.full((5,), 4.0, dtype=torch.float64))

@pytest.mark.parametrize("sde", [VPSDE(), VESDE(0.01, 50.0)], ids=["VP", "VE"])
def test_importance_sampled_time_is_unbiased(sde):
    """E_q[lambda/sigma^2 / q * h(t)] = int lambda/sigma^2 h dt for the likelihood weighting."""
    eps = 1e-5
    sampler = TimeSampler(sde, "likelihood", True, eps)
    h = lambda t: torch.cos(3 * t) + 1.5  # noqa: E731
    t, q = sampler.sample(400_000, generator=torch.Generator().manual_seed(0))
    t, q = t.double(), q.double()
    estimate = (sampler.weight(t) / q * h(t)).mean()
    grid = torch.logspace(math.log10(eps), 0, 200_001, dtype=torch.float64)
    values = sampler.weight(grid) * h(grid)
    exact = torch.trapezoid(values, grid)
    ratio = sampler.weight(t) / q * h(t)
    se = ratio.std() / math.sqrt(len(t))
    assert abs(float(estimate - exact)) < 4 * float(se) + 1e-3 * float(exact)
    assert float(ratio.std() / ratio.mean()) < 0.5  # importance sampling flattens the 1/t weight


@pytest.mark.parametrize("shape,mults", [((1, 8, 8), (1, 2)), ((1, 28, 28), (1, 2, 2)), ((3, 32, 32), (1, 2, 2, 2))])
def test_unet_shapes(shape, mults):
    net = UNet(shape, channels=16, channel_mults=mults, blocks_per_level=1)
    x = torch.randn(2, *shape)
    assert net(x, torch.randn(2)).shape == x.shape


def test_unet_rejects_indivisible_size():
    with pytest.raises(ValueError, match="divisible by 4"):
        UNet((1, 10, 10), channel_mults=(1, 2, 2))


def test_conditional_mlp_uses_condition():
    torch.manual_seed(0)
    net = ConditionalMLP((5,), hidden=16, depth=1, embedding=8, cond_dim=3)
    x, level = torch.randn(4, 5), torch.zeros(4)
    assert not torch.allclose(net(x, level, torch.zeros(4, 3)), net(x, level, torch.ones(4, 3)))


def test_mlp_builds_the_pytorch_gan_generator_layer_for_layer():
    """The GAN blocks of Fig 1.2 on 28x28 digits say they are PyTorch-GAN's MLP GAN (eriklindernoren/PyTorch-GAN,
    implementations/gan/gan.py); its generator, written out as there, must be the same network: the same
    layers in the same order with the same settings, so that copying its weights gives the same output."""
    def block(width_in, width_out, normalize=True):  # verbatim from gan.py
        layers = [nn.Linear(width_in, width_out)]
        if normalize:
            layers.append(nn.BatchNorm1d(width_out, 0.8))
        layers.append(nn.LeakyReLU(0.2, inplace=True))
        return layers

    reference = nn.Sequential(*block(100, 128, normalize=False), *block(128, 256), *block(256, 512),
                              *block(512, 1024), nn.Linear(1024, 784), nn.Tanh())
    ours = MLP(100, 784, [128, 256, 512, 1024], activation="leaky_relu", batch_norm=True, output="tanh")
    assert [type(m) for m in ours] == [type(m) for m in reference]
    for mine, theirs in zip(ours, reference):
        if isinstance(theirs, nn.BatchNorm1d):
            assert (mine.eps, mine.momentum) == (theirs.eps, theirs.momentum)
        if isinstance(theirs, nn.LeakyReLU):
            assert mine.negative_slope == theirs.negative_slope
    ours.load_state_dict(reference.state_dict())
    z = torch.randn(64, 100, generator=torch.Generator().manual_seed(0))
    for mode in ("train", "eval"):
        getattr(ours, mode)(), getattr(reference, mode)()
        torch.testing.assert_close(ours(z), reference(z))
    plain = MLP(3, 2, hidden=8, depth=2)  # the default: SiLU, no normalisation, a linear output
    assert [type(m) for m in plain] == [nn.Linear, nn.SiLU, nn.Linear, nn.SiLU, nn.Linear, nn.Identity]
    with pytest.raises(ValueError, match="depth"):
        MLP(3, 2, hidden=8)


def test_high_frequency_energy_is_the_energy_of_the_high_pass_part():
    """Ground truth by construction and Parseval: a cosine at 3/8 cycles per pixel lies wholly above the 1/4
    cutoff and one at 1/8 wholly below; with no cutoff the energy is the sum of squares; a blur (a circular
    3x3 box filter) scales each frequency's energy by its known gain."""
    from genlab.metrics.image import high_frequency_energy, high_frequency_ratio
    grid = torch.arange(8, dtype=torch.float64)
    high = torch.cos(2 * math.pi * 0.375 * grid).expand(8, 8)[None, None]
    low = torch.cos(2 * math.pi * 0.125 * grid).expand(8, 8)[None, None]
    assert float(high_frequency_energy(high)) == pytest.approx(float(high.pow(2).sum()), rel=1e-12)
    assert float(high_frequency_energy(low)) == pytest.approx(0.0, abs=1e-12)
    images = torch.randn(16, 1, 12, 12, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(high_frequency_energy(images, cutoff=0.0), images.double().pow(2).flatten(1).sum(1))
    # a circular 3x3 mean multiplies each frequency's energy by |H|^2, H = (1 + 2 cos 2 pi fy)(1 + 2 cos 2 pi fx) / 9,
    # so the ratio lies between the smallest and largest |H|^2 on the band's frequencies
    blurred = torch.nn.functional.avg_pool2d(torch.nn.functional.pad(images, (1, 1, 1, 1), mode="circular"), 3, 1)
    f = torch.fft.fftfreq(12, dtype=torch.float64)
    gain = ((1 + 2 * torch.cos(2 * math.pi * f[:, None])) * (1 + 2 * torch.cos(2 * math.pi * f[None, :])) / 9).pow(2)
    band = (f[:, None].pow(2) + f[None, :].pow(2)).sqrt() >= 0.25
    assert high_frequency_ratio(images, images) == pytest.approx(1.0)
    assert float(gain[band].min()) <= high_frequency_ratio(blurred, images) <= float(gain[band].max()) < 0.2
