"""Generation: seeded, batched, timed samples of a trained family, and the samples file figures draw from.

Evaluation (genlab.evaluation) scores what is generated here; nothing here computes a metric."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from genlab.data import Dataset
from genlab.errors import NumericsError
from genlab.families import Family


def seeded_generator(model: Family, seed: int) -> torch.Generator:
    """A generator on the model's device, so that samples do not depend on the global RNG."""
    return torch.Generator(device=model.device).manual_seed(seed)


def generate(model: Family, n: int, batch_size: int, seed: int, progress: bool = False,
             **sampler_options) -> tuple[torch.Tensor, dict[str, float]]:
    """n samples (on CPU) and their cost: network evaluations per batch and seconds per sample."""
    generator = seeded_generator(model, seed)
    model.network_evaluations = 0
    chunks, batches = [], 0
    sync = torch.cuda.synchronize if model.device.type == "cuda" else (lambda: None)
    started = time.perf_counter()
    for start in tqdm(range(0, n, batch_size), disable=not progress, desc="sampling", mininterval=2.0):
        chunks.append(model.sample(min(batch_size, n - start), generator=generator, **sampler_options).cpu())
        batches += 1
    sync()
    seconds = time.perf_counter() - started
    samples = torch.cat(chunks)
    if not torch.isfinite(samples).all():
        raise NumericsError(f"sampling with {sampler_options or 'the default sampler'} produced non-finite "
                            "values; the model or sampler settings diverged")
    return samples, {"nfe": model.network_evaluations / batches, "seconds_per_sample": seconds / n}


def samples_file(model: Family, dataset: Dataset, checkpoint: dict[str, Any], n: int,
                 seed: int) -> dict[str, np.ndarray]:
    """The arrays of results/{dataset}/{model}/samples.npz: n samples of the final weights and their NFE;
    for auto-encoders the first n test examples and their reconstructions; for runs that kept training
    snapshots (the mode-collapse figure), n samples of each snapshot's raw weights."""
    samples, cost = generate(model, n, n, seed)
    arrays = {"samples": samples.numpy(), "nfe": np.array(cost["nfe"])}
    if "reconstruct" in model.capabilities:
        originals = torch.as_tensor(dataset.x_test[:n])
        arrays.update(originals=originals.numpy(),
                      reconstructions=model.reconstruct(originals, generator=seeded_generator(model, seed)).cpu().numpy())
    snapshots = checkpoint.get("snapshots")
    if snapshots:
        final = {key: value.clone() for key, value in model.state_dict().items()}
        steps = sorted(snapshots)
        drawn = []
        for step in steps:
            model.load_state_dict(snapshots[step])
            drawn.append(generate(model, n, n, seed)[0].numpy())
        model.load_state_dict(final)  # the model leaves as it came (evaluation draws these after its metrics)
        arrays.update(snapshot_steps=np.array(steps), snapshot_samples=np.stack(drawn))
    return arrays
