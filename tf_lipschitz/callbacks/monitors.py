"""Monitors for `fit`: the critic's Lipschitz bounds (`LipschitzMonitor`) and sample grids (`SampleGrid`).

Reference:
    Terjék, "Adversarial Lipschitz Regularization", ICLR 2020 (the ALP ratio d_Y/d_X).
    Miyato et al., "Spectral Normalization for Generative Adversarial Networks", ICLR 2018 (the
    layer-wise upper bound).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import warnings
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tf_lipschitz import penalties
from tf_lipschitz.analysis.bounds import lipschitz_upper_bound
from tf_lipschitz.analysis.estimation import empirical_lipschitz
from tf_lipschitz.callbacks._periodic import PeriodicCallback
from tf_lipschitz.foundations.contracts import AveragesGenerator, GenerativeModel
from tf_lipschitz.foundations.optional import require
from tf_lipschitz.foundations.validation import check_float, check_int
from tf_lipschitz.models.sampling import image_grid

__all__ = ["LipschitzMonitor", "SampleGrid"]


class LipschitzMonitor(PeriodicCallback):
    """Logs lower and upper bounds of the critic's Lipschitz constant, to check that a constraint holds.

    Every `every_n_steps` training batches, on the held batch `data`:

    * `lipschitz_gradient_max`: max over the batch of ‖∇ₓf(x)‖₂ (the top singular value of each
      sample's Jacobian for vector outputs), an empirical lower bound (`analysis.empirical_lipschitz`);
    * `lipschitz_alp_ratio_max`: the largest ALP ratio |f(x) − f(x + r_adv)| / ‖r_adv‖₂ with the
      adversarial perturbation r_adv of ALR, another lower bound, often tighter between samples;
    * `lipschitz_upper_bound`: the graph-following bound of `analysis.lipschitz_upper_bound` (path products,
      residual sums; ResNet critics included). For a critic with a layer of unknown Lipschitz constant
      (or a non-Lipschitz merge) the key is left out of the logs (never NaN), and the reason is kept in
      `upper_bound_unavailable` and warned once.

    The monitored network is `model.critic` for GAN models (`tf_lipschitz.foundations.contracts.GenerativeModel`) and
    the model itself otherwise. The critic runs in inference mode. Values go into that batch's `logs`, the latest into every epoch's
    `logs`, and into `self.history`.

    Args:
        data: A held batch of inputs (real samples, or real and generated ones).
        every_n_steps: Measure after every N-th training batch (≥ 1), counted from the start of `fit`.
        xi: ALP's ξ, in data units (see `penalties.adversarial_lipschitz_penalty`).
        epsilon: ALP's ε or (low, high) range, in data units.
        alp_power_iterations: Power-iteration steps of the ALP perturbation (≥ 1).
        power_iterations: Power-iteration steps per layer of the upper bound (≥ 1).

    Raises:
        ValueError: for an empty `data`, `every_n_steps` < 1, `xi` <= 0 or non-positive iteration counts.

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
        self.data = tf.convert_to_tensor(np.asarray(data, dtype=np.float32) if not tf.is_tensor(data) else data)
        self.xi = check_float("xi", xi)
        self.epsilon = epsilon
        self.alp_power_iterations = check_int("alp_power_iterations", alp_power_iterations)
        self.power_iterations = check_int("power_iterations", power_iterations)
        self.upper_bound_unavailable: str | None = None

    @staticmethod
    def network(model) -> keras.Model:
        """The monitored network: the critic of a GAN (`contracts.GenerativeModel`), else the model itself."""
        return model.critic if isinstance(model, GenerativeModel) else model

    def measure(self) -> dict[str, float]:
        critic = self.network(self.model)
        values = {"lipschitz_gradient_max": empirical_lipschitz(critic, self.data)}
        alp = penalties.adversarial_lipschitz_penalty(
            lambda t: critic(t, training=False), self.data, xi=self.xi, epsilon=self.epsilon,
            power_iterations=self.alp_power_iterations, check_numerics=False,
        )
        values["lipschitz_alp_ratio_max"] = float(alp.ratio_max)
        if self.upper_bound_unavailable is None:
            try:
                values["lipschitz_upper_bound"] = float(
                    lipschitz_upper_bound(critic, power_iterations=self.power_iterations,
                                          warn_unconverged=False)
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


class SampleGrid(PeriodicCallback):
    """Saves a grid of generated images from fixed noise every N training batches (PNG, optionally TensorBoard).

    The noise of shape (n_samples, latent_dim) is drawn once, by the model's `latent_noise(n_samples, seed)`,
    at the first `on_train_begin`, so successive grids show the same latent points. Images are
    `model.generator(z, training=False)` in [-1, 1]; with `ema=True` the generator holds the moving average of
    its weights meanwhile (`LipschitzGAN(generator_ema=β)`), which is what the Progressive GAN reports. Each grid is written to `path.format(step=...)`, numbered
    by the model's training step (`step_counter`, so a resumed run never overwrites earlier grids); a path
    without `{step}` is overwritten. A final grid is written at the end of training. With `log_dir`, each grid
    is also written as the TensorBoard image "samples" under `<log_dir>/train` (pass the `log_dir` of your
    `keras.callbacks.TensorBoard` to see them beside its scalars).

    The model must be a `tf_lipschitz.foundations.contracts.GenerativeModel` (as `tf_lipschitz.models.LipschitzGAN` is).
    Writing PNG files needs Pillow (`pip install "tf-lipschitz[plots]"`).

    Args:
        every_n_steps: Save after every N-th training batch (≥ 1), counted from the start of `fit`.
        path: PNG path, a format string with `{step}`, e.g. "samples/step_{step:06d}.png".
        n_samples: Number of images in the grid (≥ 1).
        columns: Images per row; defaults to ⌈√n_samples⌉.
        seed: Seed of the fixed noise.
        log_dir: TensorBoard log directory, or None for PNG files only.
        tensorboard: Deprecated spelling of `log_dir` (a log directory or a `keras.callbacks.TensorBoard`).
        ema: Draw the grids with the generator's moving average (`contracts.AveragesGenerator`).

    Raises:
        ValueError: for bad arguments, and (at the start of training) a model that is not a
            `GenerativeModel`, or with `ema=True` one that keeps no generator average.
        ImportError: when Pillow is not installed.

    Example:
        >>> grid = SampleGrid(500, "samples/step_{step:06d}.png", n_samples=64, log_dir="logs")  # doctest: +SKIP
        >>> gan.fit(dataset, callbacks=[grid, keras.callbacks.TensorBoard("logs")])  # doctest: +SKIP

    Reference:
        Radford, Metz and Chintala, "Unsupervised Representation Learning with DCGANs", 2016 (fixed-noise
        sample grids as a training diagnostic).
    """

    requires = GenerativeModel

    def __init__(
        self,
        every_n_steps: int,
        path: str = "samples/step_{step:06d}.png",
        *,
        n_samples: int = 64,
        columns: int | None = None,
        seed: int = 0,
        log_dir: str | os.PathLike | None = None,
        tensorboard: Any = None,
        ema: bool = False,
    ):
        super().__init__(every_n_steps)
        if not isinstance(ema, bool):
            raise ValueError(f"`ema` must be True or False. Received: ema={ema!r}")
        self.ema = ema
        if not isinstance(path, str) or not path:
            raise ValueError(f"`path` must be a non-empty string. Received: path={path!r}")
        try:
            path.format(step=0)
        except (KeyError, IndexError, ValueError) as err:
            raise ValueError(f"`path` may only use the `{{step}}` field. Received: path={path!r}") from err
        if tensorboard is not None:
            warnings.warn("SampleGrid(tensorboard=...) is deprecated: pass log_dir=...", DeprecationWarning, 2)
            log_dir = tensorboard.log_dir if isinstance(tensorboard, keras.callbacks.TensorBoard) else tensorboard
        if log_dir is not None and not isinstance(log_dir, (str, os.PathLike)):
            raise ValueError(f"`log_dir` must be None or a directory path. Received: log_dir={log_dir!r}")
        self.path = path
        self.n_samples = check_int("n_samples", n_samples)
        self.columns = None if columns is None else check_int("columns", columns)
        self.seed = seed
        self.log_dir = None if log_dir is None else os.fspath(log_dir)
        self.noise = None
        self.paths: list[str] = []
        self._writer = None
        self._written_step = None
        require("PIL.Image", extra="plots")  # fail now, not at the first grid

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self.ema and not (isinstance(self.model, AveragesGenerator) and self.model.generator_ema is not None):
            raise ValueError(f"SampleGrid(ema=True) needs a model that keeps a generator moving average; "
                             f"{type(self.model).__name__} has none (build a LipschitzGAN with generator_ema=β).")
        if self.noise is None:
            self.noise = self.model.latent_noise(self.n_samples, seed=self.seed)
        if self.log_dir and self._writer is None:
            if _tensorboard_available():
                self._writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "train"))
            else:
                warnings.warn("SampleGrid: the `tensorboard` package is not installed; writing PNG files only "
                              '(pip install "tf-lipschitz[plots]" installs it)')

    def write(self, step: int) -> str:
        """Generates the grid for the fixed noise and writes it (PNG, TensorBoard); returns the PNG path."""
        with self.model.ema_weights() if self.ema else contextlib.nullcontext():
            images = keras.ops.convert_to_numpy(self.model.generator(self.noise, training=False))
        grid = np.round(image_grid(images, self.columns) * 255.0).astype(np.uint8)  # [-1, 1] → [0, 255]
        path = self.path.format(step=step)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        require("PIL.Image", extra="plots").fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid).save(path, format="PNG")
        self.paths.append(path)
        if self._writer is not None:
            _summary_image(self._writer, "samples", grid, step)
        self._written_step = step
        return path

    def measure(self) -> dict[str, float]:
        self.write(self.step)
        return {}

    def on_epoch_end(self, epoch, logs=None):
        pass  # grids only at scheduled steps and at the end of training

    def on_train_end(self, logs=None):
        if self._written_step != self.step:
            self.write(self.step)
        if self._writer is not None:
            self._writer.close()
            self._writer = None
