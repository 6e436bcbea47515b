"""Seeds and counter-based noise: the one home of the library's stateless randomness.

* `random_bits`, `uniform`, `normal`: noise that is a pure function of a (2,) seed. TF's stateless normal costs
  about one forward pass of a small critic on CPU, and its default algorithm is ~100× slower again under XLA on
  CPU. The power iteration only needs a generic random start, so the noise here is a counter-based hash
  (murmur3's 32-bit finalizer, keyed by the seed) of the element index: about one elementwise pass in graphs,
  fused under XLA, and the same numbers in eager mode, in graphs and under XLA.
* `per_replica`: the one place where a replica's id is folded into a seed, so that the replicas of a
  `tf.distribute` strategy draw different noise (the *global* replica id: the same numbers reach replica r
  whether the replicas sit in one process or in several workers).
* `seed_tensor`: the (2,) seed of a penalty's `seed` argument; `StepSeeds`: the seeds of one training step, a
  pure function of (base seed, step, call index), for the models' training loops.
"""

from __future__ import annotations

from typing import Any, Union

import keras
import tensorflow as tf

__all__ = ["Seed", "random_bits", "uniform", "normal", "per_replica", "seed_tensor", "StepSeeds"]

Tensor = Any
Seed = Union[int, keras.random.SeedGenerator, None]

_GOLDEN = 0x9E3779B1


def _fmix32(h: Tensor) -> Tensor:
    """murmur3's finalizer: a bijection of uint32 with full avalanche."""
    for shift, multiplier in ((16, 0x85EBCA6B), (13, 0xC2B2AE35)):
        h = tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, shift)) * tf.constant(multiplier, tf.uint32)
    return tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, 16))


def random_bits(shape: Tensor, seed: Tensor, stream: int) -> Tensor:
    """uint32 noise of `shape` from a (2,) int32 seed; `stream` selects an independent sequence."""
    key = tf.bitcast(tf.cast(seed, tf.int32), tf.uint32)
    key0 = _fmix32(tf.bitwise.bitwise_xor(key[0], tf.constant((stream * _GOLDEN + 1) & 0xFFFFFFFF, tf.uint32)))
    key1 = _fmix32(key[1] + key0)
    h = tf.bitcast(tf.range(tf.reduce_prod(shape), dtype=tf.int32), tf.uint32) * tf.constant(_GOLDEN, tf.uint32)
    h = tf.bitwise.bitwise_xor(h + key0, tf.bitwise.right_shift(h + key0, 16)) * tf.constant(0x85EBCA6B, tf.uint32)
    # The second multiplier is keyed too (and kept odd, so the map stays a bijection).
    odd_key = tf.bitwise.bitwise_or(tf.bitwise.bitwise_xor(tf.constant(0xC2B2AE35, tf.uint32), key1), 1)
    h = tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, 13)) * odd_key
    return tf.reshape(tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, 16)), shape)


def uniform(shape: Tensor, seed: Tensor, stream: int, low: float = 0.0, high: float = 1.0) -> Tensor:
    """float32 U(low, high) noise, never exactly at the ends (23 random mantissa bits)."""
    bits = tf.bitwise.bitwise_or(tf.bitwise.right_shift(random_bits(shape, seed, stream), 9), 0x3F800000)
    unit = tf.bitcast(bits, tf.float32) - (1.0 - 2.0**-24)  # [1, 2) → (0, 1)
    return low + (high - low) * unit


def normal(shape: Tensor, seed: Tensor, stream: int) -> Tensor:
    """float32 N(0, 1) noise by the inverse normal CDF."""
    return tf.math.ndtri(uniform(shape, seed, stream))


def per_replica(seed: Tensor) -> Tensor:
    """The (2,) int32 `seed` made distinct per replica when called in a replica of a distribution strategy.

    Outside a strategy (or in its cross-replica context) the seed is returned as it is, so single-device noise
    does not depend on this step.
    """
    replica = tf.distribute.get_replica_context()
    if replica is None or not tf.distribute.has_strategy():
        return seed
    replica_id = tf.cast(replica.replica_id_in_sync_group, tf.uint32)
    shifted = tf.bitcast(tf.cast(seed, tf.int32), tf.uint32) + replica_id * tf.constant(0x3C6EF372, tf.uint32)
    return tf.bitcast(random_bits((2,), tf.bitcast(shifted, tf.int32), stream=0x7EB), tf.int32)


def seed_tensor(seed: Seed) -> Tensor:
    """A (2,) int32 seed: fixed for an int, fresh on every call for a SeedGenerator, and per replica.

    A Python int gives the same noise on every call (also inside `tf.function`, and the same numbers eagerly, in
    graphs and under XLA), which tests want and training loops must avoid: pass a `keras.random.SeedGenerator`
    (or None, Keras' global generator) there.
    """
    if isinstance(seed, bool) or not (seed is None or isinstance(seed, (int, keras.random.SeedGenerator))):
        raise ValueError(f"`seed` must be None, an int or a keras.random.SeedGenerator. Received: seed={seed!r}")
    if isinstance(seed, int):
        base = tf.bitcast(tf.constant([seed & 0xFFFFFFFF, 0], tf.uint32), tf.int32)
    elif isinstance(seed, keras.random.SeedGenerator):  # advances the generator's state variable
        base = tf.bitcast(tf.cast(seed.next(), tf.uint32), tf.int32)
    else:
        base = keras.random.randint((2,), 0, tf.int32.max, dtype="int32", seed=None)
    return per_replica(base)


class StepSeeds(keras.random.SeedGenerator):
    """Stateless seeds that are a pure function of (seed, training step, call index), and of the replica.

    A look-alike of `keras.random.SeedGenerator` (so it can be passed as `seed=` to the penalties) with
    no state of its own: `next()` folds a per-trace call counter into a base seed made from the model's
    `seed` and its step counter. Why not a real `SeedGenerator`: its state is not written by
    `save_weights` (so `BackupAndRestore` would replay the noise of step 0), and under
    `MirroredStrategy` every replica would draw the same noise. Here the step counter is an ordinary
    saved variable, and every draw is made per replica (`per_replica`): the penalties fold the replica into
    the seeds they take with `seed_tensor`, `normal` and `uniform` fold it into theirs.

    Create one per traced step, as a local (not as a layer attribute).

    Args:
        seed: Python int, the model's base seed.
        step: Scalar integer tensor, the training step.

    Example:
        >>> a = StepSeeds(7, tf.constant(3, tf.int64)).normal((2,))
        >>> bool(tf.reduce_all(a == StepSeeds(7, tf.constant(3, tf.int64)).normal((2,))))
        True
    """

    def __init__(self, seed: int, step):  # noqa: D107 - no super().__init__: no state variable.
        base = tf.constant([seed & 0x7FFFFFFF, (seed >> 31) & 0x7FFFFFFF], tf.int32)
        self._base = tf.random.experimental.stateless_fold_in(base, tf.cast(step, tf.int64), alg="philox")
        self._calls = 0

    def next(self, ordered=True):
        """A fresh (2,) int32 seed: the base folded with this object's call count (the same on every replica)."""
        self._calls += 1
        return tf.random.experimental.stateless_fold_in(self._base, self._calls, alg="philox")

    def normal(self, shape, dtype="float32"):
        """Standard normal noise of `shape` from the next seed, per replica (Philox, so XLA draws the same numbers)."""
        return tf.random.stateless_normal(shape, per_replica(self.next()), dtype=dtype, alg="philox")

    def uniform(self, shape, dtype="float32"):
        """U[0, 1) noise of `shape` from the next seed, per replica (Philox)."""
        return tf.random.stateless_uniform(shape, per_replica(self.next()), dtype=dtype, alg="philox")
