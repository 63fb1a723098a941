"""The thesis scale on a GPU, measured in one run before anyone books a cluster (issue 13):

1. the trainer against a bare loop at thesis scale: `genlab.train.train` and the bare loop of
   benchmarks/trainer_overhead.py (loss, backward, clip, AdamW; no EMA, log, NaN guard or checkpoint) on the
   same model, batch and bf16 autocast, alternating, for the digits and MNIST diffusion U-Nets;
2. projected cluster hours per experiment of params/thesis.yaml: steps/s of each thesis-scale block (its own
   network, batch and precision; one training step = loss, backward, optimizer step) measured for a few seconds,
   times its configured steps (an upper bound where early stopping may end it sooner), times the trainer's
   overhead measured in 1;
3. the miniature thesis DAG on the device: every data, train and evaluate job of params/thesis.yaml under the
   smoke switch (genlab.smoke), in one process through the CLI's entry point, on stand-in MNIST/CIFAR-10 files
   (genlab.data.images.write_standin_files): a block that cannot run on CUDA (a dtype under autocast, a tensor
   left on the CPU) fails here, not in the cluster job. Figures and tables need no GPU: CI runs them.

Usage: python benchmarks/gpu_route.py --out DIR [--steps 300] [--probe-seconds 2] [--device cuda]
       [--only dataset/model ...]
Writes DIR/gpu_route.md (all three tables) and DIR/{trainer_vs_bare,projection,miniature}.csv. It stops with
exit 2 before measuring anything when the device is CUDA and no GPU is visible (`--device cpu` runs the same code
on the CPU, for its test)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from trainer_overhead import bare_loop, fresh_model, genlab_loop, measured_training  # noqa: E402

from genlab import cli, paths, pipeline, smoke  # noqa: E402
from genlab import config as cfg  # noqa: E402
from genlab.data import Dataset, make_dataset  # noqa: E402
from genlab.data.images import write_standin_files  # noqa: E402
from genlab.io import write_csv, write_text  # noqa: E402
from genlab.jobcosts import table_of  # noqa: E402
from genlab.train import AdamW  # noqa: E402
from genlab.validation import load_params  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
THESIS = REPO / "params" / "thesis.yaml"
COMPARED = ("digits/diffusion_vp_digits", "mnist/diffusion_vp")


def datasets_for_timing(params: dict, raw_dir: Path) -> dict[str, Dataset]:
    """Every dataset of the params at its own shape, at the smoke sizes (the rate of a training step does not
    depend on how many examples there are); MNIST and CIFAR-10 from stand-in files in ``raw_dir``."""
    shrunk = smoke.shrink(params)
    write_standin_files(raw_dir, n_train=512, n_test=64)
    return {name: make_dataset(name, shrunk["datasets"][name], params["seed"], str(raw_dir))
            for name in params["datasets"]}


def trainer_vs_bare(params, datasets, device, steps: int, compared: list[str]) -> list[dict]:
    rows = []
    for name in compared:
        exp = cfg.experiment(params, *name.split("/"))
        dataset = datasets[exp.dataset_name]
        training = measured_training(exp.training, steps)
        warm = measured_training(exp.training, min(steps, 10))
        bare_loop(fresh_model(exp, dataset), dataset, warm, exp.seed, device)  # cuDNN's choices, the allocator
        genlab_loop(fresh_model(exp, dataset), dataset, warm, exp.seed, exp, device)
        bare, ours = [], []
        for order in (("bare", "genlab"), ("genlab", "bare")):
            for kind in order:
                if kind == "bare":
                    bare.append(bare_loop(fresh_model(exp, dataset), dataset, training, exp.seed, device)[0])
                else:
                    ours.append(genlab_loop(fresh_model(exp, dataset), dataset, training, exp.seed, exp, device)[0])
        b, o = min(bare), min(ours)
        rows.append({"experiment": name, "batch": exp.training["batch_size"], "steps": steps,
                     "bare_steps_per_s": round(steps / b, 2), "genlab_steps_per_s": round(steps / o, 2),
                     "overhead_percent": round(100 * (o / b - 1), 1)})
        print(rows[-1], flush=True)
    return rows


def step_rate(exp, dataset, device, seconds: float) -> float:
    """Training steps per second of the experiment's block: loss, backward, AdamW, at its batch and precision."""
    model = fresh_model(exp, dataset)
    model.initialize(torch.as_tensor(dataset.x_train))
    model.to(device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        return float("inf")
    optimizer = AdamW(params, lr=exp.training["lr"], fused=True)  # as genlab.train.adamw
    x_all = torch.as_tensor(dataset.x_train).to(device)
    y_all = torch.as_tensor(dataset.y_train).to(device) if dataset.y_train is not None else None
    autocast = device.type == "cuda" and exp.training["mixed_precision"] == "bf16"
    batch = exp.training["batch_size"]

    def step(i):
        idx = torch.randint(len(x_all), (batch,), device=device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            loss = model.loss({"x": x_all[idx], "y": y_all[idx] if y_all is not None else None, "step": i})["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for i in range(3):
        step(i)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds or count < 3:
        step(3 + count)
        count += 1
    sync()
    return count / (time.perf_counter() - started)


def projection(params, datasets, device, seconds: float, overhead: float, only) -> list[dict]:
    rows, rates = [], {}
    for dataset_name, model_name in pipeline.experiments(params):
        exp = cfg.experiment(params, dataset_name, model_name)
        if (only and exp.name not in only) or exp.training["steps"] == 0:
            continue
        key = (model_name, datasets[dataset_name].example_shape)  # the same block on the same shape: one probe
        if key not in rates:
            rates[key] = step_rate(exp, datasets[dataset_name], device, seconds)
        rate, steps = rates[key], exp.training["steps"]
        rows.append({"experiment": exp.name, "batch": exp.training["batch_size"], "steps": steps,
                     "early_stopping": bool(exp.training.get("early_stopping")), "steps_per_s": round(rate, 2),
                     "projected_hours": round(steps / rate * (1 + overhead / 100) / 3600, 3)})
        print(rows[-1], flush=True)
    return rows


def miniature_dag(params_file: Path, work: Path, device: str, only) -> list[dict]:
    """Every data, train and evaluate job of the smoke-shrunk params, in the DAG's order, through the CLI's own
    entry point (one process: no per-job start-up)."""
    params = smoke.shrink(load_params(params_file))
    (work / paths.PARAMS).parent.mkdir(parents=True, exist_ok=True)
    write_text(work / paths.PARAMS, yaml.safe_dump(params, sort_keys=False))
    write_standin_files(work / paths.RAW_DIR, n_train=80, n_test=16)
    experiments = [e for e in pipeline.experiments(params) if not only or "/".join(e) in _with_inputs(params, only)]
    pretrained = {params["models"][m].get("pretrained") for _, m in experiments}
    experiments.sort(key=lambda e: e[1] not in pretrained)  # a pretrained model trains before the ones on top
    common = ["--params", paths.PARAMS]
    jobs = [(f"data {d}", ["data", *common, "--dataset", d, "--out", paths.data(d)])
            for d in sorted({d for d, _ in experiments})]
    for d, m in experiments:
        inputs = pipeline.train_inputs(params, d, m)
        jobs.append((f"train {d}/{m}", ["train", *common, "--dataset", d, "--model", m, "--data", inputs["data"],
                                        "--run-dir", paths.run_dir(d, m), "--device", device, "--no-progress",
                                        *(["--pretrained", inputs["pretrained"]] if "pretrained" in inputs else [])]))
    for d, m in experiments:
        inputs = pipeline.evaluation_inputs(params, d, m)
        metrics = [flag for name, out in pipeline.evaluation_outputs(params, d, m).items()
                   for flag in ("--metric", name, "--out", out)]
        jobs.append((f"evaluate {d}/{m}", ["evaluate", *common, "--dataset", d, "--model", m, "--data", inputs["data"],
                                           "--checkpoint", inputs["checkpoint"], "--device", device, *metrics,
                                           *(["--feature-net", inputs["feature_net"]] if "feature_net" in inputs else [])]))
    rows, here = [], os.getcwd()
    os.chdir(work)
    try:
        for name, argv in jobs:
            started, error = time.perf_counter(), ""
            try:
                code = cli.main(argv)
                error = "" if code == 0 else f"exit {code}"
            except Exception as exc:  # noqa: BLE001 (a bug of a block: recorded, the next job still runs)
                error = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
                traceback.print_exc()
            rows.append({"job": name, "seconds": round(time.perf_counter() - started, 2), "ok": not error,
                         "error": error})
            print(rows[-1], flush=True)
    finally:
        os.chdir(here)
    return rows


def _with_inputs(params: dict, only: list[str]) -> set[str]:
    """The experiments named, with the ones whose checkpoints they read: the dataset's FID feature net, the
    pretrained model under a ScoreVAE."""
    listed = {"/".join(e) for e in pipeline.experiments(params)}
    needed = set(only)
    for name in only:
        dataset, model = name.split("/")
        needed |= {f"{dataset}/{params['evaluation']['fid']['feature_model']}",
                   f"{dataset}/{params['models'][model].get('pretrained')}"}
    return needed & listed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder for gpu_route.md and the CSV files")
    parser.add_argument("--params", default=str(THESIS))
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--steps", type=int, default=300, help="steps of each trainer/bare run (part 1)")
    parser.add_argument("--probe-seconds", type=float, default=2.0, help="measuring time per block (part 2)")
    parser.add_argument("--compare", nargs="*", default=list(COMPARED), help="experiments of part 1")
    parser.add_argument("--only", nargs="*", help="experiments dataset/model to project and run (default: all)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["compare", "project", "miniature"])
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu_route: error: no GPU visible; this measures the thesis scale on CUDA (--device cpu runs the "
              "same code on the CPU)", file=sys.stderr)
        return 2
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
        where = f"{torch.cuda.get_device_name()}, torch {torch.__version__}"
    else:
        where = f"CPU ({os.cpu_count()} cores), torch {torch.__version__}"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    params = load_params(args.params)
    staged = tempfile.TemporaryDirectory()  # stand-in MNIST/CIFAR-10 files for parts 1 and 2
    datasets = datasets_for_timing(params, Path(staged.name))
    sections = [f"# The thesis scale on {where}\n\nMade by `python benchmarks/gpu_route.py` "
                f"({time.strftime('%Y-%m-%d %H:%M')}; params {Path(args.params).name}).\n"]
    overhead = 0.0
    if "compare" not in args.skip:
        rows = trainer_vs_bare(params, datasets, device, args.steps, args.compare)
        overhead = max(r["overhead_percent"] for r in rows)
        write_csv(out / "trainer_vs_bare.csv", rows)
        sections.append(f"## The trainer against a bare loop ({args.steps} steps, the faster of two alternating "
                        f"runs each)\n\n" + _table(rows))
        write_text(out / "gpu_route.md", "\n".join(sections))  # after each part: a run cut short keeps it
    if "project" not in args.skip:
        rows = projection(params, datasets, device, args.probe_seconds, max(overhead, 0.0), args.only)
        write_csv(out / "projection.csv", rows)
        total = sum(r["projected_hours"] for r in rows)
        sections.append(f"## Projected training hours per experiment (one device; {args.probe_seconds} s probe per "
                        f"block; the trainer's overhead of {max(overhead, 0):.1f}% included; early-stopped blocks "
                        f"are upper bounds)\n\nTotal: {total:.1f} device-hours.\n\n" + _table(rows))
        write_text(out / "gpu_route.md", "\n".join(sections))
    failed = 0
    if "miniature" not in args.skip:
        with tempfile.TemporaryDirectory() as work:
            rows = miniature_dag(Path(args.params).resolve(), Path(work), args.device, args.only)
        failed = sum(not r["ok"] for r in rows)
        write_csv(out / "miniature.csv", rows)
        sections.append(f"## The miniature thesis DAG (smoke switch) on {args.device}: {len(rows)} jobs, {failed} "
                        f"failed, {sum(r['seconds'] for r in rows):.0f} s\n\n" + _table(rows))
    write_text(out / "gpu_route.md", "\n".join(sections))
    print(f"wrote {out / 'gpu_route.md'}")
    return 1 if failed else 0


def _table(rows: list[dict]) -> str:
    return table_of(rows) + "\n"


if __name__ == "__main__":
    sys.exit(main())
