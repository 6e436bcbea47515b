"""What a training step reports: its tracked logs, the finiteness of each term, and the NaN guard.

NaN detection has this one home: `nonfinite_logs` finds the NaN/Inf values among logged metrics (used by
`NonFiniteGuard` and by the run loop's checkpoint callback), `TermChecks` records, while a step is traced,
whether each named term of the step is finite, and `NonFiniteGuard` turns the first bad term into a
`FloatingPointError` that names it.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Protocol, runtime_checkable

import keras
import numpy as np
import tensorflow as tf

from tf_lipschitz.foundations.contracts import training_step

__all__ = ["GAN_LOGS", "EVALUATION_LOGS", "nonfinite_logs", "TermChecks", "NamesTerms", "NonFiniteGuard"]

# The logs of `LipschitzGAN.fit`, and the subset its evaluation computes.
GAN_LOGS = (
    "critic_loss", "generator_loss", "wasserstein_estimate", "penalty",
    "ratio_mean", "ratio_max", "violation_fraction",
)
EVALUATION_LOGS = ("critic_loss", "generator_loss", "wasserstein_estimate")


def nonfinite_logs(logs: Mapping[str, Any] | None) -> dict[str, float]:
    """The scalar numeric logs that are NaN or ±Inf, as floats (other values, arrays and strings are skipped).

    Args:
        logs: A Keras logs dict (Python floats, NumPy scalars or 0-d arrays, scalar tensors).

    Returns:
        `{key: value}` of the non-finite scalars, in the order of `logs`.

    Example:
        >>> nonfinite_logs({"loss": float("nan"), "acc": 0.5, "lr": np.float32("inf"), "name": "x"})
        {'loss': nan, 'lr': inf}
    """
    bad = {}
    for key, value in (logs or {}).items():
        if isinstance(value, (bool, str, bytes)):
            continue
        try:
            number = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            continue
        if number.ndim == 0 and not math.isfinite(float(number)):
            bad[key] = float(number)
    return bad


class TermChecks:
    """The named terms of one traced training step and whether each is finite, in the order they are computed.

    A step calls `record(label, values)` for each term as it traces; `flags()` is the one-hot float32 vector
    marking the first term that was not finite (all zeros if none), which the step returns under the log key
    `NonFiniteGuard.KEY`; `labels` names the entries.

    Example:
        >>> checks = TermChecks()
        >>> checks.record("a", tf.constant(1.0)); checks.record("b", [tf.constant(np.nan), None])
        >>> checks.labels, checks.flags().numpy().tolist()
        (['a', 'b'], [0.0, 1.0])
    """

    def __init__(self):
        self.labels: list[str] = []
        self._finite: list[tf.Tensor] = []

    def record(self, label: str, values) -> None:
        """Records whether every element of every tensor in the (nested) `values` is finite."""
        flags = [tf.reduce_all(tf.math.is_finite(tf.cast(t, tf.float32)))
                 for t in tf.nest.flatten(values) if t is not None]
        self.labels.append(label)
        self._finite.append(tf.reduce_all(tf.stack(flags)) if flags else tf.constant(True))

    def flags(self) -> tf.Tensor:
        """One-hot float32 vector marking the first term that was not finite (all zeros if none)."""
        bad = tf.cast(tf.logical_not(tf.stack(self._finite)), tf.int32)
        return tf.cast((bad > 0) & (tf.cumsum(bad) == 1), tf.float32)


@runtime_checkable
class NamesTerms(Protocol):
    """A model whose training step returns `TermChecks.flags()` and names the terms in `nonfinite_labels`."""

    nonfinite_labels: tuple


class NonFiniteGuard(keras.callbacks.Callback):
    """Stops `fit` with a `FloatingPointError` naming the first term (or logged value) that became NaN or Inf.

    A model that names its terms (`NamesTerms`, e.g. `LipschitzGAN`) returns, under the log key `nonfinite`, a
    one-hot vector over its terms in the order they are computed (critic outputs, GAN loss, penalty, drift,
    gradients of each critic update, then the generator's), marking the first that was not finite. This
    callback removes that key from the logs (so it appears neither in the progress bar nor in the history) and
    raises when it is set, or when any logged metric is NaN/Inf (`nonfinite_logs`; with
    `steps_per_execution > 1` only the last step's vector is seen, and the metrics then still name what went
    wrong). `LipschitzGAN.fit` adds it first.

    Example:
        >>> guard = NonFiniteGuard()
        >>> guard.on_epoch_end(0, {"loss": 1.0})  # finite: nothing happens
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
        labels = self.model.nonfinite_labels if isinstance(self.model, NamesTerms) else []
        first = None
        if flags is not None:
            hits = np.flatnonzero(np.asarray(flags).reshape(-1) > 0)
            if hits.size and hits[0] < len(labels):
                first = labels[hits[0]]
        bad_logs = nonfinite_logs(logs)
        if first is None and not bad_logs:
            return
        self.model.stop_training = True
        step = training_step(self.model)
        step = "?" if step is None else step
        where = f"`{first}`" if first else "the logged value(s) " + ", ".join(f"`{k}`" for k in bad_logs)
        raise FloatingPointError(
            f"GAN training stopped: {where} became NaN or Inf ({when}, training step {step}). "
            f"Non-finite logs: {bad_logs or 'none yet'}. Common causes: a learning rate or penalty_weight "
            "too large, an unbounded generator output, or ξ/ε too large for the scale of the data."
        )
