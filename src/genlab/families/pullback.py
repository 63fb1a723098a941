"""Score-based pullback Riemannian geometry (Diepeveen, Batzolis et al. 2024): a diffeomorphism phi onto a
Gaussian base with learnable anisotropic diagonal covariance,
    p(x) = N(phi(x); 0, diag(sigma^2)) |det J_phi(x)|,
trained, as in the authors' code (GBATZOLIS/Score-Based-Pullback-Riemannian-Geometry, src/training/loss.py),
by the NLL summed over dimensions plus an isometry regulariser E ||J^T J - I||_F^2 that keeps phi close to
a local isometry on the data, and optionally a volume term E |log det J| (the authors' manifold runs: with
volume kept, a direction the data barely spans keeps its tiny variance in the latent space, which is what the
Riemannian auto-encoder thresholds). phi is the authors' flow by default (``kind: affine``, genlab/nn/
coupling.py: affine couplings with a bounded scale); zuko's MAF/NSF/RealNVP remain as alternatives. The
pullback metric of the base's geometry through phi then has
- geodesics gamma(t) = phi^-1((1 - t) phi(x0) + t phi(x1)) (``geodesic``), and
- a Riemannian auto-encoder: keep the latent coordinates of largest learned variance until the discarded
  variance fraction is at most eps; decode with the others at the base mean (``rae_dimension``,
  ``rae_reconstruct``).

With ``anisotropic: false`` the base is a standard normal and with ``isometry: 0`` the regulariser is off:
the paper's ablations (plain NF, anisotropic NF, isometric NF) are configurations of this one family."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from genlab.families import CAPABILITIES
from genlab.families.base import Family
from genlab.families.flow import make_zuko_flow, passes_to_invert
from genlab.nn.coupling import CouplingFlow


def retained_dimension(variances: torch.Tensor, epsilon: float) -> int:
    """Coordinates kept by the Riemannian auto-encoder (the authors' rule, also applied to PCA's spectrum):
    the fewest of largest variance whose discarded share of the total is at most epsilon."""
    variances = torch.as_tensor(variances).sort(descending=True).values
    discarded = 1 - torch.cumsum(variances, 0) / variances.sum()
    return int((discarded > epsilon).sum()) + 1


def _isometry_defect(jacobian: torch.Tensor) -> torch.Tensor:
    """||J^T J - I||_F^2 for each (D, D) Jacobian of a batch."""
    gram = jacobian.transpose(1, 2) @ jacobian
    return (gram - torch.eye(jacobian.shape[-1], dtype=gram.dtype, device=gram.device)).pow(2).sum((1, 2))


class _ZukoMap(nn.Module):
    """A zuko flow's transform as phi: x -> (z, log|det J|), with its inverse."""

    def __init__(self, flow: nn.Module):
        super().__init__()
        self.flow = flow

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.flow.transform().call_and_ladj(x)

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        return self.flow.transform().inv(z)


class PullbackFlow(Family):
    capabilities = CAPABILITIES["pullback"]

    def __init__(self, example_shape, kind: str = "affine", transforms: int = 2, hidden: int = 64, depth: int = 2,
                 bins: int = 8, anisotropic: bool = True, isometry: float = 0.2, volume: float = 0.0,
                 isometry_points: int | None = None, base_init: str = "unit", base_lr_scale: float = 1.0):
        super().__init__(example_shape)
        if kind == "affine":  # depth: residual blocks of each coupling's conditioner
            self.phi = CouplingFlow(self.dim, transforms, hidden, depth)
        else:  # a zuko flow; depth: hidden layers of its conditioners
            self.phi = _ZukoMap(make_zuko_flow(kind, self.dim, transforms, hidden, depth, bins))
        self.passes_per_sample = passes_to_invert(kind, transforms, self.dim)
        self.log_std = nn.Parameter(torch.zeros(self.dim), requires_grad=anisotropic)
        self.isometry, self.volume = isometry, volume
        # the penalty costs D - 1 more forward rows and a double backward per penalised example: an unbiased
        # estimate of its mean on the first isometry_points examples of each batch is cheaper than on all
        self.isometry_points = isometry_points
        if base_init not in ("unit", "data"):
            raise ValueError(f"base_init must be 'unit' or 'data', got {base_init!r}")
        self.base_init, self.base_lr_scale = base_init, base_lr_scale

    def initialize(self, x_train: torch.Tensor) -> None:
        """``base_init: data``: the base standard deviations start at the data's per-coordinate ones, their
        maximum-likelihood value while phi is still near the identity (its couplings start near it)."""
        if self.base_init == "data" and self.log_std.requires_grad:
            with torch.no_grad():
                self.log_std.copy_(torch.as_tensor(x_train).flatten(1).float().std(0).clamp_min(1e-6).log())

    def parameter_groups(self) -> list[dict[str, Any]]:
        """The base's log-standard deviations at ``base_lr_scale`` times the learning rate. Adam moves each
        parameter by about the learning rate per step, so at lr 4e-4 a log-std needs ~10^4 steps to fall by
        4 (a direction the flow flattens); the authors trained 10^5 steps, genlab's CPU budget is 3000."""
        if self.base_lr_scale == 1.0 or not self.log_std.requires_grad:
            return super().parameter_groups()
        return [{"params": [p for name, p in self.named_parameters() if p.requires_grad and name != "log_std"]},
                {"params": [self.log_std], "lr_scale": self.base_lr_scale}]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.phi(x.to(self.device).flatten(1))[0]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.phi.inverse(z).view(len(z), *self.example_shape)

    @property
    def variances(self) -> torch.Tensor:
        return torch.exp(2 * self.log_std)

    def log_likelihood(self, x, generator=None):
        z, ladj = self.phi(x.to(self.device).flatten(1))
        return self._base_log_prob(z) + ladj

    def _base_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return -0.5 * ((z / self.log_std.exp()) ** 2 + 2 * self.log_std + math.log(2 * math.pi)).sum(1)

    def _encode_with_jacobian(self, x: torch.Tensor, points: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """phi(x) and log|det J| for all of x (B, D), and the Jacobians J (points, D, D) at its first ``points``
        rows, differentiable. One forward pass serves both: the first rows are repeated D - 1 times below x,
        and one backward pass with the i-th basis vector as the output gradient of copy i (x itself is copy
        0) gives row i of each J. On CPU 25-31% less time per training step than a forward for the NLL plus
        one backward per output (D = 2-5, 8 couplings of width 64, batch 64); the same loss, its gradient
        summed in another order (parameters within 4e-6 of the old path's after 30 steps)."""
        batch, dim = x.shape
        copies = torch.cat([x, x[:points].repeat(dim - 1, 1)]).detach().requires_grad_(True)
        z, ladj = self.phi(copies)
        basis = torch.eye(dim, dtype=x.dtype, device=x.device)
        selector = torch.cat([basis[:1].expand(points, dim), torch.zeros(batch - points, dim, dtype=x.dtype,
                                                                         device=x.device),
                              basis[1:].repeat_interleave(points, 0)])
        rows = torch.autograd.grad(z, copies, selector, create_graph=True)[0]
        jacobian = torch.cat([rows[:points], rows[batch:]]).view(dim, points, dim).transpose(0, 1)
        return z[:batch], ladj[:batch], jacobian

    def isometry_penalty(self, x: torch.Tensor) -> torch.Tensor:
        """||J^T J - I||_F^2 per example, J the Jacobian of phi at x."""
        x = x.to(self.device).flatten(1)
        jacobian = self._encode_with_jacobian(x, len(x))[2]
        return _isometry_defect(jacobian)

    def loss(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        x = batch["x"].to(self.device).flatten(1)
        if self.isometry:
            points = min(self.isometry_points or len(x), len(x))
            z, ladj, jacobian = self._encode_with_jacobian(x, points)
        else:
            z, ladj = self.phi(x)
        nll = -(self._base_log_prob(z) + ladj).mean()  # summed over dimensions, as the authors': weights are relative to it
        outputs = {"nll": nll.detach()}
        loss = nll
        if self.isometry:
            penalty = _isometry_defect(jacobian).mean()
            loss = loss + self.isometry * penalty
            outputs["isometry"] = penalty.detach()
        if self.volume:  # |log det J|: volume preservation, so latent variances are the data's
            volume = ladj.abs().mean()
            loss = loss + self.volume * volume
            outputs["volume"] = volume.detach()
        return {"loss": loss, **outputs}

    @torch.no_grad()
    def sample(self, n, generator=None, **options):
        self.network_evaluations += self.passes_per_sample
        noise = torch.randn(n, self.dim, generator=generator, device=self.device)
        return self.decode(noise * self.log_std.exp())

    @torch.no_grad()
    def geodesic(self, x0: torch.Tensor, x1: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        """Points of the geodesics from x0 to x1 (P, D) at ``times`` (T,): shape (P, T, D)."""
        z0, z1 = self.encode(x0), self.encode(x1)
        t = times.to(self.device)[None, :, None]
        z = (1 - t) * z0[:, None] + t * z1[:, None]
        return self.decode(z.flatten(0, 1)).view(len(x0), len(times), -1)

    def rae_dimension(self, epsilon: float) -> int:
        return retained_dimension(self.variances.detach(), epsilon)

    @torch.no_grad()
    def rae_reconstruct(self, x: torch.Tensor, keep: int) -> torch.Tensor:
        """Encode, zero all but the ``keep`` coordinates of largest variance, decode."""
        z = self.encode(x)
        kept = self.variances.argsort(descending=True)[:keep]
        mask = torch.zeros(self.dim, dtype=torch.bool, device=z.device)
        mask[kept] = True
        return self.decode(torch.where(mask, z, torch.zeros_like(z)))
