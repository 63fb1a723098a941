"""Score-based pullback geometry groundwork (issue 5): banana densities with known geodesics, the
anisotropic isometry-regularised flow, and its geodesic / RAE metrics, checked against exact references."""

import json
import math

import numpy as np
import pytest
import torch
import yaml

from genlab.data import make_dataset
from genlab.data.synthetic import BANANAS, banana_bend
from genlab.data.synthetic import banana_geodesic
from genlab.families.pullback import PullbackFlow


def psi(spec, x):
    return torch.stack([x[..., 0] - banana_bend(spec, x[..., 1]), x[..., 1]], -1)


@pytest.mark.parametrize("variant", sorted(BANANAS))
def test_banana_is_a_sheared_gaussian_and_its_geodesics_are_straight_through_psi(variant):
    data = make_dataset("b", {"kind": "banana", "n_train": 40000, "n_test": 10, "variant": variant}, 0)
    spec = data.meta["banana"]
    u = psi(spec, torch.as_tensor(data.x_train, dtype=torch.float64))
    # psi(x) ~ N(0, diag(scale^2)): sample std within 2% (its standard error is 0.35% at n = 40000)
    torch.testing.assert_close(u.std(0), torch.tensor(spec["scale"], dtype=torch.float64), rtol=0.02, atol=0)
    x0, x1 = torch.as_tensor(data.x_test[:5], dtype=torch.float64), torch.as_tensor(data.x_test[5:], dtype=torch.float64)
    times = torch.linspace(0, 1, 7, dtype=torch.float64)
    path = banana_geodesic(spec, x0, x1, times)
    torch.testing.assert_close(path[:, 0], x0)
    torch.testing.assert_close(path[:, -1], x1)
    torch.testing.assert_close(psi(spec, path[:, 3]), (psi(spec, x0) + psi(spec, x1)) / 2)


@pytest.mark.parametrize("kind", ["affine", "nsf"])
def test_flow_likelihood_and_isometry_penalty_match_autograd_jacobians(kind):
    torch.manual_seed(0)
    model = PullbackFlow((3,), kind=kind, transforms=2, hidden=16)
    if kind == "affine":  # move the couplings off their near-identity start so that J is not ~ I
        with torch.no_grad():
            for parameter in model.phi.parameters():
                parameter.add_(0.3 * torch.randn_like(parameter))
    with torch.no_grad():
        model.log_std.copy_(torch.tensor([0.3, -0.2, -1.0]))
    x = torch.randn(4, 3)
    for i in range(4):
        jacobian = torch.autograd.functional.jacobian(lambda v: model.encode(v[None])[0], x[i])
        z = model.encode(x[i:i + 1])[0]
        base = torch.distributions.Normal(0.0, model.log_std.exp()).log_prob(z).sum()
        expected = base + torch.linalg.slogdet(jacobian).logabsdet
        torch.testing.assert_close(model.log_likelihood(x[i:i + 1])[0], expected, rtol=1e-4, atol=1e-4)
        penalty = (jacobian.T @ jacobian - torch.eye(3)).pow(2).sum()
        torch.testing.assert_close(model.isometry_penalty(x[i:i + 1])[0], penalty, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(model.decode(model.encode(x)), x, rtol=1e-4, atol=1e-4)
    geodesic = model.geodesic(x[:2], x[2:], torch.tensor([0.0, 0.5, 1.0]))
    torch.testing.assert_close(geodesic[:, 0], x[:2], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(geodesic[:, -1], x[2:], rtol=1e-4, atol=1e-4)


def test_affine_couplings_are_the_authors_bounded_scale_flow():
    """genlab/nn/coupling.py: alternating masks (a layer moves only every other feature), scale in
    (0.001, 1.001) so log|det J| <= layers * log(1.001), exact inverse, any dimension (1 included)."""
    from genlab.nn.coupling import CouplingFlow
    torch.manual_seed(0)
    for dim in (1, 2, 5):
        flow = CouplingFlow(dim, layers=3, hidden=16, blocks=2).double()
        with torch.no_grad():
            for parameter in flow.parameters():
                parameter.add_(0.3 * torch.randn_like(parameter))
        x = torch.randn(64, dim, dtype=torch.float64)
        z, ladj = flow(x)
        assert (ladj <= 3 * math.log(1.001) + 1e-12).all()
        torch.testing.assert_close(flow.inverse(z), x, rtol=1e-7, atol=1e-7)
        if dim > 1:
            moved = flow.layers[0](x)[0] != x
            assert moved[:, 0::2].all() and not moved[:, 1::2].any()


@pytest.mark.parametrize("points", [None, 2])
def test_loss_terms_match_brute_force_jacobians_on_the_batch(points):
    # the loss takes the NLL and the Jacobians from one forward pass over copies of the batch: each term must
    # equal its definition, the penalty on the first `points` examples only
    torch.manual_seed(2)
    model = PullbackFlow((3,), transforms=3, hidden=16, isometry=0.7, volume=0.3, isometry_points=points)
    with torch.no_grad():
        for parameter in model.phi.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
        model.log_std.copy_(torch.tensor([0.3, -0.2, -1.0]))
    x = torch.randn(5, 3)
    jacobians = [torch.autograd.functional.jacobian(lambda v: model.encode(v[None])[0], point) for point in x]
    log_det = torch.stack([torch.linalg.slogdet(j).logabsdet for j in jacobians])
    defect = torch.stack([(j.T @ j - torch.eye(3)).pow(2).sum() for j in jacobians])[: points or 5]
    outputs = model.loss({"x": x})
    torch.testing.assert_close(outputs["nll"], -model.log_likelihood(x).mean())
    torch.testing.assert_close(outputs["isometry"], defect.mean(), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(outputs["volume"], log_det.abs().mean(), rtol=1e-4, atol=1e-5)
    expected = outputs["nll"] + 0.7 * defect.mean() + 0.3 * log_det.abs().mean()
    torch.testing.assert_close(outputs["loss"], expected, rtol=1e-4, atol=1e-5)


def test_volume_term_is_the_absolute_log_determinant_of_the_jacobian():
    torch.manual_seed(1)
    model = PullbackFlow((2,), transforms=2, hidden=16, isometry=0.0, volume=1.0)
    x = torch.randn(6, 2)
    log_det = torch.stack([torch.linalg.slogdet(torch.autograd.functional.jacobian(
        lambda v: model.encode(v[None])[0], point)).logabsdet for point in x])
    outputs = model.loss({"x": x})
    torch.testing.assert_close(outputs["volume"], log_det.abs().mean(), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(outputs["loss"], outputs["nll"] + log_det.abs().mean(), rtol=1e-4, atol=1e-5)
    assert "isometry" not in outputs


def test_rae_keeps_the_fewest_largest_variances_within_epsilon():
    model = PullbackFlow((4,), transforms=1, hidden=8)
    with torch.no_grad():
        model.log_std.copy_(0.5 * torch.log(torch.tensor([0.01, 4.0, 1e-4, 1.0])))
    assert model.rae_dimension(0.01) == 2  # discarding 0.0101 of 5.0101 (0.2%) is within 1%
    assert model.rae_dimension(0.001) == 3  # 0.0001 of 5.0101 (0.002%)
    assert model.rae_dimension(0.5) == 1  # discarding all but the variance 4 (20%)
    x = torch.randn(5, 4)
    assert model.rae_reconstruct(x, 4).allclose(x, atol=1e-4)


@pytest.mark.parametrize("kind", ["hemisphere", "sinusoid"])
def test_manifolds_for_the_rae_have_the_stated_dimension(kind):
    data = make_dataset("m", {"kind": kind, "n_train": 20000, "n_test": 10, "k": 2, "ambient_dim": 5,
                              "noise_std": 0.0}, 0)
    assert data.meta["intrinsic_dim"] == 2
    x = torch.as_tensor(data.x_train, dtype=torch.float64)
    if kind == "hemisphere":  # on a unit 2-sphere in a 3-D subspace, on one side of it
        singular = torch.linalg.svdvals(x - x.mean(0))
        assert singular[2] > 1 and singular[3] < 1e-6 * singular[0]  # float32 storage
        torch.testing.assert_close(x.norm(dim=1), torch.ones(len(x), dtype=torch.float64), rtol=1e-6, atol=1e-6)
    else:  # a graph over its last 2 coordinates z: the others are sin(<shear, z>) with |shear| <= 2 sqrt(2),
        # so they move at most 2 sqrt(2) |dz| between nearest neighbours in z
        z, rest = x[:, -2:], x[:, :-2]
        distance = torch.cdist(z[:200], z)
        distance[torch.arange(200), torch.arange(200)] = float("inf")
        nearest = distance.argmin(1)
        moved = (rest[:200] - rest[nearest]).abs().max(1).values
        assert (moved <= 2 * 2**0.5 * distance.min(1).values + 1e-5).all()
        assert rest.abs().max() <= 1 + 1e-6


def _authors_hemisphere_point(angles):
    """generate_hemisphere_samples' coordinate loop (GBATZOLIS/Score-Based-Pullback-Riemannian-Geometry,
    sample_dataset.py) for one point, given the angles it reads."""
    sin_prod, coords = 1.0, []
    for theta in angles:
        coords.append(sin_prod * math.cos(theta))
        sin_prod *= math.sin(theta)
    return coords + [sin_prod]


@pytest.mark.parametrize("k", [1, 2, 3])
def test_hemisphere_is_the_authors_latitude_band_over_half_the_azimuth(k):
    from scipy import stats
    from genlab.data.synthetic import _frame, hemisphere
    n = 4000
    x, meta = hemisphere(np.random.default_rng(3), n, k, k + 2)
    replay = np.random.default_rng(3)  # the same draws, in the function's order: its angles, then the frame
    polar = replay.beta(5, 5, size=(n, 1)) * np.pi / 2
    angles = np.concatenate([polar, replay.uniform(0, np.pi, size=(n, k - 1))], axis=1)
    s = x @ _frame(replay, k + 2, k + 1)  # back to the sphere's own coordinates
    expected = np.array([_authors_hemisphere_point(a) for a in angles[:200]])
    np.testing.assert_allclose(s[:200], expected, atol=1e-12)
    assert meta["intrinsic_dim"] == k and np.allclose(np.linalg.norm(x, axis=1), 1)
    # the polar angle theta_1 = arccos(s_1) is Beta(5, 5) * pi/2: a band of latitudes around pi/4
    assert stats.kstest(np.arccos(s[:, 0]) / (np.pi / 2), stats.beta(5, 5).cdf).pvalue > 1e-3
    assert (s[:, 1:] >= -1e-12).all() if k == 1 else (s[:, -1] >= -1e-12).all()  # half of the azimuth


def test_sinusoid_noise_lies_off_the_manifold_only():
    from genlab.data.synthetic import sinusoid
    n, k, dim = 20000, 2, 5
    x, _ = sinusoid(np.random.default_rng(4), n, k, dim)
    replay = np.random.default_rng(4)
    z = replay.normal(size=(n, k)) * 3**0.5
    shears = replay.uniform(1, 2, size=(k, dim - k))
    np.testing.assert_array_equal(x[:, -k:], z)  # the manifold's coordinates carry no noise
    residual = x[:, :-k] - np.sin(z @ shears)
    # the authors' variance 1e-3; the sample variance of 60000 draws is within 2% (4 standard errors ~ 2.3%)
    np.testing.assert_allclose(residual.var(), 1e-3, rtol=0.025)


def test_pca_baseline_recovers_a_known_subspace_and_its_variances():
    from genlab.evaluation.geometry import principal_components
    from genlab.families.pullback import retained_dimension
    torch.manual_seed(0)
    frame = torch.linalg.qr(torch.randn(6, 3, dtype=torch.float64))[0]
    stds = torch.tensor([3.0, 1.0, 0.3], dtype=torch.float64)
    x = 2.0 + (torch.randn(200000, 3, dtype=torch.float64) * stds) @ frame.T
    pca = principal_components(x)
    torch.testing.assert_close(pca.variances[:3], stds**2, rtol=0.02, atol=0)  # s.e. of a variance: 0.3%
    assert pca.variances[3:].abs().max() < 1e-12
    torch.testing.assert_close(pca.reconstruct(x[:5], 3), x[:5])  # the data lie in the 3 directions
    # keeping 1 direction loses the 1.09 of 10.09 not on it: that is what the MSE per dimension counts
    loss = (pca.reconstruct(x, 1) - x).pow(2).sum(1).mean()
    torch.testing.assert_close(loss, stds[1:].pow(2).sum(), rtol=0.02, atol=0)
    assert retained_dimension(pca.variances, 0.1) == 2 and retained_dimension(pca.variances, 0.2) == 1


def test_base_starts_at_the_data_scale_and_learns_at_its_own_rate(tmp_path):
    from genlab.train import train
    data = make_dataset("h", {"kind": "hemisphere", "n_train": 300, "n_test": 10, "k": 2, "ambient_dim": 3}, 0)
    training = {**yaml.safe_load(open("params/default.yaml"))["models"]["pullback_rae"]["training"],
                "steps": 1, "warmup_steps": 0, "schedule": "constant", "weight_decay": 0.0, "lr": 1e-3,
                "checkpoint_every": 1}
    torch.manual_seed(0)
    model = PullbackFlow((3,), transforms=2, hidden=8, isometry=0.0, base_init="data", base_lr_scale=25)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    train(model, data, training, tmp_path, seed=0, config_hash="h", config={}, device=torch.device("cpu"),
          progress=False)
    start = torch.as_tensor(data.x_train).float().std(0).log()
    # Adam's first step moves each parameter by lr * g / (|g| + eps): +-lr, here 25 lr for the base
    torch.testing.assert_close((model.log_std - start).abs(), torch.full((3,), 25e-3), rtol=1e-3, atol=0)
    moved = max((p - before[name]).abs().max() for name, p in model.named_parameters() if name != "log_std")
    assert 0.5e-3 < moved <= 1.001e-3  # float32 rounding of the parameters


def test_cli_trains_a_pullback_flow_and_writes_geodesic_and_rae_metrics(tmp_path):
    from genlab import cli
    params = yaml.safe_load(open("params/default.yaml"))
    params["datasets"] = {"banana": {"kind": "banana", "n_train": 500, "n_test": 50, "variant": "single"},
                          "hemi": {"kind": "hemisphere", "n_train": 500, "n_test": 50, "k": 2, "ambient_dim": 3}}
    params["models"] = {"pullback": {"family": "pullback", "kind": "nsf", "transforms": 1, "hidden": 16,
                                     "anisotropic": True, "isometry": 0.1,
                                     "training": {**params["models"]["cde"]["training"], "steps": 30,
                                                  "checkpoint_every": 30}}}
    params["experiments"] = [{"dataset": "banana", "model": "pullback", "metrics": ["geodesic"]},
                             {"dataset": "hemi", "model": "pullback", "metrics": ["rae"]}]
    params["evaluation"].update(geodesic={"n_pairs": 10, "n_times": 5}, rae={"epsilon": 0.05, "n_examples": 20})
    params["figures"] = {}
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(params))
    for dataset, metric in (("banana", "geodesic"), ("hemi", "rae")):
        common = ["--params", str(tmp_path / "p.yaml"), "--dataset", dataset, "--model", "pullback"]
        data, run = tmp_path / f"{dataset}.npz", tmp_path / dataset
        assert cli.main(["data", *common[:4], "--out", str(data)]) == 0
        assert cli.main(["train", *common, "--data", str(data), "--run-dir", str(run), "--no-progress"]) == 0
        out = tmp_path / f"{metric}.json"
        assert cli.main(["evaluate", *common, "--metric", metric, "--data", str(data),
                         "--checkpoint", str(run / "checkpoint.pt"), "--out", str(out)]) == 0
        result = json.loads(out.read_text())
        if metric == "geodesic":
            assert 0 < result["geodesic_error"] < 10 and result["n_pairs"] == 10
        else:
            assert result["true_dim"] == 2 and 1 <= result["retained_dim"] <= 3 and len(result["mse_by_kept_dim"]) == 3
    params["experiments"][1]["metrics"] = ["geodesic"]
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(params))
    assert cli.main(["check-params", "--params", str(tmp_path / "bad.yaml")]) == 2
