"""1-Lipschitz layers for classifiers (AOL, SLL, L2-norm pooling, invertible down-sampling) against independent
references: the SVD of explicit matrices (kernels, explicit Toeplitz matrices, autodiff Jacobians), NumPy
re-derivations, central finite differences in float64, and their plain exports."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from references import jacobian_matrix, top_singular_value, toeplitz_matrix
from tf_lipschitz.analysis import bounds
from tf_lipschitz.analysis import convert
from tf_lipschitz.layers import (
    AOLConv2D,
    AOLDense,
    GlobalL2NormPooling2D,
    InvertibleDownSampling,
    L2NormPooling2D,
    LipschitzLayer,
    SLLConv2D,
    SLLDense,
)
from tf_lipschitz.layers.aol import aol_conv_scale, aol_dense_scale, conv_gram
from tf_lipschitz.layers.sll import sll_conv_t, sll_dense_t

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
    got = np.abs(np.asarray(conv_gram(kernel, strides))).sum(axis=(1, 2, 4)).max(axis=0)  # max over phases
    np.testing.assert_allclose(got, expected, rtol=1e-8)


def test_conv_gram_of_one_channel_is_the_self_correlation():
    k = rng(3).normal(size=(3, 2))
    g = np.asarray(conv_gram(k.reshape(3, 2, 1, 1)))[0, :, :, 0, 0]
    expected = np.zeros((5, 3))  # Σ_a k[a] k[a + Δ], Δ centred
    for dh in range(-2, 3):
        for dw in range(-1, 2):
            expected[dh + 2, dw + 1] = sum(k[a, b] * k[a + dh, b + dw] for a in range(3) for b in range(2)
                                           if 0 <= a + dh < 3 and 0 <= b + dw < 2)
    np.testing.assert_allclose(g, expected, rtol=1e-12)


def test_aol_strided_conv_falls_back_to_the_stride_one_scale_when_phases_cancel():
    # [1, 1, −1] with stride 2: phase 0 alone has row sum 6, the stride-1 self-correlation only 5 (its Δ = ±1
    # entries cancel), so the stride-1 scale is the larger one; both bound the layer.
    kernel = np.array([1.0, 1.0, -1.0]).reshape(1, 3, 1, 1)
    assert float(aol_conv_scale(kernel, (2, 2))[0]) == pytest.approx(5 ** -0.5, rel=1e-6)
    assert float(aol_conv_scale(kernel, (1, 1))[0]) == pytest.approx(5 ** -0.5, rel=1e-6)
    t = toeplitz_matrix(kernel * 5 ** -0.5, 1, 9, (2, 2), "same")
    assert top_singular_value(t) <= 1 + 1e-12


def test_aol_conv_bound_without_a_static_input_size_is_the_guarantee():
    layer = AOLConv2D(2, 3, padding="same", activation="relu")
    keras.Sequential([keras.Input((None, None, 2)), layer])
    assert layer.lipschitz_bound() == 1.0


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
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    xla = tf.function(lambda t: model(t), jit_compile=True)
    np.testing.assert_allclose(xla(x).numpy(), model(x).numpy(), atol=1e-5)
    assert all(isinstance(layer, LipschitzLayer) and layer.lipschitz_bound() <= 1 + TOL
               for layer in (model.layers[0], model.layers[2]))


# ---------------------------------------------------------------- pooling


def _numpy_l2_pool(x, pool, strides, padding):
    """L2-norm pooling with plain loops and TF's 'same' padding rule, times 1/√(⌈ph/sh⌉·⌈pw/sw⌉)."""
    (ph, pw), (sh, sw) = pool, strides
    n, h, w, c = x.shape
    if padding == "same":
        oh, ow = -(-h // sh), -(-w // sw)
        th, tw = max((oh - 1) * sh + ph - h, 0), max((ow - 1) * sw + pw - w, 0)
        x = np.pad(x, ((0, 0), (th // 2, th - th // 2), (tw // 2, tw - tw // 2), (0, 0)))
    else:
        oh, ow = (h - ph) // sh + 1, (w - pw) // sw + 1
    out = np.zeros((n, oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            window = x[:, i * sh:i * sh + ph, j * sw:j * sw + pw]
            out[:, i, j] = np.sqrt(np.sum(window ** 2, axis=(1, 2)))
    return out / np.sqrt(np.ceil(ph / sh) * np.ceil(pw / sw))


@pytest.mark.parametrize("pool,strides,padding", [((2, 2), (2, 2), "valid"), ((3, 3), (2, 2), "same"),
                                                  ((3, 2), (1, 2), "valid"), ((2, 3), (3, 1), "same")])
def test_l2_norm_pooling_matches_numpy_and_is_one_lipschitz(pool, strides, padding):
    x = rng(11).normal(size=(2, 7, 6, 2)).astype("float32")
    layer = L2NormPooling2D(pool, strides, padding)
    y = np.asarray(layer(x))
    np.testing.assert_allclose(y, _numpy_l2_pool(x, pool, strides, padding), rtol=1e-5, atol=1e-5)
    assert y.shape[1:] == layer.compute_output_shape((None, 7, 6, 2))[1:]
    assert top_singular_value(jacobian_matrix(layer, (7, 6, 2), x[0])) <= 1 + TOL


def test_l2_norm_pooling_scale_is_tight_for_overlapping_windows():
    # A spike on a pixel inside ⌈3/2⌉² = 4 windows moves each of them by its size: the ratio is exactly 1.
    layer = L2NormPooling2D(3, 2, "valid")
    spike = np.zeros((1, 7, 7, 1), "float32")
    spike[0, 2, 2, 0] = 1.0
    moved = np.linalg.norm(np.asarray(layer(spike)) - np.asarray(layer(np.zeros_like(spike))))
    assert moved == pytest.approx(1.0, abs=1e-5)
    assert layer.lipschitz_bound() == 1.0


def test_global_l2_norm_pooling_matches_numpy_and_has_gradient_zero_at_zero():
    x = rng(12).normal(size=(3, 4, 5, 2)).astype("float32")
    layer = GlobalL2NormPooling2D()
    np.testing.assert_allclose(np.asarray(layer(x)), np.sqrt(np.sum(x ** 2, axis=(1, 2))), rtol=1e-5)
    assert GlobalL2NormPooling2D(keepdims=True)(x).shape == (3, 1, 1, 2)
    zero = tf.zeros((1, 4, 5, 2))
    with tf.GradientTape() as tape:
        tape.watch(zero)
        y = tf.reduce_sum(layer(zero))
    assert np.array_equal(tape.gradient(y, zero).numpy(), np.zeros((1, 4, 5, 2)))


@pytest.mark.parametrize("make", [lambda: L2NormPooling2D(3, 2, "same", dtype="float64"),
                                  lambda: GlobalL2NormPooling2D(dtype="float64")])
def test_norm_pooling_input_gradient_matches_finite_differences(make):
    layer = make()
    x = rng(13).normal(size=(1, 5, 5, 2))
    weights = rng(14).normal(size=layer.compute_output_shape(x.shape))
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        loss = tf.reduce_sum(layer(xt) * weights)
    grad = tape.gradient(loss, xt).numpy()
    np.testing.assert_allclose(grad, numeric_gradient(lambda v: float(tf.reduce_sum(layer(v) * weights)), x),
                               rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("pool", [2, (2, 3)])
def test_invertible_down_sampling_is_tf_space_to_depth_and_an_isometry(pool):
    x = rng(15).normal(size=(2, 6, 6, 3)).astype("float32")
    layer = InvertibleDownSampling(pool)
    y = np.asarray(layer(x))
    if pool == 2:
        np.testing.assert_array_equal(y, tf.nn.space_to_depth(x, 2).numpy())
    np.testing.assert_allclose(np.linalg.norm(y.reshape(2, -1), axis=1), np.linalg.norm(x.reshape(2, -1), axis=1),
                               rtol=1e-6)
    assert np.array_equal(np.sort(y.ravel()), np.sort(x.ravel()))  # a permutation of the entries
    plain = layer.export_plain()
    assert {type(sub).__name__ for sub in plain.layers} == {"Reshape", "Permute"}
    np.testing.assert_array_equal(np.asarray(plain(x)), y)


def test_pooling_layers_reject_bad_arguments():
    with pytest.raises(ValueError, match="pool_size"):
        L2NormPooling2D(0)
    with pytest.raises(ValueError, match="padding"):
        L2NormPooling2D(2, padding="full")
    with pytest.raises(ValueError, match="data_format"):
        GlobalL2NormPooling2D(data_format="channels_first")
    with pytest.raises(ValueError, match="multiples of pool_size"):
        InvertibleDownSampling(2)(np.zeros((1, 5, 4, 1), "float32"))


# ---------------------------------------------------------------- SLL


def _randomize(layer, seed):
    """Random bias and log q, so the tests exercise T's weights and ReLU's kinks away from the initial values."""
    layer.bias.assign(rng(seed).normal(size=layer.bias.shape) * 0.5)
    layer.log_q.assign(rng(seed + 1).normal(size=layer.log_q.shape))
    return layer


def test_sll_dense_t_matches_numpy_and_dominates_the_gram_matrix():
    w, q = rng(20).normal(size=(5, 4)), np.exp(rng(21).normal(size=4))
    gram = w.T @ w
    expected = np.abs(gram) @ q / q
    t = np.asarray(sll_dense_t(w, q))
    np.testing.assert_allclose(t, expected, rtol=1e-9)
    assert np.linalg.eigvalsh(np.diag(t) - gram).min() >= -1e-9


@pytest.mark.parametrize("kernel_shape", [(3, 3, 2, 3), (2, 3, 3, 2)])
def test_sll_conv_t_matches_the_explicit_toeplitz_matrix(kernel_shape):
    # Interior rows of |C Cᵀ| (hidden space) weighted by q, from the explicit 'valid' convolution matrix.
    kernel, q = rng(22).normal(size=kernel_shape), np.exp(rng(23).normal(size=kernel_shape[-1]))
    size, hidden = 14, kernel_shape[-1]
    c = toeplitz_matrix(kernel, size, size, (1, 1), "valid")
    out = size - max(kernel_shape[:2]) + 1
    weights = np.tile(q, c.shape[0] // hidden)
    sums = (np.abs(c @ c.T) @ weights / weights).reshape(-1, hidden)
    rows = np.arange(c.shape[0] // hidden).reshape(size - kernel_shape[0] + 1, size - kernel_shape[1] + 1)
    interior = rows[4:-4, 4:-4].ravel() if out > 8 else rows.ravel()
    np.testing.assert_allclose(np.asarray(sll_conv_t(kernel, q)), sums[interior].max(axis=0), rtol=1e-8)


@pytest.mark.parametrize("make,shape", [
    (lambda: SLLDense(6), (5,)),
    (lambda: SLLDense(3), (5,)),
    (lambda: SLLConv2D(3, 3), (6, 6, 2)),
    (lambda: SLLConv2D(4, (2, 3)), (6, 6, 2)),
])
def test_sll_jacobian_is_symmetric_with_norm_at_most_one(make, shape):
    layer = make()
    layer.build((None,) + shape)
    _randomize(layer, 24)
    for seed in (25, 26):
        jac = jacobian_matrix(layer, shape, rng(seed).normal(size=shape))
        np.testing.assert_allclose(jac, jac.T, atol=1e-5)  # the 'up' map is the exact adjoint of the 'down' map
        assert top_singular_value(jac) <= 1 + TOL
        assert top_singular_value(jac - np.eye(len(jac))) > 0.1  # the residual branch is active


def test_sll_can_reach_norm_one_and_is_not_the_identity():
    # W = one unit column: T = 1 and the Jacobian is the reflection I − 2 w wᵀ where the unit is active.
    layer = SLLDense(1)
    layer.build((None, 3))
    w = np.array([[0.6], [0.8], [0.0]])
    layer.kernel.assign(w)
    layer.bias.assign([10.0])
    jac = jacobian_matrix(layer, (3,), np.zeros(3))
    np.testing.assert_allclose(jac, np.eye(3) - 2 * w @ w.T, atol=1e-5)
    assert top_singular_value(jac) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("make,shape", [(lambda: SLLDense(3, dtype="float64"), (2, 4)),
                                        (lambda: SLLConv2D(2, 3, dtype="float64"), (1, 4, 4, 2))])
def test_sll_weight_gradients_match_finite_differences(make, shape):
    layer = make()
    layer.build(shape)
    _randomize(layer, 27)
    x = rng(28).normal(size=shape)
    weights = rng(29).normal(size=shape)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x) * weights)
    grads = tape.gradient(loss, [layer.kernel, layer.bias, layer.log_q])
    for variable, grad in zip([layer.kernel, layer.bias, layer.log_q], grads):
        value = variable.numpy().copy()

        def loss_at(v, variable=variable):
            variable.assign(v)
            return float(tf.reduce_sum(layer(x) * weights))

        numeric = numeric_gradient(loss_at, value)
        variable.assign(value)
        np.testing.assert_allclose(grad.numpy(), numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("make,shape", [(lambda: SLLDense(6), (5,)), (lambda: SLLConv2D(3, 3), (6, 6, 2))])
def test_sll_exports_a_plain_block_and_round_trips(make, shape, tmp_path):
    model = keras.Sequential([keras.Input(shape), make()])
    _randomize(model.layers[0], 30)
    x = rng(31).normal(size=(3,) + shape).astype("float32")
    expected = model.predict(x, verbose=0)
    block = model.layers[0].export_plain()
    assert {type(layer).__name__ for layer in block.layers} <= {"InputLayer", "Dense", "Conv2D", "Conv2DTranspose",
                                                                 "Add"}
    np.testing.assert_allclose(np.asarray(block(x)), expected, atol=1e-5)
    np.testing.assert_allclose(convert.export_plain(model).predict(x, verbose=0), expected, atol=1e-5)
    if len(shape) == 1:  # the export's graph bound is the documented triangle inequality, above the layer's 1
        w = model.layers[0].kernel.numpy()
        t = np.asarray(sll_dense_t(w, np.exp(model.layers[0].log_q.numpy())))
        expected_bound = 1 + top_singular_value(w) * top_singular_value(2 * w / t)
        assert bounds.model_bound(block) == pytest.approx(expected_bound, rel=1e-5)
    path = os.path.join(tmp_path, "sll.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.layers[0].get_config() == model.layers[0].get_config()
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, atol=1e-6)


def test_sll_layers_reject_bad_arguments():
    with pytest.raises(ValueError, match="hidden_units"):
        SLLDense(0)
    with pytest.raises(ValueError, match="hidden_filters"):
        SLLConv2D(-2)
    with pytest.raises(ValueError, match="kernel_size"):
        SLLConv2D(4, 0)
    with pytest.raises(ValueError, match="features"):
        SLLDense(4)(np.zeros((1, 3, 3), "float32"))


# ---------------------------------------------------------------- models of them


def _classifier(size=8):
    return keras.Sequential([
        keras.Input((size, size, 2)),
        AOLConv2D(4, 3, padding="same", activation="relu"),
        SLLConv2D(6, 3),
        L2NormPooling2D(3, 2, "same"),
        InvertibleDownSampling(2),
        AOLConv2D(6, 3, strides=2, padding="same"),
        GlobalL2NormPooling2D(),
        SLLDense(8),
        AOLDense(3),
    ])


def test_graph_bound_of_a_classifier_is_the_product_of_its_layers_and_bounds_its_jacobian():
    model = _classifier()
    expected = 1.0
    for layer in model.layers:
        expected *= layer.lipschitz_bound()
    dense = model.layers[-1]
    d = np.sum(np.abs(dense.kernel.numpy() @ dense.kernel.numpy().T), axis=1) ** -0.5
    assert dense.lipschitz_bound() == pytest.approx(top_singular_value(d[:, None] * dense.kernel.numpy()), rel=1e-5)
    assert bounds.model_bound(model) == pytest.approx(expected, rel=1e-12)
    assert expected <= 1 + TOL
    x = rng(16).normal(size=(2, 8, 8, 2)).astype("float32")
    for sample in x:
        assert top_singular_value(jacobian_matrix(model, (8, 8, 2), sample)) <= bounds.model_bound(model) + TOL


def test_classifier_exports_and_round_trips(tmp_path):
    model = _classifier()
    x = rng(17).normal(size=(3, 8, 8, 2)).astype("float32")
    expected = model.predict(x, verbose=0)
    plain = convert.export_plain(model)
    exported = [type(layer).__name__ for layer in plain.layers]
    assert exported[0] == exported[4] == "Conv2D" and exported[7] == "Dense"  # AOL: plain layers, weights baked in
    assert exported[1] == exported[6] == "Functional"  # SLL: plain functional blocks
    assert exported[3] == "Sequential"  # invertible down-sampling: Reshape, Permute, Reshape
    np.testing.assert_allclose(plain.predict(x, verbose=0), expected, atol=1e-5)
    path = os.path.join(tmp_path, "classifier.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert [type(a) for a in loaded.layers] == [type(b) for b in model.layers]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, atol=1e-6)


def test_classifier_runs_under_mixed_precision_with_float32_weights():
    keras.utils.set_random_seed(0)
    reference = _classifier()
    keras.mixed_precision.set_global_policy("mixed_float16")
    keras.utils.set_random_seed(0)
    model = _classifier()
    model.set_weights(reference.get_weights())
    assert all(w.dtype == "float32" for w in model.weights)
    x = rng(32).normal(size=(2, 8, 8, 2)).astype("float32")
    y = model(x)
    assert y.dtype == "float16"
    np.testing.assert_allclose(np.asarray(y, np.float32), np.asarray(reference(x)), atol=2e-3)
