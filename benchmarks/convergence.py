"""Which default models converged long before their training budget: every experiment's train_log.csv read
after a run, the loss at mid-run against the loss at the end, and the curves as a figure.

For each run: `descent` is the first logged loss (the mean over the first log window) minus the mean over the
last 10% of the steps (how far training brought it), `late` the mean over 40-50% minus the mean over the last
10% (what the second half added), both in the loss's own units; `late share` = late / descent and `late in
noise` = late / the standard deviation of the last 10%'s log rows. A run whose second half adds under 3% of
its whole descent and less than that scatter is "flat by mid-run": half its steps is a candidate budget, to
be checked on the metrics the run feeds (a training loss can flatten before the metrics do). Adversarial runs
(GANs) are left out: their losses are a game's, not a convergence signal, and their whole length is Fig
1.2's. A classifier's training loss says little of its test accuracy: read that from its accuracy file.

Usage: python benchmarks/convergence.py --root /tmp/dr [--out benchmarks/results/convergence]
       (writes <out>.md, <out>.csv and <out>.png)"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

FLAT_SHARE = 0.03
ADVERSARIAL = {"gan"}


def windows(log: pd.DataFrame) -> dict[str, float]:
    steps, loss = log["step"].to_numpy(), log["loss"].to_numpy()
    total = steps[-1]

    def mean(lo: float, hi: float) -> float:
        keep = (steps > lo * total) & (steps <= hi * total)
        return float(loss[keep].mean()) if keep.any() else float("nan")

    start, mid, end = float(loss[0]), mean(0.4, 0.5), mean(0.9, 1.0)
    last = loss[steps > 0.9 * total]
    noise = float(last.std()) if len(last) > 1 else float("nan")
    descent, late = start - end, mid - end
    return {"steps": int(total), "train_s": float(log["elapsed_s"].iloc[-1]), "loss_start": start,
            "loss_mid": mid, "loss_end": end, "late_share": late / descent if descent > 0 else float("nan"),
            "late_in_noise": late / noise if noise > 0 else float("nan")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=".", help="the repository whose run is read")
    parser.add_argument("--out", help="write <out>.md, <out>.csv and <out>.png")
    args = parser.parse_args()
    root = Path(args.root)
    params = yaml.safe_load((root / "results/params.yaml").read_text())
    rows, curves = [], {}
    for exp in params["experiments"]:
        family = params["models"][exp["model"]]["family"]
        log_file = root / "results" / exp["dataset"] / exp["model"] / "train_log.csv"
        if family in ADVERSARIAL or not log_file.exists():
            continue
        log = pd.read_csv(log_file)
        if len(log) < 10 or "loss" not in log:
            continue
        row = {"experiment": f"{exp['dataset']}/{exp['model']}", "family": family, **windows(log)}
        row["flat_by_mid_run"] = bool(row["late_share"] < FLAT_SHARE and row["late_in_noise"] < 1)
        rows.append(row)
        curves[row["experiment"]] = log
    table = pd.DataFrame(rows).sort_values("train_s", ascending=False)
    flat = table[table["flat_by_mid_run"]]
    text = (f"{len(table)} runs read (adversarial ones left out); {len(flat)} flat by mid-run (the second half "
            f"adds under {FLAT_SHARE:.0%} of the descent and less than the last rows' scatter), "
            f"{flat['train_s'].sum() / 2:.0f} training seconds in their second halves.\n\n"
            "| experiment | steps | train s | first loss | at 40-50% | at 90-100% | late share | late in noise "
            "| flat |\n"
            "|---|---|---|---|---|---|---|---|---|\n")
    text += "".join(f"| {r.experiment} | {r.steps} | {r.train_s:.1f} | {r.loss_start:.4g} | {r.loss_mid:.4g} | "
                    f"{r.loss_end:.4g} | {r.late_share:.3f} | {r.late_in_noise:.1f} | "
                    f"{'yes' if r.flat_by_mid_run else ''} |\n" for r in table.itertuples())
    print(text)
    if args.out:
        out = Path(args.out)
        out.with_suffix(".md").write_text(f"# Convergence of the default models' training ({root.resolve().name})"
                                          f"\n\n{text}")
        table.to_csv(out.with_suffix(".csv"), index=False)
        plot(table, curves, out.with_suffix(".png"))
    return 0


def plot(table: pd.DataFrame, curves: dict[str, pd.DataFrame], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    shown = table.head(24)
    cols = 6
    rows = int(np.ceil(len(shown) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 2.2 * rows), squeeze=False)
    for ax, r in zip(axes.flat, shown.itertuples()):
        log = curves[r.experiment]
        ax.plot(log["step"], log["loss"], lw=0.8, color="C3" if r.flat_by_mid_run else "C0")
        ax.axvline(r.steps / 2, color="grey", ls=":", lw=0.8)
        lo, hi = np.nanpercentile(log["loss"], [1, 100 if len(log) < 20 else 90])
        ax.set_ylim(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))
        ax.set_title(f"{r.experiment}\n{r.train_s:.0f} s, late share {r.late_share:.3f}", fontsize=7)
        ax.tick_params(labelsize=6)
    for ax in axes.flat[len(shown):]:
        ax.axis("off")
    fig.suptitle("Training loss against step (red: flat by mid-run; dotted: half the budget)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
