"""An L2 projected-gradient attack (PGD), used to check certificates from the other side.

A certificate says the prediction cannot change within radius r; an attack that finds a change inside r disproves
it. `pgd_l2` maximizes the margin loss max_{j≠k} f_j − f_k (k the class to move away from; −s·f for one logit) by
normalized gradient ascent inside the L2 ball of radius ε around each input, from `restarts` random starts (the
first at the input itself), and keeps any point whose prediction differs. `soundness_check` runs it at each
certified sample's radius (no change allowed) and at a multiple of it (changes expected: the attack works).

Reference:
    Madry, Makelov, Schmidt, Tsipras and Vladu, "Towards Deep Learning Models Resistant to Adversarial Attacks",
    ICLR 2018.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from tf_lipschitz.robustness import certificates
from tf_lipschitz.foundations.validation import check_float, check_int

__all__ = ["pgd_l2", "soundness_check", "SoundnessReport"]


def _margin_loss(logits, labels):
    """max_{j≠k} f_j − f_k per sample (> 0 exactly when the prediction is not k); −s·f for one logit."""
    if logits.shape[-1] == 1:
        sign = tf.cast(labels, logits.dtype) * 2.0 - 1.0
        return -sign * logits[:, 0]
    mask = tf.one_hot(labels, logits.shape[-1], dtype=logits.dtype)
    own = tf.reduce_sum(mask * logits, axis=-1)
    other = tf.reduce_max(logits - mask * 1e9, axis=-1)
    return other - own


def _predicted(logits):
    if logits.shape[-1] == 1:
        return tf.cast(logits[:, 0] > 0, tf.int64)
    return tf.argmax(logits, axis=-1)


def _flat_norm(v):
    return tf.sqrt(tf.reduce_sum(tf.reshape(v * v, (tf.shape(v)[0], -1)), axis=1))


def _per_sample(values, like):
    return tf.reshape(values, (-1,) + (1,) * (len(like.shape) - 1))


def _make_restart(model, steps: int, relative_step: float):
    """One traced PGD run from a start δ₀: (x, δ₀, labels, ε) → (a changed point or x, whether one was found).

    Every iterate is checked, the last one after the final step."""

    def changed_at(x, delta, labels):
        return tf.not_equal(_predicted(tf.cast(model(x + delta, training=False), x.dtype)), labels)

    @tf.function(reduce_retracing=True)
    def restart(x, delta, labels, epsilon):
        eps = _per_sample(epsilon, x)
        best = tf.identity(x)
        found = tf.zeros(tf.shape(x)[:1], tf.bool)
        for _ in tf.range(steps):
            with tf.GradientTape() as tape:
                tape.watch(delta)
                logits = tf.cast(model(x + delta, training=False), x.dtype)
                loss = tf.reduce_sum(_margin_loss(logits, labels))  # samples are independent: one gradient for all
            fresh = tf.logical_and(tf.not_equal(_predicted(logits), labels), tf.logical_not(found))
            best = tf.where(_per_sample(fresh, x), x + delta, best)
            found = tf.logical_or(found, fresh)
            grad = tape.gradient(loss, delta)
            grad = grad / _per_sample(tf.maximum(_flat_norm(grad), 1e-12), x)
            delta = delta + relative_step * eps * grad
            delta = delta * _per_sample(tf.minimum(1.0, epsilon / tf.maximum(_flat_norm(delta), 1e-12)), x)
        fresh = tf.logical_and(changed_at(x, delta, labels), tf.logical_not(found))
        return tf.where(_per_sample(fresh, x), x + delta, best), tf.logical_or(found, fresh)

    return restart


def _attack_batch(restart, x, labels, epsilon, restarts: int, rng: np.random.Generator):
    best, found = x.copy(), np.zeros(len(x), bool)
    per_sample = (-1,) + (1,) * (x.ndim - 1)
    for index in range(restarts):
        # The first start is the input; the others a uniform direction at a uniform fraction of the radius.
        delta = np.zeros_like(x)
        if index:
            noise = rng.standard_normal(x.shape).astype(np.float32)
            norms = np.sqrt(np.sum(noise.reshape(len(x), -1) ** 2, axis=1))
            delta = noise / np.maximum(norms, 1e-12).reshape(per_sample) * (
                epsilon * rng.uniform(size=len(x)).astype(np.float32)).reshape(per_sample)
        todo = ~found
        point, changed = restart(tf.constant(x[todo]), tf.constant(delta[todo]), tf.constant(labels[todo]),
                                 tf.constant(epsilon[todo]))
        rows = np.nonzero(todo)[0][changed.numpy()]
        best[rows] = point.numpy()[changed.numpy()]
        found[rows] = True
        if found.all():
            break
    return best, found


def pgd_l2(model: keras.Model, x, epsilon, labels=None, *, steps: int = 50, restarts: int = 5,
           step_size: float = 0.1, seed: int = 0, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """L2 PGD: looks for a point within distance ε of each input where the model's prediction is not `labels`.

    Each step moves δ by step_size·ε along the normalized gradient of the margin loss and projects it back onto
    the ball ‖δ‖₂ ≤ ε; no box constraint (a certificate holds in all of input space). Every iterate is checked, so
    a change seen at any step of any restart counts.

    Args:
        model: A Keras model from inputs to logits (C ≥ 2, or one logit with class 1 where f > 0).
        x: Inputs (N, ...).
        epsilon: The radius, one float or one per sample (N,), ≥ 0.
        labels: The classes to move away from (N,); default: the model's own predictions.
        steps: Gradient steps per restart (≥ 1).
        restarts: Starts per sample (≥ 1): the input itself, then random points in the ball.
        step_size: Step length relative to ε (> 0).
        seed: Seed of the random starts.
        batch_size: Samples per attack call.

    Returns:
        `(x_adv, changed)`: float32 points (the input where nothing was found) and a bool array (N,), True where the
        prediction at x_adv differs from `labels`.

    Raises:
        ValueError: for ε < 0, NaN inputs, or invalid counts.

    Example:
        >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
        >>> _ = m.layers[0].kernel.assign([[1.0], [0.0]])             # decision boundary x₁ = 0
        >>> x = np.array([[0.5, 0.0]], "float32")
        >>> pgd_l2(m, x, 0.4, steps=10)[1], pgd_l2(m, x, 0.6, steps=10)[1]
        (array([False]), array([ True]))
    """
    steps, restarts = check_int("steps", steps), check_int("restarts", restarts)
    step_size = check_float("step_size", step_size)
    batch_size = check_int("batch_size", batch_size)
    x = certificates._check_inputs(x).astype(np.float32)
    eps = np.broadcast_to(np.asarray(epsilon, dtype=np.float32), (len(x),)).copy()
    if not np.all(np.isfinite(eps)) or np.any(eps < 0):
        raise ValueError(f"`epsilon` must be finite and >= 0. Received: epsilon={epsilon!r}")
    if labels is None:
        labels = certificates._predictions(certificates.predict_logits(model, x, batch_size))
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if len(labels) != len(x):
        raise ValueError(f"`labels` must hold one label per sample ({len(x)}); received {len(labels)}")
    restart = _make_restart(model, steps, step_size)
    rng = np.random.default_rng(seed)
    adversarial, changed = [], []
    for i in range(0, len(x), batch_size):
        best, found = _attack_batch(restart, x[i:i + batch_size], labels[i:i + batch_size], eps[i:i + batch_size],
                                    restarts, rng)
        adversarial.append(best)
        changed.append(found)
    return np.concatenate(adversarial), np.concatenate(changed)


@dataclasses.dataclass(frozen=True)
class SoundnessReport:
    """What `soundness_check` found.

    Attributes:
        certified: Samples with a certified radius > 0 that were attacked.
        violations: Of those, samples whose prediction PGD changed within (1 − slack)·radius: must be 0.
        flipped_above: Of those, samples PGD changed within `multiple`·radius (shows the attack works).
        multiple: The radius multiple of the second attack.
        lipschitz: The bound the radii were computed with.
        max_violation_distance: The largest ‖x_adv − x‖/radius among violations (0.0 when there are none).
    """

    certified: int
    violations: int
    flipped_above: int
    multiple: float
    lipschitz: float
    max_violation_distance: float

    def __str__(self) -> str:
        return (f"{self.certified} certified samples: {self.violations} violations within the certified radius, "
                f"{self.flipped_above} ({100.0 * self.flipped_above / max(self.certified, 1):.1f} %) flipped within "
                f"{self.multiple:g}× the radius (L = {self.lipschitz:.4g})")


def soundness_check(model: keras.Model, x, lipschitz: float | None = None, *, multiple: float = 4.0,
                    slack: float = 1e-3, steps: int = 50, restarts: int = 5, step_size: float = 0.1, seed: int = 0,
                    batch_size: int = 256) -> SoundnessReport:
    """Attacks every sample with a certified radius > 0 at its radius and at `multiple` times it.

    The first attack is confined to (1 − slack)·r (the certificate is strict, and float32 logits carry ~1e-6
    relative error); any change there is a violation of the certificate. The second shows the same attack does
    change predictions once allowed further.

    Args:
        model: A Sequential or functional model from inputs to logits.
        x: Inputs (N, ...).
        lipschitz: The bound to certify with; None uses the model's proven bound.
        multiple: Radius multiple of the second attack (> 1).
        slack: Relative shrink of the first attack's radius, in [0, 1).
        steps, restarts, step_size, seed, batch_size: As for `pgd_l2`.

    Returns:
        A `SoundnessReport`.

    Raises:
        ValueError: as `certified_radius` and `pgd_l2`.

    Example:
        >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
        >>> _ = m.layers[0].kernel.assign([[1.0], [0.0]])
        >>> r = soundness_check(m, np.array([[0.5, 0.0], [-1.0, 1.0]], "float32"), steps=10, restarts=1)
        >>> r.certified, r.violations, r.flipped_above
        (2, 0, 2)
    """
    check_float("multiple", multiple, minimum=1.0)
    check_float("slack", slack, inclusive=True, maximum=0.999)
    if lipschitz is None:
        lipschitz = certificates.model_lipschitz(model)
    x = certificates._check_inputs(x).astype(np.float32)
    radius = certificates.certified_radius(model, x, lipschitz, batch_size=batch_size)
    keep = radius > 0
    x, radius = x[keep], radius[keep]
    if not len(x):
        return SoundnessReport(0, 0, 0, float(multiple), float(lipschitz), 0.0)
    options = dict(steps=steps, restarts=restarts, step_size=step_size, seed=seed, batch_size=batch_size)
    inside, violated = pgd_l2(model, x, radius * (1.0 - slack), **options)
    _, flipped = pgd_l2(model, x, radius * multiple, **options)
    distance = np.sqrt(np.sum((inside - x).reshape(len(x), -1).astype(np.float64) ** 2, axis=1)) / radius
    worst = float(distance[violated].max()) if violated.any() else 0.0
    return SoundnessReport(int(len(x)), int(violated.sum()), int(flipped.sum()), float(multiple), float(lipschitz),
                           worst)
