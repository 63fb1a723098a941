"""Cost: network evaluations and wall-clock seconds per sample, and what training took."""

from __future__ import annotations

from typing import Any

from genlab.evaluation.registry import Run, metric
from genlab.generation import generate


@metric("cost", settings=("cost",), requires={"sample"},
        columns={"NFE": "nfe", "s / 1000 samples": "seconds_per_1000", "parameters": "parameters",
                 "train time (s)": "train_time_s"})
def cost(run: Run) -> dict[str, Any]:
    """NFE and wall-clock seconds per sample (median over repeats, after one warm-up), plus training cost."""
    model, settings, checkpoint = run.model, run.settings("cost"), run.checkpoint
    generate(model, min(8, settings["n_samples"]), settings["n_samples"], run.seed)  # warm-up
    runs = [generate(model, settings["n_samples"], settings["n_samples"], run.seed + r)[1]
            for r in range(settings["repeats"])]
    seconds = sorted(r["seconds_per_sample"] for r in runs)[len(runs) // 2]
    return {"nfe": runs[0]["nfe"], "seconds_per_sample": seconds, "seconds_per_1000": 1000 * seconds,
            "device": str(model.device), "parameters": sum(p.numel() for p in model.parameters()),
            "train_steps": checkpoint["step"], "train_time_s": checkpoint["elapsed_s"]}
