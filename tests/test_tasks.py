"""The conditional tasks (genlab/data/tasks.py) against what they are by construction: Canny edges of images whose
edges are known, the inpainting square's size and the exact placement probabilities, the super-resolution
operator, and bad input."""

import math

import pytest
import torch

from genlab.data.tasks import Task, canny, make_task
from genlab.errors import ConfigError

DIGITS = {"name": "digits", "classes": 10}


def _scale(values_0_255: torch.Tensor) -> torch.Tensor:
    """0-255 values to the pipeline's [-1, 1] images."""
    return values_0_255 / 127.5 - 1


def test_canny_finds_a_step_edge_one_pixel_wide_in_either_direction():
    image = torch.zeros(1, 1, 12, 12)
    image[..., 6:] = 255
    edges = canny(_scale(image))[0, 0]
    assert edges.sum() == 12 and torch.all(edges[:, 5] == 1)  # OpenCV's rule keeps one side of an exact tie
    transposed = canny(_scale(image.transpose(-1, -2)))[0, 0]
    assert torch.equal(transposed, edges.t())


def test_canny_traces_a_disk_as_a_closed_contour_on_its_rim():
    rows, cols = torch.meshgrid(torch.arange(24.0), torch.arange(24.0), indexing="ij")
    distance = ((rows - 11.5) ** 2 + (cols - 11.5) ** 2).sqrt()
    edges = canny(_scale(torch.where(distance < 7, 255.0, 0.0))[None, None])[0, 0] > 0
    assert distance[edges].min() >= 6 - 0.5 and distance[edges].max() <= 7 + 0.5  # on the rim, within a pixel
    angles = torch.atan2(rows[edges] - 11.5, cols[edges] - 11.5)
    sectors = ((angles + math.pi) / (2 * math.pi) * 16).long().clamp(max=15)
    assert set(sectors.tolist()) == set(range(16))  # every sixteenth of the circle has rim pixels
    assert edges.sum() < 2 * 2 * math.pi * 7  # a thin contour, not a band


def test_canny_thresholds_and_hysteresis():
    flat = torch.full((1, 1, 12, 12), 100.0)
    assert canny(_scale(flat)).sum() == 0
    # A step of 15 grey levels: its Sobel magnitude (about 4 x 15, the blur takes a little) lies between the
    # thresholds 10 and 100, one of 40 levels above. The weak step alone is no edge; continuing the strong one
    # (the top half of the same vertical step) it is kept. A step's two sides tie in magnitude: one is kept.
    weak, joined = torch.zeros(1, 1, 12, 12), torch.zeros(1, 1, 12, 12)
    weak[..., 6:] = 15
    joined[..., :6, 6:] = 40
    joined[..., 6:, 6:] = 15
    assert canny(_scale(weak)).sum() == 0
    assert torch.all(canny(_scale(weak), low=5.0, high=30.0)[0, 0, :, 5:7].sum(1) == 1)  # both thresholds lower
    kept = canny(_scale(joined))[0, 0]
    assert torch.all(kept[:, 5:7].sum(1) == 1), kept  # every row: the weak half is connected to the strong one
    assert canny(_scale(joined), high=1e9).sum() == 0  # no strong pixel: nothing is kept


def test_inpainting_square_has_the_authors_size_and_is_placed_uniformly():
    task = Task("inpaint", (1, 8, 8), DIGITS, coverage=0.25)
    side = task.square_side()
    assert side == int(math.sqrt(0.25 * 64)) == 4
    n = 20000
    x = torch.rand(n, 1, 8, 8) * 2 - 1
    y = task.condition(x, None, torch.Generator().manual_seed(0))
    hidden = task.hidden(y)
    assert y.shape == (n, 2, 8, 8)
    assert torch.all(hidden.sum((1, 2, 3)) == side**2)
    torch.testing.assert_close(y[:, :1], torch.where(hidden, torch.zeros_like(x), x))  # observed pixels as they are
    # P(pixel (i, j) hidden) = (tops covering i) (lefts covering j) / (positions per axis)^2, exactly
    positions = 8 - side + 1
    covering = torch.tensor([min(i, positions - 1) - max(0, i - side + 1) + 1 for i in range(8)], dtype=torch.float64)
    expected = torch.outer(covering, covering) / positions**2
    frequency = hidden[:, 0].double().mean(0)
    standard_error = (expected * (1 - expected) / n).sqrt()
    assert torch.all((frequency - expected).abs() <= 4 * standard_error), (frequency - expected) / standard_error
    again = task.condition(x[:5], None, torch.Generator().manual_seed(0))
    torch.testing.assert_close(again, y[:5])  # seeded: the evaluation's squares are reproducible


def test_superres_condition_is_the_pooled_image_upsampled_and_its_operator_the_pool():
    task = make_task({"kind": "superres", "factor": 4}, (1, 8, 8), DIGITS)
    x = torch.rand(3, 1, 8, 8) * 2 - 1
    y = task.condition(x, None)
    for block_row in range(2):
        for block_col in range(2):
            block = x[..., 4 * block_row:4 * block_row + 4, 4 * block_col:4 * block_col + 4]
            patch = y[..., 4 * block_row:4 * block_row + 4, 4 * block_col:4 * block_col + 4]
            torch.testing.assert_close(patch, block.mean((2, 3), keepdim=True).expand_as(patch))
    measured, region = task.measure(x, y)
    assert measured.shape == (3, 1, 2, 2) and region is None
    torch.testing.assert_close(task.measure(y, y)[0], measured)  # the condition itself is consistent


@pytest.mark.parametrize("condition,shape,meta,message", [
    ({"kind": "edges"}, (2,), {"name": "ring"}, "condition kind 'edges' needs images; ring"),
    ({"kind": "superres", "factor": 3}, (1, 8, 8), DIGITS, "condition.factor 3 must divide"),
    ({"kind": "inpaint", "factor": 2}, (1, 8, 8), DIGITS, "takes \\['coverage'\\], not \\['factor'\\]"),
    ({"kind": "inpaint", "coverage": 1.5}, (1, 8, 8), DIGITS, "coverage must lie in"),
    ({"kind": "label"}, (1, 8, 8), {"name": "blobs"}, "needs a labelled dataset; blobs"),
    ({"kind": "rotate"}, (1, 8, 8), DIGITS, "condition kind must be one of"),
])
def test_a_task_the_data_cannot_provide_is_one_config_error(condition, shape, meta, message):
    with pytest.raises(ConfigError, match=message):
        make_task(condition, shape, meta)
