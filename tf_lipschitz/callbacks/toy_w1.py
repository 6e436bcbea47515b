"""Exact-W1 monitor for 2-D toy GANs: prints the optimal-transport distance as training goes, plots at the end."""

from __future__ import annotations

import os

import keras
import numpy as np

from tf_lipschitz.data import exact_w1, toy_samples

__all__ = ["ToyW1Monitor"]


class ToyW1Monitor(keras.callbacks.Callback):
    """Every `every_n_steps` batches, the exact W1 between `n` generated and `n` real toy samples.

    The value is the optimal-assignment distance (`tf_lipschitz.data.exact_w1`), printed with the critic's Wasserstein estimate. `noise_floor` is the W1 between two real samples of the
    same size: a perfect generator scores about that. At the end of training a PNG shows real and generated
    samples over the critic's contour lines.

    Args:
        toy: Name of the toy distribution (`tf_lipschitz.data.TOY_DISTRIBUTIONS`).
        every_n_steps: Interval in training batches (≥ 1).
        n: Samples per side.
        plot_path: Where to write the PNG at the end of training (None: no plot).
        seed: Seed of the fixed real evaluation sample.

    Raises:
        ValueError: if `every_n_steps` or `n` < 1, or when attached to a model without `generate` and `critic`.

    Example:
        >>> gan.fit(ds, callbacks=[ToyW1Monitor("8gaussians", every_n_steps=100)])  # doctest: +SKIP
    """

    def __init__(self, toy: str, every_n_steps: int = 100, n: int = 1000, plot_path: str | None = None,
                 seed: int = 0):
        super().__init__()
        if every_n_steps < 1 or n < 1:
            raise ValueError(f"`every_n_steps` and `n` must be >= 1. Received: {every_n_steps}, {n}")
        self.every_n_steps, self.n, self.plot_path = every_n_steps, n, plot_path
        self.real = toy_samples(toy, n, seed=seed + 1)
        self.noise_floor = exact_w1(self.real, toy_samples(toy, n, seed=seed + 2))
        self.history: list[tuple[int, float]] = []
        self._seen = 0

    def set_model(self, model):
        if not (hasattr(model, "generate") and hasattr(model, "critic")):
            raise ValueError(f"ToyW1Monitor needs a GAN model with `generate` and `critic`; got {type(model).__name__}")
        super().set_model(model)

    def on_train_begin(self, logs=None):
        self._seen = int(self.model.step_counter.numpy()) if hasattr(self.model, "step_counter") else 0

    def on_train_batch_end(self, batch, logs=None):
        self._seen += 1
        if self._seen % self.every_n_steps:
            return
        w1 = exact_w1(self.model.generate(self.n, seed=self._seen), self.real)
        self.history.append((self._seen, w1))
        estimate = (logs or {}).get("wasserstein_estimate")
        estimate = f", critic estimate {float(estimate):.4f}" if estimate is not None else ""
        print(f"\nstep {self._seen}: exact W1(generated, real) = {w1:.4f} (noise floor {self.noise_floor:.4f}){estimate}")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and self.history:
            logs["w1_exact"] = self.history[-1][1]

    def on_train_end(self, logs=None):
        if self.plot_path:
            self.plot(self.plot_path)

    def summary(self) -> str:
        """One line per evaluation: step and exact W1."""
        rows = "\n".join(f"| {step} | {w1:.4f} |" for step, w1 in self.history)
        return f"| step | exact W1 |\n|---|---|\n{rows}\nnoise floor (real vs real): {self.noise_floor:.4f}"

    def plot(self, path: str) -> None:
        """Writes real (blue) and generated (orange) samples over the critic's contours as a PNG."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fake = self.model.generate(self.n, seed=0)
        lo, hi = np.minimum(self.real.min(0), fake.min(0)) - 0.5, np.maximum(self.real.max(0), fake.max(0)) + 0.5
        gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 120), np.linspace(lo[1], hi[1], 120))
        grid = np.stack([gx.ravel(), gy.ravel()], 1).astype("float32")
        scores = np.asarray(self.model.critic(grid, training=False)).reshape(gx.shape)
        fig, ax = plt.subplots(figsize=(6, 6))
        ax.contour(gx, gy, scores, levels=20, cmap="viridis", linewidths=0.8)
        ax.scatter(*self.real.T, s=3, label="real")
        ax.scatter(*fake.T, s=3, label="generated")
        title = f"exact W1 {self.history[-1][1]:.3f}" if self.history else ""
        ax.set_title(f"samples and critic contours {title}")
        ax.legend(loc="upper right")
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        fig.savefig(path, dpi=100)
        plt.close(fig)
