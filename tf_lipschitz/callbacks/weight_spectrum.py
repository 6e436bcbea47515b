"""Weight-spectrum monitor: the top singular values of every kernel over training, to watch spectral collapse.

The poster (after Miyato et al.) observes that some Lipschitz constraints make a layer's spectrum collapse: one
singular value dominates and the rest shrink, so the layer is effectively low rank. This callback records the top
k singular values of each kernel (and σ0/σ1) every N steps into `fit`'s logs and `self.history`, and plots them.

Reference:
    K. Sargent, "Lipschitz Constraints in Wasserstein GANs" (poster, "Mode Collapse and Weight Spectra").
    Miyato et al., "Spectral Normalization for Generative Adversarial Networks", ICLR 2018 (Figure of the
    singular values of each layer under several normalizations).
"""

from __future__ import annotations

import math
import os

import keras
import numpy as np

from tf_lipschitz import ops as lip_ops
from tf_lipschitz.callbacks._periodic import PeriodicCallback
from tf_lipschitz.foundations.optional import require
from tf_lipschitz.foundations.validation import check_int
from tf_lipschitz.layers.base import NormalizedKernelMixin
from tf_lipschitz.layers.orthonormal import OrthonormalDense

__all__ = ["WeightSpectrumMonitor", "kernel_layers", "effective_kernel"]


def kernel_layers(model, prefix: str = "") -> list:
    """Every built layer with a kernel of rank ≥ 2 inside `model`, nested models included, in order.

    Args:
        model: A Keras layer or model.
        prefix: Prepended to the names (used for the recursion into nested models).

    Returns:
        A list of (name, layer) pairs; a layer inside a nested model is named "<model name>/<layer name>".

    Example:
        >>> m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d"), keras.layers.ReLU()])
        >>> [(name, type(layer).__name__) for name, layer in kernel_layers(m)]
        [('d', 'Dense')]
    """
    found = []
    for layer in model.layers if isinstance(model, keras.Model) else [model]:
        if isinstance(layer, keras.Model):
            found.extend(kernel_layers(layer, f"{prefix}{layer.name}/"))
        elif layer.built and any(w.path.endswith("/kernel") and len(w.shape) >= 2 for w in layer.weights):
            found.append((f"{prefix}{layer.name}", layer))
    return found


def effective_kernel(layer) -> np.ndarray:
    """The kernel a layer actually applies, as a float64 matrix (·, c_out).

    Normalized layers report their normalized kernel (`SpectralNormDense`, `ToeplitzNormConv2D`, …, at the
    current power-iteration state) and `OrthonormalDense` its orthonormalized kernel; other layers their kernel.

    Args:
        layer: A built layer with a kernel.

    Returns:
        A 2-D NumPy array.

    Example:
        >>> layer = keras.layers.Dense(2); layer.build((None, 3))
        >>> effective_kernel(layer).shape
        (3, 2)
    """
    if isinstance(layer, NormalizedKernelMixin):
        kernel = layer.normalized_kernel(training=False)
    elif isinstance(layer, OrthonormalDense):
        kernel = layer.orthonormal_kernel()
    else:
        kernel = layer.kernel
    return np.asarray(keras.ops.convert_to_numpy(lip_ops.kernel_matrix(kernel)), np.float64)


class WeightSpectrumMonitor(PeriodicCallback):
    """Logs the top `top_k` singular values of every kernel (exact SVD) every `every_n_steps` batches.

    For each layer with a kernel (Dense, Conv, the Lipschitz layers; GAN generator and critic alike) the keys
    are `<layer>/sigma0`, …, `<layer>/sigma{k-1}` and `<layer>/sigma_ratio` (a layer of a nested model, e.g.
    a GAN's critic, is named `<model>/<layer>`) = σ0/σ1, the poster's
    collapse indicator (inf for a rank-1 kernel). The values are those of the kernel the layer applies (see
    `effective_kernel`); a conv kernel is read as its (kh·kw·c_in, c_out) matrix, whose spectrum is the one
    spectral normalization acts on. They go into that batch's `logs`, the latest into every epoch's `logs`, and
    into `self.history`; `plot(path)` draws them, and with `plot_path` a PNG is written at the end of training.

    Args:
        every_n_steps: Measure after every N-th training batch (≥ 1), counted from the start of `fit`.
        top_k: Singular values kept per kernel (≥ 1).
        plot_path: PNG written at the end of training; None for no plot.

    Raises:
        ValueError: for `every_n_steps` or `top_k` < 1.
        FloatingPointError: during `fit`, when a kernel has NaN or Inf entries (naming the layer and the step;
            training stops).

    Example:
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="dense")])
        >>> model.compile("sgd", "mse")
        >>> monitor = WeightSpectrumMonitor(every_n_steps=1, top_k=2)
        >>> _ = model.fit(np.ones((8, 4)), np.zeros((8, 3)), batch_size=4, callbacks=[monitor], verbose=0)
        >>> sorted(monitor.history)
        ['dense/sigma0', 'dense/sigma1', 'dense/sigma_ratio', 'step']

    Reference:
        K. Sargent, "Lipschitz Constraints in Wasserstein GANs" (poster); Miyato et al., ICLR 2018.
    """

    def __init__(self, every_n_steps: int = 100, top_k: int = 3, *, plot_path: str | None = None):
        super().__init__(every_n_steps)
        self.top_k = check_int("top_k", top_k)
        self.plot_path = plot_path

    def measure(self) -> dict[str, float]:
        values: dict[str, float] = {}
        for key, layer in kernel_layers(self.model):
            kernel = effective_kernel(layer)
            bad = int(np.size(kernel) - np.count_nonzero(np.isfinite(kernel)))
            if bad:
                self.model.stop_training = True
                raise FloatingPointError(
                    f"WeightSpectrumMonitor: the kernel of layer {key!r} has {bad} NaN or Inf entries of "
                    f"{np.size(kernel)} at training step {self.step}: training diverged before this measurement "
                    "(its singular values are undefined). Lower the learning rate or check the data and the loss."
                )
            sigma = np.linalg.svd(kernel, compute_uv=False)
            for i, s in enumerate(sigma[: self.top_k]):
                values[f"{key}/sigma{i}"] = float(s)
            if len(sigma) >= 2:
                values[f"{key}/sigma_ratio"] = float(sigma[0] / sigma[1]) if sigma[1] > 0 else math.inf
        return values

    def on_train_end(self, logs=None):
        if self.plot_path is not None:
            self.plot(self.plot_path)

    def plot(self, path: str) -> str:
        """Draws σ_i against the step, one panel per layer (log scale), into a PNG.

        Args:
            path: The PNG path; its folder is created.

        Returns:
            `path`.

        Raises:
            ValueError: if nothing was measured yet.
            ImportError: without Matplotlib (`pip install "tf-lipschitz[plots]"`).
        """
        Figure = require("matplotlib.figure", extra="plots").Figure

        steps = self.history["step"]
        if not steps:
            raise ValueError("WeightSpectrumMonitor.plot: nothing measured yet; train with the callback first")
        layers = sorted({key.rsplit("/", 1)[0] for key in self.history if "/sigma" in key})
        columns = min(3, len(layers))
        rows = math.ceil(len(layers) / columns)
        figure = Figure(figsize=(4.5 * columns, 3.2 * rows))
        for index, name in enumerate(layers):
            axes = figure.add_subplot(rows, columns, index + 1)
            for i in range(self.top_k):
                series = self.history.get(f"{name}/sigma{i}")
                if series is not None:
                    axes.plot(steps, series, label=f"σ{i}")
            axes.set_yscale("log")
            axes.set_title(name, fontsize=9)
            axes.set_xlabel("step")
            axes.legend(fontsize=7)
        figure.tight_layout()
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        figure.savefig(path, format="png", dpi=80)
        return path
