"""`CertifiedAccuracy`: certified accuracy at a radius ε as a Keras metric for `compile(metrics=...)`.

A Keras metric sees labels and logits, not the model, so the metric is given the model (or a proven constant) when
it is created. The model's proven bound (`certificates.model_lipschitz`) is computed outside the graph, on the host,
each time Keras resets the metric: at the start of `evaluate` (so evaluation uses the bound of the weights it
evaluates) and at the start of every training epoch (so the training-time value uses the bound of the epoch's
first weights and is approximate while the weights move; the validation value is exact). Keras builds compiled
metrics at their first update, after its first reset: the bound is then read when that update is traced.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import ops

from tf_lipschitz.robustness import certificates
from tf_lipschitz.foundations.validation import check_float

__all__ = ["CertifiedAccuracy", "certified_mask"]


def certified_mask(y_true, y_pred, epsilon: float, lipschitz):
    """Per sample: 1.0 where the prediction is correct and its global certified radius exceeds ε, else 0.0.

    Graph-friendly (`keras.ops`). Labels as in `certificates.certified_accuracy`: integers, one-hot rows, or for one
    logit {0, 1} or {−1, 1}.

    Args:
        y_true: Labels (N,), (N, 1) or one-hot (N, C).
        y_pred: Logits (N, C) or (N, 1).
        epsilon: ε ≥ 0.
        lipschitz: L > 0 (a float or scalar tensor).

    Returns:
        A float32 tensor (N,).

    Example:
        >>> np.asarray(certified_mask(np.array([0, 1]), np.array([[3.0, 0.0], [1.0, 0.0]]), 1.0, 1.0))
        array([1., 0.], dtype=float32)
    """
    y_pred = ops.cast(ops.convert_to_tensor(y_pred), "float32")
    if len(y_pred.shape) == 1:
        y_pred = ops.expand_dims(y_pred, -1)
    classes = y_pred.shape[-1]
    y_true = ops.convert_to_tensor(y_true)
    lipschitz = ops.cast(lipschitz, "float32")
    if classes == 1:
        logit = y_pred[:, 0]
        labels = ops.reshape(ops.cast(ops.greater(ops.cast(y_true, "float32"), 0.0), "int32"), (-1,))
        predicted = ops.cast(ops.greater(logit, 0.0), "int32")
        radius = ops.abs(logit) / lipschitz
    else:
        if len(y_true.shape) == 2 and y_true.shape[-1] == classes:
            labels = ops.cast(ops.argmax(y_true, axis=-1), "int32")
        else:
            labels = ops.reshape(ops.cast(y_true, "int32"), (-1,))
        top2, _ = ops.top_k(y_pred, 2)
        predicted = ops.cast(ops.argmax(y_pred, axis=-1), "int32")
        radius = (top2[:, 0] - top2[:, 1]) / (math.sqrt(2.0) * lipschitz)
    hit = ops.logical_and(ops.equal(predicted, labels), ops.greater(radius, epsilon))
    return ops.cast(hit, "float32")


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class CertifiedAccuracy(keras.metrics.Mean):
    """The fraction of samples classified correctly with certified L2 radius > ε (global bound, see
    `tf_lipschitz.robustness.certified_radius`).

    Args:
        epsilon: ε ≥ 0, in input units (L2).
        model: The model being compiled; its proven bound is recomputed each time the metric is reset (the start of
            `evaluate` and of each training epoch). Not serialized: a loaded model's metric needs it again.
        lipschitz: Instead of `model`, a constant you have proven for the logit map (serialized).
        name: Metric name (default "certified_accuracy_<ε>").
        dtype: The metric's dtype.

    Raises:
        ValueError: for ε < 0, both or (when updated) neither of `model` and `lipschitz`, a non-positive
            `lipschitz`, or a model whose bound cannot be proven (naming the layer).

    Example:
        >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
        >>> _ = m.layers[0].kernel.assign([[1.0], [0.0]])                       # radius |x₁|
        >>> m.compile(loss="mse", metrics=[CertifiedAccuracy(1.0, model=m)])
        >>> x = np.array([[0.5, 0.0], [2.0, 0.0]], "float32")
        >>> round(m.evaluate(x, np.array([1, 1]), verbose=0, return_dict=True)["certified_accuracy_1"], 4)
        0.5
    """

    def __init__(self, epsilon: float, model: keras.Model | None = None, lipschitz: float | None = None,
                 name: str | None = None, dtype=None):
        self.epsilon = check_float("epsilon", epsilon, inclusive=True)
        if model is not None and lipschitz is not None:
            raise ValueError("Pass either `model` (its proven bound is used) or `lipschitz`, not both. Received: "
                             f"lipschitz={lipschitz!r}")
        if model is not None and not isinstance(model, keras.Model):
            raise ValueError(f"`model` must be a keras.Model; received {type(model).__name__}")
        self.fixed_lipschitz = None if lipschitz is None else check_float("lipschitz", lipschitz)
        super().__init__(name=name or f"certified_accuracy_{self.epsilon:g}", dtype=dtype)
        self._model = model
        self._bound_is_current = False
        self.lipschitz = self.add_variable(shape=(), initializer="ones", name="lipschitz", dtype="float32")
        if self.fixed_lipschitz is not None:
            self.lipschitz.assign(self.fixed_lipschitz)

    def _read_bound(self) -> None:
        """Assigns the model's current proven bound, eagerly even while a function is traced (once per trace)."""
        with tf.init_scope():
            self.lipschitz.assign(certificates.model_lipschitz(self._model))
        self._bound_is_current = True

    def reset_state(self):
        super().reset_state()
        if self._model is not None and self._model.built:
            self._read_bound()

    def update_state(self, y_true, y_pred, sample_weight=None):
        if self._model is None and self.fixed_lipschitz is None:
            raise ValueError(
                f"{self.name} needs the model's bound: create it as CertifiedAccuracy({self.epsilon:g}, model=model) "
                "(a loaded model's metric must be given its model again) or pass a proven `lipschitz`"
            )
        if self._model is not None and not self._bound_is_current:
            # Keras resets compiled metrics before it has built them, so the first evaluation after compile()
            # would miss its reset: read the bound when the first update is traced (or run eagerly).
            self._read_bound()
        return super().update_state(certified_mask(y_true, y_pred, self.epsilon, self.lipschitz),
                                    sample_weight=sample_weight)

    def get_config(self) -> dict:
        return {"epsilon": self.epsilon, "lipschitz": self.fixed_lipschitz, "name": self.name, "dtype": self.dtype}
