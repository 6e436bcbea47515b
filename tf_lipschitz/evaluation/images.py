"""Image sets for evaluation: value-range detection, streaming in batches, and reading files or folders.

Accepted images are `uint8` in [0, 255] or floating point in [-1, 1] (the range of a `tanh` generator),
with shape `(N, H, W)`, `(N, H, W, 1)` or `(N, H, W, 3)`. Everything else is rejected rather than guessed:
a float image in [0, 255] scored as if in [-1, 1] gives a meaningless number without any error.

A set is streamed in batches, so memory is bounded by the batch: a NumPy array (a memory-mapped one
stays on disk), an `ImageFolder`, or any iterable of batches such as a batched `tf.data.Dataset`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Iterator

import numpy as np
import tensorflow as tf

from tf_lipschitz.data import IMAGE_EXTENSIONS, image_files, read_image

__all__ = [
    "UINT8_RANGE",
    "SYMMETRIC_RANGE",
    "IMAGE_EXTENSIONS",
    "ImageFolder",
    "detect_value_range",
    "check_value_range",
    "to_model_input",
    "iter_batches",
    "num_images",
    "load_images",
]

UINT8_RANGE = "uint8 in [0, 255]"
SYMMETRIC_RANGE = "float in [-1, 1]"
# Float round-off of a tanh output or of a (x / 127.5 - 1) conversion may step just outside [-1, 1].
_RANGE_TOLERANCE = 1e-3
_log = logging.getLogger(__name__)


def detect_value_range(batch) -> str:
    """Tells which of the two accepted value ranges a batch of images is in.

    Args:
        batch: An array or tensor of images.

    Returns:
        `UINT8_RANGE` for `uint8` data, `SYMMETRIC_RANGE` for floating-point data within [-1, 1].

    Raises:
        ValueError: For any other dtype, or floating-point data outside [-1, 1]; the message gives the
            dtype, the range found and how to convert.

    Example:
        >>> detect_value_range(np.zeros((1, 4, 4), "uint8"))
        'uint8 in [0, 255]'
    """
    batch = np.asarray(batch)
    if batch.dtype == np.uint8:
        return UINT8_RANGE
    if not np.issubdtype(batch.dtype, np.floating):
        raise ValueError(
            "Images must be uint8 in [0, 255] or float in [-1, 1]. "
            f"Received dtype={batch.dtype}; convert with `images.astype('uint8')` if the values are in [0, 255]."
        )
    low, high = (float(batch.min()), float(batch.max())) if batch.size else (0.0, 0.0)
    if not (np.isfinite(low) and np.isfinite(high)) or low < -1 - _RANGE_TOLERANCE or high > 1 + _RANGE_TOLERANCE:
        raise ValueError(
            "Float images must be in [-1, 1] (uint8 images in [0, 255] are accepted too). "
            f"Received dtype={batch.dtype} with values in [{low:g}, {high:g}]; for [0, 255] floats use "
            "`images / 127.5 - 1`, for [0, 1] floats use `images * 2 - 1`."
        )
    return SYMMETRIC_RANGE


def check_value_range(batch, expected: str | None) -> str:
    """Detects the value range of `batch` and checks that it is the one of the batches before it.

    Args:
        batch: An array of images.
        expected: The range detected on earlier batches, or `None` for the first batch.

    Returns:
        The detected range.

    Raises:
        ValueError: If the range is invalid or differs from `expected`.

    Example:
        >>> check_value_range(np.zeros((1, 2, 2), "float32"), SYMMETRIC_RANGE)
        'float in [-1, 1]'
    """
    found = detect_value_range(batch)
    if expected is not None and found != expected:
        raise ValueError(f"Images mix value ranges: earlier batches were {expected}, this one is {found}.")
    return found


def to_model_input(batch, *, image_size: Sequence[int] | None = None, channels: int | None = 3) -> tf.Tensor:
    """Turns a batch of accepted images into a classifier input: float32 in [-1, 1], resized.

    Grayscale becomes RGB by repeating the channel when `channels=3`; RGB becomes grayscale (luma)
    when `channels=1`. Resizing is bilinear, as TF-GAN does before its Inception network.

    Args:
        batch: Images, `uint8` in [0, 255] or float in [-1, 1], shaped `(N, H, W)` or `(N, H, W, C)`.
        image_size: `(height, width)` of the classifier input; `None` keeps the size.
        channels: 1 or 3, the channels the classifier expects; `None` keeps them.

    Returns:
        A float32 tensor `(N, height, width, channels)` in [-1, 1].

    Raises:
        ValueError: If the value range is invalid or the shape is not an image batch.

    Example:
        >>> to_model_input(np.zeros((2, 8, 8), "uint8"), image_size=(16, 16)).shape
        TensorShape([2, 16, 16, 3])
    """
    value_range = detect_value_range(batch)
    x = tf.convert_to_tensor(batch)
    if x.shape.rank == 3:
        x = x[..., tf.newaxis]
    if x.shape.rank != 4 or x.shape[-1] not in (1, 3):
        raise ValueError(f"Images must be shaped (N, H, W), (N, H, W, 1) or (N, H, W, 3). Received shape={x.shape}.")
    x = tf.cast(x, tf.float32)
    if value_range == UINT8_RANGE:
        x = x / 127.5 - 1.0
    if channels == 3 and x.shape[-1] == 1:
        x = tf.repeat(x, 3, axis=-1)
    elif channels == 1 and x.shape[-1] == 3:
        x = tf.image.rgb_to_grayscale(x)
    if image_size is not None and tuple(x.shape[1:3]) != tuple(image_size):
        x = tf.image.resize(x, tuple(image_size), method="bilinear")
    return tf.clip_by_value(x, -1.0, 1.0)


def num_images(images) -> int | None:
    """Number of images in a set, or `None` when the set does not say (a generator, an unsized dataset).

    Example:
        >>> num_images(np.zeros((5, 2, 2)))
        5
    """
    if isinstance(images, tf.data.Dataset):
        return None
    try:
        return len(images)
    except TypeError:
        return None


def _is_indexable(images) -> bool:
    """Arrays, tensors, folders and other sized, sliceable sets are sliced; anything else is iterated."""
    if isinstance(images, (np.ndarray, tf.Tensor)):
        return True
    return not isinstance(images, tf.data.Dataset) and hasattr(images, "__len__") and hasattr(images, "__getitem__")


def iter_batches(images, batch_size: int) -> Iterator[np.ndarray]:
    """Yields a set of images as NumPy batches, checking that all share one valid value range.

    Args:
        images: An array (or memory map, tensor, `ImageFolder`, any sized sequence that slices into
            arrays), or an iterable of batches (e.g. a generator or a batched `tf.data.Dataset`), passed
            through as it comes.
        batch_size: Images per batch for arrays and folders.

    Yields:
        `np.ndarray` batches.

    Raises:
        ValueError: If `batch_size` < 1 or the images are not in an accepted range.

    Example:
        >>> [b.shape[0] for b in iter_batches(np.zeros((5, 2, 2), "uint8"), 2)]
        [2, 2, 1]
    """
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be >= 1. Received: batch_size={batch_size}")
    if _is_indexable(images):
        chunks = (images[start : start + batch_size] for start in range(0, len(images), batch_size))
    else:
        chunks = iter(images)
    value_range = None
    for chunk in chunks:
        batch = np.asarray(chunk)
        if value_range is None:
            value_range = check_value_range(batch, None)
            _log.info("Detected images as %s.", value_range)
        else:
            check_value_range(batch, value_range)
        yield batch


class ImageFolder(Sequence):
    """The image files of a folder as a lazily decoded, indexable set of `uint8` images.

    Files with the extensions of `IMAGE_EXTENSIONS` are taken in sorted order, from the folder and its
    sub-folders. Slicing decodes only the files of the slice, so a folder streams in batches.

    Args:
        path: The folder.

    Raises:
        ValueError: If the folder holds no image files.

    Example:
        >>> folder = ImageFolder("samples/")  # doctest: +SKIP
        >>> folder[:16].shape  # doctest: +SKIP
        (16, 32, 32, 3)
    """

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        self.files = image_files(self.path)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return np.stack([self._decode(path) for path in self.files[index]])
        return self._decode(self.files[index])

    @staticmethod
    def _decode(path: str) -> np.ndarray:
        return read_image(path)


def load_images(path: str | os.PathLike, key: str | None = None):
    """Opens an image set given on the command line: an `.npz`/`.npy` file or a folder of image files.

    Args:
        path: An `.npz` or `.npy` file, or a folder.
        key: The array of an `.npz` to use. By default the only array, or else the first of `images`,
            `x`, `x_test`, `x_train`, `arr_0` present.

    Returns:
        A NumPy array (memory-mapped for `.npy`) or an `ImageFolder`.

    Raises:
        ValueError: If the path does not exist or is neither, or no array can be chosen from the `.npz`.

    Example:
        >>> images = load_images("fake.npz")  # doctest: +SKIP
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ValueError(f"{path!r} does not exist.")
    if os.path.isdir(path):
        return ImageFolder(path)
    if path.endswith(".npy"):
        return np.load(path, mmap_mode="r")
    if not path.endswith(".npz"):
        raise ValueError(f"Images must be an .npz or .npy file or a folder of images. Received: {path!r}")
    with np.load(path) as archive:
        names = list(archive.keys())
        if key is None:
            usual = [name for name in ("images", "x", "x_test", "x_train", "arr_0") if name in names]
            candidates = names if len(names) == 1 else usual
            if not candidates:
                raise ValueError(f"Cannot choose the images in {path!r} among arrays {names}: pass a key.")
            key = candidates[0]
        if key not in names:
            raise ValueError(f"Array {key!r} not found in {path!r}; it holds {names}.")
        return archive[key]
