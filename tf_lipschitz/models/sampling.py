"""Samples for looking at a GAN: a fixed-noise sampler and an image grid.

A fixed set of latent vectors, rendered after every epoch, shows how the same points of the latent space
evolve during training; `FixedNoiseSampler` holds them and `image_grid` tiles the images.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["FixedNoiseSampler", "image_grid"]


def image_grid(images, ncols: int | None = None, *, data_range=(-1.0, 1.0), padding: int = 1) -> np.ndarray:
    """Tiles a batch of images (n, h, w[, c]) into one (H, W, c) float array in [0, 1].

    Args:
        images: Array of n images, channels last; c = 1 or 3 (or no channel axis).
        ncols: Images per row; None: ⌈√n⌉.
        data_range: (low, high) mapped to [0, 1] (values outside are clipped); None: min/max of the batch.
        padding: Pixels of white between images.

    Returns:
        The grid, shape (rows·(h + padding) − padding, ncols·(w + padding) − padding, c).

    Raises:
        ValueError: if `images` is not a batch of 2-D images.

    Example:
        >>> image_grid(np.zeros((5, 4, 4, 1)), ncols=3).shape
        (9, 14, 1)
    """
    images = np.asarray(images, dtype="float32")
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(f"`images` must be a non-empty batch (n, h, w[, c]). Received shape {images.shape}.")
    low, high = (images.min(), images.max()) if data_range is None else data_range
    images = np.clip((images - low) / max(high - low, 1e-12), 0.0, 1.0)
    n, h, w, c = images.shape
    ncols = ncols or math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    grid = np.ones((nrows * (h + padding) - padding, ncols * (w + padding) - padding, c), "float32")
    for i, image in enumerate(images):
        r, col = divmod(i, ncols)
        grid[r * (h + padding):r * (h + padding) + h, col * (w + padding):col * (w + padding) + w] = image
    return grid


class FixedNoiseSampler:
    """Generates samples from the same n latent vectors on every call.

    Args:
        model: A `LipschitzGAN` (or anything with `latent_noise(n, seed)` and `generate(n, z=...)`).
        n: Number of latent vectors.
        seed: Seed of the latent vectors.
        ema: Sample with the model's generator moving average (`generate(..., ema=True)`).

    Example:
        >>> sampler = gan.fixed_noise_sampler(16, seed=0)  # doctest: +SKIP
        >>> grid = sampler.grid(ncols=4)  # doctest: +SKIP
    """

    def __init__(self, model, n: int = 64, seed: int = 0, ema: bool = False):
        if n < 1:
            raise ValueError(f"`n` must be >= 1. Received: n={n}")
        self.model = model
        self.ema = bool(ema)
        self.z = model.latent_noise(n, seed)

    def __call__(self, batch_size: int = 256) -> np.ndarray:
        """The n samples for the fixed noise, as a NumPy array."""
        if self.ema:
            return self.model.generate(len(self.z), batch_size=batch_size, z=self.z, ema=True)
        return self.model.generate(len(self.z), batch_size=batch_size, z=self.z)

    def grid(self, ncols: int | None = None, data_range=(-1.0, 1.0)) -> np.ndarray:
        """The samples tiled by `image_grid` (image models only)."""
        return image_grid(self(), ncols, data_range=data_range)
