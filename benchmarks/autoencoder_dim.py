"""The auto-encoder check's settings (figures.autoencoder_dim in params/default.yaml) against alternatives, on
the default run's Gaussian blobs (10 bumps at fixed pixels, random widths, each image min-max scaled; true
dimension 10) and on the same blobs without the per-image min-max scaling (`scaling: global`: the sums
divided by one number, a smooth 10-dimensional manifold), and the batched training against one size at a time (seconds).

Each variant: genlab.analysis.autoencoder_dim.reconstruction_errors at the pipeline's seed, one thread; the
held-out error relative to the data's variance per latent size and the knee.

Usage: python benchmarks/autoencoder_dim.py [--jobs 2] [--out benchmarks/results/autoencoder_dim]"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from genlab.analysis.autoencoder_dim import knee_of, reconstruction_errors  # noqa: E402
from genlab.data import make_dataset  # noqa: E402
from genlab.jobcosts import write_table  # noqa: E402

SIZES = [9, 10, 11, 12]


def _run(variant: dict) -> dict:
    torch.set_num_threads(1)
    params = yaml.safe_load(open(ROOT / "params" / "default.yaml"))
    spec, seed = params["datasets"]["id_blobs"], params["seed"]  # "raw": the same blobs, scaling global
    settings = {**params["figures"]["autoencoder_dim"]["autoencoder"], **variant["settings"]}
    data = variant["data"]
    dataset = make_dataset(data, {**spec, "scaling": "global"} if data == "raw" else params["datasets"][data], seed)
    x_train, x_test = dataset.x_train, dataset.x_test
    sizes = variant.get("sizes", SIZES)
    started = time.perf_counter()
    if variant.get("one_at_a_time"):
        rows = [reconstruction_errors(x_train, x_test, [size], settings, seed)[0] for size in sizes]
        knee = knee_of(sizes, [row["relative_error"] for row in rows])
        for row in rows:
            row["knee"] = row["latent_dim"] == knee
    else:
        rows = reconstruction_errors(x_train, x_test, sizes, settings, seed)
    record = {"variant": variant["name"], "width": settings["width"], "steps": settings["steps"],
              **{f"L={row['latent_dim']}": f"{row['relative_error']:.4f}" for row in rows},
              "knee": next(row["latent_dim"] for row in rows if row["knee"]),
              "seconds": round(time.perf_counter() - started, 1)}
    print(record, flush=True)
    return record


VARIANTS = [
    {"name": "blobs (pipeline settings)", "data": "id_blobs", "settings": {}},
    {"name": "blobs, width 128", "data": "id_blobs", "settings": {"width": 128}},
    {"name": "blobs, 3x the steps", "data": "id_blobs", "settings": {"steps": 6000}},
    {"name": "blobs, 3 hidden layers", "data": "id_blobs", "settings": {"depth": 3}},
    {"name": "blobs without per-image min-max scaling", "data": "raw", "settings": {}},
    {"name": "4-sphere in R^20, batched", "data": "id_sphere", "settings": {}, "sizes": [3, 4, 5, 6]},
    {"name": "4-sphere in R^20, one size at a time", "data": "id_sphere", "settings": {}, "sizes": [3, 4, 5, 6],
     "one_at_a_time": True},
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "autoencoder_dim"))
    args = parser.parse_args()
    started = time.perf_counter()
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        records = list(pool.map(_run, VARIANTS))
    summary = (f"`python benchmarks/autoencoder_dim.py --jobs {args.jobs}`: held-out reconstruction error relative to "
               f"the data's variance per latent size L (the columns; blank where a variant does not train that "
               f"size), the knee (the first size within 1% of the variance of the best) and the variant's seconds "
               f"(one thread, {args.jobs} variant(s) side by side). Wall time {(time.perf_counter() - started) / 60:.1f} "
               f"min.")
    columns = sorted({key for record in records for key in record if key.startswith("L=")},
                     key=lambda key: int(key[2:]))
    records = [{"variant": r["variant"], "width": r["width"], "steps": r["steps"],
                **{key: r.get(key, "") for key in columns}, "knee": r["knee"], "seconds": r["seconds"]}
               for r in records]
    write_table(args.out, "The auto-encoder check's settings", summary, records)


if __name__ == "__main__":
    main()
