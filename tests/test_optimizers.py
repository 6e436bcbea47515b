"""SpectralClampOptimizer: the clamped gradient or update against a NumPy SVD re-derivation."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_lipschitz.optimizers import SpectralClampOptimizer

RATIO = 1.3


def _model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input((6,)), keras.layers.Dense(5, activation="tanh"), keras.layers.Dense(4, activation="tanh"),
        keras.layers.Dense(1),  # kernel (4, 1): a single singular value, never clamped
    ])


def _data():
    rng = np.random.default_rng(1)
    return rng.normal(size=(8, 6)).astype("float32"), rng.normal(size=(8, 1)).astype("float32")


def _gradients(model, x, y):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(x) - y))
    return [g.numpy().astype("float64") for g in tape.gradient(loss, model.trainable_variables)]


def _clamped(matrix, ratio):
    """NumPy reference: lower the top singular value to ratio·σ1, keep all other singular directions."""
    u, s, vt = np.linalg.svd(matrix, full_matrices=False)
    s = s.copy()
    s[0] = min(s[0], ratio * s[1])
    return (u * s) @ vt


def _is_kernel(a):
    return a.ndim == 2 and min(a.shape) >= 2


def _step(optimizer):
    """One optimizer step on the model from fixed weights; returns (before, after, raw gradients)."""
    model = _model()
    x, y = _data()
    before = [v.numpy().astype("float64") for v in model.trainable_variables]
    grads = _gradients(model, x, y)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(x) - y))
    optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
    after = [v.numpy().astype("float64") for v in model.trainable_variables]
    return before, after, grads


def _adam_first_step(g, lr):
    # Keras' Adam, step 1: m = (1 − β1)g, v = (1 − β2)g², Δ = −lr·√(1 − β2)/(1 − β1)·m/(√v + ε)
    # = −lr·g/(|g| + ε/√(1 − β2)) with β2 = 0.999, ε = 1e-7.
    return -lr * g / (np.abs(g) + 1e-7 / np.sqrt(1 - 0.999))


def test_gradient_mode_with_sgd_clamps_the_update_exactly_like_numpy():
    before, after, grads = _step(SpectralClampOptimizer(keras.optimizers.SGD(1.0), RATIO, "gradient",
                                                        power_iterations=80, seed=0))
    assert sum(_is_kernel(g) for g in grads) == 2
    for b, a, g in zip(before, after, grads):
        update = a - b
        if _is_kernel(g):
            s = np.linalg.svd(g, compute_uv=False)
            assert s[0] / s[1] > RATIO  # the raw gradient needs clamping here
            np.testing.assert_allclose(update, -_clamped(g, RATIO), rtol=1e-3, atol=1e-6)
            s_update = np.linalg.svd(update, compute_uv=False)
            assert s_update[0] / s_update[1] <= RATIO * (1 + 1e-3)
        else:  # biases and the (4, 1) kernel: the plain SGD step
            np.testing.assert_allclose(update, -g, rtol=1e-6, atol=1e-7)


def test_gradient_mode_with_adam_feeds_adam_the_clamped_gradient():
    lr = 0.01
    before, after, grads = _step(SpectralClampOptimizer(keras.optimizers.Adam(lr), RATIO, "gradient",
                                                        power_iterations=80, seed=0))
    for b, a, g in zip(before, after, grads):
        expected = _adam_first_step(_clamped(g, RATIO) if _is_kernel(g) else g, lr)
        np.testing.assert_allclose(a - b, expected, rtol=2e-3, atol=2e-6)


def test_update_mode_with_adam_clamps_adams_own_step():
    lr = 0.01
    before, after, grads = _step(SpectralClampOptimizer(keras.optimizers.Adam(lr), RATIO, "update",
                                                        power_iterations=80, seed=0))
    clamped_any = False
    for b, a, g in zip(before, after, grads):
        raw_update = _adam_first_step(g, lr)
        if _is_kernel(g):
            s_raw = np.linalg.svd(raw_update, compute_uv=False)
            clamped_any |= s_raw[0] / s_raw[1] > RATIO
            np.testing.assert_allclose(a - b, _clamped(raw_update, RATIO), rtol=1e-3, atol=1e-6)
            s = np.linalg.svd(a - b, compute_uv=False)
            assert s[0] / s[1] <= RATIO * (1 + 1e-3)
        else:
            np.testing.assert_allclose(a - b, raw_update, rtol=1e-4, atol=1e-7)  # float32 round-off
    assert clamped_any


@pytest.mark.parametrize("mode", ["gradient", "update"])
def test_infinite_ratio_is_bit_identical_to_the_inner_optimizer(mode):
    _, plain, _ = _step(keras.optimizers.Adam(0.01))
    wrapper = SpectralClampOptimizer(keras.optimizers.Adam(0.01), float("inf"), mode, seed=0)
    _, wrapped, _ = _step(wrapper)
    for a, b in zip(plain, wrapped):
        np.testing.assert_array_equal(a, b)
    assert float(wrapper.clamp_fraction.numpy()) == 0.0 and float(wrapper.sigma_ratio.numpy()) > 1.0
    assert int(wrapper.iterations.numpy()) == 1


def test_fit_with_jit_and_config_round_trip(tmp_path):
    model = _model()
    optimizer = SpectralClampOptimizer(keras.optimizers.SGD(0.5), RATIO, "update", power_iterations=40, seed=3)
    model.compile(optimizer=optimizer, loss="mse", jit_compile=True)
    x, y = _data()
    kernel = model.layers[0].kernel.numpy()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    s = np.linalg.svd(model.layers[0].kernel.numpy() - kernel, compute_uv=False)
    assert s[0] / s[1] <= RATIO * (1 + 1e-3)
    config = keras.optimizers.serialize(optimizer)
    clone = keras.optimizers.deserialize(config)
    assert isinstance(clone, SpectralClampOptimizer) and isinstance(clone.inner_optimizer, keras.optimizers.SGD)
    assert (clone.ratio, clone.mode, clone.power_iterations, clone.seed) == (RATIO, "update", 40, 3)
    assert float(clone.learning_rate) == pytest.approx(0.5)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.optimizer, SpectralClampOptimizer)
    assert int(loaded.optimizer.iterations.numpy()) == 1


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="`ratio` must be"):
        SpectralClampOptimizer("sgd", 1.0)
    with pytest.raises(ValueError, match="`mode` must be one of"):
        SpectralClampOptimizer("sgd", 2.0, mode="weights")
    with pytest.raises(ValueError, match="`power_iterations`"):
        SpectralClampOptimizer("sgd", 2.0, power_iterations=0)


@pytest.mark.parametrize("mode", ["gradient", "update"])
def test_mirrored_strategy_clamps_like_one_replica(mode):
    """Two replicas, SGD(1), against NumPy SVD: "gradient" clamps each replica's gradient before aggregation,
    "update" clamps the aggregated step."""
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"],
                                              cross_device_ops=tf.distribute.ReductionToOneDevice())
    x, y = _data()
    with strategy.scope():
        model = _model()
        model.compile(SpectralClampOptimizer(keras.optimizers.SGD(1.0), RATIO, mode, power_iterations=80, seed=0),
                      "mse")
    before = [v.numpy().astype("float64") for v in model.trainable_variables]
    grads = _gradients(model, x, y)
    halves = [_gradients(model, x[:4], y[:4]), _gradients(model, x[4:], y[4:])]  # one per replica
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    for i, (b, v, g) in enumerate(zip(before, model.trainable_variables, grads)):
        update = v.numpy() - b
        if not _is_kernel(g):
            np.testing.assert_allclose(update, -g, rtol=1e-4, atol=1e-6)
        elif mode == "update":  # the clamp of the aggregated (global-batch) step
            np.testing.assert_allclose(update, -_clamped(g, RATIO), rtol=1e-3, atol=1e-6)
            s = np.linalg.svd(update, compute_uv=False)
            assert s[0] / s[1] <= RATIO * (1 + 1e-3)
        else:  # each replica's gradient (of loss / 2) is clamped before the sum
            expected = -0.5 * (_clamped(halves[0][i], RATIO) + _clamped(halves[1][i], RATIO))
            np.testing.assert_allclose(update, expected, rtol=1e-3, atol=1e-6)
