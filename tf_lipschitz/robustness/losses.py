"""Losses for Lipschitz classifiers: Kantorovich–Rubinstein, hinge margins, their sums, and cross-entropy with τ.

With a 1-Lipschitz logit map the certified radius is a logit margin (see `certificates`), so these losses ask for
margins instead of confident probabilities. Notation: f the logits, c the true class, s = +1 for the positive class
of a binary problem and −1 for the negative one; labels of one-logit problems may be {0, 1} or {−1, 1}, labels of
multi-class problems integers (N,) or one-hot rows (N, C). Each loss is a small function returning one value per
sample (averaged by Keras' reduction) and a serializable `keras.losses.Loss` around it.

* Kantorovich–Rubinstein (one column per class, one-vs-rest): −(mean of f_k over the samples of class k − mean of
  f_k over the others), averaged over columns. Its batch mean is the negated dual estimate of the Wasserstein-1
  distance between the class and the rest (a batch-level quantity: sample weights are not renormalized).
* Hinge: max(0, margin − s·f).
* Hinge-KR: KR + α·hinge (Serrurier et al., 2021).
* Multiclass hinge: the mean over j ≠ c of max(0, margin − (f_c − f_j)), a margin on every logit difference, the
  quantity the certificate divides by √2·L.
* Multiclass hinge-KR: one-vs-rest KR + α·multiclass hinge.
* Temperature-scaled categorical cross-entropy: CE(y, softmax(τ·f))/τ. A small τ asks for large margins (robust,
  less accurate), a large τ for small ones; dividing by τ keeps the gradient's scale comparable across τ.

Reference:
    Serrurier, Mamalet, González-Sanz, Boissin, Loubes and del Barrio, "Achieving robustness in classification
    using optimal transport with hinge regularization", CVPR 2021.
    Béthune, Boissin, Serrurier, Mamalet, Friedrich and González-Sanz, "Pay attention to your loss: understanding
    misconceptions about 1-Lipschitz neural networks", NeurIPS 2022 (τ-scaled cross-entropy).
"""

from __future__ import annotations

import keras
from keras import ops

from tf_lipschitz.foundations.validation import check_float

__all__ = [
    "kantorovich_rubinstein",
    "hinge_margin",
    "multiclass_hinge",
    "tau_categorical_crossentropy",
    "KantorovichRubinstein",
    "HingeMargin",
    "HingeKR",
    "MulticlassHinge",
    "MulticlassHingeKR",
    "TauCategoricalCrossentropy",
]


def _logits(y_pred):
    y_pred = ops.convert_to_tensor(y_pred)
    return ops.expand_dims(y_pred, -1) if len(y_pred.shape) == 1 else y_pred


def _one_hot(y_true, y_pred):
    """{0, 1} targets shaped like the logits: one-hot rows for C ≥ 2, (N, 1) positives for one logit."""
    classes = y_pred.shape[-1]
    y_true = ops.convert_to_tensor(y_true)
    if classes == 1:
        return ops.cast(ops.greater(ops.reshape(ops.cast(y_true, y_pred.dtype), (-1, 1)), 0), y_pred.dtype)
    if len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == classes:
        return ops.cast(ops.greater(ops.cast(y_true, y_pred.dtype), 0), y_pred.dtype)
    return ops.one_hot(ops.reshape(ops.cast(y_true, "int32"), (-1,)), classes, dtype=y_pred.dtype)


def kantorovich_rubinstein(y_true, y_pred):
    """Per-sample terms whose batch mean is −(E[f_k | class k] − E[f_k | not k]), averaged over the columns k.

    Args:
        y_true: Labels (see module docstring).
        y_pred: Logits (N, C) or (N, 1).

    Returns:
        (N,) per-sample values; a class absent from the batch contributes only its other side.

    Example:
        >>> float(np.mean(kantorovich_rubinstein(np.array([1, 0]), np.array([[2.0], [-1.0]]))))
        -3.0
    """
    y_pred = _logits(y_pred)
    positive = _one_hot(y_true, y_pred)
    n = ops.cast(ops.shape(y_pred)[0], y_pred.dtype)
    n_pos = ops.sum(positive, axis=0)
    weight = positive / ops.maximum(n_pos, 1.0) - (1.0 - positive) / ops.maximum(n - n_pos, 1.0)
    return -ops.mean(n * weight * y_pred, axis=-1)


def _sign(y_true, y_pred):
    return 2.0 * _one_hot(y_true, y_pred) - 1.0


def hinge_margin(y_true, y_pred, margin: float = 1.0):
    """max(0, margin − s·f) per sample (averaged over columns for several one-vs-rest outputs).

    Args:
        y_true: Labels.
        y_pred: Logits.
        margin: The margin asked of s·f (> 0).

    Returns:
        (N,) values.

    Example:
        >>> np.asarray(hinge_margin(np.array([1, -1]), np.array([[0.25], [-2.0]]), margin=1.0))
        array([0.75, 0.  ])
    """
    y_pred = _logits(y_pred)
    return ops.mean(ops.relu(margin - _sign(y_true, y_pred) * y_pred), axis=-1)


def multiclass_hinge(y_true, y_pred, margin: float = 1.0):
    """The mean over j ≠ c of max(0, margin − (f_c − f_j)) per sample.

    Args:
        y_true: Integer labels (N,) or one-hot rows (N, C).
        y_pred: Logits (N, C), C ≥ 2.
        margin: The margin asked of each difference f_c − f_j (> 0).

    Returns:
        (N,) values.

    Example:
        >>> np.asarray(multiclass_hinge(np.array([0]), np.array([[1.0, 0.5, -1.0]]), margin=1.0))
        array([0.25])
    """
    y_pred = _logits(y_pred)
    classes = y_pred.shape[-1]
    if classes is None or classes < 2:
        raise ValueError(f"The multiclass hinge needs logits (N, C) with C ≥ 2; received shape {tuple(y_pred.shape)}")
    target = _one_hot(y_true, y_pred)
    true_logit = ops.sum(target * y_pred, axis=-1, keepdims=True)
    terms = (1.0 - target) * ops.relu(margin - (true_logit - y_pred))
    return ops.sum(terms, axis=-1) / (classes - 1)


def tau_categorical_crossentropy(y_true, y_pred, tau: float = 1.0):
    """CE(y, softmax(τ·f)) / τ per sample.

    Args:
        y_true: Integer labels (N,) or one-hot rows (N, C).
        y_pred: Logits (N, C).
        tau: Temperature τ > 0.

    Returns:
        (N,) values.

    Example:
        >>> round(float(tau_categorical_crossentropy(np.array([0]), np.array([[0.0, 0.0]]), tau=2.0)[0]), 6)
        0.346574
    """
    y_pred = _logits(y_pred)
    target = _one_hot(y_true, y_pred)
    log_probs = ops.log_softmax(tau * y_pred, axis=-1)
    return -ops.sum(target * log_probs, axis=-1) / tau


def _check_margin(margin) -> float:
    return check_float("margin", margin)


def _check_alpha(alpha) -> float:
    return check_float("alpha", alpha, inclusive=True)


class _ConfiguredLoss(keras.losses.Loss):
    """A Loss whose extra hyper-parameters are plain attributes listed in `_keys` (serialized by get_config)."""

    _keys: tuple = ()

    def get_config(self) -> dict:
        return {**super().get_config(), **{key: getattr(self, key) for key in self._keys}}


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class KantorovichRubinstein(_ConfiguredLoss):
    """Negated Kantorovich–Rubinstein dual estimate, one-vs-rest per output column (see `kantorovich_rubinstein`).

    Args:
        reduction, name, dtype: As for `keras.losses.Loss`.

    Example:
        >>> loss = KantorovichRubinstein()
        >>> float(loss(np.array([1, 0]), np.array([[2.0], [-1.0]])))
        -3.0
    """

    def __init__(self, reduction="sum_over_batch_size", name="kantorovich_rubinstein", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        return kantorovich_rubinstein(y_true, y_pred)


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class HingeMargin(_ConfiguredLoss):
    """Binary hinge max(0, margin − s·f); labels {0, 1} or {−1, 1}.

    Args:
        margin: The margin asked of s·f (> 0); with an L-Lipschitz f it certifies radius margin/L.
        reduction, name, dtype: As for `keras.losses.Loss`.

    Raises:
        ValueError: if `margin` ≤ 0.

    Example:
        >>> float(HingeMargin(margin=1.0)(np.array([1, 0]), np.array([[0.25], [-2.0]])))
        0.375
    """

    _keys = ("margin",)

    def __init__(self, margin: float = 1.0, reduction="sum_over_batch_size", name="hinge_margin", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.margin = _check_margin(margin)

    def call(self, y_true, y_pred):
        return hinge_margin(y_true, y_pred, self.margin)


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class HingeKR(_ConfiguredLoss):
    """Kantorovich–Rubinstein plus α times the hinge: KR + α·max(0, margin − s·f).

    Args:
        alpha: Weight α ≥ 0 of the hinge term.
        margin: The hinge's margin (> 0).
        reduction, name, dtype: As for `keras.losses.Loss`.

    Raises:
        ValueError: if `alpha` < 0 or `margin` ≤ 0.

    Example:
        >>> float(HingeKR(alpha=2.0)(np.array([1, 0]), np.array([[0.25], [-2.0]])))
        -1.5

    Reference:
        Serrurier et al., "Achieving robustness in classification using optimal transport with hinge
        regularization", CVPR 2021.
    """

    _keys = ("alpha", "margin")

    def __init__(self, alpha: float = 10.0, margin: float = 1.0, reduction="sum_over_batch_size", name="hinge_kr",
                 dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.alpha, self.margin = _check_alpha(alpha), _check_margin(margin)

    def call(self, y_true, y_pred):
        return kantorovich_rubinstein(y_true, y_pred) + self.alpha * hinge_margin(y_true, y_pred, self.margin)


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class MulticlassHinge(_ConfiguredLoss):
    """Mean over j ≠ c of max(0, margin − (f_c − f_j)); integer or one-hot labels.

    Args:
        margin: The margin asked of every logit difference (> 0); with an L-Lipschitz f a margin m on the runner-up
            certifies radius m/(√2·L).
        reduction, name, dtype: As for `keras.losses.Loss`.

    Raises:
        ValueError: if `margin` ≤ 0.

    Example:
        >>> float(MulticlassHinge(margin=1.0)(np.array([0]), np.array([[1.0, 0.5, -1.0]])))
        0.25
    """

    _keys = ("margin",)

    def __init__(self, margin: float = 1.0, reduction="sum_over_batch_size", name="multiclass_hinge", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.margin = _check_margin(margin)

    def call(self, y_true, y_pred):
        return multiclass_hinge(y_true, y_pred, self.margin)


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class MulticlassHingeKR(_ConfiguredLoss):
    """One-vs-rest Kantorovich–Rubinstein plus α times the multiclass hinge.

    Args:
        alpha: Weight α ≥ 0 of the hinge term.
        margin: The hinge's margin (> 0).
        reduction, name, dtype: As for `keras.losses.Loss`.

    Raises:
        ValueError: if `alpha` < 0 or `margin` ≤ 0.

    Example:
        >>> loss = MulticlassHingeKR(alpha=10.0, margin=1.0)
        >>> loss(np.array([0, 1]), np.zeros((2, 3))).shape
        TensorShape([])
    """

    _keys = ("alpha", "margin")

    def __init__(self, alpha: float = 10.0, margin: float = 1.0, reduction="sum_over_batch_size",
                 name="multiclass_hinge_kr", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.alpha, self.margin = _check_alpha(alpha), _check_margin(margin)

    def call(self, y_true, y_pred):
        return kantorovich_rubinstein(y_true, y_pred) + self.alpha * multiclass_hinge(y_true, y_pred, self.margin)


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class TauCategoricalCrossentropy(_ConfiguredLoss):
    """Categorical cross-entropy of softmax(τ·f), divided by τ; integer or one-hot labels.

    Args:
        tau: Temperature τ > 0 (deel-lip's MNIST tutorial: τ = 100 for accuracy, τ = 3 for robustness).
        reduction, name, dtype: As for `keras.losses.Loss`.

    Raises:
        ValueError: if `tau` ≤ 0.

    Example:
        >>> round(float(TauCategoricalCrossentropy(tau=2.0)(np.array([0]), np.array([[0.0, 0.0]]))), 6)
        0.346574

    Reference:
        Béthune et al., "Pay attention to your loss: understanding misconceptions about 1-Lipschitz neural
        networks", NeurIPS 2022.
    """

    _keys = ("tau",)

    def __init__(self, tau: float = 1.0, reduction="sum_over_batch_size", name="tau_categorical_crossentropy",
                 dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.tau = check_float("tau", tau)

    def call(self, y_true, y_pred):
        return tau_categorical_crossentropy(y_true, y_pred, self.tau)
