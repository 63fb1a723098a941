"""The thesis's claims checked against this pipeline's results: claims.yaml in, a verdict per claim out.

A claim names a result file and a key in it (``measure``), a ``predicate`` from a small closed set with its
tolerance, and the paper's value. ``evaluate`` reads the files and gives each claim a verdict:
``holds``, ``differs``, or ``not run at this scale`` (the file, key or rows it reads do not exist, as for an
experiment only ``params/thesis.yaml`` runs). ``write_reproduction`` writes results/reproduction.{md,json}.

A measure reference (``ref``) is one of
  {file: results/x.json, key: [row, column]}              a number in a JSON file; a key element may be a
                                                          list of alternative names (the first present wins)
  {file: results/x.csv, column: c, where: {col: v}, reduce: mean}
                                                          the rows matching ``where`` (a value ``max``/``min``
                                                          selects the column's largest/smallest value),
                                                          reduced (mean, median, min, max) to one number
  {file: results/x.csv, column: c, where: ..., by: n}     the same per value of ``by``: a sequence, ordered
                                                          by ``by``
A claim's ``measure`` is a ref, or a mapping of labels to refs (every labelled value must satisfy the
predicate; for ``ordering`` the labels' order is the order checked).

Predicates (values are positive quantities: errors, FIDs, times, dimensions):
  equals     {to}                       ours == to
  within     {to, abs | rel}            |ours - to| <= abs, or <= rel * |to|
  at_most    {than, factor=1, strict}   ours <= factor * than  (< if strict); than: a number, a ref, or a
  at_least   {than, factor=1, strict}   ours >= factor * than   mapping of refs (against each of them)
  ordering   {order, rel=0}             the labelled measures ascending (or descending), each step allowed
                                        to go the wrong way by rel of the next value
  decreasing {rel=0}                    a sequence (a ref with ``by``) falls, each step allowed to rise by
  increasing {rel=0}                    rel of the previous value (increasing: rises)

Light on purpose (it runs when Snakemake builds the DAG): yaml, json and csv only; genlab.io, which
imports torch, is imported only when writing."""

from __future__ import annotations

import csv
import json
import math
import re
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from genlab import paths
from genlab.config import load_yaml
from genlab.errors import ConfigError

HOLDS, DIFFERS, NOT_RUN = "holds", "differs", "not run at this scale"
VERDICTS = (HOLDS, DIFFERS, NOT_RUN)
CLAIM_KEYS = ("id", "statement", "source", "paper", "measure", "predicate", "why")
# predicate kind -> (required parameters, optional parameters with defaults)
PREDICATES: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "equals": (("to",), {}),
    "within": (("to",), {"abs": None, "rel": None}),
    "at_most": (("than",), {"factor": 1.0, "strict": False}),
    "at_least": (("than",), {"factor": 1.0, "strict": False}),
    "ordering": (("order",), {"rel": 0.0}),
    "decreasing": ((), {"rel": 0.0}),
    "increasing": ((), {"rel": 0.0}),
}
SEQUENCE_KINDS = ("decreasing", "increasing")
REDUCERS = {"mean": statistics.fmean, "median": statistics.median, "min": min, "max": max}
JSON_REF_KEYS, CSV_REF_KEYS = {"file", "key"}, {"file", "column", "where", "by", "reduce"}
ID_PATTERN = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class Claim:
    id: str
    statement: str
    source: str
    paper: str
    measure: dict[str, Any]  # a ref, or {label: ref}
    predicate: dict[str, Any]  # kind plus every parameter, defaults filled in
    why: str


class Missing(Exception):
    """A file, key or row a claim reads is absent: the experiment was not run at this scale."""


# --- loading and validation ---------------------------------------------------------------------------

def load_claims(path: str | Path) -> list[Claim]:
    """Read and validate a claims file; a malformed one raises ConfigError with one line naming the
    claim and key, and the fix."""
    path = Path(path)
    try:
        document = load_yaml(path.read_text())
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the claims file ({error.strerror})") from None
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise ConfigError(f"{path}: not valid YAML{line}; fix the syntax") from None
    if not isinstance(document, dict) or not isinstance(document.get("claims"), list):
        raise ConfigError(f"{path}: expected a top-level 'claims:' list of claims")
    claims, seen = [], set()
    for index, entry in enumerate(document["claims"]):
        claim = _claim(entry, str(path), index)
        if claim.id in seen:
            raise ConfigError(f"{path}: claim '{claim.id}': duplicate id; give each claim its own id")
        seen.add(claim.id)
        claims.append(claim)
    return claims


def _claim(entry: Any, path: str, index: int) -> Claim:
    if not isinstance(entry, dict):
        raise ConfigError(f"{path}: claims[{index}]: expected a mapping with keys {', '.join(CLAIM_KEYS)}")
    claim_id = entry.get("id")
    if not isinstance(claim_id, str) or not ID_PATTERN.fullmatch(claim_id):
        raise ConfigError(f"{path}: claims[{index}]: id: {claim_id!r} is not a snake_case name; use e.g. "
                          "'diffusion_best_fid'")
    where = f"{path}: claim '{claim_id}'"
    unknown = sorted(set(entry) - set(CLAIM_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key '{unknown[0]}'; a claim has {', '.join(CLAIM_KEYS)}")
    for key in CLAIM_KEYS:
        if key not in entry or entry[key] in (None, ""):
            raise ConfigError(f"{where}: missing key '{key}'; a claim has {', '.join(CLAIM_KEYS)}")
    for key in ("statement", "source", "why"):
        if not isinstance(entry[key], str):
            raise ConfigError(f"{where}: {key}: expected text, got {type(entry[key]).__name__}")
    if not isinstance(entry["paper"], (str, int, float)):
        raise ConfigError(f"{where}: paper: expected the paper's value as a number or text")
    predicate = _predicate(entry["predicate"], f"{where}: predicate")
    measure = _measure(entry["measure"], f"{where}: measure")
    labelled = "file" not in measure
    if predicate["kind"] == "ordering" and (not labelled or len(measure) < 2):
        raise ConfigError(f"{where}: measure: 'ordering' needs a mapping of two or more labelled refs")
    if predicate["kind"] in SEQUENCE_KINDS and (labelled or "by" not in measure):
        raise ConfigError(f"{where}: measure: '{predicate['kind']}' needs one CSV ref with 'by' (the sequence's "
                          "axis, e.g. by: n)")
    if predicate["kind"] not in SEQUENCE_KINDS and _has_sequence(measure):
        raise ConfigError(f"{where}: measure: 'by' gives a sequence, which only decreasing/increasing take; "
                          "select one value with 'where' instead")
    for name in ("to", "than"):
        if name in predicate and isinstance(predicate[name], dict) and _has_sequence(predicate[name]):
            raise ConfigError(f"{where}: predicate: {name}: 'by' gives a sequence; select one value with 'where'")
    return Claim(claim_id, entry["statement"], entry["source"], str(entry["paper"]), measure, predicate, entry["why"])


def _predicate(block: Any, where: str) -> dict[str, Any]:
    if not isinstance(block, dict) or "kind" not in block:
        raise ConfigError(f"{where}: expected a mapping with 'kind' (one of {', '.join(PREDICATES)})")
    kind = block["kind"]
    if kind not in PREDICATES:
        raise ConfigError(f"{where}: kind: unknown {kind!r}; use one of {', '.join(PREDICATES)}")
    required, optional = PREDICATES[kind]
    allowed = {"kind", *required, *optional}
    unknown = sorted(set(block) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key '{unknown[0]}' for {kind}; it takes {', '.join(sorted(allowed))}")
    for key in required:
        if key not in block:
            raise ConfigError(f"{where}: {kind} needs '{key}'")
    predicate = {"kind": kind, **optional, **block}
    for key in ("to", "than"):
        if key in predicate:
            predicate[key] = _operand(predicate[key], f"{where}: {key}")
    for key in ("abs", "rel", "factor"):
        value = predicate.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
            raise ConfigError(f"{where}: {key}: expected a non-negative number, got {value!r}")
    if kind == "within" and (predicate["abs"] is None) == (predicate["rel"] is None):
        raise ConfigError(f"{where}: within needs exactly one tolerance, 'abs' or 'rel'")
    if kind == "ordering" and predicate["order"] not in ("ascending", "descending"):
        raise ConfigError(f"{where}: order: {predicate['order']!r}; use ascending or descending")
    if "strict" in predicate and not isinstance(predicate["strict"], bool):
        raise ConfigError(f"{where}: strict: expected true or false")
    return predicate


def _operand(value: Any, where: str) -> Any:
    """A comparison target: a number, a ref, or a mapping of labels to refs."""
    if isinstance(value, bool) or not isinstance(value, (int, float, dict)):
        raise ConfigError(f"{where}: expected a number, a ref {{file: ..., key: [...]}} or a mapping of refs")
    return _measure(value, where) if isinstance(value, dict) else value


def _measure(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not value:
        raise ConfigError(f"{where}: expected a ref {{file: ..., key: [...]}} or a mapping of labels to refs")
    if "file" in value:
        return _ref(value, where)
    return {str(label): _ref(ref, f"{where}: {label}") for label, ref in value.items()}


def _ref(ref: Any, where: str) -> dict[str, Any]:
    if not isinstance(ref, dict) or not isinstance(ref.get("file"), str):
        raise ConfigError(f"{where}: expected a ref with 'file' (a results path relative to the repo root)")
    file = ref["file"]
    if Path(file).is_absolute() or ".." in Path(file).parts:
        raise ConfigError(f"{where}: file: {file!r} must be relative to the repo root, without '..'")
    if file.endswith(".json"):
        unknown = sorted(set(ref) - JSON_REF_KEYS)
        if unknown:
            raise ConfigError(f"{where}: unknown key '{unknown[0]}' for a JSON ref; it takes file and key")
        key = ref.get("key")
        if not isinstance(key, list) or not key:
            raise ConfigError(f"{where}: key: expected a list of names into {file}, e.g. [diffusion_vp, FID]")
        bad = next((part for part in key if not _key_part(part)), None)
        if bad is not None:  # YAML reads true, yes, null, 1.5 as non-strings
            raise ConfigError(f"{where}: key: {bad!r} is not a name; quote it (e.g. \"true\") or fix the key path")
        return {"file": file, "key": [part if isinstance(part, str) else list(part) for part in key]}
    if file.endswith(".csv"):
        unknown = sorted(set(ref) - CSV_REF_KEYS)
        if unknown:
            raise ConfigError(f"{where}: unknown key '{unknown[0]}' for a CSV ref; it takes "
                              f"{', '.join(sorted(CSV_REF_KEYS))}")
        if not isinstance(ref.get("column"), str):
            raise ConfigError(f"{where}: column: a CSV ref needs the column to read")
        where_rows = ref.get("where", {})
        if not isinstance(where_rows, dict) or not all(isinstance(v, (str, int, float)) for v in where_rows.values()):
            raise ConfigError(f"{where}: where: expected a mapping of column to value")
        reduce = ref.get("reduce", "mean")
        if reduce not in REDUCERS:
            raise ConfigError(f"{where}: reduce: unknown {reduce!r}; use one of {', '.join(REDUCERS)}")
        if "by" in ref and not isinstance(ref["by"], str):
            raise ConfigError(f"{where}: by: expected a column name")
        return {"file": file, "column": ref["column"], "where": dict(where_rows), "reduce": reduce,
                **({"by": ref["by"]} if "by" in ref else {})}
    raise ConfigError(f"{where}: file: {file!r} is neither .json nor .csv; claims read result tables")


def _key_part(part: Any) -> bool:
    return isinstance(part, str) or (isinstance(part, list) and bool(part) and all(isinstance(p, str) for p in part))


def _has_sequence(measure: dict[str, Any]) -> bool:
    refs = [measure] if "file" in measure else list(measure.values())
    return any("by" in ref for ref in refs)


# --- reading values -----------------------------------------------------------------------------------

def _refs(measure: Any) -> list[dict[str, Any]]:
    if not isinstance(measure, dict):
        return []
    return [measure] if "file" in measure else list(measure.values())


def claim_inputs(claims: list[Claim], root: str | Path = ".") -> list[str]:
    """Every file the claims read (under root), each once, in the order first named."""
    files = []
    for claim in claims:
        for operand in (claim.measure, claim.predicate.get("to"), claim.predicate.get("than")):
            files.extend(ref["file"] for ref in _refs(operand))
    return [str(Path(root) / file) for file in dict.fromkeys(files)]


class _Reader:
    """Reads each result file once; a missing file, key or row raises Missing."""

    def __init__(self, root: Path, claim_id: str):
        self.root, self.claim_id, self.cache = root, claim_id, {}

    def _load(self, file: str) -> Any:
        if file not in self.cache:
            path = self.root / file
            if not path.exists():
                raise Missing(f"{file} not found")
            if file.endswith(".json"):
                self.cache[file] = json.loads(path.read_text())
            else:
                with open(path, newline="") as handle:
                    self.cache[file] = list(csv.DictReader(handle))
        return self.cache[file]

    def _number(self, value: Any, where: str) -> float:
        if value is None or value == "" or value == "n/a":
            raise Missing(f"{where} is empty (n/a)")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"claim '{self.claim_id}': {where} is {value!r}, not a number; point the claim at a "
                              "numeric key") from None
        if math.isnan(number):
            raise Missing(f"{where} is empty (NaN)")
        return number

    def value(self, ref: dict[str, Any]) -> float | list[tuple[str, float]]:
        """A number; for a CSV ref with 'by', a list of (label, number) ordered by the 'by' column."""
        data = self._load(ref["file"])
        if "key" in ref:
            node, trail = data, []
            for part in ref["key"]:
                names = [part] if isinstance(part, str) else part
                found = next((name for name in names if isinstance(node, dict) and name in node), None)
                if found is None:
                    raise Missing(f"{ref['file']}: no key {' or '.join(map(repr, names))} under {trail or 'the top'}")
                node, trail = node[found], [*trail, found]
            return self._number(node, f"{ref['file']} {trail}")
        rows = self._select(data, ref)
        column, reduce = ref["column"], REDUCERS[ref["reduce"]]
        if "by" not in ref:
            return reduce([self._number(row[column], f"{ref['file']} column {column!r}") for row in rows])
        groups: dict[str, list[float]] = {}
        for row in rows:
            groups.setdefault(row[ref["by"]], []).append(self._number(row[column], f"{ref['file']} column {column!r}"))
        ordered = sorted(groups, key=lambda label: _sort_key(label))
        if len(ordered) < 2:
            raise Missing(f"{ref['file']}: fewer than two values of {ref['by']!r} to compare")
        return [(label, reduce(groups[label])) for label in ordered]

    def _select(self, rows: list[dict[str, str]], ref: dict[str, Any]) -> list[dict[str, str]]:
        needed = [ref["column"], *ref["where"], *([ref["by"]] if "by" in ref else [])]
        absent = [name for name in needed if not rows or name not in rows[0]]
        if absent:
            raise Missing(f"{ref['file']}: no column {absent[0]!r}")
        for name, wanted in ref["where"].items():
            if wanted in ("max", "min") and rows:
                values = [row[name] for row in rows]
                wanted = (max if wanted == "max" else min)(values, key=_sort_key)
            rows = [row for row in rows if _same(row[name], wanted)]
        if not rows:
            raise Missing(f"{ref['file']}: no rows where {ref['where']}")
        return rows


def _sort_key(text: str) -> tuple[int, float | str]:
    try:
        return (0, float(text))
    except ValueError:
        return (1, text)


def _same(cell: str, wanted: Any) -> bool:
    try:
        return float(cell) == float(wanted)
    except (TypeError, ValueError):
        return str(cell) == str(wanted)


# --- predicates ---------------------------------------------------------------------------------------

def _operand_values(reader: _Reader, operand: Any) -> dict[str, float] | float:
    """A number stays a number; a ref gives {'': value}; a mapping gives {label: value}."""
    if not isinstance(operand, dict):
        return float(operand)
    if "file" in operand:
        return {"": reader.value(operand)}
    return {label: reader.value(ref) for label, ref in operand.items()}


def _pairs(ours: dict[str, float], other: dict[str, float] | float) -> list[tuple[float, float]]:
    others = [other] if isinstance(other, float) else list(other.values())
    return [(a, b) for a in ours.values() for b in others]


def _in_order(values: list[float], ascending: bool, rel: float) -> bool:
    """Each step goes the stated way, or the wrong way by at most rel of the value it is compared to."""
    for before, after in zip(values, values[1:]):
        if ascending and before > after + rel * abs(after):
            return False
        if not ascending and after > before + rel * abs(before):
            return False
    return True


def _check(predicate: dict[str, Any], ours: Any, other: Any) -> bool:
    kind = predicate["kind"]
    if kind == "equals":
        return all(math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) for a, b in _pairs(ours, other))
    if kind == "within":
        return all(abs(a - b) <= (predicate["abs"] if predicate["abs"] is not None else predicate["rel"] * abs(b))
                   for a, b in _pairs(ours, other))
    if kind in ("at_most", "at_least"):
        factor, strict = predicate["factor"], predicate["strict"]
        if kind == "at_most":
            return all(a < factor * b if strict else a <= factor * b for a, b in _pairs(ours, other))
        return all(a > factor * b if strict else a >= factor * b for a, b in _pairs(ours, other))
    if kind == "ordering":
        return _in_order(list(ours.values()), predicate["order"] == "ascending", predicate["rel"])
    sequence = [value for _, value in ours[""]]
    return _in_order(sequence, kind == "increasing", predicate["rel"])


# --- formatting ---------------------------------------------------------------------------------------

def format_value(value: Any) -> str:
    """Numbers to 3 significant digits (integers whole, no exponent above 1000); None as n/a."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    size = abs(value)
    if size >= 1000:
        return f"{value:.0f}"
    if size < 1e-4:
        return f"{value:.2e}"
    rounded = float(f"{value:.3g}")  # round first: 9.996 -> 10.0 has one decimal, not two
    decimals = max(0, 2 - math.floor(math.log10(abs(rounded))))
    return f"{rounded:.{decimals}f}"


def _format_values(values: Any) -> str:
    if isinstance(values, float):
        return format_value(values)
    parts = []
    for label, value in values.items():
        if isinstance(value, list):  # a sequence: by-label: value
            parts.append(", ".join(f"{by}: {format_value(v)}" for by, v in value))
        else:
            parts.append(f"{label} {format_value(value)}".strip())
    return ", ".join(parts)


def describe(predicate: dict[str, Any], other: Any = None) -> str:
    """The test as text, with its tolerance and (when read) the values compared against."""
    kind = predicate["kind"]
    target = _format_values(other) if other is not None else _describe_operand(predicate.get("to", predicate.get("than")))
    if kind == "equals":
        return f"= {target}"
    if kind == "within":
        tolerance = f"±{predicate['abs']:g}" if predicate["abs"] is not None else f"±{100 * predicate['rel']:g}%"
        return f"within {tolerance} of {target}"
    if kind in ("at_most", "at_least"):
        sign = {"at_most": "<" if predicate["strict"] else "≤", "at_least": ">" if predicate["strict"] else "≥"}[kind]
        factor = "" if predicate["factor"] == 1 else f"{predicate['factor']:g} × "  # tolerances as written
        return f"{sign} {factor}{'each of ' if isinstance(other, dict) and len(other) > 1 else ''}{target}"
    slack = f" (steps may go {100 * predicate['rel']:g}% the other way)" if predicate["rel"] else ""
    if kind == "ordering":
        return f"{predicate['order']} in the order listed{slack}"
    return f"{kind}{slack}"


def _describe_operand(operand: Any) -> str:
    """An operand not read (its file is missing): its labels, or the key it names."""
    if operand is None:
        return ""
    if not isinstance(operand, dict):
        return format_value(operand)
    if "file" not in operand:
        return ", ".join(operand)
    return " / ".join(map(str, operand["key"])) if "key" in operand else f"{operand['column']} {operand['where']}"


# --- evaluation and output ----------------------------------------------------------------------------

def evaluate(claims: list[Claim], root: str | Path = ".") -> list[dict[str, Any]]:
    """One row per claim: id, statement, source, paper, ours (formatted), values (raw), verdict, test
    (the predicate with its tolerance and comparands), why, and note (what was missing, if anything)."""
    rows = []
    for claim in claims:
        reader = _Reader(Path(root), claim.id)
        ours = other = None
        note = ""
        try:
            ours = _operand_values(reader, claim.measure)
            operand = claim.predicate.get("to", claim.predicate.get("than"))
            other = _operand_values(reader, operand) if operand is not None else None
            verdict = HOLDS if _check(claim.predicate, ours, other) else DIFFERS
        except Missing as missing:
            verdict, note = NOT_RUN, str(missing)
        rows.append({"id": claim.id, "statement": claim.statement, "source": claim.source, "paper": claim.paper,
                     "ours": _format_values(ours) if ours is not None else "n/a",
                     "values": {"ours": _raw(ours), "compared with": _raw(other)},
                     "verdict": verdict, "test": describe(claim.predicate, other if isinstance(other, dict) else None),
                     "why": claim.why, "note": note})
    return rows


def _raw(values: Any) -> Any:
    """Read values for the JSON: a single ref's {'': value} as the value itself."""
    return values[""] if isinstance(values, dict) and list(values) == [""] else values


def summary(rows: list[dict[str, Any]]) -> str:
    counts = {verdict: sum(row["verdict"] == verdict for row in rows) for verdict in VERDICTS}
    return f"{len(rows)} claims: " + ", ".join(f"{counts[v]} {v}" for v in VERDICTS)


def _cell(text: str) -> str:
    return str(text).replace("|", r"\|").replace("\n", " ")


def reproduction_markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["# Reproduction: the thesis's claims against this run", "",
             "Generated by `genlab.claims` from `claims.yaml` and the results; do not edit.", "",
             summary(rows) + ".", "",
             "| claim | source | paper | ours | test | verdict |", "|---|---|---|---|---|---|"]
    for row in rows:
        ours = row["ours"] if not row["note"] else f"{row['ours']} ({row['note']})"
        lines.append("| " + " | ".join(_cell(text) for text in (
            f"**{row['id']}**: {row['statement']}", row["source"], row["paper"], ours, row["test"],
            row["verdict"])) + " |")
    return "\n".join(lines) + "\n"


def write_reproduction(rows: list[dict[str, Any]], md_path: str | Path = paths.reproduction("md"),
                       json_path: str | Path = paths.reproduction("json")) -> None:
    """results/reproduction.md (a table and a summary line) and .json ({summary, claims: rows}), atomically."""
    from genlab.io import write_json, write_text  # imports torch: only when writing
    write_text(md_path, reproduction_markdown(rows))
    write_json(json_path, {"summary": summary(rows), "claims": rows})  # sequences become [label, value] lists

