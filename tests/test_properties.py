"""Property-based tests (hypothesis) of the layers and penalties over random shapes, strides, paddings, k and ε."""

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from references import top_singular_value, toeplitz_matrix
from tf_lipschitz.layers import SpectralNormConv2D, SpectralNormDense, ToeplitzNormConv2D
from tf_lipschitz.ops import certified
from tf_lipschitz.penalties import adversarial_lipschitz_penalty, gradient_penalty

SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def converged(layer, input_shape, iterations=400):
    layer.build(input_shape)

    @tf.function
    def iterate():
        for _ in tf.range(iterations):  # one traced step in a tf.while_loop
            layer.advance_power_iteration()

    iterate()
    return layer


@SETTINGS
@given(units=st.integers(1, 6), fan_in=st.integers(1, 6), k_sn=st.floats(0.05, 20.0), seed=st.integers(0, 99))
def test_spectral_norm_dense_norm_is_k_sn(units, fan_in, k_sn, seed):
    tf.keras.utils.set_random_seed(seed)
    layer = converged(SpectralNormDense(units, k_sn=k_sn), (None, fan_in))
    kernel = np.asarray(layer.normalized_kernel())
    assert np.all(np.isfinite(kernel))
    assert top_singular_value(kernel) == pytest.approx(k_sn, rel=1e-2)


@SETTINGS
@given(
    kernel_size=st.integers(1, 3), c_in=st.integers(1, 3), c_out=st.integers(1, 3), strides=st.integers(1, 2),
    padding=st.sampled_from(["same", "valid"]), height=st.integers(3, 7), width=st.integers(3, 7),
    k=st.floats(0.1, 8.0), seed=st.integers(0, 99),
)
def test_toeplitz_conv_operator_norm_is_at_most_k(kernel_size, c_in, c_out, strides, padding, height, width, k, seed):
    tf.keras.utils.set_random_seed(seed)
    layer = converged(ToeplitzNormConv2D(c_out, kernel_size, k_sn=k, strides=strides, padding=padding, use_bias=False),
                      (None, height, width, c_in))
    kernel = np.asarray(layer.normalized_kernel())
    assert np.all(np.isfinite(kernel))
    norm = top_singular_value(toeplitz_matrix(kernel, height, width, (strides,) * 2, padding))
    assert norm <= k * (1 + 1e-2)
    assert norm == pytest.approx(k, rel=2e-2)


@SETTINGS
@given(kernel_size=st.integers(1, 3), strides=st.integers(1, 2), k_sn=st.floats(0.1, 5.0), seed=st.integers(0, 99))
def test_spectral_norm_conv_respects_its_reshaped_bound(kernel_size, strides, k_sn, seed):
    tf.keras.utils.set_random_seed(seed)
    layer = converged(SpectralNormConv2D(2, kernel_size, k_sn=k_sn, strides=strides, padding="same", use_bias=False),
                      (None, 6, 6, 2))
    kernel = np.asarray(layer.normalized_kernel())
    norm = top_singular_value(toeplitz_matrix(kernel, 6, 6, (strides,) * 2, "same"))
    assert norm <= layer.lipschitz_bound() * (1 + 1e-2)


@SETTINGS
@given(
    kernel_size=st.integers(1, 3), c_in=st.integers(1, 3), c_out=st.integers(1, 3), strides=st.integers(1, 2),
    dilation=st.integers(1, 2), padding=st.sampled_from(["same", "valid"]), height=st.integers(5, 9),
    width=st.integers(5, 9), iterations=st.integers(0, 3), seed=st.integers(0, 99),
)
def test_toeplitz_bound_is_a_true_upper_bound_at_any_convergence(kernel_size, c_in, c_out, strides, dilation, padding,
                                                                  height, width, iterations, seed):
    # Whatever the power-iteration state (0 to 3 steps from a random vector), the stated bound holds: the
    # explicit Toeplitz norm of the kernel actually used never exceeds it; the Fourier path alone is also a bound.
    tf.keras.utils.set_random_seed(seed)
    dilation = 1 if strides > 1 else dilation  # Keras refuses both > 1
    layer = converged(ToeplitzNormConv2D(c_out, kernel_size, k_sn=1.0, strides=strides, padding=padding,
                                         dilation_rate=dilation, use_bias=False), (None, height, width, c_in),
                      iterations=iterations)
    kernel = np.asarray(layer.normalized_kernel(), dtype=np.float64)
    norm = top_singular_value(toeplitz_matrix(kernel, height, width, (strides,) * 2, padding, (dilation,) * 2))
    assert norm <= layer.lipschitz_bound() * (1 + 1e-6)
    assert norm <= certified.conv_norm_bound(kernel, (height, width), strides, padding, dilation,
                                             explicit_limit=0) * (1 + 1e-9)


def _mlp(dim, seed):
    rng = np.random.default_rng(seed)
    w1 = tf.constant(rng.normal(size=(dim, 8)), tf.float32)
    w2 = tf.constant(rng.normal(size=(8, 1)), tf.float32)
    return lambda x: tf.tanh(tf.reshape(x, (tf.shape(x)[0], -1)) @ w1) @ w2


@SETTINGS
@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=3), batch=st.integers(1, 5),
    low=st.floats(1e-6, 1.0), span=st.floats(0.0, 10.0), xi=st.floats(1e-3, 10.0),
    power_iterations=st.integers(0, 3), scale=st.sampled_from([0.0, 1e-3, 1.0, 100.0]), seed=st.integers(0, 99),
)
def test_penalties_never_nan(shape, batch, low, span, xi, power_iterations, scale, seed):
    dim = int(np.prod(shape))
    f = _mlp(dim, seed)
    x = tf.constant(scale * np.random.default_rng(seed).normal(size=(batch, *shape)), tf.float32)
    epsilon = (low, low + span) if span > 0 else low
    result = adversarial_lipschitz_penalty(f, x, xi=xi, epsilon=epsilon, power_iterations=power_iterations,
                                           seed=seed, reduction="squared+abs")
    assert all(np.isfinite(float(v)) for v in result)
    constant = adversarial_lipschitz_penalty(lambda t: tf.zeros((tf.shape(t)[0], 1)), x, xi=xi, epsilon=epsilon,
                                             seed=seed)
    assert float(constant.penalty) == 0.0 and float(constant.ratio_max) == 0.0
    gp = gradient_penalty(f, x, x, seed=seed)
    assert all(np.isfinite(float(v)) for v in gp)
