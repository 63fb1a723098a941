"""Log-likelihood through the probability-flow ODE (score_sde_pytorch's likelihood.py is the model).

log p_0(x_0) = log p_T(x_T) + int_0^T div f_ode(x_t, t) dt, integrated jointly with x_t from eps to T.
The divergence is exact (one vector-Jacobian product per dimension: for small D) or the
Skilling-Hutchinson estimate eps^T J eps with one fixed probe per solve (unbiased for the
integral, so averages over repeated solves converge to the exact value)."""

from __future__ import annotations

import torch

from genlab.diffusion.samplers import ADAPTIVE, ScoreFn
from genlab.diffusion.sde import SDE

METHODS = ("hutchinson", "exact")


def ode_log_likelihood(score_fn: ScoreFn, sde: SDE, x: torch.Tensor, method: str = "hutchinson",
                       probe: str = "rademacher", rtol: float = 1e-5, atol: float = 1e-5, eps: float = 1e-5,
                       ode_method: str = "dopri5", generator=None) -> torch.Tensor:
    """log p_eps(x) in nats per example, shape (B,). Computed in float64 for the solver's sake."""
    if method not in METHODS:
        raise ValueError(f"likelihood method must be one of {METHODS}, got {method!r}")
    shape, batch = x.shape, len(x)
    dim = x[0].numel()
    if method == "hutchinson":
        probe_vec = torch.randn(shape, generator=generator, device=x.device, dtype=x.dtype)
        if probe == "rademacher":
            probe_vec = probe_vec.sign()

    def drift_fn(x_t, t):
        return sde.reverse_drift(x_t, t, score_fn(x_t, t), probability_flow=True)

    def dynamics(t, state):
        x_t = state[: batch * dim].view(shape).to(x.dtype).detach()
        tt = t.expand(batch).to(x.dtype)
        with torch.enable_grad():
            x_t.requires_grad_(True)
            drift = drift_fn(x_t, tt)
            if method == "hutchinson":
                (vjp,) = torch.autograd.grad(drift, x_t, probe_vec)
                div = (vjp * probe_vec).flatten(1).sum(1)
            else:
                flat = drift.flatten(1)
                div = torch.zeros(batch, device=x.device, dtype=drift.dtype)
                for i in range(dim):
                    (row,) = torch.autograd.grad(flat[:, i].sum(), x_t, retain_graph=i < dim - 1)
                    div = div + row.flatten(1)[:, i]
        return torch.cat([drift.detach().flatten(), div.detach()]).to(state.dtype)

    state = torch.cat([x.flatten(), torch.zeros(batch, device=x.device, dtype=x.dtype)]).double()
    times = torch.tensor([eps, sde.T], dtype=torch.float64, device=x.device)
    options = {"step_t": times} if ode_method in ADAPTIVE else None  # no evaluations outside [eps, T]
    from torchdiffeq import odeint  # imports scipy (0.6 s): only where an ODE is solved
    final = odeint(dynamics, state, times, rtol=rtol, atol=atol, method=ode_method, options=options)[-1]
    x_T, integral = final[: batch * dim].view(shape), final[batch * dim:]
    return sde.prior_log_prob(x_T) + integral
