"""The five families behind the one protocol: each likelihood is a normalised density (checked by
summing or integrating it), the masked networks are autoregressive, samplers draw from the model's own
distribution, the GAN players never update each other, Langevin dynamics has the right stationary law,
and training (alternating players, replay buffer, early stopping) resumes bit-identically."""

import math

import pytest
import torch
from torch import nn

from genlab.data import make_dataset
from genlab.data.mixtures import GaussianMixture
from genlab.errors import ConfigError
from genlab.evaluation.coverage import mode_coverage
from genlab.families import MODELS, make_model
from genlab.families.autoregressive import Autoregressive
from genlab.families.ebm import EnergyModel
from genlab.families.flow import Flow
from genlab.families.gan import GAN
from genlab.families.vae import VAE
from genlab.checkpoints import load_checkpoint
from genlab.train import seed_everything, train

SMALL = {
    "gan": {"family": "gan", "objective": "wgan_gp", "latent_dim": 4, "generator": {"hidden": 16, "depth": 1},
            "discriminator": {"hidden": 16, "depth": 1}, "critic_steps": 2},
    "vae": {"family": "vae", "latent_dim": 2, "hidden": 16, "depth": 1, "beta": 1.0, "importance_samples": 8},
    "flow": {"family": "flow", "kind": "maf", "transforms": 2, "hidden": 16, "depth": 1},
    "autoregressive": {"family": "autoregressive", "output": "mixture", "components": 3, "hidden": 16, "depth": 1},
    "ebm": {"family": "ebm", "hidden": 16, "depth": 1, "langevin_steps": 3, "step_size": 0.1, "noise": 0.01,
            "sample_steps": 4, "buffer_size": 64},
}


def grid_points(half_width: float, n: int) -> tuple[torch.Tensor, float]:
    axis = torch.linspace(-half_width, half_width, n)
    xx, yy = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([xx.flatten(), yy.flatten()], 1), float(axis[1] - axis[0]) ** 2


@pytest.mark.parametrize("name", sorted(SMALL))
def test_every_family_follows_the_protocol(name):
    torch.manual_seed(0)
    model = make_model(SMALL[name], (2,), {})
    model.initialize(torch.randn(64, 2))
    out = model.loss({"x": torch.randn(32, 2), "y": None, "step": 0})
    assert out["loss"].ndim == 0 and torch.isfinite(out["loss"])
    out["loss"].backward()
    samples = model.sample(10, generator=torch.Generator().manual_seed(1))
    assert samples.shape == (10, 2) and torch.isfinite(samples).all()
    again = model.sample(10, generator=torch.Generator().manual_seed(1))
    assert torch.equal(samples, again), "sampling is not reproducible from its generator"
    assert model.network_evaluations > 0
    if model.has_likelihood:
        assert model.log_likelihood(torch.randn(5, 2)).shape == (5,)
    assert name in MODELS


@pytest.mark.parametrize("kind", ["maf", "nsf", "realnvp"])
def test_flow_density_integrates_to_one(kind):
    """Untrained flows are random bijections; the change of variables must still give a density."""
    torch.manual_seed(0)
    flow = Flow((2,), kind=kind, transforms=2, hidden=16, depth=1)
    points, cell = grid_points(8.0, 401)
    with torch.no_grad():
        mass = float(torch.exp(flow.log_likelihood(points)).sum()) * cell
    assert mass == pytest.approx(1.0, abs=0.01)


def test_made_mixture_density_integrates_to_one_and_is_autoregressive():
    torch.manual_seed(0)
    model = Autoregressive((2,), output="mixture", components=4, hidden=32, depth=2)
    points, cell = grid_points(8.0, 401)
    with torch.no_grad():
        assert float(torch.exp(model.log_likelihood(points)).sum()) * cell == pytest.approx(1.0, abs=0.01)
    # the conditionals of dimension d depend on inputs < d only
    wide = Autoregressive((6,), output="mixture", components=2, hidden=32, depth=2)
    jacobian = torch.autograd.functional.jacobian(lambda x: wide._conditionals(x[None])[0], torch.randn(6))
    dependence = jacobian.abs().sum(1)  # (D outputs, D inputs)
    assert torch.all(dependence.triu() == 0)
    below = torch.ones(6, 6, dtype=torch.bool).tril(-1)
    assert torch.all(dependence[below] > 0)  # ... and on all of them (the masks lose no connection)
    # the sampler's per-dimension pass (masks applied once, the output rows of d alone) is the network's output
    x = torch.randn(5, 6)
    with torch.no_grad():
        full, layers = wide._conditionals(x), wide._masked_layers()
        for d in range(6):
            assert torch.allclose(wide._conditional(layers, x, d), full[:, d], atol=1e-6, rtol=1e-5), d


@pytest.mark.parametrize("output", ["categorical", "logistic"])
def test_made_over_grey_levels_is_a_distribution_and_samples_from_it(output):
    """D = 3 pixels with 4 grey levels: the 64 probabilities sum to one, and sampled frequencies match them."""
    torch.manual_seed(0)
    model = Autoregressive((3,), output=output, hidden=32, depth=2, components=3, levels=4, bin_width=0.5)
    model.initialize(torch.tensor([[-0.75, 0.75, 0.25]]))
    levels = torch.cartesian_prod(*[torch.arange(4)] * 3)
    x = -0.75 + 0.5 * levels.double().float()
    with torch.no_grad():
        density = model.log_likelihood(x)
    probabilities = torch.exp(density + 3 * math.log(0.5))  # P(bin) = density * bin_width^D
    assert float(probabilities.sum()) == pytest.approx(1.0, abs=1e-5)
    samples = model.sample(40_000, generator=torch.Generator().manual_seed(0))
    index = torch.round((samples + 0.75) / 0.5).long()
    frequency = torch.bincount(index[:, 0] * 16 + index[:, 1] * 4 + index[:, 2], minlength=64) / 40_000.0
    # multinomial standard error is at most sqrt(p(1-p)/n) <= 0.0025; allow 5 of them
    assert torch.allclose(frequency, probabilities, atol=0.0125)
    # dequantised points in the same bin get the same density (the model sees the bin)
    with torch.no_grad():
        assert torch.allclose(model.log_likelihood(x + 0.2), density)


def test_discretised_logistic_matches_differences_of_the_logistic_cdf():
    """P(level k) = sum_j pi_j (F_j(c_k + b/2) - F_j(c_k - b/2)) with F_j the logistic CDF and the end bins
    open, computed here in float64 by subtracting sigmoids, against the family's cancellation-free float32
    form; narrow components (scale 0.005 of a bin 0.5 wide) and wide ones (scale 3) both."""
    torch.manual_seed(1)
    model = Autoregressive((2,), output="logistic", components=2, hidden=8, depth=1, levels=5, bin_width=0.5)
    model.initialize(torch.tensor([[-1.0, 1.0]]))
    logits = torch.randn(7, 2, 2)
    means = torch.rand(7, 2, 2) * 3 - 1.5
    log_scales = torch.tensor([-5.3, 1.1]).expand(7, 2, 2)
    out = torch.cat([logits, means, log_scales], -1)
    centres = -1.0 + 0.5 * torch.arange(5, dtype=torch.float64)
    cdf = lambda edge: torch.sigmoid((edge[..., None] - means.double()[..., None, :]) / log_scales.double().exp()[..., None, :])
    upper = torch.cat([centres[:-1] + 0.25, torch.tensor([math.inf], dtype=torch.float64)])
    lower = torch.cat([torch.tensor([-math.inf], dtype=torch.float64), centres[1:] - 0.25])
    p = ((cdf(upper) - cdf(lower)) * torch.softmax(logits.double(), -1)[..., None, :]).sum(-1)  # (7, 2, 5)
    assert torch.allclose(p.sum(-1), torch.ones(7, 2, dtype=torch.float64))
    for level in range(5):
        ours = model._logistic_log_prob(out, torch.full((7, 2), level)).double().exp()
        assert torch.allclose(ours, p[..., level], atol=1e-6, rtol=1e-4), level


def test_from_config_takes_grey_levels_from_the_data_and_refuses_continuous_data():
    model = make_model({"family": "autoregressive", "output": "categorical", "hidden": 8, "depth": 1},
                       (1, 2, 2), {"levels": 17, "bin_width": 0.125})
    assert model.levels == 17
    with pytest.raises(ConfigError, match="quantised data"):
        make_model({"family": "autoregressive", "output": "categorical", "hidden": 8, "depth": 1}, (2,), {})


def test_bernoulli_decoder_is_the_cross_entropy_of_pytorch_examples_vae():
    """decoder: bernoulli reads grey levels x in [-1, 1] as probabilities p = (x + 1) / 2: log p(x | z) is
    sum p log sigma(l) + (1 - p) log(1 - sigma(l)) over pixels (written out here), the reconstruction is
    2 sigma(l) - 1 (the Bernoulli mean in the data's range), and the family reports no NLL."""
    torch.manual_seed(0)
    vae = VAE((1, 2, 2), latent_dim=3, hidden=8, depth=1, decoder="bernoulli")
    x = torch.rand(5, 1, 2, 2) * 2 - 1
    z = torch.randn(5, 3)
    logits = vae.decoder(z)
    p = (x.flatten(1) + 1) / 2
    by_hand = (p * torch.log(torch.sigmoid(logits)) + (1 - p) * torch.log(1 - torch.sigmoid(logits))).sum(1)
    torch.testing.assert_close(vae._decoder_log_prob(x.flatten(1), z), by_hand)
    torch.testing.assert_close(vae.decode(z), (2 * torch.sigmoid(logits) - 1).view(5, 1, 2, 2))
    assert not vae.has_likelihood and VAE((3,), hidden=8, depth=1).has_likelihood
    with pytest.raises(ValueError, match="decoder"):
        VAE((3,), hidden=8, depth=1, decoder="laplace")


def test_iwae_bound_is_tighter_than_the_elbo_and_tends_to_the_likelihood():
    """For a linear-Gaussian VAE the exact log p(x) is known: p(x) = N(b, W W^T + diag(s^2)). IWAE lies
    between the ELBO and log p(x) on average and closes the gap as K grows."""
    torch.manual_seed(0)
    vae = VAE((3,), latent_dim=2, hidden=8, depth=1, importance_samples=1)
    decoder = nn.Linear(2, 6)  # mean and log-std: a linear decoder with a constant standard deviation
    with torch.no_grad():
        decoder.weight[3:].zero_()
        decoder.bias[3:] = torch.log(torch.tensor([0.5, 0.7, 0.9]))
    vae.decoder = decoder
    x = torch.randn(512, 3)
    weight, bias = decoder.weight[:3].detach(), decoder.bias[:3].detach()
    covariance = weight @ weight.T + torch.diag(torch.tensor([0.5, 0.7, 0.9]) ** 2)
    exact = torch.distributions.MultivariateNormal(bias, covariance).log_prob(x)
    generator = torch.Generator().manual_seed(0)
    elbo = vae.log_likelihood_bounds(x, generator)["elbo"].mean()
    gaps = []
    for k in (1, 16, 1024):
        vae.importance_samples = k
        gaps.append(float(exact.mean() - vae.log_likelihood(x, generator).mean()))
    assert float(exact.mean() - elbo) > gaps[1] > gaps[2] > -0.01
    assert gaps[2] < 0.25 * gaps[0]


@pytest.mark.parametrize("side,downsamplings", [(8, 2), (28, 4), (32, 4), (3, 1)])
def test_classifier_features_see_the_whole_image_before_pooling(side, downsamplings):
    """Stride-2 convolutions until the map is at most 2x2: on 8x8 digits the same two as the net the digits'
    FIDs were measured with (its layers in order: 3x3 convolutions of width w, 2w, 2w), four on 28x28 digits."""
    from genlab.families.classifier import Classifier
    net = Classifier((1, side, side), classes=10, width=4, features=8)
    convs = [m for m in net.body if isinstance(m, nn.Conv2d)]
    assert [m.stride[0] for m in convs] == [1] + [2] * downsamplings
    assert [(m.in_channels, m.out_channels) for m in convs] == [(1, 4), (4, 8)] + [(8, 8)] * (downsamplings - 1)
    pooled_from = net.body[:2 * len(convs)](torch.zeros(1, 1, side, side))
    assert pooled_from.shape[-1] <= 2 and net.features(torch.zeros(3, 1, side, side)).shape == (3, 8)


def test_gan_players_update_only_themselves():
    torch.manual_seed(0)
    gan = GAN((2,), **{k: v for k, v in SMALL["gan"].items() if k != "family"})
    schedule = [gan.discriminator_turn(step) for step in range(6)]
    assert schedule == [True, True, False, True, True, False]  # critic_steps = 2
    for step, discriminator_turn in enumerate(schedule[:3]):
        gan.zero_grad(set_to_none=True)
        gan.loss({"x": torch.randn(16, 2), "y": None, "step": step})["loss"].backward()
        for module, active in ((gan.discriminator, discriminator_turn), (gan.generator, not discriminator_turn)):
            grads = [p.grad for p in module.parameters()]
            assert all((g is not None) == active for g in grads)


def test_gradient_penalty_of_a_linear_critic_is_exact():
    gan = GAN((3,), objective="wgan_gp", latent_dim=2, generator={"hidden": 4, "depth": 1},
              discriminator={"hidden": 4, "depth": 1}, critic_steps=1)
    gan.discriminator = nn.Sequential(nn.Linear(3, 1))
    with torch.no_grad():
        gan.discriminator[0].weight.copy_(torch.tensor([[3.0, 0.0, 4.0]]))  # |grad| = 5 everywhere
    penalty = gan._penalty(torch.randn(8, 3), torch.randn(8, 3))
    assert float(penalty.detach()) == pytest.approx(16.0)


class Quadratic(nn.Module):
    def forward(self, x):
        return 0.5 * x.pow(2).sum(1, keepdim=True)


def test_langevin_samples_the_boltzmann_distribution():
    """With E(x) = |x|^2 / 2 and noise sqrt(2 step), SGLD targets N(0, I); its Euler discretisation has the
    stationary variance 1 / (1 - step / 2) (a linear recursion), which the test uses exactly."""
    model = EnergyModel((2,), hidden=4, depth=1, step_size=0.1, noise=math.sqrt(0.2), buffer_size=4)
    model.energy_net = Quadratic()
    x = model.langevin(torch.full((20_000, 2), 3.0), 200, torch.Generator().manual_seed(0))
    variance = 1 / (1 - 0.05)
    assert float(x.mean()) == pytest.approx(0.0, abs=0.02)
    assert float(x.var()) == pytest.approx(variance, rel=0.03)


def test_mode_coverage_counts_the_modes_a_sample_covers():
    dataset = make_dataset("ring", {"kind": "ring", "n_train": 10, "n_test": 10}, 0)
    mixture = GaussianMixture.from_meta(dataset.meta)
    samples = mixture.sample(4000, torch.Generator().manual_seed(0)).float()
    full = mode_coverage(samples, dataset, None)
    assert full["modes_covered"] == 8 and full["high_quality"] > 0.98
    components = torch.cdist(samples.double(), mixture.means).argmin(1)
    collapsed = mode_coverage(samples[components < 2], dataset, None)
    assert collapsed["modes_covered"] == 2
    assert full["top_share"] == pytest.approx(1 / 8, abs=0.02) and collapsed["top_share"] > 0.45
    far = mode_coverage(torch.full((100, 2), 50.0), dataset, None)
    assert far["modes_covered"] == 0 and far["high_quality"] == 0
    assert full["high_quality_modes"] == 8 and collapsed["high_quality_modes"] == 2  # on mixtures: the same count


def test_mode_coverage_of_images_counts_every_sample_and_apart_the_recognisable_ones():
    """Images: the feature net assigns every sample a class (modes_covered); a sample is high quality where its
    class has probability >= 0.9, and high_quality_modes counts those alone: 30 clear 0s, 20 clear 1s and 10
    blots the net leans to call 2 (p = 0.36) cover three classes, two of them recognisably."""
    from types import SimpleNamespace
    from genlab.evaluation.coverage import CONFIDENCE

    class Stub:
        def logits(self, x):
            return x
    clear, blot = torch.tensor([6.0, 0.0, 0.0]), torch.tensor([0.0, 0.0, 0.1])
    logits = torch.stack([clear] * 30 + [clear.roll(1)] * 20 + [blot] * 10)
    assert torch.softmax(clear, 0).max() >= CONFIDENCE > torch.softmax(blot, 0).max()
    result = mode_coverage(logits, SimpleNamespace(meta={"classes": 3}), Stub())
    assert result["modes_covered"] == 3 and result["high_quality_modes"] == 2
    assert result["high_quality"] == pytest.approx(50 / 60) and result["top_share"] == pytest.approx(0.5)
    assert [result[f"share_{k}"] for k in range(3)] == pytest.approx([0.5, 1 / 3, 1 / 6])


TRAINING = {"steps": 120, "batch_size": 32, "lr": 1e-3, "warmup_steps": 5, "weight_decay": 0.0,
            "grad_clip": 1.0, "ema_decay": 0.99, "checkpoint_every": 40, "log_every": 20, "dequantize": False,
            "mixed_precision": "none"}


def _train(tmp_path, name, model_config, training, steps_sequence):
    dataset = make_dataset("ring", {"kind": "ring", "n_train": 400, "n_test": 50}, 0)
    run = tmp_path / name
    for steps in steps_sequence:  # a later, longer call resumes from the previous one's train_state.pt
        seed_everything(0)
        model = make_model(model_config, dataset.example_shape, dataset.meta)
        train(model, dataset, {**training, "steps": steps}, run, seed=0, config_hash="h", config={},
              device=torch.device("cpu"), progress=False)
    return load_checkpoint(run / "checkpoint.pt")


@pytest.mark.parametrize("name,extra", [
    ("gan", {"snapshots": [30, 90, 120], "betas": [0.5, 0.9]}),
    ("ebm", {}),
    ("flow", {"early_stopping": {"validation_fraction": 0.05, "every": 5, "patience": 1}, "steps": 600}),
])
def test_training_resumes_bit_identically(tmp_path, name, extra):
    training = {**TRAINING, **extra}
    total = training["steps"]
    whole = _train(tmp_path, "whole", SMALL[name], training, [total])
    split = _train(tmp_path, "split", SMALL[name], training, [total // 3, total])
    assert whole["step"] == split["step"]
    for key in ("model", "ema"):
        for tensor_name, tensor in whole[key].items():
            assert torch.equal(tensor, split[key][tensor_name]), f"{key}.{tensor_name} differs"
    assert sorted(whole["snapshots"]) == sorted(split["snapshots"]) == sorted(training.get("snapshots", []))
    if name == "flow":  # stopped early, and kept the best EMA weights rather than the last ones
        final = load_checkpoint(tmp_path / "whole" / "train_state.pt")
        state = final["early_stopping"]
        assert state["stopped"] and whole["step"] < total and whole["early_stopping"]["stopped"]
        assert all(torch.equal(state["best_ema"][k], whole["ema"][k]) for k in whole["ema"])
        assert not all(torch.equal(state["best_ema"][k], v) for k, v in final["ema"].items())


def test_early_stopping_refuses_families_without_likelihood(tmp_path):
    training = {**TRAINING, "early_stopping": {"validation_fraction": 0.2, "every": 10, "patience": 2}}
    with pytest.raises(ConfigError, match="early_stopping"):
        _train(tmp_path, "gan", SMALL["gan"], training, [20])


def test_a_block_that_does_not_fit_the_data_is_one_config_error():
    """A U-Net with more levels than a 28x28 image halves into passes the schema; building it names the block."""
    block = {"family": "diffusion", "sde": {"kind": "vp", "beta_min": 0.1, "beta_max": 20.0},
             "network": {"kind": "unet", "channels": 8, "channel_mults": [1, 2, 2, 2, 2, 2], "blocks_per_level": 1,
                         "embedding": 16, "dropout": 0.0, "attention": False},
             "loss": {"weighting": "simple", "importance_sampling": False, "eps": 1.0e-5},
             "sampler": {"name": "ddim", "steps": 5, "eps": 1.0e-3, "denoise": True},
             "likelihood": {"method": "hutchinson", "probe": "rademacher", "rtol": 1.0e-3, "atol": 1.0e-3, "eps": 1.0e-5}}
    with pytest.raises(ConfigError, match=r"^models\.deep_unet: cannot be built for data of shape \(1, 28, 28\): "
                                          r"UNet with 6 levels needs H, W divisible by 32"):
        make_model(block, (1, 28, 28), {"image": True}, "deep_unet")


def test_every_default_block_builds_on_its_data_and_takes_a_training_step():
    """params/default.yaml's own blocks (the CI pipelines run the thesis's, and the default DAG cut to one
    experiment per kind of job at toy sizes): each builds for its dataset's shape, as the train rule builds it,
    and one training step on a batch gives a finite loss and gradients."""
    from genlab import config as cfg, smoke
    from genlab.validation import load_params
    from tests.conftest import REPO
    params = smoke.shrink(load_params(REPO / "params" / "default.yaml"))  # data sets of 256; blocks as written
    datasets = {}
    for entry in params["experiments"]:
        exp = cfg.experiment(params, entry["dataset"], entry["model"])
        if exp.dataset_name not in datasets:
            datasets[exp.dataset_name] = make_dataset(exp.dataset_name, exp.dataset, params["seed"])
        data = datasets[exp.dataset_name]
        seed_everything(exp.seed)
        model = make_model(exp.model, data.example_shape, data.meta, exp.model_name)
        x = torch.as_tensor(data.x_train)
        model.initialize(x)
        if exp.training["steps"] == 0:
            continue
        y = torch.as_tensor(data.y_train[:8]) if data.y_train is not None else None
        loss = model.loss({"x": x[:8], "y": y, "step": 0})["loss"]
        loss.backward()
        grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
        assert torch.isfinite(loss) and grads and all(torch.isfinite(g).all() for g in grads), exp.name
