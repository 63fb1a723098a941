"""Network calls in batches sized for the device. On a CPU a convolutional network's activations for a few
hundred 28x28 images stop fitting in cache: the default run's 28x28 U-Net takes 1.19 ms an image at batch 500
and 0.92 at 250, so the FID's draw of 1000 samples in batches of 500 took 60-63 s in whole calls and 42-48 s
in calls of 167, the feature net's 4000 digits 1.65 s and 0.8 s, and the intrinsic-dimension estimate's 3136
perturbations of a digit 4.9 s in calls of 1024 and 2.2 s in calls of 128 (AVX-512 EPYC, one thread). A GPU
wants large batches, and its memory bounds them."""

from __future__ import annotations

from typing import Callable

import torch

ELEMENTS_PER_CALL = {"cpu": 2**17, "cuda": 2**20}  # input numbers per network call


def rows_per_call(example: torch.Tensor) -> int:
    """Inputs shaped like ``example`` (one row) per network call on its device (at least one)."""
    return max(1, ELEMENTS_PER_CALL.get(example.device.type, ELEMENTS_PER_CALL["cpu"]) // max(1, example.numel()))


def in_calls_of(rows: int, fn: Callable[..., torch.Tensor], x: torch.Tensor, *args) -> torch.Tensor:
    """fn(x, *args) in calls of ``rows`` rows of x, the arguments with a row per x row cut alike and the
    others passed whole; the outputs concatenated."""
    if len(x) <= rows:
        return fn(x, *args)

    def cut(arg, start: int):
        per_row = isinstance(arg, torch.Tensor) and arg.ndim > 0 and len(arg) == len(x)
        return arg[start:start + rows] if per_row else arg

    return torch.cat([fn(x[i:i + rows], *(cut(arg, i) for arg in args)) for i in range(0, len(x), rows)])


def in_cpu_sized_calls(fn: Callable[..., torch.Tensor], x: torch.Tensor, *args) -> torch.Tensor:
    """fn(x, *args) for a network that treats each row alone, on a CPU without gradients in calls of
    rows_per_call rows (in_calls_of); on a GPU, or where gradients flow (training, the likelihood's trace),
    one call. The networks here have no batch statistics at evaluation, so the rows come out the same either
    way, to float32's last bits (a smaller batch may take another convolution algorithm; the default run's
    28x28 draws and FIDs came out bitwise equal)."""
    if x.device.type != "cpu" or torch.is_grad_enabled():
        return fn(x, *args)
    return in_calls_of(rows_per_call(x[0]), fn, x, *args)
