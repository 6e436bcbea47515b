"""Data for the experiments: image datasets from local paths (an `.npz`, an image folder, or a TFDS `data_dir`),
scaled to [-1, 1]. The 2-D toy distributions and the exact W1 live in `tf_lipschitz.toy`.

Nothing here downloads at run time unless you ask TFDS to (`download=True`); on machines without internet,
pass local files.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
import zlib
from typing import Callable

import numpy as np
import tensorflow as tf

from tf_lipschitz.foundations.optional import require

__all__ = [
    "IMAGE_EXTENSIONS",
    "image_files",
    "read_image",
    "center_crop",
    "load_images",
    "image_dataset",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
# The value ranges float images may come in, tried in this order: (name, low, high).
_FLOAT_RANGES = (("[0, 1]", 0.0, 1.0), ("[-1, 1]", -1.0, 1.0), ("[0, 255]", 0.0, 255.0))
_RANGE_TOLERANCE = 1e-4  # relative to the range's width: float round-off of a conversion, nothing more


def image_files(folder: str) -> list[str]:
    """The image files (`IMAGE_EXTENSIONS`) of a folder and its sub-folders, in sorted order.

    Args:
        folder: The folder.

    Returns:
        Sorted file paths.

    Raises:
        ValueError: if `folder` is not an existing folder or holds no image files.

    Example:
        >>> image_files("samples/")[:2]  # doctest: +SKIP
        ['samples/step_000100.png', 'samples/step_000200.png']
    """
    if not os.path.isdir(folder):
        raise ValueError(f"Image folder {folder!r} does not exist or is not a folder.")
    paths = sorted(
        os.path.join(root, name)
        for root, _dirs, names in os.walk(folder)
        for name in names
        if name.lower().endswith(IMAGE_EXTENSIONS)
    )
    if not paths:
        raise ValueError(f"No image files ({', '.join(IMAGE_EXTENSIONS)}) found in folder {folder!r}.")
    return paths


def read_image(path: str) -> np.ndarray:
    """Decodes one image file (PNG, JPEG, BMP, GIF's first frame) into a uint8 array (H, W, C).

    Raises:
        ValueError: naming the file when it cannot be read or decoded (e.g. a corrupt PNG).

    Example:
        >>> read_image("samples/step_000100.png").dtype  # doctest: +SKIP
        dtype('uint8')
    """
    try:
        data = tf.io.read_file(path)
        return tf.io.decode_image(data, channels=0, dtype=tf.uint8, expand_animations=False).numpy()
    except (tf.errors.OpError, OSError) as err:
        reason = getattr(err, "message", None) or str(err)
        raise ValueError(f"{path} is not a readable image ({reason.strip().splitlines()[0]}); "
                         "remove or replace the file.") from None


def center_crop(images: np.ndarray) -> np.ndarray:
    """Crops (N, H, W, C) images to their central square (CelebA's 218×178 faces → 178×178).

    Example:
        >>> center_crop(np.zeros((1, 6, 4, 3))).shape
        (1, 4, 4, 3)
    """
    h, w = images.shape[1:3]
    size = min(h, w)
    top, left = (h - size) // 2, (w - size) // 2
    return images[:, top:top + size, left:left + size]


def load_images(dataset: str, data_dir: str | None = None, *, split: str = "train", limit: int | None = None,
                download: bool = False, with_labels: bool = False,
                report: Callable[[str], None] | None = None) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Loads an image dataset from a local path into memory, (N, S, S, C), optionally with its labels.

    The one image loader of the library (the command, the examples and `recipes.load_image_data` use it).
    Non-square images are center-cropped to their central square (not stretched). Integer images in
    [0, 255] become uint8. Float images are accepted only in a range that can be told from their values,
    tried in this order: [0, 1], [-1, 1], [0, 255] (integral values there become uint8 exactly); the others
    are scaled exactly to float32 in [-1, 1]. NaN or Inf pixels, and values in no such range, are refused.

    A folder `data_dir` is read as a TFDS data directory when it has a sub-folder named `dataset`, else as an
    image folder when it holds image files. Images must be (N, H, W[, C]) with 1 or 3 channels last and sides of
    at least 4 pixels: a channels-first array, an (N, 28, 1) array read as 28x1 images or a 7-channel array
    is refused, not cropped. For a dataset known by name the images must look like it, by content, whatever
    the file is called: "mnist" and "fashion_mnist" images are 28x28x1, and a file whose SHA-256 is that
    of a known file of the other (the keras-layout MNIST and Fashion-MNIST files), or uint8 images whose
    pixel statistics (mean, fraction of zero pixels) are the other's, are refused; "cifar10" and "celeb_a"
    images are RGB. An image folder's images of other sizes than the first are resized, and the report
    line counts them. A corrupt image, or a damaged or non-ZIP `.npz`, raises an error naming the file.

    Args:
        dataset: "mnist", "fashion_mnist", "cifar10", "celeb_a" (TFDS names, or an `.npz`/folder given as
            `data_dir`), or "folder" (every image file below `data_dir`, no check of what it holds).
        data_dir: An `.npz` file in the `keras.datasets` layout (`x_train`, `x_test`), an image folder, or a
            TFDS data directory.
        split: "train" or "test" (for `.npz` files: `x_train` or `x_test`; `x` when neither is there).
        limit: Keep at most this many images.
        download: Let TFDS download when the data is not in `data_dir` (needs internet).
        with_labels: Also return the class labels (TFDS `label`, or `y_<split>` / `y` of an `.npz`).
        report: Called with one line saying what was loaded: source, count, shape, dtype, value range and
            any conversion (e.g. `print`).

    Returns:
        uint8 images in [0, 255] or float32 images in [-1, 1], shaped (N, S, S, C); with `with_labels`,
        `(images, labels)` with int64 labels (N,).

    Raises:
        ValueError: for a missing path, an empty folder, an unknown split key, labels asked of a source
            without them, NaN/Inf values (naming the file and the array), values in no known range, arrays
            that are not (N, H, W[, C]) images with 1 or 3 channels, images that are not the named dataset,
            or a file that cannot be read (naming it).

    Example:
        >>> images = load_images("mnist", "mnist.npz", limit=100, report=print)  # doctest: +SKIP
        Loaded 100 images from mnist.npz['x_train']: 28x28x1 uint8 in [0, 255]
    """
    labels = None
    if data_dir is not None and not os.path.exists(data_dir):
        raise ValueError(f"No such file or folder: {data_dir!r}")
    folder_notes: list[str] = []
    if data_dir is not None and data_dir.endswith(".npz"):
        known = _known_file(data_dir)
        if dataset in _KNOWN_SHAPES and known is not None and known != dataset:
            raise ValueError(f"{data_dir} is the {known} file (its SHA-256 is that of the known {known} .npz), not "
                             f"{dataset}; pass the {dataset} file, or --dataset {known}.")
        images, labels, source = _load_npz(data_dir, split, limit, with_labels)
    elif dataset == "folder" or _is_image_folder(dataset, data_dir):
        if with_labels:
            raise ValueError(f"The image folder {data_dir!r} has no labels; pass an .npz or a TFDS data directory")
        images, folder_notes = _load_folder(data_dir, limit)
        source = f"image folder {data_dir}"
    else:
        images, labels = _load_tfds(dataset, data_dir, split, limit, download, with_labels)
        source = f"TFDS {dataset}[{split}]" + (f" in {data_dir}" if data_dir else "")
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4:
        raise ValueError(f"{source} holds an array of shape {images.shape}, not images (N, H, W[, C]).")
    _check_image_shape(images.shape, source)
    _check_known_shape(dataset, images.shape[1:], source)
    _check_known_content(dataset, images, source)
    shape = "x".join(map(str, images.shape[1:]))
    original = f"{images.dtype} in [{_fmt(images.min())}, {_fmt(images.max())}]" if images.size else "empty"
    images, conversion = _to_standard_range(images, source)
    cropped = images.shape[1] != images.shape[2]
    if cropped:
        images = center_crop(images)
    if report is not None:
        size = images.shape[1]
        notes = (folder_notes + ([conversion] if conversion else [])
                 + ([f"center-cropped to {size}x{size}"] if cropped else []))
        report(f"Loaded {len(images)} images from {source}: {shape} {original}"
               + "".join(f"; {note}" for note in notes))
    if with_labels:
        return images, np.asarray(labels).reshape(-1).astype(np.int64)
    return images


def _fmt(value) -> str:
    return f"{float(value):.6g}"


# SHA-256 of known .npz files → dataset: the keras.datasets MNIST download, and the keras-layout MNIST and
# Fashion-MNIST files built from the original idx files (whose published checksums they match).
_KNOWN_SHA256 = {
    "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1": "mnist",
    "06af5dfe73b70e3bc1c36439982b18a8d76803db9b544f6fdf838a37fbb01b64": "mnist",
    "5b6d2c4c694a91887af8ab7d039c04f80af3c29378d731c93a538d2e831aa469": "fashion_mnist",
}
_HASHED_UP_TO = 64 << 20  # bytes; the known files are 11-31 MB
# Image shapes (H, W, C) of the datasets known by name; None: any size (resized or cropped copies are common).
_KNOWN_SHAPES = {"mnist": (28, 28, 1), "fashion_mnist": (28, 28, 1), "cifar10": (None, None, 3),
                 "celeb_a": (None, None, 3)}
# Pixel statistics of the 28x28 grayscale datasets (their train and test sets, and their first 64 images, are
# within a few units of these): the mean pixel value and the fraction of pixels that are exactly 0.
_KNOWN_STATISTICS = {"mnist": (33.3, 0.81), "fashion_mnist": (72.9, 0.50)}
_STATISTICS_TOLERANCE = (12.0, 0.08)
_MIN_SIDE = 4  # smaller "images" are an array of another layout, e.g. (N, 28, 1) read as 28x1 images
_CHANNELS = (1, 3)


def _known_file(path: str) -> str | None:
    """The dataset whose known .npz file `path` is (by SHA-256), or None."""
    try:
        if os.path.getsize(path) > _HASHED_UP_TO:
            return None
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return _KNOWN_SHA256.get(digest.hexdigest())


def _check_image_shape(shape: tuple, source: str) -> None:
    """Refuses arrays that are not (N, H, W, C) images with 1 or 3 channels, naming the likely layout."""
    _, h, w, c = shape
    if h in _CHANNELS and c not in _CHANNELS:
        raise ValueError(f"{source} holds an array of shape {shape}: channels first (N, C, H, W)? Images must be "
                         "(N, H, W[, C]) with the channels last; transpose it, e.g. np.transpose(x, (0, 2, 3, 1)).")
    if c not in _CHANNELS:
        raise ValueError(f"{source} holds images of {h}x{w} with {c} channels; images must have 1 (grayscale) or "
                         "3 (RGB) channels, last.")
    if min(h, w) < _MIN_SIDE:
        raise ValueError(f"{source} holds an array of shape {shape}, read as {h}x{w} images: too small to be "
                         f"images (at least {_MIN_SIDE}x{_MIN_SIDE}); an array of another layout? Images must be "
                         "(N, H, W[, C]).")


def _check_known_shape(dataset: str, shape: tuple, source: str) -> None:
    """Refuses images of another shape than the dataset known by name (e.g. grayscale for an RGB dataset)."""
    expected = _KNOWN_SHAPES.get(dataset)
    if expected is not None and any(e is not None and e != got for e, got in zip(expected, shape)):
        what = "x".join(map(str, expected)) if None not in expected else f"{expected[-1]}-channel"
        raise ValueError(f"{source} holds images of {'x'.join(map(str, shape))}, but {dataset} images are "
                         f"{what}: this is not {dataset}. Pass the right file, or --dataset folder for other images.")


def _check_known_content(dataset: str, images: np.ndarray, source: str) -> None:
    """Refuses uint8 images named as one 28x28 grayscale dataset whose pixel statistics are the other's."""
    if dataset not in _KNOWN_STATISTICS or images.dtype != np.uint8 or len(images) < 64:
        return
    sample = images[:10_000]
    mean, zeros = float(sample.mean()), float((sample == 0).mean())

    def like(name: str) -> bool:
        known_mean, known_zeros = _KNOWN_STATISTICS[name]
        return (abs(mean - known_mean) <= _STATISTICS_TOLERANCE[0]
                and abs(zeros - known_zeros) <= _STATISTICS_TOLERANCE[1])

    others = [name for name in _KNOWN_STATISTICS if name != dataset and like(name)]
    if others and not like(dataset):
        other = others[0]
        raise ValueError(
            f"{source} holds images whose pixel statistics are those of {other}, not {dataset} (mean pixel "
            f"{mean:.1f}, {zeros:.0%} zero pixels; {other}: {_KNOWN_STATISTICS[other][0]}, "
            f"{_KNOWN_STATISTICS[other][1]:.0%}; {dataset}: {_KNOWN_STATISTICS[dataset][0]}, "
            f"{_KNOWN_STATISTICS[dataset][1]:.0%}). Pass the {dataset} file, or --dataset {other}.")


def _to_standard_range(images: np.ndarray, source: str) -> tuple[np.ndarray, str]:
    """uint8 as it is; other integers in [0, 255] to uint8; floats from a known range exactly to [-1, 1]."""
    if images.dtype == np.uint8:
        return images, ""
    if images.dtype == bool or not (np.issubdtype(images.dtype, np.integer) or np.issubdtype(images.dtype,
                                                                                             np.floating)):
        raise ValueError(f"{source} holds {images.dtype} values; images must be integers in [0, 255] or floats.")
    if images.size == 0:
        return images.astype(np.uint8), ""
    if np.issubdtype(images.dtype, np.floating):
        bad = ~np.isfinite(images)
        if bad.any():
            first = int(np.argwhere(bad)[0][0])
            raise ValueError(f"{source} holds {int(bad.sum())} NaN/Inf values (first in image {first}); "
                             "refusing to train on them.")
    low, high = float(images.min()), float(images.max())
    if np.issubdtype(images.dtype, np.integer):
        if low < 0 or high > 255:
            raise ValueError(f"{source} holds {images.dtype} values in [{low:g}, {high:g}]; integer images must "
                             "be in [0, 255].")
        return images.astype(np.uint8), "converted to uint8"
    for name, lo, hi in _FLOAT_RANGES:
        tolerance = _RANGE_TOLERANCE * (hi - lo)
        if lo - tolerance <= low and high <= hi + tolerance:
            break
    else:
        raise ValueError(f"{source} holds {images.dtype} values in [{low:g}, {high:g}], in none of the ranges "
                         "float images may have ([0, 1], [-1, 1], [0, 255]); scale them into one of these.")
    if name == "[0, 255]" and np.array_equal(images, np.round(images)):
        return np.clip(images, 0, 255).astype(np.uint8), "read as [0, 255] integers, converted to uint8"
    scaled = (images.astype(np.float64) - lo) * (2.0 / (hi - lo)) - 1.0
    return np.clip(scaled, -1.0, 1.0).astype(np.float32), f"read as {name}, scaled to float32 in [-1, 1]"


def _is_image_folder(dataset: str, data_dir: str | None) -> bool:
    """A folder without a TFDS sub-folder of `dataset` that holds image files."""
    if data_dir is None or not os.path.isdir(data_dir) or os.path.isdir(os.path.join(data_dir, dataset)):
        return False
    return any(name.lower().endswith(IMAGE_EXTENSIONS) for _root, _dirs, names in os.walk(data_dir)
               for name in names)


def _load_npz(path: str, split: str, limit: int | None, with_labels: bool):
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as handle:
            start = handle.read(16)
        if start.startswith(b"PK"):
            raise ValueError(f"{path} is damaged: a ZIP archive without its directory (truncated?); download or "
                             "write it again.")
        raise ValueError(f"{path} is not an .npz archive (a ZIP file of .npy arrays, as numpy.savez writes); it "
                         f"starts with {start!r}.")
    try:
        with np.load(path, allow_pickle=False) as npz:
            key = f"x_{split}" if f"x_{split}" in npz else ("x" if "x" in npz else None)
            if key is None:
                raise ValueError(f"{path} has no array 'x_{split}' or 'x'; it has {sorted(npz.files)}")
            images = _read_member(npz, key, path)[:limit]
            labels = None
            if with_labels:
                label_key = "y" + key[1:]
                if label_key not in npz:
                    raise ValueError(f"{path} has no labels {label_key!r}; it has {sorted(npz.files)}")
                labels = _read_member(npz, label_key, path)[:limit]
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as err:
        raise ValueError(f"{path} is damaged ({type(err).__name__}: {err}); download or write it again.") from None
    return images, labels, f"{path}[{key!r}]"


def _read_member(npz, key: str, path: str) -> np.ndarray:
    """One array of an open .npz, with an error naming the file and the array when it cannot be read."""
    try:
        return npz[key]
    except ValueError as err:
        if "allow_pickle" in str(err):
            raise ValueError(f"{path}[{key!r}] holds Python objects (a pickled object array), which are never "
                             "loaded: save plain numeric arrays.") from None
        raise ValueError(f"{path}[{key!r}] cannot be read ({err}); download or write the file again.") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as err:
        raise ValueError(f"{path}[{key!r}] is damaged ({type(err).__name__}: {err}); download or write the file "
                         "again.") from None


def _load_folder(data_dir: str | None, limit: int | None) -> tuple[np.ndarray, list[str]]:
    """Every image of the folder, center-cropped to a square, with the first image's size and channels.

    Returns the images and notes that count what was changed (other sizes resized, channels converted).
    """
    if data_dir is None:
        raise ValueError("dataset='folder' needs an image folder as data_dir")
    paths = image_files(data_dir)[:limit]
    if not paths:
        raise ValueError(f"No images to load from {data_dir!r} with limit={limit}")
    images = [center_crop(read_image(path)[None])[0] for path in paths]
    size, channels = images[0].shape[0], min(images[0].shape[-1], 3)
    sizes: dict[str, int] = {}
    for image in images:
        if image.shape[0] != size:
            key = f"{image.shape[0]}x{image.shape[1]}"
            sizes[key] = sizes.get(key, 0) + 1
    converted = sum(image.shape[-1] not in (channels, channels + 1) for image in images)
    notes = []
    if sizes:
        counts = ", ".join(f"{count} of {key}" for key, count in sorted(sizes.items(), key=lambda kv: -kv[1]))
        notes.append(f"{sum(sizes.values())} of {len(images)} images resized (area) to the first image's "
                     f"{size}x{size} after their center crop ({counts})")
    if converted:
        notes.append(f"{converted} of {len(images)} images converted to {'RGB' if channels == 3 else 'grayscale'}")
    return np.stack([_conform(image, size, channels) for image in images]), notes


def _conform(image: np.ndarray, size: int, channels: int) -> np.ndarray:
    """A square uint8 image with `channels` (1 or 3) channels, resized (area-averaged) to size × size."""
    if image.shape[-1] in (2, 4):  # drop alpha
        image = image[..., :-1]
    if image.shape[-1] != channels:
        image = (np.repeat(image, 3, axis=-1) if channels == 3
                 else np.round(image @ np.array([0.299, 0.587, 0.114]))[..., None].astype(np.uint8))
    if image.shape[0] != size:
        resized = tf.image.resize(image, (size, size), method="area", antialias=True).numpy()
        image = np.clip(np.round(resized), 0, 255).astype(np.uint8)
    return image


def _load_tfds(dataset: str, data_dir: str | None, split: str, limit: int | None, download: bool,
               with_labels: bool) -> tuple[np.ndarray, np.ndarray | None]:
    tfds = require("tensorflow_datasets", extra="data")

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
        images: uint8 images in [0, 255] or float images in [-1, 1] (what `load_images` returns), (N, H, W, C).
        batch_size: Images per batch.
        resolution: Resize (bilinear) to resolution × resolution; MNIST's 28 → 32 as in the papers.
        seed: Shuffle seed.
        drop_remainder: Keep every batch the same size (needed by `LipschitzGAN`).

    Returns:
        A dataset of (batch_size, R, R, C) float32 batches.

    Raises:
        ValueError: for other dtypes or ranges, or fewer images than one batch.

    Example:
        >>> ds = image_dataset(np.zeros((8, 28, 28, 1), np.uint8), 4, resolution=32)
        >>> next(iter(ds)).shape
        TensorShape([4, 32, 32, 1])
    """
    floats = np.issubdtype(images.dtype, np.floating)
    if (images.dtype != np.uint8 and not floats) or images.ndim != 4:
        raise ValueError("image_dataset expects uint8 images in [0, 255] or float images in [-1, 1], "
                         f"(N, H, W, C); got {images.dtype} {images.shape}")
    if floats and images.size and not (-1.0 <= images.min() and images.max() <= 1.0):
        raise ValueError(f"image_dataset expects float images in [-1, 1] (as `load_images` returns); got values "
                         f"in [{images.min():g}, {images.max():g}]")
    if len(images) < batch_size:
        raise ValueError(f"Only {len(images)} images for a batch size of {batch_size}")

    def scale(x):
        x = tf.cast(x, tf.float32) / 127.5 - 1.0 if not floats else tf.cast(x, tf.float32)
        if resolution is not None:
            x = tf.image.resize(x, (resolution, resolution))
        return x

    ds = tf.data.Dataset.from_tensor_slices(images).shuffle(min(len(images), 10_000), seed=seed)
    return ds.repeat().batch(batch_size, drop_remainder=drop_remainder).map(scale).prefetch(2)
