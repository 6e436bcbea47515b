"""Shared pieces of the penalties (package-internal): the result type, distances, reductions, checks, numerics.

Every penalty module builds on these; nothing here draws random numbers (`noise`) or samples ε (`epsilon`).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence

import keras
import tensorflow as tf

from tf_lipschitz.foundations.validation import check_float

Tensor = Any
TINY = 1e-12


class PenaltyResult(NamedTuple):
    """A penalty and its diagnostics, all float32 scalars (per replica under a distribution strategy).

    Attributes:
        penalty: The batch mean to add, times λ, to the loss; differentiable with respect to f's weights.
        ratio_mean: Mean over the batch of the per-sample Lipschitz estimate (no gradient).
        ratio_max: Its maximum over the batch (no gradient).
        violation_fraction: Fraction of samples whose estimate exceeds the target K (no gradient).
    """

    penalty: Tensor
    ratio_mean: Tensor
    ratio_max: Tensor
    violation_fraction: Tensor

    def logs(self, prefix: str = "") -> dict[str, Tensor]:
        """The four values as a dict keyed `{prefix}penalty`, `{prefix}ratio_mean`, ... for `fit` logs."""
        return {f"{prefix}{name}": value for name, value in self._asdict().items()}


# ----------------------------------------------------------------------------------------------- metrics
def flat(t: Tensor) -> Tensor:
    """(batch, ...) → float32 (batch, n); n stays static when the non-batch shape is (a (batch,) tensor: n = 1)."""
    t = tf.cast(t, tf.float32)
    n = t.shape[1:].num_elements() if t.shape.rank is not None else None
    return tf.reshape(t, (tf.shape(t)[0], -1 if n is None else n))


def flat_outputs(y: Any) -> Tensor:
    """A model output (a tensor or a nest of them) as one float32 (batch, m) tensor."""
    parts = [flat(t) for t in tf.nest.flatten(y)]
    return parts[0] if len(parts) == 1 else tf.concat(parts, axis=1)


def safe_sqrt(s: Tensor) -> Tensor:
    """√s with a zero (not NaN) gradient at s = 0; a NaN stays NaN so that bad input is not hidden."""
    zero = tf.equal(s, 0.0)
    return tf.where(zero, 0.0, tf.sqrt(tf.where(zero, 1.0, s)))


def safe_div(num: Tensor, den: Tensor) -> Tensor:
    """num / den, and 0 (with zero gradient) where den is 0: a sample that did not move carries no information."""
    zero = tf.equal(den, 0.0)
    return tf.where(zero, 0.0, num / tf.where(zero, 1.0, den))


def _d_abs(a: Tensor, b: Tensor) -> Tensor:
    return tf.reduce_sum(tf.abs(a - b), axis=1)


def _d_l2(a: Tensor, b: Tensor) -> Tensor:
    return safe_sqrt(tf.reduce_sum(tf.square(a - b), axis=1))


def _d_kl(logits_p: Tensor, logits_q: Tensor) -> Tensor:
    log_p = tf.nn.log_softmax(logits_p, axis=1)
    return tf.reduce_sum(tf.exp(log_p) * (log_p - tf.nn.log_softmax(logits_q, axis=1)), axis=1)


def _d_mse_logits(a: Tensor, b: Tensor) -> Tensor:
    return tf.reduce_mean(tf.square(a - b), axis=1)


def _d_linf(d: Tensor) -> Tensor:
    return tf.reduce_max(tf.abs(d), axis=1)


def _d_trivial(d: Tensor) -> Tensor:
    return tf.cast(tf.reduce_any(tf.not_equal(d, 0.0), axis=1), tf.float32)


# d_Y(f(x), f(y)) on (batch, m) outputs; "abs" is the sum of absolute differences (|·| for a scalar critic).
D_Y: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "abs": _d_abs,
    "l2": _d_l2,
    "kl": _d_kl,
    "mse_logits": _d_mse_logits,
}
# d_X(x, y) of the displacement y − x, flattened to (batch, n); "trivial" is Eq. (14) (VAT's view).
D_X: dict[str, Callable[[Tensor], Tensor]] = {
    "l2": lambda d: safe_sqrt(tf.reduce_sum(tf.square(d), axis=1)),
    "l1": lambda d: tf.reduce_sum(tf.abs(d), axis=1),
    "linf": _d_linf,
    "trivial": _d_trivial,
}
REDUCTIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "squared": tf.square,
    "abs": lambda v: v,
    "squared+abs": lambda v: tf.square(v) + v,
}
VALID_D_Y = tuple(D_Y)
VALID_D_X = tuple(D_X)
VALID_REDUCTIONS = tuple(REDUCTIONS)
SAMPLES = ("interpolate", "real", "fake", "both")
# Statistics of the adversarial ratios that estimate ‖f‖_L in the unconstrained WGAN (`penalties.unconstrained`).
STATISTICS = ("max", "mean")


def lookup(table: dict, name: str, arg: str):
    if name not in table:
        raise ValueError(f"`{arg}` must be one of {tuple(table)}. Received: {arg}={name!r}")
    return table[name]


# ------------------------------------------------------------------------------------- validation, numerics
def check_positive(value, name: str, allow_zero: bool = False):
    """Checks a Python number with `validation.check_float` (> 0, or >= 0 with `allow_zero`); tensors pass as is."""
    if isinstance(value, (tf.Tensor, tf.Variable)):
        return value
    return check_float(name, value, 0.0, inclusive=allow_zero)


def check_clip(clip: Sequence[float] | None) -> tuple[float, float] | None:
    if clip is None:
        return None
    if len(clip) != 2 or not clip[0] < clip[1]:
        raise ValueError(f"`clip` must be None or a pair (low, high) with low < high. Received: clip={clip!r}")
    return float(clip[0]), float(clip[1])


def resolve_check(check_numerics: bool | None) -> bool:
    return tf.executing_eagerly() if check_numerics is None else bool(check_numerics)


def checked(t: Tensor, name: str, check: bool) -> Tensor:
    """Raises `InvalidArgumentError` naming `name` if t has NaN or Inf; with `check` off adds no op at all."""
    if not check:
        return t
    return tf.nest.map_structure(
        lambda v: tf.debugging.check_numerics(v, f"Lipschitz penalty: `{name}` contains NaN or Inf"), t
    )


def as_float_input(x: Tensor) -> Tensor:
    x = tf.convert_to_tensor(x)
    if not x.dtype.is_floating:
        x = tf.cast(x, keras.config.floatx())
    return x


def per_sample(v: Tensor, like: Tensor) -> Tensor:
    """(batch,) → (batch, 1, ..., 1) broadcastable against `like`."""
    return tf.reshape(v, [-1] + [1] * (like.shape.rank - 1))


def with_diagnostics(penalty: Tensor, ratio: Tensor, K: float) -> PenaltyResult:
    """Packs a penalty with the mean, max and fraction above K of a per-sample float32 ratio."""
    ratio = tf.stop_gradient(ratio)
    return PenaltyResult(
        penalty=penalty,
        ratio_mean=tf.reduce_mean(ratio),
        ratio_max=tf.reduce_max(ratio),
        violation_fraction=tf.reduce_mean(tf.cast(ratio > K, tf.float32)),
    )


def penalty_result(ratio: Tensor, K: float, reduction: str) -> PenaltyResult:
    """Penalty mean(reduction((ratio − K)_+)) of a per-sample float32 ratio, with its diagnostics."""
    penalty = tf.reduce_mean(REDUCTIONS[reduction](tf.nn.relu(ratio - K)))
    return with_diagnostics(penalty, ratio, K)


def quotient_ratio(fx: Tensor, fy: Tensor, x: Tensor, y: Tensor, d_x: Callable, d_y: Callable) -> Tensor:
    """d_Y(f(x), f(y)) / d_X(x, y) per sample in float32; 0 where x = y. The denominator is a constant."""
    distance_x = d_x(flat(tf.stop_gradient(y)) - flat(tf.stop_gradient(x)))
    return safe_div(d_y(fx, fy), distance_x)


