"""The README's result tables and findings, generated from results/ so that no number in them is typed by hand.

``snapshot`` collects from results/ the values the README shows (a JSON-ready dict of tables, and the value
of every placeholder of the findings template); ``render`` turns a snapshot into markdown; ``update`` writes the
snapshot to a committed file (docs/default-run.json) and rewrites the README between the markers; ``check``
says whether the README's blocks are what the committed snapshot renders to. results/ is not committed, so CI
checks the README against the snapshot, and the snapshot is refreshed by ``update`` after a run.

The findings (the prose that reads the tables: "what the numbers say") come from a template,
docs/findings.md, whose run-dependent numbers and verdicts are placeholders, so that prose cannot keep a
number a later run changed: ``{{tables/mnist28.json > wgan28 > FID}}`` is a value of a JSON file under
results/ (keys after ``>``), ``{{claim:id_mnist28_one_lowest}}`` a claim's verdict (``{{claim:ID > ours}}``
another field of it); ``| .0f`` after the keys formats a number (default: the tables' 3 significant digits).

Light on purpose (no torch): genlab.io is imported only when writing."""

from __future__ import annotations

import csv
import json
import math
import re
import statistics
import textwrap
from pathlib import Path
from typing import Any

from genlab import paths
from genlab.claims import format_value
from genlab.errors import GenlabError
from genlab.figures import CONDITIONAL_TASKS

BEGIN, END = "<!-- genlab:results:begin -->", "<!-- genlab:results:end -->"
FINDINGS_BEGIN, FINDINGS_END = "<!-- genlab:findings:begin -->", "<!-- genlab:findings:end -->"
SNAPSHOT = "docs/default-run.json"
FINDINGS = "docs/findings.md"
PLACEHOLDER = re.compile(r"\{\{(.+?)\}\}")
# Display order of rows and columns; names not listed follow in sorted order.
FAMILY_ORDER = ["data", "gaussian", "gan", "vae", "flow", "autoregressive", "ebm", "diffusion"]
FAMILY_COLUMNS = ["FID", "NLL (bits/dim)", "NLL kind", "ELBO (bits/dim)", "true NLL (bits/dim)", "modes covered",
                  "high-quality samples", "modes by high-quality samples", "NFE", "s / 1000 samples", "train time (s)"]
TRUTH_GAP = "NLL - true NLL (bits/dim)"
ID_COLUMNS = ["D", "true", "ours", "ours exact (share of points)"]
RECONSTRUCTION_COLUMNS = ["latent dim", "MSE", "PSNR (dB)", "SSIM", "high-frequency energy ratio",
                          "FID of reconstructions", "feature distance", "linear probe accuracy"]
RECONSTRUCTION_MODELS = ["vae", "vae_scorevae_beta", "score_vae"]
GEODESIC_ROWS = ["banana_single", "banana_squeezed", "banana_river"]
GEODESIC_FLOWS = ["pullback_plain", "pullback_anisotropic", "pullback_isometric", "pullback"]
RAE_COLUMNS = ["ambient dim", "true dim", "epsilon", "RAE retained dim", "PCA retained dim", "RAE discarded share",
               "PCA discarded share", "RAE MSE at true dim", "PCA MSE at true dim"]
AUTOENCODER_COLUMNS = ["D", "true", "knee", "ours", "MLE", "lPCA", "relative error at true", "relative error at ours",
                       "relative error at MLE", "latent sizes"]
CONDITIONAL_COLUMNS = ["PSNR (dB)", "SSIM", "consistency PSNR (dB)", "diversity (0-255)", "FID", "FID std (draws)",
                       "joint FID", "feature distance", "paper LPIPS", "class agreement", "NLL x given y (bits/dim)",
                       "s/1000 samples"]
CONDITIONAL_FLOW_ONLY = ("NLL x given y (bits/dim)",)  # shown where a flow (CAFLOW) is among the rows
MULTISCALE_COLUMNS = ["NFE uniform", "NFE multi-scale", "uniform s / 1000 samples", "multi-scale s / 1000 samples",
                      "speed-up"]


def _ordered(names: list[str], preferred: list[str], last: tuple[str, ...] = ()) -> list[str]:
    head = [name for name in preferred if name in names]
    tail = [name for name in last if name in names]
    return head + sorted(name for name in names if name not in head and name not in tail) + tail


def _clean(value: Any) -> Any:
    """NaN (pandas' n/a) as None: JSON has no NaN."""
    return None if isinstance(value, float) and math.isnan(value) else value


def _table(title: str, source: str, columns: list[str], rows: list[list[Any]], note: str = "") -> dict[str, Any]:
    return {"title": title, "source": source, "columns": columns,
            "rows": [[_clean(value) for value in row] for row in rows], "note": note}


def _json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None


def _family_table(path: Path, root: Path) -> dict[str, Any] | None:
    """results/tables/{dataset}.json: one row per model, the columns some model has a value in."""
    data = _json(path)
    family = {model: row.get("family") for model, row in data.items()}
    rank = {name: index for index, name in enumerate(FAMILY_ORDER)}
    # rows of experiments that fill no column of the table (conditional models, ScoreVAE) are left out
    models = sorted((m for m in data if any(_clean(data[m].get(c)) is not None for c in FAMILY_COLUMNS)),
                    key=lambda m: (rank.get(family[m], len(rank)), m))
    columns = [c for c in FAMILY_COLUMNS if any(_clean(data[m].get(c)) is not None for m in models)]
    if not set(columns) & {"FID", "NFE"}:  # a likelihood-only table (the pullback flows': their own table shows it)
        return None
    rows = [[model, *(data[model].get(column) for column in columns)] for model in models]
    if "true NLL (bits/dim)" in columns:  # the gap itself: at 3 significant digits 1.253 and 1.245 both read 1.25
        nll, truth = columns.index("NLL (bits/dim)") + 1, columns.index("true NLL (bits/dim)") + 1
        columns.append(TRUTH_GAP)
        for row in rows:
            gap = None if _clean(row[nll]) is None or _clean(row[truth]) is None else row[nll] - row[truth]
            row.append(gap)
    return _table(f"Generative families on {path.stem}", str(path.relative_to(root)), ["model", *columns], rows)


def _intrinsic_dim_table(path: Path, root: Path) -> dict[str, Any]:
    data = _json(path)
    datasets = _ordered(list(data), [], last=("mean absolute error",))
    present = {column for row in data.values() for column in row}
    baselines = sorted((c for c in present if c not in ID_COLUMNS), key=str.lower)
    columns = [c for c in ID_COLUMNS if c in present] + baselines
    rows = [[name, *(data[name].get(column) for column in columns)] for name in datasets]
    return _table("Intrinsic dimension from the score spectrum against baselines", str(path.relative_to(root)),
                  ["manifold", *columns], rows)


def _cdsm_table(files: list[Path]) -> dict[str, Any]:
    """Error to the analytic conditional score per estimator and dataset, mean over t, one column per n."""
    errors: dict[tuple[str, str], dict[float, list[float]]] = {}
    for path in files:
        with open(path, newline="") as handle:
            for row in csv.DictReader(handle):
                key = (row["estimator"], row.get("dataset") or path.stem)
                errors.setdefault(key, {}).setdefault(float(row["n"]), []).append(float(row["error"]))
    sizes = sorted({n for by_n in errors.values() for n in by_n})
    rows = [[estimator, dataset, *(statistics.fmean(errors[(estimator, dataset)][n])
                                   if n in errors[(estimator, dataset)] else None for n in sizes)]
            for estimator, dataset in errors]
    return _table("CDSM consistency: error to the analytic conditional score (mean over t) against n",
                  paths.cdsm_curves("*"),
                  ["estimator", "dataset", *(f"n = {format_value(n)}" for n in sizes)], rows)


def _rows_table(path: Path, root: Path, title: str, preferred_rows: list[str], preferred_columns: list[str],
                label: str, last: tuple[str, ...] = ()) -> dict[str, Any]:
    """An analysis JSON ({row: {column: value}}) as a table, in the preferred row and column order."""
    data = _json(path)
    names = _ordered(list(data), preferred_rows, last)
    present = {column for row in data.values() for column in row}
    columns = [c for c in preferred_columns if c in present]
    rows = [[name, *(data[name].get(column) for column in columns)] for name in names]
    return _table(title, str(path.relative_to(root)), [label, *columns], rows)


def _reconstruction_rows(path: Path) -> list[str]:
    """Per dataset: the VAE, the VAE at ScoreVAE's beta, ScoreVAE, any other model, then the raw-pixel probe."""
    def key(name: str) -> tuple:
        dataset, model = name.split("/", 1)
        rank = RECONSTRUCTION_MODELS.index(model) if model in RECONSTRUCTION_MODELS else len(RECONSTRUCTION_MODELS)
        return dataset, model == "raw inputs", rank, model
    return sorted(_json(path), key=key)


def _geodesic_table(path: Path, root: Path) -> dict[str, Any]:
    """Rows: banana densities; columns: the flows' geodesic errors, then the paper's figure for the method."""
    data = _json(path)
    by_dataset: dict[str, dict[str, Any]] = {}
    for row in data.values():
        by_dataset.setdefault(row["dataset"], {})[row["flow"]] = row
    # the ground truth's row (error 0, its variation) stays in the table file; the straight line is the baseline
    flows = _ordered(sorted({flow for row in by_dataset.values() for flow in row} - {"ground truth"}), GEODESIC_FLOWS,
                     last=("straight line",))
    rows = []
    for dataset in _ordered(list(by_dataset), GEODESIC_ROWS):
        runs = by_dataset[dataset]
        paper = next((run.get("paper (method)") for run in runs.values() if _clean(run.get("paper (method)"))), None)
        rows.append([dataset, *(runs[flow]["geodesic error"] if flow in runs else None for flow in flows), paper])
    return _table("Pullback geodesics: mean distance to the true geodesic", str(path.relative_to(root)),
                  ["density", *flows, "paper (method)"], rows)


def _reproduction_table(path: Path, root: Path) -> dict[str, Any]:
    data = _json(path)
    rows = [[row["id"], row["paper"], row["ours"], row["verdict"]] for row in data["claims"]]
    return _table("The thesis's claims against this run", str(path.relative_to(root)),
                  ["claim", "paper", "ours", "verdict"], rows, note=data["summary"])


def snapshot(root: str | Path = ".", findings: str | None = None) -> dict[str, Any]:
    """The values the README shows, read from root/results; tables whose files are absent are left out; with
    the findings template's text, the value of each of its placeholders (GenlabError if one is not there)."""
    root = Path(root)
    tables = [table for path in sorted((root / Path(paths.table("x", "json")).parent).glob("*.json"))
              if (table := _family_table(path, root)) is not None]
    analysis = {name: root / paths.analysis(name, "json")
                for name in ("intrinsic_dim", "autoencoder_dim", "multiscale", "reconstructions", "pullback_geodesics",
                             "rae")}
    if analysis["intrinsic_dim"].exists():
        tables.append(_intrinsic_dim_table(analysis["intrinsic_dim"], root))
    if analysis["autoencoder_dim"].exists():
        tables.append(_rows_table(analysis["autoencoder_dim"], root, "The auto-encoder check: where the held-out "
                                  "reconstruction error stops falling (the knee) against the true dimension, ours and "
                                  "the baselines; errors relative to the data's variance", [], AUTOENCODER_COLUMNS,
                                  "dataset/score model"))
    if analysis["multiscale"].exists():
        tables.append(_rows_table(analysis["multiscale"], root, "Multi-scale against uniform diffusion: sampling "
                                  "seconds and speed-up against image resolution (same U-Net design and NFE)",
                                  [f"{2**i}x{2**i}" for i in range(1, 13)], MULTISCALE_COLUMNS, "image side"))
    cdsm = sorted((root / Path(paths.cdsm_curves("x")).parent).glob("*.csv"))
    if cdsm:
        tables.append(_cdsm_table(cdsm))
    for task, what in CONDITIONAL_TASKS.items():
        path = root / paths.analysis(f"conditional_{task}", "json")
        if path.exists():  # rows in the table file's order: ours by dataset and estimator, then the paper's
            data = _json(path)
            rows = list(data)
            paper = " (ours, then the paper's rows)" if any(row.startswith("paper/") for row in rows) else ""
            flows = any(_clean(row.get(CONDITIONAL_FLOW_ONLY[0])) is not None for row in data.values())
            who = "CDSM estimators and CAFLOW" if flows else "CDSM estimators"
            columns = [c for c in CONDITIONAL_COLUMNS if flows or c not in CONDITIONAL_FLOW_ONLY]
            tables.append(_rows_table(path, root, f"{who}, {what}{paper}", rows, columns, "dataset/model"))
    if analysis["reconstructions"].exists():
        title = ("Auto-encoders: ScoreVAE against the VAE (beta 1 and ScoreVAE's 1e-3) at the same latent size; the "
                 "VAE's blur on 28x28 digits")
        tables.append(_rows_table(analysis["reconstructions"], root, title,
                                  _reconstruction_rows(analysis["reconstructions"]), RECONSTRUCTION_COLUMNS,
                                  "dataset/model"))
    if analysis["pullback_geodesics"].exists():
        tables.append(_geodesic_table(analysis["pullback_geodesics"], root))
    if analysis["rae"].exists():
        tables.append(_rows_table(analysis["rae"], root, "Riemannian auto-encoder: coordinates kept", [],
                                  RAE_COLUMNS, "manifold / model"))
    reproduction = root / paths.reproduction("json")
    if reproduction.exists():
        tables.append(_reproduction_table(reproduction, root))
    snap: dict[str, Any] = {"tables": tables}
    if findings is not None:
        snap["findings"] = {key: _placeholder_value(root, key) for key in placeholders(findings)}
    return snap


def _placeholder_key(text: str) -> tuple[str, str | None]:
    """A placeholder's value key (source and keys, spaces around '>' normalised) and its format spec."""
    body, _, spec = text.partition("|")
    return " > ".join(part.strip() for part in body.split(">")), spec.strip() or None


def placeholders(template: str) -> list[str]:
    """The value keys of a findings template, each once, in order."""
    return list(dict.fromkeys(_placeholder_key(m.group(1))[0] for m in PLACEHOLDER.finditer(template)))


def _placeholder_value(root: Path, key: str) -> Any:
    """The value one placeholder names: a claim's field, or a JSON value under root/results."""
    source, *keys = key.split(" > ")
    where = f"{FINDINGS}: {{{{{key}}}}}"
    if source.startswith("claim:"):
        path = root / paths.reproduction("json")
        claims = {claim["id"]: claim for claim in (_json(path) or {"claims": []})["claims"]}
        claim_id = source[len("claim:"):].strip()
        if claim_id not in claims:
            raise GenlabError(f"{where}: no claim {claim_id!r} in {path}; fix the placeholder or run "
                              "`genlab reproduction`")
        value, keys = claims[claim_id], keys or ["verdict"]
    else:
        path = root / "results" / source
        value = _json(path) if path.suffix == ".json" else None
        if value is None:
            raise GenlabError(f"{where}: {path} is not a JSON file of this run; fix the placeholder or run the "
                              "pipeline")
    for name in keys:
        if not isinstance(value, dict) or name not in value:
            known = ", ".join(sorted(map(str, value))[:12]) if isinstance(value, dict) else type(value).__name__
            raise GenlabError(f"{where}: no key {name!r} there (it has: {known}); fix the placeholder")
        value = value[name]
    if isinstance(value, (dict, list)):
        raise GenlabError(f"{where}: names a {type(value).__name__}, not a value; add the key that picks one")
    return _clean(value)


def render_findings(template: str, values: dict[str, Any], width: int = 115) -> str:
    """The template with each placeholder replaced by its value (format spec, or 3 significant digits), each
    paragraph and bullet ("- " then lines indented by two spaces) re-wrapped to ``width`` columns."""
    def substitute(match: re.Match) -> str:
        key, spec = _placeholder_key(match.group(1))
        value = values[key]
        if spec and isinstance(value, (int, float)) and not isinstance(value, bool):
            return format(value, spec)
        return format_value(value)
    blocks: list[list[str]] = []
    for line in PLACEHOLDER.sub(substitute, template).splitlines():
        if blocks and line.startswith("  ") and blocks[-1]:
            blocks[-1].append(line)  # a bullet's continuation
        else:
            blocks.append([line] if line.strip() else [])
    wrapped = []
    for block in blocks:
        if not block:
            wrapped.append("")
            continue
        bullet = block[0].startswith("- ")
        words = " ".join(line.strip() for line in block)[2 if bullet else 0:].split()
        wrapped.append(textwrap.fill(" ".join(words), width, initial_indent="- " if bullet else "",
                                     subsequent_indent="  " if bullet else "", break_long_words=False,
                                     break_on_hyphens=False))
    return "\n".join(wrapped) + "\n"


def _cell(value: Any) -> str:
    return format_value(value).replace("|", r"\|").replace("\n", " ")


def render(snap: dict[str, Any]) -> str:
    """Markdown: per table a bold title with its source file, an optional note, and the table."""
    if not snap["tables"]:
        return "No results yet: run the pipeline, then rewrite this block from results/.\n"
    parts = []
    for table in snap["tables"]:
        lines = [f"**{table['title']}** (`{table['source']}`)", ""]
        if table.get("note"):
            lines += [table["note"], ""]
        lines.append("| " + " | ".join(_cell(c) for c in table["columns"]) + " |")
        lines.append("|" + "---|" * len(table["columns"]))
        lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in table["rows"]]
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


def _block(text: str, where: str, begin: str = BEGIN, end: str = END) -> tuple[int, int]:
    """The start and end offsets of the text between the markers; GenlabError if they are not there once."""
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        what = "generated results; insert them where the tables go" if begin == BEGIN else \
            f"findings rendered from {FINDINGS}; insert them where the findings go"
        raise GenlabError(f"{where}: expected one '{begin}' line followed by one '{end}' line around the {what}")
    return text.index(begin) + len(begin), text.index(end)


def _has_findings(text: str) -> bool:
    return FINDINGS_BEGIN in text or FINDINGS_END in text


def _replace(text: str, where: str, begin: str, end: str, content: str) -> str:
    start, stop = _block(text, where, begin, end)
    return text[:start] + "\n" + content + text[stop:]


def _findings_template(readme_text: str, readme_path: Path, findings_path: str | Path | None) -> str | None:
    """The findings template's text where the README has findings markers (GenlabError if it is missing)."""
    if not _has_findings(readme_text):
        return None
    path = Path(findings_path) if findings_path is not None else readme_path.parent / FINDINGS
    if not path.exists():
        raise GenlabError(f"{readme_path}: has findings markers but {path} does not exist; restore the template "
                          "or remove the markers")
    template = path.read_text()
    for number, line in enumerate(PLACEHOLDER.sub("", template).splitlines(), 1):
        if "{{" in line or "}}" in line:  # a placeholder broken over lines, or a brace too few
            raise GenlabError(f"{path}:{number}: an unclosed placeholder ('{{{{' and '}}}}' on one line each); "
                              "fix the template")
    return template


def _rendered(text: str, where: str, snap: dict[str, Any], template: str | None) -> str:
    """The README text with its blocks rendered from the snapshot."""
    text = _replace(text, where, BEGIN, END, render(snap))
    if template is not None:
        text = _replace(text, where, FINDINGS_BEGIN, FINDINGS_END, render_findings(template, snap["findings"]))
    return text


def update(readme_path: str | Path = "README.md", snapshot_path: str | Path = SNAPSHOT,
           root: str | Path = ".", findings_path: str | Path | None = None) -> dict[str, Any]:
    """Snapshot root/results into snapshot_path and rewrite the README's blocks from it (the findings from
    findings_path, default docs/findings.md beside the README, where the README has their markers); returns
    the snapshot. Nothing is written when a marker, the template or a placeholder's value is missing."""
    from genlab.io import write_json, write_text  # imports torch: only when writing
    readme_path = Path(readme_path)
    text = readme_path.read_text()
    template = _findings_template(text, readme_path, findings_path)
    snap = snapshot(root, template)
    new_text = _rendered(text, str(readme_path), snap, template)  # a missing marker stops here, before writing
    write_json(snapshot_path, snap)
    write_text(readme_path, new_text)
    return snap


def check(readme_path: str | Path = "README.md", snapshot_path: str | Path = SNAPSHOT,
          findings_path: str | Path | None = None) -> bool:
    """Whether the README's blocks are exactly what the committed snapshot renders to (False when the
    snapshot, the markers, the findings template or a placeholder's value in the snapshot are missing)."""
    readme_path, snapshot_path = Path(readme_path), Path(snapshot_path)
    if not readme_path.exists() or not snapshot_path.exists():
        return False
    text = readme_path.read_text()
    try:
        snap = json.loads(snapshot_path.read_text())
        template = _findings_template(text, readme_path, findings_path)
        return _rendered(text, str(readme_path), snap, template) == text
    # a damaged snapshot, or one without a value the template names (KeyError), is a stale one
    except (GenlabError, json.JSONDecodeError, KeyError, TypeError):
        return False
