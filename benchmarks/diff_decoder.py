"""DiffDecoder against ScoreVAE on the 8x8 digits (issue 17, the ScoreVAE paper's comparison): the two
DiffDecoder blocks of params/default.yaml (ScoreVAE's beta, and beta 0) trained and evaluated by the pipeline's
own commands (`genlab train`, `genlab evaluate --metric reconstruction`) on a finished default run's digits
file and feature net, then one table beside that run's ScoreVAE and same-beta VAE. They are not in the default
run's experiments: this script is their evidence at the default scale and says what they would cost there.

Usage: python benchmarks/diff_decoder.py --root RUN [--models diff_decoder diff_decoder_beta0] [--steps N] [--jobs 2]
       [--out benchmarks/results/diff_decoder]
RUN is a checkout where `snakemake all` has finished (data/processed/digits.npz, results/digits/...)."""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from genlab.io import write_csv, write_text  # noqa: E402
from genlab.jobcosts import markdown_table  # noqa: E402

DATASET = "digits"
DIM = 64  # its 8x8 pixels: the log's KL is per dimension
COMPARED = ("vae_scorevae_beta", "score_vae")  # the default run's, at the same beta and latent size
COLUMNS = {"mse": "MSE", "psnr": "PSNR (dB)", "ssim": "SSIM", "high_frequency_ratio": "high-frequency ratio",
           "fid": "FID", "feature_distance": "feature distance", "probe_accuracy": "latent probe accuracy"}


def final_kl(run_dir: Path, dim: int = DIM) -> float | None:
    """The training log's last KL per dimension (nats), times the dimension ``dim``: KL per example."""
    path = run_dir / "train_log.csv"
    if not path.exists():
        return None
    rows = list(csv.DictReader(open(path)))
    return float(rows[-1]["kl"]) * dim if rows and "kl" in rows[-1] else None


GENLAB = [sys.executable, "-m", "genlab.cli"]
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}  # as Snakemake runs a job of one thread


def train(params_file: Path, name: str, root: Path, run_dir: Path, dataset: str = DATASET,
          pretrained: str | None = None, data: Path | None = None) -> float:
    """`genlab train` of block ``name`` on the root run's ``dataset`` file (or the file ``data``) into
    ``run_dir``, as the pipeline's job runs it (``pretrained``: the model whose checkpoint in the root run the
    block starts from, ScoreVAE's prior); its seconds."""
    started = time.perf_counter()
    subprocess.run([*GENLAB, "train", "--params", str(params_file), "--dataset", dataset, "--model", name,
                    "--data", str(data or root / f"data/processed/{dataset}.npz"), "--run-dir", str(run_dir),
                    "--no-progress",
                    *(["--pretrained", str(root / f"results/{dataset}/{pretrained}/checkpoint.pt")] if pretrained
                      else [])], check=True, env=ONE_THREAD)
    return time.perf_counter() - started


def evaluate(params_file: Path, name: str, run_dir: Path, data: Path, feature_net: Path, metrics: list[str],
             dataset: str = DATASET) -> tuple[dict[str, dict], float]:
    """`genlab evaluate` of the checkpoint in ``run_dir`` on the file ``data``, every metric of ``metrics`` in one
    process (as the pipeline's job), each into <run_dir>/<metric>.json: (results by metric, seconds)."""
    started = time.perf_counter()
    outputs = [flag for metric in metrics for flag in ("--metric", metric, "--out", str(run_dir / f"{metric}.json"))]
    subprocess.run([*GENLAB, "evaluate", "--params", str(params_file), "--dataset", dataset, "--model", name,
                    "--data", str(data), "--checkpoint", str(run_dir / "checkpoint.pt"), "--feature-net",
                    str(feature_net), *outputs], check=True, env=ONE_THREAD)
    seconds = time.perf_counter() - started
    return {metric: json.loads((run_dir / f"{metric}.json").read_text()) for metric in metrics}, seconds


def train_and_evaluate(params: dict, params_file: Path, name: str, root: Path, scratch: Path,
                       dataset: str = DATASET, dim: int = DIM, metric: str = "reconstruction",
                       feature_net: Path | None = None) -> dict:
    """`genlab train` then `genlab evaluate --metric METRIC` of one block on ``dataset`` (``dim`` numbers an
    example), as the pipeline's jobs run; the metric's file is <scratch>/<name>/<metric>.json, scored with the
    root run's feature net unless ``feature_net`` names another checkpoint."""
    run_dir = scratch / name
    train_s = train(params_file, name, root, run_dir, dataset, params["models"][name].get("pretrained"))
    results, evaluate_s = evaluate(params_file, name, run_dir, root / f"data/processed/{dataset}.npz",
                                   feature_net or root / f"results/{dataset}/classifier/checkpoint.pt", [metric],
                                   dataset)
    block = params["models"][name]
    return {"model": name, "beta": block.get("beta"), "steps": block["training"]["steps"], **results[metric],
            "KL per example (nats)": final_kl(run_dir, dim), "train s": round(train_s, 1),
            "evaluate s": round(evaluate_s, 1)}


def train_and_evaluate_all(params: dict, names: list[str], root: Path, jobs: int, dataset: str = DATASET,
                           dim: int = DIM, metric: str = "reconstruction", keep: Path | None = None,
                           feature_net: Path | None = None) -> list[dict]:
    """train_and_evaluate of each block in ``names`` (experiments of ``params`` on ``dataset``), ``jobs`` at a
    time, in a scratch folder (``keep``: this folder, left in place with each run's checkpoint and metric file);
    their rows in the order of ``names``."""
    with tempfile.TemporaryDirectory() as temporary:
        scratch = Path(keep or temporary)
        scratch.mkdir(parents=True, exist_ok=True)
        params_file = scratch / f"params_{dataset}.yaml"
        params_file.write_text(yaml.safe_dump(params, sort_keys=False))
        with ThreadPoolExecutor(jobs) as pool:  # each run is its own process (one thread)
            return list(pool.map(lambda name: train_and_evaluate(params, params_file, name, root, scratch,
                                                                 dataset, dim, metric, feature_net), names))


def format_table(header: list[str], table: list[list]) -> str:
    """The rows of ``table`` as a markdown table, floats to 4 significant digits, None as an empty cell."""
    return markdown_table(header, [[f"{v:.4g}" if isinstance(v, float) else ("" if v is None else str(v))
                                    for v in line] for line in table])


def write_report(header: list[str], table: list[list], preamble: str, out: str | None) -> None:
    """Print ``preamble`` and the table (floats to 4 digits), and write them as <out>.md, the raw rows as
    <out>.csv."""
    text = preamble + format_table(header, table) + "\n"
    print(text)
    if out:
        write_csv(f"{out}.csv", [dict(zip(header, line)) for line in table])
        write_text(f"{out}.md", text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="a checkout with a finished default run")
    parser.add_argument("--params", default=str(ROOT / "params/default.yaml"))
    parser.add_argument("--models", nargs="+", default=["diff_decoder", "diff_decoder_beta0"])
    parser.add_argument("--steps", type=int, help="training steps (default: each block's)")
    parser.add_argument("--jobs", type=int, default=1, help="blocks trained at once (one thread each)")
    parser.add_argument("--out", help="write <out>.md and <out>.csv")
    args = parser.parse_args(argv)
    root = Path(args.root)
    params = yaml.safe_load(open(args.params))
    for name in args.models:
        if args.steps:
            params["models"][name]["training"]["steps"] = args.steps
        params["experiments"].append({"dataset": DATASET, "model": name, "metrics": ["reconstruction"]})
    rows = train_and_evaluate_all(params, args.models, root, args.jobs)
    for name in COMPARED:
        result = json.loads((root / f"results/{DATASET}/{name}/reconstruction.json").read_text())
        block = params["models"][name]
        rows.insert(len(rows) - len(args.models), {
            "model": name + " (default run)", "beta": block["beta"], "steps": block["training"]["steps"], **result,
            "KL per example (nats)": None, "train s": None, "evaluate s": None})
    header = ["model", "beta", "steps", *COLUMNS.values(), "KL per example (nats)", "train s", "evaluate s"]
    table = [[row["model"], row["beta"], row["steps"], *(row.get(key) for key in COLUMNS),
              row["KL per example (nats)"], row["train s"], row["evaluate s"]] for row in rows]
    command = " ".join(["python benchmarks/diff_decoder.py", *(sys.argv[1:] if argv is None else argv)])
    write_report(header, table, f"# DiffDecoder against ScoreVAE on the {DATASET} (benchmarks/diff_decoder.py)\n\n"
                 f"`{command}`: the DiffDecoder blocks trained and evaluated by `genlab train` / `genlab evaluate "
                 "--metric reconstruction` (one thread each), beside the default run's ScoreVAE and VAE at the same "
                 "beta and latent size (their own reconstruction.json). Latent probe accuracy: a linear classifier on "
                 "the encoder means (chance 0.1); KL per example: the training log's last value.\n\n", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
