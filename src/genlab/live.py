"""Live training metrics in DVCLive's format, written while a run trains (issue 13).

``results/<dataset>/<model>/dvclive/`` holds one series per column of ``train_log.csv`` (the same rows,
written at every ``log_every`` steps instead of once at the end): ``plots/metrics/<key>.tsv`` (columns
``step`` and the value; the step is the training step), the latest values in ``metrics.json``, and for
image models with ``training.sample_every`` a grid of 64 EMA samples per sample step,
``plots/images/samples/step_XXXXXXXX.png``. ``dvc plots show`` and ``dvc exp show`` read them through the
top-level ``plots:`` and ``metrics:`` of dvc.yaml (genlab.dvc).

Light on purpose: the files are dvclive's format, written without importing dvclive (`DVCLiveFiles`).
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from genlab.config import SAMPLE_GRID
from genlab.errors import CheckpointError
from genlab.grids import grid_image
from genlab.paths import LIVE_DIR, LIVE_IMAGES as IMAGES_DIR, LIVE_METRICS as METRICS_DIR, LIVE_SUMMARY as SUMMARY_FILE

SAMPLES = "samples"  # the sample grids' folder under IMAGES_DIR
GRID = SAMPLE_GRID  # samples per side unless training.sample_grid says: 64 per grid
SAMPLE_SEED_OFFSET = 4  # seed + 2 and + 3 are early stopping's; the same noise at every step
# metrics.json is rewritten at most this often (and at the end): rewriting a file costs milliseconds on ext4
# (it flushes a truncated file on close), 10% of a 1.3 ms CPU step at log_every 50; the series are appended
SUMMARY_INTERVAL_S = 2.0


def sample_step(image: Path) -> int:
    """The training step of a grid file ``step_00010000.png``."""
    return int(image.stem.removeprefix("step_"))


class DVCLiveFiles:
    """The three files dvclive's Live writes for us, written as dvclive 3 writes them (tested byte for byte
    against dvclive.Live, `tests/test_live.py`): a metric's rows appended to ``plots/metrics/<name>.tsv``
    (``step``, the value; NaN and infinities as their text) by the csv module, the latest value of each and the
    step in ``metrics.json`` (json, indent 4), an image array saved by PIL under ``plots/images/``. Why not
    dvclive itself: its import (pandas with it) was 0.3 s of every training process, and its constructor
    opens the DVC repository around the working directory, names a git experiment and posts to DVC Studio,
    none of which a Snakemake job wants (dvc.yaml is generated; experiments are jobs)."""

    def __init__(self, path: Path):
        self.path = path
        self.step = 0  # dvclive's resumed step when there is no metrics.json
        self.summary: dict[str, Any] = {}

    def log_metric(self, name: str, value: float) -> None:
        if not isinstance(value, str) and (math.isnan(value) or math.isinf(value)):
            value = str(value)
        series = self.path / METRICS_DIR / f"{name}.tsv"
        existed = series.exists()
        series.parent.mkdir(parents=True, exist_ok=True)
        with open(series, "a", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, delimiter="\t", lineterminator=os.linesep)
            if not existed:
                writer.writerow(["step", name])
            writer.writerow([self.step, value])
        self.summary[name] = value

    def log_image(self, name: str, image: np.ndarray) -> None:
        from PIL import Image  # only runs that draw grids
        path = self.path / IMAGES_DIR / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(path)

    def make_summary(self) -> None:
        self.summary["step"] = self.step
        with open(self.path / SUMMARY_FILE, "w", encoding="utf-8") as handle:
            json.dump(self.summary, handle, indent=4)
            handle.write("\n")


class LiveLog:
    """The dvclive folder of one run, kept equal to the trainer's log: open it with the rows so far (the
    resumed state's log; none for a fresh run), then call ``log_row`` with each new row, ``log_samples`` at
    each sample step and ``end`` when training is done. Only the main process makes one."""

    def __init__(self, run_dir: str | os.PathLike, rows: list[dict[str, Any]], step: int):
        self.path = Path(run_dir) / LIVE_DIR
        with _writing(self.path):
            # The state's log is the truth: a killed run may have logged rows and drawn grids after its
            # last train_state.pt. Its series are rewritten from the rows (0.15 s per thousand rows); its
            # grids up to the resumed step are kept (they cannot be redrawn, their weights are gone) and
            # later ones removed (the resumed run draws them again, identical).
            shutil.rmtree(self.path / METRICS_DIR, ignore_errors=True)
            (self.path / SUMMARY_FILE).unlink(missing_ok=True)
            # made even for a run without rows (steps: 0): DVC reads a missing plots folder as a bad file
            (self.path / METRICS_DIR).mkdir(parents=True, exist_ok=True)
            for image in (self.path / IMAGES_DIR / SAMPLES).glob("step_*.png"):
                if sample_step(image) > step:
                    image.unlink()
            self.live = DVCLiveFiles(self.path)
            for row in rows:
                self._log(row)
            self.end()

    def _log(self, row: dict[str, Any]) -> None:
        self.live.step = row["step"]
        for key, value in row.items():
            if key != "step":
                self.live.log_metric(key, value)

    def log_row(self, row: dict[str, Any]) -> None:
        """Append one train_log.csv row to the series; metrics.json (``dvc exp show``) follows within
        SUMMARY_INTERVAL_S."""
        with _writing(self.path):
            self._log(row)
            if time.monotonic() - self.summarised >= SUMMARY_INTERVAL_S:
                self.end()

    def end(self) -> None:
        """Write metrics.json: the last value of every series and the step."""
        with _writing(self.path):
            self.live.make_summary()
        self.summarised = time.monotonic()

    def log_samples(self, model: torch.nn.Module, step: int, seed: int, side: int = GRID) -> None:
        """A grid of side^2 samples of ``model`` (the EMA) as ``samples/step_XXXXXXXX.png``. Drawn in a
        forked RNG from a fixed seed, in eval mode without gradients, so the training streams and the
        model are untouched and the grids of one run differ only by the weights."""
        device = model.device
        training, evaluations = model.training, model.network_evaluations
        model.eval()
        try:
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), torch.no_grad():
                torch.manual_seed(seed + SAMPLE_SEED_OFFSET)  # for samplers that draw from the global RNG
                generator = torch.Generator(device=device).manual_seed(seed + SAMPLE_SEED_OFFSET)
                samples = model.sample(side * side, generator=generator).float().cpu().numpy()
        finally:
            model.train(training)
            model.network_evaluations = evaluations  # the NFE counter is the evaluation's, not ours
        with _writing(self.path):
            logged, self.live.step = self.live.step, step  # the image's step; the summary's stays the last row's
            self.live.log_image(f"{SAMPLES}/step_{step:08d}.png", grid_png(samples, side))
            self.live.step = logged


def grid_png(samples: np.ndarray, side: int = GRID) -> np.ndarray:
    """Images (N, C, H, W) in [-1, 1] as one uint8 picture the way the figures draw them (genlab.plots:
    ink dark on white for grey images), enlarged by an integer factor to about 256 pixels."""
    canvas = grid_image(np.nan_to_num(samples), side)
    if canvas.shape[-1] == 1:
        canvas = 1.0 - canvas[..., 0]  # the figures' reversed grey map (cmap gray_r)
    scale = max(1, round(256 / canvas.shape[0]))
    canvas = canvas.repeat(scale, axis=0).repeat(scale, axis=1)
    return np.round(canvas * 255).astype(np.uint8)


@contextlib.contextmanager
def _writing(path: Path) -> Iterator[None]:
    """An OSError writing the folder (a file where it should be, no permission, a full disk) as one line."""
    try:
        yield
    except OSError as error:
        raise CheckpointError(f"cannot write the live training metrics in {path} ({error.strerror or error}): "
                              "make it a writable folder (or remove what is there) and rerun; training resumes "
                              "from its last checkpoint") from error
