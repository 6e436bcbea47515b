"""Sampling a GAN: latent noise and `generate` (`GeneratorSampling`), a fixed-noise sampler and an image grid.

`GeneratorSampling` is the sampling side of `LipschitzGAN` (the `Sampler`/`GenerativeModel` interfaces of
`tf_lipschitz.foundations.contracts`): latent vectors, batched inference-mode generation, with the generator's moving
average if the model keeps one. A fixed set of latent vectors, rendered after every epoch, shows how the same
points of the latent space evolve during training; `FixedNoiseSampler` holds them and `image_grid` tiles the
images.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

__all__ = ["GeneratorSampling", "FixedNoiseSampler", "image_grid"]


class GeneratorSampling:
    """Sampling methods for a Keras model with `generator`, `latent_dim`, `sample_shape` and `generator_average`.

    `generator_average` is a `models.averaging.WeightAverage` or None.
    """

    def latent_noise(self, n: int, seed: int | None = None) -> np.ndarray:
        """n latent vectors z ~ N(0, I) as a float32 array; the same for the same `seed`."""
        return np.random.default_rng(seed).standard_normal((int(n), self.latent_dim)).astype("float32")

    def generate(self, n: int, batch_size: int = 256, *, seed: int | None = None, z=None,
                 ema: bool = False) -> np.ndarray:
        """Generates n samples (inference mode) as a NumPy array (n, *sample_shape), `batch_size` at a time.

        Args:
            n: Number of samples.
            batch_size: Generator batch size.
            seed: Seed of the latent noise (None: fresh noise).
            z: Latent vectors to use instead of random ones, shape (n, latent_dim).
            ema: Sample with the moving average of the generator's weights (`generator_ema`).

        Returns:
            An array (n, *sample_shape).

        Raises:
            ValueError: for `ema=True` on a model without `generator_ema`.
        """
        if ema:
            with self.ema_weights():
                return self.generate(n, batch_size, seed=seed, z=z)
        z = self.latent_noise(n, seed) if z is None else np.asarray(z, "float32")
        outputs = [keras.ops.convert_to_numpy(self._generate_batch(tf.constant(z[i:i + batch_size])))
                   for i in range(0, len(z), batch_size)]
        return np.concatenate(outputs, 0) if outputs else np.zeros((0,) + self.sample_shape, "float32")

    @tf.function(reduce_retracing=True)
    def _generate_batch(self, z):
        return self.generator(z, training=False)

    def fixed_noise_sampler(self, n: int = 64, seed: int = 0, *, ema: bool = False) -> "FixedNoiseSampler":
        """A `FixedNoiseSampler` drawing the same n latent vectors every time (for image grids over training).

        With `ema=True` it samples with the generator's moving average (`generator_ema`).
        """
        if ema and self.generator_average is None:
            raise ValueError("`ema=True` needs a model with a generator moving average (`generator_ema=β`).")
        return FixedNoiseSampler(self, n=n, seed=seed, ema=ema)

    def ema_weights(self):
        """Context in which the generator holds the moving average of its weights (`generator_ema`).

        Inside, `gan.generator` (and `generate`, samplers, evaluations) computes with the averaged trainable
        weights; its non-trainable state (power-iteration vectors, batch-norm statistics) stays the live one.
        The live weights are restored on exit, also after an exception.

        Yields:
            The generator.

        Raises:
            ValueError: if the model keeps no moving average (`generator_ema=None`).

        Example:
            >>> from tf_lipschitz.models import LipschitzGAN
            >>> gen = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
            >>> critic = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
            >>> gan = LipschitzGAN(gen, critic, latent_dim=2, generator_ema=0.999)
            >>> with gan.ema_weights() as g:
            ...     g is gan.generator
            True
        """
        if self.generator_average is None:
            raise ValueError("This model keeps no generator moving average: construct it with `generator_ema=β`.")
        return self.generator_average.swapped_in()


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
