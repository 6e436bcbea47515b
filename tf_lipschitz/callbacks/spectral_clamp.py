"""Spectral gradient clamping: cap the top singular value of every kernel gradient at r·σ1.

Keras callbacks never see gradients, so `SpectralGradientClamp` hooks the one place every training
loop hands them over: the optimizer. In `on_train_begin` it replaces the `apply` method of the
selected optimizer instance(s) (`apply_gradients` calls `apply`, so both entry points are covered)
by a wrapper that clamps the gradients first, then forces Keras to re-trace its train function so
the wrapper is part of the traced (and, with `jit_compile`, XLA-compiled) graph. `on_train_end`
removes the wrapper and drops the traced function again, so later `fit` calls train unclamped.

Reference:
    K. Sargent, "Lipschitz Constraints in Wasserstein GANs" (poster, "Spectral Gradient Clipping").
    Brock, Donahue and Simonyan, "Large Scale GAN Training for High Fidelity Natural Image
    Synthesis", arXiv:1809.11096, 2018 (spectral clamping of weights).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import keras
import tensorflow as tf
from keras import ops

from tf_lipschitz import ops as lip_ops

__all__ = ["SpectralGradientClamp", "spectral_clamp", "VALID_TARGETS"]

VALID_TARGETS = ("critic", "generator", "both")

# σ0/σ1 is logged with σ1 floored at this fraction of σ0, so a rank-1 gradient logs 1e6, not inf.
_RATIO_CAP = 1e6


def _clampable(gradient) -> bool:
    """Dense gradients of rank ≥ 2 whose reshaped matrix has two singular values (both dims ≥ 2)."""
    if gradient is None or isinstance(gradient, tf.IndexedSlices):
        return False
    shape = tuple(gradient.shape)
    if len(shape) < 2 or any(d is None for d in shape):
        return False
    rows = math.prod(shape[:-1])
    return rows >= 2 and shape[-1] >= 2


def spectral_clamp(gradient, ratio: float, *, power_iterations: int = 20, seed=None):
    """Clamps one kernel gradient so that its top singular value is at most `ratio`·σ1.

    The gradient is reshaped to the matrix G = R(G) of shape (kh·kw·c_in, c_out) (`ops.kernel_matrix`).
    σ0, u0, v0 come from `ops.power_iteration` on G; σ1 from a second power iteration on the deflated
    matrix G − σ0·u0·v0ᵀ (poster, steps 1-4). The result is G − max(0, σ0 − r·σ1)·u0·v0ᵀ: the top
    singular value drops to r·σ1 and all other singular directions are untouched. (The poster prints
    `min(0, ·)`, a sign slip: with `min` the update would leave σ0 > r·σ1 alone and instead raise a
    smaller σ0 up to r·σ1.)

    Power iteration estimates converge from below. An under-estimated σ1 only clamps harder (the ratio
    stays ≤ r); an under-converged (u0, v0) leaves part of the top direction behind, so use enough
    `power_iterations` for ratios close to 1, where the spectral gap σ0/σ1 ≥ r is small.

    Args:
        gradient: A gradient tensor of rank ≥ 2 whose last axis is the output channels.
        ratio: The ratio r > 1; `inf` returns the gradient unchanged (statistics are still computed).
        power_iterations: Steps of each of the two power iterations (≥ 1), from fresh random vectors.
        seed: Seed of the random start vectors (int or `keras.random.SeedGenerator`).

    Returns:
        `(clamped_gradient, sigma0, sigma1)`, the singular values estimated before clamping as float32
        scalars. `clamped_gradient` has the shape and dtype of `gradient`.

    Raises:
        ValueError: if the gradient's reshaped matrix has a dimension of 1 (a single singular value), or
            `ratio` ≤ 1, or `power_iterations` < 1.

    Example:
        >>> g = np.diag([10.0, 2.0, 1.0]).astype("float32")
        >>> clamped, s0, s1 = spectral_clamp(g, 2.0, power_iterations=50, seed=0)
        >>> np.round(np.linalg.svd(clamped.numpy(), compute_uv=False), 3)
        array([4., 2., 1.], dtype=float32)

    Reference:
        K. Sargent, "Lipschitz Constraints in Wasserstein GANs" (poster); Brock et al., 2018.
    """
    _check_ratio(ratio)
    lip_ops.check_power_iterations(power_iterations)
    gradient = ops.convert_to_tensor(gradient)
    if not _clampable(gradient):
        raise ValueError(
            "spectral_clamp needs a gradient of rank >= 2 whose reshaped (., c_out) matrix has both dimensions "
            f">= 2. Received shape {tuple(gradient.shape)}"
        )
    w = ops.cast(lip_ops.kernel_matrix(gradient), "float32")
    wt = ops.transpose(w)
    n = w.shape[-1]
    sigma0, u0, v0 = _top_singular(
        lambda x: ops.matmul(w, x), lambda y: ops.matmul(wt, y), keras.random.normal((n, 1), seed=seed), power_iterations
    )
    # Deflation: the same iteration on G − σ0·u0·v0ᵀ, whose top singular value is σ1.
    sigma1, _, _ = _top_singular(
        lambda x: ops.matmul(w, x) - sigma0 * u0 * ops.sum(v0 * x),
        lambda y: ops.matmul(wt, y) - sigma0 * v0 * ops.sum(u0 * y),
        keras.random.normal((n, 1), seed=seed),
        power_iterations,
    )
    if math.isinf(ratio):
        return gradient, sigma0, sigma1
    excess = ops.maximum(sigma0 - ratio * sigma1, 0.0)
    clamped = w - excess * ops.matmul(u0, ops.transpose(v0))
    return ops.cast(ops.reshape(clamped, gradient.shape), gradient.dtype), sigma0, sigma1


def _top_singular(operator, adjoint, v, power_iterations: int):
    """`ops.power_iteration` run one step at a time in a `fori_loop`, so the traced graph (and XLA's compile
    time) does not grow with `power_iterations`; the result is that of `power_iteration(..., power_iterations)`."""
    v = ops.fori_loop(0, power_iterations, lambda _, v: lip_ops.power_iteration(operator, adjoint, v, 1)[2], v)
    return lip_ops.power_iteration(operator, adjoint, v, 0)


def _check_ratio(ratio) -> None:
    try:
        value = float(ratio)
    except (TypeError, ValueError):
        value = float("nan")
    if not value > 1.0:
        raise ValueError(f"`ratio` must be a number > 1 (or inf for a no-op). Received: ratio={ratio!r}")


class _ClampedOptimizer:
    """The `apply` wrapper of one optimizer, with its in-graph statistics variables."""

    def __init__(self, optimizer, prefix: str, clamp: "SpectralGradientClamp", strategy):
        self.optimizer = optimizer
        self.prefix = prefix
        self.clamp = clamp
        self.previous = optimizer.__dict__.get("apply")  # an instance attribute left by someone else
        self.original_apply = optimizer.apply
        with strategy.scope():
            # ONLY_FIRST_REPLICA: one replica's gradients are representative; assigns need an aggregation.
            make = lambda name: tf.Variable(  # noqa: E731
                0.0, trainable=False, name=name, aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA
            )
            self.fraction = make(f"{prefix}spectral_clamp_fraction")
            self.sigma_ratio = make(f"{prefix}spectral_clamp_sigma_ratio")
            self.seed = keras.random.SeedGenerator(clamp.seed)

    def apply(self, grads, trainable_variables=None, *args, **kwargs):
        grads = list(grads)
        clamped_flags, ratios = [], []
        for i, g in enumerate(grads):
            if not _clampable(g):
                continue
            grads[i], sigma0, sigma1 = spectral_clamp(
                g, self.clamp.ratio, power_iterations=self.clamp.power_iterations, seed=self.seed
            )
            # σ0 = 0 (a zero gradient) is neither clamped nor counted in the mean ratio.
            clamped_flags.append(ops.cast(sigma0 > self.clamp.ratio * sigma1, "float32"))
            ratios.append(sigma0 / ops.maximum(sigma1, sigma0 / _RATIO_CAP + 1e-30))
        if ratios:
            self.fraction.assign(ops.mean(ops.stack(clamped_flags)))
            self.sigma_ratio.assign(ops.mean(ops.stack(ratios)))
        return self.original_apply(grads, trainable_variables, *args, **kwargs)

    def install(self) -> None:
        # An instance attribute shadows the class method; `apply_gradients` calls `self.apply`.
        object.__setattr__(self.optimizer, "apply", self.apply)

    def uninstall(self) -> None:
        if self.previous is not None:
            object.__setattr__(self.optimizer, "apply", self.previous)
        else:
            self.optimizer.__dict__.pop("apply", None)

    def logs(self) -> dict[str, float]:
        return {
            f"{self.prefix}spectral_clamp_fraction": float(self.fraction.numpy()),
            f"{self.prefix}spectral_clamp_sigma_ratio": float(self.sigma_ratio.numpy()),
        }


class SpectralGradientClamp(keras.callbacks.Callback):
    """Clamps each kernel gradient's top singular value to `ratio`·σ1 before the optimizer applies it.

    For every gradient G of rank ≥ 2 (conv kernels reshaped to (kh·kw·c_in, c_out)), σ0 and σ1 are
    estimated by power iteration and deflation, and G is replaced by G − max(0, σ0 − r·σ1)·u0·v0ᵀ, so
    that the update's top singular value is at most r·σ1 (see `spectral_clamp`). Biases and other
    rank-1 gradients, kernels whose reshaped matrix has a dimension of 1 (a single singular value) and
    sparse (`IndexedSlices`) gradients pass through untouched.

    Gradient hook: Keras callbacks do not see gradients, so in `on_train_begin` this callback wraps
    the `apply` method of the selected optimizer instance(s) (which `apply_gradients` also calls) and
    re-traces the model's train function, so that the clamp runs inside the traced graph (including
    `jit_compile=True`) on whatever gradients the train step produces; `on_train_end` unwraps and
    drops the traced function. It works with any compiled `keras.Model` trained with `fit` (it wraps
    `model.optimizer`) and with GAN models exposing `critic_optimizer` / `generator_optimizer`
    (chosen by `target`). The power iterations start from fresh random vectors at every step (no
    per-kernel state, so the callback needs nothing from the model's build); `power_iterations`
    matrix-vector products per singular value make this cheap next to a forward pass. With a loss
    scale optimizer the clamp sees the scaled gradients, which is harmless: clamping commutes with
    scaling. With `gradient_accumulation_steps` it clamps each micro-batch gradient, and under a
    multi-replica `tf.distribute` strategy each replica's gradient, before they are aggregated.

    Logs, per step into `fit`'s logs (batch and epoch), for each wrapped optimizer (keys prefixed by
    `critic_` / `generator_` for GANs): `spectral_clamp_fraction`, the fraction of clamped kernels,
    and `spectral_clamp_sigma_ratio`, the mean σ0/σ1 over the kernels (σ1 floored at 1e-6·σ0). When
    the optimizer is applied several times per step (n_critic > 1) the last application is reported.
    Put this callback before `CSVLogger` / `TensorBoard` in the callback list so they see the keys.

    Args:
        ratio: r > 1. `float("inf")` is an exact no-op on the updates (σ0/σ1 is still logged).
        target: For GANs, which optimizer(s) to clamp: "critic", "generator" or "both". For a plain
            model the model's own optimizer is clamped with "critic" or "both" (it has no generator).
        power_iterations: Steps of each power iteration (≥ 1), from a fresh random start every step.
        seed: Seed of the random start vectors.

    Raises:
        ValueError: for `ratio` ≤ 1, an unknown `target`, `power_iterations` < 1, and (at the start of
            training) a model without the optimizer(s) `target` asks for.

    Example:
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> clamp = SpectralGradientClamp(ratio=2.0)
        >>> history = model.fit(np.ones((8, 4)), np.zeros((8, 3)), callbacks=[clamp], verbose=0)
        >>> sorted(k for k in history.history if k.startswith("spectral"))
        ['spectral_clamp_fraction', 'spectral_clamp_sigma_ratio']

    Reference:
        K. Sargent, "Lipschitz Constraints in Wasserstein GANs" (poster); Brock, Donahue and Simonyan,
        "Large Scale GAN Training for High Fidelity Natural Image Synthesis", 2018.
    """

    def __init__(
        self,
        ratio: float,
        target: str = "critic",
        power_iterations: int = 20,
        *,
        seed: int | None = None,
    ):
        super().__init__()
        _check_ratio(ratio)
        if target not in VALID_TARGETS:
            raise ValueError(f"`target` must be one of {VALID_TARGETS}. Received: target={target!r}")
        lip_ops.check_power_iterations(power_iterations)
        self.ratio = float(ratio)
        self.target = target
        self.power_iterations = int(power_iterations)
        self.seed = seed
        self._wrappers: list[_ClampedOptimizer] = []

    def _optimizers(self) -> list[tuple[str, Any]]:
        """(log prefix, optimizer) pairs that `target` selects on `self.model`."""
        model = self.model
        if hasattr(model, "critic_optimizer") or hasattr(model, "generator_optimizer"):
            wanted = ("critic", "generator") if self.target == "both" else (self.target,)
            found = []
            for name in wanted:
                optimizer = getattr(model, f"{name}_optimizer", None)
                if optimizer is None:
                    raise ValueError(
                        f"SpectralGradientClamp(target={self.target!r}) needs `model.{name}_optimizer`; "
                        f"{type(model).__name__} has none. Compile the GAN with {name}_optimizer=... first."
                    )
                found.append((f"{name}_", optimizer))
            return found
        if self.target == "generator":
            raise ValueError(
                f"SpectralGradientClamp(target='generator') needs a GAN with `generator_optimizer`; "
                f"{type(model).__name__} has none. Use target='critic' or 'both' to clamp a plain model's optimizer."
            )
        if getattr(model, "optimizer", None) is None:
            raise ValueError(
                f"SpectralGradientClamp needs a compiled model with an optimizer; {type(model).__name__} has none."
            )
        return [("", model.optimizer)]

    def on_train_begin(self, logs=None):
        if self._wrappers:
            return
        strategy = getattr(self.model, "distribute_strategy", None) or tf.distribute.get_strategy()
        self._wrappers = [_ClampedOptimizer(opt, prefix, self, strategy) for prefix, opt in self._optimizers()]
        for wrapper in self._wrappers:
            wrapper.install()
        # `fit` built its train function before on_train_begin; rebuild it so it traces the wrapper.
        self.model.make_train_function(force=True)

    def on_train_batch_end(self, batch, logs=None):
        if logs is not None:
            logs.update(self.logs())

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs.update(self.logs())

    def on_train_end(self, logs=None):
        for wrapper in reversed(self._wrappers):
            wrapper.uninstall()
        self._wrappers = []
        # The traced function contains the clamp; make the next `fit` trace a clean one.
        self.model.train_function = None

    def logs(self) -> dict[str, float]:
        """The current statistics: fraction of clamped kernels and mean σ0/σ1, per wrapped optimizer."""
        values: dict[str, float] = {}
        for wrapper in self._wrappers:
            values.update(wrapper.logs())
        return values

    def get_config(self) -> dict:
        return {"ratio": self.ratio, "target": self.target, "power_iterations": self.power_iterations, "seed": self.seed}
