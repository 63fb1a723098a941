"""The score-spectrum intrinsic-dimension estimator on scikit-dimension's 24 benchmark manifolds (Hein et al.,
Campadelli et al.; skdim.datasets.BenchmarkManifolds), beside the scikit-dimension baselines on the same points.

Each manifold: n + held-out points drawn by BenchmarkManifolds(random_state=0).generate(n=n + held_out), centred
and scaled to unit RMS (one factor for all coordinates, so shapes are kept); the baselines see the first n, the
score model (the params file's `score_ve` block, trained by genlab's loop with the pipeline's seed) trains on
them, and our estimate is the median over the held-out points of the spectrum's dimension at each sigma(t0)
asked for (one trained model serves every sigma: t0 is an evaluation setting), with the largest gap and with the
authors' rule ("skip1": the first gap is no candidate). The settings are one for all manifolds; the table gives each estimator's mean absolute error over the 24.

Usage: python benchmarks/id_manifolds.py [--sigmas 0.05 0.1] [--steps 1500] [--manifolds M1_Sphere ...]
       [--jobs 2] [--out benchmarks/results/id_manifolds]   (writes .md and .csv; one thread per manifold)"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from genlab.data.dataset import Dataset  # noqa: E402
from genlab.io import write_csv, write_text  # noqa: E402
from genlab.jobcosts import markdown_table  # noqa: E402
from genlab.methods.intrinsic_dim import dimension_from_spectrum, estimate_intrinsic_dimension, time_of_std  # noqa: E402,E501
from genlab.metrics.id_baselines import BASELINES, run_baselines  # noqa: E402
from genlab.train import fit  # noqa: E402

RULES = {"": False, " skip1": True}  # the largest gap; the authors' rule, the first gap skipped


def manifolds(n: int, seed: int = 0) -> dict[str, tuple[np.ndarray, int]]:
    """name -> (points (n, D) at unit RMS, true dimension), in scikit-dimension's order."""
    from skdim.datasets import BenchmarkManifolds
    bench = BenchmarkManifolds(random_state=seed)
    data = bench.generate(n=n)
    out = {}
    for name, x in data.items():
        x = np.asarray(x, dtype=np.float64)
        x = x - x.mean(0)
        out[name] = (x / np.sqrt((x**2).mean()), int(bench.truth.loc[name, "Intrinsic Dimension"]))
    return out


def _run(params_file: str, name: str, x: np.ndarray, truth: int, n: int, steps: int | None, sigmas: list[float],
         n_points: int, baselines: list[str], run_dir: Path) -> dict:
    """Train the score model on one manifold (one thread), estimate at every sigma, run the baselines."""
    torch.set_num_threads(1)
    params = yaml.safe_load(open(params_file))
    block = copy.deepcopy(params["models"]["score_ve"])
    if steps:
        block["training"]["steps"] = steps
    block["training"]["checkpoint_every"] = block["training"]["steps"]
    seed = params["seed"]
    x = x.astype(np.float32)
    dataset = Dataset(x[:n], x[n:], meta={"name": name, "intrinsic_dim": truth}).validate(name)
    started = time.perf_counter()
    model = fit(block, dataset, run_dir, seed=seed, config={"data": name, "model": block}, device=torch.device("cpu"),
                progress=False)
    trained = time.perf_counter()
    row: dict = {"manifold": name, "D": x.shape[1], "true": truth}
    points = torch.as_tensor(dataset.x_test[:n_points])
    for sigma in sigmas:
        spectra = estimate_intrinsic_dimension(model.score, model.sde, points, time_of_std(model.sde, sigma),
                                               seed=seed)["spectra"]
        for rule, skip in RULES.items():  # both gap rules on the same spectra
            estimates = torch.tensor([dimension_from_spectrum(s, skip) for s in spectra])
            row[f"ours{rule} sigma={sigma:g}"] = int(estimates.median())
            row[f"ours{rule} sigma={sigma:g} exact share"] = round(float((estimates == truth).float().mean()), 2)
    estimated = time.perf_counter()
    row.update({key: (None if value is None else round(value, 2))
                for key, value in run_baselines(dataset.x_train, baselines, seed, max_points={}).items()})
    row.update({"train s": round(trained - started, 1), "estimate s": round(estimated - trained, 1),
                "baselines s": round(time.perf_counter() - estimated, 1)})
    print({k: v for k, v in row.items() if "share" not in k}, flush=True)
    return row


def error_rows(rows: list[dict], estimators: list[str]) -> dict[str, float]:
    """Each estimator's mean absolute error over the manifolds (a failed baseline counts as D's error)."""
    errors = {}
    for estimator in estimators:
        values = [abs((row[estimator] if row[estimator] is not None else row["D"]) - row["true"]) for row in rows]
        errors[estimator] = round(sum(values) / len(values), 2)
    return errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default=str(ROOT / "params/default.yaml"))
    parser.add_argument("--n", type=int, default=2500, help="points per manifold (the baselines' and the training set)")
    parser.add_argument("--held-out", type=int, default=50, help="points at which our estimate is taken")
    parser.add_argument("--steps", type=int, help="training steps (default: the score_ve block's)")
    parser.add_argument("--sigmas", type=float, nargs="+", default=[0.02, 0.05, 0.1, 0.2])
    parser.add_argument("--baselines", nargs="+", default=list(BASELINES))
    parser.add_argument("--manifolds", nargs="+", help="a subset of the 24 (default: all)")
    parser.add_argument("--jobs", type=int, default=1, help="manifolds in parallel, one thread each")
    parser.add_argument("--out", help="write <out>.md and <out>.csv")
    args = parser.parse_args(argv)
    data = manifolds(args.n + args.held_out)
    names = args.manifolds or list(data)
    unknown = sorted(set(names) - set(data))
    if unknown:
        parser.error(f"unknown manifolds {unknown}; the benchmark has {list(data)}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch, ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        jobs = [pool.submit(_run, args.params, name, *data[name], args.n, args.steps, args.sigmas, args.held_out,
                            args.baselines, Path(scratch) / name) for name in names]
        rows = [job.result() for job in jobs]
    wall = time.perf_counter() - started
    estimators = [f"ours{rule} sigma={s:g}" for rule in RULES for s in args.sigmas] + args.baselines
    errors = error_rows(rows, estimators)
    for estimator, value in errors.items():
        print(f"mean absolute error {estimator}: {value}")
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        write_csv(out.with_suffix(".csv"), [*rows, {"manifold": "mean absolute error", **errors}])
        shown = ["manifold", "D", "true", *estimators]
        table = [[str(row[k]) for k in shown] for row in rows]
        table.append(["**mean absolute error**", "", "", *[f"**{errors[e]}**" for e in estimators]])
        steps = args.steps or yaml.safe_load(open(args.params))["models"]["score_ve"]["training"]["steps"]
        write_text(out.with_suffix(".md"),
            "# Intrinsic dimension on scikit-dimension's 24 benchmark manifolds\n\n"
            f"`python benchmarks/id_manifolds.py` with n = {args.n} points per manifold (random_state 0, centred, "
            f"unit RMS), the `score_ve` block trained {steps} steps on them, our estimate the median over "
            f"{args.held_out} held-out points at each sigma(t0); the baselines on the same {args.n} points "
            f"(all of them: no subsampling). Wall time {wall / 60:.1f} min with {args.jobs} process(es).\n\n"
            + markdown_table(shown, table) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
