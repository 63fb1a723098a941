"""Plotting functions the notebooks call; each returns a matplotlib Figure."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from genlab.grids import grid_image  # noqa: E402


SAMPLER_LABELS = {"euler_maruyama": "Euler-Maruyama (SDE)", "predictor_corrector": "predictor-corrector (SDE)",
                  "ddpm": "DDPM ancestral (SDE)", "ddim": "DDIM (ODE)", "ode": "probability-flow ODE (dopri5)"}


def draw_samples(ax, samples: np.ndarray, grid: int, centres: np.ndarray | None = None) -> None:
    """Images as a grid, 2-D points as a scatter plot (with the true mode centres, when given)."""
    if samples.ndim == 2:
        ax.scatter(samples[:, 0], samples[:, 1], s=2, alpha=0.4)
        if centres is not None:
            ax.scatter(centres[:, 0], centres[:, 1], marker="x", color="black", s=20)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        return
    canvas = grid_image(samples, grid)
    gray = canvas.shape[-1] == 1
    ax.imshow(canvas.squeeze(-1) if gray else canvas, cmap="gray_r" if gray else None, interpolation="nearest",
              vmin=0, vmax=1)
    ax.axis("off")


def sample_grid(samples: np.ndarray, grid: int | None = None, title: str | None = None):
    """One panel of samples: images (N, C, H, W) in [-1, 1] as a grid, 2-D points as a scatter plot."""
    grid = grid or int(math.ceil(math.sqrt(len(samples))))
    fig, ax = plt.subplots(figsize=(5, 5) if samples.ndim > 2 else (4, 4))
    draw_samples(ax, samples, grid)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def family_samples(datasets: list[tuple[str, list[tuple[str, np.ndarray]]]], grid: int, columns: int = 4):
    """Fig 1.1 analogue: per dataset (its name and its panels), rows of sample grids, each titled with its
    model, family and FID; every dataset starts a new row and labels it."""
    layout = [(name, panels[start:start + columns]) for name, panels in datasets
              for start in range(0, len(panels), columns)]
    fig, axes = plt.subplots(len(layout), columns, figsize=(2.6 * columns, 2.8 * len(layout)), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for row, (name, panels) in zip(axes, layout):
        for ax, (title, samples) in zip(row, panels):
            draw_samples(ax, samples, grid)
            ax.set_title(title, fontsize=9)
        row[0].text(-0.08, 0.5, name, rotation=90, ha="right", va="center", fontsize=10,
                    transform=row[0].transAxes)
    fig.tight_layout()
    return fig


def mode_collapse(runs: list[dict], grid: int = 6, columns: int = 4):
    """Fig 1.2: per run (a model on a dataset: its modes CSV and the samples at its snapshots), samples at
    up to ``columns`` training steps, then the class (or mode) shares of the samples along training as a
    stacked area, with the number of modes covered on a second axis."""
    fig, axes = plt.subplots(len(runs), columns + 1, figsize=(2.4 * (columns + 2), 2.5 * len(runs)),
                             squeeze=False, gridspec_kw={"width_ratios": [1] * columns + [2]})
    for row, run in zip(axes, runs):
        steps, samples = run["snapshot_steps"], run["snapshot_samples"]
        chosen = np.unique(np.linspace(0, len(steps) - 1, columns).round().astype(int))
        for ax in row[:columns]:
            ax.axis("off")
        for ax, index in zip(row, chosen):
            draw_samples(ax, samples[index], grid, run.get("centres"))
            ax.set_title(f"step {steps[index]}", fontsize=8)
        row[0].text(-0.08, 0.5, run["label"], rotation=90, ha="right", va="center", fontsize=9,
                    transform=row[0].transAxes)
        table = run["modes"][run["modes"]["step"] != "ema"].astype({"step": int})
        shares = table[[c for c in table.columns if c.startswith("share_")]].to_numpy().T
        ax = row[-1]
        ax.stackplot(table["step"], shares, alpha=0.8)
        ax.set_xlabel("training step")
        ax.set_ylabel("share of samples per mode", fontsize=8)
        ax.set_ylim(0, 1)
        twin = ax.twinx()
        twin.plot(table["step"], table["modes_covered"], color="black", marker="o", label="all samples")
        if "high_quality_modes" in table and (table["high_quality_modes"] != table["modes_covered"]).any():
            twin.plot(table["step"], table["high_quality_modes"], color="black", linestyle="--", marker=".",
                      label="high-quality samples")
            twin.legend(fontsize=7, loc="lower right")
        twin.set_ylim(0, int(table["modes"].iloc[0]) + 0.5)
        twin.set_ylabel("modes covered", fontsize=8)
    fig.tight_layout()
    return fig


def reconstructions(panels: list[tuple[str, np.ndarray, list[tuple[str, np.ndarray]]]], grid: int):
    """Fig 1.3: per dataset (a figure row), held-out originals and each auto-encoder's reconstructions of them,
    side by side. ``panels``: (dataset, originals, [(title, reconstructions), ...])."""
    columns = 1 + max(len(rows) for _, _, rows in panels)
    fig, axes = plt.subplots(len(panels), columns, figsize=(3.2 * columns, 3.6 * len(panels)), squeeze=False)
    for axes_row, (dataset, originals, rows) in zip(axes, panels):
        for ax in axes_row:
            ax.axis("off")
        for ax, (title, images) in zip(axes_row, [(f"{dataset}: originals", originals), *rows]):
            draw_samples(ax, images, grid)
            ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def kde_curse(curves: pd.DataFrame, target_error: float = 0.1):
    """Section 1.1.2: relative KDE error against n for each d (points: Monte-Carlo mean and spread; lines:
    exact MISE), and the n needed for a given error against d with the O(eps^{-(d+4)/4}) law."""
    import seaborn as sns  # imports scipy.stats (1.3 s): only this figure's kernel pays for it

    from genlab.analysis.kde import fitted_exponent, samples_needed
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    dims = sorted(curves["d"].unique())
    palette = dict(zip(dims, sns.color_palette(n_colors=len(dims))))
    # Monte-Carlo mean and standard deviation over repeats per (d, n): seaborn's estimator and error bars
    sns.lineplot(data=curves, x="n", y="relative_ise", hue="d", palette=palette, estimator="mean", errorbar="sd",
                 err_style="bars", marker="o", markersize=4, linestyle="", legend=False, ax=left)
    for d, rows in curves.groupby("d"):
        summary = rows.groupby("n").agg(mean=("relative_ise", "mean"), exact=("relative_mise", "first")).reset_index()
        left.plot(summary["n"], summary["exact"], color=palette[d], label=(
            f"d={d}: slope {fitted_exponent(summary['n'], summary['mean']):.2f} (theory {-4 / (d + 4):.2f})"))
    left.set(xscale="log", yscale="log", xlabel="samples n", ylabel="relative integrated squared error",
             title="KDE of N(0, I_d), optimal bandwidth")
    left.legend(fontsize=7)
    # n needed for a relative MISE eps, for two eps a factor 2 apart: n grows like eps^{-k}; the measured k
    # approaches (d+4)/4 as eps -> 0 (the constant in front also grows with d, which this slope factors out)
    all_dims = np.arange(1, int(curves["d"].max()) + 1)
    small = target_error / 10
    needed = np.array([[samples_needed(eps, int(d)) for d in all_dims] for eps in (small, small / 2)])
    right.plot(all_dims, np.log2(needed[1] / needed[0]), marker="o",
               label=f"exact MISE, eps = {small:g} vs {small / 2:g}")
    right.plot(all_dims, (all_dims + 4) / 4, linestyle="--", color="black", label="theory (d+4)/4")
    right.set(xlabel="dimension d", ylabel="k in n ~ eps^{-k}", title="samples needed grow like eps^{-(d+4)/4}")
    right.legend(fontsize=8)
    fig.tight_layout()
    return fig


def fid_vs_nfe(sweep: pd.DataFrame, floor: float | None = None, title: str | None = None):
    """FID against the number of network evaluations, one line per sampler (SDE solid, ODE dashed)."""
    from genlab.diffusion.samplers import STOCHASTIC  # imports torch: only this figure's kernel pays for it
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, rows in sweep.groupby("sampler", sort=False):
        rows = rows.sort_values("nfe")
        ax.plot(rows["nfe"], rows["fid"], marker="o", linestyle="-" if name in STOCHASTIC else "--",
                label=SAMPLER_LABELS.get(name, name))
    if floor is not None:
        ax.axhline(floor, color="grey", linewidth=1, linestyle=":", label="held-out data")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("network evaluations per sample (NFE)")
    ax.set_ylabel("FID (pipeline feature net)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def save(fig, stem: str | Path) -> list[str]:
    """Save as PDF and PNG (atomically) and close the figure."""
    from genlab.io import atomic_path
    paths = []
    for ext in ("pdf", "png"):
        path = Path(f"{stem}.{ext}")
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=ext, dpi=150, bbox_inches="tight")
        paths.append(str(path))
    plt.close(fig)
    return paths


def training_curves(logs: pd.DataFrame, columns: int = 6):
    """The loss against the step, one panel per experiment (own axes: each family has its own objective)."""
    runs = list(dict.fromkeys(logs["experiment"]))
    rows = math.ceil(len(runs) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(1.8 * 1.3 * columns, 1.8 * rows), squeeze=False)
    for ax, (run, curve) in zip(axes.flat, logs.groupby("experiment", sort=False)):
        ax.plot(curve["step"], curve["loss"], linewidth=1)
        ax.set_title(run, size=7)
        ax.tick_params(labelsize=6)
    for ax in axes.flat[len(runs):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("step", size=7)
    for ax in axes[:, 0]:
        ax.set_ylabel("loss", size=7)
    fig.tight_layout()
    return fig


def intrinsic_dim_spectra(results: list[tuple[str, dict]]):
    """Per dataset, the mean normalised singular values of the score matrices (descending): the normal
    space is the block of large values; the dashed line marks where the true dimension puts the gap,
    the dotted one where our estimate put it. Labelled data (the paper's per-digit MNIST): each class's
    estimate as a bar instead."""
    fig, axes = plt.subplots(1, len(results), figsize=(3.4 * len(results), 3.2), squeeze=False)
    for ax, (label, result) in zip(axes[0], results):
        if "by_component" in result:  # a union of manifolds: the per-point estimates, by the point's manifold
            _union_histogram(ax, label, result["by_component"], result.get("baselines", {}).get("MLE"))
            continue
        if "by_label" in result:
            _class_bars(ax, label, result)
            continue
        spectrum = np.asarray(result["mean_spectrum"])
        ax.semilogy(np.arange(1, len(spectrum) + 1), spectrum, marker=".", markersize=3)
        if result["true_dim"] is not None:
            ax.axvline(len(spectrum) - result["true_dim"] + 0.5, color="black", linestyle="--",
                       label=f"true k = {result['true_dim']}")
        ax.axvline(len(spectrum) - result["estimate"] + 0.5, color="red", linestyle=":",
                   label=f"estimate {result['estimate']}")
        ax.set(xlabel="singular value index", title=f"{label} (D = {len(spectrum)})")
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("normalised singular value")
    fig.tight_layout()
    return fig


def _class_bars(ax, label: str, result: dict) -> None:
    """Per class, the median of its points' estimates (the paper's per-digit bars), with the whole set's
    estimate and the global baselines MLE and local PCA as lines."""
    classes = list(result["by_label"])
    medians = [result["by_label"][c]["median"] or 0 for c in classes]
    ax.bar(range(len(classes)), medians, color="tab:blue")
    ax.set_ylim(0, 1.4 * max(medians + [result["estimate"]]))  # room for the legend above the bars
    ax.set_xticks(range(len(classes)), classes)
    ax.axhline(result["estimate"], color="red", linestyle=":", label=f"all classes: {result['estimate']}")
    for name, style in (("MLE", "--"), ("lPCA", "-.")):
        value = result.get("baselines", {}).get(name)
        if value is not None:
            ax.axhline(value, color="black", linestyle=style, linewidth=0.8, label=f"{name}: {value:.0f}")
    ax.set(xlabel="class", ylabel="estimated dimension (median)", title=f"{label} (D = {result['ambient_dim']})")
    ax.legend(fontsize=7)


def _union_histogram(ax, label: str, by_component: dict[str, dict], global_mle: float | None) -> None:
    """The per-point estimates on a union of manifolds, stacked by the manifold a point lies on: two modes
    at the two dimensions, where a global estimator (MLE, if given) gives one number."""
    dims = sorted({int(d) for part in by_component.values() for d in part["histogram"]})
    positions = np.arange(dims[0], dims[-1] + 1)
    bottom = np.zeros(len(positions))
    for k, part in by_component.items():
        counts = np.array([part["histogram"].get(str(d), 0) for d in positions])
        ax.bar(positions, counts, bottom=bottom, label=f"points of the {k}-sphere")
        bottom += counts
        ax.axvline(int(k), color="black", linestyle="--", linewidth=0.8)
    if global_mle is not None:
        ax.axvline(global_mle, color="red", linestyle=":", label=f"MLE on the union: {global_mle:.1f}")
    ax.set(xlabel="estimated dimension (per point)", ylabel="points", title=f"{label}: union of spheres")
    ax.legend(fontsize=7)


def cdsm_consistency(curves: pd.DataFrame):
    """Per dataset: (top) each estimator's error to the analytic conditional score, averaged over t, against
    the number of training pairs n; (bottom) the error against t at the largest n, where CDiffE's bias sits
    at large t. A last row: the empirical CDSM minimiser's error against n at fixed times."""
    datasets = list(dict.fromkeys(curves["dataset"]))
    fig, axes = plt.subplots(3, len(datasets), figsize=(4.2 * len(datasets), 10), squeeze=False)
    trained = curves[curves["estimator"] != "empirical minimiser"]
    for col, name in enumerate(datasets):
        data = trained[trained["dataset"] == name]
        for estimator, rows in data.groupby("estimator", sort=False):
            mean = rows.groupby("n")["error"].mean()
            axes[0, col].loglog(mean.index, mean.values, "o-", label=estimator.upper())
            largest = rows[rows["n"] == rows["n"].max()]
            axes[1, col].semilogy(largest["t"], largest["error"], label=estimator.upper())
        axes[0, col].set(title=name, xlabel="training pairs n", ylabel="weighted L2 error (mean over t)")
        axes[1, col].set(xlabel="t", ylabel=f"error at n = {int(data['n'].max())}")
        minimiser = curves[(curves["dataset"] == name) & (curves["estimator"] == "empirical minimiser")]
        times = sorted(minimiser["t"].unique())
        for t in times[:: max(1, len(times) // 5)]:
            rows = minimiser[minimiser["t"] == t]
            axes[2, col].loglog(rows["n"], rows["error"], "o-", label=f"t = {t:.2f}")
        axes[2, col].set(xlabel="training pairs n", ylabel="empirical minimiser's error")
        for ax in axes[:, col]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def conditional_generation(results: list[tuple[str, dict]]):
    """One row per experiment: held-out images, what the condition shows, and two draws per condition (the
    spread between draws is the estimator's diversity). Where models were also sampled at several temperatures
    (CAFLOW), a last panel shows the trade-off: PSNR against diversity, one point per temperature."""
    columns = [("truth", "held-out"), ("observed", "condition"), ("draw 1", "draw 1"), ("draw 2", "draw 2")]
    if any(np.asarray(result["examples"]["draws"]).shape[1] < 2 for _, result in results):
        columns = columns[:3]  # one draw per condition (evaluation.conditional.draws: 1)
    tempered = [(name, result["by_temperature"]) for name, result in results if result.get("by_temperature")]
    extra = 4 if tempered else 0  # the trade-off panel's height, in rows of images
    fig = plt.figure(figsize=(11, 0.6 * (len(results) + extra) + 0.5))
    grid = fig.add_gridspec(len(results) + extra, len(columns))
    axes = np.array([[fig.add_subplot(grid[row, col]) for col in range(len(columns))]
                     for row in range(len(results))]).reshape(len(results), len(columns))
    if tempered:
        _temperature_tradeoff(fig.add_subplot(grid[len(results):, 1:len(columns) - 1]), tempered)
    for row, (name, result) in enumerate(results):
        examples = result["examples"]
        draws = np.asarray(examples["draws"])  # (examples, up to 2 draws, C, H, W)
        panels = {"truth": np.asarray(examples["truth"]), "observed": np.asarray(examples["observed"]),
                  "draw 1": draws[:, 0], "draw 2": draws[:, -1]}
        for col, (key, title) in enumerate(columns):
            images = panels[key]  # (N, 1, H, W) in [-1, 1], shown side by side
            axes[row, col].imshow(np.concatenate(list(np.clip((images[:, 0] + 1) / 2, 0, 1)), 1),
                                  cmap="gray_r", vmin=0, vmax=1)
            axes[row, col].set_xticks([])
            axes[row, col].set_yticks([])
            if row == 0:
                axes[row, col].set_title(title)
        axes[row, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    fig.tight_layout()
    return fig


def _temperature_tradeoff(ax, tempered: list[tuple[str, list[dict]]]) -> None:
    """PSNR against diversity over draws, one line per model through its temperatures (each point labelled)."""
    for name, rows in tempered:
        diversity, peak = [r["diversity"] for r in rows], [r["psnr"] for r in rows]
        ax.plot(diversity, peak, "o-", label=name)
        for r in rows:
            ax.annotate(f"T={r['temperature']:g}", (r["diversity"], r["psnr"]), fontsize=6,
                        textcoords="offset points", xytext=(3, 3))
    ax.set_xlabel("diversity over draws (pixel std, 0-255)")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title("sampling temperature: fidelity against diversity", fontsize=9)
    ax.legend(fontsize=7)


def pullback_geodesics(datasets: list[tuple[str, np.ndarray]], results: dict[tuple[str, str], dict]):
    """One row per banana density: its data and example geodesics, ground truth (black, dashed) against each
    model's pullback geodesic (one panel per model, titled with its geodesic error)."""
    models = sorted({model for _, model in results}, key=[model for _, model in results].index)
    fig, axes = plt.subplots(len(datasets), len(models), figsize=(3.2 * len(models), 3.0 * len(datasets)),
                             squeeze=False)
    for row, (dataset, points) in enumerate(datasets):
        for col, model in enumerate(models):
            ax, result = axes[row, col], results[(dataset, model)]
            ax.scatter(points[:, 0], points[:, 1], s=1, alpha=0.15, color="grey", rasterized=True)
            for truth, learned in zip(result["examples"]["truth"], result["examples"]["learned"]):
                truth, learned = np.asarray(truth), np.asarray(learned)
                ax.plot(truth[:, 0], truth[:, 1], "k--", linewidth=1)
                ax.plot(learned[:, 0], learned[:, 1], linewidth=1.5)
            ax.set_title(f"{dataset}\n{model}: error {result['geodesic_error']:.3f}", fontsize=8)
            ax.set_xticks([]), ax.set_yticks([])
    fig.tight_layout()
    return fig


def rae_spectra(results: list[tuple[str, dict]]):
    """The Riemannian auto-encoder per manifold: the learned base variances in decreasing order (log scale;
    the retained ones filled) with the true dimension marked, and the held-out reconstruction error against
    the number of latent coordinates kept; linear PCA's variances and errors dashed in the same colour."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for name, result in results:
        variances = np.asarray(result["variances"])
        index = np.arange(1, len(variances) + 1)
        line, = left.plot(index, variances, "-", label=f"{name}: K={result['true_dim']}, RAE keeps "
                                                      f"{result['retained_dim']}, PCA {result['pca_retained_dim']}")
        kept = index <= result["retained_dim"]
        left.plot(index[kept], variances[kept], "o", color=line.get_color())
        left.plot(index[~kept], variances[~kept], "o", mfc="none", color=line.get_color())
        left.plot(index, result["pca_variances"], "--", color=line.get_color(), linewidth=1)
        left.axvline(result["true_dim"] + 0.5, color=line.get_color(), linestyle=":", linewidth=1)
        right.plot(index, result["mse_by_kept_dim"], "o-", color=line.get_color(), label=f"{name} (RAE)")
        right.plot(index, result["pca_mse_by_kept_dim"], "x--", color=line.get_color(), label=f"{name} (PCA)")
    # a manifold inside a linear subspace has PCA variances of ~1e-16 beyond it: keep the learned ones readable
    floor = min(min(result["variances"]) for _, result in results) / 10
    left.set(yscale="log", xlabel="latent coordinate (by variance)", ylabel="variance", ylim=(floor, None),
             title="learned base variances (filled: kept by the RAE; dashed: PCA)")
    for ax in (left, right):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    right.set(xlabel="latent coordinates kept", ylabel="held-out MSE per dimension",
              title="reconstruction error (RAE solid, PCA dashed)")
    right.set_yscale("symlog", linthresh=1e-5)
    left.legend(fontsize=7), right.legend(fontsize=6)
    fig.tight_layout()
    return fig


def autoencoder_dim(curves: list[tuple[str, pd.DataFrame, dict]]):
    """A panel per dataset: the auto-encoders' held-out error relative to the data's variance against latent
    size (log scale), the knee circled, and vertical lines at the true dimension, our score-spectrum
    estimate and the baselines MLE (m = 20) and local PCA, as in the paper's MNIST figure."""
    fig, axes = plt.subplots(1, len(curves), figsize=(4.2 * len(curves), 3.6), squeeze=False)
    marks = (("true", "black", ":"), ("ours", "red", "--"), ("MLE", "orange", "--"), ("lPCA", "blue", "--"))
    for ax, (name, frame, result) in zip(axes[0], curves):
        ax.plot(frame["latent_dim"], frame["relative_error"], "o-", color="tab:grey")
        knee = frame[frame["knee"].astype(bool)]
        ax.plot(knee["latent_dim"], knee["relative_error"], "o", ms=12, mfc="none", color="green",
                label=f"knee: {int(knee['latent_dim'].iloc[0])}")
        values = {"true": result["true_dim"], "ours": result.get("estimate"), **result["baselines"]}
        for key, color, style in marks:
            if values.get(key) is not None:
                ax.axvline(values[key], color=color, linestyle=style, linewidth=1.2, label=f"{key}: {values[key]:.3g}")
        ax.set(yscale="log", xlabel="latent dimension", ylabel="held-out error / data variance", title=name)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def multiscale(panels: list[tuple[str, np.ndarray]], speed: pd.DataFrame, speedup: pd.DataFrame, grid: int):
    """Chapter 4: a sample grid per model (titled), then seconds per 1000 samples of each design against the
    resolution (``speed``, log-log) and their ratio (``speedup``, genlab.tables.speedup_table)."""
    fig, axes = plt.subplots(1, len(panels) + 2, figsize=(3.2 * (len(panels) + 2), 3.4))
    for ax, (title, samples) in zip(axes, panels):
        draw_samples(ax, samples, grid)
        ax.set_title(title, fontsize=8)
    cost, ratio = axes[-2], axes[-1]
    for model, rows in speed.groupby("model", sort=False):
        rows = rows.sort_values("resolution")
        cost.plot(rows["resolution"], rows["seconds_per_1000"], marker="o", label=f"{model} ({rows['family'].iloc[0]})")
    cost.set(yscale="log", xlabel="image side (pixels)", ylabel="seconds / 1000 samples")
    cost.legend(fontsize=7)
    ratio.plot(speedup["resolution"], speedup["speed-up"], marker="o", color="black")
    ratio.axhline(1.0, color="grey", linestyle=":")
    ratio.set(xlabel="image side (pixels)", ylabel="sampling speed-up (uniform / multi-scale)")
    sides = sorted(speed["resolution"].unique())
    for ax in (cost, ratio):
        ax.set_xscale("log")
        ax.set_xticks(sides, labels=[str(r) for r in sides])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    fig.tight_layout()
    return fig

