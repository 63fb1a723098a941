"""CAFLOW (genlab/families/caflow.py, genlab/nn/invertible.py): the conditional log-likelihood is the change of
variables (checked against a brute-force Jacobian), the flows invert to float tolerance, and the conditional
flow is auto-regressive across scales in the authors' order (a coarser scale's conditional does not see a
finer latent; the same-scale ablation sees only its own scale; the conditional INN's condition enters the target
flow's couplings at each scale)."""

from __future__ import annotations

import math

import pytest
import torch

from genlab.errors import ConfigError
from genlab.families.caflow import CAFlow
from genlab.nn.invertible import AffineInjector, standard_normal_log_prob

META = {"name": "digits", "classes": 10, "bin_width": 2 / 16}  # 17 grey levels in [-1, 1], as digits


def perturbed_model(design: str, condition: dict, shape=(1, 8, 8), scales: int = 3, norm: bool = False) -> CAFlow:
    """A float64 model whose every layer is away from the identity (the zero-started conditioner outputs too),
    with ActNorm initialised on a batch; ``norm``: group normalisation in the conditioners."""
    torch.manual_seed(0)
    model = CAFlow(shape, condition, META, design=design, scales=scales, depth=2, condition_depth=2, hidden=8,
                   condition_hidden=8, conditioner_norm=norm).double()
    x = torch.rand(32, *shape, dtype=torch.float64) * 2 - 1
    model.initialize(x)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    return model


def images(n: int, shape=(1, 8, 8), seed: int = 1) -> torch.Tensor:
    return torch.rand(n, *shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 2 - 1


def z_of(model: CAFlow, x: torch.Tensor, y: torch.Tensor) -> list[list[torch.Tensor]]:
    return model.to_prior(x, model.condition_flow(y)[0])[0]


@pytest.mark.parametrize("design,norm", [("caflow", False), ("same_scale", False), ("cinn", False),
                                         ("caflow", True), ("cinn", True)])
@pytest.mark.parametrize("condition", [{"kind": "superres", "factor": 2}, {"kind": "inpaint", "coverage": 0.25}])
def test_conditional_log_likelihood_is_the_change_of_variables(design, norm, condition):
    """log p(x | y) = log N(z(x; y)) + log|det dz/dx| with the Jacobian of x -> z computed by autograd, one
    example at a time (64 x 64 on 8x8 images, 3 scales); with the conditioners' group normalisation too (it
    acts on each example alone, so the couplings stay triangular)."""
    model = perturbed_model(design, condition, norm=norm)
    model._encode_condition = lambda y, generator=None: model.condition_flow(y)  # y's noise: not x's Jacobian
    x = images(3)
    y = model.condition(x, None, torch.Generator().manual_seed(2))
    reported = model.conditional_log_likelihood(x, y).detach()
    for i in range(len(x)):
        def flat_z(flat_x):
            return torch.cat([part.flatten() for chain in z_of(model, flat_x.view(1, 1, 8, 8), y[i:i + 1])
                              for part in chain])
        jacobian = torch.autograd.functional.jacobian(flat_z, x[i].flatten())
        z = flat_z(x[i].flatten())
        brute_force = standard_normal_log_prob(z[None]) + torch.linalg.slogdet(jacobian)[1]
        assert float(reported[i]) == pytest.approx(float(brute_force), rel=1e-12, abs=1e-8)  # float64 round-off
    # the perturbation made the map far from volume preserving: the check is not trivially 0 = 0
    assert abs(float(torch.linalg.slogdet(jacobian)[1])) > 1.0


@pytest.mark.parametrize("design,norm", [("caflow", False), ("same_scale", False), ("cinn", False),
                                         ("caflow", True)])
def test_the_flows_invert(design, norm):
    model = perturbed_model(design, {"kind": "edges"}, norm=norm)
    x = images(16)
    y = model.condition(x, None)
    condition_latents, _ = model.condition_flow(y)
    z = z_of(model, x, y)
    back = model.from_prior(z, condition_latents)
    assert torch.allclose(back, x, atol=1e-9)
    assert [[tuple(part.shape[1:]) for part in chain] for chain in z] == model.z_shapes
    assert sum(part[0].numel() for chain in z for part in chain) == 64  # a bijection keeps the dimension


@pytest.mark.parametrize("design", ["caflow", "cinn"])
def test_sampling_is_seeded_and_the_temperature_scales_the_latents(design):
    """Temperature 0 decodes z = 0 (only the condition's dequantisation noise varies); the same generator
    gives the same samples; temperature 1 moves them."""
    model = perturbed_model(design, {"kind": "superres", "factor": 2}).float()
    x = images(4).float()
    y = model.condition(x, None)
    first = model.sample(4, torch.Generator().manual_seed(0), condition=y, temperature=0.0)
    again = model.sample(4, torch.Generator().manual_seed(0), condition=y, temperature=0.0)
    assert first.shape == (4, 1, 8, 8) and torch.equal(first, again)
    condition_latents, _ = model._encode_condition(y, torch.Generator().manual_seed(0))
    zeros = [[torch.zeros(4, *shape) for shape in chain] for chain in model.z_shapes]
    assert torch.allclose(first, model.from_prior(zeros, condition_latents))
    varied = model.sample(4, torch.Generator().manual_seed(0), condition=y, temperature=1.0)
    assert (varied - first).abs().max() > 1e-3


def test_the_condition_is_dequantised_by_one_grey_level():
    model = perturbed_model("caflow", {"kind": "superres", "factor": 2})
    assert model.bin_width == pytest.approx(2 / 16)  # the dataset's bin width
    y = torch.zeros(256, 1, 8, 8, dtype=torch.float64)
    model.condition_flow = torch.nn.Identity()  # what the condition flow is given
    moved = model._encode_condition(y, torch.Generator().manual_seed(0))
    assert moved.abs().max() <= 1 / 16 and moved.std() == pytest.approx((2 / 16) / 12 ** 0.5, rel=0.05)


def latents_after_perturbing(model, x, y, which: str, scale: int):
    """z of every chain, before and after adding noise to the target's (or the condition's) latent at
    ``scale``; the changed latent is pushed through the conditional flow directly."""
    condition_latents, _ = model.condition_flow(y)
    target_latents, _ = model.target_flow(x)
    before, _ = model.conditional_flow(target_latents, condition_latents)
    changed = [t.clone() for t in (target_latents if which == "target" else condition_latents)]
    changed[scale] = changed[scale] + torch.randn_like(changed[scale])
    if which == "target":
        after, _ = model.conditional_flow(changed, condition_latents)
    else:
        after, _ = model.conditional_flow(target_latents, changed)
    return [torch.equal(torch.cat([p.flatten() for p in a]), torch.cat([p.flatten() for p in b]))
            for a, b in zip(before, after)]


def test_caflow_is_autoregressive_from_coarse_to_fine():
    """Chain i models L_i given L_{>i} and D_{>=i}: perturbing the finest target latent changes chain 0 only;
    perturbing the coarsest one changes every chain (each conditions on it); the condition's finest latent
    reaches chain 0 only."""
    model = perturbed_model("caflow", {"kind": "superres", "factor": 2})
    x = images(4)
    y = model.condition(x, None)
    assert latents_after_perturbing(model, x, y, "target", 0) == [False, True, True]
    assert latents_after_perturbing(model, x, y, "target", 2) == [False, False, False]
    assert latents_after_perturbing(model, x, y, "condition", 0) == [False, True, True]
    assert latents_after_perturbing(model, x, y, "condition", 1) == [False, False, True]


def test_the_conditional_inn_feeds_the_condition_into_the_target_flow_at_each_scale():
    """cinn: scale i's couplings see D_i, and the target's finer scales feed its coarser ones, so changing the
    condition's latent at scale j changes the target's latents at j and coarser, never a finer one."""
    model = perturbed_model("cinn", {"kind": "superres", "factor": 2})
    x = images(4)
    condition_latents, _ = model.condition_flow(model.condition(x, None))
    before, _ = model.target_flow(x, condition_latents)
    for scale, unchanged in ((0, [False, False, False]), (1, [True, False, False]), (2, [True, True, False])):
        changed = [latent.clone() for latent in condition_latents]
        changed[scale] = changed[scale] + torch.randn_like(changed[scale])
        after, _ = model.target_flow(x, changed)
        assert [torch.equal(a, b) for a, b in zip(before, after)] == unchanged, scale
    layers = [layer for stage in model.target_flow.stages for layer in stage.layers]
    assert not any(isinstance(layer, AffineInjector) for layer in layers)  # the couplings alone see it


def test_the_same_scale_design_passes_nothing_between_scales():
    model = perturbed_model("same_scale", {"kind": "superres", "factor": 2})
    x = images(4)
    y = model.condition(x, None)
    assert latents_after_perturbing(model, x, y, "target", 2) == [True, True, False]
    assert latents_after_perturbing(model, x, y, "condition", 1) == [True, False, True]


def test_the_loss_is_the_nll_per_dimension_plus_the_weighted_condition_term():
    model = perturbed_model("caflow", {"kind": "superres", "factor": 2})
    x = images(8)
    y = model.condition(x, None)
    torch.manual_seed(5)  # the same draw of the condition's dequantisation noise in both
    log_p_x, log_p_y = model._log_probs(x, y)
    torch.manual_seed(5)
    loss = model.loss({"x": x, "y": None})
    assert float(loss["nll_x_given_y"]) == pytest.approx(float(-log_p_x.mean() / 64))
    assert float(loss["loss"]) == pytest.approx(float(-(log_p_x.mean() + 1e-3 * log_p_y.mean()) / 64))
    assert math.isfinite(float(loss["loss"]))


def test_bad_blocks_are_config_errors():
    with pytest.raises(ConfigError, match="bin_width"):
        CAFlow((1, 8, 8), {"kind": "edges"}, {"name": "continuous"})
    with pytest.raises(ConfigError, match="not an image task"):
        CAFlow((1, 8, 8), {"kind": "label"}, META)
    with pytest.raises(ConfigError, match="design"):
        CAFlow((1, 8, 8), {"kind": "edges"}, META, design="dual_glow")
    with pytest.raises(ValueError, match="not divisible"):
        CAFlow((1, 28, 28), {"kind": "edges"}, META, scales=3)


def test_cli_trains_caflow_and_the_conditional_metric_scores_it(tmp_path):
    """Through the CLI as the pipeline runs it: the conditional metric gives a flow its exact conditional NLL and
    the scores per temperature, and the table a row per temperature below the model's."""
    import json

    import yaml

    from genlab import cli, tables

    params = yaml.safe_load(open("params/default.yaml"))
    for name in ("classifier", "caflow_superres"):
        params["models"][name]["training"].update(steps=20, checkpoint_every=20, warmup_steps=5, batch_size=32)
    params["models"] = {name: params["models"][name] for name in ("classifier", "caflow_superres")}
    params["experiments"] = [{"dataset": "digits", "model": "classifier", "metrics": ["accuracy"]},
                             {"dataset": "digits", "model": "caflow_superres", "metrics": ["conditional"]}]
    params["datasets"] = {"digits": params["datasets"]["digits"]}
    params["evaluation"]["conditional"].update(n_examples=24, batch_size=24, draws=3)
    params["figures"] = {}
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(params))
    common = ["--params", str(tmp_path / "p.yaml"), "--dataset", "digits"]
    data = tmp_path / "digits.npz"
    assert cli.main(["data", *common, "--out", str(data)]) == 0
    for model in ("classifier", "caflow_superres"):
        assert cli.main(["train", *common, "--model", model, "--data", str(data), "--run-dir",
                         str(tmp_path / model), "--no-progress"]) == 0
    out = tmp_path / "conditional.json"
    assert cli.main(["evaluate", *common, "--model", "caflow_superres", "--metric", "conditional", "--data", str(data),
                     "--checkpoint", str(tmp_path / "caflow_superres/checkpoint.pt"), "--feature-net",
                     str(tmp_path / "classifier/checkpoint.pt"), "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    # a density over dequantised 17-level pixels: below the uniform's log2(17) = 4.09 bits only once it learns,
    # above 0 for any model a few steps from the identity; finite either way
    assert result["estimator"] == "caflow" and 0 < result["nll_bpd"] < 8 and result["dequantized"]
    scores = {row["temperature"]: row for row in result["by_temperature"]}
    assert sorted(scores) == [0.0, 0.5, 0.75, 0.9, 1.0]
    assert scores[0.0]["diversity"] < scores[1.0]["diversity"]  # the latents' spread is the temperature
    table = tables.conditional_table([out], "superres").set_index("model")
    assert table.loc["digits/caflow_superres", "NLL x given y (bits/dim)"] == pytest.approx(result["nll_bpd"])
    assert table.loc["digits/caflow_superres T=0.5", "PSNR (dB)"] == pytest.approx(scores[0.5]["psnr"])
