"""CAFLOW: conditional auto-regressive flows (thesis chapter 3; Batzolis et al., arXiv 2106.02531), built as the
authors' code builds it (GBATZOLIS/CAFLOW: models/CAFlow.py, UFlow.py, modules/mri_to_pet/
UnsharedConditionalFlow.py, blocks/ConditionalFlowBlock.py).

Two unconditional multi-scale flows encode the condition y and the target x into one latent per scale
(squeeze, flow, split half off; the coarsest keeps everything): D_0 .. D_{n-1} and L_0 .. L_{n-1}, finest
first. A conditional flow then models the target's latents auto-regressively from the coarsest scale down:

    p(x | y) = |det dL/dx| prod_i p(L_i | L_{>i}, D_{>=i})

where scale i's flow is g_I (L_i given D_i), after which half of its output goes to the prior and the other
half is squeezed and flowed again by g_S at each coarser scale j, given L_j and D_j, until the coarsest.
``design: same_scale`` is the ablation the paper compares against (Dual-Glow's design): L_i given D_i only,
no information between scales. ``design: cinn`` is the other conditional flow it is compared with, a
conditional INN (Ardizzone et al. 2019): no conditional flow on the latents; the condition's features enter
every coupling of the target's own multi-scale flow (scale i's couplings see D_i, the condition flow's latent
at that resolution, as the conditioning network's feature pyramid), and the target's latents are the prior's.

The loss is the authors' joint objective, -(log p(x | y) + lambda log p(y)) per target dimension, with their
lambda = 1e-3 (``condition_weight``): the condition's flow is a density model only weakly, mostly an encoder.
The conditional log-likelihood log p(x | y) is exact (change of variables); on quantised images it is the
density at dequantised x (the trainer's dequantisation; the conditional metric reports bits/dim as the NLL
metric does). Sampling draws the latents at ``temperature`` (z ~ N(0, T^2 I); the authors sample at 0.9,
0.75 and 0.5) and inverts: one pass through each network.

As in the authors' flows (their Dequantisation layer inside each flow's encoding), the condition is
dequantised wherever the condition flow encodes it, in training and when sampling: uniform noise of one grey
level (the dataset's bin width, or the block's ``bin_width``). Without it log p(y) is unbounded for the usual
conditions, which lie on a subspace (a nearest-upsampled image repeats each pixel; a mask or an edge map takes
two values), and the lambda term diverged at once (inf at the second step at 32x32, 4x super-resolution). The
conditional likelihood is then that of x given the dequantised y.

``conditioner_norm: true`` puts group normalisation inside every coupling's and injector's conditioner
(genlab.nn.invertible.conv_net), as OpenAI Glow puts ActNorm there; the authors' nets have none. Their sizes
(4 scales, depths 16/8) overflow without it on the 32x32 digits within 30 steps, on a CPU and on an H100
(benchmarks/results/caflow_gpu.md); the default run's small flows train without it.

Both flows start with the authors' logit transform of the dequantised image (genlab.nn.invertible.LogitTransform).

The condition is a task of genlab.data.tasks (the same definitions as the CDSM estimators of chapter 4); image
tasks only. Layers: genlab.nn.invertible."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from genlab.data.tasks import make_task
from genlab.errors import ConfigError
from genlab.families import CAPABILITIES
from genlab.families.base import Family
from genlab.nn.invertible import FlowStage, LogitTransform, squeeze, standard_normal_log_prob, unsqueeze

DESIGNS = ("caflow", "same_scale", "cinn")


class MultiscaleFlow(nn.Module):
    """The unconditional multi-scale flow (the authors' UFlow): at each scale squeeze, FlowStage, split half
    off as that scale's latent (the coarsest scale keeps all its channels)."""

    def __init__(self, channels: int, scales: int, depth: int, hidden: int, bin_width: float,
                 condition_channels: list[int] | None = None, norm: bool = False):
        super().__init__()
        self.scales = scales
        self.logit = LogitTransform(bin_width)
        # with condition_channels (design cinn): scale i's couplings see a condition feature map of its size
        self.stages = nn.ModuleList(
            FlowStage(4 * channels * 2 ** i, depth, hidden, condition_channels[i], injector=False, norm=norm)
            if condition_channels else FlowStage(4 * channels * 2 ** i, depth, hidden, norm=norm)
            for i in range(scales))

    def forward(self, x: torch.Tensor, features: list[torch.Tensor] | None = None
                ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """(latents finest first, log|det d latents / dx|); ``features``: one condition map per scale."""
        h, log_det = self.logit(x)
        latents = []
        for i, stage in enumerate(self.stages):
            h, stage_log_det = stage(squeeze(h), features[i] if features else None)
            log_det = log_det + stage_log_det
            if i < self.scales - 1:
                latent, h = h.chunk(2, 1)
                latents.append(latent)
        return latents + [h], log_det

    def inverse(self, latents: list[torch.Tensor], features: list[torch.Tensor] | None = None) -> torch.Tensor:
        h = latents[-1]
        for i in reversed(range(self.scales)):
            if i < self.scales - 1:
                h = torch.cat([latents[i], h], 1)
            h = unsqueeze(self.stages[i].inverse(h, features[i] if features else None))
        return self.logit.inverse(h)


def latent_channels(channels: int, scales: int) -> list[int]:
    """Channels of a MultiscaleFlow's latent at each scale (finest first)."""
    return [2 * channels * 2 ** i for i in range(scales - 1)] + [4 * channels * 2 ** (scales - 1)]


class ConditionalScaleFlows(nn.Module):
    """The conditional flow of the target's latents L given the condition's D (the authors'
    UnsharedConditionalFlow, one flow chain per scale): chain i is g_I on L_i given D_i, then for design
    caflow g_S at each coarser scale j on the squeezed remainder given (L_j, D_j), splitting half to the prior
    at each scale but the last."""

    def __init__(self, target: list[int], condition: list[int], design: str, depth: int, hidden: int,
                 norm: bool = False):
        super().__init__()
        self.scales = len(target)
        self.chains = nn.ModuleList()
        for i in range(self.scales):
            chain = nn.ModuleList([FlowStage(target[i], depth, hidden, condition[i], transition=1, norm=norm)])
            if design == "caflow":
                passed = target[i]
                for j in range(i + 1, self.scales):
                    passed = 4 * (passed // 2)  # half went to the prior, the rest is squeezed to scale j
                    chain.append(FlowStage(passed, depth, hidden, target[j] + condition[j], transition=1,
                                           norm=norm))
            self.chains.append(chain)

    def _condition(self, i: int, j: int, target, condition):
        return condition[j] if j == i else torch.cat([target[j], condition[j]], 1)

    def forward(self, target: list[torch.Tensor], condition: list[torch.Tensor]
                ) -> tuple[list[list[torch.Tensor]], torch.Tensor]:
        """(z per chain per stage, log|det dz/dL|)."""
        log_det, z = target[0].new_zeros(len(target[0])), []
        for i, chain in enumerate(self.chains):
            h, chain_z = target[i], []
            for k, stage in enumerate(chain):
                if k:
                    h = squeeze(h)
                h, stage_log_det = stage(h, self._condition(i, i + k, target, condition))
                log_det = log_det + stage_log_det
                if k < len(chain) - 1:
                    out, h = h.chunk(2, 1)
                    chain_z.append(out)
            z.append(chain_z + [h])
        return z, log_det

    def inverse(self, z: list[list[torch.Tensor]], condition: list[torch.Tensor]) -> list[torch.Tensor]:
        """The target's latents from z, coarsest scale first (chain i needs L_j for j > i)."""
        target: list[torch.Tensor | None] = [None] * self.scales
        for i in reversed(range(self.scales)):
            chain = self.chains[i]
            h = z[i][-1]
            for k in reversed(range(len(chain))):
                if k < len(chain) - 1:
                    h = torch.cat([z[i][k], h], 1)
                h = chain[k].inverse(h, self._condition(i, i + k, target, condition))
                if k:
                    h = unsqueeze(h)
            target[i] = h
        return target

    def z_shapes(self, target_shapes: list[tuple[int, int, int]]) -> list[list[tuple[int, int, int]]]:
        """The shape (C, H, W) of every z of ``forward`` given the latents' shapes."""
        shapes = []
        for i, chain in enumerate(self.chains):
            c, h, w = target_shapes[i]
            chain_shapes = []
            for k in range(len(chain)):
                if k:
                    c, h, w = 4 * c, h // 2, w // 2
                if k < len(chain) - 1:
                    chain_shapes.append((c // 2, h, w))
                    c = c - c // 2
            shapes.append(chain_shapes + [(c, h, w)])
        return shapes


class CAFlow(Family):
    capabilities = CAPABILITIES["caflow"]
    has_likelihood = False  # p(x | y) only: the conditional metric reports it
    likelihood_kind = "exact conditional"

    def __init__(self, example_shape, condition: dict, meta: dict[str, Any], design: str = "caflow",
                 scales: int = 3, depth: int = 4, condition_depth: int = 2, hidden: int = 64,
                 condition_hidden: int = 32, condition_weight: float = 1e-3, temperature: float = 1.0,
                 bin_width: float | None = None, conditioner_norm: bool = False):
        super().__init__(example_shape)
        if design not in DESIGNS:
            raise ConfigError(f"design must be one of {DESIGNS}, got {design!r}")
        bin_width = meta.get("bin_width") if bin_width is None else bin_width
        if bin_width is None:
            raise ConfigError(f"{meta.get('name')} has no grey levels (bin_width) to dequantise the condition "
                              f"with; set the block's bin_width (the width of one grey level in data units)")
        self.bin_width = float(bin_width)
        task = make_task(condition, example_shape, meta)
        if not task.is_image:
            raise ConfigError(f"CAFLOW translates images: condition kind {task.kind!r} is not an image task; use "
                              f"inpaint, superres or edges")
        channels, height, width = self.example_shape
        if height % 2 ** scales or width % 2 ** scales:
            raise ValueError(f"{scales} scales halve the image {scales} times; {height}x{width} is not divisible "
                             f"by {2 ** scales}")
        self.task, self.estimator, self.temperature = task, design, temperature
        self.condition_weight = condition_weight
        target, condition = latent_channels(channels, scales), latent_channels(task.shape[0], scales)
        self.target_flow = MultiscaleFlow(channels, scales, depth, hidden, self.bin_width,
                                          condition if design == "cinn" else None, conditioner_norm)
        self.condition_flow = MultiscaleFlow(task.shape[0], scales, depth, hidden, self.bin_width,
                                             norm=conditioner_norm)
        sides = [(height // 2 ** (i + 1), width // 2 ** (i + 1)) for i in range(scales)]
        if design == "cinn":  # the target flow's latents are the prior's (condition_depth/hidden unused)
            self.conditional_flow = None
            self.z_shapes = [[(c, *side)] for c, side in zip(target, sides)]
        else:
            self.conditional_flow = ConditionalScaleFlows(target, condition, design, condition_depth,
                                                          condition_hidden, conditioner_norm)
            self.z_shapes = self.conditional_flow.z_shapes([(c, *side) for c, side in zip(target, sides)])

    @classmethod
    def from_config(cls, example_shape, options: dict[str, Any], meta: dict[str, Any]):
        return cls(example_shape, meta=meta, **options)

    def condition(self, x: torch.Tensor, labels: torch.Tensor | None,
                  generator: torch.Generator | None = None) -> torch.Tensor:
        return self.task.condition(x, labels, generator)

    def _encode_condition(self, y: torch.Tensor, generator: torch.Generator | None = None):
        """The condition flow's (latents, log|det|) at the dequantised y. In training y comes from an x already
        dequantised by the trainer, up to half a level outside [-1, 1]: clamped back first, so that the noise
        keeps it inside the logit transform's domain."""
        noise = torch.rand(y.shape, generator=generator, dtype=y.dtype, device=y.device) - 0.5
        return self.condition_flow(y.clamp(-1, 1) + self.bin_width * noise)

    def _log_probs(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        """(log p(x | y), log p(y)) per example, in nats."""
        condition_latents, condition_log_det = self._encode_condition(y, generator)
        z, conditional_log_det, target_log_det = self.to_prior(x, condition_latents)
        log_p_x = sum(standard_normal_log_prob(part) for chain in z for part in chain) + conditional_log_det \
            + target_log_det
        log_p_y = sum(standard_normal_log_prob(latent) for latent in condition_latents) + condition_log_det
        return log_p_x, log_p_y

    def to_prior(self, x: torch.Tensor, condition_latents: list[torch.Tensor]
                 ) -> tuple[list[list[torch.Tensor]], torch.Tensor | float, torch.Tensor]:
        """x -> z (per chain, per stage) given the condition's latents, with the conditional flow's and the
        target flow's log|det| apart; the one place the designs differ (cinn: no conditional flow, the
        condition enters the target flow's couplings)."""
        if self.conditional_flow is None:
            target_latents, target_log_det = self.target_flow(x, condition_latents)
            return [[latent] for latent in target_latents], 0.0, target_log_det
        target_latents, target_log_det = self.target_flow(x)
        z, conditional_log_det = self.conditional_flow(target_latents, condition_latents)
        return z, conditional_log_det, target_log_det

    def from_prior(self, z: list[list[torch.Tensor]], condition_latents: list[torch.Tensor]) -> torch.Tensor:
        """The inverse of ``to_prior``."""
        if self.conditional_flow is None:
            return self.target_flow.inverse([chain[0] for chain in z], condition_latents)
        return self.target_flow.inverse(self.conditional_flow.inverse(z, condition_latents))

    def conditional_log_likelihood(self, x: torch.Tensor, y: torch.Tensor,
                                   generator: torch.Generator | None = None) -> torch.Tensor:
        """log p(x | y) in nats per example (exact, given the dequantised y)."""
        return self._log_probs(x.to(self.device), y.to(self.device), generator)[0]

    def initialize(self, x_train: torch.Tensor) -> None:
        """ActNorm's data-dependent start on a fixed batch (the first 128 training examples, inside a grey level
        as the trainer's dequantised ones; inpainting squares and noise from a fixed seed), so that a run and
        its resumption start alike."""
        generator = torch.Generator().manual_seed(0)
        x = torch.as_tensor(x_train[:128], dtype=torch.float32)
        x = x + self.bin_width * (torch.rand(x.shape, generator=generator) - 0.5)
        with torch.no_grad():
            self._log_probs(x, self.condition(x, None, generator), generator)

    def loss(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        x = batch["x"]
        log_p_x, log_p_y = self._log_probs(x, self.condition(x, batch["y"]))
        nll_x = -log_p_x.mean() / self.dim
        return {"loss": nll_x - self.condition_weight * log_p_y.mean() / self.dim, "nll_x_given_y": nll_x}

    @torch.no_grad()
    def sample(self, n, generator=None, condition: torch.Tensor | None = None, temperature: float | None = None,
               **options):
        """Samples of x given ``condition`` (n, *condition shape), one per row, at ``temperature`` (default: the
        block's)."""
        self.task.check_condition(condition, n)
        scale = self.temperature if temperature is None else temperature
        condition_latents, _ = self._encode_condition(condition.to(self.device), generator)
        z = [[scale * torch.randn((n, *shape), generator=generator, device=self.device) for shape in chain]
             for chain in self.z_shapes]
        self.network_evaluations += 1  # one pass through each network
        return self.from_prior(z, condition_latents)
