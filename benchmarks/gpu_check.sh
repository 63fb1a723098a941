#!/usr/bin/env bash
# GPU checks in one script (for a lent GPU machine, see README 'Benchmarks'): the default experiments'
# train/evaluate commands on CUDA (bf16 autocast), then the thesis-scale throughput benchmark.
# Usage: bash benchmarks/gpu_check.sh OUTDIR
set -euo pipefail
out=${1:-/tmp/gpu_check}
mkdir -p "$out"
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
g="python3 -m genlab.cli"
work=$(mktemp -d)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
$g data --dataset digits --out "$work/digits.npz"
for model in classifier gaussian diffusion_vp; do
  /usr/bin/time -f "$model train wall %e s" $g train --dataset digits --model $model --data "$work/digits.npz" \
    --run-dir "$work/$model" --device cuda --no-progress
done
$g evaluate --dataset digits --model classifier --metric accuracy --data "$work/digits.npz" \
  --checkpoint "$work/classifier/checkpoint.pt" --out "$out/accuracy.json" --device cuda
for metric in fid nll cost; do
  $g evaluate --dataset digits --model diffusion_vp --metric $metric --data "$work/digits.npz" \
    --checkpoint "$work/diffusion_vp/checkpoint.pt" --feature-net "$work/classifier/checkpoint.pt" \
    --out "$out/diffusion_vp_$metric.json" --device cuda
done
python3 benchmarks/gpu_thesis_scale.py --seconds "${SECONDS_PER_CONFIG:-15}" | tee "$out/gpu_thesis_scale.md"
