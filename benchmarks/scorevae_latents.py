"""ScoreVAE against the VAE at the same beta across latent sizes on the 8x8 digits (issue 17: the latent sizes
where ScoreVAE should win). The default run compares them at one latent size (16 for 64 pixels), where the VAE is
nearly lossless; the paper's latents are 8-24x smaller than its images (384 for CIFAR-10's 3072 numbers, 512
for CelebA-64's 12288). Here each latent size asked for gets the default's `vae_scorevae_beta` and `score_vae`
blocks with only `latent_dim` changed, trained and evaluated by the pipeline's own commands on a finished default
run's digits file, feature net and pretrained diffusion_vp (benchmarks/diff_decoder.py's runner), then one table:
MSE, PSNR, SSIM, the high-frequency energy ratio, FID of the reconstructions, the feature distance, the latent
probe, per model and latent size.

Usage: python benchmarks/scorevae_latents.py --root RUN [--latent-sizes 2 4 8] [--jobs 2]
       [--out benchmarks/results/scorevae_latents]
RUN is a checkout where `snakemake all` has finished (data/processed/digits.npz, results/digits/...); its
latent-16 rows are read from its own reconstruction.json files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from diff_decoder import COLUMNS, DATASET, train_and_evaluate_all, write_report  # noqa: E402

MODELS = ("vae_scorevae_beta", "score_vae")  # the default run's pair at one beta


def variant(name: str, latent_dim: int) -> str:
    return f"{name}_latent{latent_dim}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="a checkout with a finished default run")
    parser.add_argument("--params", default=str(ROOT / "params/default.yaml"))
    parser.add_argument("--latent-sizes", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--score-vae-steps", type=int, help="ScoreVAE's training steps (default: its block's)")
    parser.add_argument("--jobs", type=int, default=1, help="blocks trained at once (one thread each)")
    parser.add_argument("--out", help="write <out>.md and <out>.csv")
    args = parser.parse_args(argv)
    root = Path(args.root)
    params = yaml.safe_load(open(args.params))
    default_dim = params["models"]["score_vae"]["latent_dim"]
    if params["models"]["vae_scorevae_beta"]["latent_dim"] != default_dim:
        parser.error("the params file's vae_scorevae_beta and score_vae differ in latent_dim; the table pairs them")
    names = []
    for latent_dim in args.latent_sizes:
        for name in MODELS:
            block = params["models"][variant(name, latent_dim)] = {**params["models"][name], "latent_dim": latent_dim}
            if name == "score_vae" and args.score_vae_steps:
                block["training"] = {**block["training"], "steps": args.score_vae_steps}
            params["experiments"].append({"dataset": DATASET, "model": variant(name, latent_dim),
                                          "metrics": ["reconstruction"]})
            names.append(variant(name, latent_dim))
    rows = train_and_evaluate_all(params, names, root, args.jobs)
    for row in rows:
        row["latent"] = params["models"][row["model"]]["latent_dim"]
        row["model"] = row["model"].rsplit("_latent", 1)[0]
    for name in MODELS:  # the default run's own pair
        result = json.loads((root / f"results/{DATASET}/{name}/reconstruction.json").read_text())
        rows.append({"model": name + " (default run)", "latent": default_dim, **result, "train s": None,
                     "evaluate s": None, "steps": params["models"][name]["training"]["steps"]})
    rows.sort(key=lambda row: (row["latent"], row["model"]))
    header = ["latent", "model", "steps", *COLUMNS.values(), "train s"]
    table = [[row["latent"], row["model"], row["steps"], *(row.get(key) for key in COLUMNS), row["train s"]]
             for row in rows]
    command = " ".join(["python benchmarks/scorevae_latents.py", *(sys.argv[1:] if argv is None else argv)])
    write_report(header, table, f"# ScoreVAE against the same-beta VAE across latent sizes on the {DATASET} "
                 "(benchmarks/scorevae_latents.py)\n\n"
                 f"`{command}`: the default's vae_scorevae_beta and score_vae blocks (beta "
                 f"{params['models']['score_vae']['beta']:g}) with only latent_dim changed, trained and evaluated by "
                 "`genlab train` / `genlab evaluate --metric reconstruction` (one thread each); the latent-"
                 f"{default_dim} rows are the default run's own. Feature distance: LPIPS' recipe on the digits' "
                 "feature net (lower is closer); high-frequency ratio: the reconstructions' spectral energy above 1/4 "
                 "cycle per pixel over the originals' (1 = as sharp); latent probe: a linear classifier on the encoder "
                 "means (chance 0.1).\n\n", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
