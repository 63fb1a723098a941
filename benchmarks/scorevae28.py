"""ScoreVAE on the 28x28 digits against training steps (issue 16: Fig 1.3 on 28x28 digits with ScoreVAE's
reconstructions beside the VAE's). params/default.yaml's `score_vae28` block (the digits' ScoreVAE steering the
frozen diffusion28, at vae28's latent size) trained for each step count asked for and evaluated by the pipeline's
own commands (`genlab train`, `genlab evaluate --metric reconstruction`, benchmarks/diff_decoder.py's runner) on a
finished default run's 28x28 digits, diffusion28 and feature net, then one table beside that run's vae28: what the
block would cost in the default run and what it would show there.

With --latent-dim N both models change latent size: the block at N and a vae28 at N trained beside it (the
compression where ScoreVAE should win: on the 8x8 digits it wins at 4x only, benchmarks/results/scorevae_latents.md).

Usage: python benchmarks/scorevae28.py --root RUN [--steps 2000 4000 8000] [--latent-dim N] [--jobs 2]
       [--out benchmarks/results/scorevae28]
RUN is a checkout where `snakemake all` has finished (data/processed/mnist28.npz, results/mnist28/...)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from diff_decoder import COLUMNS, train_and_evaluate_all, write_report  # noqa: E402

DATASET, DIM = "mnist28", 784
MODEL, VAE = "score_vae28", "vae28"  # the block measured, and Fig 1.3's VAE on these digits (the default run's)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="a checkout with a finished default run")
    parser.add_argument("--params", default=str(ROOT / "params/default.yaml"))
    parser.add_argument("--steps", type=int, nargs="+", default=[2000, 4000, 8000])
    parser.add_argument("--latent-dim", type=int, help="both models' latent size (default: the blocks', and the "
                        "default run's vae28)")
    parser.add_argument("--jobs", type=int, default=1, help="blocks trained at once (one thread each)")
    parser.add_argument("--out", help="write <out>.md and <out>.csv")
    args = parser.parse_args(argv)
    root = Path(args.root)
    params = yaml.safe_load(open(args.params))
    vae = params["models"][VAE]
    extra = []  # with --latent-dim: the VAE at that size, trained here as a new experiment (vae28's own stays)
    if args.latent_dim:
        params["models"][MODEL] = {**params["models"][MODEL], "latent_dim": args.latent_dim}
        extra = [f"{VAE}_latent{args.latent_dim}"]
        params["models"][extra[0]] = {**vae, "latent_dim": args.latent_dim}
    names = []
    for steps in args.steps:
        name = f"{MODEL}_steps{steps}"
        block = params["models"][name] = {**params["models"][MODEL]}
        block["training"] = {**block["training"], "steps": steps}
        names.append(name)
    names += extra
    for name in names:
        params["experiments"].append({"dataset": DATASET, "model": name, "metrics": ["reconstruction"]})
    rows = train_and_evaluate_all(params, names, root, args.jobs, DATASET, DIM)
    for row in rows:
        row["model"] = VAE if row["model"] in extra else MODEL
    if not args.latent_dim:
        rows.append({"model": VAE + " (default run)", "beta": vae["beta"], "steps": vae["training"]["steps"],
                     **json.loads((root / f"results/{DATASET}/{VAE}/reconstruction.json").read_text()),
                     "KL per example (nats)": None, "train s": None, "evaluate s": None})
    header = ["model", "latent", "beta", "steps", *COLUMNS.values(), "KL per example (nats)", "train s", "evaluate s"]
    table = [[row["model"], row["latent_dim"], row["beta"], row["steps"], *(row.get(key) for key in COLUMNS),
              row["KL per example (nats)"], row["train s"], row["evaluate s"]] for row in rows]
    command = " ".join(["python benchmarks/scorevae28.py", *(sys.argv[1:] if argv is None else argv)])
    block = params["models"][MODEL]
    vae_source = "trained here" if args.latent_dim else "the default run: its own reconstruction.json"
    write_report(header, table, f"# ScoreVAE on the {DATASET} digits against training steps "
                 "(benchmarks/scorevae28.py)\n\n"
                 f"`{command}`: the `{MODEL}` block (latent {block['latent_dim']}, beta {block['beta']:g}, batch "
                 f"{block['training']['batch_size']}, steering the frozen {block['pretrained']}) at each step count, "
                 "trained and evaluated by `genlab train` / `genlab evaluate --metric reconstruction` (one thread "
                 f"each), beside {VAE} ({vae_source}; Bernoulli decoder, beta {vae['beta']:g}, the same latent "
                 "size). Feature distance: LPIPS' recipe on the feature net (lower is closer); high-frequency "
                 "ratio: the reconstructions' spectral energy above 1/4 cycle per pixel over the originals' (1 = as "
                 "sharp); latent probe: a linear classifier on the encoder means (chance 0.1); KL per example: the "
                 "training log's last value.\n\n", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
