"""The pullback flows' geodesic error against their training budget (and, for the river, the authors' own
4-layer lr-3e-4 setting against the shared 2-layer block): the evidence for the step count of the
`pullback` blocks in params/default.yaml. Each run is the default block with only the named fields changed,
trained by genlab's loop (seeded as the pipeline seeds it) and scored by the `geodesic` metric's own function.

Usage: python benchmarks/pullback_budget.py [--steps 2000 5000] [--models pullback pullback_plain] [--datasets ...]
       [--out benchmarks/results/pullback_budget]   [--jobs 2]  (writes .md and .csv; one thread per run)"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from genlab.config import experiment  # noqa: E402
from genlab.data import make_dataset  # noqa: E402
from genlab.evaluation.geometry import geodesic_errors  # noqa: E402
from genlab.io import write_csv, write_text  # noqa: E402
from genlab.jobcosts import markdown_table  # noqa: E402
from genlab.train import fit  # noqa: E402

DATASETS = ["banana_single", "banana_squeezed", "banana_river"]
RIVER_AUTHORS = {"transforms": 4, "lr": 3.0e-4}  # configs/river/*.py of the authors' repository


def _run(params_file: str, run: tuple, run_dir: Path) -> dict:
    """Train one variant of a default block (one thread) and score its geodesics."""
    torch.set_num_threads(1)
    name, model_name, steps, change = run
    params = yaml.safe_load(open(params_file))
    settings = params["evaluation"]["geodesic"]
    exp = experiment(params, name, model_name)
    block = copy.deepcopy(exp.model)
    block["training"]["steps"] = steps
    block["training"]["checkpoint_every"] = steps
    if change:
        block["transforms"] = change["transforms"]
        block["training"]["lr"] = change["lr"]
    dataset = make_dataset(name, exp.dataset, exp.seed)
    started = time.perf_counter()
    model = fit(block, dataset, run_dir, seed=exp.seed, config=block, device=torch.device("cpu"), progress=False)
    row = {"dataset": name, "model": model_name, "steps": steps, "layers": block["transforms"],
           "lr": block["training"]["lr"],
           "geodesic error": round(geodesic_errors(model, dataset, settings, exp.seed)["geodesic_error"], 4),
           "train seconds (1 thread)": round(time.perf_counter() - started, 1)}
    print(row, flush=True)
    return row


def _shown(path: str) -> str:
    resolved = Path(path).resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default=str(ROOT / "params/default.yaml"))
    parser.add_argument("--steps", type=int, nargs="+", default=[2000, 5000])
    parser.add_argument("--models", nargs="+", default=["pullback", "pullback_plain"])
    parser.add_argument("--datasets", nargs="+", default=DATASETS, choices=DATASETS)
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel, one thread each")
    parser.add_argument("--out", help="write <out>.md and <out>.csv")
    args = parser.parse_args(argv)
    runs = [(d, m, steps, {}) for d in args.datasets for m in args.models for steps in args.steps]
    if "banana_river" in args.datasets:
        runs += [("banana_river", m, max(args.steps), RIVER_AUTHORS) for m in args.models]
    with tempfile.TemporaryDirectory() as scratch, ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        jobs = [pool.submit(_run, args.params, run, Path(scratch) / str(i)) for i, run in enumerate(runs)]
        rows = [job.result() for job in jobs]  # in the order of `runs`; each run is seeded on its own
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        write_csv(out.with_suffix(".csv"), rows)
        write_text(out.with_suffix(".md"),
            "# Pullback flows: geodesic error against the training budget\n\n"
            f"`python benchmarks/pullback_budget.py` on {_shown(args.params)}: each row is the block with only the "
            "named fields changed, trained by genlab's loop and scored like the `geodesic` metric.\n\n"
            + markdown_table(list(rows[0]), [[str(v) for v in row.values()] for row in rows]) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
