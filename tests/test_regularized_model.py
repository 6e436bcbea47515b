"""Tests of LipschitzRegularizedModel: ALR added to `fit` in one line, logged, saved, distributed."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_lipschitz.layers import SpectralNormDense
from tf_lipschitz.models import LipschitzRegularizedModel
from tf_lipschitz.penalties import RelativeEpsilon

_LOGS = {"loss", "alp_penalty", "alp_ratio_mean", "alp_ratio_max", "alp_violation_fraction"}


def _slope_data(n=512, slope=3.0):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 2)).astype("float32")
    return x, (slope * x[:, :1]).astype("float32")


def _linear_model():
    return keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])


def _fit(penalty_weight, jit_compile=False, epochs=10, **penalty_kwargs):
    x, y = _slope_data()
    inner = _linear_model()
    model = LipschitzRegularizedModel(inner, penalty_weight=penalty_weight, seed=1, **penalty_kwargs)
    model.compile(keras.optimizers.Adam(0.05), "mse", jit_compile=jit_compile)
    history = model.fit(x, y, epochs=epochs, batch_size=64, verbose=0)
    return model, inner, history.history


def test_penalty_pulls_a_steep_regressor_towards_K_and_is_logged():
    model, inner, logs = _fit(10.0, jit_compile=True, K=1.0, epsilon=(0.01, 0.5))
    assert set(logs) == _LOGS
    slope = np.linalg.norm(inner.layers[0].kernel)
    # Equilibrium of mse + λ(‖w‖ − 1)²: 2(3 − s) = 2λ(s − 1) → s = 13/11.
    np.testing.assert_allclose(slope, 13 / 11, rtol=0.03)
    # For a linear map the ALP ratio is ‖w‖ exactly, and `loss` includes λ·penalty.
    np.testing.assert_allclose(logs["alp_ratio_mean"][-1], slope, rtol=0.02)
    assert logs["alp_violation_fraction"][-1] == 1.0
    assert logs["loss"][-1] > 10.0 * logs["alp_penalty"][-1] > 0.0


def test_spectral_norm_inside_advances_once_per_step_and_x_and_x_hat_share_sigma():
    """f(x) = x·W/σ·c with σ from SN's power iteration: after one step v must be exactly one advance from v0
    (not three: the loss's f(x), ALP's power step and f(x̂)), and the logged ratio is ‖W c‖/σ(v1), which holds
    only if f(x) and f(x̂) use the same σ."""
    c = np.array([[1.0], [-2.0]], "float32")
    inner = keras.Sequential([
        keras.Input((3,)), SpectralNormDense(2, use_bias=False),
        keras.layers.Dense(1, use_bias=False, kernel_initializer=keras.initializers.Constant(c)),
    ])
    sn = inner.layers[0]
    model = LipschitzRegularizedModel(inner, penalty_weight=1.0, seed=0, K=0.0, epsilon=(0.01, 0.5))
    model.compile(keras.optimizers.SGD(0.01), "mse")
    x = np.random.default_rng(1).normal(size=(16, 3)).astype("float32")
    w, v0 = np.array(sn.kernel, "float64"), np.array(sn.power_iteration_vector, "float64")
    logs = model.fit(x, x[:, :1], batch_size=16, epochs=1, verbose=0).history
    v1 = w.T @ (w @ (v0 / np.linalg.norm(v0)))
    v1 /= np.linalg.norm(v1)
    np.testing.assert_allclose(np.array(sn.power_iteration_vector), v1, rtol=1e-5, atol=1e-6)
    sigma = np.linalg.norm(w @ v1)
    np.testing.assert_allclose(logs["alp_ratio_mean"][0], np.linalg.norm(w @ c) / sigma, rtol=1e-5)
    np.testing.assert_allclose(logs["alp_ratio_max"][0], np.linalg.norm(w @ c) / sigma, rtol=1e-5)


def test_evaluate_reports_the_penalty_and_zero_weight_skips_it():
    model, inner, _ = _fit(10.0, epochs=1, K=1.0)
    x, y = _slope_data(128)
    result = model.evaluate(x, y, verbose=0, return_dict=True)
    assert set(result) == _LOGS
    np.testing.assert_allclose(result["alp_ratio_mean"], np.linalg.norm(inner.layers[0].kernel), rtol=1e-3)
    unregularized = LipschitzRegularizedModel(_linear_model(), penalty_weight=0.0)
    unregularized.compile("sgd", "mse")
    logs = unregularized.fit(x, y, epochs=1, verbose=0).history
    assert logs["alp_penalty"] == [0.0]


def test_save_and_load_keras_round_trip(tmp_path):
    model, inner, _ = _fit(10.0, epochs=1, K=0.5, d_x="l2", clip=(-10.0, 10.0), epsilon=RelativeEpsilon(0.01, 0.1))
    path = os.path.join(tmp_path, "regularized.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, LipschitzRegularizedModel)
    assert loaded.penalty_weight == 10.0 and loaded.penalty_kwargs["K"] == 0.5
    assert isinstance(loaded.penalty_kwargs["epsilon"], RelativeEpsilon) and loaded.penalty_kwargs["epsilon"].high == 0.1
    x, y = _slope_data(32)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    assert set(loaded.fit(x, y, epochs=1, verbose=0).history) == _LOGS  # optimizer and compile state restored
    inner_path = os.path.join(tmp_path, "inner.keras")
    inner.save(inner_path)
    np.testing.assert_allclose(keras.models.load_model(inner_path).predict(x, verbose=0), inner.predict(x, verbose=0))
    tuple_model = LipschitzRegularizedModel(_linear_model(), epsilon=(0.1, 1.0))
    assert LipschitzRegularizedModel.from_config(tuple_model.get_config()).penalty_kwargs["epsilon"] == (0.1, 1.0)


def test_classifier_with_kl_under_mirrored_strategy():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(256, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    # Copies instead of collective ops: a second strategy in one process would reuse collective instance keys.
    strategy = tf.distribute.MirroredStrategy(
        ["/cpu:0", "/cpu:1"], cross_device_ops=tf.distribute.ReductionToOneDevice()
    )
    with strategy.scope():
        inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(2)])
        model = LipschitzRegularizedModel(inner, penalty_weight=1.0, d_y="kl", K=0.0, epsilon=(0.05, 0.2), seed=0)
        model.compile(keras.optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
    logs = model.fit(x, y, epochs=2, batch_size=32, verbose=0).history
    assert set(logs) == _LOGS | {"accuracy"}
    assert all(np.isfinite(v[-1]) for v in logs.values())
    assert logs["accuracy"][-1] > 0.8 and logs["alp_penalty"][-1] > 0.0


def test_mixed_precision_wrapper_trains():
    keras.mixed_precision.set_global_policy("mixed_float16")
    x, y = _slope_data(128)
    model = LipschitzRegularizedModel(_linear_model(), penalty_weight=1.0, epsilon=(0.01, 0.5))
    model.compile(keras.optimizers.Adam(0.01), "mse")
    logs = model.fit(x, y, epochs=1, batch_size=32, verbose=0).history
    assert all(np.isfinite(v[-1]) for v in logs.values())
    np.testing.assert_allclose(logs["alp_ratio_mean"][-1], np.linalg.norm(model.model.layers[0].kernel), rtol=0.05)


def test_invalid_options_raise():
    with pytest.raises(ValueError, match="Unknown arguments of penalty 'alp'"):
        LipschitzRegularizedModel(_linear_model(), lam=1.0)
    with pytest.raises(ValueError, match="`d_y` must be one of"):
        LipschitzRegularizedModel(_linear_model(), d_y="hinge")
    with pytest.raises(ValueError, match="`penalty_weight` must be a finite number >= 0"):
        LipschitzRegularizedModel(_linear_model(), penalty_weight=-1.0)
    # Combinations are refused at construction, not at the first trace.
    with pytest.raises(ValueError, match=r"`clip_probe=True` needs a `clip` range"):
        LipschitzRegularizedModel(_linear_model(), clip_probe=True)
    with pytest.raises(ValueError, match=r"`xi=0`.*Received: xi=0, d_y='kl'"):
        LipschitzRegularizedModel(_linear_model(), xi=0, d_y="kl")


def test_fit_refuses_nan_and_integer_inputs_before_training():
    inner = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model = LipschitzRegularizedModel(inner, penalty_weight=1.0, epsilon=(0.01, 0.5))
    model.compile("sgd", "mse")
    before = [w.copy() for w in inner.get_weights()]
    x = np.random.default_rng(0).normal(size=(32, 2)).astype("float32")
    y = np.zeros((32, 1), "float32")
    bad = x.copy()
    bad[20, 0] = np.nan  # beyond the first batch: an array is checked whole
    with pytest.raises(ValueError, match=r"input array yields NaN or Inf values in its inputs \(1 of 64 values\)"):
        model.fit(bad, y, batch_size=8, verbose=0)
    with pytest.raises(ValueError, match=r"input array must yield floating-point inputs.*x / 255.*dtype uint8"):
        model.fit((x > 0).astype("uint8"), y, verbose=0)
    with pytest.raises(ValueError, match="dataset yields NaN or Inf"):
        model.fit(tf.data.Dataset.from_tensor_slices((bad[16:], y[16:])).batch(8), verbose=0)
    with pytest.raises(ValueError, match="dataset must yield floating-point inputs.*dtype int32"):
        model.fit(tf.data.Dataset.from_tensor_slices((x.astype("int32"), y)).batch(8), verbose=0)
    for b, w in zip(before, inner.get_weights()):  # nothing was trained
        np.testing.assert_array_equal(b, w)
    loss = model.fit(tf.constant(x), y, batch_size=8, verbose=0).history["loss"][0]
    assert np.isfinite(loss)
