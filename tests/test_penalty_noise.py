"""The penalties' counter-based noise at its extremes: uniform strictly inside (0, 1), normal always finite."""

from unittest import mock

import numpy as np
import tensorflow as tf

from tf_lipschitz.penalties import noise


def test_extreme_bits_give_finite_normals():
    extremes = tf.constant([0, 1, 0xFFFFFFFF, 0xFFFFFF00, 0x80000000], tf.uint32)
    with mock.patch.object(noise, "random_bits", lambda shape, seed, stream: tf.reshape(extremes, shape)):
        unit = noise.uniform(tf.constant([5]), tf.constant([0, 0]), 0).numpy()
        normal = noise.normal(tf.constant([5]), tf.constant([0, 0]), 0).numpy()
    assert np.all(unit > 0.0) and np.all(unit < 1.0)
    assert np.all(np.isfinite(normal)) and np.max(np.abs(normal)) < 6.0
