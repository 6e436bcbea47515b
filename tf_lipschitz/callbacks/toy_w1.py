"""Exact-W1 monitor for 2-D toy GANs: prints the optimal-transport distance as training goes, plots at the end."""

from __future__ import annotations

import os

import numpy as np

from tf_lipschitz.callbacks._periodic import PeriodicCallback
from tf_lipschitz.foundations.contracts import GenerativeModel
from tf_lipschitz.foundations.optional import require
from tf_lipschitz.foundations.validation import check_int
from tf_lipschitz.toy.data import toy_samples
from tf_lipschitz.toy.w1 import exact_w1

__all__ = ["ToyW1Monitor"]


class ToyW1Monitor(PeriodicCallback):
    """Every `every_n_steps` batches, the exact W1 between `n` generated and `n` real toy samples.

    The value is the optimal-assignment distance (`tf_lipschitz.toy.exact_w1`), printed with the critic's
    Wasserstein estimate and logged as `w1_exact` (into the batch's and every epoch's `logs`, and `history`).
    `noise_floor` is the W1 between two real samples of the same size: a perfect generator scores about that.
    At the end of training a PNG shows real and generated samples over the critic's contour lines. The model
    must be a `tf_lipschitz.foundations.contracts.GenerativeModel`; steps are numbered by its `step_counter` when it has one.
    Needs SciPy (`pip install "tf-lipschitz[toy]"`) and, for the plot, Matplotlib (`[plots]`).

    Args:
        toy: Name of the toy distribution (`tf_lipschitz.toy.TOY_DISTRIBUTIONS`).
        every_n_steps: Interval in training batches (≥ 1).
        n: Samples per side (≥ 1).
        plot_path: Where to write the PNG at the end of training (None: no plot).
        seed: Seed of the fixed real evaluation sample.
        verbose: Print a line at each evaluation.

    Raises:
        ValueError: if `every_n_steps` or `n` < 1, or when trained with a model that is not a `GenerativeModel`.

    Example:
        >>> gan.fit(ds, callbacks=[ToyW1Monitor("8gaussians", every_n_steps=100)])  # doctest: +SKIP
    """

    requires = GenerativeModel

    def __init__(self, toy: str, every_n_steps: int = 100, n: int = 1000, plot_path: str | None = None,
                 seed: int = 0, verbose: bool = True):
        super().__init__(every_n_steps)
        self.n, self.plot_path, self.verbose = check_int("n", n), plot_path, verbose
        self.real = toy_samples(toy, n, seed=seed + 1)
        self.noise_floor = exact_w1(self.real, toy_samples(toy, n, seed=seed + 2))
        self.estimate: float | None = None
        self.last_fake: np.ndarray | None = None  # the generated samples of the latest W1

    def on_train_batch_end(self, batch, logs=None):
        self.estimate = (logs or {}).get("wasserstein_estimate")
        super().on_train_batch_end(batch, logs)

    def measure(self) -> dict[str, float]:
        self.last_fake = self.model.generate(self.n, seed=self.step)
        w1 = exact_w1(self.last_fake, self.real)
        if self.verbose:
            estimate = f", critic estimate {float(self.estimate):.4f}" if self.estimate is not None else ""
            print(f"\nstep {self.step}: exact W1(generated, real) = {w1:.4f} "
                  f"(noise floor {self.noise_floor:.4f}){estimate}")
        return {"w1_exact": w1}

    def on_epoch_end(self, epoch, logs=None):
        if self.history["step"] and self.history["step"][-1] != self.step:
            self.record()  # an epoch that ended between intervals (a run's last, shorter one): its own W1
        super().on_epoch_end(epoch, logs)

    def on_train_end(self, logs=None):
        if self.plot_path:
            self.plot(self.plot_path)

    def summary(self) -> str:
        """A Markdown table: step and exact W1 of every evaluation, then the noise floor."""
        values = zip(self.history["step"], self.history.get("w1_exact", []))
        rows = "\n".join(f"| {step} | {w1:.4f} |" for step, w1 in values)
        return f"| step | exact W1 |\n|---|---|\n{rows}\nnoise floor (real vs real): {self.noise_floor:.4f}"

    def plot_title(self) -> str:
        """The plot's title: the step and exact W1 of the latest evaluation (the value `log.csv` holds)."""
        if "w1_exact" not in self.latest:
            return "samples and critic contours"
        return f"samples and critic contours, step {self.history['step'][-1]}: exact W1 {self.latest['w1_exact']:.4f}"

    def plot(self, path: str) -> None:
        """Writes real (blue) and generated (orange) samples of the latest evaluation over the critic's contours."""
        matplotlib = require("matplotlib", extra="plots")
        matplotlib.use("Agg")
        plt = require("matplotlib.pyplot", extra="plots")

        # The samples of the latest W1, so that the title's value is the one of the points shown (and logged).
        fake = self.last_fake if self.last_fake is not None else self.model.generate(self.n, seed=self.step)
        lo, hi = np.minimum(self.real.min(0), fake.min(0)) - 0.5, np.maximum(self.real.max(0), fake.max(0)) + 0.5
        gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 120), np.linspace(lo[1], hi[1], 120))
        grid = np.stack([gx.ravel(), gy.ravel()], 1).astype("float32")
        scores = np.asarray(self.model.critic(grid, training=False)).reshape(gx.shape)
        fig, ax = plt.subplots(figsize=(6, 6))
        ax.contour(gx, gy, scores, levels=20, cmap="viridis", linewidths=0.8)
        ax.scatter(*self.real.T, s=3, label="real")
        ax.scatter(*fake.T, s=3, label="generated")
        ax.set_title(self.plot_title())
        ax.legend(loc="upper right")
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        fig.savefig(path, dpi=100)
        plt.close(fig)
