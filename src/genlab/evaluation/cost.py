"""Cost: network evaluations and wall-clock seconds per sample, and what training took."""

from __future__ import annotations

import statistics
from typing import Any

from genlab.evaluation.registry import Run, metric


@metric("cost", settings=("cost", "fid"), requires={"sample"},
        columns={"NFE": "nfe", "s / 1000 samples": "seconds_per_1000", "parameters": "parameters",
                 "train time (s)": "train_time_s"})
def cost(run: Run) -> dict[str, Any]:
    """NFE and wall-clock seconds per sample, plus training cost. Where the experiment computes the FID too,
    the timing is that of the FID's draw (``fid.n_samples`` in batches of ``fid.batch_size``, drawn once per
    process: Run.fid_draw); else the median seconds over ``cost.repeats`` draws of ``cost.n_samples``, after
    a warm-up, and their mean NFE."""
    from genlab.generation import generate
    model, checkpoint = run.model, run.checkpoint
    if "fid" in run.exp.metrics:
        _, timing = run.fid_draw
        settings = run.settings("fid")
        timed = f"the FID's draw: {settings['n_samples']} samples in batches of {settings['batch_size']}"
    else:
        settings = run.settings("cost")
        generate(model, min(8, settings["n_samples"]), settings["n_samples"], run.seed)  # warm-up
        runs = [generate(model, settings["n_samples"], settings["n_samples"], run.seed + r)[1]
                for r in range(settings["repeats"])]
        timing = summarise_draws(runs)
        timed = f"median of {settings['repeats']} draws of {settings['n_samples']} samples after a warm-up"
    seconds = timing["seconds_per_sample"]
    return {"nfe": timing["nfe"], "seconds_per_sample": seconds, "seconds_per_1000": 1000 * seconds,
            "timed": timed, "device": str(model.device), "parameters": sum(p.numel() for p in model.parameters()),
            "train_steps": checkpoint["step"], "train_time_s": checkpoint["elapsed_s"]}


def summarise_draws(draws: list[dict[str, float]]) -> dict[str, float]:
    """The median seconds per sample of seeded draws and their mean NFE. An adaptive sampler's NFE differs
    from draw to draw; the NFE of the draw whose time is the median would depend on the machine's timing,
    and so would a metric that is otherwise the same run to run."""
    seconds = sorted(draw["seconds_per_sample"] for draw in draws)[len(draws) // 2]
    return {"nfe": statistics.fmean(draw["nfe"] for draw in draws), "seconds_per_sample": seconds}
