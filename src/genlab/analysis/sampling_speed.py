"""What sampling costs against image resolution, for model blocks of the params (chapter 4's claim that the
multi-scale model samples several times faster than the uniform one, the more so the larger the image).

The seconds a sampler takes depend on the architecture, the sampler and the resolution, not on the weights,
so each block is built at each resolution (one grey channel, as the digits) with its initial weights and
timed drawing the same samples with its own sampler: no training is needed to measure a speed-up at a
resolution the pipeline cannot train at on a CPU. The trained models' own seconds per 1000 samples (the cost
metric) are the same measurement at the data's resolution."""

from __future__ import annotations

from typing import Any

import torch
from tqdm import tqdm

from genlab.families import make_model
from genlab.generation import generate


def sampling_speed(blocks: dict[str, dict[str, Any]], resolutions: list[int], n_samples: int, repeats: int,
                   seed: int, device: str = "cpu", progress: bool = False) -> list[dict[str, Any]]:
    """One row per (resolution, block): NFE, the median seconds per 1000 samples over ``repeats`` timed runs
    after one warm-up, and the parameter count."""
    rows = []
    for resolution in tqdm(resolutions, disable=not progress, desc="resolutions"):
        for name, block in blocks.items():
            torch.manual_seed(seed)
            model = make_model(block, (1, resolution, resolution), {}, name).to(device)
            generate(model, min(4, n_samples), n_samples, seed)  # warm-up
            timed = [generate(model, n_samples, n_samples, seed + r)[1] for r in range(repeats)]
            seconds = sorted(t["seconds_per_sample"] for t in timed)[len(timed) // 2]
            rows.append({"resolution": resolution, "model": name, "family": block["family"],
                         "nfe": timed[0]["nfe"], "seconds_per_1000": 1000 * seconds,
                         "parameters": sum(p.numel() for p in model.parameters())})
    return rows
