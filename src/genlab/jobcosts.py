"""What each job of a run cost, the Snakemake way: every computing rule writes a benchmark file (wall time,
memory, CPU) next to its log, `results/benchmarks/<kind>/<name>.tsv` for `results/logs/<kind>/<name>.log`.
This module joins those files to the job graph that `snakemake --detailed-summary` prints (each job's rule,
log, inputs and outputs) and reports the time by kind of job, by experiment, and the critical path: the
chain of dependent jobs that no number of cores can shorten. `benchmarks/job_costs.py` prints it.
Light on purpose (no torch): it reads text files."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from genlab import paths
from genlab.io import write_csv, write_text

EXPERIMENT_KINDS = ("train", "evaluate", "sample")  # their job names are <dataset>/<model> ("sample": runs before
# the evaluation jobs drew the samples files, read by benchmarks/job_costs.py for comparisons)


@dataclass
class Job:
    rule: str
    log: str
    outputs: set[str] = field(default_factory=set)
    inputs: set[str] = field(default_factory=set)
    seconds: float | None = None  # None: no benchmark file (the job has not run here)
    after: list["Job"] = field(default_factory=list)  # the jobs whose outputs it reads

    @property
    def kind(self) -> str:
        return paths.log_key(self.log)[0]

    @property
    def name(self) -> str:
        return paths.log_key(self.log)[1]

    @property
    def experiment(self) -> str | None:
        return self.name if self.kind in EXPERIMENT_KINDS else None


def parse_summary(text: str) -> list[Job]:
    """The jobs of `snakemake --detailed-summary` (one row per output file; a job is a rule and its log),
    with their dependencies. Rules without a log (targets such as `all`) have no outputs and are left out."""
    jobs: dict[str, Job] = {}
    for row in csv.DictReader(io.StringIO(text), delimiter="\t"):
        log = (row.get("log-file(s)") or "").split(",")[0].strip()
        if not log.startswith(f"{paths.LOGS}/"):  # "-": no log recorded (a target, or a job not run here)
            continue
        job = jobs.setdefault(log, Job(row["rule"], log))
        job.outputs.add(row["output_file"])
        job.inputs.update(p.strip() for p in (row.get("input-file(s)") or "").split(",") if p.strip() and p.strip() != "-")
    producer = {output: job for job in jobs.values() for output in job.outputs}
    for job in jobs.values():
        before = {producer[p].log: producer[p] for p in job.inputs if p in producer and producer[p] is not job}
        job.after = [before[log] for log in sorted(before)]
    return sorted(jobs.values(), key=lambda j: j.log)


def read_seconds(jobs: list[Job], root: str | Path = ".") -> None:
    """Each job's wall-clock seconds from its benchmark file (the mean over Snakemake's repeats)."""
    for job in jobs:
        path = Path(root) / paths.benchmark(job.kind, job.name)
        if path.exists():
            rows = list(csv.DictReader(path.open(), delimiter="\t"))
            job.seconds = sum(float(r["s"]) for r in rows) / len(rows) if rows else None


def critical_path(jobs: list[Job]) -> tuple[float, list[Job]]:
    """The longest chain of dependent jobs by measured seconds (unmeasured jobs count 0)."""
    best: dict[str, tuple[float, list[Job]]] = {}

    def longest(job: Job) -> tuple[float, list[Job]]:
        if job.log not in best:
            before = max((longest(j) for j in job.after), key=lambda t: t[0], default=(0.0, []))
            best[job.log] = (before[0] + (job.seconds or 0.0), [*before[1], job])
        return best[job.log]

    return max((longest(j) for j in jobs), key=lambda t: t[0], default=(0.0, []))


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join([*lines, *("| " + " | ".join(r) + " |" for r in rows)])


def table_of(records: list[dict[str, object]]) -> str:
    """A Markdown table of dict rows, their keys as the header (the benchmarks' result tables)."""
    header = list(records[0]) if records else ["(nothing)"]
    return markdown_table(header, [[str(r[k]) for k in header] for r in records])


def write_table(out: str | Path, title: str, summary: str, records: list[dict[str, object]]) -> None:
    """A benchmark's result: ``<out>.md`` (title, summary, table) and ``<out>.csv`` (the rows)."""
    write_text(Path(out).with_suffix(".md"), f"# {title}\n\n{summary}\n\n{table_of(records)}\n")
    write_csv(Path(out).with_suffix(".csv"), records)


def report(jobs: list[Job], cores: int = 2, top: int = 15) -> str:
    """Markdown: time by kind of job, the costliest experiments, the critical path and the bounds on wall time."""
    measured = [j for j in jobs if j.seconds is not None]
    total = sum(j.seconds for j in measured)
    by_kind: dict[str, list[float]] = {}
    for job in measured:
        by_kind.setdefault(job.kind, []).append(job.seconds)
    kinds = sorted(by_kind.items(), key=lambda kv: -sum(kv[1]))
    kind_rows = [[k, str(len(v)), f"{sum(v):.0f}", f"{100 * sum(v) / total:.0f}%", f"{sorted(v)[len(v) // 2]:.1f}",
                  f"{max(v):.1f}"] for k, v in kinds]
    by_experiment: dict[str, dict[str, float]] = {}
    for job in measured:
        if job.experiment:
            by_experiment.setdefault(job.experiment, {})[job.kind] = job.seconds
    experiments = sorted(by_experiment.items(), key=lambda kv: -sum(kv[1].values()))[:top]
    experiment_rows = [[e, *(f"{costs.get(k, 0.0):.1f}" for k in EXPERIMENT_KINDS), f"{sum(costs.values()):.1f}"]
                       for e, costs in experiments]
    length, chain = critical_path(jobs)
    chain_rows = [[j.kind, j.name, f"{j.seconds or 0.0:.1f}"] for j in chain]
    missing = len(jobs) - len(measured)
    return "\n\n".join([
        f"{len(measured)} jobs measured ({missing} without a benchmark file), {total:.0f} job-seconds; with "
        f"{cores} cores the wall time is at least max(total / cores, critical path) = "
        f"{max(total / cores, length):.0f} s.",
        "### Time by kind of job\n\n" + markdown_table(["kind", "jobs", "seconds", "share", "median", "max"], kind_rows),
        f"### The {len(experiment_rows)} costliest experiments (seconds)\n\n"
        + markdown_table(["experiment", *EXPERIMENT_KINDS, "total"], experiment_rows),
        f"### Critical path: {length:.0f} s\n\n" + markdown_table(["kind", "job", "seconds"], chain_rows),
    ])


def rows(jobs: list[Job]) -> list[dict[str, object]]:
    """One row per job, for a CSV."""
    return [{"kind": j.kind, "job": j.name, "rule": j.rule, "seconds": j.seconds,
             "after": ";".join(f"{a.kind}/{a.name}" for a in j.after)} for j in jobs]
