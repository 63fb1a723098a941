"""What a run's jobs cost: Snakemake's benchmark files (one per job, written by the `benchmark:` directive of
every computing rule) joined to the job graph, as time by kind of job, the costliest experiments and the
critical path (genlab.jobcosts). Run it in a repository after `snakemake all`; it asks Snakemake for the graph
(`--detailed-summary`, which runs nothing) with the same params.

Usage: python benchmarks/job_costs.py [--configfile params/thesis.yaml] [--cores 2]
       [--out benchmarks/results/job_costs]   (writes .md and .csv)"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from genlab import jobcosts
from genlab.io import write_csv, write_text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=".", help="the repository whose run is measured")
    parser.add_argument("--configfile", help="the params file of the run (default: the embedded default)")
    parser.add_argument("--cores", type=int, default=2, help="for the lower bound on wall time")
    parser.add_argument("--out", help="write <out>.md and <out>.csv")
    args = parser.parse_args()
    command = ["snakemake", "--detailed-summary", "all", *(["--configfile", args.configfile] if args.configfile else [])]
    summary = subprocess.run(command, cwd=args.root, capture_output=True, text=True)
    if summary.returncode != 0:
        print(f"job_costs: `{' '.join(command)}` failed:\n{summary.stderr[-2000:]}", file=sys.stderr)
        return 2
    jobs = jobcosts.parse_summary(summary.stdout)
    jobcosts.read_seconds(jobs, args.root)
    text = jobcosts.report(jobs, args.cores)
    print(text)
    if args.out:
        write_text(Path(args.out).with_suffix(".md"), f"# Job costs of {Path(args.root).resolve().name}\n\n{text}\n")
        write_csv(Path(args.out).with_suffix(".csv"), jobcosts.rows(jobs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
