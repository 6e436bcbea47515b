"""Spectral clamping (Brock et al.) and weight normalization (Salimans & Kingma) as weight constraints, against
NumPy's SVD and norms."""

import os

import keras
import numpy as np
import pytest

from tf_lipschitz.constraints import SpectralClamp, WeightNorm, spectral_clamp_weights, weight_norm


def _svd(matrix):
    return np.linalg.svd(np.asarray(matrix, np.float64), compute_uv=False)


@pytest.mark.parametrize("shape", [(6, 4), (3, 3, 2, 5)])
@pytest.mark.parametrize("ratio", [1.0, 1.5, 100.0])
def test_spectral_clamp_changes_only_the_top_singular_value(shape, ratio):
    w = np.random.default_rng(0).normal(size=shape).astype("float32")
    w.reshape(-1, shape[-1])[:, 0] *= 6.0  # a dominant direction (spectral collapse)
    before = _svd(w.reshape(-1, shape[-1]))
    after = _svd(np.asarray(spectral_clamp_weights(w, ratio)).reshape(-1, shape[-1]))
    expected = before.copy()
    expected[0] = min(before[0], ratio * before[1])
    np.testing.assert_allclose(np.sort(after)[::-1], np.sort(expected)[::-1], rtol=1e-4, atol=1e-5)


def test_spectral_clamp_leaves_other_singular_directions_alone():
    rng = np.random.default_rng(1)
    u, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    v, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    w = (u[:, :3] * [9.0, 2.0, 1.0]) @ v.T
    expected = (u[:, :3] * [3.0, 2.0, 1.0]) @ v.T
    np.testing.assert_allclose(np.asarray(spectral_clamp_weights(w.astype("float32"), 1.5)), expected, atol=1e-5)


def test_weight_norm_matches_numpy_column_norms():
    w = np.random.default_rng(2).normal(size=(3, 3, 2, 4)).astype("float32")
    got = np.asarray(weight_norm(w, 2.5))
    expected = 2.5 * w / np.linalg.norm(w.reshape(-1, 4), axis=0)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(got.reshape(-1, 4), axis=0), 2.5, rtol=1e-5)


def test_constraints_hold_after_fit_and_round_trip(tmp_path):
    model = keras.Sequential([
        keras.Input((6,)), keras.layers.Dense(5, kernel_constraint=SpectralClamp(1.2)),
        keras.layers.Dense(3, kernel_constraint=WeightNorm(0.5)),
    ])
    model.compile(keras.optimizers.SGD(0.5), "mse", jit_compile=True)
    x = np.random.default_rng(3).normal(size=(32, 6)).astype("float32")
    model.fit(x, np.outer(x[:, 0], [5.0, 5.0, 5.0]), epochs=3, verbose=0)
    s = _svd(model.layers[0].kernel.numpy())
    assert s[0] <= 1.2 * s[1] * (1 + 1e-4)
    np.testing.assert_allclose(np.linalg.norm(model.layers[1].kernel.numpy(), axis=0), 0.5, rtol=1e-5)
    path = os.path.join(tmp_path, "c.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.layers[0].kernel_constraint.ratio == 1.2 and loaded.layers[1].kernel_constraint.g == 0.5


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="ratio=0.5"):
        SpectralClamp(0.5)
    with pytest.raises(ValueError, match="g=0"):
        WeightNorm(0)
