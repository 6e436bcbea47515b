"""1-Lipschitz layers for classifiers (AOL, SLL, L2-norm pooling, invertible down-sampling) against independent
references: the SVD of explicit matrices (kernels, explicit Toeplitz matrices, autodiff Jacobians), NumPy
re-derivations, central finite differences in float64, and their plain exports."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from references import jacobian_matrix, top_singular_value, toeplitz_matrix
from tf_lipschitz import bounds, convert
from tf_lipschitz.layers import AOLConv2D, AOLDense, LipschitzLayer
from tf_lipschitz.layers.aol import aol_conv_scale, aol_dense_scale, conv_gram

TOL = 1e-5


def rng(seed):
    return np.random.default_rng(seed)


def linear_part(layer):
    """The layer's map minus its value at 0: the linear map itself for a linear layer with bias."""
    return lambda x: layer(x) - layer(tf.zeros_like(x))


def numeric_gradient(f, x, h=1e-6):
    """Central finite differences of a scalar function of a float64 array."""
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = h
        grad[index] = (f(x + step) - f(x - step)) / (2 * h)
    return grad


# ---------------------------------------------------------------- AOL


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (4, 4)])
def test_aol_dense_scale_matches_numpy_and_bounds_the_svd(shape):
    w = rng(0).normal(size=shape)
    expected = np.sum(np.abs(w @ w.T), axis=1) ** -0.5
    d = np.asarray(aol_dense_scale(w))
    np.testing.assert_allclose(d, expected, rtol=1e-9)
    assert top_singular_value(d[:, None] * w) <= 1 + 1e-12


def test_aol_dense_is_an_isometry_for_orthogonal_columns():
    q, _ = np.linalg.qr(rng(1).normal(size=(4, 4)))
    layer = AOLDense(4, use_bias=False)
    layer.build((None, 4))
    layer.kernel.assign(3.0 * q)  # AOL removes the scale of an orthogonal matrix exactly
    np.testing.assert_allclose(np.asarray(layer.normalized_kernel()), q, atol=1e-5)


def _interior_gram_row_sums(kernel, strides):
    """Max over interior input pixels of Σ_j |TᵀT|_ij per input channel, T the explicit 'valid' Toeplitz matrix on an
    input large enough that every interior pixel sees the whole kernel: an independent re-derivation of AOL's sums."""
    kh, kw, cin, _ = kernel.shape
    size = 4 * max(kh, kw) + 4 * max(strides)
    t = toeplitz_matrix(kernel, size, size, strides, "valid")
    gram = np.abs(t.T @ t)
    sums = gram.sum(axis=1).reshape(size, size, cin)
    margin = 2 * max(kh, kw)
    return sums[margin:size - margin, margin:size - margin].reshape(-1, cin).max(axis=0)


@pytest.mark.parametrize("kernel_shape,strides", [((3, 3, 2, 3), (1, 1)), ((3, 3, 2, 3), (2, 2)),
                                                  ((4, 3, 2, 2), (2, 1)), ((2, 2, 3, 2), (2, 2))])
def test_conv_gram_row_sums_match_the_explicit_toeplitz_matrix(kernel_shape, strides):
    kernel = rng(2).normal(size=kernel_shape)
    expected = _interior_gram_row_sums(kernel, strides)
    got = np.asarray(aol_conv_scale(kernel, strides)) ** -2.0
    np.testing.assert_allclose(got, expected, rtol=1e-8)


def test_conv_gram_of_one_channel_is_the_self_correlation():
    k = rng(3).normal(size=(3, 2))
    g = np.asarray(conv_gram(k.reshape(3, 2, 1, 1)))[0, :, :, 0, 0]
    from scipy.signal import correlate2d

    np.testing.assert_allclose(g, correlate2d(k, k, mode="full")[::-1, ::-1], rtol=1e-12)


@pytest.mark.parametrize("kernel_size,strides,padding,dilation", [
    (3, 1, "same", 1), (3, 1, "valid", 1), (3, 2, "same", 1), (3, 2, "valid", 1), (4, 2, "same", 1),
    (2, 1, "same", 1), (3, 1, "same", 2), (5, 3, "valid", 1),
])
def test_aol_conv_operator_norm_is_at_most_one(kernel_size, strides, padding, dilation):
    layer = AOLConv2D(3, kernel_size, strides=strides, padding=padding, dilation_rate=dilation,
                      kernel_initializer=keras.initializers.RandomNormal(seed=5), bias_initializer="ones")
    jac = jacobian_matrix(linear_part(layer), (6, 6, 2))
    norm = top_singular_value(jac)
    assert norm <= 1 + TOL
    assert norm > 0.3  # the rescaling does not collapse the map (the bound is not met trivially)
    assert layer.lipschitz_bound() >= norm - TOL


def test_aol_conv_with_a_dirac_times_orthogonal_kernel_is_exactly_norm_one():
    q, _ = np.linalg.qr(rng(4).normal(size=(3, 3)))
    kernel = np.zeros((3, 3, 3, 3))
    kernel[1, 1] = 2.0 * q
    layer = AOLConv2D(3, 3, padding="same", use_bias=False)
    layer.build((None, 5, 5, 3))
    layer.kernel.assign(kernel)
    assert top_singular_value(jacobian_matrix(layer, (5, 5, 3))) == pytest.approx(1.0, abs=1e-5)


def test_aol_layers_export_to_plain_layers_with_the_same_outputs():
    x = rng(5).normal(size=(4, 6, 6, 2)).astype("float32")
    model = keras.Sequential([keras.Input((6, 6, 2)), AOLConv2D(4, 3, strides=2, padding="same", activation="relu"),
                              keras.layers.Flatten(), AOLDense(3)])
    plain = convert.export_plain(model)
    assert [type(layer).__name__ for layer in plain.layers] == ["Conv2D", "Flatten", "Dense"]
    np.testing.assert_allclose(plain.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)


@pytest.mark.parametrize("make,shape", [
    (lambda: AOLDense(3, activation="tanh", dtype="float64"), (2, 4)),
    (lambda: AOLConv2D(2, 3, strides=2, padding="same", dtype="float64"), (1, 5, 5, 2)),
])
def test_aol_kernel_gradient_matches_finite_differences(make, shape):
    layer = make()
    x = rng(6).normal(size=shape)
    layer(x)
    weights = rng(7).normal(size=shape[:1] + tuple(layer.compute_output_shape(shape)[1:]))

    def loss_at(kernel):
        layer.kernel.assign(kernel)
        return float(tf.reduce_sum(layer(x) * weights))

    kernel = np.asarray(layer.kernel.numpy(), np.float64)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x) * weights)
    grad = tape.gradient(loss, layer.kernel).numpy()
    np.testing.assert_allclose(grad, numeric_gradient(loss_at, kernel), rtol=1e-5, atol=1e-7)


def test_aol_keras_round_trip(tmp_path):
    x = rng(8).normal(size=(2, 6, 6, 2)).astype("float32")
    model = keras.Sequential([keras.Input((6, 6, 2)), AOLConv2D(3, 3, strides=2, padding="valid"),
                              keras.layers.Flatten(), AOLDense(2, activation="relu")])
    path = os.path.join(tmp_path, "aol.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert [type(layer) for layer in loaded.layers] == [AOLConv2D, keras.layers.Flatten, AOLDense]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_aol_conv_rejects_bad_arguments():
    with pytest.raises(ValueError, match="padding"):
        AOLConv2D(2, 3, padding="causal")
    with pytest.raises(ValueError, match="groups"):
        AOLConv2D(4, 3, groups=2)


def test_aol_trains_in_fit_and_runs_under_xla():
    x = rng(9).normal(size=(16, 6, 6, 2)).astype("float32")
    y = rng(10).normal(size=(16, 2)).astype("float32")
    model = keras.Sequential([keras.Input((6, 6, 2)), AOLConv2D(4, 3, padding="same", activation="relu"),
                              keras.layers.Flatten(), AOLDense(2)])
    model.compile("adam", "mse", jit_compile=False)
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    xla = tf.function(lambda t: model(t), jit_compile=True)
    np.testing.assert_allclose(xla(x).numpy(), model(x).numpy(), atol=1e-5)
    assert all(isinstance(layer, LipschitzLayer) and layer.lipschitz_bound() <= 1 + TOL
               for layer in (model.layers[0], model.layers[2]))
