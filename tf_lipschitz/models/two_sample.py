"""The base of the critic-based estimators: a critic trained with `fit` to maximize an objective of two batches.

`TwoSampleCritic` runs the step (power iteration advanced once per update, gradients averaged over replicas),
keeps the running means of the logs, refuses non-finite arrays before `fit` and stops at the first non-finite
step; `tf_lipschitz.models.estimators` defines the objectives.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tf_lipschitz.layers import advance_power_iteration, power_iteration_frozen
from tf_lipschitz.models.diagnostics import nonfinite_logs
from tf_lipschitz.penalties.specs import deserialize_kwargs

__all__ = ["TwoSampleCritic", "check_finite_array"]


class TwoSampleCritic(keras.Model):
    """A critic trained with `fit` to maximize an objective of two batches; subclasses define the objective.

    Subclasses implement `_objective(first, second, training)` → (objective, {log: value}) and pass the names of
    their logs. Used through `DivergenceEstimator`, `MutualInformationEstimator` and
    `UnconstrainedWassersteinCritic`.

    Args:
        critic: The critic network (a batch → (n, 1) Keras model).
        log_names: The names of the logs `_objective` returns, besides "loss".
        seed: Seed of the step's noise.
        name: The model's name.
        trainable: Whether the critic's weights train.

    Example:
        >>> from tf_lipschitz.models import DivergenceEstimator
        >>> issubclass(DivergenceEstimator, TwoSampleCritic)
        True
    """

    def __init__(self, critic: keras.Model, *, log_names: tuple, seed: int | None = None, name: str | None = None,
                 trainable: bool = True):
        super().__init__(name=name, trainable=trainable)
        self.critic = critic
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.trackers = {log: keras.metrics.Mean(name=log) for log in ("loss",) + log_names}
        self.built = True  # no weights of its own to build; the critic builds itself

    def call(self, inputs, training=None):
        return self.critic(inputs, training=training)

    @property
    def metrics(self) -> list:
        return list(self.trackers.values())

    def fit(self, x=None, y=None, *args, **kwargs):
        """`keras.Model.fit`, refusing arrays with NaN or Inf first and stopping at the first non-finite step.

        Raises:
            ValueError: for a NumPy array or tensor `x` or `y` with NaN or Inf values (with their count).
            FloatingPointError: when a logged value (the loss, the estimate, ALP's diagnostics) becomes NaN
                or Inf, naming the epoch, the batch and the non-finite logs; training stops there.
        """
        for name, value in (("x", x), ("y", y)):
            check_finite_array(name, value)
        callbacks = list(kwargs.pop("callbacks", None) or [])
        callbacks.insert(0, _StopOnNonFinite(type(self).__name__))
        return super().fit(x, y, *args, callbacks=callbacks, **kwargs)

    def _batches(self, data) -> tuple:
        """The two critic batches (µ's, ν's) of one `fit` element."""
        if not isinstance(data, (tuple, list)) or len(data) < 2:
            raise ValueError(f"{type(self).__name__} needs (x, y) batches. Received: {type(data).__name__}")
        return data[0], data[1]

    def _objective(self, first, second, training: bool) -> tuple:
        """(objective to maximize, {log name: value}) of one step."""
        raise NotImplementedError

    def _report(self, loss, logs: dict) -> dict:
        self.trackers["loss"].update_state(loss)
        for log, value in logs.items():
            self.trackers[log].update_state(value)
        return {log: tracker.result() for log, tracker in self.trackers.items()}

    def train_step(self, data):
        first, second = self._batches(data)
        advance_power_iteration(self.critic)  # once per update, however often the critic is called
        variables = self.critic.trainable_variables
        with tf.GradientTape() as tape:
            with power_iteration_frozen(self.critic):
                objective, logs = self._objective(first, second, training=True)
            loss = -objective
            # Gradients are summed over replicas: each replica's share is its estimate / the number of replicas.
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            scaled = self.optimizer.scale_loss(loss / replicas)
        self.optimizer.apply(tape.gradient(scaled, variables), variables)
        return self._report(loss, logs)

    def test_step(self, data):
        first, second = self._batches(data)
        with power_iteration_frozen(self.critic):
            objective, logs = self._objective(first, second, training=False)
        return self._report(-objective, logs)

    def get_config(self) -> dict:
        return {"name": self.name, "trainable": self.trainable, "seed": self.seed,
                "critic": keras.saving.serialize_keras_object(self.critic)}

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        config = dict(config)
        critic = keras.saving.deserialize_keras_object(config.pop("critic"), custom_objects=custom_objects)
        return cls(critic, **deserialize_kwargs(config, custom_objects))


def check_finite_array(name: str, value) -> None:
    """Raises a ValueError counting the NaN/Inf values of a floating NumPy array or tensor (other inputs pass).

    Args:
        name: The argument's name, for the message.
        value: A NumPy array or tensor (anything else passes).

    Raises:
        ValueError: when a floating `value` holds NaN or Inf values (with their count).

    Example:
        >>> check_finite_array("x", np.ones(3))
        >>> check_finite_array("x", np.array([1.0, np.nan]))
        Traceback (most recent call last):
        ...
        ValueError: `x` contains 1 NaN or Inf values; the estimate is only defined on finite samples
    """
    if isinstance(value, tf.Tensor):
        floating = value.dtype.is_floating
    elif isinstance(value, np.ndarray):
        floating = np.issubdtype(value.dtype, np.floating)
    else:
        return
    bad = int(np.size(value) - np.count_nonzero(np.isfinite(np.asarray(value)))) if floating else 0
    if bad:
        raise ValueError(f"`{name}` contains {bad} NaN or Inf values; the estimate is only defined on finite samples")


class _StopOnNonFinite(keras.callbacks.Callback):
    """Raises a FloatingPointError naming the step where a logged value of an estimator first is NaN or Inf.

    The estimators' counterpart of the GAN's `diagnostics.NonFiniteGuard`, reading the logs the same way
    (`diagnostics.nonfinite_logs`); an estimator's step has few terms, so the logs name the culprit.
    """

    def __init__(self, owner: str):
        super().__init__()
        self.owner = owner
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        bad = nonfinite_logs(logs)
        if bad:
            self.model.stop_training = True
            raise FloatingPointError(
                f"{self.owner} training stopped: {sorted(bad)} became NaN or Inf at epoch {self.epoch + 1}, "
                f"batch {batch + 1} (logs: {bad}). Check that batch for NaN/Inf values, or lower the learning rate."
            )
