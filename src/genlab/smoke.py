"""The smoke switch: any params file shrunk to minutes of CPU by one transformation, so that a new cluster,
a new params file or a change of code can be checked end to end before the real run (`snakemake all
--configfile params/thesis.yaml --config smoke=True`, or `smoke: true` in the params file).

What it keeps: every experiment, dataset, network, sampler, metric and figure of the params file, so a block
that cannot run at all (a shape mismatch, a missing key, a metric the family lacks) fails the smoke run as
it would fail the real one. What it shrinks, and only that: counts of work.
- training: `steps` capped at STEPS (an experiment's own `training.steps` too); a warm-up lasts the whole
  shrunk run (scaled, a 500-step warm-up of a 25k-step run would be one step at the full rate, and CAFLOW's
  deep flows diverge from such a first step);
  the other step-valued keys (checkpoint and log intervals, snapshots,
  early-stopping interval, the VAE's KL warm-up, VS-CMDE's reach_target_steps) scaled by the same factor,
  rounded up, except that the checkpoint interval is at least half the run (one periodic checkpoint mid-run,
  not one per step: a thesis U-Net's training state is 400 MB); live sample grids (`sample_every`) drawn
  once, at the end, on a side of at most SMOKE_GRID; `batch_size` capped at BATCH;
- generated datasets: `n_train`, `n_test` capped (staged MNIST/CIFAR-10 files are read as they are);
- every other count of work, by key name wherever it stands (`CAPS`): samples, examples, sampler steps,
  Langevin steps, importance samples, repeats, grid sides, the CDSM study's sample sizes; and the counts whose
  default depends on the data (`DATA_DEPENDENT_COUNTS`: the intrinsic dimension's 4 D scores per point), set
  to their cap;
- ODE tolerances (`rtol`, `atol`, `tolerance`) raised to at least TOLERANCE: the solver's step count is the
  ODE samplers' and likelihoods' count of work (on the thesis MNIST U-Net at 1 against 0.1: 21 against 27
  network calls for 8 samples, 38 against 56 for 2 likelihoods; dopri5 takes at least three steps either way).
The transformation is idempotent (caps and a scale factor of 1 on a shrunk block), so the params the
Snakefile resolves and the CLI reads back are shrunk once, however often they are loaded."""

from __future__ import annotations

import json
from typing import Any

from genlab.config import SAMPLE_GRID

STEPS, BATCH, TOLERANCE, SMOKE_GRID = 6, 8, 1.0, 2
# step-valued training keys: scaled with `steps`, so warm-ups, intervals and snapshots keep their place
SCALED_WITH_STEPS = ("checkpoint_every", "log_every")
CAPS = {
    "n_train": 256, "n_test": 64,  # generated datasets
    "n_samples": BATCH, "n_examples": 2, "batch_size": BATCH, "repeats": 1, "n_pairs": 4, "n_times": 5,
    "n_points": 2, "baseline_points": 40, "n_perturbations": 8,  # metrics; 40: DANCo and ESS in a second
    "steps": 4, "corrector_steps": 1,  # samplers (a model's sampler, the sweep's step lists)
    "langevin_steps": 2, "sample_steps": 3, "buffer_size": 64, "importance_samples": 4,  # families
    # figures; a grid of SMOKE_GRID: its samples are drawn beside the FID's n_samples, and 16 of a thesis U-Net's
    # ODE samples took 69 s of the MNIST model's 165 s evaluation
    "grid": SMOKE_GRID, "sample_sizes": 200, "test_points": 50, "times": 4,
    "resolutions": 32, "speed_samples": 2, "speed_repeats": 1,  # figures.multiscale's timing
}
TOLERANCES = ("rtol", "atol", "tolerance")
# counts whose default depends on the data, so a params file rarely writes them and no key-name cap reaches
# them: set to the cap under each evaluation block that has them (the intrinsic dimension's 4 D scores per point
# are 4096 U-Net calls a point on the thesis's 32x32 blobs, 14 s of a smoke evaluation that takes 3 s without)
DATA_DEPENDENT_COUNTS = {"intrinsic_dim": {"n_perturbations": CAPS["n_perturbations"]}}


def apply(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` shrunk when its ``smoke`` switch is on, else unchanged."""
    return shrink(params) if params.get("smoke") else params


def shrink(params: dict[str, Any]) -> dict[str, Any]:
    """The smoke transformation (module docstring); returns a shrunk copy marked ``smoke: true``."""
    # unshared: YAML merge keys (<<) let blocks share one nested mapping, which scaling would hit once per
    # block that shares it (a deep copy keeps the sharing)
    params = json.loads(json.dumps(params))
    for model in params["models"].values():
        _shrink_training(model)
    own_training = [exp.get("training") for exp in params.get("experiments", [])]
    for key, value in params.items():
        if key != "models":
            params[key] = _cap(value)
    for exp, training in zip(params.get("experiments", []), own_training):  # an experiment's own steps: as a block's
        if training:
            exp["training"] = {**training, "steps": min(training["steps"], STEPS)}
    params["models"] = {name: {key: value if key == "training" else _cap(value, key) for key, value in block.items()}
                        for name, block in params["models"].items()}
    for metric, counts in DATA_DEPENDENT_COUNTS.items():
        if metric in params.get("evaluation", {}):
            params["evaluation"][metric] = {**counts, **params["evaluation"][metric]}  # a written count was capped
    params["smoke"] = True
    return params


def _shrink_training(model: dict[str, Any]) -> None:
    training = model["training"]
    steps = training["steps"]
    if steps > 0:
        new_steps = min(steps, STEPS)

        def scaled(value: int) -> int:  # value * new_steps / steps rounded up, in integers (no float round-off)
            return max(1, -(-value * new_steps // steps))

        training["steps"] = new_steps
        if training.get("warmup_steps"):  # scaled, it would be one step at the full rate: what a warm-up prevents
            training["warmup_steps"] = min(training["warmup_steps"], new_steps)
        for key in SCALED_WITH_STEPS:
            if training.get(key):
                training[key] = scaled(training[key])
        if training.get("checkpoint_every"):  # once, mid-run (scaled, it was one 400 MB state per step)
            training["checkpoint_every"] = max(training["checkpoint_every"], -(-new_steps // 2))
        if training.get("sample_every"):  # one sample grid, at the end (scaled, it would be one per step)
            training["sample_every"] = new_steps
            training["sample_grid"] = min(training.get("sample_grid", SAMPLE_GRID), SMOKE_GRID)
        if "snapshots" in training:
            training["snapshots"] = sorted({scaled(s) for s in training["snapshots"]})
        if "early_stopping" in training:
            training["early_stopping"]["every"] = scaled(training["early_stopping"]["every"])
        if model.get("kl_warmup_steps"):
            model["kl_warmup_steps"] = scaled(model["kl_warmup_steps"])
        if model.get("condition_schedule"):  # VS-CMDE reaches its target at the same share of training
            schedule = model["condition_schedule"]
            schedule["reach_target_steps"] = scaled(schedule["reach_target_steps"])
    training["batch_size"] = min(training["batch_size"], BATCH)


def _cap(value: Any, key: str | None = None) -> Any:
    """Caps by key name, wherever the key stands; lists of counts (the sweep's steps, the study's sample
    sizes) are capped element-wise and deduplicated in their order."""
    if isinstance(value, dict):
        return {k: _cap(v, k) for k, v in value.items()}
    if isinstance(value, list):
        if key in CAPS or key in TOLERANCES:
            return list(dict.fromkeys(_cap(v, key) for v in value))
        return [_cap(v) for v in value]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    if key in CAPS and isinstance(value, int):
        return min(value, CAPS[key])
    if key in TOLERANCES:
        return max(value, TOLERANCE)
    return value
