"""Likelihood: held-out NLL in bits per dimension (exact, a bound or an ODE estimate, as the family says),
and on mixtures the analytic NLL of the same examples beside it."""

from __future__ import annotations

from typing import Any

from genlab.evaluation.registry import Run, metric


@metric("nll", settings=("nll",), requires={"sample"},
        columns={"NLL (bits/dim)": "nll_bpd", "NLL s.e.": "nll_bpd_sem", "NLL kind": "nll_kind",
                 "ELBO (bits/dim)": "elbo_bpd", "true NLL (bits/dim)": "true_nll_bpd"})
def nll(run: Run) -> dict[str, Any]:
    """Held-out NLL (bits/dim) with dequantisation of discrete data; n/a for families without a normalised
    likelihood."""
    import torch
    from genlab.data.mixtures import GaussianMixture
    from genlab.generation import seeded_generator
    from genlab.metrics.nll import bits_per_dim, evaluate_nll
    model, dataset, settings = run.model, run.dataset, run.settings("nll")
    if not model.has_likelihood:
        return {"nll_bpd": None, "note": f"{run.exp.family} has no normalised likelihood"}
    x = torch.as_tensor(dataset.x_test[: settings["n_examples"]]).to(model.device)
    dequantization, probes = torch.Generator().manual_seed(run.seed), seeded_generator(model, run.seed)

    def log_likelihoods(batch):  # fresh probes per batch; bounds (the VAE's ELBO) on the same examples
        return {"log_likelihood": model.log_likelihood(batch, generator=probes),
                **model.log_likelihood_bounds(batch, generator=probes)}

    metrics = evaluate_nll(log_likelihoods, x, dataset.bin_width, settings["batch_size"], dequantization)
    metrics["nll_kind"] = model.likelihood_kind
    if "mixture" in dataset.meta:  # ground truth on the same examples: the analytic mixture density
        truth = GaussianMixture.from_meta(dataset.meta).log_prob(x.cpu().flatten(1))
        metrics["true_nll_bpd"] = float(bits_per_dim(truth, dataset.dim).mean())
    return metrics
