"""Data for the experiments: the papers' 2-D toy distributions, the exact W1 between samples, and image
datasets from local paths (an `.npz`, an image folder, or a TFDS `data_dir`), scaled to [-1, 1].

Nothing here downloads at run time unless you ask TFDS to (`download=True`); on machines without internet,
pass local files.
"""

from __future__ import annotations

import os
from typing import Iterator

import numpy as np
import tensorflow as tf

__all__ = [
    "TOY_DISTRIBUTIONS",
    "toy_samples",
    "toy_dataset",
    "exact_w1",
    "load_images",
    "image_dataset",
]

TOY_DISTRIBUTIONS = ("8gaussians", "25gaussians", "swissroll", "two_gaussians")


def toy_samples(name: str, n: int, *, seed: int | None = None) -> np.ndarray:
    """Draws `n` points of a 2-D toy distribution, as float32 of shape (n, 2).

    - "8gaussians": eight Gaussians (std 0.02) on a circle of radius √2 — the WGAN-GP toy.
    - "25gaussians": a 5×5 grid on [-2, 2]² scaled by 1/2.828, std 0.05/2.828.
    - "swissroll": a 2-D Swiss roll scaled to roughly [-2, 2]².
    - "two_gaussians": a unit Gaussian at the origin (the "real" side of the two-Gaussians check; the other
      side is the same shifted by 3 along x, so the exact W1 is 3).

    Args:
        name: One of `TOY_DISTRIBUTIONS`.
        n: Number of samples (> 0).
        seed: NumPy seed.

    Returns:
        An (n, 2) float32 array.

    Raises:
        ValueError: for an unknown name or n ≤ 0.

    Example:
        >>> toy_samples("8gaussians", 4, seed=0).shape
        (4, 2)
    """
    if name not in TOY_DISTRIBUTIONS:
        raise ValueError(f"Unknown toy distribution {name!r}; valid: {TOY_DISTRIBUTIONS}")
    if n <= 0:
        raise ValueError(f"`n` must be > 0. Received: n={n}")
    rng = np.random.default_rng(seed)
    if name == "8gaussians":
        angles = rng.integers(0, 8, n) * (np.pi / 4)
        centers = 2.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
        points = (centers + 0.02 * rng.normal(size=(n, 2))) / np.sqrt(2.0)
    elif name == "25gaussians":
        grid = rng.integers(-2, 3, size=(n, 2)) * 2.0
        points = (grid + 0.05 * rng.normal(size=(n, 2))) / 2.828
    elif name == "swissroll":
        t = 1.5 * np.pi * (1 + 2 * rng.uniform(size=n))
        points = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) + 0.5 * rng.normal(size=(n, 2))
        points /= 7.5
    else:
        points = rng.normal(size=(n, 2))
    return points.astype("float32")


def toy_dataset(name: str, batch_size: int, *, seed: int = 0, steps: int | None = None) -> tf.data.Dataset:
    """An endless (or `steps`-long) `tf.data.Dataset` of batches from `toy_samples`.

    Args:
        name: One of `TOY_DISTRIBUTIONS`.
        batch_size: Points per batch.
        seed: Seed of the stream; the same seed gives the same batches.
        steps: Number of batches; endless when None.

    Returns:
        A dataset of float32 tensors of shape (batch_size, 2).

    Example:
        >>> next(iter(toy_dataset("swissroll", 8))).shape
        TensorShape([8, 2])
    """
    def batches() -> Iterator[np.ndarray]:
        rng = np.random.default_rng(seed)  # per iteration: every pass over the dataset yields the same stream
        count = 0
        while steps is None or count < steps:
            yield toy_samples(name, batch_size, seed=int(rng.integers(2**31)))
            count += 1

    spec = tf.TensorSpec((batch_size, 2), tf.float32)
    return tf.data.Dataset.from_generator(batches, output_signature=spec).prefetch(2)


def exact_w1(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Wasserstein-1 distance between two equally sized empirical distributions (optimal assignment).

    Args:
        a: (n, d) samples.
        b: (n, d) samples.

    Returns:
        min over permutations π of mean ‖a_i − b_π(i)‖₂, by `scipy.optimize.linear_sum_assignment`.

    Raises:
        ValueError: for samples of different shapes.

    Example:
        >>> round(exact_w1(np.zeros((3, 2)), np.ones((3, 2))), 4)
        1.4142
    """
    from scipy.optimize import linear_sum_assignment
    from scipy.spatial.distance import cdist

    a = np.asarray(a, np.float64).reshape(len(a), -1)
    b = np.asarray(b, np.float64).reshape(len(b), -1)
    if a.shape != b.shape:
        raise ValueError(f"exact_w1 needs samples of equal shape; got {a.shape} and {b.shape}")
    cost = cdist(a, b)
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())


_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def load_images(dataset: str, data_dir: str | None = None, *, split: str = "train", limit: int | None = None,
                download: bool = False, with_labels: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Loads an image dataset into a uint8 array (N, H, W, C) from local paths, optionally with its labels.

    Args:
        dataset: "mnist", "fashion_mnist", "cifar10", "celeb_a" (TFDS names, or an `.npz` given as `data_dir`),
            or "folder" (every image file below `data_dir`).
        data_dir: An `.npz` file in the `keras.datasets` layout (`x_train`, `x_test`), an image folder, or a TFDS
            data directory.
        split: "train" or "test" (for `.npz` files: `x_train` or `x_test`).
        limit: Keep at most this many images.
        download: Let TFDS download when the data is not in `data_dir` (needs internet).
        with_labels: Also return the class labels (TFDS `label`, or `y_<split>` / `y` of an `.npz`).

    Returns:
        A uint8 array with a channel axis; with `with_labels`, `(images, labels)` with int64 labels (N,).

    Raises:
        ValueError: for a missing path, an empty folder, an unknown split key, or labels asked of a source
            without them.

    Example:
        >>> images = load_images("mnist", "mnist.npz", limit=100)  # doctest: +SKIP
    """
    if data_dir is not None and data_dir.endswith(".npz"):
        if not os.path.exists(data_dir):
            raise ValueError(f"No such file: {data_dir}")
        with np.load(data_dir) as npz:
            key = f"x_{split}" if f"x_{split}" in npz else ("x" if "x" in npz else None)
            if key is None:
                raise ValueError(f"{data_dir} has no array 'x_{split}' or 'x'; it has {sorted(npz.files)}")
            images = npz[key][:limit]
            if with_labels:
                label_key = "y" + key[1:]
                if label_key not in npz:
                    raise ValueError(f"{data_dir} has no labels {label_key!r}; it has {sorted(npz.files)}")
                labels = npz[label_key][:limit]
    elif dataset == "folder":
        if with_labels:
            raise ValueError("dataset='folder' has no labels; pass an .npz or a TFDS data directory")
        images = _load_folder(data_dir, limit)
    else:
        images, labels = _load_tfds(dataset, data_dir, split, limit, download, with_labels)
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.dtype != np.uint8:
        images = np.clip(images, 0, 255).astype(np.uint8)
    if with_labels:
        return images, np.asarray(labels).reshape(-1).astype(np.int64)
    return images


def _load_folder(data_dir: str | None, limit: int | None) -> np.ndarray:
    from PIL import Image

    if data_dir is None or not os.path.isdir(data_dir):
        raise ValueError(f"dataset='folder' needs an existing image folder as data_dir; got {data_dir!r}")
    paths = sorted(
        os.path.join(root, name)
        for root, _, names in os.walk(data_dir)
        for name in names
        if name.lower().endswith(_IMAGE_EXTENSIONS)
    )[:limit]
    if not paths:
        raise ValueError(f"No images ({', '.join(_IMAGE_EXTENSIONS)}) found below {data_dir}")
    first = np.asarray(Image.open(paths[0]))
    mode = "L" if first.ndim == 2 else "RGB"
    return np.stack([np.asarray(Image.open(p).convert(mode).resize(first.shape[1::-1])) for p in paths])


def _load_tfds(dataset: str, data_dir: str | None, split: str, limit: int | None, download: bool,
               with_labels: bool) -> tuple[np.ndarray, np.ndarray | None]:
    import tensorflow_datasets as tfds

    try:
        ds = tfds.load(dataset, split=split, data_dir=data_dir, download=download, as_supervised=False)
    except Exception as err:  # TFDS raises several types for "not prepared"
        raise ValueError(
            f"Could not load TFDS dataset {dataset!r} from data_dir={data_dir!r} ({type(err).__name__}: {err}). "
            "Pass a prepared TFDS data directory, an .npz file, or an image folder with dataset='folder'."
        ) from err
    if with_labels and "label" not in ds.element_spec:
        raise ValueError(f"TFDS dataset {dataset!r} has no 'label' feature; it has {sorted(ds.element_spec)}")
    if limit is not None:
        ds = ds.take(limit)
    examples = list(tfds.as_numpy(ds))
    images = np.stack([example["image"] for example in examples])
    return images, np.asarray([example["label"] for example in examples]) if with_labels else None


def image_dataset(images: np.ndarray, batch_size: int, *, resolution: int | None = None, seed: int = 0,
                  drop_remainder: bool = True) -> tf.data.Dataset:
    """A shuffled, repeated `tf.data` pipeline of float32 images in [-1, 1] for GAN training.

    Args:
        images: uint8 array (N, H, W, C).
        batch_size: Images per batch.
        resolution: Resize (bilinear) to resolution × resolution; MNIST's 28 → 32 as in the papers.
        seed: Shuffle seed.
        drop_remainder: Keep every batch the same size (needed by `LipschitzGAN`).

    Returns:
        A dataset of (batch_size, R, R, C) float32 batches.

    Raises:
        ValueError: for a non-uint8 array or fewer images than one batch.

    Example:
        >>> ds = image_dataset(np.zeros((8, 28, 28, 1), np.uint8), 4, resolution=32)
        >>> next(iter(ds)).shape
        TensorShape([4, 32, 32, 1])
    """
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(f"image_dataset expects uint8 images (N, H, W, C); got {images.dtype} {images.shape}")
    if len(images) < batch_size:
        raise ValueError(f"Only {len(images)} images for a batch size of {batch_size}")

    def scale(x):
        x = tf.cast(x, tf.float32) / 127.5 - 1.0
        if resolution is not None:
            x = tf.image.resize(x, (resolution, resolution))
        return x

    ds = tf.data.Dataset.from_tensor_slices(images).shuffle(min(len(images), 10_000), seed=seed)
    return ds.repeat().batch(batch_size, drop_remainder=drop_remainder).map(scale).prefetch(2)
