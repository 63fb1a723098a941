"""Conditional tasks: what a conditional model is given of an example, defined once for every conditional
family (the CDSM estimators of chapter 4; the conditional flows of chapter 3 use the same definitions).

A task turns a batch (x, labels) into the condition y and knows its forward operator A, so that a sample x_hat
can be checked for consistency with its condition (A(x_hat) against A(x), as the CDSM paper does).

- ``label``: the one-hot class (vector).
- ``given``: the dataset's condition vectors (conditional_mixture; vector).
- ``inpaint``: one square hiding ``coverage`` of the image at a uniformly random place per example, the
  authors' mask (GBATZOLIS/conditional_score_diffusion, General_PKLDataset: side int(sqrt(0.25 H W)), redrawn
  for every example). y is the image with the square set to 0 plus a mask channel (1 = observed): the
  authors' images are in [0, 1] and give no mask channel, but in [-1, 1] a 0 is a real grey and a digit's
  background is -1, so without the channel a hidden square cannot be told from ink.
- ``superres``: the image average-pooled by ``factor`` and nearest-upsampled back (the authors' y is the
  low-resolution image nearest-upsampled to full size; A is the average pool).
- ``edges``: the Canny edge map of the image (Gaussian sigma, Sobel gradients, non-maximum suppression,
  hysteresis between ``low`` and ``high`` on the 0-255 scale), the edge detector of the authors' consistency
  metric (sigma 0.5, thresholds 10/100, L2 gradient). Their edges->shoes pairs come with pix2pix's edges; here
  the edges are computed from the digit.
Image tasks return y as an image (B, C_y, H, W) that a U-Net takes as extra input channels (the authors'
cat(x_t, y)) and an MLP takes flattened."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from genlab.errors import ConfigError

IMAGE_TASKS = ("inpaint", "superres", "edges")
TASKS = ("label", "given", *IMAGE_TASKS)
TASK_OPTIONS = {"label": {}, "given": {}, "inpaint": {"coverage": 0.25}, "superres": {"factor": 2},
                "edges": {"sigma": 0.5, "low": 10.0, "high": 100.0}}


class Task:
    """``condition(x, labels, generator)`` -> y; ``shown(y)``: the condition drawn as an image (figures);
    ``measure(x, y)`` -> (A(x), the region where A is compared) for the consistency metric; ``hidden(y)``:
    the pixels the condition does not show (inpainting), else None. Images are in [-1, 1]."""

    def __init__(self, kind: str, example_shape: tuple[int, ...], meta: dict[str, Any], **options: Any):
        if kind not in TASKS:
            raise ConfigError(f"condition kind must be one of {TASKS}, got {kind!r}")
        unknown = set(options) - set(TASK_OPTIONS[kind])
        if unknown:
            raise ConfigError(f"condition kind {kind!r} takes {sorted(TASK_OPTIONS[kind]) or 'no options'}, "
                              f"not {sorted(unknown)}")
        self.kind, self.example_shape = kind, tuple(example_shape)
        self.options = {**TASK_OPTIONS[kind], **options}
        if kind in IMAGE_TASKS and len(self.example_shape) != 3:
            raise ConfigError(f"condition kind {kind!r} needs images; {meta.get('name')} has examples of shape "
                              f"{self.example_shape}")
        if kind == "label" and "classes" not in meta:
            raise ConfigError(f"condition kind 'label' needs a labelled dataset; {meta.get('name')} has none")
        if kind == "given" and "condition_dim" not in meta:
            raise ConfigError(f"condition kind 'given' needs a dataset with condition vectors (kind "
                              f"conditional_mixture); {meta.get('name')} has none")
        if kind == "superres" and any(side % self.options["factor"] for side in self.example_shape[1:]):
            raise ConfigError(f"condition.factor {self.options['factor']} must divide the image size "
                              f"{self.example_shape[1:]}")
        if kind == "edges" and not 0 <= self.options["low"] <= self.options["high"]:
            raise ConfigError(f"condition.low {self.options['low']} and high {self.options['high']} must satisfy "
                              f"0 <= low <= high (Canny's hysteresis thresholds)")
        if kind == "inpaint" and not 0 < self.options["coverage"] < 1:
            raise ConfigError(f"condition.coverage must lie in (0, 1), got {self.options['coverage']}")
        self.classes, self.given_dim = meta.get("classes"), meta.get("condition_dim")

    @property
    def is_image(self) -> bool:
        return self.kind in IMAGE_TASKS

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of one condition y."""
        if self.kind == "label":
            return (self.classes,)
        if self.kind == "given":
            return (self.given_dim,)
        channels, height, width = self.example_shape
        return (channels + 1 if self.kind == "inpaint" else channels, height, width)

    @property
    def value_channels(self) -> int:
        """The leading channels (for a vector, entries) of y that carry values (a diffused-condition estimator
        perturbs these); the rest (inpainting's mask) is structure and stays clean."""
        return self.example_shape[0] if self.kind == "inpaint" else self.shape[0]

    def square_side(self) -> int:
        _, height, width = self.example_shape
        return max(1, int(math.sqrt(self.options["coverage"] * height * width)))

    def condition(self, x: torch.Tensor, labels: torch.Tensor | None,
                  generator: torch.Generator | None = None) -> torch.Tensor:
        """y for a batch; inpainting's squares come from ``generator`` (a CPU generator; None: torch's global
        RNG, which the trainer seeds and checkpoints)."""
        if self.kind == "label":
            return F.one_hot(labels.long(), self.classes).to(x.dtype)
        if self.kind == "given":
            return labels.to(x.dtype).flatten(1)
        if self.kind == "inpaint":
            observed = 1.0 - self._square(x, generator)
            return torch.cat([x * observed, observed], dim=1)
        if self.kind == "superres":
            return F.interpolate(downsample(x, self.options["factor"]), scale_factor=self.options["factor"],
                                 mode="nearest")
        return canny(x, self.options["sigma"], self.options["low"], self.options["high"])

    def _square(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """(B, 1, H, W): 1 inside each example's square, placed uniformly at random."""
        batch, (_, height, width), side = len(x), self.example_shape, self.square_side()
        # one draw per example, so that an example's square does not depend on the size of its batch
        place = torch.randint(0, (height - side + 1) * (width - side + 1), (batch,), generator=generator)
        top, left = (place // (width - side + 1)).to(x.device), (place % (width - side + 1)).to(x.device)
        rows = torch.arange(height, device=x.device)[None, :, None]
        cols = torch.arange(width, device=x.device)[None, None, :]
        inside = ((rows >= top[:, None, None]) & (rows < top[:, None, None] + side)
                  & (cols >= left[:, None, None]) & (cols < left[:, None, None] + side))
        return inside[:, None].to(x.dtype)

    def check_condition(self, condition: torch.Tensor | None, n: int) -> None:
        """What a conditional model's ``sample`` is given: one condition of this task per sample."""
        if condition is None:
            raise ConfigError("a conditional model samples given a condition: use the metric 'conditional'")
        if tuple(condition.shape) != (n, *self.shape):
            raise ConfigError(f"condition of shape {tuple(condition.shape)} for {n} samples; task {self.kind!r} "
                              f"takes ({n}, {', '.join(map(str, self.shape))}): build it with "
                              f"model.condition(x, labels)")

    def hidden(self, y: torch.Tensor) -> torch.Tensor | None:
        """(B, 1, H, W) bool: the pixels the condition hides (inpainting), None for the other tasks."""
        return y[:, -1:] < 0.5 if self.kind == "inpaint" else None

    def shown(self, y: torch.Tensor) -> torch.Tensor:
        """The condition as an image in [-1, 1] for figures (the hidden square mid-grey, the edges as ink)."""
        if self.kind == "inpaint":
            return torch.where(self.hidden(y), torch.zeros_like(y[:, :-1]), y[:, :-1])
        if self.kind == "edges":
            return 2 * y - 1
        return y

    def measure(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(A(x), where A is compared) for the consistency metric: inpainting compares the observed pixels,
        super-resolution the low-resolution image, edges the edge maps (values 0/1)."""
        if self.kind == "inpaint":
            return x, ~self.hidden(y)
        if self.kind == "superres":
            return downsample(x, self.options["factor"]), None
        if self.kind == "edges":
            return canny(x, self.options["sigma"], self.options["low"], self.options["high"]), None
        raise ValueError(f"condition kind {self.kind!r} has no forward operator")


def downsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    return F.avg_pool2d(x, factor)


def _gaussian_kernel(sigma: float) -> torch.Tensor:
    radius = max(1, math.ceil(3 * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-offsets**2 / (2 * sigma**2))
    return kernel / kernel.sum()


@torch.no_grad()
def canny(x: torch.Tensor, sigma: float = 0.5, low: float = 10.0, high: float = 100.0) -> torch.Tensor:
    """Canny edges of images in [-1, 1], per channel, as 0/1 maps shaped like x: the images on the 0-255
    scale, Gaussian-blurred (sigma; replicated border), 3x3 Sobel gradients with the L2 magnitude, non-maximum
    suppression along the gradient direction quantised to 0/45/90/135 degrees (OpenCV's rule: a pixel is kept
    if it is larger than its neighbour behind and, along an axis, at least its neighbour ahead, so a step edge
    is one pixel wide; on a diagonal larger than both), then hysteresis: pixels above ``high`` are edges,
    pixels above ``low`` are edges if they connect (8-neighbourhood) to one."""
    batch, channels, height, width = x.shape
    images = ((x.double() + 1) * 127.5).reshape(batch * channels, 1, height, width)
    kernel = _gaussian_kernel(sigma).to(images.device)
    radius = len(kernel) // 2
    blurred = F.conv2d(F.pad(images, (radius, radius, 0, 0), mode="replicate"), kernel.view(1, 1, 1, -1))
    blurred = F.conv2d(F.pad(blurred, (0, 0, radius, radius), mode="replicate"), kernel.view(1, 1, -1, 1))
    sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=images.dtype,
                         device=images.device)
    padded = F.pad(blurred, (1, 1, 1, 1), mode="replicate")
    gx = F.conv2d(padded, sobel.view(1, 1, 3, 3))
    gy = F.conv2d(padded, sobel.t().reshape(1, 1, 3, 3))
    magnitude = torch.sqrt(gx**2 + gy**2)
    # direction of the gradient, folded to [0, 180): 0 compares left/right, 90 up/down, 45 and 135 diagonals
    angle = torch.rad2deg(torch.atan2(gy, gx)) % 180
    sector = (((angle + 22.5) // 45) % 4).long()
    neighbours = F.pad(magnitude, (1, 1, 1, 1))  # zero outside the image
    offsets = {0: (0, 1), 1: (1, 1), 2: (1, 0), 3: (1, -1)}  # (row, col) step ahead along the gradient
    keep = torch.zeros_like(magnitude, dtype=torch.bool)
    for index, (dr, dc) in offsets.items():
        ahead = neighbours[..., 1 + dr:1 + dr + height, 1 + dc:1 + dc + width]
        behind = neighbours[..., 1 - dr:1 - dr + height, 1 - dc:1 - dc + width]
        # OpenCV's ties: along an axis the pixel ahead may equal it (a step edge stays one pixel wide); on a
        # diagonal both neighbours must be smaller
        ahead_ok = magnitude >= ahead if index in (0, 2) else magnitude > ahead
        keep |= (sector == index) & (magnitude > behind) & ahead_ok
    candidates = keep & (magnitude > low)
    edges = candidates & (magnitude > high)
    for _ in range(height * width):  # grows by at least one pixel per pass until nothing changes
        grown = candidates & (F.max_pool2d(edges.double(), 3, stride=1, padding=1) > 0)
        if torch.equal(grown, edges):
            break
        edges = grown
    return edges.to(x.dtype).reshape(batch, channels, height, width)


def make_task(condition: dict[str, Any], example_shape: tuple[int, ...], meta: dict[str, Any]) -> Task:
    """The task of a ``condition`` block ({kind, options})."""
    options = {key: value for key, value in condition.items() if key != "kind"}
    return Task(condition["kind"], example_shape, meta, **options)
