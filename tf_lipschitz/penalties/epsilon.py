"""ε samplers of ALR: per-sample perturbation lengths P_ε, fixed, uniform, relative to the batch, or half-normal.

`epsilon` arguments of the penalties accept a float (fixed ε), a (low, high) uniform range, or a callable
`sampler(x, seed) -> (batch,)` such as `RelativeEpsilon` or `HalfNormalEpsilon`.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence, Union

import keras
import tensorflow as tf

from tf_lipschitz.penalties._core import flat
from tf_lipschitz.penalties.noise import normal, uniform

__all__ = [
    "Epsilon", "EpsilonSampler", "typical_pairwise_distance", "RelativeEpsilon", "HalfNormalEpsilon",
    "check_epsilon", "sample_epsilon",
]

Tensor = Any
EpsilonSampler = Callable[[Tensor, Tensor], Tensor]
Epsilon = Union[float, Sequence[float], EpsilonSampler]


def typical_pairwise_distance(x: Tensor) -> Tensor:
    """Root-mean-square L2 distance between two distinct samples of the batch, √(2·n/(n−1)·mean‖xᵢ − x̄‖²).

    An O(n·d) scale of the data (no n×n matrix), used by `RelativeEpsilon`. No gradient flows through it.

    Args:
        x: A batch (n, ...).

    Returns:
        A float32 scalar (0 for a batch of one sample).

    Example:
        >>> round(float(typical_pairwise_distance([[0.0, 0.0], [3.0, 4.0]])), 4)
        5.0
    """
    x = flat(tf.stop_gradient(tf.convert_to_tensor(x)))
    n = tf.cast(tf.shape(x)[0], tf.float32)
    spread = tf.reduce_mean(tf.reduce_sum(tf.square(x - tf.reduce_mean(x, axis=0)), axis=1))
    return tf.sqrt(2.0 * n / tf.maximum(n - 1.0, 1.0) * spread)


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class RelativeEpsilon:
    """P_ε = U[low, high] × the batch's typical pairwise distance: ε relative to the scale of the data.

    Lets one setting serve data of any scale: with ε ~ U[0.1, 10] on CIFAR-10 in [-1, 1] (typical distance
    ≈ 40) the fractions are ≈ [0.003, 0.25]; with ε ~ U[0.01, 0.5] on two unit 2-D Gaussians 3 apart (≈ 2 to
    2.9) they are ≈ [0.004, 0.2].

    Args:
        low: Smallest fraction, ≥ 0.
        high: Largest fraction, ≥ low.

    Example:
        >>> sampler = RelativeEpsilon(0.1, 0.1)
        >>> eps = sampler(tf.constant([[0.0, 0.0], [30.0, 40.0]]), tf.constant([1, 2]))
        >>> [round(float(e), 4) for e in eps]
        [5.0, 5.0]
    """

    def __init__(self, low: float = 0.003, high: float = 0.2):
        if not 0.0 <= low <= high:
            raise ValueError(f"RelativeEpsilon needs 0 <= low <= high. Received: low={low}, high={high}")
        self.low, self.high = float(low), float(high)

    def __call__(self, x: Tensor, seed: Tensor) -> Tensor:
        return uniform(tf.shape(x)[:1], seed, 0, self.low, self.high) * typical_pairwise_distance(x)

    def get_config(self) -> dict:
        return {"low": self.low, "high": self.high}

    @classmethod
    def from_config(cls, config: dict) -> "RelativeEpsilon":
        return cls(**config)

    def __repr__(self) -> str:
        return f"RelativeEpsilon(low={self.low}, high={self.high})"


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class HalfNormalEpsilon:
    """P_ε = min(|N(0, stddev²)| + offset, maximum): the clipped half-normal of the paper's toy experiment (§4.2).

    `HalfNormalEpsilon(1e-6, offset=1e-6, maximum=1e-5)` draws from [1e-6, 1e-5], denser near the low end.

    Args:
        stddev: Standard deviation of the normal, > 0.
        offset: Added to the absolute value, ≥ 0.
        maximum: Upper clip, or None.

    Example:
        >>> eps = HalfNormalEpsilon(1.0, offset=0.5, maximum=0.7)(tf.zeros((4, 2)), tf.constant([1, 2]))
        >>> bool(tf.reduce_all((eps >= 0.5) & (eps <= 0.7)))
        True
    """

    def __init__(self, stddev: float, offset: float = 0.0, maximum: float | None = None):
        if stddev <= 0 or offset < 0 or (maximum is not None and maximum <= offset):
            raise ValueError(
                "HalfNormalEpsilon needs stddev > 0, offset >= 0 and maximum > offset. "
                f"Received: stddev={stddev}, offset={offset}, maximum={maximum}"
            )
        self.stddev, self.offset, self.maximum = float(stddev), float(offset), maximum

    def __call__(self, x: Tensor, seed: Tensor) -> Tensor:
        eps = tf.abs(self.stddev * normal(tf.shape(x)[:1], seed, 0)) + self.offset
        return eps if self.maximum is None else tf.minimum(eps, self.maximum)

    def get_config(self) -> dict:
        return {"stddev": self.stddev, "offset": self.offset, "maximum": self.maximum}

    @classmethod
    def from_config(cls, config: dict) -> "HalfNormalEpsilon":
        return cls(**config)

    def __repr__(self) -> str:
        return f"HalfNormalEpsilon(stddev={self.stddev}, offset={self.offset}, maximum={self.maximum})"


def check_epsilon(epsilon: Epsilon) -> None:
    if callable(epsilon):
        return
    if isinstance(epsilon, (int, float)) and not isinstance(epsilon, bool):
        if epsilon <= 0:
            raise ValueError(f"A fixed `epsilon` must be > 0. Received: epsilon={epsilon!r}")
        return
    if isinstance(epsilon, (tuple, list)) and len(epsilon) == 2 and 0 <= epsilon[0] <= epsilon[1]:
        return
    raise ValueError(
        "`epsilon` must be a float > 0, a (low, high) range with 0 <= low <= high, or a callable "
        f"sampler(x, seed) -> (batch,). Received: epsilon={epsilon!r}"
    )


def sample_epsilon(epsilon: Epsilon, x: Tensor, seed: Tensor) -> Tensor:
    """Per-sample ε ~ P_ε as a float32 (batch,) tensor."""
    batch = tf.shape(x)[0]
    if callable(epsilon):
        eps = tf.reshape(tf.cast(epsilon(x, seed), tf.float32), (-1,))
        return tf.broadcast_to(eps, (batch,))
    if isinstance(epsilon, (int, float)):
        return tf.fill((batch,), tf.constant(float(epsilon), tf.float32))
    low, high = float(epsilon[0]), float(epsilon[1])
    return uniform(tf.shape(x)[:1], seed, 0, low, high)

