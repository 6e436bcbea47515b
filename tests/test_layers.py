"""Lipschitz layers against independent references: NumPy SVD of kernels and of explicit Toeplitz matrices."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from references import jacobian_matrix, top_singular_value, toeplitz_matrix
from tf_lipschitz import analysis
from tf_lipschitz import ops as lip_ops
from tf_lipschitz.constraints import WeightClip
from tf_lipschitz.layers import (
    LipschitzLayer,
    SpectralNormConv2D,
    SpectralNormDense,
    ToeplitzNormConv1D,
    ToeplitzNormConv2D,
    ToeplitzNormConv2DTranspose,
    ToeplitzNormConv3D,
    ToeplitzNormDepthwiseConv2D,
    ToeplitzNormSeparableConv2D,
    advance_power_iteration,
    power_iteration_frozen,
)


def converge(layer, steps=300):
    for _ in range(steps):
        layer.advance_power_iteration()


# ---------------------------------------------------------------- ops


@pytest.mark.parametrize("shape", [(7, 5), (3, 3, 4, 6)])
def test_spectral_norm_matches_numpy_svd(shape):
    w = np.random.default_rng(0).normal(size=shape).astype("float32")
    sigma, u, v = lip_ops.spectral_norm(w, power_iterations=200, seed=1)
    matrix = w.reshape(-1, shape[-1])
    assert float(sigma) == pytest.approx(top_singular_value(matrix), rel=1e-4)
    np.testing.assert_allclose(matrix @ np.asarray(v), float(sigma) * np.asarray(u), atol=1e-4)


@pytest.mark.parametrize(
    "strides,padding,dilation", [(1, "same", 1), (2, "same", 1), (1, "valid", 1), (2, "valid", 1), (1, "same", 2)]
)
def test_conv_operator_norm_matches_explicit_toeplitz(strides, padding, dilation):
    kernel = np.random.default_rng(1).normal(size=(3, 3, 2, 3)).astype("float32")
    exact = top_singular_value(toeplitz_matrix(kernel, 7, 6, (strides,) * 2, padding, (dilation,) * 2))
    estimate = lip_ops.conv_operator_norm(kernel, (7, 6, 2), strides, padding, dilation, power_iterations=300, seed=0)
    assert float(estimate) == pytest.approx(exact, rel=1e-3)


def test_explicit_toeplitz_reference_matches_keras_conv():
    kernel = np.random.default_rng(2).normal(size=(3, 2, 2, 3)).astype("float32")
    x = np.random.default_rng(3).normal(size=(1, 5, 6, 2)).astype("float32")
    for strides, padding in [(1, "same"), (2, "same"), (2, "valid")]:
        y = keras.ops.conv(x, kernel, strides=strides, padding=padding)
        t = toeplitz_matrix(kernel, 5, 6, (strides,) * 2, padding)
        np.testing.assert_allclose(t @ x.reshape(-1), np.asarray(y).reshape(-1), atol=1e-4)


def test_reshaped_bound_is_an_upper_bound_with_a_visible_gap():
    # An all-positive kernel: the true conv norm is far above σ(R_K) but within √n·σ(R_K).
    kernel = np.abs(np.random.default_rng(4).normal(size=(3, 3, 2, 2))).astype("float32")
    true_norm = top_singular_value(toeplitz_matrix(kernel, 8, 8))
    reshaped = top_singular_value(kernel.reshape(-1, 2))
    bound = float(lip_ops.reshaped_kernel_bound(kernel, power_iterations=200))
    assert bound == pytest.approx(3.0 * reshaped, rel=1e-4)
    assert reshaped * 1.5 < true_norm <= bound * (1 + 1e-4)


def test_upper_bound_of_plain_conv_chain_bounds_its_jacobian():
    model = keras.Sequential([keras.Input((6, 6, 2)), keras.layers.Conv2D(3, 3, padding="same", activation="relu"),
                              keras.layers.AveragePooling2D(2), keras.layers.Flatten(), keras.layers.Dense(1)])
    x = np.random.default_rng(6).normal(size=(8, 6, 6, 2)).astype("float32")
    assert analysis.empirical_lipschitz(model, x) <= analysis.lipschitz_upper_bound(model, power_iterations=200) * 1.001


def test_conv_operator_is_channels_last_whatever_the_global_data_format():
    kernel = np.random.default_rng(7).normal(size=(3, 3, 2, 3)).astype("float32")
    x = np.random.default_rng(8).normal(size=(1, 5, 6, 2)).astype("float32")
    y = np.random.default_rng(9).normal(size=(1, 3, 3, 3)).astype("float32")
    t = toeplitz_matrix(kernel, 5, 6, (2, 2), "same")
    previous = keras.config.image_data_format()
    keras.config.set_image_data_format("channels_first")
    try:
        operator, adjoint = lip_ops.conv_operator(kernel, x.shape, strides=2, padding="same")
        np.testing.assert_allclose(np.asarray(operator(x)).ravel(), t @ x.ravel(), atol=1e-4)
        np.testing.assert_allclose(np.asarray(adjoint(y)).ravel(), t.T @ y.ravel(), atol=1e-4)
        estimate = lip_ops.conv_operator_norm(kernel, (5, 6, 2), 2, "same", power_iterations=200, seed=0)
    finally:
        keras.config.set_image_data_format(previous)
    assert float(estimate) == pytest.approx(top_singular_value(t), rel=1e-3)


_PORTABILITY_SCRIPT = """
import numpy as np
from tf_lipschitz import ops
from tf_lipschitz.layers import ToeplitzNormConv2D
kernel = np.random.default_rng(1).normal(size=(3, 3, 2, 3)).astype("float32")
y = np.random.default_rng(2).normal(size=(1, 7, 6, 3)).astype("float32")
print(" ".join(map(str, np.asarray(ops.conv_transpose(y, kernel, (1, 7, 6, 2), 1, "same", 2)).ravel())))
layer = ToeplitzNormConv2D(3, 3, dilation_rate=2, padding="same")
layer(np.ones((2, 7, 6, 2), "float32"), training=True)
print(layer.lipschitz_bound())
"""


def test_dilated_conv_paths_run_without_the_onednn_kernels():
    # Without oneDNN, TF's CPU Conv2DBackpropInput refuses dilation > 1 (as on some AMD EPYC machines);
    # the adjoint as a gradient of tf.nn.convolution goes through space-to-batch instead.
    import subprocess
    import sys

    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0", "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": os.pathsep.join([os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                          os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", _PORTABILITY_SCRIPT], env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    adjoint_line, bound_line = result.stdout.strip().splitlines()[-2:]
    kernel = np.random.default_rng(1).normal(size=(3, 3, 2, 3)).astype("float32")
    y = np.random.default_rng(2).normal(size=(1, 7, 6, 3)).astype("float32")
    t = toeplitz_matrix(kernel, 7, 6, (1, 1), "same", (2, 2))
    np.testing.assert_allclose(np.array(adjoint_line.split(), float), t.T @ y.ravel(), atol=1e-4)
    assert float(bound_line) > 0


def test_power_iteration_never_nans_on_zero_operator():
    sigma, u, v = lip_ops.spectral_norm(np.zeros((3, 3), "float32"), power_iterations=3)
    assert float(sigma) == 0.0 and np.all(np.isfinite(u)) and np.all(np.isfinite(v))


def test_ops_argument_errors():
    with pytest.raises(ValueError, match="rank >= 2"):
        lip_ops.spectral_norm(np.ones((3,), "float32"))
    with pytest.raises(ValueError, match="rank 4"):
        lip_ops.conv_operator_norm(np.ones((3, 3), "float32"), (4, 4, 1))
    with pytest.raises(ValueError, match="padding"):
        lip_ops.conv_operator_norm(np.ones((3, 3, 1, 1), "float32"), (4, 4, 1), padding="causal")
    with pytest.raises(ValueError, match="power_iterations"):
        lip_ops.spectral_norm(np.ones((3, 3), "float32"), power_iterations=0)


# ---------------------------------------------------------------- layers: the promise


def layer_jacobian(layer, input_shape):
    x = tf.zeros((1,) + input_shape)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=False)
    return tape.jacobian(y, x).numpy().reshape(int(np.prod(y.shape)), -1)


@pytest.mark.parametrize("k_sn", [0.5, 1.0, 3.0])
def test_spectral_norm_dense_jacobian_has_norm_k_sn(k_sn):
    layer = SpectralNormDense(6, k_sn=k_sn, use_bias=False)
    layer.build((None, 5))
    converge(layer)
    assert top_singular_value(layer_jacobian(layer, (5,))) == pytest.approx(k_sn, rel=1e-4)


def test_spectral_norm_conv_normalizes_the_reshaped_kernel_not_the_operator():
    layer = SpectralNormConv2D(3, 3, k_sn=2.0, padding="same", use_bias=False,
                               kernel_initializer=keras.initializers.RandomUniform(0.0, 1.0))
    layer.build((None, 6, 6, 2))
    converge(layer)
    kernel = np.asarray(layer.normalized_kernel())
    assert top_singular_value(kernel.reshape(-1, 3)) == pytest.approx(2.0, rel=1e-4)
    jac_norm = top_singular_value(layer_jacobian(layer, (6, 6, 2)))
    assert 2.0 * 1.5 < jac_norm <= layer.lipschitz_bound() * (1 + 1e-4)  # the documented gap, and its bound
    assert top_singular_value(toeplitz_matrix(kernel, 6, 6)) == pytest.approx(jac_norm, rel=1e-4)


@pytest.mark.parametrize("strides", [1, 2])
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_toeplitz_conv_jacobian_has_norm_k(strides, padding):
    layer = ToeplitzNormConv2D(3, 3, k_sn=1.5, strides=strides, padding=padding, use_bias=False)
    layer.build((None, 8, 7, 2))
    converge(layer, 300)
    kernel = np.asarray(layer.normalized_kernel())
    explicit = toeplitz_matrix(kernel, 8, 7, (strides,) * 2, padding)
    assert top_singular_value(explicit) == pytest.approx(1.5, rel=0.01)
    assert top_singular_value(layer_jacobian(layer, (8, 7, 2))) == pytest.approx(1.5, rel=0.01)


def test_toeplitz_channels_first_matches_channels_last_norm():
    layer = ToeplitzNormConv2D(2, 3, k_sn=1.0, padding="same", use_bias=False, data_format="channels_first")
    layer.build((None, 2, 6, 5))
    converge(layer, 300)
    kernel = np.asarray(layer.normalized_kernel())
    assert top_singular_value(toeplitz_matrix(kernel, 6, 5)) == pytest.approx(1.0, rel=0.01)


# ---------------------------------------------------------------- layers: state and gradients


def test_state_advances_in_training_only_and_kernel_is_never_overwritten():
    layer = SpectralNormDense(4)
    x = np.random.default_rng(0).normal(size=(3, 5)).astype("float32")
    layer(x)
    kernel0 = np.array(layer._kernel)
    v0 = np.array(layer.power_iteration_vector)
    layer(x, training=False)
    np.testing.assert_array_equal(v0, layer.power_iteration_vector)
    layer(x, training=True)
    assert not np.allclose(v0, layer.power_iteration_vector)
    np.testing.assert_array_equal(kernel0, layer._kernel)


def test_frozen_context_and_explicit_advance_once_per_step():
    layer = SpectralNormDense(4)
    x = np.ones((2, 5), "float32")
    layer(x)

    @tf.function
    def step():
        advance_power_iteration(layer)
        with power_iteration_frozen(layer):
            return layer(x, training=True) + layer(2 * x, training=True) + layer(3 * x, training=True)

    expected = layer.power_iteration_vector.numpy()
    for _ in range(3):
        step()
        w = np.array(layer._kernel)
        expected = w.T @ (w @ expected)
        expected /= np.linalg.norm(expected)
        np.testing.assert_allclose(layer.power_iteration_vector.numpy(), expected, rtol=1e-4, atol=1e-6)


def test_freezing_one_model_leaves_another_traced_meanwhile_advancing():
    frozen, other = SpectralNormDense(3), SpectralNormDense(3)
    x = np.ones((2, 4), "float32")
    frozen(x), other(x)

    @tf.function
    def other_step():
        return other(x, training=True)

    v_frozen, v_other = frozen.power_iteration_vector.numpy(), other.power_iteration_vector.numpy()
    with power_iteration_frozen(frozen):
        frozen(x, training=True)
        other_step()  # traced while `frozen` is frozen: must still advance `other`, then and later
    np.testing.assert_array_equal(frozen.power_iteration_vector.numpy(), v_frozen)
    w = np.array(other._kernel)
    for _ in range(2):
        v_other = w.T @ (w @ v_other)
        v_other /= np.linalg.norm(v_other)
        np.testing.assert_allclose(other.power_iteration_vector.numpy(), v_other, rtol=1e-4, atol=1e-6)
        other_step()
    assert not frozen.power_iteration_is_frozen


def test_power_iteration_frozen_without_a_model_is_deprecated_and_still_freezes():
    layer = SpectralNormDense(2)
    x = np.ones((1, 3), "float32")
    layer(x)
    v = layer.power_iteration_vector.numpy()
    with pytest.warns(DeprecationWarning, match="pass the model"):
        with power_iteration_frozen():
            layer(x, training=True)
    np.testing.assert_array_equal(layer.power_iteration_vector.numpy(), v)
    layer(x, training=True)
    assert not np.array_equal(layer.power_iteration_vector.numpy(), v)


def test_gradient_flows_through_sigma_with_state_held_constant():
    layer = SpectralNormDense(3, k_sn=1.0, use_bias=False)
    x = np.random.default_rng(5).normal(size=(4, 5)).astype("float32")
    layer(x)
    v = np.array(layer.power_iteration_vector, dtype=np.float64)
    v /= np.linalg.norm(v)  # the stored state is used as a unit vector
    w = np.array(layer._kernel, dtype=np.float64)

    def loss(w):  # NumPy re-derivation with v fixed: sum(sin(x W / ||W v||))
        return np.sum(np.sin(x @ (w / np.linalg.norm(w @ v))))

    with tf.GradientTape() as tape:
        value = tf.reduce_sum(tf.sin(layer(x, training=False)))
    grad = tape.gradient(value, layer._kernel).numpy()
    numeric = np.zeros_like(w)
    for idx in np.ndindex(*w.shape):
        e = np.zeros_like(w)
        e[idx] = 1e-6
        numeric[idx] = (loss(w + e) - loss(w - e)) / 2e-6
    assert float(value) == pytest.approx(loss(w), rel=1e-5)
    np.testing.assert_allclose(grad, numeric, rtol=1e-3, atol=1e-5)


def test_zero_kernel_gives_zero_output_not_nan():
    layer = SpectralNormConv2D(2, 3, kernel_initializer="zeros", padding="same")
    y = layer(np.ones((1, 4, 4, 1), "float32"), training=True)
    assert np.all(np.asarray(y) == 0.0)


@pytest.mark.parametrize(
    "make",
    [
        lambda: SpectralNormDense(2, k_sn=0.0),
        lambda: SpectralNormDense(2, k_sn=-1),
        lambda: SpectralNormDense(2, power_iterations=0),
        lambda: SpectralNormConv2D(2, 3, power_iterations=1.5),
        lambda: ToeplitzNormConv2D(2, 3, k_sn=-2.0),
    ],
)
def test_invalid_arguments_raise(make):
    with pytest.raises(ValueError, match="k_sn|power_iterations"):
        make()


def test_toeplitz_requires_static_spatial_shape():
    layer = ToeplitzNormConv2D(2, 3)
    with pytest.raises(ValueError, match="static spatial"):
        layer.build((None, None, None, 3))


def test_weight_clip_constrains_after_fit():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, kernel_constraint=WeightClip(0.05))])
    model.compile(keras.optimizers.SGD(1.0), "mse")
    model.fit(np.ones((8, 3)), 10 * np.ones((8, 2)), verbose=0, epochs=2)
    assert np.max(np.abs(model.layers[0].kernel.numpy())) <= 0.05 + 1e-7
    assert WeightClip.from_config(WeightClip(0.3).get_config()).c == 0.3
    with pytest.raises(ValueError, match="c"):
        WeightClip(0)


# ---------------------------------------------------------------- Keras integration


def small_model(conv=SpectralNormConv2D, **kwargs):
    return keras.Sequential([
        keras.Input((8, 8, 2)),
        conv(4, 3, padding="same", activation="relu", **kwargs),
        keras.layers.Flatten(),
        SpectralNormDense(1),
    ])


@pytest.mark.parametrize("conv", [SpectralNormConv2D, ToeplitzNormConv2D])
def test_keras_round_trip_is_identical(conv, tmp_path):
    model = small_model(conv)
    x = np.random.default_rng(0).normal(size=(4, 8, 8, 2)).astype("float32")
    model.compile("adam", "mse")
    model.fit(x, np.ones((4, 1)), verbose=0, epochs=2)
    path = os.path.join(tmp_path, "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(model(x), loaded(x))
    np.testing.assert_array_equal(model.layers[0].power_iteration_vector, loaded.layers[0].power_iteration_vector)
    config = model.layers[0].get_config()
    assert type(model.layers[0]).from_config(config).get_config() == config


def test_trained_saved_reloaded_dense_net_respects_its_bound(tmp_path):
    model = keras.Sequential([keras.Input((4,)), SpectralNormDense(16, activation="relu"),
                              SpectralNormDense(16, activation="relu"), SpectralNormDense(1)])
    x = np.random.default_rng(1).normal(size=(64, 4)).astype("float32")
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    model.fit(x, 10 * x[:, :1] ** 2, verbose=0, epochs=5, batch_size=16)
    model.save(os.path.join(tmp_path, "m.keras"))
    loaded = keras.models.load_model(os.path.join(tmp_path, "m.keras"))
    for layer in loaded.layers:
        converge(layer, 50)
    assert analysis.empirical_lipschitz(loaded, x) <= analysis.lipschitz_upper_bound(loaded) * 1.001
    assert analysis.lipschitz_upper_bound(loaded) == pytest.approx(1.0)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_fit_under_tf_function_and_xla(jit_compile):
    model = small_model(ToeplitzNormConv2D)
    model.compile("adam", "mse", jit_compile=jit_compile)
    x = np.random.default_rng(2).normal(size=(8, 8, 8, 2)).astype("float32")
    v0 = model.layers[0].power_iteration_vector.numpy()
    history = model.fit(x, np.zeros((8, 1)), verbose=0, epochs=2, batch_size=4)
    assert np.all(np.isfinite(history.history["loss"]))
    assert not np.allclose(v0, model.layers[0].power_iteration_vector.numpy())


def test_mixed_precision_keeps_power_iteration_in_float32():
    keras.mixed_precision.set_global_policy("mixed_float16")
    layer = SpectralNormConv2D(4, 3, padding="same", k_sn=1.0)
    y = layer(np.ones((2, 6, 6, 3), "float32"), training=True)
    assert y.dtype == "float16"
    assert layer.power_iteration_vector.dtype == "float32" and layer._kernel.dtype == "float32"
    converge(layer)
    kernel = np.asarray(layer.normalized_kernel(), dtype=np.float64)
    assert top_singular_value(kernel.reshape(-1, 4)) == pytest.approx(1.0, rel=2e-3)


def test_mirrored_strategy_updates_power_iteration_state():
    # ReductionToOneDevice: two default (collective) MirroredStrategies in one process clash in TF.
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"], cross_device_ops=tf.distribute.ReductionToOneDevice())
    assert strategy.num_replicas_in_sync == 2
    with strategy.scope():
        model = small_model(SpectralNormConv2D)
        model.compile(keras.optimizers.SGD(0.01), "mse")
    x = np.random.default_rng(3).normal(size=(8, 8, 8, 2)).astype("float32")
    v0 = model.layers[0].power_iteration_vector.numpy()
    model.fit(x, np.zeros((8, 1)), verbose=0, epochs=1, batch_size=4)
    v1 = model.layers[0].power_iteration_vector.numpy()
    assert not np.allclose(v0, v1) and np.linalg.norm(v1) == pytest.approx(1.0, rel=1e-5)


# ---------------------------------------------------------------- every Lipschitz layer states its promise

PROMISE_CASES = [
    (lambda: SpectralNormDense(4, k_sn=2.0), (5,), None),
    (lambda: SpectralNormConv2D(3, 3, k_sn=1.0, padding="same"), (6, 5, 2), None),
    (lambda: ToeplitzNormConv2D(3, 3, k_sn=1.5, dilation_rate=2, padding="same"), (7, 6, 2), 1.5),
    (lambda: ToeplitzNormConv1D(3, 3, k_sn=1.0, padding="causal", dilation_rate=2), (9, 2), 1.0),
    (lambda: ToeplitzNormConv3D(2, 2, k_sn=1.0, strides=(1, 2, 1)), (4, 5, 3, 2), 1.0),
    (lambda: ToeplitzNormDepthwiseConv2D(3, k_sn=2.0, depth_multiplier=2, strides=2, padding="same"), (7, 6, 2), 2.0),
    (lambda: ToeplitzNormSeparableConv2D(3, 3, k_sn=1.0, depth_multiplier=2), (6, 7, 2), 1.0),
    (lambda: ToeplitzNormConv2DTranspose(2, 3, k_sn=1.0, strides=2, padding="same"), (4, 3, 3), 1.0),
    (lambda: ToeplitzNormDepthwiseConv2D(3, k_sn=1.0, padding="same", data_format="channels_first"), (2, 5, 6), 1.0),
]


def converge_traced(layer, steps=300):
    @tf.function
    def iterate():
        for _ in tf.range(steps):  # one traced step in a tf.while_loop
            layer.advance_power_iteration()

    iterate()


def _linear_jacobian_norm(layer, shape):
    return top_singular_value(jacobian_matrix(lambda x: layer(x) - layer(tf.zeros_like(x)), shape))


@pytest.mark.parametrize("make,shape,k", PROMISE_CASES)
def test_lipschitz_bound_holds_before_and_after_convergence(make, shape, k):
    layer = make()
    layer.build((None,) + shape)
    assert isinstance(layer, LipschitzLayer)
    # Fresh random state: σ is underestimated, the layer is above k, and the bound must say so.
    assert _linear_jacobian_norm(layer, shape) <= layer.lipschitz_bound() * (1 + 1e-5)
    converge_traced(layer)
    jac_norm = _linear_jacobian_norm(layer, shape)
    assert jac_norm <= layer.lipschitz_bound() * (1 + 1e-5)
    if k is not None:  # Toeplitz normalization: the operator norm is k, and the bound (exact here) agrees
        assert jac_norm == pytest.approx(k, rel=1e-2)
        assert layer.lipschitz_bound() == pytest.approx(jac_norm, rel=1e-4)


@pytest.mark.parametrize("make,shape,k", PROMISE_CASES)
def test_export_plain_computes_the_same_function_and_round_trips(make, shape, k, tmp_path):
    model = keras.Sequential([keras.Input(shape), make()])
    x = np.random.default_rng(5).normal(size=(3,) + shape).astype("float32")
    model(x, training=True)
    layer = model.layers[0]
    plain = layer.export_plain()
    assert type(plain).__module__.startswith("keras.")
    np.testing.assert_allclose(plain(x), layer(x, training=False), rtol=1e-5, atol=1e-6)
    config = layer.get_config()
    assert type(layer).from_config(config).get_config() == config
    model.save(os.path.join(tmp_path, "m.keras"))
    loaded = keras.models.load_model(os.path.join(tmp_path, "m.keras"))
    np.testing.assert_array_equal(loaded(x), model(x))
    assert loaded.layers[0].lipschitz_bound() == pytest.approx(layer.lipschitz_bound(), rel=1e-6)
