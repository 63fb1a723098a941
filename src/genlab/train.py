"""The one training loop for every model: seeded, EMA, tqdm, CSV log, atomic resumable checkpoints, a
NaN guard, and checkpoint-then-exit on SIGTERM/SIGUSR1 (Slurm preemption and requeue).

Files in the run directory:
- ``train_state.pt``: written every ``checkpoint_every`` steps; a rerun resumes from it and ends
  bit-identical (CPU) to an uninterrupted run. It is deliberately not a Snakemake output, so Snakemake
  does not delete it when a killed job is rerun.
- ``checkpoint.pt`` and ``train_log.csv``: written once training is complete (the Snakemake outputs); the
  checkpoint keeps what evaluation reads (``trained_weights``), the state also what resuming reads.
- ``dvclive/``: the same log rows while training runs, and sample grids of image models every
  ``sample_every`` steps (genlab.live; rank 0 only). Not a Snakemake output either: it survives a kill and
  is rebuilt from ``train_state.pt``'s log on resume.
Both hold model and EMA weights, step, resolved config and its hash; the state also optimizer and RNG states.
"""

from __future__ import annotations

import copy
import inspect
import logging
import math
import os
import random
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from genlab.config import IMAGE_KINDS
from genlab.data import Dataset
from genlab.errors import CheckpointError, ConfigError, NumericsError
from genlab.families import Family
from genlab.checkpoints import load_checkpoint, load_trained, load_weights
from genlab.io import torch_save, write_csv
from genlab.live import GRID, LiveLog

log = logging.getLogger(__name__)

STATE_FILE, CHECKPOINT_FILE, LOG_FILE = "train_state.pt", "checkpoint.pt", "train_log.csv"


class Preempted(SystemExit):
    """Raised after a checkpoint when the job was asked to stop (SIGTERM/SIGUSR1); exit code 143."""

    def __init__(self, step: int):
        super().__init__(143)
        self.step = step


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class DataParallel:
    """Data parallelism across processes started by torchrun or srun (RANK/WORLD_SIZE in the env; gloo on
    CPU, NCCL on GPUs). Every rank draws the same global batch indices and trains on its slice; gradients
    are averaged with one all-reduce per step, so all ranks hold identical parameters and a run with W
    ranks follows the one-process run with the same global batch (up to float summation order). Rank 0
    alone writes files. With one process every method is a no-op."""

    def __init__(self):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def local_slice(self, batch_size: int) -> slice:
        if batch_size % self.world:
            raise ConfigError(f"training.batch_size {batch_size} must be divisible by the number of "
                              f"processes ({self.world})")
        size = batch_size // self.world
        return slice(self.rank * size, (self.rank + 1) * size)

    def average_gradients(self, params: list[torch.Tensor]) -> None:
        if self.world == 1:
            return
        # a parameter without a gradient this step (the idle player of a GAN) stays without one, so the
        # optimizer skips it; every rank runs the same schedule, so every rank skips the same ones
        params = [p for p in params if p.grad is not None]
        if not params:
            return
        flat = torch.cat([p.grad.reshape(-1) for p in params])
        dist.all_reduce(flat)
        flat /= self.world
        offset = 0
        for p in params:
            p.grad = flat[offset:offset + p.numel()].view_as(p)
            offset += p.numel()

    def average(self, values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if self.world == 1:
            return values
        keys = sorted(values)
        stacked = torch.stack([values[k].detach().float() for k in keys])
        dist.all_reduce(stacked)
        return dict(zip(keys, stacked / self.world))

    def any(self, flag: bool) -> bool:
        """True on every rank if it is true on any (so all ranks stop at the same step)."""
        if self.world == 1:
            return flag
        value = torch.tensor([float(flag)])
        dist.all_reduce(value)
        return bool(value.item() > 0)

    def gather(self, obj: Any) -> list[Any]:
        if self.world == 1:
            return [obj]
        gathered: list[Any] = [None] * self.world
        dist.all_gather_object(gathered, obj)
        return gathered


def _numpy_rng_state() -> dict[str, Any]:
    """numpy's global RNG state as a tensor and plain values: checkpoints hold nothing that the safe loader
    (``torch.load(weights_only=True)``) would have to unpickle as an object."""
    name, keys, position, has_gauss, cached = np.random.get_state()
    return {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "position": int(position),
            "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}


def _set_numpy_rng_state(state: dict[str, Any]) -> None:
    np.random.set_state((state["name"], state["keys"].numpy().astype(np.uint32), state["position"],
                         state["has_gauss"], state["cached_gaussian"]))


def _rng_state(batch_generator: torch.Generator, parallel: DataParallel) -> dict[str, Any]:
    return {"torch": torch.get_rng_state(), "numpy": _numpy_rng_state(), "python": random.getstate(),
            "batches": batch_generator.get_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            # each rank draws its own training noise: keep every rank's stream for an exact resume
            "torch_per_rank": parallel.gather(torch.get_rng_state())}


def _set_rng_state(state: dict[str, Any], batch_generator: torch.Generator, parallel: DataParallel) -> None:
    per_rank = state.get("torch_per_rank") or [state["torch"]]
    if len(per_rank) != parallel.world:
        raise CheckpointError(f"checkpoint was written by {len(per_rank)} processes but this run has "
                              f"{parallel.world}; resume with the same number of processes")
    torch.set_rng_state(per_rank[parallel.rank])
    _set_numpy_rng_state(state["numpy"])
    random.setstate(state["python"])
    batch_generator.set_state(state["batches"])
    if state["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class _StopFlag:
    """Set by SIGTERM/SIGUSR1 so the loop can checkpoint at the end of the current step."""

    def __init__(self):
        self.signal: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self):
        for sig in (signal.SIGTERM, signal.SIGUSR1):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not in the main thread (e.g. inside a notebook kernel thread)
                pass
        return self

    def _handle(self, signum, frame):
        self.signal = signum

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class AdamW(torch.optim.AdamW):
    """torch's AdamW, the same code and state dict, without the import of TorchDynamo that its methods'
    wrappers make on their first call: torch.optim wraps step, zero_grad, add_param_group and the state-dict
    methods to switch Dynamo off inside torch.compile, and the wrapper imports torch._dynamo (2.5 s here, a
    third of a small training job's process; benchmarks/results/startup.md). genlab never compiles, so the
    class calls the wrapped functions themselves (step under no_grad, as its wrapper runs it); the update is
    bit-identical to torch.optim.AdamW's (tests/test_train.py)."""
    add_param_group = inspect.unwrap(torch.optim.Optimizer.add_param_group)
    zero_grad = inspect.unwrap(torch.optim.Optimizer.zero_grad)
    state_dict = inspect.unwrap(torch.optim.Optimizer.state_dict)
    load_state_dict = inspect.unwrap(torch.optim.Optimizer.load_state_dict)
    _step = inspect.unwrap(torch.optim.AdamW.step)

    def step(self, closure=None):
        with torch.no_grad():
            return self._step(closure)


def adamw(params, training: dict[str, Any]) -> AdamW:
    """The optimizer of every training run: AdamW with the block's lr, weight decay and betas, fused: one
    kernel does the whole update of each tensor (on CPU and CUDA). The foreach form (one kernel per
    elementwise op over all tensors) took 12-20% of a default model's step on a CPU thread (4.2 of 30 ms for
    digits/diffusion_vp, 26 of 192 ms for CAFLOW); the fused one 2-4x less. The same update up to the order of
    float32 operations (1 ulp-level differences per step), not bit-identical to foreach: every trained model's
    numbers moved by that much when it was adopted (benchmarks/results/fused_adamw.md)."""
    return AdamW(params, lr=training["lr"], weight_decay=training["weight_decay"],
                 betas=tuple(training.get("betas", (0.9, 0.999))), fused=True)


class _EMA:
    """Exponential moving average of the parameters (warmed up by the caller); buffers are copied. The
    tensor lists are gathered once and updated with one foreach call each: walking the module tree and
    launching a kernel per tensor every step cost small models several percent of their step time (the
    foreach kernels are the same elementwise ops, bit-identical to the per-tensor loop)."""

    def __init__(self, ema: Family, model: Family):
        self.targets = [p for p in ema.parameters()]
        self.sources = [p.detach() for p in model.parameters()]
        self.buffer_targets, self.buffer_sources = list(ema.buffers()), list(model.buffers())

    @torch.no_grad()
    def update(self, decay: float) -> None:
        if self.targets:
            torch._foreach_lerp_(self.targets, self.sources, 1 - decay)
        for b_ema, b in zip(self.buffer_targets, self.buffer_sources):
            b_ema.copy_(b)


def trained_weights(state: dict[str, Any]) -> dict[str, Any]:
    """What checkpoint.pt keeps of the final training state: what evaluation reads (weights, EMA weights,
    snapshots, step, train time, config and hash, log, the early-stopping record), not what only resuming
    reads (the optimizer's moments, RNG states, the log window), which train_state.pt keeps. Adam's two
    moments are twice the weights: a thesis U-Net's checkpoint was 400 MB, every evaluation loaded it and
    DVC hashed and stored it. With early stopping the EMA is the selected one, its copy not kept twice."""
    kept = {key: value for key, value in state.items() if key not in ("optimizer", "rng", "window")}
    stopping = state["early_stopping"]
    if stopping is not None:
        kept["early_stopping"] = {key: value for key, value in stopping.items() if key != "best_ema"}
        if stopping["best_ema"] is not None:
            kept["ema"] = stopping["best_ema"]
    return kept


def _cpu_copy(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {key: value.detach().cpu().clone() for key, value in state_dict.items()}


class EarlyStopping:
    """Model selection on a validation split held out of the training data (``training.early_stopping``).

    Every ``every`` steps the EMA model's training loss is measured on the whole split, with fixed
    dequantisation noise and a fixed seed (in a forked RNG, so the training streams are untouched); after
    ``patience`` measurements without improvement training stops, and the checkpoint's EMA weights are
    the best ones seen. Its state travels in the checkpoint, so a resumed run stops where an
    uninterrupted one does."""

    def __init__(self, settings: dict[str, Any], x_val: torch.Tensor, y_val: torch.Tensor | None,
                 bin_width: float | None, seed: int, batch_size: int):
        self.every, self.patience, self.seed, self.batch_size = settings["every"], settings["patience"], seed, batch_size
        noise = torch.Generator().manual_seed(seed + 2)
        if bin_width is not None:
            x_val = x_val + bin_width * (torch.rand(x_val.shape, generator=noise) - 0.5)
        self.x_val, self.y_val = x_val, y_val
        self.state: dict[str, Any] = {"best": math.inf, "best_step": 0, "bad": 0, "best_ema": None,
                                      "stopped": False}

    @torch.no_grad()
    def validation_loss(self, model: Family, step: int) -> float:
        device = model.device
        total = 0.0
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(self.seed + 3)
            for i in range(0, len(self.x_val), self.batch_size):
                x = self.x_val[i:i + self.batch_size]
                y = self.y_val[i:i + self.batch_size].to(device) if self.y_val is not None else None
                total += float(model.loss({"x": x.to(device), "y": y, "step": step})["loss"]) * len(x)
        return total / len(self.x_val)

    def update(self, step: int, ema: Family) -> float | None:
        """Measure at every ``every``-th step; returns the validation loss when measured."""
        if step % self.every:
            return None
        value = self.validation_loss(ema, step)
        if value < self.state["best"]:
            self.state.update(best=value, best_step=step, bad=0, best_ema=_cpu_copy(ema.state_dict()))
        else:
            self.state["bad"] += 1
            self.state["stopped"] = self.state["bad"] >= self.patience
        return value


def lr_at(step: int, training: dict[str, Any]) -> float:
    """Linear warm-up over ``warmup_steps``, then constant or (``schedule: cosine``) a cosine decay to 0 at
    ``steps``."""
    lr, warmup, steps = training["lr"], training["warmup_steps"], training["steps"]
    if warmup > 0 and step < warmup:
        return lr * ((step + 1) / warmup)
    if training.get("schedule", "constant") == "cosine":
        return lr * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, steps - warmup))))
    return lr


def fit(block: dict[str, Any], dataset: Dataset, run_dir: str | Path, *, seed: int, config: dict[str, Any],
        device: torch.device, progress: bool = True) -> Family:
    """Build the model block (seeded), train it on ``dataset`` in ``run_dir`` (or resume, or find it done),
    and return it with its EMA weights: for commands that train their own runs (studies, any data file).
    ``config`` is what determines the run; its hash guards the checkpoint."""
    from genlab.config import config_hash
    from genlab.families import make_model
    seed_everything(seed)
    model = make_model(block, dataset.example_shape, dataset.meta)
    train(model, dataset, block["training"], run_dir, seed=seed, config_hash=config_hash(config), config=config,
          device=device, progress=progress)
    return load_trained(model, Path(run_dir) / "checkpoint.pt", config_hash(config)).to(device).eval()


def train(model: Family, dataset: Dataset, training: dict[str, Any], run_dir: str | Path, *, seed: int,
          config_hash: str, config: dict[str, Any], device: torch.device, progress: bool = True) -> dict:
    """Train ``model`` (already constructed after seed_everything(seed)) and write its checkpoint."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    state_path = run_dir / STATE_FILE
    x_train = torch.as_tensor(dataset.x_train)
    y_train = torch.as_tensor(dataset.y_train) if dataset.y_train is not None else None
    bin_width = dataset.bin_width if training["dequantize"] else None  # None for continuous data

    stopper = None
    if training.get("early_stopping"):
        if not model.has_likelihood:
            raise ConfigError(f"{run_dir}: training.early_stopping selects on the validation loss of a "
                              f"likelihood; {type(model).__name__} has none, remove early_stopping")
        order = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(seed + 2))
        n_val = max(1, round(training["early_stopping"]["validation_fraction"] * len(x_train)))
        val, kept = order[:n_val], order[n_val:]
        stopper = EarlyStopping(training["early_stopping"], x_train[val],
                                y_train[val] if y_train is not None else None, bin_width, seed,
                                training["batch_size"])
        x_train = x_train[kept]
        y_train = y_train[kept] if y_train is not None else None
    sample_every = training.get("sample_every")
    if sample_every and "sample" not in model.capabilities:
        raise ConfigError(f"{run_dir}: training.sample_every draws sample grids; {type(model).__name__} cannot "
                          "sample unconditionally, remove sample_every")
    if dataset.meta.get("kind") not in IMAGE_KINDS:  # a block shared with 2-D data (the GANs on the ring)
        sample_every = None
    snapshot_steps = set(training.get("snapshots", []))
    snapshots: dict[int, dict[str, torch.Tensor]] = {}

    parallel = DataParallel()
    if parallel.world > 1:  # identical initialisation (done before), different training noise per rank
        torch.manual_seed(seed + 1000 * parallel.rank)
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    local = parallel.local_slice(training["batch_size"])
    model.initialize(x_train)
    model.to(device)
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    groups = [group for group in model.parameter_groups() if group["params"]]
    params = [p for group in groups for p in group["params"]]
    optimizer = adamw(groups, training) if groups else None
    batch_generator = torch.Generator().manual_seed(seed + 1)
    step, rows, elapsed_before = 0, [], 0.0
    window = {"counts": {}, "sums": {}}  # per key: a GAN logs each player's loss on its own steps

    if state_path.exists():
        state = load_checkpoint(state_path, config_hash)
        load_weights(model, state["model"], state_path)
        load_weights(ema, state["ema"], state_path)
        if optimizer is not None:
            optimizer.load_state_dict(state["optimizer"])
        _set_rng_state(state["rng"], batch_generator, parallel)
        step, rows, elapsed_before, window = state["step"], state["log"], state["elapsed_s"], state["window"]
        if "counts" not in window:  # a state written before per-key averaging: restart the log window
            window = {"counts": {}, "sums": {}}
        snapshots = state.get("snapshots") or {}
        if stopper is not None and state.get("early_stopping"):
            stopper.state = state["early_stopping"]
        log.info("resuming %s from step %d", run_dir, step)

    def snapshot(elapsed: float) -> dict[str, Any]:
        return {"model": model.state_dict(), "ema": ema.state_dict(),
                "optimizer": optimizer.state_dict() if optimizer else None, "step": step,
                "rng": _rng_state(batch_generator, parallel), "config": config, "config_hash": config_hash,
                "log": rows, "window": window, "elapsed_s": elapsed, "snapshots": snapshots,
                "early_stopping": stopper.state if stopper else None}

    total = training["steps"]
    if total > 0 and optimizer is None:
        raise CheckpointError(f"{run_dir}: training.steps is {total} but this model has no trainable "
                              "parameters; set training.steps to 0")
    live = LiveLog(run_dir, rows, step) if parallel.is_main else None  # before the loop: fails fast
    averager = _EMA(ema, model)  # after any resume: load_state_dict copies into the same tensors
    autocast = device.type == "cuda" and training["mixed_precision"] == "bf16"
    started, started_cpu = time.perf_counter(), time.thread_time()
    window_start = (step, started)  # steps_per_s: steps over wall time since the last row (or the resume)
    model.train()
    with _StopFlag() as stop, tqdm(total=total, initial=step, desc=run_dir.as_posix(),
                                   disable=not progress or not parallel.is_main,
                                   mininterval=2.0, dynamic_ncols=True) as bar:
        while step < total and not (stopper and stopper.state["stopped"]):
            idx = torch.randint(len(x_train), (training["batch_size"],), generator=batch_generator)
            x = x_train[idx]
            if bin_width is not None:
                x = x + bin_width * (torch.rand(x.shape, generator=batch_generator) - 0.5)
            x, idx = x[local], idx[local]
            batch = {"x": x.to(device), "y": y_train[idx].to(device) if y_train is not None else None,
                     "step": step}  # families with several players (GAN) schedule their updates on it
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, training) * group.get("lr_scale", 1.0)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                outputs = model.loss(batch)
            loss = outputs["loss"]
            if parallel.any(not torch.isfinite(loss)):
                raise NumericsError(
                    f"{run_dir}: loss became {loss.item()} at step {step + 1}; the last good state is kept in "
                    f"{state_path} (step {step - step % training['checkpoint_every']}); lower training.lr or "
                    f"training.grad_clip, then rerun (it resumes)")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            parallel.average_gradients(params)
            outputs = parallel.average(outputs)
            if training["grad_clip"] > 0:
                torch.nn.utils.clip_grad_norm_(params, training["grad_clip"])
            optimizer.step()
            averager.update(min(training["ema_decay"], (1 + step) / (10 + step)))
            step += 1
            if step in snapshot_steps:  # raw weights along training (e.g. for the mode-collapse figure)
                snapshots[step] = _cpu_copy(model.state_dict())
            validation = stopper.update(step, ema) if stopper else None
            if validation is not None:
                window["val_loss"] = validation
            for key, value in outputs.items():
                window["sums"][key] = window["sums"].get(key, 0.0) + float(value.detach())
                window["counts"][key] = window["counts"].get(key, 0) + 1
            if step % training["log_every"] == 0 or step == total:
                now = time.perf_counter()
                row = {"step": step, **{k: v / window["counts"][k] for k, v in window["sums"].items()},
                       **({"val_loss": window["val_loss"]} if "val_loss" in window else {}),
                       "lr": optimizer.param_groups[0]["lr"],
                       "elapsed_s": round(elapsed_before + now - started, 3),
                       "steps_per_s": round((step - window_start[0]) / max(now - window_start[1], 1e-9), 3)}
                rows.append(row)
                window, window_start = {"counts": {}, "sums": {}}, (step, now)
                bar.set_postfix(loss=f"{row['loss']:.4g}")
                if live is not None:
                    live.log_row(row)
            bar.update(1)
            stopping = parallel.any(stop.signal is not None)
            finished = stopper is not None and stopper.state["stopped"]
            if sample_every and (step % sample_every == 0 or step == total or finished):
                drawing = time.perf_counter()
                if live is not None:
                    live.log_samples(ema, step, seed, training.get("sample_grid", GRID))
                # steps_per_s is the training's speed: the grid's time is left out of its window
                window_start = (window_start[0], window_start[1] + time.perf_counter() - drawing)
            if finished:
                log.info("early stopping at step %d: best validation loss %.5g at step %d", step,
                         stopper.state["best"], stopper.state["best_step"])
            # the last step's state is written once, after the loop (a U-Net's state is hundreds of MB)
            if (step % training["checkpoint_every"] == 0 or stopping) and step < total and not finished:
                snap = snapshot(elapsed_before + time.perf_counter() - started)  # collective: every rank
                if parallel.is_main:
                    torch_save(state_path, snap)
            if stopping and step < total and not finished:
                log.warning("signal %s: checkpointed %s at step %d; exiting for requeue", stop.signal,
                            state_path, step)
                raise Preempted(step)

    elapsed = elapsed_before + time.perf_counter() - started
    loop_cpu = time.thread_time() - started_cpu  # this process's loop in CPU seconds (benchmarks: a noisy VM)
    final = snapshot(elapsed)
    if live is not None:
        live.end()
    if parallel.is_main:
        torch_save(state_path, final)  # keeps the running EMA, so raising steps later resumes exactly
        torch_save(run_dir / CHECKPOINT_FILE, trained_weights(final))
        write_csv(run_dir / LOG_FILE, rows)
    return {"steps": step, "train_time_s": elapsed, "loop_cpu_s": loop_cpu,
            "parameters": sum(p.numel() for p in model.parameters())}

