"""The conditional tasks the default run leaves out, at its scale (issues 14 and 15): inpainting of one random
square hiding 25% and edge -> digit translation on the 28x28 digits for chapter 4's four estimators (CDE, CDiffE,
CMDE, VS-CMDE) and chapter 3's CAFLOW with its two ablations (the same-scale / Dual-Glow design and the
conditional INN), the two ablations on the 28x28 super-resolution beside the default run's five models, and on
the 8x8 digits' inpainting and edges (where the default run has CAFLOW's own design only).

Each block is one of the default run's, changed only where the task is: the 28x28 blocks are its
`<estimator>_superres28` / `caflow_superres28` (the U-Net at width 8, 600 steps; the 2-scale flow) with the
condition and the condition's SDE of the 8x8 digits' `<estimator>_<task>` blocks (CMDE's sigma_max,y 1 for
inpainting and edges; VS-CMDE from sqrt(D_y) = 28 to 1, reached at the same share of training as the 8x8 block
reaches it), and each ablation is its CAFLOW block with `design` changed. They are trained and evaluated by the
pipeline's own commands (`genlab train`, `genlab evaluate --metric conditional`, one thread each,
benchmarks/diff_decoder.py's runner) on a finished default run's data and feature nets, then tabled by
genlab.tables.conditional_table beside the default run's rows and the paper's, with the orderings the claims
file tests at the thesis scale computed on them, and drawn like the pipeline's conditional figures.

Usage: python benchmarks/conditional28.py --root RUN [--jobs 2] [--only NAME ...] [--keep DIR]
       [--out benchmarks/results/conditional28]
RUN is a checkout where `snakemake all` has finished (data/processed/{digits,mnist28}.npz, results/...)."""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from diff_decoder import format_table, train, train_and_evaluate_all  # noqa: E402

from genlab import plots  # noqa: E402
from genlab.io import atomic_path, write_csv, write_text  # noqa: E402
from genlab.tables import conditional_table  # noqa: E402

ESTIMATORS = ("cde", "cdiffe", "cmde", "vs_cmde")
FLOWS = ("caflow", "same_scale", "cinn")
TASKS = ("superres", "inpaint", "edges")
DIMS = {"digits": 64, "mnist28": 784}
TASK_NAMES = {"superres": "super-resolution", "inpaint": "inpainting (one random square hiding 25%; PSNR over it)",
              "edges": "edge -> digit"}


def blocks(models: dict) -> dict[str, tuple[str, dict]]:
    """The blocks measured here, by name: (dataset, block), each derived from the default run's as the module
    says; the default run's own experiments are not among them."""
    out = {}
    for task in ("inpaint", "edges"):
        for estimator in ESTIMATORS:
            block = copy.deepcopy(models[f"{estimator}_superres28"])
            small = models[f"{estimator}_{task}"]  # the 8x8 digits' block of this task
            block["condition"] = copy.deepcopy(small["condition"])
            if estimator == "cmde":
                block["condition_sde"] = copy.deepcopy(small["condition_sde"])
            if estimator == "vs_cmde":  # from sqrt(D_y) (the 28x28 block's start) to the task's target, at
                # the share of training where the 8x8 block reaches it
                share = small["condition_schedule"]["reach_target_steps"] / small["training"]["steps"]
                block["condition_schedule"] = {"target": small["condition_schedule"]["target"],
                                               "reach_target_steps": round(share * block["training"]["steps"])}
            out[f"{estimator}_{task}28"] = ("mnist28", block)
    for task in TASKS:
        for design in FLOWS:
            name = f"{design}_{task}28"
            if name == "caflow_superres28":
                continue  # the default run's
            block = copy.deepcopy(models["caflow_superres28"])
            if task != "superres":  # the 28x28 block's own is 4x; the 8x8 task blocks' the others
                block["condition"] = copy.deepcopy(models[f"caflow_{task}"]["condition"])
            block["design"] = design
            out[name] = ("mnist28", block)
    for task in ("inpaint", "edges"):
        for design in FLOWS[1:]:
            out[f"{design}_{task}"] = ("digits", {**copy.deepcopy(models[f"caflow_{task}"]), "design": design})
    return out


def default_run_files(root: Path, params: dict, dataset: str, task: str) -> list[Path]:
    """The default run's conditional metric files of ``task`` on ``dataset``, in its experiments' order."""
    files = []
    for experiment in params["experiments"]:
        block = params["models"][experiment["model"]]
        if (experiment["dataset"] == dataset and block.get("condition", {}).get("kind") == task
                and "conditional" in experiment.get("metrics", [])):
            files.append(root / f"results/{dataset}/{experiment['model']}/conditional.json")
    return files


def orderings(results: dict[str, dict], dataset: str, task: str) -> list[str]:
    """The paper's orderings (the claims file's, tested there at the thesis scale) on one task's results
    (by model name): CDiffE worst by PSNR and FID, CMDE's FID at most CDE's, CAFLOW's FID at most 0.8 of each
    ablation's; a line each, with the numbers."""
    suffix = {"mnist28": "28", "digits": ""}[dataset]
    get = {name[: -len(f"_{task}{suffix}")]: result for name, result in results.items()
           if name.endswith(f"_{task}{suffix}")}
    lines = []
    if all(e in get for e in ESTIMATORS):
        for key, label in (("psnr", "PSNR"), ("fid", "FID")):
            values = {e: get[e][key] for e in ESTIMATORS}
            worst = (min if key == "psnr" else max)(values, key=values.get)
            lines.append(f"CDiffE worst by {label}: {'yes' if worst == 'cdiffe' else 'no'} ("
                         + ", ".join(f"{e} {v:.3g}" for e, v in values.items()) + ")")
        cmde, cde = get["cmde"]["fid"], get["cde"]["fid"]
        lines.append(f"CMDE's FID at most CDE's: {'yes' if cmde <= cde else 'no'} ({cmde:.3g} against {cde:.3g})")
    if all(f in get for f in FLOWS):
        for ablation in FLOWS[1:]:
            ours, theirs = get["caflow"]["fid"], get[ablation]["fid"]
            lines.append(f"CAFLOW's FID at most 0.8 x {ablation}'s: {'yes' if ours <= 0.8 * theirs else 'no'} "
                         f"({ours:.3g} against {theirs:.3g})")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="a checkout with a finished default run")
    parser.add_argument("--params", default=str(ROOT / "params/default.yaml"))
    parser.add_argument("--jobs", type=int, default=1, help="blocks trained at once (one thread each)")
    parser.add_argument("--only", nargs="+", help="these blocks only (names as in the table)")
    parser.add_argument("--seed", type=int, help="train at this seed (default: the params'); at another seed "
                        "than the default run's its own blocks of these tasks are trained here too")
    parser.add_argument("--steps", type=int, help="train every block this many steps (VS-CMDE's schedule "
                        "stretched alike); the default run's own rows are then not shown beside them")
    parser.add_argument("--keep", help="keep the runs (checkpoints, metric files) in this folder")
    parser.add_argument("--out", help="write <out>.md, <out>.csv and <out>_<dataset>_<task>.png")
    args = parser.parse_args(argv)
    root = Path(args.root)
    params = yaml.safe_load(open(args.params))
    measured = blocks(params["models"])
    # the default run's own rows, read from RUN where they are comparable
    other_seed = args.seed is not None and args.seed != params["seed"]
    reuse = not other_seed and not args.steps
    if not reuse:
        measured = {e["model"]: (e["dataset"], params["models"][e["model"]]) for e in params["experiments"]
                    if e["dataset"] in DIMS and "conditional" in e.get("metrics", [])
                    and params["models"][e["model"]].get("condition", {}).get("kind") in TASKS} | measured
    if other_seed:
        params["seed"] = args.seed
    if args.steps:
        for name, (dataset, block) in measured.items():
            block = copy.deepcopy(block)  # YAML merge keys share nested dicts between blocks
            schedule, steps = block.get("condition_schedule"), block["training"]["steps"]
            if schedule:
                schedule["reach_target_steps"] = round(schedule["reach_target_steps"] * args.steps / steps)
            block["training"].update(steps=args.steps,
                                     checkpoint_every=min(args.steps, block["training"]["checkpoint_every"]))
            measured[name] = (dataset, block)
    unknown = sorted(set(args.only or []) - set(measured))
    if unknown:
        parser.error(f"--only: no such block {unknown}; the blocks are {sorted(measured)}")
    evaluation = {e["dataset"]: e.get("evaluation") for e in params["experiments"]  # as the default run's
                  if e["model"] in ("cde_superres28", "caflow_inpaint")}  # 28x28 / 8x8 rows evaluate theirs
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as temporary:
        keep = Path(args.keep or temporary)
        for dataset in DIMS:
            names = [n for n, (d, _) in measured.items() if d == dataset and (not args.only or n in args.only)]
            if not names:
                continue
            run_params = copy.deepcopy(params)
            listed = {e["model"] for e in run_params["experiments"] if e["dataset"] == dataset}
            for name in names:
                run_params["models"][name] = measured[name][1]
                if name in listed:  # the default run's own (at another seed)
                    continue
                run_params["experiments"].append({"dataset": dataset, "model": name, "metrics": ["conditional"],
                                                  **({"evaluation": evaluation[dataset]}
                                                     if evaluation.get(dataset) else {})})
            # the root run's feature net; at another seed its config hash is not this run's, so one is trained
            # here at that seed (FIDs then compare within this run's rows only)
            feature_net = None
            if other_seed:
                params_file = keep / dataset / f"params_{dataset}.yaml"
                params_file.parent.mkdir(parents=True, exist_ok=True)
                params_file.write_text(yaml.safe_dump(run_params, sort_keys=False))
                train(params_file, "classifier", root, keep / dataset / "classifier", dataset)
                feature_net = keep / dataset / "classifier/checkpoint.pt"
            rows = train_and_evaluate_all(run_params, names, root, args.jobs, dataset, DIMS[dataset],
                                          metric="conditional", keep=keep / dataset, feature_net=feature_net)
            for name, row in zip(names, rows):
                results[name] = {**json.loads((keep / dataset / name / "conditional.json").read_text()),
                                 "train s": row["train s"], "evaluate s": row["evaluate s"]}
        text = ["# The conditional tasks the default run leaves out, at its scale (benchmarks/conditional28.py)\n",
                f"`{' '.join(['python benchmarks/conditional28.py', *(sys.argv[1:] if argv is None else argv)])}`"
                f" on the default run at {root}: each block the default run's with only the task (or the flow's "
                "design) changed, trained and evaluated by the pipeline's commands (one thread each); "
                + ("the default run's own rows of each task beside them (from its results/)" if reuse else
                   "the default run's own blocks, where named, trained here alike"
                   + (" with a feature net trained at this seed" if other_seed else ""))
                + ", then the paper's. PSNR of "
                "inpainting: over the hidden square; diversity: pixel std over 5 draws (0-255); feature distance: "
                "LPIPS' recipe on the feature net; a flow's T= rows: sampled at that temperature. Train/evaluate "
                "seconds: one thread, side by side with --jobs runs.\n"]
        csv_rows = []
        for dataset in DIMS:
            for task in TASKS:
                mine = {n: r for n, r in results.items() if measured[n][0] == dataset and r["task"] == task}
                if not mine:
                    continue
                own = [p for p in default_run_files(root, params, dataset, task) if p.exists()] if reuse else []
                files = own + [keep / dataset / name / "conditional.json" for name in mine]
                table = conditional_table(files, task).drop(columns=["dataset", "task"])
                seconds = {f"{dataset}/{n}": (r["train s"], r["evaluate s"]) for n, r in mine.items()}
                table["train s"] = [seconds.get(m, (None, None))[0] for m in table["model"]]
                table["evaluate s"] = [seconds.get(m, (None, None))[1] for m in table["model"]]
                everything = {p.parent.name: json.loads(p.read_text()) for p in own} | mine
                text.append(f"\n## {dataset}: {TASK_NAMES[task]}\n\n")
                text += [f"- {line}\n" for line in orderings(everything, dataset, task)]
                header = list(table.columns)
                lines = [[None if v != v else v for v in row] for row in table.itertuples(index=False)]
                csv_rows += [{"dataset": dataset, "task": task, **dict(zip(header, line))} for line in lines]
                text.append("\n" + format_table(header, lines) + "\n")
                if args.out:
                    figure = plots.conditional_generation([(name, everything[name]) for name in everything])
                    with atomic_path(f"{args.out}_{dataset}_{task}.png") as path:
                        figure.savefig(path, format="png", dpi=110)
    print("".join(text))
    if args.out:
        write_text(f"{args.out}.md", "".join(text))
        write_csv(f"{args.out}.csv", csv_rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
