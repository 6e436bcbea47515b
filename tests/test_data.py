"""Toy distributions, the exact W1 against brute force, and image loading from paths the tests make."""

import itertools
import os

import numpy as np
import pytest
from PIL import Image

from tf_lipschitz.data import exact_w1, image_dataset, load_images, toy_dataset, toy_samples


def test_exact_w1_matches_brute_force_over_permutations():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(6, 2)), rng.normal(size=(6, 2)) + 1
    brute = min(np.mean(np.linalg.norm(a - b[list(p)], axis=1)) for p in itertools.permutations(range(6)))
    assert exact_w1(a, b) == pytest.approx(brute, rel=1e-12)


def test_two_gaussians_shifted_by_three_have_w1_near_three():
    a = toy_samples("two_gaussians", 1000, seed=1)
    b = toy_samples("two_gaussians", 1000, seed=2) + np.array([3.0, 0.0], "float32")
    assert exact_w1(a, b) == pytest.approx(3.0, abs=0.15)


def test_eight_gaussians_lie_on_their_circle():
    points = toy_samples("8gaussians", 2000, seed=0)
    radius = np.linalg.norm(points, axis=1)
    assert np.all(np.abs(radius - np.sqrt(2.0)) < 0.1)
    angles = np.round(np.arctan2(points[:, 1], points[:, 0]) / (np.pi / 4)) % 8
    assert len(np.unique(angles)) == 8


def test_toy_dataset_is_deterministic_and_validates_names():
    dataset = toy_dataset("25gaussians", 4, seed=3, steps=3)
    first = [b.numpy() for b in dataset]
    np.testing.assert_array_equal(first, [b.numpy() for b in dataset])  # re-iterating restarts the stream
    np.testing.assert_array_equal(first[1:], [b.numpy() for b in dataset.skip(1)])
    with pytest.raises(ValueError, match="Unknown toy"):
        toy_samples("moons", 3)


def test_load_images_from_npz_and_folder(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x_train=x, x_test=x[:2])
    loaded = load_images("mnist", str(tmp_path / "d.npz"), limit=4)
    assert loaded.shape == (4, 28, 28, 1) and loaded.dtype == np.uint8
    assert load_images("mnist", str(tmp_path / "d.npz"), split="test").shape[0] == 2
    folder = tmp_path / "imgs" / "sub"
    os.makedirs(folder)
    for i in range(3):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(folder / f"{i}.png")
    images = load_images("folder", str(tmp_path / "imgs"))
    assert images.shape == (3, 8, 8, 3) and images[2].max() == 80
    with pytest.raises(ValueError, match="No images"):
        load_images("folder", str(tmp_path / "d.npz").replace("d.npz", ""), limit=0)


def test_load_images_with_labels_from_npz_and_tfds(tmp_path):
    import tensorflow_datasets as tfds

    x = np.random.default_rng(0).integers(0, 256, (5, 8, 8, 3), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x_train=x, y_train=np.arange(5)[:, None], x_test=x[:2])
    images, labels = load_images("cifar10", str(tmp_path / "d.npz"), limit=4, with_labels=True)
    np.testing.assert_array_equal(images, x[:4])
    assert labels.tolist() == [0, 1, 2, 3] and labels.dtype == np.int64
    with pytest.raises(ValueError, match="y_test"):
        load_images("cifar10", str(tmp_path / "d.npz"), split="test", with_labels=True)
    with pytest.raises(ValueError, match="no labels"):
        load_images("folder", str(tmp_path), with_labels=True)
    with tfds.testing.mock_data(num_examples=6, policy=tfds.testing.MockPolicy.USE_CODE):
        images, labels = load_images("mnist", str(tmp_path), split="test", limit=4, with_labels=True)
        assert images.shape == (4, 28, 28, 1) and images.dtype == np.uint8
        assert labels.shape == (4,) and labels.dtype == np.int64 and 0 <= labels.min() <= labels.max() <= 9
        np.testing.assert_array_equal(load_images("mnist", str(tmp_path), split="test", limit=4), images)


def test_image_dataset_scales_to_unit_range_and_resizes():
    images = np.zeros((6, 28, 28, 1), np.uint8)
    images[:, :, :14] = 255
    batch = next(iter(image_dataset(images, 3, resolution=32))).numpy()
    assert batch.shape == (3, 32, 32, 1) and batch.min() == -1.0 and batch.max() == 1.0
    with pytest.raises(ValueError, match="uint8"):
        image_dataset(images.astype("float32"), 3)
