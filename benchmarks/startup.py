"""What a CLI call costs before it does any work: the fixed cost every Snakemake job pays (a fresh Python
process, its imports, the params check), measured on the smallest jobs of the default DAG, and which heavy
modules each call imports.

In a temporary directory, params/default.yaml under the smoke switch (genlab.smoke: counts of work shrunk,
so the calls below do almost nothing but start up): `genlab data` (banana_single), `genlab train` (its
pullback_plain flow, 6 steps of a 2-D model) and `genlab evaluate` (its NLL on 64 points), each in a new
process, one thread, as Snakemake runs them. With --compare SRC the same calls run with another checkout's
`src` first on the path (e.g. the commit before a change), alternating A, B, B, A; medians of the wall clock.
With --forkserver the same calls also run as local Snakemake runs them now, through a warm process
(genlab.forkserver: the call hands itself to a fork of a process that imported everything once), alternating.

Usage: python benchmarks/startup.py [--repeats 5] [--compare /path/to/other/checkout/src] [--forkserver]
       [--out benchmarks/results/startup]   (writes .md and .csv)"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from genlab import forkserver
from genlab.jobcosts import write_table

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "torch._dynamo", "dvclive", "pandas", "matplotlib", "scipy", "sklearn", "papermill")
# runs the CLI as `genlab` does, then writes which heavy modules the call imported
PROBE = ("import json, sys\n"
         "from genlab import cli\n"
         "code = cli.main(sys.argv[2:])\n"
         "json.dump([m for m in {heavy!r} if m in sys.modules], open(sys.argv[1], 'w'))\n"
         "sys.exit(code)\n")


def calls(work: Path) -> dict[str, list[str]]:
    params, data, run = str(work / "params.yaml"), str(work / "banana_single.npz"), str(work / "run")
    return {"data": ["data", "--params", params, "--dataset", "banana_single", "--out", data],
            "train": ["train", "--params", params, "--dataset", "banana_single", "--model", "pullback_plain",
                      "--data", data, "--run-dir", run, "--no-progress"],
            "evaluate": ["evaluate", "--params", params, "--dataset", "banana_single", "--model", "pullback_plain",
                         "--data", data, "--checkpoint", f"{run}/checkpoint.pt", "--metric", "nll",
                         "--out", str(work / "nll.json")]}


def timed(args: list[str], src: str | None, work: Path, server: str | None = None) -> tuple[float, list[str]]:
    if args[0] == "train":  # a fresh run each time, not a resume of the last one
        shutil.rmtree(work / "run", ignore_errors=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if src:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    modules = work / "modules.json"
    if server:  # `genlab ...` as a job calls it; the heavy imports are the server's
        env[forkserver.ENV] = server
        modules.write_text("[]")
        command = [sys.executable, "-m", "genlab.cli", *args]
    else:
        command = [sys.executable, "-c", PROBE.format(heavy=HEAVY), str(modules), *args]
    started = time.perf_counter()
    result = subprocess.run(command, env=env, cwd=work, check=True, capture_output=True, text=True)
    if server:
        assert forkserver.SERVED in result.stderr, result.stderr  # not a fresh process after all
    return time.perf_counter() - started, json.loads(modules.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="runs of each call (per tree)")
    parser.add_argument("--compare", help="another checkout's src directory, run beside this one")
    parser.add_argument("--forkserver", action="store_true", help="also run the calls through a warm process")
    parser.add_argument("--out", help="write <out>.md and <out>.csv")
    args = parser.parse_args()
    trees = {"this": None, **({"compare": args.compare} if args.compare else {})}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        server = None
        if args.forkserver:
            socket_path = str(work / "socket")
            server = subprocess.Popen([sys.executable, "-m", "genlab.forkserver", socket_path], cwd=work,
                                      env={k: v for k, v in os.environ.items() if k != forkserver.ENV})
            while not os.path.exists(socket_path):
                time.sleep(0.05)
            trees["forked"] = socket_path
        params = yaml.safe_load((REPO / "params" / "default.yaml").read_text())
        (work / "params.yaml").write_text(yaml.safe_dump({**params, "smoke": True}, sort_keys=False))
        def run(argv, tree):
            forked = tree == "forked"
            return timed(argv, None if forked else trees[tree], work, trees[tree] if forked else None)

        for name, argv in calls(work).items():
            for tree in trees:  # warm-up (bytecode caches, the page cache); the later calls need its files
                run(argv, tree)
            times = {tree: [] for tree in trees}
            imported = {}
            for repeat in range(args.repeats):
                for tree in (list(trees) if repeat % 2 == 0 else list(trees)[::-1]):
                    seconds, imported[tree] = run(argv, tree)
                    times[tree].append(seconds)
            for tree in trees:
                rows.append({"call": f"genlab {name}", "tree": tree, "median_s": round(statistics.median(times[tree]), 3),
                             "min_s": round(min(times[tree]), 3), "heavy_imports": " ".join(imported[tree])})
                print(rows[-1], flush=True)
        if server:
            server.terminate()
            server.wait()
    summary = (f"Fresh processes, one thread, medians of {args.repeats} runs per call"
               + (f", alternating with {args.compare}" if args.compare else "")
               + (", alternating with forks of a warm process (`forked`: its heavy imports are the server's)"
                  if args.forkserver else "") + ".")
    print(summary)
    if args.out:
        write_table(args.out, "What a CLI call costs before its work", summary, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
