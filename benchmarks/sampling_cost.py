"""CPU cost of the diffusion samplers and of the ODE likelihood, measured side by side in one run (this
machine is noisy: compare the ratios, not the absolute seconds).

- Samplers at equal NFE (about 50): seconds per 1000 samples and the ratio to DDIM. Per-step overhead
  beyond the network is what differs (PC's Langevin norms, the ODE solver's bookkeeping).
- Likelihood on 64-dimensional digits: Hutchinson (one VJP per evaluation) against the exact trace
  (64 VJPs per evaluation), same tolerances: the ratio is why the exact trace is for small D only.

Usage: python benchmarks/sampling_cost.py [--repeats 3]"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import yaml

from genlab.config import REPO_ROOT, validate
from genlab.families import make_model


def timed(fn, repeats):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n", type=int, default=500)
    args = parser.parse_args()
    torch.manual_seed(0)
    params = validate(yaml.safe_load((REPO_ROOT / "params" / "default.yaml").read_text()))
    model = make_model(params["models"]["diffusion_vp"], (1, 8, 8), {}).eval()
    settings = {"ddim": {"steps": 50}, "ddpm": {"steps": 50}, "euler_maruyama": {"steps": 50},
                "predictor_corrector": {"steps": 25}, "ode": {"rtol": 1e-3, "atol": 1e-3}}
    results = {}
    for name, options in settings.items():
        model.network_evaluations = 0
        seconds = timed(lambda: model.sample(args.n, name=name, **options), args.repeats)
        results[name] = (seconds, model.network_evaluations / (args.repeats + 1))
    base = results["ddim"][0]
    print(f"samplers, {args.n} samples of 8x8 digits, default-scale MLP (untrained weights)")
    print(f"{'sampler':22s} {'NFE':>6s} {'s/1000':>8s} {'vs DDIM':>8s} {'per-NFE vs DDIM':>16s}")
    ddim_per_nfe = base / results["ddim"][1]
    for name, (seconds, nfe) in results.items():
        print(f"{name:22s} {nfe:6.0f} {1000 * seconds / args.n:8.3f} {seconds / base:8.2f} "
              f"{seconds / nfe / ddim_per_nfe:16.2f}")

    x = torch.rand(64, 1, 8, 8) * 2 - 1
    model.likelihood_options.update(rtol=1e-3, atol=1e-3)
    cost = {}
    for method in ("hutchinson", "exact"):
        model.likelihood_options["method"] = method
        model.network_evaluations = 0
        cost[method] = (timed(lambda: model.log_likelihood(x), args.repeats),
                        model.network_evaluations / (args.repeats + 1))
    print("\nODE likelihood, 64 digits (D = 64), rtol = atol = 1e-3")
    for method, (seconds, nfe) in cost.items():
        print(f"{method:12s} NFE {nfe:5.0f}  {seconds:7.3f} s  ratio to hutchinson "
              f"{seconds / cost['hutchinson'][0]:6.2f}")


if __name__ == "__main__":
    main()
