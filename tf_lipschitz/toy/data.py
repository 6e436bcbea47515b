"""The papers' 2-D toy distributions: samples and an endless `tf.data` stream of them.

Reference:
    Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017 (8 Gaussians, 25 Gaussians,
    Swiss roll).
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import tensorflow as tf

from tf_lipschitz.foundations.defaults import TOY_DISTRIBUTIONS
from tf_lipschitz.foundations.validation import check_int

__all__ = ["TOY_DISTRIBUTIONS", "toy_samples", "toy_dataset"]



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
    n = check_int("n", n)
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
