"""The FID feature net on the 28x28 digits against its depth and training length: the default params' `classifier`
block trained by genlab's loop as the pipeline trains it (its seed, one thread) on the default `mnist28` data,
once with two stride-2 convolutions (the net before 2026-11-27: on 28x28 a feature then saw 15x15 pixels
before the global pooling) and once with the family's rule (downsample until the map is at most 2x2: four
on 28x28, two on 8x8 as before); test accuracy on the 1000 held-out digits, with its standard error, and the
loop's CPU seconds. The evidence for the mnist28 classifier experiment's `training.steps` in params/default.yaml.
With --results (a default run's results/), each net also counts the classes that Fig 1.2's GANs cover with
their final weights, as the `modes` metric does (its samples, seed and threshold): the count depends on the
instrument.

Usage: python benchmarks/feature_net.py [--steps 300 500 1500] [--results DIR] [--out benchmarks/results/feature_net]"""

from __future__ import annotations

import argparse
import copy
import math
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from genlab import config as cfg  # noqa: E402
from genlab.checkpoints import trained_model  # noqa: E402
from genlab.data import make_dataset  # noqa: E402
from genlab.evaluation.coverage import mode_coverage  # noqa: E402
from genlab.generation import generate  # noqa: E402
from genlab.families.classifier import Classifier  # noqa: E402
from genlab.io import write_csv, write_text  # noqa: E402
from genlab.jobcosts import markdown_table  # noqa: E402
from genlab.train import fit  # noqa: E402
from genlab.validation import load_params  # noqa: E402

RULE = Classifier.downsamplings
GANS = ("gan28_minimax", "gan28", "wgan28")  # figures.mode_collapse's 28x28 runs


def gan_samples(params: dict, dataset, results: Path) -> dict:
    """The `modes` metric's samples of each GAN's final (EMA) weights: its n_samples, drawn with the seed."""
    n = params["evaluation"]["modes"]["n_samples"]
    drawn = {}
    for name in GANS:
        exp = cfg.experiment(params, "mnist28", name)
        model = trained_model(exp, dataset, results / "mnist28" / name / "checkpoint.pt", device="cpu")
        drawn[name] = generate(model, n, n, exp.seed)[0]
    return drawn


def train_and_score(params: dict, dataset, downsamplings: str, steps: int, run_dir: Path,
                    samples: dict) -> dict:
    # the architecture is the family's; "two" pins the former count for this run only
    Classifier.downsamplings = staticmethod(RULE if downsamplings == "rule" else lambda size, side=2: 2)
    try:
        block = copy.deepcopy(params["models"]["classifier"])
        block["training"].update(steps=steps, checkpoint_every=steps)
        cpu = time.process_time()
        model = fit(block, dataset, run_dir, seed=params["seed"], config={"block": block, "arch": downsamplings},
                    device=torch.device("cpu"), progress=False)
        seconds = time.process_time() - cpu
        accuracy = model.accuracy(torch.as_tensor(dataset.x_test), torch.as_tensor(dataset.y_test))
    finally:
        Classifier.downsamplings = staticmethod(RULE)
    n = len(dataset.x_test)
    modes = {f"{name} modes (top share)": "{modes_covered} ({top_share:.2f})".format(**mode_coverage(x, dataset, model))
             for name, x in samples.items()}
    convolutions = RULE(dataset.example_shape[1:]) if downsamplings == "rule" else 2
    return {"downsamplings": downsamplings, "stride-2 convolutions": convolutions, "steps": steps,
            "test_accuracy": round(accuracy, 4), "standard_error": round(math.sqrt(accuracy * (1 - accuracy) / n), 4),
            "cpu_s": round(seconds, 1), **modes}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default=str(ROOT / "params" / "default.yaml"))
    parser.add_argument("--steps", type=int, nargs="+", default=[300, 500, 1500])
    parser.add_argument("--results", type=Path, help="a default run's results/ (Fig 1.2's GAN checkpoints)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "feature_net"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    params = load_params(args.params)
    dataset = make_dataset("mnist28", params["datasets"]["mnist28"], params["seed"])
    samples = gan_samples(params, dataset, args.results) if args.results else {}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for downsamplings in ("two", "rule"):
            for steps in args.steps:
                run_dir = Path(tmp) / f"{downsamplings}_{steps}"
                rows.append(train_and_score(params, dataset, downsamplings, steps, run_dir, samples))
                print(rows[-1], flush=True)
    write_csv(args.out + ".csv", rows)
    steps = " ".join(map(str, args.steps))
    results = f" --results {args.results}" if samples else ""
    table = markdown_table(list(rows[0]), [[str(value) for value in row.values()] for row in rows])
    write_text(args.out + ".md", "# The 28x28 FID feature net: depth and training length\n\n"
               f"`python benchmarks/feature_net.py --steps {steps}{results}`: the `classifier` block of "
               f"{Path(args.params).name} "
               f"on the default mnist28 split ({len(dataset.x_train)} training digits, {len(dataset.x_test)} test), "
               "one thread; cpu_s is the process's CPU time of the training."
               + (f" Modes: classes covered by 1000 samples of the GANs' final weights in {args.results} (a class "
                  "counts with at least 2% of the samples), and the largest class's share." if samples else "")
               + "\n\n" + table + "\n")


if __name__ == "__main__":
    main()
