"""How close the default models' training steps run to this processor's arithmetic peak, and what the two
remaining ways to run the same steps faster (bf16 autocast, channels-last memory) would buy: the measurement
behind the speed issue's conclusion that what is left of the default run's cost is its training budgets.

For each experiment (default: those whose training costs at least --min-seconds on this machine, measured
here), one thread, after a warm-up of its own:
- ms per training step (CPU time) as the pipeline runs it (float32, contiguous; trainer_overhead.py's
  bare step: batch, dequantisation, loss, backward, clipping, AdamW);
- the share of that time inside the dense kernels (GEMMs and convolutions, forward and backward: the
  profiler's self time of aten::mm / addmm / bmm / baddbmm / mkldnn_convolution / convolution_backward...)
  and their achieved GFLOP/s against this processor's float32 GEMM peak measured here (512^3, one thread):
  a kernel at its peak is sped up only by doing less arithmetic;
- the same steps under CPU bf16 autocast (which changes the numbers; the peak of a bf16 GEMM is measured
  too), and for convolutional models with channels-last weights and inputs;
- the whole run's steps times the step: the loop's floor at today's settings (an upper bound where the block
  stops early on a validation split).

Usage: python benchmarks/compute_floor.py [--params params/default.yaml] [--only digits/vae ...]
       [--min-seconds 30] [--steps 20] [--out benchmarks/results/compute_floor]   (writes .md and .csv)"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

sys.path.insert(0, __import__("os").path.dirname(__file__))
from trainer_overhead import bare_step, fresh_model, trained_experiments  # noqa: E402

from genlab.jobcosts import write_table  # noqa: E402
from genlab.validation import load_params  # noqa: E402

GEMMS = {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm"}
CONVOLUTIONS = {"aten::mkldnn_convolution", "aten::convolution_backward", "aten::_slow_conv2d_forward",
                "aten::_slow_conv2d_backward", "aten::mkldnn_convolution_backward"}


def gemm_peak(dtype: torch.dtype, n: int = 512, repeats: int = 40) -> float:
    """GFLOP/s of one thread's n x n x n GEMM (best of three timings)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(5):
        a @ b
    best = float("inf")
    for _ in range(3):
        started = time.thread_time()
        for _ in range(repeats):
            a @ b
        best = min(best, (time.thread_time() - started) / repeats)
    return 2 * n ** 3 / best / 1e9


def is_convolutional(model: torch.nn.Module) -> bool:
    return any(isinstance(m, torch.nn.Conv2d) for m in model.modules())


def stepper(exp, dataset, autocast: bool = False, channels_last: bool = False):
    """A fresh model of ``exp`` and a function running one training step of it as the bare loop of
    trainer_overhead.py does (the pipeline's batch, dequantisation, clipping and AdamW), on the CPU."""
    model = fresh_model(exp, dataset)
    return model, bare_step(model, dataset, exp.training, exp.seed, autocast=autocast, channels_last=channels_last)


def ms_per_step(step, steps: int, warmup: int = 3) -> float:
    for i in range(warmup):
        step(i)
    started = time.thread_time()
    for i in range(steps):
        step(warmup + i)
    return 1000 * (time.thread_time() - started) / steps


def kernel_shares(step, steps: int) -> dict[str, float | None]:
    """The GEMMs' and convolutions' shares of the profiled steps' CPU time and their achieved GFLOP/s. The
    profiler counts a convolution's FLOPs on aten::conv2d (forward only); its backward is taken as twice them
    (the gradients of input and weights), an upper bound where the first layer's input needs no gradient."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], with_flops=True) as prof:
        for i in range(steps):
            step(i)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    gemm = [e for e in events if e.key in GEMMS]
    gemm_us = sum(e.self_cpu_time_total for e in gemm)
    conv_us = sum(e.self_cpu_time_total for e in events if e.key in CONVOLUTIONS)
    gemm_flops = sum(e.flops or 0 for e in gemm)
    conv_flops = 3 * sum(e.flops or 0 for e in events if e.key == "aten::conv2d")
    rate = lambda flops, us: flops / (us * 1e3) if us and flops else None  # noqa: E731
    return {"gemm_share": gemm_us / total, "conv_share": conv_us / total, "gemm_gflops": rate(gemm_flops, gemm_us),
            "conv_gflops": rate(conv_flops, conv_us)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params/default.yaml")
    parser.add_argument("--only", nargs="*", help="experiments dataset/model (default: the costly ones)")
    parser.add_argument("--min-seconds", type=float, default=30.0,
                        help="without --only: experiments whose whole training takes at least this long here")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per measurement")
    parser.add_argument("--repeats", type=int, default=2, help="alternating measurements of each variant")
    parser.add_argument("--out", help="write <out>.md and <out>.csv")
    args = parser.parse_args()
    torch.set_num_threads(1)
    peak32, peak16 = gemm_peak(torch.float32), gemm_peak(torch.bfloat16)
    print(f"one thread's GEMM peak: float32 {peak32:.0f} GFLOP/s, bf16 {peak16:.0f} GFLOP/s", flush=True)
    rows = []
    for exp, dataset in trained_experiments(load_params(args.params), args.only):
        model, step = stepper(exp, dataset)
        probe = ms_per_step(step, 3, warmup=2)
        run_s = probe * exp.training["steps"] / 1000
        if not args.only and run_s < args.min_seconds:
            continue
        variants = {"fp32": {}, "bf16": {"autocast": True}}
        if is_convolutional(model):
            variants["channels_last"] = {"channels_last": True}
        times: dict[str, list[float]] = {name: [] for name in variants}
        for repeat in range(args.repeats):
            for name in (list(variants) if repeat % 2 == 0 else list(reversed(variants))):
                times[name].append(ms_per_step(stepper(exp, dataset, **variants[name])[1], args.steps))
        ms = {name: statistics.median(t) for name, t in times.items()}
        kernels = kernel_shares(stepper(exp, dataset)[1], max(5, args.steps // 2))
        row = {"experiment": exp.name, "steps": exp.training["steps"],
               "early_stopping": bool(exp.training.get("early_stopping")), "batch": exp.training["batch_size"],
               "ms_per_step": round(ms["fp32"], 2), "loop_floor_s": round(ms["fp32"] * exp.training["steps"] / 1000, 1),
               "gemm_share": round(kernels["gemm_share"], 2), "conv_share": round(kernels["conv_share"], 2),
               **{f"{kind}_of_peak": (round(kernels[f"{kind}_gflops"] / peak32, 2)
                                      if kernels[f"{kind}_gflops"] is not None else None) for kind in ("gemm", "conv")},
               "bf16_speedup": round(ms["fp32"] / ms["bf16"], 2),
               "channels_last_speedup": round(ms["fp32"] / ms["channels_last"], 2) if "channels_last" in ms else None}
        rows.append(row)
        print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    dense = sum(r["loop_floor_s"] * (r["gemm_share"] + r["conv_share"]) for r in rows)
    floor = sum(r["loop_floor_s"] for r in rows)
    summary = (f"One thread of this machine ({torch.backends.cpu.get_cpu_capability()}): a 512^3 GEMM runs at "
               f"{peak32:.0f} GFLOP/s in float32 and {peak16:.0f} in bf16. {len(rows)} experiments, "
               f"{floor:.0f} s of training loops at today's steps; {100 * dense / floor:.0f}% of that is inside "
               f"GEMM and convolution kernels. Steps: CPU time, median of {args.repeats} alternating runs of "
               f"{args.steps} steps after a warm-up; kernel shares from torch.profiler's self time; "
               f"gemm_of_peak, conv_of_peak = the kernels' achieved GFLOP/s over the float32 GEMM peak (a convolution's "
               f"backward counted as twice its forward); empty where the model has none. bf16 autocast and channels-last "
               f"change the float operations (not bit-identical).")
    print(summary)
    if args.out:
        write_table(args.out, "The training loops against this processor's peak", summary, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
