"""Multi-scale (non-uniform) diffusion against ground truth: the Haar split is an orthogonal transform whose
approximation is the block average; on Gaussian images, where every group's score at every time is known in
closed form, the family's sampler (its intervals, fresh groups, per-group SDE steps and final denoising)
recovers the data's mean and covariance, and its training loss has the expectation the kernels imply."""

import math

import pytest
import torch

from genlab.diffusion.wavelets import decompose, haar_forward, haar_inverse, reconstruct
from genlab.families import make_model
from genlab.families.multiscale import MultiScaleDiffusion, group_shapes


def test_haar_is_orthogonal_and_its_approximation_is_the_scaled_block_average():
    basis = torch.eye(2 * 8 * 8, dtype=torch.float64).reshape(-1, 2, 8, 8)
    matrix = haar_forward(basis).flatten(1)
    assert torch.allclose(matrix @ matrix.T, torch.eye(128, dtype=torch.float64), atol=1e-12)
    x = torch.randn(5, 2, 16, 16, dtype=torch.float64)
    assert torch.allclose(haar_inverse(haar_forward(x)), x, atol=1e-12)
    groups = decompose(x, 3)
    assert [tuple(g.shape[1:]) for g in groups] == group_shapes((2, 16, 16), 3) == [
        (6, 8, 8), (6, 4, 4), (6, 2, 2), (2, 2, 2)]
    assert torch.allclose(reconstruct(groups), x, atol=1e-12)
    for k in range(4):  # the coarse tail [d_{k+1}, ..., a_3] rebuilds a_k = 2^k x (average over 2^k blocks)
        assert torch.allclose(reconstruct(groups[k:]), 2**k * torch.nn.functional.avg_pool2d(x, 2**k), atol=1e-12)
    energy = sum(g.pow(2).sum() for g in groups)
    assert torch.allclose(energy, x.pow(2).sum())


BLOCK = {"family": "multiscale", "levels": 2, "network": {"kind": "mlp", "hidden": 8, "depth": 1},
         "sde": {"log_snr_max": 10.0, "log_snr_min": -10.0, "eps": 1e-3}, "loss": {"weighting": "likelihood"},
         "sampler": {"name": "ddim", "steps": 300}}
SHAPE = (1, 4, 4)


class GaussianImages:
    """x ~ N(mu, Sigma) on 4x4 images; W the Haar split as a matrix (the groups flattened in order)."""

    def __init__(self, levels=2):
        g = torch.Generator().manual_seed(0)
        a = torch.randn(16, 16, generator=g, dtype=torch.float64)
        self.mu = 0.5 * torch.randn(16, generator=g, dtype=torch.float64)
        self.sigma = 0.3 * a @ a.T / 16 + 0.05 * torch.eye(16, dtype=torch.float64)
        basis = torch.eye(16, dtype=torch.float64).reshape(16, *SHAPE)
        self.W = torch.cat([grp.flatten(1) for grp in decompose(basis, levels)], 1).T
        self.sizes = [math.prod(s) for s in group_shapes(SHAPE, levels)]
        self.m, self.C = self.W @ self.mu, self.W @ self.sigma @ self.W.T

    def sample(self, n, generator):
        z = torch.randn(n, 16, generator=generator, dtype=torch.float64)
        return (self.mu + z @ torch.linalg.cholesky(self.sigma).T).reshape(n, *SHAPE)

    def oracle(self, model):
        """The true noise prediction E[z | noisy groups k..G at t] = -sigma score, per example."""
        def predict_noise(k, groups, t):
            start = sum(self.sizes[:k])
            y = torch.cat([grp.flatten(1) for grp in groups], 1).double()
            times = t[:1] if bool((t == t[0]).all()) else t  # a sampling step: one covariance for the batch
            a, s = (torch.cat([model.sdes[j].marginal_coefficients(times.double())[i][:, None].expand(
                -1, self.sizes[j]) for j in range(k, len(self.sizes))], 1) for i in (0, 1))
            cov = a[:, :, None] * self.C[start:, start:] * a[:, None, :] + torch.diag_embed(s**2)
            centred = y - a * self.m[start:]
            score = -(centred @ torch.linalg.inv(cov[0]).T if len(times) == 1 else
                      torch.linalg.solve(cov, centred.unsqueeze(-1)).squeeze(-1))
            eps = (-s * score).float()
            return [piece.reshape(grp.shape) for piece, grp in
                    zip(eps.split(self.sizes[k:], 1), groups)]
        return predict_noise


@pytest.mark.parametrize("sampler,steps", [("ddim", 300), ("euler_maruyama", 900)])
def test_sampler_with_the_true_scores_draws_the_data_distribution(sampler, steps):
    """With the analytic noise prediction in place of the networks, the coarse-to-fine sampler draws
    N(mu, Sigma): mean and covariance within 4 standard errors of 20000 draws plus a discretisation
    allowance (0.02 on a covariance of unit scale)."""
    truth = GaussianImages()
    model = make_model(BLOCK, SHAPE, {})
    model.predict_noise = truth.oracle(model)
    n = 20000
    x = model.sample(n, generator=torch.Generator().manual_seed(1), name=sampler, steps=steps).double().flatten(1)
    mean, cov = x.mean(0), torch.cov(x.T)
    var = torch.diag(truth.sigma)
    assert ((mean - truth.mu).abs() < 4 * torch.sqrt(var / n) + 0.01).all()
    cov_se = torch.sqrt((var[:, None] * var[None, :] + truth.sigma**2) / n)
    assert ((cov - truth.sigma).abs() < 4 * cov_se + 0.02).all(), (cov - truth.sigma).abs().max()
    assert model.network_evaluations == 3 * (steps // 3) + 1  # every interval's steps, then one denoising


def test_sampling_runs_each_network_only_on_its_interval_and_its_groups():
    model = make_model(BLOCK, SHAPE, {})
    calls = []
    original = model.predict_noise

    def spy(k, groups, t):
        calls.append((k, len(groups), float(t[0])))
        return original(k, groups, t)

    model.predict_noise = spy
    model.sample(2, generator=torch.Generator().manual_seed(0), steps=6)
    assert [(k, n) for k, n, _ in calls] == [(2, 1), (2, 1), (1, 2), (1, 2), (0, 3), (0, 3), (0, 3)]
    for k, _, t in calls[:-1]:
        assert k / 3 - 1e-6 <= t <= (k + 1) / 3 + 1e-6


def test_training_loss_has_the_expectation_the_kernels_imply():
    """With the true noise prediction the loss is the irreducible DSM error: E over t ~ U[eps, 1] of
    (1/2)(1 - eps) sum_i w_i Var(z_i | noisy groups), Var = 1 - s_i^2 (Cov_t^-1)_ii, integrated here on a
    grid; the loss's Monte-Carlo mean (32 batches of 2000) is within 4 standard errors of it."""
    truth = GaussianImages()
    model = make_model(BLOCK, SHAPE, {})
    model.predict_noise = truth.oracle(model)
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(2)
    losses = torch.stack([model.loss({"x": truth.sample(2000, g).float()})["loss"] for _ in range(32)])
    estimate, se = losses.mean(), losses.std() / math.sqrt(len(losses))
    expected = 0.0
    for k in range(3):
        lo, hi = (k / 3 if k else 1e-3), (k + 1) / 3
        t = torch.linspace(lo, hi, 2001, dtype=torch.float64)[1:-1]
        start = sum(truth.sizes[:k])
        weights = torch.cat([torch.full((truth.sizes[j],), model.group_weight(j), dtype=torch.float64)
                             for j in range(k, 3)])
        a = torch.cat([model.sdes[j].marginal_coefficients(t)[0][:, None].expand(-1, truth.sizes[j])
                       for j in range(k, 3)], 1)
        s = torch.cat([model.sdes[j].marginal_coefficients(t)[1][:, None].expand(-1, truth.sizes[j])
                       for j in range(k, 3)], 1)
        cov = a[:, :, None] * truth.C[start:, start:] * a[:, None, :] + torch.diag_embed(s**2)
        residual = 1 - s**2 * torch.diagonal(torch.linalg.inv(cov), dim1=1, dim2=2)
        expected += float((residual * weights).sum(1).mean()) * (hi - lo)
    expected *= 0.5
    assert abs(float(estimate) - expected) < 4 * float(se), (float(estimate), expected, float(se))


def test_unet_networks_shrink_with_their_groups_and_bad_shapes_are_refused():
    block = {**BLOCK, "levels": 3, "network": {"kind": "unet", "channels": 8, "channel_mults": [1, 2, 2],
                                                "blocks_per_level": 1, "attention": False}}
    model = make_model(block, (1, 32, 32), {})
    assert isinstance(model, MultiScaleDiffusion)
    widths = [len(net.down) for net in model.networks]
    assert widths == [3, 2, 1, 1]  # each coarser group's U-Net drops its finest level, one level at least
    out = model.sample(2, steps=4)
    assert out.shape == (2, 1, 32, 32) and torch.isfinite(out).all()
    with pytest.raises(Exception, match="divisible by 16"):
        make_model({**block, "levels": 4}, (1, 8, 8), {})


def test_sampling_speed_times_each_design_at_each_resolution_with_its_own_sampler():
    """Rows per (resolution, block) with the blocks' own NFE (steps + 1 denoising step for both designs), the
    uniform U-Net's parameters independent of the resolution, and the speed-up table's ratio of the two."""
    from genlab.analysis.sampling_speed import sampling_speed
    from genlab.tables import speedup_table
    import pandas as pd
    unet = {"kind": "unet", "channels": 4, "channel_mults": [1, 2], "blocks_per_level": 1, "attention": False}
    uniform = {"family": "diffusion", "sde": {"kind": "vp", "beta_min": 0.1, "beta_max": 20.0}, "network": unet,
               "loss": {"weighting": "simple", "importance_sampling": False, "eps": 1e-5},
               "sampler": {"name": "euler_maruyama", "steps": 6, "eps": 1e-3, "denoise": True},
               "likelihood": {"method": "hutchinson"}}
    multi = {**BLOCK, "levels": 1, "network": unet, "sampler": {"name": "euler_maruyama", "steps": 6}}
    rows = sampling_speed({"uniform": uniform, "multi": multi}, [4, 8], n_samples=3, repeats=1, seed=0)
    assert [(r["resolution"], r["model"]) for r in rows] == [(4, "uniform"), (4, "multi"), (8, "uniform"), (8, "multi")]
    assert all(r["nfe"] == 7 and r["seconds_per_1000"] > 0 for r in rows)
    assert rows[0]["parameters"] == rows[2]["parameters"]
    table = speedup_table(pd.DataFrame(rows))
    assert table["model"].tolist() == ["4x4", "8x8"]
    assert table["speed-up"].tolist() == pytest.approx(
        [rows[0]["seconds_per_1000"] / rows[1]["seconds_per_1000"], rows[2]["seconds_per_1000"] / rows[3]["seconds_per_1000"]])


def test_every_network_trains_on_a_fixed_share_of_each_batch():
    """The batch is split among the networks in proportion to their intervals, the same way at every step
    (fixed shapes: cuDNN's autotuner tunes each once), and a batch too small to give each network a row is
    refused with the key to change."""
    model = make_model(BLOCK, SHAPE, {})
    shares = model.interval_shares()
    assert sum(shares) == pytest.approx(1) and shares[0] == pytest.approx((1 / 3 - 1e-3) / (1 - 1e-3))
    for batch in (3, 7, 64, 1000):
        rows = model.rows_per_network(batch)
        assert sum(rows) == batch and min(rows) >= 1
        assert all(abs(r - s * batch) < 1 for r, s in zip(rows, shares))
    seen = []
    model.predict_noise = lambda k, groups, t: seen.append((k, len(t), float(t.min()), float(t.max()))) or groups
    for _ in range(3):
        model.loss({"x": torch.randn(64, *SHAPE)})
    assert [(k, n) for k, n, _, _ in seen] == [(k, n) for k, n in enumerate(model.rows_per_network(64))] * 3
    assert all(max(k / 3, 1e-3) <= lo and hi <= (k + 1) / 3 for k, _, lo, hi in seen)
    with pytest.raises(ValueError, match="training.batch_size 2 < 3"):
        model.rows_per_network(2)
