"""lipschitz_clone and export_plain on Sequential, functional, nested and real (MobileNetV2, ResNet) models."""

import time
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from references import gradient_ascent_lipschitz, jacobian_matrix, toeplitz_matrix, top_singular_value
from tf_lipschitz import analysis
from tf_lipschitz.analysis.convert import export_plain, lipschitz_clone
from tf_lipschitz.architectures import resnet_critic
from tf_lipschitz.layers import LipschitzLayer, SpectralNormConv2D, SpectralNormDense, ToeplitzNormConv2D

L = keras.layers


def functional_with_nested_sequential():
    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(6, activation="relu"), keras.layers.Dense(3)],
                             name="inner")
    inputs = keras.Input((6, 6, 2))
    h = keras.layers.Conv2D(2, 3, padding="same", activation="relu")(inputs)
    h = keras.layers.Conv2D(1, 3, padding="valid")(h)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(4)(h)
    outputs = inner(h)
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize("method,conv_class", [("spectral", SpectralNormConv2D), ("toeplitz", ToeplitzNormConv2D)])
def test_clone_replaces_layers_keeps_weights_and_original(method, conv_class):
    model = functional_with_nested_sequential()
    before = [w.copy() for w in model.get_weights()]
    clone = lipschitz_clone(model, method=method, k_sn=2.0)
    kinds = [type(layer) for layer in clone.layers]
    assert kinds.count(conv_class) == 2 and SpectralNormDense in kinds
    inner = clone.get_layer("inner")
    assert all(isinstance(layer, SpectralNormDense) for layer in inner.layers)
    np.testing.assert_array_equal(inner.layers[0].kernel, model.get_layer("inner").layers[0].kernel)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not any(isinstance(layer, (SpectralNormDense, SpectralNormConv2D)) for layer in model.layers)
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 2)).astype("float32")
    assert clone(x).shape == (2, 3)


def test_layer_filter_selects_layers():
    model = functional_with_nested_sequential()
    with pytest.warns(UserWarning, match="3 layer.*dense_2, inner/dense, inner/dense_1"):
        clone = lipschitz_clone(model, layer_filter=lambda layer: isinstance(layer, keras.layers.Conv2D))
    assert sum(isinstance(layer, SpectralNormConv2D) for layer in clone.layers) == 2
    assert not any(isinstance(layer, SpectralNormDense) for layer in clone.layers)


def test_export_bakes_normalized_kernels_into_plain_layers():
    clone = lipschitz_clone(functional_with_nested_sequential(), method="toeplitz", k_sn=1.0)
    x = np.random.default_rng(1).normal(size=(3, 6, 6, 2)).astype("float32")
    for _ in range(3):
        clone(x, training=True)
    plain = export_plain(clone)
    assert all(type(layer) in (keras.layers.Conv2D, keras.layers.Dense, keras.layers.Flatten,
                               keras.layers.InputLayer, keras.Sequential) for layer in plain.layers)
    np.testing.assert_allclose(plain(x), clone(x, training=False), rtol=1e-5, atol=1e-6)


def test_unknown_method_and_subclassed_model_raise():
    with pytest.raises(ValueError, match="method"):
        lipschitz_clone(functional_with_nested_sequential(), method="clip")

    class Sub(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(ValueError, match="subclassed"):
        lipschitz_clone(Sub())


FOLD_CASES = [
    (lambda: L.Dense(3, use_bias=False), (4,)),
    (lambda: L.Conv2D(3, 3, padding="same"), (5, 5, 2)),
    (lambda: L.Conv1D(3, 3, strides=2, padding="same", use_bias=False), (7, 2)),
    (lambda: L.DepthwiseConv2D(3, depth_multiplier=2, padding="same"), (5, 4, 2)),
    (lambda: L.SeparableConv2D(3, 3, padding="valid"), (6, 5, 2)),
    (lambda: L.Conv2DTranspose(2, 3, strides=2, padding="same"), (3, 3, 2)),
    (lambda: L.Conv3D(2, 2, use_bias=False), (3, 3, 3, 2)),
]


@pytest.mark.parametrize("make,shape", FOLD_CASES)
def test_batch_norm_is_folded_exactly_and_the_operator_normalized(make, shape):
    inputs = keras.Input(shape)
    linear = make()
    bn = L.BatchNormalization(name="bn")
    model = keras.Model(inputs, bn(linear(inputs)))
    rng = np.random.default_rng(4)
    channels = bn.gamma.shape[0]
    bn.set_weights([rng.uniform(0.5, 2, channels), rng.normal(size=channels), rng.normal(size=channels),
                    rng.uniform(0.2, 3, channels)])
    clone, report = lipschitz_clone(model, method="toeplitz", k_sn=1.5, return_report=True,
                                    initial_power_iterations=300)
    assert report.folded == ["bn"] and report.replaced == [linear.name] and not report.unconstrained
    assert "bn" not in [layer.name for layer in clone.layers]
    # Independent reference: the original model's affine map f(x) = J x + f(0), J from autodiff.
    jac = top_singular_value(jacobian_matrix(lambda t: model(t) - model(tf.zeros_like(t)), shape))
    x = rng.normal(size=(2,) + shape).astype("float32")
    zero = np.zeros_like(x)
    # The bias is scaled with the kernel: the clone is the original affine map times k_sn / ‖J‖.
    np.testing.assert_allclose(clone(zero), model(zero) * (1.5 / jac), rtol=2e-2, atol=2e-3)
    np.testing.assert_allclose(clone(x), model(x) * (1.5 / jac), rtol=2e-2, atol=2e-3)
    assert report.output_scale == pytest.approx(1.5 / jac, rel=2e-2)
    assert report.layers[[r.name for r in report.layers].index(linear.name)].bound == pytest.approx(1.5, rel=2e-2)


def test_unconstrained_layers_warn_by_name_and_strict_raises():
    model = keras.Sequential([keras.Input((4,)), L.Dense(4, name="first"), L.ReLU(), L.BatchNormalization(name="late_bn"),
                              L.Dense(1, name="last")])
    with pytest.warns(UserWarning, match="late_bn"):
        clone, report = lipschitz_clone(model, return_report=True)
    row = report.layers[[r.name for r in report.layers].index("late_bn")]
    assert row.action == "kept" and not row.constrained and "batch norm" in row.reason
    with pytest.raises(ValueError, match="late_bn"):
        lipschitz_clone(model, strict=True)
    with pytest.warns(UserWarning, match="last"):
        lipschitz_clone(keras.Sequential([keras.Input((4,)), L.Dense(4), L.Dense(1, name="last")]),
                        layer_filter=lambda layer: layer.name != "last")


def test_mobilenet_v2_is_fully_constrained():
    start = time.perf_counter()
    model = keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), classes=10)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        clone, report = lipschitz_clone(model, method="toeplitz", return_report=True, initial_power_iterations=50)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert len(report.replaced) == kinds.count("Conv2D") + kinds.count("DepthwiseConv2D") + kinds.count("Dense") == 53
    assert len(report.folded) == kinds.count("BatchNormalization") == 52
    assert report.unconstrained == []
    assert "53 replaced, 52 folded" in str(report)
    assert all(isinstance(clone.get_layer(name), LipschitzLayer) for name in report.replaced)
    bound = analysis.lipschitz_upper_bound(clone)
    x = np.random.default_rng(6).normal(size=(2, 32, 32, 3)).astype("float32")
    assert 0 < analysis.empirical_lipschitz(clone, x[:1]) <= bound < np.inf
    np.testing.assert_allclose(export_plain(clone)(x), clone(x), rtol=1e-4, atol=1e-6)
    assert time.perf_counter() - start < 120  # ~25 s on two idle cores


def _small_resnet():
    inputs = keras.Input((8, 8, 2))
    h = L.Conv2D(4, 3, padding="same", use_bias=False, name="stem")(inputs)
    h = L.BatchNormalization(name="stem_bn")(h)
    r = L.ReLU(name="relu1")(h)
    r = L.Conv2D(4, 3, padding="same", name="conv1")(r)
    r = L.BatchNormalization(name="bn1")(r)
    r = L.ReLU(name="relu2")(r)
    r = L.Conv2D(4, 3, padding="same", name="conv2")(r)
    h = L.Add(name="add")([h, r])
    h = L.MaxPooling2D(2, name="pool")(h)
    h = L.GlobalAveragePooling2D(name="gap")(h)
    return keras.Model(inputs, L.Dense(1, name="out")(h))


def test_small_resnet_clone_jacobian_below_bound_and_bound_follows_the_report():
    model = _small_resnet()
    rng = np.random.default_rng(7)
    for bn in (model.get_layer("stem_bn"), model.get_layer("bn1")):
        bn.set_weights([rng.uniform(0.5, 3, 4), rng.normal(size=4), rng.normal(size=4), rng.uniform(0.1, 2, 4)])
    clone, report = lipschitz_clone(model, method="toeplitz", return_report=True, initial_power_iterations=300)
    assert report.folded == ["stem_bn", "bn1"] and not report.unconstrained
    b = {row.name: row.bound for row in report.layers}
    by_hand = b["stem"] * (1 + b["relu1"] * b["conv1"] * b["relu2"] * b["conv2"]) * b["pool"] * b["gap"] * b["out"]
    bound = analysis.lipschitz_upper_bound(clone)
    assert bound == pytest.approx(by_hand, rel=1e-9)
    assert bound == pytest.approx(2.0 / 4.0, rel=0.05)  # k = 1 everywhere; 1 + 1 at the addition; 1/√16 pooling
    x0 = rng.normal(size=(4, 8, 8, 2)).astype("float32")
    assert gradient_ascent_lipschitz(clone, x0, steps=30) <= bound


def test_resnet_critic_clone_is_bounded_and_below_gradient_ascent():
    critic = resnet_critic(width=4, resolution=8)
    clone, report = lipschitz_clone(critic, method="toeplitz", return_report=True)
    assert len(report.replaced) == 11 and not report.unconstrained
    x0 = np.random.default_rng(8).normal(size=(2, 8, 8, 3)).astype("float32")
    assert gradient_ascent_lipschitz(clone, x0, steps=10) <= analysis.lipschitz_upper_bound(clone)


def _plain_cnn():
    """The plain CNN users write (as in examples/certified_from_plain.py), small."""
    inputs = keras.Input((8, 8, 1))
    h = L.Conv2D(4, 3, padding="same", name="conv1")(inputs)
    h = L.BatchNormalization(name="bn1")(h)
    h = L.ReLU(name="relu1")(h)
    h = L.MaxPooling2D(2, name="pool1")(h)
    h = L.Conv2D(6, 3, padding="same", activation="relu", name="conv2")(h)
    h = L.Flatten(name="flatten")(h)
    h = L.Dropout(0.3, name="dropout")(h)
    h = L.Dense(8, activation="relu", name="dense")(h)
    return keras.Model(inputs, L.Dense(5, name="logits")(h))


def test_clone_of_a_relu_cnn_is_the_original_divided_by_the_product_of_the_layer_norms():
    model = _plain_cnn()
    rng = np.random.default_rng(11)
    model.get_layer("bn1").set_weights([rng.uniform(0.5, 2, 4), rng.normal(size=4), rng.normal(size=4),
                                        rng.uniform(0.2, 3, 4)])
    for name in ("conv1", "conv2", "dense", "logits"):  # biases large enough to matter
        layer = model.get_layer(name)
        layer.bias.assign(rng.normal(size=layer.bias.shape).astype("float32"))
    clone, report = lipschitz_clone(model, method="toeplitz", k_sn=1.0, return_report=True,
                                    initial_power_iterations=500)
    # Independent reference: each layer's operator norm by SVD of its explicit matrix (NumPy loops for the
    # convolutions, the folded batch norm's per-channel scale a = γ/√(var+ε) multiplied into conv1's kernel).
    gamma, beta, mean, var = model.get_layer("bn1").get_weights()
    a = gamma / np.sqrt(var + model.get_layer("bn1").epsilon)
    norms = [top_singular_value(toeplitz_matrix(model.get_layer("conv1").get_weights()[0] * a, 8, 8)),
             top_singular_value(toeplitz_matrix(model.get_layer("conv2").get_weights()[0], 4, 4)),
             top_singular_value(model.get_layer("dense").get_weights()[0]),
             top_singular_value(model.get_layer("logits").get_weights()[0])]
    x = rng.uniform(size=(64, 8, 8, 1)).astype("float32")
    expected = np.asarray(model(x, training=False), np.float64) / np.prod(norms)
    np.testing.assert_allclose(clone(x, training=False), expected, rtol=1e-3, atol=1e-3 * np.abs(expected).max())
    np.testing.assert_array_equal(np.argmax(clone(x), 1), np.argmax(model(x), 1))  # clean accuracy unchanged
    assert report.output_scale == pytest.approx(1 / np.prod(norms), rel=1e-3)
    assert report.nonhomogeneous == () and "clone(x) = " in str(report)
    np.testing.assert_array_equal(model.get_layer("logits").bias, model.get_layer("logits").get_weights()[1])


def test_clone_scales_k_sn_and_a_kept_layers_bias_and_names_what_breaks_the_proportion():
    rng = np.random.default_rng(12)
    inputs = keras.Input((3,))
    h = L.Dense(4, activation="relu", name="first")(inputs)
    h = L.Dense(4, name="kept")(h)
    model = keras.Model(inputs, L.Dense(2, name="last")(h))
    for layer in model.layers[1:]:
        layer.bias.assign(rng.normal(size=layer.bias.shape).astype("float32"))
    with pytest.warns(UserWarning, match="kept"):
        clone, report = lipschitz_clone(model, k_sn=2.0, return_report=True, initial_power_iterations=300,
                                        layer_filter=lambda layer: layer.name != "kept")
    norms = [top_singular_value(model.get_layer(n).get_weights()[0]) for n in ("first", "last")]
    x = rng.normal(size=(16, 3)).astype("float32")
    np.testing.assert_allclose(clone(x), model(x) * (2 / norms[0]) * (2 / norms[1]), rtol=1e-4, atol=1e-5)

    tanh = keras.Sequential([keras.Input((3,)), L.Dense(4, activation="tanh", name="squash"), L.Dense(2)])
    assert lipschitz_clone(tanh, return_report=True)[1].output_scale is None
    assert lipschitz_clone(tanh, return_report=True)[1].nonhomogeneous == ("squash: activation 'tanh'",)
    _, report = lipschitz_clone(_small_resnet(), method="toeplitz", return_report=True)
    assert report.output_scale is None and [r.split(":")[0] for r in report.nonhomogeneous] == ["add"]
    assert "not proportional" in str(report)


def test_export_plain_of_a_functional_model_with_an_unnamed_input():
    inputs = keras.Input((4,))  # no name: clone_model renames the input layer
    model = keras.Model(inputs, SpectralNormDense(2, name="lip")(L.Dense(3, name="plain")(inputs)))
    plain = export_plain(model)
    x = np.random.default_rng(13).normal(size=(5, 4)).astype("float32")
    np.testing.assert_allclose(plain(x), model(x), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(plain.get_layer("plain").kernel, model.get_layer("plain").kernel)
    assert not any(isinstance(layer, LipschitzLayer) for layer in plain.layers)
