"""The optimizer's share of a training step, foreach against fused AdamW, side by side in one process on one
thread (issue 18's lever of 2026-11-28: genlab.train.adamw went from foreach to fused).

For each experiment: the block's model and batch, `--steps` steps of loss, backward and update with each form
of the same AdamW (fused, then foreach, then fused, then foreach; medians), the first few of each run left
out as warm-up. Reports milliseconds of loss + backward, of the update in each form, and the share of the step
the update took before and after. The parameters move by the block's real learning rate; the numbers are
times, not a training result.

Usage: python benchmarks/optimizer_step.py [--params params/default.yaml] [--only digits/vae ...] [--steps 30]
       [--out benchmarks/results/fused_adamw]   (writes .md and .csv)"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from genlab.jobcosts import write_table
from genlab.train import AdamW
from genlab.validation import load_params
from trainer_overhead import fresh_model, trained_experiments  # the same experiments, models and seeds

WARMUP = 5


def timed_steps(model, batch: dict, training: dict, form: str, steps: int) -> tuple[float, float]:
    """Median milliseconds of (loss + backward, update) over ``steps`` steps after the warm-up."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = AdamW(params, lr=training["lr"], weight_decay=training["weight_decay"],
                      betas=tuple(training.get("betas", (0.9, 0.999))), **{form: True})
    forward, update = [], []
    for step in range(WARMUP + steps):
        started = time.perf_counter()
        loss = model.loss({**batch, "step": step})["loss"]  # as the trainer: GANs take turns on it
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        middle = time.perf_counter()
        optimizer.step()
        if step >= WARMUP:
            forward.append(middle - started)
            update.append(time.perf_counter() - middle)
    return 1000 * statistics.median(forward), 1000 * statistics.median(update)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params/default.yaml")
    parser.add_argument("--only", nargs="*", help="experiments dataset/model (default: all that train)")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--out", help="write <out>.md and <out>.csv")
    args = parser.parse_args()
    torch.set_num_threads(1)
    params = load_params(args.params)
    rows = []
    for exp, dataset in trained_experiments(params, args.only):
        model = fresh_model(exp, dataset)
        x = torch.as_tensor(dataset.x_train)
        model.initialize(x)
        if not any(p.requires_grad for p in model.parameters()):
            continue
        size = exp.training["batch_size"]
        batch = {"x": x[:size], "y": None if dataset.y_train is None else torch.as_tensor(dataset.y_train[:size])}
        model.train()
        runs = {"fused": [], "foreach": []}
        for form in ("fused", "foreach", "fused", "foreach"):
            runs[form].append(timed_steps(model, batch, exp.training, form, args.steps))
        loss_ms = statistics.median(run[0] for form in runs for run in runs[form])
        foreach_ms = statistics.median(run[1] for run in runs["foreach"])
        fused_ms = statistics.median(run[1] for run in runs["fused"])
        rows.append({"experiment": exp.name, "tensors": sum(p.requires_grad for p in model.parameters()),
                     "parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
                     "loss_backward_ms": round(loss_ms, 2), "foreach_update_ms": round(foreach_ms, 2),
                     "fused_update_ms": round(fused_ms, 2),
                     "foreach_share_percent": round(100 * foreach_ms / (loss_ms + foreach_ms), 1),
                     "fused_share_percent": round(100 * fused_ms / (loss_ms + fused_ms), 1),
                     "step_saved_percent": round(100 * (foreach_ms - fused_ms) / (loss_ms + foreach_ms), 1)})
        print(rows[-1], flush=True)
    saved = statistics.median(row["step_saved_percent"] for row in rows) if rows else float("nan")
    title = (f"{len(rows)} experiments; {args.steps} steps per run after {WARMUP} of warm-up, two runs of each form "
             f"alternating, medians; one thread; median step time saved by the fused update {saved:.1f}%")
    if args.out:
        write_table(args.out, "Fused against foreach AdamW: the update's share of a training step", title, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
