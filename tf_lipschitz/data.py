"""Data for the experiments: image datasets from local paths (an `.npz`, an image folder, or a TFDS `data_dir`),
scaled to [-1, 1]. The 2-D toy distributions and the exact W1 live in `tf_lipschitz.toy` and are re-exported here.

Nothing here downloads at run time unless you ask TFDS to (`download=True`); on machines without internet,
pass local files.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from tf_lipschitz.toy.data import TOY_DISTRIBUTIONS, toy_dataset, toy_samples
from tf_lipschitz.toy.w1 import exact_w1

__all__ = [
    "TOY_DISTRIBUTIONS",
    "toy_samples",
    "toy_dataset",
    "exact_w1",
    "load_images",
    "image_dataset",
]

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
