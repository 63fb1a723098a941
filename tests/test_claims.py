"""Claims and the generated README: every predicate holds and differs where it should, missing results read
as 'not run at this scale', malformed claims files stop with one line, the committed claims.yaml is valid
and reads only pipeline outputs, and the README block round-trips (and a stale one is caught).

Results here are small fake files in the pipeline's formats, with the default run's numbers from the README
(so the committed claims get the verdicts the README's text states)."""

import csv
import json
import re
from pathlib import Path

import pytest
import yaml

from genlab import claims as gc
from genlab import paths, readme
from genlab.errors import ConfigError, GenlabError
from tests.conftest import REPO

# --- fake results, in the formats of genlab.tables / methods.cdsm / the analyses ----------------------

DIGITS = {  # model: (family, FID, NLL, NFE, s/1000, train s)
    "held-out data (FID floor)": ("data", 6.2, None, None, None, None),
    "gaussian": ("gaussian", 97.3, 2.94, 1, 0.0004, 0), "gan": ("gan", 150.6, None, 1, 0.003, 33),
    "wgan": ("gan", 34.6, None, 1, 0.003, 72), "vae": ("vae", 151.9, 2.26, 1, 0.003, 19),
    "flow": ("flow", 39.3, 2.06, 192, 7.6, 94), "autoregressive": ("autoregressive", 73.1, 2.13, 64, 0.72, 17),
    "ebm": ("ebm", 58.1, None, 200, 1.07, 30), "diffusion_vp": ("diffusion", 8.9, 2.50, 81, 1.59, 156)}
MNIST28 = {  # model: (family, FID, NLL, NFE, s/1000): Fig 1.1 on the 28x28 digits, the default run's (rounded)
    "gaussian": ("gaussian", 552.5, 5.86, 1, 0.035), "gan28": ("gan", 517.2, None, 1, 0.067),
    "wgan28": ("gan", 321.7, None, 1, 0.072), "vae28": ("vae", 357.7, None, 1, 0.020),
    "flow28": ("flow", 1108.5, 5.15, 4, 0.15), "autoregressive28": ("autoregressive", 1257.2, 1.72, 784, 10.2),
    "ebm28": ("ebm", 299.7, None, 200, 5.90), "diffusion28": ("diffusion", 270.1, None, 51, 44.2)}
RING = {"gaussian": 2.545, "flow_toy": 1.253, "autoregressive_toy": 1.259, "diffusion_toy": 1.268, "vae_toy": 1.420}
CDSM = {  # dataset: estimator: errors at n = 100, 300, 1000, 3000 (mean over t)
    "cond_gaussian": {"cde": [0.097, 0.0068, 0.0019, 0.0014], "cdiffe": [0.032, 0.0044, 0.0029, 0.0029],
                      "cmde": [0.09, 0.007, 0.0024, 0.0018], "empirical minimiser": [0.2, 0.1, 0.05, 0.03]},
    "cond_mixture": {"cde": [0.362, 0.018, 0.0061, 0.0044], "cdiffe": [0.086, 0.032, 0.028, 0.027],
                     "cmde": [0.328, 0.020, 0.0078, 0.0062], "empirical minimiser": [0.5, 0.3, 0.2, 0.1]}}
SIZES, TIMES = [100, 300, 1000, 3000], [0.01, 1.0]
GEODESICS = {"banana_single": [0.164, 0.152, 0.142, 0.081, 0.0315], "banana_squeezed": [0.205, 0.187, 0.347, 0.0235, 0.0180],
             "banana_river": [0.429, 0.398, 0.510, 0.511, 0.1691]}  # plain, anisotropic, isometric, method, paper
FLOWS = ["pullback_plain", "pullback_anisotropic", "pullback_isometric", "pullback"]
STRAIGHT_LINE = {"banana_single": 0.30, "banana_squeezed": 0.28, "banana_river": 0.45}  # river: below the method's 0.511


def _write(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) if not isinstance(data, str) else data)


def _csv(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


GAN28 = {"gan28_minimax": {"3000": (8, 0.31, 7), "6000": (8, 0.32, 7), "ema": (8, 0.32, 7)},
         "gan28": {"3000": (8, 0.36, 6), "6000": (9, 0.34, 7), "ema": (9, 0.34, 7)},
         "wgan28": {"1800": (10, 0.15, 9), "3600": (10, 0.18, 9), "ema": (10, 0.18, 9)}}


def fake_results(root: Path) -> None:
    """The default run's results as the README reports them (the same file layout as the pipeline)."""
    _write(root / paths.table("digits", "json"), {
        model: {"family": family, "FID": fid, "NLL (bits/dim)": nll, "NFE": nfe, "s / 1000 samples": seconds,
                "train time (s)": train} for model, (family, fid, nll, nfe, seconds, train) in DIGITS.items()})
    _write(root / paths.table("mnist28", "json"), {
        model: {"family": family, "FID": fid, "NLL (bits/dim)": nll, "NFE": nfe, "s / 1000 samples": seconds}
        for model, (family, fid, nll, nfe, seconds) in MNIST28.items()})
    for model, covered in (("gan", 9), ("wgan", 10)):
        _csv(root / paths.metric("digits", model, "modes", "csv"),
             [{"step": step, "modes_covered": c, "modes": 10, "high_quality": ""} for step, c in
              (("250", 4), ("500", 7), ("ema", covered))])
    _write(root / paths.table("ring", "json"), {
        model: {"family": model.split("_")[0], "NLL (bits/dim)": nll, "true NLL (bits/dim)": 1.245, "NFE": 1}
        for model, nll in RING.items()})
    _csv(root / paths.analysis("kde_curse", "csv"), [
        {"d": d, "n": n, "repeat": r, "relative_ise": base * (64 / n) ** 0.5 * (1 + 0.1 * r)}
        for d, base in ((1, 0.02), (2, 0.09), (4, 0.24)) for n in (64, 256) for r in (0, 1)])
    ids = {"id_sphere": (20, 4, 4, 3.87, 5, 5), "id_spaghetti": (20, 1, 1, 0.99, 9, 10),
           "id_squares": (100, 20, 20, 13.89, 20, 20), "id_blobs": (100, 10, 11, 7.40, 11, 99)}
    id_table = {name: {"D": D, "true": true, "ours": ours, "ours exact (share of points)": 1.0, "MLE": mle, "lPCA": pca,
                       "PPCA": ppca} for name, (D, true, ours, mle, pca, ppca) in ids.items()}
    for k in (2, 6):  # the union of a 2- and a 6-sphere: a row per sphere, the global baselines in both
        id_table[f"id_union (k = {k})"] = {"D": 20, "true": k, "ours": k, "ours exact (share of points)": 1.0,
                                           "MLE": 2.94, "lPCA": 10, "PPCA": 10}
    # the 28x28 digits: no truth, a row per class (the paper's per-digit ordering, "1" lowest, "7" second, as in the
    # default run of 8697379: 4 digits a class)
    id_table["mnist28"] = {"D": 784, "true": None, "ours": 181, "ours exact (share of points)": None, "MLE": 10.48,
                           "lPCA": 40, "PPCA": None}
    for digit, ours in enumerate((193, 97, 165, 181, 147, 189, 164, 125, 176, 181)):
        id_table[f"mnist28 (class {digit})"] = {"D": 784, "true": None, "ours": ours,
                                                "ours exact (share of points)": None, "MLE": None, "lPCA": None}
    id_table["mean absolute error"] = {"D": None, "true": None, "ours": 0.0, "ours exact (share of points)": None,
                                       "MLE": 0.96, "lPCA": 4.2, "PPCA": 4.2}
    _write(root / paths.analysis("intrinsic_dim", "json"), id_table)
    _write(root / paths.analysis("autoencoder_dim", "json"), {  # the default run's knees and errors
        "id_blobs/score_ve": {"knee": 11, "true": 10, "ours": 11, "MLE": 7.40, "relative error at MLE": 0.20,
                              "relative error at ours": 0.010},
        "id_sphere/score_ve": {"knee": 5, "true": 4, "ours": 4, "MLE": 3.87, "relative error at MLE": 0.030,
                               "relative error at ours": 0.030}})
    for dataset, estimators in CDSM.items():
        _csv(root / paths.cdsm_curves(dataset), [
            {"dataset": dataset, "estimator": name, "n": n, "t": t, "error": error * (0.5 if t < 0.5 else 1.5)}
            for name, errors in estimators.items() for n, error in zip(SIZES, errors) for t in TIMES])
    # the default run's conditional tables (results/analysis/conditional_<task>.json; rows dataset/model):
    # (class agreement, FID, PSNR, consistency PSNR) per estimator
    conditional = {
        ("label", "digits", ""): {"cde": (0.82, 108, 11.5, None), "cdiffe": (0.13, 190, 9.5, None),
                                  "cmde": (0.80, 131, 11.4, None), "vs_cmde": (0.78, 138, 11.3, None)},
        ("inpaint", "digits", ""): {"cde": (0.71, 91, 10.9, 17.3), "cdiffe": (0.28, 217, 9.3, 12.4),
                                    "cmde": (0.69, 90, 10.7, 16.9), "vs_cmde": (0.68, 92, 10.7, 16.6)},
        ("superres", "digits", ""): {"cde": (0.80, 78, 14.9, 26.7), "cdiffe": (0.43, 219, 11.7, 18.6),
                                     "cmde": (0.78, 87, 14.7, 26.9), "vs_cmde": (0.78, 86, 14.6, 26.6)},
        ("superres", "mnist28", "28"): {"cde": (0.83, 8.7, 16.2, 27.7), "cdiffe": (0.28, 45.8, 11.1, 16.5),
                                        "cmde": (0.80, 8.9, 16.0, 26.9), "vs_cmde": (0.80, 9.0, 15.9, 27.2)},
        ("edges", "digits", ""): {"cde": (0.66, 107, 13.8, 8.4), "cdiffe": (0.22, 223, 10.7, 5.5),
                                  "cmde": (0.63, 112, 13.6, 8.1), "vs_cmde": (0.63, 112, 13.4, 8.0)}}
    tables = {"superres": {  # CAFLOW and its two ablations (chapter 3), each with a row per temperature
        "digits/caflow_superres": {"task": "superres", "estimator": "CAFLOW", "FID": 10.2, "PSNR (dB)": 16.7},
        "digits/caflow_superres T=1": {"PSNR (dB)": 16.6, "diversity (0-255)": 20.1, "FID": 11.3},
        "digits/caflow_superres T=0.5": {"PSNR (dB)": 18.9, "diversity (0-255)": 10.5, "FID": 8.42},
        "digits/same_scale_superres": {"task": "superres", "estimator": "same-scale flow", "FID": 22.7,
                                       "PSNR (dB)": 16.3},
        "digits/cinn_superres": {"task": "superres", "estimator": "conditional INN", "FID": 24.6, "PSNR (dB)": 15.6},
        "mnist28/caflow_superres28": {"task": "superres", "estimator": "CAFLOW", "FID": 42.8, "PSNR (dB)": 16.0},
        "mnist28/caflow_superres28 T=1": {"PSNR (dB)": 16.1, "diversity (0-255)": 11.9, "FID": 44.3},
        "mnist28/caflow_superres28 T=0.5": {"PSNR (dB)": 17.8, "diversity (0-255)": 5.9, "FID": 46.0}},
        "inpaint": {
        "digits/caflow_inpaint": {"task": "inpaint", "estimator": "CAFLOW", "FID": 37.7, "PSNR (dB)": 10.7},
        "digits/caflow_inpaint T=1": {"PSNR (dB)": 10.6, "diversity (0-255)": 22.5, "FID": 37.1},
        "digits/caflow_inpaint T=0.5": {"PSNR (dB)": 12.5, "diversity (0-255)": 12.5, "FID": 21.8}},
        "edges": {
        "digits/caflow_edges": {"task": "edges", "estimator": "CAFLOW", "FID": 23.1, "PSNR (dB)": 14.3},
        "digits/caflow_edges T=1": {"PSNR (dB)": 14.2, "diversity (0-255)": 26.2, "FID": 25.9},
        "digits/caflow_edges T=0.5": {"PSNR (dB)": 16.3, "diversity (0-255)": 13.4, "FID": 13.4}}}
    for (task, dataset, suffix), rows in conditional.items():
        tables.setdefault(task, {}).update({
            f"{dataset}/{estimator}_{task}{suffix}": {
                "task": task, "estimator": estimator, "class agreement": agreement, "FID": fid, "PSNR (dB)": psnr,
                "consistency PSNR (dB)": consistent}
            for estimator, (agreement, fid, psnr, consistent) in rows.items()})
    for task, rows in tables.items():
        _write(root / paths.analysis(f"conditional_{task}", "json"), rows)
    _write(root / paths.analysis("reconstructions", "json"), {
        "digits/vae": {"latent dim": 16, "MSE": 0.0261, "PSNR (dB)": 22.5, "SSIM": 0.909,
                       "high-frequency energy ratio": 0.6, "FID of reconstructions": 8.58, "feature distance": 0.0177,
                       "linear probe accuracy": 0.958},
        "digits/vae_scorevae_beta": {"latent dim": 16, "MSE": 0.0358, "PSNR (dB)": 21.2, "SSIM": 0.874,
                                     "high-frequency energy ratio": 0.6, "FID of reconstructions": 8.62,
                                     "feature distance": 0.0236, "linear probe accuracy": 0.9},
        "digits/score_vae": {"latent dim": 16, "MSE": 0.0322, "PSNR (dB)": 21.4, "SSIM": 0.922,
                             "high-frequency energy ratio": 0.9, "FID of reconstructions": 8.31,
                             "feature distance": 0.0171, "linear probe accuracy": 0.919},
        "digits/raw inputs": {"latent dim": None, "MSE": None, "PSNR (dB)": None, "SSIM": None,
                              "FID of reconstructions": None, "linear probe accuracy": 0.978},
        "mnist28/vae28": {"latent dim": 20, "MSE": 0.03, "PSNR (dB)": 18.0, "SSIM": 0.7, "high-frequency energy ratio": 0.5,
                        "FID of reconstructions": 20.0, "feature distance": 0.05, "linear probe accuracy": 0.9},
        "mnist28/raw inputs": {"latent dim": None, "linear probe accuracy": 0.9}})
    _csv(root / paths.metric("digits", "diffusion_vp", "sweep", "csv"), [  # the default run's, FID to 3 digits
        {"sampler": sampler, "steps": steps, "tolerance": tolerance, "nfe": nfe, "fid": fid}
        for sampler, steps, tolerance, nfe, fid in (
            ("euler_maruyama", 10, "", 11.0, 97.6), ("euler_maruyama", 20, "", 21.0, 30.4),
            ("ddim", 10, "", 11.0, 27.8), ("ode", "", 0.1, 15.0, 19.2), ("ode", "", 0.01, 33.0, 12.2))])
    # Fig 1.2 on 28x28 digits: modes covered and the largest class share at snapshots and the end
    for model, rows in GAN28.items():
        _csv(root / paths.metric("mnist28", model, "modes", "csv"),
             [{"step": step, "modes_covered": covered, "modes": 10, "high_quality": 0.7, "top_share": top,
               "high_quality_modes": convincing} for step, (covered, top, convincing) in rows.items()])
    _write(root / paths.analysis("pullback_geodesics", "json"), {
        f"{dataset}/{flow}": {"dataset": dataset, "flow": flow, "geodesic error": error, "s.e.": 0.001,
                              "paper (method)": values[-1]}
        for dataset, values in GEODESICS.items() for flow, error in zip(FLOWS, values)} | {
        f"{dataset}/straight line": {"dataset": dataset, "flow": "straight line", "geodesic error": error, "s.e.": 0.01}
        for dataset, error in STRAIGHT_LINE.items()})
    _write(root / paths.analysis("rae", "json"), {
        "hemisphere_2_3/pullback_rae": {"ambient dim": 3, "true dim": 2, "RAE retained dim": 2, "PCA retained dim": 2,
                                        "epsilon": 0.1},
        "sinusoid_1_3/pullback_rae": {"ambient dim": 3, "true dim": 1, "RAE retained dim": 1, "PCA retained dim": 2,
                                      "epsilon": 0.1},
        "hemisphere_3_5/pullback_rae": {"ambient dim": 5, "true dim": 3, "RAE retained dim": 3, "PCA retained dim": 3,
                                        "epsilon": 0.1},
        "sinusoid_1_5/pullback_rae": {"ambient dim": 5, "true dim": 1, "RAE retained dim": 1, "PCA retained dim": 2,
                                      "epsilon": 0.1}})


# --- predicates ---------------------------------------------------------------------------------------

def _claims_file(tmp_path: Path, *entries: dict) -> Path:
    full = [{"id": f"claim_{i}", "statement": "s.", "source": "paper, Table 1", "paper": "1", "why": "w.", **entry}
            for i, entry in enumerate(entries)]
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump({"claims": full}, sort_keys=False))
    return path


def _verdict(tmp_path: Path, measure, predicate, data: dict) -> dict:
    _write(tmp_path / "results/analysis/x.json", data)
    rows = gc.evaluate(gc.load_claims(_claims_file(tmp_path, {"measure": measure, "predicate": predicate})), tmp_path)
    return rows[0]


def ref(*key):
    return {"file": "results/analysis/x.json", "key": list(key)}


DATA = {"a": {"v": 4.0, "w": 4.0, "x": 5.0, "small": 0.003, "big": 1.59, "nine": 9, "ten": 10}}
CASES = [  # (measure, predicate, expected verdict)
    (ref("a", "v"), {"kind": "equals", "to": ref("a", "w")}, gc.HOLDS),
    (ref("a", "x"), {"kind": "equals", "to": ref("a", "w")}, gc.DIFFERS),
    (ref("a", "v"), {"kind": "equals", "to": 4}, gc.HOLDS),
    (ref("a", "x"), {"kind": "within", "to": 4.96, "abs": 0.05}, gc.HOLDS),
    (ref("a", "x"), {"kind": "within", "to": 4.9, "abs": 0.05}, gc.DIFFERS),
    (ref("a", "x"), {"kind": "within", "to": ref("a", "v"), "rel": 0.25}, gc.HOLDS),
    (ref("a", "x"), {"kind": "within", "to": ref("a", "v"), "rel": 0.2}, gc.DIFFERS),  # rel of 'to': 1 > 0.2 * 4
    (ref("a", "small"), {"kind": "at_most", "factor": 0.1, "than": ref("a", "big")}, gc.HOLDS),
    (ref("a", "big"), {"kind": "at_most", "factor": 0.1, "than": ref("a", "small")}, gc.DIFFERS),
    (ref("a", "nine"), {"kind": "at_most", "strict": True, "than": ref("a", "ten")}, gc.HOLDS),
    (ref("a", "nine"), {"kind": "at_most", "strict": True, "than": 9}, gc.DIFFERS),
    (ref("a", "nine"), {"kind": "at_most", "than": 9}, gc.HOLDS),
    (ref("a", "v"), {"kind": "at_most", "than": {"w": ref("a", "w"), "x": ref("a", "x")}}, gc.HOLDS),
    (ref("a", "x"), {"kind": "at_most", "than": {"w": ref("a", "w"), "ten": ref("a", "ten")}}, gc.DIFFERS),
    (ref("a", "big"), {"kind": "at_least", "factor": 10, "than": ref("a", "small")}, gc.HOLDS),
    (ref("a", "big"), {"kind": "at_least", "factor": 1000, "than": ref("a", "small")}, gc.DIFFERS),
    ({"p": ref("a", "small"), "q": ref("a", "v"), "r": ref("a", "ten")}, {"kind": "ordering", "order": "ascending"},
     gc.HOLDS),
    ({"p": ref("a", "x"), "q": ref("a", "v")}, {"kind": "ordering", "order": "ascending"}, gc.DIFFERS),
    ({"p": ref("a", "x"), "q": ref("a", "v")}, {"kind": "ordering", "order": "ascending", "rel": 0.25}, gc.HOLDS),
    ({"p": ref("a", "x"), "q": ref("a", "v")}, {"kind": "ordering", "order": "descending"}, gc.HOLDS),
    ({"p": ref("a", "x"), "q": ref("a", "v"), "r": ref("a", "ten")}, {"kind": "ordering", "order": "descending"},
     gc.DIFFERS),
]


@pytest.mark.parametrize("measure, predicate, expected", CASES)
def test_predicate_verdicts(tmp_path, measure, predicate, expected):
    row = _verdict(tmp_path, measure, predicate, DATA)
    assert row["verdict"] == expected, row


def _sequence_verdict(tmp_path, errors, predicate, reduce="mean"):
    _csv(tmp_path / "results/analysis/cdsm/c.csv", [
        {"estimator": "cde", "n": n, "t": t, "error": e * (0.5 if t == 0 else 1.5)}
        for n, e in zip([1000, 100, 300], errors) for t in (0, 1)])  # rows out of n order: 'by' sorts them
    measure = {"file": "results/analysis/cdsm/c.csv", "where": {"estimator": "cde"}, "column": "error", "by": "n",
               "reduce": reduce}
    path = _claims_file(tmp_path, {"measure": measure, "predicate": predicate})
    return gc.evaluate(gc.load_claims(path), tmp_path)[0]


@pytest.mark.parametrize("errors, predicate, expected", [
    ([0.01, 0.1, 0.05], {"kind": "decreasing"}, gc.HOLDS),  # n = 1000, 100, 300 -> 0.1, 0.05, 0.01
    ([0.06, 0.1, 0.05], {"kind": "decreasing"}, gc.DIFFERS),  # rises from n = 300 to 1000
    ([0.052, 0.1, 0.05], {"kind": "decreasing", "rel": 0.1}, gc.HOLDS),  # a 4% rise within 10%
    ([0.2, 0.1, 0.15], {"kind": "increasing"}, gc.HOLDS),
    ([0.01, 0.1, 0.05], {"kind": "increasing"}, gc.DIFFERS),
])
def test_sequence_predicates(tmp_path, errors, predicate, expected):
    row = _sequence_verdict(tmp_path, errors, predicate)
    assert row["verdict"] == expected, row
    assert [label for label, _ in row["values"]["ours"]] == ["100", "300", "1000"]


def test_csv_reference_selects_reduces_and_takes_max(tmp_path):
    _csv(tmp_path / "results/analysis/cdsm/c.csv", [
        {"estimator": est, "n": n, "t": t, "error": 10 * n + t + (1000 if est == "cdiffe" else 0)}
        for est in ("cde", "cdiffe") for n in (100, 3000, 300) for t in (1, 3)])
    row = gc.evaluate(gc.load_claims(_claims_file(tmp_path, {
        "measure": {"file": "results/analysis/cdsm/c.csv", "where": {"estimator": "cdiffe", "n": "max"},
                    "column": "error"},
        "predicate": {"kind": "equals", "to": 31002}})), tmp_path)[0]
    assert row["values"]["ours"] == 31002.0  # mean of 31001 and 31003 at n = 3000
    assert row["verdict"] == gc.HOLDS


def test_key_alternatives_take_the_first_present(tmp_path):
    row = _verdict(tmp_path, {"file": "results/analysis/x.json", "key": [["absent", "a"], "x"]},
                   {"kind": "equals", "to": 5}, DATA)
    assert row["verdict"] == gc.HOLDS


# --- not run at this scale ----------------------------------------------------------------------------

@pytest.mark.parametrize("measure, why", [
    ({"file": "results/analysis/absent.json", "key": ["a", "v"]}, "not found"),
    (ref("sphere50", "ours"), "no key"),
    (ref("a", "nothing"), "no key"),
    (ref("a", "null"), "n/a"),
    ({"file": "results/analysis/cdsm/c.csv", "where": {"n": 30000}, "column": "error"}, "no rows"),
    ({"file": "results/analysis/cdsm/c.csv", "column": "absent"}, "no column"),
])
def test_missing_results_are_not_run(tmp_path, measure, why):
    _csv(tmp_path / "results/analysis/cdsm/c.csv", [{"n": 100, "error": 0.1}])
    row = _verdict(tmp_path, measure, {"kind": "at_most", "than": 1}, {"a": {"v": 1.0, "null": None}})
    assert row["verdict"] == gc.NOT_RUN
    assert why in row["note"]


def test_missing_comparand_is_not_run(tmp_path):
    row = _verdict(tmp_path, ref("a", "v"), {"kind": "at_most", "than": {"w": ref("a", "w"), "z": ref("b", "z")}},
                   DATA)
    assert row["verdict"] == gc.NOT_RUN


def test_non_numeric_value_is_a_claims_error(tmp_path):
    with pytest.raises(ConfigError, match="claim 'claim_0'.*not a number"):
        _verdict(tmp_path, ref("a", "kind"), {"kind": "at_most", "than": 1}, {"a": {"kind": "exact"}})


# --- malformed claims files ---------------------------------------------------------------------------

GOOD = {"measure": ref("a", "v"), "predicate": {"kind": "at_most", "than": 1}}


@pytest.mark.parametrize("entries, message", [
    ([{**GOOD, "predicate": {"kind": "below", "than": 1}}], r"claim 'claim_0': predicate: kind: unknown 'below'; use one of"),
    ([{k: v for k, v in GOOD.items() if k != "measure"}], r"claim 'claim_0': missing key 'measure'"),
    ([{**GOOD, "id": "dup"}, {**GOOD, "id": "dup"}], r"claim 'dup': duplicate id"),
    ([{**GOOD, "tolerance": 1}], r"claim 'claim_0': unknown key 'tolerance'"),
    ([{**GOOD, "predicate": {"kind": "within", "to": 1}}], r"within needs exactly one tolerance"),
    ([{**GOOD, "predicate": {"kind": "at_most"}}], r"at_most needs 'than'"),
    ([{**GOOD, "predicate": {"kind": "at_most", "than": 1, "factor": -1}}], r"factor: expected a non-negative"),
    ([{**GOOD, "measure": {"file": "results/analysis/x.json", "key": ["a", True]}}], r"True is not a name; quote it"),
    ([{**GOOD, "measure": {"file": "results/x.txt", "key": ["a"]}}], r"neither \.json nor \.csv"),
    ([{**GOOD, "measure": {"file": "results/x.csv", "column": "e", "reduce": "sum"}}], r"reduce: unknown 'sum'"),
    ([{**GOOD, "predicate": {"kind": "decreasing"}}], r"'decreasing' needs one CSV ref with 'by'"),
    ([{**GOOD, "predicate": {"kind": "ordering", "order": "ascending"}}], r"'ordering' needs a mapping"),
    ([{**GOOD, "id": "Bad-Id"}], r"claims\[0\]: id: 'Bad-Id' is not a snake_case name"),
])
def test_malformed_claims_stop_with_one_line(tmp_path, entries, message):
    with pytest.raises(ConfigError) as error:
        gc.load_claims(_claims_file(tmp_path, *entries))
    text = str(error.value)
    assert "\n" not in text
    assert re.search(message, text), text
    assert text.startswith(str(tmp_path / "claims.yaml"))


@pytest.mark.parametrize("content, message", [("claims: [", "not valid YAML"), ("- a\n- b\n", "top-level 'claims:'")])
def test_unreadable_claims_file(tmp_path, content, message):
    path = tmp_path / "claims.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        gc.load_claims(path)


# --- the committed claims.yaml ------------------------------------------------------------------------

CLAIMS = gc.load_claims(REPO / "claims.yaml")


def _params(name):
    return yaml.safe_load((REPO / "params" / name).read_text())


def test_committed_claims_read_only_pipeline_outputs():
    """Every file is a results table, an analysis table, CDSM curves or a run's metric file, named after a
    dataset, figure block or experiment of params/default.yaml or params/thesis.yaml."""
    params = [_params("default.yaml"), _params("thesis.yaml")]
    datasets = {name for p in params for name in p["datasets"]}
    figures = {name for p in params for name in p["figures"]}
    runs = {(e["dataset"], e["model"]) for p in params for e in p["experiments"]}
    cdsm = {d for p in params for d in p["figures"].get("cdsm_consistency", {}).get("datasets", [])}
    files = gc.claim_inputs(CLAIMS)
    assert files and len(files) == len(set(files))
    for file in files:
        stem, ext = Path(file).stem, Path(file).suffix[1:]
        if file == paths.table(stem, ext):
            assert stem in datasets, file
        elif file == paths.analysis(stem, ext):
            assert stem in figures, file
        elif file == paths.cdsm_curves(stem):
            assert stem in cdsm, file
        else:
            dataset, model = Path(file).parts[1:3]
            assert file == paths.metric(dataset, model, stem, ext) and (dataset, model) in runs, file


def test_committed_claims_are_documented():
    ids = [claim.id for claim in CLAIMS]
    assert len(ids) == len(set(ids)) >= 30
    for claim in CLAIMS:
        assert claim.statement.endswith(".") and claim.why and claim.source and claim.paper, claim.id


EXPECTED = {  # verdicts on the default run's numbers (README): what the README's text says, claim by claim
    "diffusion_best_fid": gc.HOLDS, "one_pass_sampling_cheap": gc.HOLDS, "diffusion_many_nfe": gc.HOLDS,
    "autoregressive_sampling_slow": gc.HOLDS, "ebm_sampling_slow": gc.HOLDS, "exact_likelihood_beats_uniform": gc.HOLDS,
    "wgan_beats_gan_fid": gc.HOLDS, "gan_mode_collapse": gc.HOLDS, "mnist_diffusion_best_fid": gc.NOT_RUN,
    "gan28_mode_collapse": gc.HOLDS, "gan28_mode_collapse_convincing": gc.HOLDS, "gan28_single_mode": gc.DIFFERS,
    "gan28_minimax_coverage_falls": gc.DIFFERS,
    "gan28_non_saturating_coverage_falls": gc.DIFFERS, "mnist_gan_mode_collapse_thesis": gc.NOT_RUN,
    "vae28_loses_detail": gc.HOLDS,
    "mnist28_diffusion_best_fid": gc.HOLDS,  # 270 against the EBM's 300 and WGAN-GP's 322 (429 with two U-Net levels)
    "mnist28_wgan_beats_gan_fid": gc.HOLDS, "mnist28_one_pass_sampling_cheap": gc.HOLDS,
    "mnist28_diffusion_many_nfe": gc.HOLDS, "mnist28_autoregressive_sampling_slow": gc.HOLDS,
    "mnist28_ebm_sampling_slow": gc.HOLDS, "mnist28_exact_likelihood_beats_uniform": gc.HOLDS,
    "scorevae_sharper_than_vae": gc.HOLDS, "ode_beats_sde_at_low_nfe": gc.HOLDS,
    "ring_exact_likelihood_near_truth": gc.HOLDS, "ring_diffusion_ode_likelihood": gc.HOLDS,
    "ring_vae_bound_above_truth": gc.HOLDS, "kde_error_grows_with_dimension": gc.HOLDS,
    "id_sphere_exact": gc.HOLDS, "id_spaghetti_exact": gc.HOLDS, "id_squares_exact": gc.HOLDS,
    "id_mle_underestimates_squares": gc.HOLDS, "id_blobs_paper": gc.HOLDS,
    "id_lowest_mean_error": gc.NOT_RUN,  # the fake table has three of the eight baselines
    "id_linear_baselines_fail_on_curve": gc.HOLDS,
    "id_sphere10_thesis": gc.NOT_RUN, "id_sphere50_thesis": gc.NOT_RUN,
    "cde_consistent_gaussian": gc.HOLDS, "cde_consistent_mixture": gc.HOLDS, "cdiffe_plateau_gaussian": gc.HOLDS,
    "cdiffe_plateau_mixture": gc.HOLDS, "cdsm_error_ordering_mixture": gc.HOLDS,
    "label_cdiffe_worst": gc.HOLDS, "inpaint_cmde_on_par_psnr": gc.HOLDS, "superres_cmde_on_par_psnr": gc.HOLDS,
    "superres_vs_cmde_on_par_psnr": gc.HOLDS, "inpaint_vs_cmde_on_par_psnr": gc.HOLDS,
    "superres_cdiffe_worst_fid": gc.HOLDS, "inpaint_cdiffe_worst_fid": gc.HOLDS, "inpaint_cdiffe_worst_psnr": gc.HOLDS,
    "superres_cmde_fid_at_most_cde": gc.DIFFERS, "superres_cdiffe_least_consistent": gc.HOLDS,
    "superres28_cdiffe_worst_fid": gc.HOLDS, "superres28_cmde_on_par_psnr": gc.HOLDS,
    "edges_cdiffe_collapses": gc.HOLDS, "superres32_cdiffe_worst_fid": gc.NOT_RUN,
    "caflow_beats_same_scale_fid": gc.HOLDS, "caflow_beats_cinn_fid": gc.HOLDS, "caflow_temperature_fidelity": gc.HOLDS,
    "caflow_temperature_diversity": gc.HOLDS,
    "caflow_temperature_fidelity_inpaint": gc.HOLDS, "caflow_temperature_diversity_inpaint": gc.HOLDS,
    "caflow_temperature_fidelity_edges": gc.HOLDS, "caflow_temperature_diversity_edges": gc.HOLDS,
    "caflow_temperature_fidelity_superres28": gc.HOLDS, "caflow_temperature_diversity_superres28": gc.HOLDS,
    "caflow_beats_same_scale_fid_thesis": gc.NOT_RUN,
    "inpaint32_cdiffe_worst_psnr": gc.NOT_RUN, "edges32_cdiffe_collapses": gc.NOT_RUN,
    "scorevae_perceptual_quality": gc.HOLDS, "scorevae_feature_distance": gc.HOLDS,
    "scorevae_mnist_sharper_thesis": gc.NOT_RUN, "scorevae_mnist_feature_distance_thesis": gc.NOT_RUN,
    "diffdecoder_collapses": gc.NOT_RUN, "diffdecoder_works_at_beta0": gc.NOT_RUN,  # params/thesis.yaml's
    "id_union_small_sphere": gc.HOLDS, "id_union_large_sphere": gc.HOLDS,
    "id_union10_thesis": gc.NOT_RUN, "id_union30_thesis": gc.NOT_RUN,
    "id_nonuniform_sphere_fails_thesis": gc.NOT_RUN,
    "id_mnist28_one_lowest": gc.HOLDS,  # "1" 97, "7" 125
    "id_mnist28_paper": gc.HOLDS, "id_mnist28_mle_paper": gc.HOLDS,
    "id_mnist28_lpca_paper": gc.HOLDS,
    "id_mnist_one_lowest_thesis": gc.NOT_RUN, "id_mnist_thesis": gc.NOT_RUN,
    "id_autoencoder_knee_at_estimate": gc.HOLDS, "id_autoencoder_mle_loses_detail": gc.HOLDS,
    "id_autoencoder_knee_mnist_thesis": gc.NOT_RUN,
    "id_blobs10_thesis": gc.NOT_RUN, "id_blobs20_thesis": gc.NOT_RUN, "id_blobs100_thesis": gc.NOT_RUN,
    "geodesic_single_paper": gc.DIFFERS, "geodesic_squeezed_paper": gc.HOLDS, "geodesic_river_paper": gc.DIFFERS,
    "geodesic_single_beats_ablations": gc.HOLDS, "geodesic_squeezed_beats_ablations": gc.HOLDS,
    "geodesic_river_beats_ablations": gc.DIFFERS,
    "geodesic_single_beats_straight_line": gc.HOLDS, "geodesic_squeezed_beats_straight_line": gc.HOLDS,
    "geodesic_river_beats_straight_line": gc.DIFFERS,
    "rae_hemisphere_2_3": gc.HOLDS, "rae_sinusoid_1_3": gc.HOLDS, "rae_hemisphere_3_5": gc.HOLDS,
    "rae_sinusoid_1_5_held_out": gc.HOLDS, "rae_fewer_than_pca_sinusoid_1_3": gc.HOLDS,
    "rae_fewer_than_pca_sinusoid_1_5": gc.HOLDS, "rae_hemisphere_5_20": gc.NOT_RUN,
}


def test_committed_claims_on_the_default_run(tmp_path):
    fake_results(tmp_path)
    rows = {row["id"]: row for row in gc.evaluate(CLAIMS, tmp_path)}
    assert set(EXPECTED) <= set(rows)
    assert {name: rows[name]["verdict"] for name in EXPECTED} == EXPECTED
    assert rows["geodesic_single_paper"]["ours"] == "0.0810"
    assert rows["geodesic_squeezed_paper"]["paper"] == "0.0180"  # the paper's value as written
    assert rows["geodesic_single_paper"]["test"] == "≤ 1.5 × 0.0315"
    assert rows["diffusion_best_fid"]["test"].startswith("≤ each of gan 151, wgan 34.6")
    assert "not found" in rows["mnist_diffusion_best_fid"]["note"]


def test_write_reproduction(tmp_path):
    fake_results(tmp_path)
    rows = gc.evaluate(CLAIMS, tmp_path)
    md, js = tmp_path / "results/reproduction.md", tmp_path / "results/reproduction.json"
    gc.write_reproduction(rows, md, js)
    counts = {verdict: sum(row["verdict"] == verdict for row in rows) for verdict in gc.VERDICTS}
    summary = (f"{len(CLAIMS)} claims: {counts[gc.HOLDS]} holds, {counts[gc.DIFFERS]} differs, "
               f"{counts[gc.NOT_RUN]} not run at this scale")
    text = md.read_text()
    assert summary + "." in text.splitlines()
    table = [line for line in text.splitlines() if line.startswith("| **")]
    assert len(table) == len(CLAIMS)
    assert "| **rae_hemisphere_2_3**: " in text and table[0].count(" | ") == 5  # six cells
    saved = json.loads(js.read_text())
    assert saved["summary"] == summary
    assert [row["id"] for row in saved["claims"]] == [claim.id for claim in CLAIMS]


# --- number formatting and the README block -----------------------------------------------------------

@pytest.mark.parametrize("value, text", [(150.6, "151"), (0.0261234, "0.0261"), (4.0, "4"), (2.5, "2.50"),
                                          (9.996, "10.0"), (0.0004, "0.000400"), (1234.5, "1234"), (None, "n/a"),
                                          (3.2e-6, "3.20e-06"), ("9/10", "9/10"), (81, "81")])
def test_format_value(value, text):
    assert gc.format_value(value) == text


README = """# genlab

Intro text.

<!-- genlab:results:begin -->
old tables
<!-- genlab:results:end -->

## Layout
"""


def test_readme_round_trip(tmp_path):
    fake_results(tmp_path)
    gc.write_reproduction(gc.evaluate(CLAIMS, tmp_path), tmp_path / "results/reproduction.md",
                          tmp_path / "results/reproduction.json")
    readme_path, snapshot_path = tmp_path / "README.md", tmp_path / "docs/default-run.json"
    readme_path.write_text(README)
    assert not readme.check(readme_path, snapshot_path)  # no snapshot yet

    snap = readme.update(readme_path, snapshot_path, tmp_path)
    assert readme.check(readme_path, snapshot_path)
    assert json.loads(snapshot_path.read_text()) == snap
    text = readme_path.read_text()
    assert text.startswith("# genlab\n\nIntro text.\n\n") and text.endswith("<!-- genlab:results:end -->\n\n## Layout\n")
    assert "old tables" not in text
    titles = [table["title"] for table in snap["tables"]]
    assert titles[:3] == ["Generative families on digits", "Generative families on mnist28",
                          "Generative families on ring"]
    # digits, mnist28, ring, ID, the auto-encoder check, CDSM, four conditional tasks, ScoreVAE, geodesics, RAE, claims
    assert len(titles) == 14
    assert "| id_blobs/score_ve | 10 | 11 | 11 | 7.40 | 0.0100 | 0.200 |" in text  # true, knee, ours, MLE, errors
    assert "| mnist28/cdiffe_superres28 | 11.1 |" in text  # a conditional row, in the table file's order
    # values straight from the results, rounded to 3 significant digits
    assert "| diffusion_vp | 8.90 | 2.50 | 81 | 1.59 | 156 |" in text
    assert "| flow_toy | 1.25 | 1.25 | 1 | 0.00800 |" in text  # the gap to the truth, which rounding would hide
    assert "| held-out data (FID floor) | 6.20 | n/a | n/a | n/a | n/a |" in text
    assert "| cde | cond_gaussian | 0.0970 | 0.00680 | 0.00190 | 0.00140 |" in text  # mean over t
    assert "| banana_single | 0.164 | 0.152 | 0.142 | 0.0810 | 0.300 | 0.0315 |" in text
    assert (text.index("| digits/vae | 16 |") < text.index("| digits/score_vae | 16 |") < text.index("| digits/raw inputs |")
            < text.index("| mnist28/vae28 | 20 |"))
    assert "| geodesic_single_paper | 0.0315 | 0.0810 | differs |" in text

    readme.update(readme_path, snapshot_path, tmp_path)  # idempotent
    assert readme_path.read_text() == text


def test_stale_readme_is_detected(tmp_path):
    fake_results(tmp_path)
    readme_path, snapshot_path = tmp_path / "README.md", tmp_path / "docs/default-run.json"
    readme_path.write_text(README)
    readme.update(readme_path, snapshot_path, tmp_path)
    text = readme_path.read_text()

    readme_path.write_text(text.replace("| diffusion_vp | 8.90 |", "| diffusion_vp | 7.90 |"))  # a hand edit
    assert not readme.check(readme_path, snapshot_path)

    readme_path.write_text(text)
    assert readme.check(readme_path, snapshot_path)
    table = json.loads((tmp_path / paths.table("digits", "json")).read_text())
    table["diffusion_vp"]["FID"] = 12.3  # a new run: the committed snapshot moves, the README has not
    _write(tmp_path / paths.table("digits", "json"), table)
    _write(snapshot_path, readme.snapshot(tmp_path))
    assert not readme.check(readme_path, snapshot_path)


def test_readme_without_markers_is_refused(tmp_path):
    fake_results(tmp_path)
    readme_path, snapshot_path = tmp_path / "README.md", tmp_path / "docs/default-run.json"
    readme_path.write_text("# genlab\n\nno markers\n")
    with pytest.raises(GenlabError, match="expected one '<!-- genlab:results:begin -->'") as error:
        readme.update(readme_path, snapshot_path, tmp_path)
    assert "\n" not in str(error.value)
    assert readme_path.read_text() == "# genlab\n\nno markers\n" and not snapshot_path.exists()
    assert not readme.check(readme_path, snapshot_path)


FINDINGS_README = README.replace("## Layout", "<!-- genlab:findings:begin -->\nold prose\n"
                                                "<!-- genlab:findings:end -->\n\n## Layout")
FINDINGS = """What the numbers say:
- Diffusion's FID is {{tables/digits.json > diffusion_vp > FID}} against WGAN-GP's
  {{ tables/digits.json >wgan> FID | .2f }}, its NFE {{tables/digits.json > diffusion_vp > NFE}}
  (`geodesic_single_paper` {{claim:geodesic_single_paper}}, ours {{claim:geodesic_single_paper > ours}}).
"""


def _findings_run(tmp_path, template: str = FINDINGS):
    fake_results(tmp_path)
    gc.write_reproduction(gc.evaluate(CLAIMS, tmp_path), tmp_path / "results/reproduction.md",
                          tmp_path / "results/reproduction.json")
    readme_path, snapshot_path = tmp_path / "README.md", tmp_path / "docs/default-run.json"
    readme_path.write_text(FINDINGS_README)
    _write(tmp_path / readme.FINDINGS, template)
    return readme_path, snapshot_path


def test_findings_are_rendered_from_results(tmp_path):
    """The prose's numbers and verdicts come from results/ (default: 3 significant digits; a format spec),
    re-wrapped; the README is current only while its prose is what the template and snapshot render to."""
    readme_path, snapshot_path = _findings_run(tmp_path)
    assert not readme.check(readme_path, snapshot_path)
    snap = readme.update(readme_path, snapshot_path, tmp_path)
    assert snap["findings"] == {"tables/digits.json > diffusion_vp > FID": 8.9, "tables/digits.json > wgan > FID": 34.6,
                                "tables/digits.json > diffusion_vp > NFE": 81, "claim:geodesic_single_paper": "differs",
                                "claim:geodesic_single_paper > ours": "0.0810"}
    text = readme_path.read_text()
    assert ("<!-- genlab:findings:begin -->\nWhat the numbers say:\n- Diffusion's FID is 8.90 against WGAN-GP's 34.60, "
            "its NFE 81 (`geodesic_single_paper` differs, ours 0.0810).\n<!-- genlab:findings:end -->") in text
    assert "old prose" not in text and readme.check(readme_path, snapshot_path)
    readme.update(readme_path, snapshot_path, tmp_path)  # idempotent
    assert readme_path.read_text() == text

    readme_path.write_text(text.replace("FID is 8.90", "FID is 7.90"))  # a hand edit of the prose
    assert not readme.check(readme_path, snapshot_path)
    readme_path.write_text(text)
    (tmp_path / readme.FINDINGS).write_text(FINDINGS.replace("its NFE", "after"))  # the template moved on
    assert not readme.check(readme_path, snapshot_path)
    (tmp_path / readme.FINDINGS).write_text(FINDINGS + "  {{tables/digits.json > gan > FID}}\n")  # a new value
    assert not readme.check(readme_path, snapshot_path)  # not in the snapshot until `genlab readme` runs
    (tmp_path / readme.FINDINGS).write_text(FINDINGS)
    assert readme.check(readme_path, snapshot_path)
    snapshot_path.write_text(snapshot_path.read_text()[:-20])  # a damaged snapshot is not a current one
    assert not readme.check(readme_path, snapshot_path)
    table = json.loads((tmp_path / paths.table("digits", "json")).read_text())
    table["diffusion_vp"]["FID"] = 12.3  # a new run moves the snapshot: the prose must follow
    _write(tmp_path / paths.table("digits", "json"), table)
    _write(snapshot_path, readme.snapshot(tmp_path, FINDINGS))
    assert not readme.check(readme_path, snapshot_path)
    readme.update(readme_path, snapshot_path, tmp_path)
    assert "Diffusion's FID is 12.3 against" in readme_path.read_text() and readme.check(readme_path, snapshot_path)


@pytest.mark.parametrize("placeholder, message", [
    ("{{tables/digits.json > diffusion_vp > FIDD}}", "no key 'FIDD' there (it has: FID, NFE"),
    ("{{tables/nothing.json > x}}", "results/tables/nothing.json is not a JSON file of this run"),
    ("{{claim:no_such_claim}}", "no claim 'no_such_claim'"),
    ("{{tables/digits.json > diffusion_vp}}", "names a dict, not a value"),
    ("{{tables/digits.json > diffusion_vp\n  > FID}}", "docs/findings.md:5: an unclosed placeholder")])
def test_bad_placeholder_is_refused_before_writing(tmp_path, placeholder, message):
    readme_path, snapshot_path = _findings_run(tmp_path, FINDINGS + f"  {placeholder}\n")
    with pytest.raises(GenlabError, match=re.escape(message)) as error:
        readme.update(readme_path, snapshot_path, tmp_path)
    assert "\n" not in str(error.value) and ("\n" in placeholder or placeholder.strip("{}") in str(error.value))
    assert readme_path.read_text() == FINDINGS_README and not snapshot_path.exists()


def test_findings_markers_without_template_are_refused(tmp_path):
    readme_path, snapshot_path = _findings_run(tmp_path)
    (tmp_path / readme.FINDINGS).unlink()
    with pytest.raises(GenlabError, match="has findings markers but .*docs/findings.md does not exist"):
        readme.update(readme_path, snapshot_path, tmp_path)
    assert readme_path.read_text() == FINDINGS_README and not snapshot_path.exists()


def test_snapshot_without_results(tmp_path):
    snap = readme.snapshot(tmp_path)
    assert snap == {"tables": []}
    assert "No results yet" in readme.render(snap)


def test_committed_readme_is_current():
    """The README's tables and findings are what docs/default-run.json (and docs/findings.md) render to: run
    `genlab readme` after a run."""
    assert readme.check(REPO / "README.md", REPO / readme.SNAPSHOT)
