#!/usr/bin/env bash
# Set up .venv on a fresh machine: the exact versions of requirements.txt (CPU torch 2.13.0, which lies on
# this kind of machine's disk: never an unpinned torch, which would pull a multi-GB CUDA build), then
# genlab itself in editable mode. Idempotent: reinstalls only when requirements or pyproject change.
set -euo pipefail
cd "$(dirname "$0")"
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
stamp=.venv/.genlab-installed
if [ ! -f "$stamp" ] || [ requirements.txt -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/pip install -qq --disable-pip-version-check torch==2.13.0
  .venv/bin/pip install -qq --disable-pip-version-check -r requirements.txt
  .venv/bin/pip install -qq --disable-pip-version-check --no-deps -e .
  touch "$stamp"
fi
