"""Toy distributions, the exact W1 against brute force, and image loading from paths the tests make."""

import itertools
import os

import numpy as np
import pytest
from PIL import Image

from tf_lipschitz.data import image_dataset, load_images
from tf_lipschitz.toy import exact_w1, toy_dataset, toy_samples


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
    with pytest.raises(ValueError, match=r"float images in \[-1, 1\]"):
        image_dataset(images.astype("float32"), 3)  # 0 and 255 as floats: not in [-1, 1]
    floats = next(iter(image_dataset(images.astype("float32") / 127.5 - 1, 3, seed=0))).numpy()
    np.testing.assert_array_equal(floats, next(iter(image_dataset(images, 3, seed=0))).numpy())


def _load_npz(tmp_path, array, name="d.npz", **kwargs):
    np.savez(tmp_path / name, x_train=array)
    lines = []
    images = load_images("folder" if "dataset" not in kwargs else kwargs.pop("dataset"), str(tmp_path / name),
                         report=lines.append, **kwargs)
    return images, lines[0]


def test_nan_or_inf_pixels_are_refused_naming_the_file_and_the_array(tmp_path):
    x = np.random.default_rng(0).uniform(0, 1, (4, 8, 8)).astype("float32")
    x[2, 3, 3] = np.nan
    x[3, 0, 0] = np.inf
    with pytest.raises(ValueError, match=r"nan\.npz\['x_train'\] holds 2 NaN/Inf values \(first in image 2\)"):
        _load_npz(tmp_path, x, "nan.npz")


@pytest.mark.parametrize("low, high, name", [(0.0, 1.0, "[0, 1]"), (-1.0, 1.0, "[-1, 1]"), (0.0, 255.0, "[0, 255]")])
def test_float_images_from_a_known_range_are_scaled_exactly_to_minus_one_one(tmp_path, low, high, name):
    x = np.random.default_rng(1).uniform(low, high, (3, 6, 6, 1))
    x[0, 0, 0, 0], x[0, 0, 1, 0] = low, high  # the range's ends map to -1 and 1
    images, line = _load_npz(tmp_path, x)
    assert images.dtype == np.float32
    np.testing.assert_allclose(images, ((x - low) / (high - low) * 2 - 1).astype("float32"), rtol=0, atol=1e-7)
    assert images[0, 0, 0, 0] == -1.0 and images[0, 0, 1, 0] == 1.0
    assert f"read as {name}, scaled to float32 in [-1, 1]" in line
    assert line.startswith(f"Loaded 3 images from {tmp_path / 'd.npz'}['x_train']: 6x6x1 float64 in [")


def test_integral_floats_and_wider_integers_in_0_255_become_uint8_exactly(tmp_path):
    x = np.random.default_rng(2).integers(0, 256, (3, 5, 5, 3))
    for array in (x.astype("float32"), x.astype("int64")):
        images, line = _load_npz(tmp_path, array)
        assert images.dtype == np.uint8 and "uint8" in line
        np.testing.assert_array_equal(images, x)


@pytest.mark.parametrize("array, message", [
    (np.full((2, 4, 4), 300.0), r"values in \[300, 300\], in none of the ranges"),
    (np.full((2, 4, 4), -2.0), "in none of the ranges"),
    (np.full((2, 4, 4), 256, np.int32), r"integer images must be in \[0, 255\]"),
    (np.zeros((2, 4, 4), bool), "bool values"),
])
def test_values_in_no_known_range_are_refused(tmp_path, array, message):
    with pytest.raises(ValueError, match=message):
        _load_npz(tmp_path, array)


def test_non_square_images_are_center_cropped_not_stretched(tmp_path):
    x = np.arange(2 * 12 * 8, dtype=np.uint8).reshape(2, 12, 8, 1)
    images, line = _load_npz(tmp_path, x)
    np.testing.assert_array_equal(images, x[:, 2:10])
    assert ": 12x8x1 uint8 in [0, 191]; center-cropped to 8x8" in line
    folder = tmp_path / "imgs"
    folder.mkdir()
    rgb = np.random.default_rng(3).integers(0, 256, (12, 8, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(folder / "a.png")
    Image.fromarray(np.full((4, 4), 100, np.uint8)).save(folder / "b.png")  # grayscale, smaller: made RGB 8x8
    images = load_images("folder", str(folder))
    assert images.shape == (2, 8, 8, 3)
    np.testing.assert_array_equal(images[0], rgb[2:10])
    assert np.all(images[1] == 100)


def test_a_named_dataset_must_look_like_it(tmp_path):
    with pytest.raises(ValueError, match="this is not cifar10"):
        _load_npz(tmp_path, np.zeros((2, 28, 28), np.uint8), dataset="cifar10")
    with pytest.raises(ValueError, match="this is not mnist"):
        _load_npz(tmp_path, np.zeros((2, 32, 32), np.uint8), dataset="mnist")
    # By content, not by name: a file called mnist.npz may hold Fashion-MNIST.
    images, _ = _load_npz(tmp_path, np.zeros((2, 28, 28), np.uint8), "mnist.npz", dataset="fashion_mnist")
    assert images.shape == (2, 28, 28, 1)
    with pytest.raises(ValueError, match="No such file or folder"):
        load_images("mnist", str(tmp_path / "missing.npz"))


def _like(mean_pixel, zero_fraction, n=64, seed=0):
    """uint8 28x28 images with a given fraction of zero pixels and mean pixel value."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 28, 28), np.uint8)
    on = rng.random(x.shape) >= zero_fraction
    x[on] = np.clip(round(mean_pixel / (1 - zero_fraction)), 1, 255)
    return x


def test_mnist_and_fashion_mnist_are_told_apart_by_their_pixel_statistics(tmp_path):
    mnist_like, fashion_like = _like(33.3, 0.81), _like(72.9, 0.50)
    with pytest.raises(ValueError, match="pixel statistics are those of mnist, not fashion_mnist"):
        _load_npz(tmp_path, mnist_like, "fashion_mnist.npz", dataset="fashion_mnist")
    with pytest.raises(ValueError, match="those of fashion_mnist, not mnist"):
        _load_npz(tmp_path, fashion_like, "mnist.npz", dataset="mnist")
    for name, array in (("mnist", mnist_like), ("fashion_mnist", fashion_like), ("mnist", _like(127, 0.0))):
        assert _load_npz(tmp_path, array, dataset=name)[0].shape == (64, 28, 28, 1)  # its own, or neither


@pytest.mark.real_data
def test_a_renamed_real_mnist_file_is_refused_as_fashion_mnist(tmp_path, mnist_path):
    renamed = tmp_path / "fashion_mnist.npz"
    renamed.write_bytes(open(mnist_path, "rb").read())
    with pytest.raises(ValueError, match="is the mnist file .*SHA-256"):
        load_images("fashion_mnist", str(renamed), limit=10)
    assert load_images("mnist", str(renamed), limit=10).shape == (10, 28, 28, 1)


@pytest.mark.parametrize("array, message", [
    (np.zeros((70, 28, 1), np.uint8), r"shape \(70, 28, 1, 1\), read as 28x1 images: too small"),
    (np.zeros((4, 3, 16, 16), np.uint8), "channels first"),
    (np.zeros((4, 16, 16, 7), np.uint8), "with 7 channels"),
])
def test_arrays_that_are_not_images_are_refused_not_cropped(tmp_path, array, message):
    for dataset in ("mnist", "folder"):
        with pytest.raises(ValueError, match=message):
            _load_npz(tmp_path, array, dataset=dataset)


def test_damaged_npz_files_raise_errors_naming_them(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (8, 16, 16), dtype=np.uint8)
    np.savez(tmp_path / "good.npz", x_train=x)
    data = (tmp_path / "good.npz").read_bytes()
    (tmp_path / "truncated.npz").write_bytes(data[: len(data) // 2])
    damaged = bytearray(data)
    damaged[data.index(b"x_train.npy") + 200] ^= 0xFF  # inside the array's bytes: the CRC no longer matches
    (tmp_path / "crc.npz").write_bytes(bytes(damaged))
    (tmp_path / "text.npz").write_text("not an archive\n")
    np.savez(tmp_path / "objects.npz", x_train=np.array([{"a": 1}], dtype=object))
    for name, message in (("truncated", r"is damaged: a ZIP archive without its directory \(truncated\?\)"), ("crc", r"is damaged \(BadZipFile: Bad CRC"),
                          ("text", r"is not an .npz archive .* starts with b'not an archive"),
                          ("objects", "holds Python objects")):
        with pytest.raises(ValueError, match=message) as caught:
            load_images("folder", str(tmp_path / f"{name}.npz"))
        assert f"{name}.npz" in str(caught.value) and "allow_pickle" not in str(caught.value)


def test_a_corrupt_image_is_named_and_mixed_sizes_are_counted(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, side in enumerate((8, 8, 8, 16, 4)):
        Image.fromarray(np.full((side, side), 10 * i, np.uint8)).save(folder / f"{i}.png")
    lines = []
    images = load_images("folder", str(folder), report=lines.append)
    assert images.shape == (5, 8, 8, 1)
    assert "2 of 5 images resized (area) to the first image's 8x8 after their center crop (1 of 16x16, 1 of 4x4)" \
        in lines[0]
    png = (folder / "3.png").read_bytes()
    (folder / "3.png").write_bytes(png[:40] + b"\0" * 20 + png[60:])
    with pytest.raises(ValueError, match=r"3\.png is not a readable image"):
        load_images("folder", str(folder))
