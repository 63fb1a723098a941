"""The default intrinsic-dimension experiments against the score model's training budget: each (dataset, batch
size, steps) variant of the `score_ve` block trained by genlab's loop as the pipeline trains it (its seed, one
thread) and scored by the metric's own function at the pipeline's points and t0 (or at each sigma(t0) asked for:
one trained model serves them all): the median and the share of points estimated exactly, with the largest
gap and with the authors' rule on the same spectra. The evidence for the budget and t0 of `score_ve` in
params/default.yaml.

Usage: python benchmarks/id_budget.py [--datasets id_sphere ...] [--batch-sizes 256 128] [--steps 1500] [--sigmas ...]
       [--extra NAME=YAML ...] [--jobs 2] [--out benchmarks/results/id_budget]   (writes .md and .csv)"""

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

from genlab.data import make_dataset  # noqa: E402
from genlab.io import write_csv, write_text  # noqa: E402
from genlab.jobcosts import markdown_table  # noqa: E402
from genlab.methods.intrinsic_dim import dimension_from_spectrum, estimate_intrinsic_dimension, time_of_std  # noqa: E402,E501
from genlab.train import fit  # noqa: E402


def _run(params_file: str, name: str, spec: dict, batch_size: int, steps: int, sigmas: list[float] | None,
         run_dir: Path) -> dict:
    torch.set_num_threads(1)
    params = yaml.safe_load(open(params_file))
    settings = params["evaluation"]["intrinsic_dim"]
    block = copy.deepcopy(params["models"]["score_ve"])
    block["training"].update(batch_size=batch_size, steps=steps, checkpoint_every=steps)
    dataset = make_dataset(name, spec, params["seed"])
    started = time.perf_counter()
    model = fit(block, dataset, run_dir, seed=params["seed"], config=block, device=torch.device("cpu"), progress=False)
    trained = time.perf_counter() - started
    points = torch.as_tensor(dataset.x_test[: settings["n_points"]])
    truth = dataset.meta["intrinsic_dim"]
    row = {"dataset": name, "D": dataset.dim, "true": truth, "batch": batch_size, "steps": steps}
    for sigma in sigmas or [None]:  # None: the pipeline's t0
        t0 = settings["t0"] if sigma is None else time_of_std(model.sde, sigma)
        spectra = estimate_intrinsic_dimension(model.score, model.sde, points, t0, seed=params["seed"])["spectra"]
        at = "" if sigma is None else f" sigma={sigma:g}"
        for rule, skip in ((f"ours{at}", False), (f"authors' rule{at}", True)):
            estimates = torch.tensor([dimension_from_spectrum(s, skip) for s in spectra])
            row[rule] = int(estimates.median())
            row[f"{rule} exact share"] = round(float((estimates == truth).float().mean()), 2)
    row["train s (1 thread)"] = round(trained, 1)
    print(row, flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default=str(ROOT / "params/default.yaml"))
    parser.add_argument("--datasets", nargs="+", help="params datasets (default: those of figures.intrinsic_dim)")
    parser.add_argument("--extra", nargs="*", default=[], metavar="NAME=YAML",
                        help="further datasets by their block, e.g. 'blobs={kind: gaussian_blobs, ...}'")
    parser.add_argument("--batch-sizes", type=int, nargs="+", help="default: the score_ve block's")
    parser.add_argument("--steps", type=int, nargs="+", help="default: the score_ve block's")
    parser.add_argument("--sigmas", type=float, nargs="+", help="sigma(t0) values (default: the pipeline's t0)")
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel, one thread each")
    parser.add_argument("--out", help="write <out>.md and <out>.csv")
    args = parser.parse_args(argv)
    params = yaml.safe_load(open(args.params))
    names = args.datasets or list(params["figures"]["intrinsic_dim"]["runs"])
    specs = {name: params["datasets"][name] for name in names}
    for item in args.extra:
        name, _, block = item.partition("=")
        specs[name] = yaml.safe_load(block)
    training = params["models"]["score_ve"]["training"]
    runs = [(name, spec, b, s, args.sigmas) for name, spec in specs.items()
            for b in args.batch_sizes or [training["batch_size"]] for s in args.steps or [training["steps"]]]
    with tempfile.TemporaryDirectory() as scratch, ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        jobs = [pool.submit(_run, args.params, *run, Path(scratch) / str(i)) for i, run in enumerate(runs)]
        rows = [job.result() for job in jobs]
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        write_csv(out.with_suffix(".csv"), rows)
        write_text(out.with_suffix(".md"),
            "# Intrinsic dimension against the score model's training budget\n\n"
            "`python benchmarks/id_budget.py`: each row is the `score_ve` block with only its batch size and steps "
            "changed, trained by genlab's loop (one thread) and scored at the pipeline's points (and t0, or each "
            "sigma(t0) named), with the largest gap and with the authors' rule (the first gap skipped).\n\n"
            + markdown_table(list(rows[0]), [[str(v) for v in row.values()] for row in rows]) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
