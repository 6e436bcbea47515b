"""True upper bounds (tf_lipschitz.ops.certified, tf_lipschitz.analysis.bounds, analysis.lipschitz_upper_bound) against independent
references: SVD of explicit Toeplitz matrices and of autodiff Jacobians, exact closed forms, gradient ascent."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from references import gradient_ascent_lipschitz, jacobian_matrix, top_singular_value, toeplitz_matrix
from tf_lipschitz import analysis
from tf_lipschitz.analysis import bounds
from tf_lipschitz.architectures import resnet_critic
from tf_lipschitz.ops import certified

RNG = np.random.default_rng(0)
L = keras.layers


def _random_conv_case(rng):
    kh, kw = (int(v) for v in rng.integers(1, 4, 2))
    dilation = tuple(int(v) for v in rng.integers(1, 3, 2))
    strides = tuple(int(v) for v in rng.integers(1, 3, 2))
    padding = ["same", "valid"][int(rng.integers(2))]
    height = int(rng.integers((kh - 1) * dilation[0] + 1, 9))
    width = int(rng.integers((kw - 1) * dilation[1] + 1, 9))
    kernel = rng.normal(size=(kh, kw, int(rng.integers(1, 4)), int(rng.integers(1, 4))))
    return kernel, (height, width), strides, padding, dilation


@pytest.mark.parametrize("explicit_limit", [0, 1_000_000], ids=["fourier", "explicit"])
def test_conv_norm_bound_is_an_upper_bound_of_the_explicit_toeplitz_norm(explicit_limit):
    rng = np.random.default_rng(1)
    ratios = []
    for _ in range(60):
        kernel, spatial, strides, padding, dilation = _random_conv_case(rng)
        exact = top_singular_value(toeplitz_matrix(kernel, *spatial, strides, padding, dilation))
        bound = certified.conv_norm_bound(kernel, spatial, strides, padding, dilation, explicit_limit=explicit_limit)
        assert bound >= exact * (1 - 1e-9)
        ratios.append(exact / bound)
    if explicit_limit:
        np.testing.assert_allclose(ratios, 1.0, rtol=1e-9)  # small operators: exact
    else:
        assert np.median(ratios) > 0.7  # an upper bound, but not a vacuous one


def test_fourier_bound_is_tight_on_larger_inputs():
    kernel = RNG.normal(size=(3, 3, 3, 4))
    exact = top_singular_value(toeplitz_matrix(kernel, 16, 16, (1, 1), "same"))
    bound = certified.conv_norm_bound(kernel, (16, 16), 1, "same", explicit_limit=0)
    assert exact <= bound <= exact * 1.05


def _channels_last_twin(layer):
    """`layer` (channels_first) computed as the same kernel in channels_last between two transposes.

    Without TensorFlow's oneDNN kernels the CPU has no NCHW Conv2D at all, so the reference Jacobian of a
    channels_first layer is taken through this twin: the same linear map, in the layout every CPU runs.
    """
    twin = layer.__class__.from_config({**layer.get_config(), "data_format": "channels_last"})
    rank = len(layer.kernel.shape)
    twin.build((None,) + (None,) * (rank - 2) + (int(layer.kernel.shape[-2]) * layer.groups,))
    twin.set_weights(layer.get_weights())
    to_last = (0,) + tuple(range(2, rank)) + (1,)
    to_first = (0, rank - 1) + tuple(range(1, rank - 1))
    return lambda x: tf.transpose(twin(tf.transpose(x, to_last)), to_first)


def test_channels_last_twin_is_the_same_map():
    # The twin against NumPy's own correlation of the kernel (channels_first in, channels_first out).
    layer = L.Conv2D(2, 3, padding="valid", data_format="channels_first", use_bias=False)
    layer.build((None, 3, 5, 4))
    x = RNG.normal(size=(1, 3, 5, 4)).astype("float32")
    kernel = layer.kernel.numpy()  # (3, 3, c_in, c_out)
    expected = np.zeros((1, 2, 3, 2))
    for i in range(3):
        for j in range(2):
            expected[0, :, i, j] = np.einsum("chw,hwco->o", x[0, :, i:i + 3, j:j + 3], kernel)
    np.testing.assert_allclose(_channels_last_twin(layer)(tf.constant(x)).numpy(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("make,shape", [
    (lambda: L.Conv1D(3, 3, strides=2, padding="same"), (9, 2)),
    (lambda: L.Conv1D(2, 3, padding="causal", dilation_rate=2), (8, 2)),
    (lambda: L.Conv2D(4, 3, padding="same", groups=2), (6, 5, 4)),
    (lambda: L.Conv3D(2, 2, strides=(1, 2, 1), padding="valid"), (4, 5, 3, 2)),
    (lambda: L.DepthwiseConv2D(3, depth_multiplier=2, strides=2, padding="same"), (7, 6, 3)),
    (lambda: L.SeparableConv2D(3, 3, depth_multiplier=2, padding="valid"), (6, 7, 2)),
    (lambda: L.Conv2DTranspose(2, 3, strides=2, padding="same"), (4, 3, 3)),
    (lambda: L.Conv2DTranspose(2, 3, strides=2, padding="valid", output_padding=1), (3, 3, 2)),
    (lambda: L.Conv2D(3, 3, padding="same", data_format="channels_first"), (2, 6, 5)),
])
@pytest.mark.parametrize("explicit_limit", [0, 1_000_000], ids=["fourier", "explicit"])
def test_plain_conv_layer_bounds_match_their_jacobian(make, shape, explicit_limit, monkeypatch):
    layer = make()
    layer.build((None,) + shape)
    monkeypatch.setattr(certified, "_EXPLICIT_LIMIT", explicit_limit)
    run = _channels_last_twin(layer) if getattr(layer, "data_format", None) == "channels_first" else layer
    exact = top_singular_value(jacobian_matrix(lambda x: run(x) - run(tf.zeros_like(x)), shape))
    bound = bounds.layer_bound(layer, (None,) + shape)
    assert bound >= exact * (1 - 1e-5)
    if explicit_limit:
        assert bound == pytest.approx(exact, rel=1e-5)


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("pool,strides", [(2, 2), (3, 1), (3, 2)])
def test_pooling_bounds(pool, strides, padding):
    shape = (7, 6, 2)
    average = L.AveragePooling2D(pool, strides, padding=padding)
    exact = top_singular_value(jacobian_matrix(average, shape))
    assert bounds.layer_bound(average, (None,) + shape) == pytest.approx(exact, rel=1e-6)
    # Max pooling: a spike in every window it lies in moves √(windows) outputs; √(⌈p/s⌉²) is attained.
    maximum = L.MaxPooling2D(pool, strides, padding=padding)
    x = np.zeros(shape, "float32")
    x[3, 3, 0] = 1.0
    jac = jacobian_matrix(maximum, shape, x)
    assert top_singular_value(jac) <= bounds.layer_bound(maximum, (None,) + shape) + 1e-6
    if padding == "valid" and (pool, strides) == (3, 1):
        assert top_singular_value(jac) == pytest.approx(3.0)


def _linear_stack(rng):
    inputs = keras.Input((8, 7, 2))
    x = inputs
    for _ in range(int(rng.integers(1, 4))):
        x = L.Conv2D(int(rng.integers(1, 4)), int(rng.integers(1, 4)), strides=int(rng.integers(1, 3)),
                     padding=["same", "valid"][int(rng.integers(2))], use_bias=False,
                     kernel_initializer=keras.initializers.RandomNormal(stddev=1.0))(x)
    x = L.Flatten()(x)
    x = L.Dense(int(rng.integers(1, 5)), use_bias=False)(x)
    return keras.Model(inputs, x)


def test_upper_bound_of_random_linear_stacks_bounds_their_composed_matrix():
    rng = np.random.default_rng(2)
    for _ in range(6):
        model = _linear_stack(rng)
        exact = top_singular_value(jacobian_matrix(model, (8, 7, 2)))
        assert analysis.lipschitz_upper_bound(model) >= exact * (1 - 1e-5)


def test_linear_residual_and_concatenation_models_against_their_explicit_matrix():
    inputs = keras.Input((6, 6, 2))
    conv1 = L.Conv2D(2, 3, padding="same", use_bias=False)
    conv2 = L.Conv2D(2, 3, padding="same", use_bias=False)
    h = L.Add()([inputs, conv1(inputs)])
    h = L.AveragePooling2D(2)(L.Subtract()([conv2(h), h]))
    out = L.Concatenate()([L.Flatten()(h), L.Flatten()(L.AveragePooling2D(2)(inputs))])
    model = keras.Model(inputs, out)
    exact = top_singular_value(jacobian_matrix(model, (6, 6, 2)))
    c1, c2 = (bounds.layer_bound(c, (None, 6, 6, 2)) for c in (conv1, conv2))
    expected = np.sqrt(((1 + c1) * (c2 + 1) * 0.5) ** 2 + 0.5 ** 2)  # the documented graph rule, by hand
    assert analysis.lipschitz_upper_bound(model) == pytest.approx(expected, rel=1e-9)
    assert expected >= exact * (1 - 1e-6)


def test_graph_rules_are_exact_on_scalings():
    inputs = keras.Input((3,))
    scale2, scale3 = L.Rescaling(2.0), L.Rescaling(3.0)
    model = keras.Model(inputs, L.Concatenate()([scale2(inputs), scale3(inputs)]))
    assert analysis.lipschitz_upper_bound(model) == pytest.approx(np.sqrt(13.0))
    assert top_singular_value(jacobian_matrix(model, (3,))) == pytest.approx(np.sqrt(13.0), rel=1e-6)
    shared = keras.Model(inputs, L.Add()([scale2(inputs), scale2(scale2(inputs))]))  # a layer called twice
    assert analysis.lipschitz_upper_bound(shared) == pytest.approx(6.0)
    two_in = keras.Input((3,))
    multi = keras.Model([inputs, two_in], [scale2(inputs), scale3(two_in)])
    assert analysis.lipschitz_upper_bound(multi) == pytest.approx(np.sqrt(13.0))


def test_resnet_critic_bound_is_above_gradient_ascent():
    critic = resnet_critic(width=4, resolution=8)
    x0 = np.random.default_rng(3).normal(size=(2, 8, 8, 3)).astype("float32")
    lower = gradient_ascent_lipschitz(critic, x0, steps=10)
    upper = analysis.lipschitz_upper_bound(critic)
    assert 0 < lower <= upper
    normalized = resnet_critic(width=4, resolution=8, conv_layer="toeplitz_norm", dense_layer="spectral_norm")
    normalized(x0, training=True)
    assert gradient_ascent_lipschitz(normalized, x0, steps=10) <= analysis.lipschitz_upper_bound(normalized)


def test_unknown_and_non_lipschitz_layers_are_named():
    inputs = keras.Input((3,))
    with pytest.raises(ValueError, match="'product'.*Multiply"):
        analysis.lipschitz_upper_bound(keras.Model(inputs, L.Multiply(name="product")([inputs, inputs])))
    with pytest.raises(ValueError, match="'norm'.*LayerNormalization"):
        analysis.lipschitz_upper_bound(keras.Model(inputs, L.LayerNormalization(name="norm")(inputs)))

    class Sub(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(ValueError, match="subclassed"):
        analysis.lipschitz_upper_bound(Sub())


def test_empirical_lipschitz_refuses_empty_nan_and_integer_batches():
    model = keras.Sequential([keras.Input((2,)), L.Dense(1)])
    with pytest.raises(ValueError, match="non-empty"):
        analysis.empirical_lipschitz(model, np.zeros((0, 2), "float32"))
    with pytest.raises(ValueError, match="NaN or Inf values in 3 of its 3 samples"):
        analysis.empirical_lipschitz(model, np.full((3, 2), np.nan, "float32"))
    with pytest.raises(ValueError, match="NaN or Inf values in 1 of its 2 samples"):
        analysis.empirical_lipschitz(model, np.array([[0.0, np.inf], [1.0, 2.0]], "float32"))
    with pytest.raises(ValueError, match="floating-point"):
        analysis.empirical_lipschitz(model, np.zeros((2, 2), "int32"))


def test_empirical_lipschitz_of_a_grouped_conv_on_every_kernel_set():
    # Without oneDNN the vectorized Jacobian of a grouped convolution has no kernel on the CPU; the lower bound
    # falls back to the row-by-row Jacobian. Reference: the linear map's matrix from forward passes on the basis.
    shape = (5, 4, 4)
    model = keras.Sequential([keras.Input(shape), L.Conv2D(4, 3, padding="same", groups=2, use_bias=False)])
    n = int(np.prod(shape))
    basis = np.eye(n, dtype="float32").reshape((n,) + shape)
    matrix = model(basis).numpy().reshape(n, -1).T
    got = analysis.empirical_lipschitz(model, RNG.normal(size=(2,) + shape).astype("float32"))
    assert got == pytest.approx(top_singular_value(matrix), rel=1e-5)
