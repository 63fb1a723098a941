"""The training loop's cost over a bare PyTorch loop, for every experiment of a params file (default: the
embedded default), on one thread, side by side in one process (this machine is noisy: the ratio is the result).

Both loops train the same family on the same data with the same batch size, optimizer (genlab.train.adamw, with
the block's gradient clipping) and batch sampling (indices and dequantisation noise from one generator):
- bare: loss, backward, clip, step; nothing else;
- genlab: `genlab.train.train` as the pipeline runs it: EMA, learning-rate warm-up, NaN guard, log rows,
  snapshots and state checkpoints at the block's own frequencies. Early stopping is off in both: its
  validation passes are model selection the method asks for, not loop overhead.
Each run is as long as the block's checkpoint interval (capped by --steps and its total steps), so a periodic
checkpoint is in the measured loop. The loop is timed twice: wall-clock (the trainer's own `train_time_s`) and
CPU seconds of the one thread (`loop_cpu_s`). The verdict is on CPU time: on this VM the wall clock of the
same loop drifts by tens of percent between runs minutes apart (steal time, neighbours), while the thread's
CPU time counts only the work done; the wall-clock ratio is printed beside it. The fixed costs outside the
loop (EMA copy, the final checkpoint and log) are measured too and amortised over the block's real number
of steps. Runs alternate bare, genlab, genlab, bare after a warm-up of each; medians are compared.

Usage: python benchmarks/trainer_overhead.py [--params params/default.yaml] [--steps 2000] [--repeats 2]
       [--only digits/vae ...] [--out benchmarks/results/trainer_overhead]   (writes .md and .csv)"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time

import torch

from genlab import config as cfg
from genlab.data import make_dataset
from genlab.families import make_model
from genlab.jobcosts import write_table
from genlab.train import adamw, seed_everything, train
from genlab.validation import load_params


def measured_training(training: dict, steps: int) -> dict:
    """The block's training settings for a run of `steps` steps: every per-step setting as in the real run;
    no early stopping and no live sample grids (model selection and pictures asked for, not loop overhead)."""
    return {**training, "steps": steps, "early_stopping": None, "sample_every": None}


def bare_step(model, dataset, training: dict, seed: int, device: torch.device = torch.device("cpu"),
              autocast: bool | None = None, channels_last: bool = False):
    """One step of the bare loop as a function of the step index: a batch of indices (and dequantisation noise)
    from one generator, the loss (under bf16 autocast: by default on CUDA where the block asks for it, as the
    trainer runs it there), backward, the block's gradient clipping, the optimizer step. ``channels_last``
    puts the model's weights and the data in that memory format (benchmarks/compute_floor.py)."""
    x_train = torch.as_tensor(dataset.x_train)
    y_train = torch.as_tensor(dataset.y_train) if dataset.y_train is not None else None
    bin_width = dataset.bin_width if training["dequantize"] else None
    model.initialize(x_train)
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
        x_train = x_train.contiguous(memory_format=torch.channels_last)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = adamw(params, training)
    generator = torch.Generator().manual_seed(seed + 1)
    if autocast is None:
        autocast = device.type == "cuda" and training["mixed_precision"] == "bf16"
    model.train()

    def step(index: int) -> None:
        idx = torch.randint(len(x_train), (training["batch_size"],), generator=generator)
        x = x_train[idx]
        if bin_width is not None:
            x = x + bin_width * (torch.rand(x.shape, generator=generator) - 0.5)
        y = y_train[idx].to(device) if y_train is not None else None
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            loss = model.loss({"x": x.to(device), "y": y, "step": index})["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if training["grad_clip"] > 0:
            torch.nn.utils.clip_grad_norm_(params, training["grad_clip"])
        optimizer.step()
    return step


def bare_loop(model, dataset, training: dict, seed: int,
              device: torch.device = torch.device("cpu")) -> tuple[float, float]:
    """(wall-clock, CPU) seconds of the bare loop (setup excluded, as the trainer's train_time_s excludes its
    own); on CUDA with the block's bf16 autocast, as the trainer runs it there."""
    step = bare_step(model, dataset, training, seed, device)
    started, started_cpu = time.perf_counter(), time.thread_time()
    for index in range(training["steps"]):
        step(index)
    if device.type == "cuda":
        torch.cuda.synchronize()  # the queued kernels are part of the loop's time
    return time.perf_counter() - started, time.thread_time() - started_cpu


def genlab_loop(model, dataset, training: dict, seed: int, exp,
                device: torch.device = torch.device("cpu")) -> tuple[float, float, float]:
    """(wall-clock seconds in the loop, CPU seconds in the loop, wall-clock seconds outside it) of
    genlab.train.train."""
    with tempfile.TemporaryDirectory() as run_dir:
        started = time.perf_counter()
        summary = train(model, dataset, training, run_dir, seed=seed, config_hash=exp.hash, config=exp.resolved(),
                        device=device, progress=False)
        return (summary["train_time_s"], summary["loop_cpu_s"],
                time.perf_counter() - started - summary["train_time_s"])


def trained_experiments(params: dict, only: list[str] | None = None):
    """(experiment, dataset) for each experiment of ``params`` that trains (``only``: just these names), each
    dataset built once."""
    datasets = {}
    for e in params["experiments"]:
        exp = cfg.experiment(params, e["dataset"], e["model"])
        if exp.training["steps"] == 0 or (only and exp.name not in only):
            continue
        if exp.dataset_name not in datasets:
            datasets[exp.dataset_name] = make_dataset(exp.dataset_name, exp.dataset, params["seed"])
        yield exp, datasets[exp.dataset_name]


def fresh_model(exp, dataset):
    seed_everything(exp.seed)
    return make_model(exp.model, dataset.example_shape, dataset.meta)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params/default.yaml")
    parser.add_argument("--steps", type=int, default=2000, help="the longest measured run")
    parser.add_argument("--repeats", type=int, default=2, help="pairs of alternating runs")
    parser.add_argument("--only", nargs="*", help="experiments dataset/model (default: all that train)")
    parser.add_argument("--out", help="write <out>.md and <out>.csv")
    args = parser.parse_args()
    torch.set_num_threads(1)
    params = load_params(args.params)
    rows = []
    for exp, dataset in trained_experiments(params, args.only):
        steps = min(args.steps, exp.training["steps"], exp.training["checkpoint_every"])
        training = measured_training(exp.training, steps)
        warm = measured_training(exp.training, min(steps, 20))
        bare_loop(fresh_model(exp, dataset), dataset, warm, exp.seed)
        genlab_loop(fresh_model(exp, dataset), dataset, warm, exp.seed, exp)
        bare, ours, fixed = [], [], []
        for repeat in range(2 * args.repeats):
            for kind in (("bare", "genlab") if repeat % 2 == 0 else ("genlab", "bare")):
                if kind == "bare":
                    bare.append(bare_loop(fresh_model(exp, dataset), dataset, training, exp.seed))
                else:
                    wall, cpu, outside = genlab_loop(fresh_model(exp, dataset), dataset, training, exp.seed, exp)
                    ours.append((wall, cpu))
                    fixed.append(outside)
        (b_wall, b_cpu), (o_wall, o_cpu) = ([statistics.median(t[i] for t in runs) for i in (0, 1)]
                                            for runs in (bare, ours))
        f = statistics.median(fixed)
        loop_overhead = 100 * (o_cpu / b_cpu - 1)
        real = exp.training["steps"] * b_cpu / steps  # the real run's bare seconds
        rows.append({"experiment": exp.name, "steps": steps, "bare_ms_per_step": round(1000 * b_cpu / steps, 3),
                     "genlab_ms_per_step": round(1000 * o_cpu / steps, 3), "loop_overhead_percent": round(loop_overhead, 1),
                     "wall_overhead_percent": round(100 * (o_wall / b_wall - 1), 1), "fixed_s": round(f, 3),
                     "overhead_percent": round(loop_overhead + 100 * f / real, 1)})
        row = rows[-1]
        print(f"{exp.name:40s} bare {row['bare_ms_per_step']:8.3f} ms/step  genlab {row['genlab_ms_per_step']:8.3f} "
              f"ms/step (CPU)  loop {row['loop_overhead_percent']:+6.1f}% (wall {row['wall_overhead_percent']:+6.1f}%)"
              f"  fixed {f:6.2f} s  over the real run {row['overhead_percent']:+6.1f}%", flush=True)
    worst = max(rows, key=lambda r: r["overhead_percent"])
    summary = (f"{len(rows)} experiments; each run as long as its checkpoint interval (at most {args.steps} steps); "
               f"medians of {2 * args.repeats} alternating runs; one thread; CPU time of the loop (ms per step), "
               f"the wall-clock ratio beside it; largest overhead over the real run "
               f"{worst['overhead_percent']:+.1f}% ({worst['experiment']})")
    print(summary)
    if args.out:
        write_table(args.out, "Trainer overhead against a bare loop", summary, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
