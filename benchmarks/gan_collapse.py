"""Fig 1.2 over several seeds and a longer budget: the GANs of `figures.mode_collapse` on the 28x28 digits,
each trained by genlab's loop exactly as the pipeline trains it (one thread) but at other seeds (and,
optionally, for more player updates, with snapshots spread over the longer run), then the digit classes of
1000 samples of every snapshot by the dataset's feature net (the `modes` metric's own function). The
pipeline runs one seed; this script is the evidence for the claims file's verdicts on collapse.

Usage: python benchmarks/gan_collapse.py [--models gan28 ...] [--seeds 1 2] [--steps N] [--jobs 2]
       [--classifier results/mnist28/classifier/checkpoint.pt] [--out benchmarks/results/gan_collapse]
       [--device cuda]"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from genlab.checkpoints import load_checkpoint, trained_model  # noqa: E402
from genlab.config import config_hash, experiment  # noqa: E402
from genlab.data import make_dataset  # noqa: E402
from genlab.evaluation.coverage import coverage_along_training  # noqa: E402
from genlab.io import write_csv, write_text  # noqa: E402
from genlab.jobcosts import markdown_table  # noqa: E402
from genlab.train import fit  # noqa: E402

DATASET = "mnist28"


def _run(params_file: str, model_name: str, seed: int, steps: int | None, classifier_path: str,
         run_dir: Path, device: str = "cpu") -> list[dict]:
    torch.set_num_threads(1)
    params = yaml.safe_load(open(params_file))
    dataset = make_dataset(DATASET, params["datasets"][DATASET], params["seed"])  # the pipeline's split
    block = copy.deepcopy(params["models"][model_name])
    training = block["training"]
    if steps is not None:  # the same snapshots, stretched over the longer run
        scale = steps / training["steps"]
        training.update(steps=steps, checkpoint_every=steps,
                        snapshots=sorted({int(round(s * scale)) for s in training["snapshots"]}))
    model = fit(block, dataset, run_dir, seed=seed, config=block, device=torch.device(device), progress=False)
    snapshots = load_checkpoint(run_dir / "checkpoint.pt", config_hash(block))["snapshots"]
    classifier = trained_model(experiment(params, DATASET, params["evaluation"]["fid"]["feature_model"]),
                               dataset, classifier_path, "cpu")
    rows = []
    for coverage in coverage_along_training(model, snapshots, dataset, classifier,
                                            params["evaluation"]["modes"]["n_samples"], seed):
        shares = [coverage[f"share_{k}"] for k in range(coverage["modes"])]
        top = max(range(len(shares)), key=shares.__getitem__)
        rows.append({"model": model_name, "seed": seed, "steps": training["steps"], "step": coverage["step"],
                     "modes covered": coverage["modes_covered"],
                     "high-quality share": round(coverage["high_quality"], 3),
                     "high-quality modes": coverage["high_quality_modes"], "top class": top,
                     "top share": round(shares[top], 3), "fewest share": round(min(shares), 3)})
    print(rows[-2], flush=True)
    return rows


def _table(rows: list[dict]) -> str:
    return markdown_table(list(rows[0]), [[str(value) for value in row.values()] for row in rows])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default=str(ROOT / "params/default.yaml"))
    parser.add_argument("--models", nargs="+", help=f"default: those of figures.mode_collapse on {DATASET}")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, help="player updates (default: each block's)")
    parser.add_argument("--classifier", default=str(ROOT / f"results/{DATASET}/classifier/checkpoint.pt"),
                        help="the pipeline's trained feature net of the 28x28 digits")
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel, one thread each")
    parser.add_argument("--out", help="write <out>.md and <out>.csv")
    parser.add_argument("--device", default="cpu", help="where the GANs train (cuda on a lent GPU machine; the "
                        "feature net classifies on the CPU)")
    args = parser.parse_args(argv)
    params = yaml.safe_load(open(args.params))
    models = args.models or params["figures"]["mode_collapse"]["runs"][DATASET]
    runs = [(model, seed) for model in models for seed in args.seeds]
    with tempfile.TemporaryDirectory() as scratch, ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_run, args.params, model, seed, args.steps, args.classifier,
                               Path(scratch) / f"{model}_{seed}", args.device) for model, seed in runs]
        rows = [row for future in futures for row in future.result()]
    finals = [row for row in rows if row["step"] == "ema" or row["step"] == row["steps"]]
    command = " ".join(["python benchmarks/gan_collapse.py", *(sys.argv[1:] if argv is None else argv)])
    where = f"{args.device} ({torch.cuda.get_device_name()})" if args.device == "cuda" else args.device
    text = ("# GAN mode coverage over seeds (benchmarks/gan_collapse.py)\n\n"
            f"Trained on {where}: `{command}`.\n\n"
            f"{DATASET}, the feature net's classes of {params['evaluation']['modes']['n_samples']} samples; "
            "a class is covered with at least 20% of its fair share; high quality: the samples the net gives a "
            "class with probability >= 0.9 (the metric's CONFIDENCE), and the classes those alone cover. The last "
            "snapshot (raw weights) and the EMA weights of each run:\n\n" + _table(finals) + "\n\nEvery snapshot:\n\n" + _table(rows) + "\n")
    print(text)
    if args.out:
        write_csv(f"{args.out}.csv", rows)
        write_text(f"{args.out}.md", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
