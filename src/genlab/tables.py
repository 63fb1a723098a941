"""Result tables: one row per experiment on a dataset, read from the metric files the pipeline wrote,
written as CSV and LaTeX (booktabs). Missing values are n/a, never a made-up number."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from genlab.io import write_json, write_text


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def experiment_table(runs: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per run ({"model", "family", "metrics": {metric: file}}, as genlab.pipeline.table_runs gives
    them): each metric fills the columns its registry entry declares; a classifier's accuracy file gives the
    row of held-out data, the FID floor."""
    from genlab.evaluation import METRICS
    columns = {column: (name, key) for name, metric in METRICS.items() for column, key in metric.columns.items()}
    rows = []
    for run in runs:
        if run["family"] == "classifier":  # the feature net is no generative model: it gives the floor's row
            accuracy = _read(Path(run["metrics"]["accuracy"])) if "accuracy" in run["metrics"] else {}
            if "fid_test_vs_train" in accuracy:
                rows.append({"model": "held-out data (FID floor)", "family": "data",
                             "FID": accuracy["fid_test_vs_train"],
                             "high-quality samples": accuracy.get("test_high_quality"),  # the reference
                             "notes": f"feature net test accuracy {accuracy['test_accuracy']:.4f}"})
            continue
        values = {name: METRICS[name].values(path) for name, path in run["metrics"].items()}
        row = {"model": run["model"], "family": run["family"]}
        for column, (name, key) in columns.items():
            row[column] = values.get(name, {}).get(key)
        if "nll" in values and row["NLL (bits/dim)"] is None:
            row["notes"] = values["nll"].get("note")
        rows.append(row)
    table = pd.DataFrame(rows).reindex(columns=["model", "family", *columns, "notes"])
    return table.dropna(axis=1, how="all")


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.3e}"
    return str(value).replace("_", r"\_")


def to_latex(table: pd.DataFrame, caption: str, label: str) -> str:
    header = " & ".join(_fmt(c) for c in table.columns) + r" \\"
    body = [" & ".join(_fmt(v) for v in row) + r" \\" for row in table.itertuples(index=False)]
    return "\n".join([
        r"\begin{table}[t]", r"\centering", rf"\caption{{{caption}}}", rf"\label{{{label}}}",
        rf"\begin{{tabular}}{{{'l' * 2 + 'r' * (len(table.columns) - 2)}}}", r"\toprule", header, r"\midrule",
        *body, r"\bottomrule", r"\end{tabular}", r"\end{table}", ""])


def write_table(table: pd.DataFrame, csv_path: str | Path, tex_path: str | Path, caption: str,
                label: str, json_path: str | Path | None = None) -> None:
    """CSV and LaTeX; the JSON copy ({model: {column: value}}, null for n/a) is what DVC tracks as a metric."""
    write_text(csv_path, table.to_csv(index=False, na_rep="n/a"))
    write_text(tex_path, to_latex(table, caption, label))
    if json_path is not None:
        by_model = table.set_index("model")
        records = by_model.astype(object).where(by_model.notna(), None)
        write_json(json_path, records.to_dict(orient="index"))


def intrinsic_dim_table(metric_files: list[str | Path]) -> pd.DataFrame:
    """One row per dataset (per component for a union of manifolds): ambient and true dimension, our estimate
    (median over points, and the share of points estimated exactly), and each scikit-dimension baseline; a
    last row of mean absolute errors over the rows whose dimension is known."""
    def row(name: str, ambient_dim: int, truth: int | None, estimate: int | None, histogram: dict[str, int],
            baselines: dict):
        counts = {int(k): v for k, v in histogram.items()}
        return {"dataset": name, "D": ambient_dim, "true": truth, "ours": estimate,
                "ours exact (share of points)": (counts.get(truth, 0) / sum(counts.values())
                                                 if counts and truth is not None else None), **baselines}

    rows = []
    for path in metric_files:
        result = _read(Path(path))
        name = result["experiment"].split("/")[0]
        if "by_component" in result:
            # a union of manifolds: a row per component, ours from its own points; a baseline gives one
            # number for the whole union, which stands in each row
            rows += [row(f"{name} (k = {k})", result["ambient_dim"], int(k), part["median"], part["histogram"],
                         result["baselines"])
                     for k, part in result["by_component"].items()]
        else:
            rows.append(row(name, result["ambient_dim"], result["true_dim"], result.get("estimate"),
                            result.get("histogram", {}), result["baselines"]))
            # labelled data (the paper's per-digit estimates): a row per class after the whole, its dimension
            # unknown; the baselines are of the whole set only
            rows += [row(f"{name} (class {label})", result["ambient_dim"], None, part["median"], part["histogram"],
                         {key: None for key in result["baselines"]})
                     for label, part in result.get("by_label", {}).items()]
    table = pd.DataFrame(rows)
    known = table[table["true"].notna()]
    estimators = [c for c in table.columns if c not in ("dataset", "D", "true", "ours exact (share of points)")]
    errors = {name: float((known[name].astype(float) - known["true"]).abs().mean()) for name in estimators}
    table = pd.concat([table, pd.DataFrame([{"dataset": "mean absolute error", **errors}])], ignore_index=True)
    return table.rename(columns={"dataset": "model"})  # write_table indexes rows by the first column


# The CDSM paper's values (Batzolis et al., arXiv 2111.13606; a review's reading, as params/README and the
# claims file say): CelebA-HQ 8x super-resolution and inpainting of one random square covering 25% (PSNR dB /
# LPIPS / FID / joint FID), edges2shoes PSNR. The review names the multi-speed estimator CMDE without saying
# whether the row is the fixed or the variance-lowered (VS-) variant; it stands beside both of ours.
PAPER_CONDITIONAL = {
    "superres": ("CelebA-HQ 8x (paper)", {"CDE": (23.80, 0.114, 10.36, 15.77), "CDiffE": (23.83, 0.139, 14.29, 20.20),
                                          "CMDE": (23.91, 0.109, 10.28, 15.68)}),
    "inpaint": ("CelebA-HQ (paper)", {"CDE": (25.12, 0.042, 13.07, 18.06), "CDiffE": (23.07, 0.057, 13.28, 19.25),
                                      "CMDE": (24.92, 0.044, 12.07, 17.07)}),
    "edges": ("edges2shoes (paper)", {"CDE": (18.35, None, None, None), "CDiffE": (10.00, None, None, None),
                                      "CMDE": (18.16, None, None, None)}),
}
ESTIMATOR_NAMES = {"cde": "CDE", "cdiffe": "CDiffE", "cmde": "CMDE", "vs_cmde": "VS-CMDE",  # chapter 4's
                   "caflow": "CAFLOW", "same_scale": "same-scale flow", "cinn": "conditional INN"}  # chapter 3's


def conditional_table(metric_files: list[str | Path], task: str | None = None) -> pd.DataFrame:
    """Conditional generation: one row per experiment ("dataset/model") with PSNR (inpainting: over the hidden
    square), SSIM, consistency, diversity, FID, joint FID, the feature net's perceptual distance, class
    agreement, the exact conditional NLL where the model has one (CAFLOW) and sampling cost; a model sampled at
    several temperatures gets a row per temperature ("dataset/model T=0.5": PSNR, diversity, FID, feature
    distance); then the paper's rows for ``task`` (its LPIPS in a column of its own)."""
    rows = []
    for path in metric_files:
        result = _read(Path(path))
        dataset, model = result["experiment"].split("/")
        rows.append({"model": f"{dataset}/{model}", "dataset": dataset, "task": result["task"],
                     "estimator": ESTIMATOR_NAMES[result["estimator"]], "PSNR (dB)": result["psnr"],
                     "SSIM": result["ssim"], "consistency PSNR (dB)": result.get("consistency_psnr"),
                     "diversity (0-255)": result.get("diversity"), "FID": result["fid"],
                     "FID std (draws)": result.get("fid_std"), "joint FID": result.get("joint_fid"),
                     "feature distance": result.get("feature_distance"),
                     "class agreement": result["class_agreement"],
                     "NLL x given y (bits/dim)": result.get("nll_bpd"),
                     "s/1000 samples": 1000 * result["seconds_per_sample"]})
        for scores in result.get("by_temperature", []):  # a flow sampled at lower temperatures, below its row
            rows.append({"model": f"{dataset}/{model} T={scores['temperature']:g}", "dataset": dataset,
                         "task": result["task"], "estimator": ESTIMATOR_NAMES[result["estimator"]],
                         "PSNR (dB)": scores["psnr"], "diversity (0-255)": scores["diversity"], "FID": scores["fid"],
                         "feature distance": scores["feature_distance"]})
    if task in PAPER_CONDITIONAL:
        dataset, values = PAPER_CONDITIONAL[task]
        for estimator, (peak_snr, lpips, fid, joint) in values.items():
            rows.append({"model": f"paper/{estimator}", "dataset": dataset, "task": task, "estimator": estimator,
                         "PSNR (dB)": peak_snr, "FID": fid, "joint FID": joint, "paper LPIPS": lpips})
    return pd.DataFrame(rows)


def reconstruction_table(metric_files: list[str | Path]) -> pd.DataFrame:
    """Auto-encoders (Fig 1.3 and ScoreVAE): one row per experiment ('dataset/model') with its latent size,
    reconstruction MSE, PSNR, SSIM, the reconstructions' high-frequency energy over the originals' (below 1:
    blurred), their FID and perceptual (feature) distance to the originals, and the linear-probe accuracy of
    its latents; after each dataset's models a row 'dataset/raw inputs' holds the probe on the raw pixels."""
    by_dataset: dict[str, list[dict[str, Any]]] = {}
    for path in metric_files:
        result = _read(Path(path))
        by_dataset.setdefault(result["experiment"].split("/")[0], []).append(result)
    rows = []
    for dataset, results in by_dataset.items():
        for result in results:
            rows.append({"model": result["experiment"], "family": result["family"],
                         "latent dim": result["latent_dim"], "MSE": result["mse"], "PSNR (dB)": result["psnr"],
                         "SSIM": result.get("ssim"), "high-frequency energy ratio": result.get("high_frequency_ratio"),
                         "FID of reconstructions": result.get("fid"),
                         "feature distance": result.get("feature_distance"),
                         "linear probe accuracy": result.get("probe_accuracy")})
        pixels = results[0].get("pixel_probe_accuracy")
        if pixels is not None:
            rows.append({"model": f"{dataset}/raw inputs", "linear probe accuracy": pixels})
    return pd.DataFrame(rows).astype({"latent dim": "Int64"})


# Diepeveen, Batzolis et al. (2024), Table 1: geodesic error of the method (anisotropic, isometric flow)
PAPER_GEODESIC_ERROR = {"single": 0.0315, "squeezed": 0.0180, "river": 0.1691}


def geodesic_table(metric_files: list[str | Path], nll_files: list[str | Path] | None = None,
                   variants: dict[str, str] | None = None) -> pd.DataFrame:
    """Pullback geodesics on the banana densities: one row per (dataset, model) with the geodesic error
    (mean distance to the ground-truth geodesic, its standard error, and relative to the end points'
    distance), the authors' variation error, the held-out NLL when measured, and the paper's figure for the
    method on that density; per dataset, reference rows for the straight line (the baseline) and the ground
    truth (geodesic error 0, its own variation)."""
    nll = {}
    for path in nll_files or []:
        result = _read(Path(path))
        nll[result["experiment"]] = result.get("nll_bpd")
    rows, baselines = [], {}
    for path in metric_files:
        result = _read(Path(path))
        dataset, model = result["experiment"].split("/")
        variant = (variants or {}).get(dataset)
        rows.append({"model": f"{dataset}/{model}", "dataset": dataset, "flow": model,
                     "geodesic error": result["geodesic_error"], "s.e.": result["geodesic_error_sem"],
                     "relative error": result["relative_geodesic_error"],
                     "variation error": result.get("variation_error"),
                     "NLL (bits/dim)": nll.get(result["experiment"]),
                     "paper (method)": PAPER_GEODESIC_ERROR.get(variant)})
        if "straight_line_error" in result:  # the same pairs for every flow on a dataset: reference rows
            baselines[dataset] = [
                {"model": f"{dataset}/straight line", "dataset": dataset, "flow": "straight line",
                 "geodesic error": result["straight_line_error"], "s.e.": result["straight_line_error_sem"],
                 "variation error": result["straight_line_variation"]},
                {"model": f"{dataset}/ground truth", "dataset": dataset, "flow": "ground truth",
                 "geodesic error": 0.0, "variation error": result["true_variation"]}]
    return pd.DataFrame(rows + [row for pair in baselines.values() for row in pair])


def rae_table(metric_files: list[str | Path]) -> pd.DataFrame:
    """The Riemannian auto-encoder per manifold: true dimension, coordinates kept at the configured eps, the
    variance share discarded, the held-out MSE at the kept and at the true dimension, and the same for linear
    PCA under the same rule."""
    rows = []
    for path in metric_files:
        result = _read(Path(path))
        truth = result["true_dim"]
        row = {"model": result["experiment"], "ambient dim": len(result["variances"]), "true dim": truth,
               "epsilon": result["epsilon"]}
        for method, prefix in (("RAE", ""), ("PCA", "pca_")):
            variances, kept = result[f"{prefix}variances"], result[f"{prefix}retained_dim"]
            mse = result[f"{prefix}mse_by_kept_dim"]
            row |= {f"{method} retained dim": kept,
                    f"{method} discarded share": sum(variances[kept:]) / sum(variances),
                    f"{method} MSE at true dim": mse[truth - 1] if truth else None}
        rows.append(row)
    return pd.DataFrame(rows)


def autoencoder_dim_table(curves: list[str | Path], metric_files: list[str | Path]) -> pd.DataFrame:
    """The auto-encoder check per dataset (``curves``: genlab.analysis.autoencoder_dim's CSVs in the order of
    the datasets; ``metric_files``: the intrinsic_dim metrics of the score models drawn beside them): the
    knee of the reconstruction error, the true dimension, our estimate and the baselines, and the relative
    error at the latent size nearest each (the error there: how much of the data a latent of that size loses)."""
    by_dataset = {}
    for path in curves:
        frame = pd.read_csv(path)
        by_dataset[Path(path).stem] = frame
    rows = []
    for path in metric_files:
        result = _read(Path(path))
        dataset = result["experiment"].split("/")[0]
        frame = by_dataset[dataset]
        sizes, errors = frame["latent_dim"].to_numpy(), frame["relative_error"].to_numpy()

        def error_at(dim: float | None) -> float | None:
            return None if dim is None else float(errors[abs(sizes - dim).argmin()])

        estimates = {"true": result["true_dim"], "ours": result.get("estimate"),
                     "MLE": result["baselines"].get("MLE"), "lPCA": result["baselines"].get("lPCA")}
        rows.append({"model": result["experiment"], "D": result["ambient_dim"],
                     "knee": int(sizes[frame["knee"].astype(bool).to_numpy()][0]), **estimates,
                     **{f"relative error at {name}": error_at(dim) for name, dim in estimates.items()},
                     "latent sizes": " ".join(str(int(s)) for s in sizes),
                     "seconds per auto-encoder": float(frame["seconds"].iloc[0])})
    return pd.DataFrame(rows)


def speedup_table(speed: pd.DataFrame) -> pd.DataFrame:
    """Per resolution: the uniform and the multi-scale design's seconds per 1000 samples and their ratio."""
    wide = speed.pivot_table(index="resolution", columns="family", values="seconds_per_1000").reset_index()
    nfe = speed.pivot_table(index="resolution", columns="family", values="nfe").reset_index()
    return pd.DataFrame({"model": [f"{r}x{r}" for r in wide["resolution"]], "resolution": wide["resolution"],
                         "NFE uniform": nfe["diffusion"], "NFE multi-scale": nfe["multiscale"],
                         "uniform s / 1000 samples": wide["diffusion"],
                         "multi-scale s / 1000 samples": wide["multiscale"],
                         "speed-up": wide["diffusion"] / wide["multiscale"]})
