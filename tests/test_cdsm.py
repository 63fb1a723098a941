"""CDSM against analytic ground truth: the conditional score of a perturbed Gaussian mixture, the
convergence of the empirical CDSM minimiser, and the trained estimators' consistency (CDE) and bias
(CDiffE); plus the conditional family's wiring on images."""

import numpy
import pytest
import torch

from genlab.data import make_dataset
from genlab.data.mixtures import GaussianMixture
from genlab.diffusion.sde import VESDE
from genlab.errors import ConfigError
from genlab.families import make_model
from genlab.methods.cdsm import conditional_score, empirical_cdsm_minimiser, time_grid, weighted_error


def joint_gaussian(dx=2, dy=2, seed=0) -> GaussianMixture:
    data = make_dataset("g", {"kind": "conditional_mixture", "n_train": 10, "n_test": 10, "components": 1,
                              "x_dim": dx, "y_dim": dy}, seed)
    return GaussianMixture.from_meta(data.meta)


def test_conditional_score_is_the_gaussian_conditional_formula():
    """Jointly Gaussian (x, y): x | y ~ N(m + S_xy S_yy^-1 (y - m_y), S_xx - S_xy S_yy^-1 S_yx), and
    x_t = alpha x + sigma z given y has covariance alpha^2 C + sigma^2 I: the score in closed form, computed
    here independently of the mixture code, against conditional_score (clean y) and, for a diffused
    y_s = y + sigma_y z', against the same formula for the Gaussian (x_t, y_s)."""
    mixture = joint_gaussian(dx=2, dy=3)
    mean, cov = mixture.means[0], mixture.covariances[0]
    g = torch.Generator().manual_seed(0)
    x_t, y = torch.randn(5, 2, generator=g, dtype=torch.float64), torch.randn(5, 3, generator=g, dtype=torch.float64)
    for alpha, sigma, sigma_y in ((1.0, 0.3, 0.0), (0.8, 0.5, 0.0), (1.0, 0.4, 0.7)):
        s = cov.clone()
        s[:2, :2] = alpha**2 * cov[:2, :2] + sigma**2 * torch.eye(2, dtype=torch.float64)
        s[:2, 2:], s[2:, :2] = alpha * cov[:2, 2:], alpha * cov[2:, :2]
        s[2:, 2:] = cov[2:, 2:] + sigma_y**2 * torch.eye(3, dtype=torch.float64)
        gain = s[:2, 2:] @ torch.linalg.inv(s[2:, 2:])
        cond_mean = alpha * mean[:2] + (y - mean[2:]) @ gain.T
        cond_cov = s[:2, :2] - gain @ s[2:, :2]
        expected = -(x_t - cond_mean) @ torch.linalg.inv(cond_cov).T
        got = conditional_score(mixture, x_t, y, alpha, sigma, 1.0, sigma_y)
        torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-9)


def test_empirical_cdsm_minimiser_converges_to_the_conditional_score():
    """The closed-form minimiser on n pairs (bandwidth h0 n^(-1/(dy+4))) approaches the analytic score
    as n grows at every fixed t: the error falls with each tenfold n, by at least a third overall."""
    data = make_dataset("m", {"kind": "conditional_mixture", "n_train": 20000, "n_test": 300, "components": 3,
                              "x_dim": 2, "y_dim": 1}, 0)
    mixture, sde = GaussianMixture.from_meta(data.meta), VESDE(0.01, 10.0)
    x0, y = torch.as_tensor(data.x_test).double(), torch.as_tensor(data.y_test).double()
    times = torch.tensor([0.3, 0.5, 0.7], dtype=torch.float64)
    errors = []
    for n in (200, 2000, 20000):
        minimiser = empirical_cdsm_minimiser(torch.as_tensor(data.x_train[:n]), torch.as_tensor(data.y_train[:n]),
                                             1.0 * n ** (-1 / 5))
        errors.append(weighted_error(minimiser, mixture, sde, x0, y, times, torch.Generator().manual_seed(0)))
    errors = torch.stack(errors)  # (n, t)
    assert (errors[1:] < errors[:-1]).all(), errors
    assert (errors[-1] < errors[0] / 3).all(), errors


def test_weighted_error_of_the_truth_is_zero_and_of_the_unconditional_score_is_not():
    mixture = joint_gaussian()
    sde = VESDE(0.01, 10.0)
    pairs = mixture.sample(200, torch.Generator().manual_seed(0))
    x0, y = pairs[:, :2], pairs[:, 2:]
    times = time_grid(0.05, 5)

    def truth(x_t, y, alpha, sigma, t):
        return conditional_score(mixture, x_t, y, alpha, sigma)

    def unconditional(x_t, y, alpha, sigma, t):  # grad log p(x_t): the marginal of x, y ignored
        marginal = GaussianMixture(mixture.weights, mixture.means[:, :2], mixture.covariances[:, :2, :2])
        return marginal.score(x_t, alpha, sigma)
    assert weighted_error(truth, mixture, sde, x0, y, times, torch.Generator().manual_seed(0)).abs().max() < 1e-20
    # ignoring y costs little at small t (the kernel dominates) and much at large t
    assert weighted_error(unconditional, mixture, sde, x0, y, times, torch.Generator().manual_seed(0)).mean() > 1e-2


def test_cde_is_consistent_and_cdiffe_is_biased(tmp_path):
    """The consistency study at reduced scale: CDE's error to the analytic conditional score falls at
    every step of a decade of n (100, 300, 1000), and at n = 1000 CDiffE, whose minimiser conditions on
    a diffused y_t, is worse than CDE. (Measured at default scale: CDE 0.097, 0.0068, 0.0019, 0.0014 for
    n = 100 ... 3000, CDiffE 0.0029 at n = 3000.)"""
    import yaml

    from genlab.methods.cdsm import consistency_study
    params = yaml.safe_load(open("params/default.yaml"))
    data = make_dataset("cond_gaussian", params["datasets"]["cond_gaussian"], 0)
    estimators = {name: params["models"][name] for name in ("cde", "cdiffe")}
    for block in estimators.values():
        block["training"].update(steps=600, checkpoint_every=600)
    settings = {**params["figures"]["cdsm_consistency"], "sample_sizes": [100, 300, 1000], "test_points": 300,
                "times": 10}
    rows = consistency_study(data, estimators, settings, 0, tmp_path, torch.device("cpu"), progress=False)
    mean = {}
    for row in rows:
        mean.setdefault((row["estimator"], row["n"]), []).append(row["error"])
    mean = {key: sum(v) / len(v) for key, v in mean.items()}
    cde = [mean["cde", n] for n in (100, 300, 1000)]
    assert cde[0] > cde[1] > cde[2], cde
    assert mean["cdiffe", 1000] > 1.5 * mean["cde", 1000], mean
    minimiser = [mean["empirical minimiser", n] for n in (100, 300, 1000)]
    assert minimiser[0] > minimiser[1] > minimiser[2], minimiser


@pytest.mark.parametrize("kind,condition_shape", [("label", (10,)), ("inpaint", (2, 8, 8)), ("superres", (1, 8, 8)),
                                                  ("edges", (1, 8, 8))])
@pytest.mark.parametrize("network", ["mlp", "unet"])
def test_conditional_family_on_digits_conditions_and_samples(kind, condition_shape, network):
    import yaml
    params = yaml.safe_load(open("params/default.yaml"))
    data = make_dataset("digits", params["datasets"]["digits"], 0)
    block = {**params["models"]["cmde_label"], "condition": {"kind": kind}}
    block["network"] = ({**block["network"], "hidden": 16, "depth": 1} if network == "mlp" else
                        {"kind": "unet", "channels": 8, "channel_mults": [1, 2], "blocks_per_level": 1,
                         "embedding": 16, "attention": False})
    model = make_model(block, data.example_shape, data.meta)
    x, labels = torch.as_tensor(data.x_test[:4]), torch.as_tensor(data.y_test[:4])
    y = model.condition(x, labels)
    assert y.shape == (4, *condition_shape)
    if network == "unet":  # an image condition enters as input channels (the authors' cat(x_t, y)), a label as a vector
        image = len(condition_shape) == 3
        assert model.network.inp.in_channels == 1 + (condition_shape[0] if image else 0)
        assert (model.network.cond is None) == image
    loss = model.loss({"x": x, "y": labels, "step": 0})["loss"]
    assert torch.isfinite(loss)
    samples = model.sample(4, torch.Generator().manual_seed(0), condition=y, name="euler_maruyama", steps=3)
    assert samples.shape == x.shape and torch.isfinite(samples).all()


def _digits_model(name, **changes):
    import yaml
    params = yaml.safe_load(open("params/default.yaml"))
    data = make_dataset("digits", params["datasets"]["digits"], 0)
    return make_model({**params["models"][name], **changes}, data.example_shape, data.meta), data


def test_diffused_condition_has_the_condition_sdes_kernel_and_leaves_the_mask_alone():
    model, data = _digits_model("cmde_inpaint")
    x = torch.as_tensor(data.x_test[:1]).expand(20000, -1, -1, -1)
    y = model.condition(x, None, torch.Generator().manual_seed(0))
    t = torch.full((len(x),), 0.7)
    y_t = model.diffuse_condition(y, t, torch.Generator().manual_seed(1))
    torch.testing.assert_close(y_t[:, 1:], y[:, 1:])  # the mask channel is structure, not a value
    alpha, sigma = model.condition_sde.marginal_coefficients(torch.tensor([0.7]))
    noise = (y_t[:, :1] - alpha * y[:, :1]) / sigma  # standard normal if the kernel is the condition SDE's
    assert abs(float(noise.mean())) < 0.01 and abs(float(noise.std()) - 1) < 0.01
    cde, _ = _digits_model("cde_inpaint")
    assert torch.equal(cde.diffuse_condition(y, t), y)  # CDE conditions on the clean y


def test_vs_cmde_lowers_the_condition_noise_on_the_authors_schedule_and_samples_with_the_last_value():
    from genlab.families.conditional import decreasing_sigma_max
    start, target, reach = 8.0, 0.5, 500
    assert decreasing_sigma_max(0, start, target, reach) == start
    assert decreasing_sigma_max(reach, start, target, reach) == pytest.approx(target, rel=1e-12)
    # hyperbolic: 1/sigma is affine in the step, so it keeps falling past the target
    inverse = [1 / decreasing_sigma_max(s, start, target, reach) for s in (0, 250, 500, 750, 1000)]
    assert numpy.allclose(numpy.diff(inverse), inverse[1] - inverse[0])
    model, data = _digits_model("vs_cmde_superres")
    x, labels = torch.as_tensor(data.x_test[:8]), torch.as_tensor(data.y_test[:8])
    model.loss({"x": x, "y": labels, "step": 1000})
    expected = decreasing_sigma_max(1000, start, target, reach)
    assert float(model.condition_sigma_max) == pytest.approx(expected, rel=1e-12)
    assert model.current_condition_sde().sigma_max == pytest.approx(expected, rel=1e-12)
    assert "condition_sigma_max" in model.state_dict()  # saved with the checkpoint, copied into the EMA model
    model.eval()
    model.loss({"x": x, "y": labels, "step": 0})  # a validation pass does not move it
    assert float(model.condition_sigma_max) == pytest.approx(expected, rel=1e-12)


def test_vs_cmde_trained_carries_its_last_sigma_in_the_checkpoint_and_ema(tmp_path):
    import yaml

    from genlab import config as cfg
    from genlab.checkpoints import load_checkpoint
    from genlab.families.conditional import decreasing_sigma_max
    from genlab.train import seed_everything, train
    params = yaml.safe_load(open("params/default.yaml"))
    block = params["models"]["vs_cmde_superres"]
    block["network"] = {**block["network"], "hidden": 16, "depth": 1}
    block["training"].update(steps=12, batch_size=16, warmup_steps=2, checkpoint_every=6, log_every=6)
    block["condition_schedule"]["reach_target_steps"] = 6
    exp = cfg.experiment(params, "digits", "vs_cmde_superres")
    data = make_dataset("digits", params["datasets"]["digits"], 0)
    seed_everything(exp.seed)
    model = make_model(exp.model, data.example_shape, data.meta)
    train(model, data, exp.training, tmp_path, seed=exp.seed, config_hash=exp.hash, config=exp.resolved(),
          device=torch.device("cpu"), progress=False)
    checkpoint = load_checkpoint(tmp_path / "checkpoint.pt")
    last = decreasing_sigma_max(11, 8.0, 0.5, 6)  # steps count from 0: the last step is 11
    assert float(checkpoint["ema"]["condition_sigma_max"]) == pytest.approx(last, rel=1e-12)
    assert float(checkpoint["model"]["condition_sigma_max"]) == pytest.approx(last, rel=1e-12)


@pytest.mark.parametrize("path", ["params/default.yaml", "params/thesis.yaml"])
def test_shipped_vs_cmde_schedules_stay_above_sigma_min_to_the_end(path):
    from genlab.config import load_params
    from genlab.families.conditional import decreasing_sigma_max
    params = load_params(path)
    blocks = {name: b for name, b in params["models"].items() if b.get("estimator") == "vs_cmde"}
    assert blocks
    for name, block in blocks.items():
        sde, schedule = block["condition_sde"], block["condition_schedule"]
        end = decreasing_sigma_max(block["training"]["steps"], sde["sigma_max"], schedule["target"],
                                   schedule["reach_target_steps"])
        assert sde["sigma_min"] < end <= schedule["target"], name  # at or past the target, still diffused


def test_training_squares_come_from_the_seeded_global_rng():
    model, data = _digits_model("cde_inpaint")
    x = torch.as_tensor(data.x_test[:32])
    torch.manual_seed(3)
    first, second = model.condition(x, None), model.condition(x, None)
    torch.manual_seed(3)
    assert torch.equal(model.condition(x, None), first)  # reproducible under the trainer's seeding
    assert not torch.equal(first[:, 1:], second[:, 1:])  # a fresh square at every step


def test_conditional_family_config_errors():
    import yaml
    params = yaml.safe_load(open("params/default.yaml"))
    data = make_dataset("digits", params["datasets"]["digits"], 0)
    with pytest.raises(ConfigError, match="cmde needs condition_sde"):
        make_model({**params["models"]["cmde_label"], "condition_sde": None}, data.example_shape, data.meta)
    with pytest.raises(ConfigError, match="read by estimators cmde and vs_cmde only"):
        make_model({**params["models"]["cmde_label"], "estimator": "cde"}, data.example_shape, data.meta)
    with pytest.raises(ConfigError, match="condition_schedule belongs to estimator vs_cmde"):
        make_model({**params["models"]["vs_cmde_label"], "estimator": "cmde"}, data.example_shape, data.meta)
    with pytest.raises(ConfigError, match="condition_schedule.target 9.0 must lie between"):
        make_model({**params["models"]["vs_cmde_superres"], "condition_schedule": {"target": 9.0,
                                                                                   "reach_target_steps": 5}},
                   data.example_shape, data.meta)
    with pytest.raises(ConfigError, match="condition_sde.kind is 'vp', make it ve"):
        make_model({**params["models"]["vs_cmde_label"], "condition_sde": {"kind": "vp", "beta_min": 0.1,
                                                                             "beta_max": 20.0}},
                   data.example_shape, data.meta)
    with pytest.raises(ConfigError, match="condition kind 'given' needs"):
        make_model({**params["models"]["cde"]}, data.example_shape, data.meta)
    model = make_model(params["models"]["cde_label"], data.example_shape, data.meta)
    with pytest.raises(ConfigError, match="samples given a condition"):
        model.sample(2)
    with pytest.raises(ConfigError, match=r"condition of shape \(2, 1, 8, 8\) for 2 samples; task 'label' takes "
                                          r"\(2, 10\)"):
        model.sample(2, condition=torch.zeros(2, 1, 8, 8))


def test_conditional_mixture_keeps_float_condition_vectors_through_a_file(tmp_path):
    from genlab.data import load_dataset
    data = make_dataset("c", {"kind": "conditional_mixture", "n_train": 20, "n_test": 5, "components": 2,
                              "x_dim": 3, "y_dim": 2}, 0)
    assert data.x_train.shape == (20, 3) and data.y_train.shape == (20, 2) and data.meta["condition_dim"] == 2
    data.save(tmp_path / "c.npz")
    loaded = load_dataset(tmp_path / "c.npz")
    assert loaded.y_train.dtype == data.y_train.dtype and (loaded.y_train == data.y_train).all()
