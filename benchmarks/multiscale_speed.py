"""Sampling speed-up of multi-scale over uniform diffusion at the authors' scale of design, on this machine:
params/thesis.yaml's two chapter-4 blocks (3 Haar levels, U-Net width 64 with 4 levels and attention, DDIM 128
steps) timed with untrained weights at each image side (`genlab.analysis.sampling_speed`, as the default run's
speed study, whose blocks are smaller). The paper reports 4.4x at 128x128 (GPU, its own U-Nets).

Usage: python benchmarks/multiscale_speed.py [--resolutions 32 64 128] [--samples 4] [--repeats 1]
       [--out benchmarks/results/multiscale_speed]   (writes .md and .csv)"""

from __future__ import annotations

import argparse
import time

import pandas as pd
import torch

from genlab.analysis.sampling_speed import sampling_speed
from genlab.io import write_csv, write_text
from genlab.jobcosts import markdown_table
from genlab.tables import speedup_table
from genlab.validation import load_params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", default="params/thesis.yaml")
    parser.add_argument("--models", nargs=2, default=["diffusion_unet", "multiscale"])
    parser.add_argument("--resolutions", nargs="+", type=int, default=[32, 64, 128])
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out")
    args = parser.parse_args()
    torch.set_num_threads(1)  # one thread, as the timings of the pipeline's CPU jobs
    params = load_params(args.params)
    blocks = {name: params["models"][name] for name in args.models}
    started = time.strftime("%Y-%m-%d %H:%M")
    rows = sampling_speed(blocks, args.resolutions, args.samples, args.repeats, params["seed"], progress=True)
    table = speedup_table(pd.DataFrame(rows))
    text = markdown_table(list(table.columns), [[f"{v:.4g}" if isinstance(v, float) else str(v) for v in row]
                                                for row in table.itertuples(index=False)])
    header = (f"{args.params}: {' and '.join(args.models)}, {args.samples} samples per timed run, {args.repeats} "
              f"timed run(s) after a warm-up, one CPU thread, {started}")
    print(header)
    print(text)
    if args.out:
        write_csv(f"{args.out}.csv", rows)
        write_text(f"{args.out}.md", f"# Multi-scale sampling speed-up at the authors' design\n\n{header}\n\n"
                                     f"{text}\n")


if __name__ == "__main__":
    main()
