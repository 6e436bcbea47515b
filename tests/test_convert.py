"""lipschitz_clone and export_plain on Sequential, functional and nested models."""

import keras
import numpy as np
import pytest

from tf_lipschitz.convert import export_plain, lipschitz_clone
from tf_lipschitz.layers import SpectralNormConv2D, SpectralNormDense, ToeplitzNormConv2D


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
    np.testing.assert_array_equal(inner.layers[0]._kernel, model.get_layer("inner").layers[0].kernel)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not any(isinstance(layer, (SpectralNormDense, SpectralNormConv2D)) for layer in model.layers)
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 2)).astype("float32")
    assert clone(x).shape == (2, 3)


def test_layer_filter_selects_layers():
    model = functional_with_nested_sequential()
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
