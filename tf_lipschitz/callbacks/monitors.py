"""Monitors for `fit`: the critic's Lipschitz bounds (`LipschitzMonitor`) and sample grids (`SampleGrid`).

Reference:
    Terjék, "Adversarial Lipschitz Regularization", ICLR 2020 (the ALP ratio d_Y/d_X).
    Miyato et al., "Spectral Normalization for Generative Adversarial Networks", ICLR 2018 (the
    layer-wise upper bound).
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import warnings
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tf_lipschitz import ops as lip_ops
from tf_lipschitz import penalties
from tf_lipschitz.callbacks._periodic import PeriodicCallback, check_every_n_steps, require_attributes
from tf_lipschitz.models.sampling import image_grid

__all__ = ["LipschitzMonitor", "SampleGrid"]


class LipschitzMonitor(PeriodicCallback):
    """Logs lower and upper bounds of the critic's Lipschitz constant, to check that a constraint holds.

    Every `every_n_steps` training batches, on the held batch `data`:

    * `lipschitz_gradient_max`: max over the batch of ‖∇ₓf(x)‖₂ (the top singular value of each
      sample's Jacobian for vector outputs), an empirical lower bound (`ops.empirical_lipschitz`);
    * `lipschitz_alp_ratio_max`: the largest ALP ratio |f(x) − f(x + r_adv)| / ‖r_adv‖₂ with the
      adversarial perturbation r_adv of ALR, another lower bound, often tighter between samples;
    * `lipschitz_upper_bound`: the product of the layers' bounds (`ops.lipschitz_upper_bound`). It is
      only a bound for chains of layers: for a branching critic (residual, multi-input) or one with a
      layer of unknown Lipschitz constant the key is left out of the logs (never NaN), and the reason
      is kept in `upper_bound_unavailable` and warned once.

    The monitored network is `model.critic` for GAN models and the model itself otherwise. The
    critic runs in inference mode. Values go into that batch's `logs`, the latest into every epoch's
    `logs`, and into `self.history`.

    Args:
        data: A held batch of inputs (real samples, or real and generated ones).
        every_n_steps: Measure after every N-th training batch (≥ 1), counted from the start of `fit`.
        xi: ALP's ξ, in data units (see `penalties.adversarial_lipschitz_penalty`).
        epsilon: ALP's ε or (low, high) range, in data units.
        alp_power_iterations: Power-iteration steps of the ALP perturbation (≥ 1).
        power_iterations: Power-iteration steps per layer of the upper bound (≥ 1).

    Raises:
        ValueError: for an empty `data`, `every_n_steps` < 1 or non-positive iteration counts.

    Example:
        >>> monitor = LipschitzMonitor(x_train[:128], every_n_steps=100)  # doctest: +SKIP
        >>> gan.fit(dataset, callbacks=[monitor])  # doctest: +SKIP

    Reference:
        Terjék, "Adversarial Lipschitz Regularization", ICLR 2020; Miyato et al., 2018.
    """

    def __init__(
        self,
        data: Any,
        every_n_steps: int,
        *,
        xi: float = 10.0,
        epsilon=(0.1, 10.0),
        alp_power_iterations: int = 1,
        power_iterations: int = 50,
    ):
        super().__init__(every_n_steps)
        if data is None or len(data) == 0:
            raise ValueError("`data` must be a non-empty batch of inputs. Received an empty batch")
        for name, value in (("alp_power_iterations", alp_power_iterations), ("power_iterations", power_iterations)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be an integer >= 1. Received: {name}={value!r}")
        if not float(xi) > 0:
            raise ValueError(f"`xi` must be > 0. Received: xi={xi!r}")
        self.data = tf.convert_to_tensor(np.asarray(data, dtype=np.float32) if not tf.is_tensor(data) else data)
        self.xi = float(xi)
        self.epsilon = epsilon
        self.alp_power_iterations = alp_power_iterations
        self.power_iterations = power_iterations
        self.upper_bound_unavailable: str | None = None

    def _network(self):
        critic = getattr(self.model, "critic", None)
        return self.model if critic is None else critic

    def validate_model(self, model) -> None:
        critic = getattr(model, "critic", None)
        if not callable(model if critic is None else critic):
            raise ValueError(f"LipschitzMonitor needs a callable critic; {type(model).__name__} is not callable")

    def measure(self) -> dict[str, float]:
        critic = self._network()
        values = {"lipschitz_gradient_max": lip_ops.empirical_lipschitz(critic, self.data)}
        alp = penalties.adversarial_lipschitz_penalty(
            lambda t: critic(t, training=False), self.data, xi=self.xi, epsilon=self.epsilon,
            power_iterations=self.alp_power_iterations, check_numerics=False,
        )
        values["lipschitz_alp_ratio_max"] = float(alp.ratio_max)
        if self.upper_bound_unavailable is None:
            try:
                values["lipschitz_upper_bound"] = float(
                    lip_ops.lipschitz_upper_bound(critic, power_iterations=self.power_iterations)
                )
            except (ValueError, TypeError) as err:  # TypeError: a layer whose bound cannot be computed
                self.upper_bound_unavailable = str(err)
                warnings.warn(f"LipschitzMonitor: no layer-wise upper bound for this critic, key skipped: {err}")
        return values


def _tensorboard_available() -> bool:
    """`tf.summary` ops need the `tensorboard` package."""
    return importlib.util.find_spec("tensorboard") is not None


def _summary_image(writer, name: str, grid: np.ndarray, step: int) -> None:
    with writer.as_default():
        tf.summary.image(name, grid[None], step=step)
    writer.flush()


def _running_tensorboard():
    """The TensorBoard callback of the `fit` that is calling us, found on the caller's CallbackList."""
    frame = inspect.currentframe()
    try:
        for _ in range(8):
            frame = frame.f_back if frame is not None else None
            if frame is None:
                return None
            owner = frame.f_locals.get("self")
            if isinstance(owner, keras.callbacks.CallbackList):
                return next((cb for cb in owner.callbacks if isinstance(cb, keras.callbacks.TensorBoard)), None)
    finally:
        del frame
    return None


class SampleGrid(keras.callbacks.Callback):
    """Saves a grid of generated images from fixed noise every N training batches (PNG and TensorBoard).

    The noise z ~ N(0, I) of shape (n_samples, latent_dim) is drawn once, at the first `on_train_begin`,
    so successive grids show the same latent points (drawn by the model's `latent_noise(n, seed)` when
    it has one, as `LipschitzGAN` does). Images are `model.generator(z, training=False)` in [-1, 1]. Each grid is written
    to `path.format(step=...)`; a path without `{step}` is overwritten. A final grid is written at the
    end of training. When a `keras.callbacks.TensorBoard` runs in the same `fit` (found on the running
    callback list), or `tensorboard` names one or a log directory, the grid is also written as a
    TensorBoard image "samples" under `<log_dir>/train`.

    Args:
        every_n_steps: Save after every N-th training batch (≥ 1), counted from the start of `fit`.
        path: PNG path, a format string with `{step}`, e.g. "samples/step_{step:06d}.png".
        n_samples: Number of images in the grid (≥ 1).
        columns: Images per row; defaults to ⌈√n_samples⌉.
        seed: Seed of the fixed noise.
        tensorboard: "auto" (use a running TensorBoard callback), None (never), a TensorBoard callback or
            a log directory.

    Raises:
        ValueError: for bad arguments, and (at the start of training) a model without `generator` and
            `latent_dim`.

    Example:
        >>> grid = SampleGrid(500, "samples/step_{step:06d}.png", n_samples=64)  # doctest: +SKIP
        >>> gan.fit(dataset, callbacks=[grid, keras.callbacks.TensorBoard("logs")])  # doctest: +SKIP

    Reference:
        Radford, Metz and Chintala, "Unsupervised Representation Learning with DCGANs", 2016 (fixed-noise
        sample grids as a training diagnostic).
    """

    def __init__(
        self,
        every_n_steps: int,
        path: str = "samples/step_{step:06d}.png",
        *,
        n_samples: int = 64,
        columns: int | None = None,
        seed: int = 0,
        tensorboard: Any = "auto",
    ):
        super().__init__()
        self.every_n_steps = check_every_n_steps(every_n_steps)
        if not isinstance(path, str) or not path:
            raise ValueError(f"`path` must be a non-empty string. Received: path={path!r}")
        try:
            path.format(step=0)
        except (KeyError, IndexError, ValueError) as err:
            raise ValueError(f"`path` may only use the `{{step}}` field. Received: path={path!r}") from err
        if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
            raise ValueError(f"`n_samples` must be an integer >= 1. Received: n_samples={n_samples!r}")
        if columns is not None and (not isinstance(columns, int) or columns < 1):
            raise ValueError(f"`columns` must be None or an integer >= 1. Received: columns={columns!r}")
        if not (tensorboard in (None, "auto") or isinstance(tensorboard, (str, keras.callbacks.TensorBoard))):
            raise ValueError(f"`tensorboard` must be 'auto', None, a TensorBoard callback or a log dir. Received: {tensorboard!r}")
        self.path = path
        self.n_samples = n_samples
        self.columns = columns
        self.seed = seed
        self.tensorboard = tensorboard
        self.noise = None
        self.paths: list[str] = []
        self._writer = None
        self._step = 0
        self._fit_step = 0
        self._written_step = None

    def on_train_begin(self, logs=None):
        require_attributes(self.model, "SampleGrid", "generator", "latent_dim")
        self._fit_step = 0
        counter = getattr(self.model, "step_counter", None)
        if counter is not None:  # a resumed GAN: number grids by its training step, never overwrite earlier ones
            self._step = int(keras.ops.convert_to_numpy(counter))
        if self.noise is None:
            sampler = getattr(self.model, "latent_noise", None)
            if callable(sampler):
                self.noise = sampler(self.n_samples, seed=self.seed)
            else:
                self.noise = keras.random.normal((self.n_samples, int(self.model.latent_dim)), seed=self.seed)
        log_dir = self.tensorboard
        if log_dir == "auto":
            log_dir = _running_tensorboard()
        if isinstance(log_dir, keras.callbacks.TensorBoard):
            log_dir = log_dir.log_dir
        if log_dir and self._writer is None:
            if _tensorboard_available():
                self._writer = tf.summary.create_file_writer(os.path.join(log_dir, "train"))
            else:
                warnings.warn("SampleGrid: the `tensorboard` package is not installed; writing PNG files only")

    def write(self, step: int) -> str:
        """Generates the grid for the fixed noise and writes it (PNG, TensorBoard); returns the PNG path."""
        from PIL import Image

        images = keras.ops.convert_to_numpy(self.model.generator(self.noise, training=False))
        grid = np.round(image_grid(images, self.columns) * 255.0).astype(np.uint8)  # [-1, 1] → [0, 255]
        path = self.path.format(step=step)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid).save(path, format="PNG")
        self.paths.append(path)
        if self._writer is not None:
            _summary_image(self._writer, "samples", grid, step)
        self._written_step = step
        return path

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        self._fit_step += 1
        if self._fit_step % self.every_n_steps == 0:
            self.write(self._step)

    def on_train_end(self, logs=None):
        if self._written_step != self._step:
            self.write(self._step)
        if self._writer is not None:
            self._writer.close()
            self._writer = None
