"""What `LipschitzGAN` needs around its training step: per-step seeds, input checks and the NaN guard.

Kept apart from `gan.py` so that the model file holds the training loop and little else.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

__all__ = [
    "StepSeeds", "NonFiniteGuard", "check_floating", "check_finite", "check_real_spec", "check_real_values",
    "check_split", "array_dataset", "stochastic_layers", "first_nonfinite",
]

_REAL_SAMPLES = "real samples (what the generator outputs, e.g. images scaled to [-1, 1] as x / 127.5 - 1)"
# Public Keras layers that draw fresh noise in training mode.
STOCHASTIC_LAYERS = (
    keras.layers.Dropout, keras.layers.GaussianNoise, keras.layers.GaussianDropout, keras.layers.AlphaDropout,
)


class StepSeeds(keras.random.SeedGenerator):
    """Stateless seeds that are a pure function of (seed, training step, replica, call index).

    A look-alike of `keras.random.SeedGenerator` (so it can be passed as `seed=` to the penalties) with
    no state of its own: `next()` folds a per-trace call counter into a base seed made from the GAN's
    `seed` and its step counter. Why not a real `SeedGenerator`: its state is not written by
    `save_weights` (so `BackupAndRestore` would replay the noise of step 0), and under
    `MirroredStrategy` every replica would draw the same noise. Here the step counter is an ordinary
    saved variable, and the replica id is folded in.

    Create one per traced step, as a local (not as a layer attribute).

    Args:
        seed: Python int, the GAN's base seed.
        step: Scalar integer tensor, the training step.
    """

    def __init__(self, seed: int, step):  # noqa: D107 - no super().__init__: no state variable.
        base = tf.constant([seed & 0x7FFFFFFF, (seed >> 31) & 0x7FFFFFFF], tf.int32)
        base = tf.random.experimental.stateless_fold_in(base, tf.cast(step, tf.int64), alg="philox")
        replica = tf.distribute.get_replica_context()
        if replica is not None and tf.distribute.has_strategy():
            base = tf.random.experimental.stateless_fold_in(base, replica.replica_id_in_sync_group, alg="philox")
        self._base = base
        self._calls = 0

    def next(self, ordered=True):
        """A fresh (2,) int32 seed: the base folded with this object's call count."""
        self._calls += 1
        return tf.random.experimental.stateless_fold_in(self._base, self._calls, alg="philox")

    def normal(self, shape, dtype="float32"):
        """Standard normal noise of `shape` from the next seed (Philox, so XLA draws the same numbers)."""
        return tf.random.stateless_normal(shape, self.next(), dtype=dtype, alg="philox")

    def uniform(self, shape, dtype="float32"):
        """U[0, 1) noise of `shape` from the next seed (Philox)."""
        return tf.random.stateless_uniform(shape, self.next(), dtype=dtype, alg="philox")


def _fmt_shape(shape) -> str:
    return "(batch, " + ", ".join("?" if d is None else str(d) for d in shape) + ")"


def check_floating(dtype, where: str = "dataset", what: str = _REAL_SAMPLES) -> None:
    """Raises a ValueError when `dtype` is not a floating-point dtype.

    Args:
        dtype: The dtype of the data.
        where: Names the source in the message ("dataset", "array", "input array").
        what: What the data must be, for the message.

    Raises:
        ValueError: for an integer, boolean or string dtype, naming it.

    Example:
        >>> check_floating("uint8", "array", "inputs")
        Traceback (most recent call last):
        ...
        ValueError: The array must yield floating-point inputs. Received dtype uint8.
    """
    dtype = tf.as_dtype(dtype)
    if not dtype.is_floating:
        raise ValueError(f"The {where} must yield floating-point {what}. Received dtype {dtype.name}.")


def check_finite(x, where: str = "dataset", what: str = "real samples") -> None:
    """Raises a ValueError naming how many values are NaN or Inf when the array `x` has any.

    Example:
        >>> check_finite(np.array([1.0, np.nan]), "array", "inputs")
        Traceback (most recent call last):
        ...
        ValueError: The array yields NaN or Inf values in its inputs (1 of 2 values).
    """
    x = np.asarray(x)
    bad = x.size - int(np.count_nonzero(np.isfinite(x)))
    if bad:
        raise ValueError(f"The {where} yields NaN or Inf values in its {what} ({bad} of {x.size} values).")


def check_split(batch_size: int, n_critic: int, where: str = "dataset") -> None:
    """Raises a ValueError when a batch of `batch_size` real samples does not split into `n_critic` equal chunks.

    Example:
        >>> check_split(64, 5)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: Each batch of the dataset is split into n_critic=5 critic batches, ... Received batch size 64.
    """
    if batch_size % n_critic:
        raise ValueError(
            f"Each batch of the {where} is split into n_critic={n_critic} critic batches, so its size must be a "
            f"multiple of {n_critic} (batch the data by n_critic × the critic batch, e.g. {n_critic * 64} for "
            f"critic batches of 64). Received batch size {batch_size}."
        )


def array_dataset(x, critic_batch_size: int, n_critic: int, shuffle: bool = True, seed: int | None = None):
    """A `tf.data.Dataset` of `n_critic × critic_batch_size` rows of the array `x` per element (full batches only).

    Each epoch (each iteration of the dataset) is a new permutation when `shuffle`; the rows left over after the
    last full batch are not used in that epoch (other rows each epoch when shuffled).

    Args:
        x: A NumPy array or tensor of real samples, rows first.
        critic_batch_size: Samples per critic update.
        n_critic: Critic updates per step.
        shuffle: Draw a new order every epoch.
        seed: Seed of the shuffling.

    Returns:
        The dataset; its elements have the static shape (n_critic × critic_batch_size, *x.shape[1:]).

    Raises:
        ValueError: when `x` has fewer rows than one step needs.

    Example:
        >>> ds = array_dataset(np.arange(10.0).reshape(10, 1), critic_batch_size=2, n_critic=2, shuffle=False)
        >>> [e.numpy().ravel().tolist() for e in ds]
        [[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0]]
    """
    step = n_critic * critic_batch_size
    n = int(x.shape[0])
    if n < step:
        raise ValueError(
            f"One training step takes n_critic × batch_size = {n_critic} × {critic_batch_size} = {step} samples, "
            f"but the array has only {n}. Pass a smaller `batch_size`."
        )
    data = tf.convert_to_tensor(x)
    indices = tf.data.Dataset.range(n)
    if shuffle:
        indices = indices.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    return indices.batch(step, drop_remainder=True).map(lambda i: tf.gather(data, i))


def stochastic_layers(model) -> list:
    """Names of the layers of `model` (nested models included) that draw noise in training mode.

    Dropout and its spatial variants, GaussianNoise, GaussianDropout and AlphaDropout (`STOCHASTIC_LAYERS`).

    Example:
        >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(4), keras.layers.Dropout(0.5, name="drop")])
        >>> stochastic_layers(m)
        ['drop']
    """
    names = []
    for layer in model.layers if isinstance(model, keras.Model) else []:
        if isinstance(layer, STOCHASTIC_LAYERS):
            names.append(layer.name)
        names.extend(stochastic_layers(layer))
    return names


def check_real_spec(shape, dtype, sample_shape, n_critic: int, where: str = "dataset") -> None:
    """Raises a ValueError naming what was expected when a real batch has the wrong shape or dtype.

    Args:
        shape: The batch's (static) shape, batch axis first.
        dtype: Its dtype.
        sample_shape: The critic's input shape without the batch axis.
        n_critic: Critic updates per step (the batch is split into that many chunks).
        where: Names the source in the message.
    """
    check_floating(dtype, where)
    shape = tuple(shape)
    if len(shape) != len(sample_shape) + 1 or any(
        a is not None and b is not None and a != b for a, b in zip(shape[1:], sample_shape)
    ):
        raise ValueError(
            f"The {where} must yield real batches shaped like the critic's input, {_fmt_shape(sample_shape)}. "
            f"Received shape {tuple(shape)}."
        )
    if shape[0] is not None and shape[0] < n_critic:
        raise ValueError(
            f"Each batch of the {where} is split into n_critic={n_critic} critic batches, so it needs at least "
            f"{n_critic} samples (batch the data by n_critic × the critic batch). Received batch size {shape[0]}."
        )


def check_real_values(x, data_range, where: str = "dataset") -> None:
    """Raises a ValueError if the array `x` has NaN/Inf or values outside `data_range` (None: no range check)."""
    x = np.asarray(x)
    check_finite(x, where)
    if data_range is None or x.size == 0:
        return
    low, high = data_range
    tol = 1e-3 * (high - low)
    lo, hi = float(np.min(x)), float(np.max(x))
    if lo < low - tol or hi > high + tol:
        raise ValueError(
            f"The {where} must yield real samples in the generator's range [{low:g}, {high:g}] "
            f"(`data_range`). Received values in [{lo:g}, {hi:g}]; rescale the data (e.g. x / 127.5 - 1 "
            "for 8-bit images) or pass `data_range=None` to the model to skip this check."
        )


def first_nonfinite(checks):
    """One-hot float32 vector marking the first False among scalar booleans `checks` (all zeros if none)."""
    bad = tf.cast(tf.logical_not(tf.stack(checks)), tf.int32)
    return tf.cast((bad > 0) & (tf.cumsum(bad) == 1), tf.float32)


def all_finite(tensors) -> tf.Tensor:
    """Scalar bool: every element of every tensor in the (nested) list is finite."""
    flags = [tf.reduce_all(tf.math.is_finite(tf.cast(t, tf.float32))) for t in tf.nest.flatten(tensors) if t is not None]
    return tf.reduce_all(tf.stack(flags)) if flags else tf.constant(True)


class NonFiniteGuard(keras.callbacks.Callback):
    """Stops `LipschitzGAN.fit` with a `FloatingPointError` naming the first term that became NaN or Inf.

    The model's `train_step` returns, under the log key `nonfinite`, a one-hot vector over its terms in
    the order they are computed (critic outputs, GAN loss, penalty, drift, gradients of each critic
    update, then the generator's), marking the first that was not finite. This callback removes that
    key from the logs (so it appears neither in the progress bar nor in the history) and raises when it
    is set, or when any logged metric is NaN/Inf (with `steps_per_execution > 1` only the last step's
    vector is seen; the metrics then still name what went wrong). `LipschitzGAN.fit` adds it first.
    """

    KEY = "nonfinite"

    def __init__(self):
        super().__init__()
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self._check(logs, f"epoch {self._epoch + 1}, batch {batch + 1}")

    def on_epoch_end(self, epoch, logs=None):
        self._check(logs, f"end of epoch {epoch + 1}")

    def _check(self, logs, when: str) -> None:
        if not logs:
            return
        flags = logs.pop(self.KEY, None)
        labels = getattr(self.model, "_nonfinite_labels", None) or []
        first = None
        if flags is not None:
            hits = np.flatnonzero(np.asarray(flags).reshape(-1) > 0)
            if hits.size and hits[0] < len(labels):
                first = labels[hits[0]]
        bad_logs = {
            k: v for k, v in logs.items() if isinstance(v, (int, float)) and not math.isfinite(float(v))
        }
        if first is None and not bad_logs:
            return
        self.model.stop_training = True
        step = self.model.step_counter.numpy() if hasattr(self.model, "step_counter") else "?"
        where = f"`{first}`" if first else "the logged value(s) " + ", ".join(f"`{k}`" for k in bad_logs)
        raise FloatingPointError(
            f"GAN training stopped: {where} became NaN or Inf ({when}, training step {step}). "
            f"Non-finite logs: {bad_logs or 'none yet'}. Common causes: a learning rate or penalty_weight "
            "too large, an unbounded generator output, or ξ/ε too large for the scale of the data."
        )
