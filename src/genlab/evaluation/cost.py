"""Cost: network evaluations and wall-clock seconds per sample, and what training took."""

from __future__ import annotations

from typing import Any

from genlab.evaluation.registry import Run, metric
from genlab.generation import generate


@metric("cost", settings=("cost", "fid"), requires={"sample"},
        columns={"NFE": "nfe", "s / 1000 samples": "seconds_per_1000", "parameters": "parameters",
                 "train time (s)": "train_time_s"})
def cost(run: Run) -> dict[str, Any]:
    """NFE and wall-clock seconds per sample, plus training cost. Where the experiment computes the FID too,
    the timing is that of the FID's draw (``fid.n_samples`` in batches of ``fid.batch_size``, drawn once per
    process: Run.fid_draw); else the median over ``cost.repeats`` draws of ``cost.n_samples``, after a
    warm-up."""
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
        timing = sorted(runs, key=lambda r: r["seconds_per_sample"])[len(runs) // 2]
        timed = f"median of {settings['repeats']} draws of {settings['n_samples']} samples after a warm-up"
    seconds = timing["seconds_per_sample"]
    return {"nfe": timing["nfe"], "seconds_per_sample": seconds, "seconds_per_1000": 1000 * seconds,
            "timed": timed, "device": str(model.device), "parameters": sum(p.numel() for p in model.parameters()),
            "train_steps": checkpoint["step"], "train_time_s": checkpoint["elapsed_s"]}
