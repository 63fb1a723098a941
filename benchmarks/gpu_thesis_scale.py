"""Thesis-scale throughput on a GPU (run it where one is present; it refuses to run on CPU).

For each thesis-scale diffusion network of params/thesis.yaml and an input of the dataset's shape:
training steps/s (fp32 and bf16 autocast, measured side by side in one run, so the ratio is meaningful),
sampling seconds per 1000 samples at a fixed NFE (DDIM, 100 steps), and the projected wall time of the
configured number of training steps. Prints a Markdown table (benchmarks/results/gpu_thesis_scale.md
holds the numbers measured on the lent H100)."""

from __future__ import annotations

import argparse
import time

import torch

from genlab import config as cfg
from genlab.families import make_model
from genlab.config import REPO_ROOT

SHAPES = {"digits": (1, 8, 8), "mnist": (1, 28, 28), "cifar10": (3, 32, 32)}


def training_rate(model, batch_size, shape, bf16, seconds):
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.rand(batch_size, *shape, device="cuda") * 2 - 1

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
            loss = model.loss({"x": x, "y": None})["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(5):
        step()
    torch.cuda.synchronize()
    steps, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        step()
        steps += 1
    torch.cuda.synchronize()
    return steps / (time.perf_counter() - started)


@torch.no_grad()
def sampling_seconds_per_1000(model, n, bf16):
    model.eval()
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
        model.sample(16, name="ddim", steps=10)
        torch.cuda.synchronize()
        started = time.perf_counter()
        model.sample(n, name="ddim", steps=100)
        torch.cuda.synchronize()
    model.train()
    return 1000 * (time.perf_counter() - started) / n


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0, help="measuring time per configuration")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no GPU visible: this benchmark measures the thesis-scale configs on CUDA")
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    params = cfg.load_params(REPO_ROOT / "params" / "thesis.yaml")
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}\n")
    print("| experiment | parameters | batch | steps/s fp32 | steps/s bf16 | bf16/fp32 | "
          "s/1000 samples (DDIM-100, bf16) | configured steps | projected training (h, bf16) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for exp in params["experiments"]:
        model_cfg = params["models"][exp["model"]]
        if model_cfg["family"] != "diffusion" or exp["dataset"] not in SHAPES:
            continue
        shape = SHAPES[exp["dataset"]]
        torch.manual_seed(0)
        model = make_model(model_cfg, shape, {}).cuda()
        batch = model_cfg["training"]["batch_size"]
        fp32 = training_rate(model, batch, shape, False, args.seconds)
        bf16 = training_rate(model, batch, shape, True, args.seconds)
        sampling = sampling_seconds_per_1000(model, 1000, True)
        steps = model_cfg["training"]["steps"]
        params_count = sum(p.numel() for p in model.parameters())
        print(f"| {exp['dataset']}/{exp['model']} | {params_count / 1e6:.1f} M | {batch} | {fp32:.1f} | "
              f"{bf16:.1f} | {bf16 / fp32:.2f} | {sampling:.2f} | {steps} | {steps / bf16 / 3600:.2f} |",
              flush=True)
        del model
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
