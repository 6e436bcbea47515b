"""ALP's clipping to the data range: x̂ only (`clip`) or also the power iteration's probe (`clip_probe`)."""

import numpy as np
import pytest
import tensorflow as tf

from tf_lipschitz import penalties
from tf_lipschitz.penalties import adversarial_lipschitz_penalty, adversarial_perturbation

W = np.array([1.0, -2.0, 0.5, 3.0, -1.5, 2.5], "float32")
X = np.tile(np.array([[0.9, -0.9, 0.2, 0.95, -0.1, 0.6]], "float32"), (4, 1))
XI, EPS = 0.5, 0.3


def f(x):
    return tf.matmul(x, W.reshape(-1, 1))


def test_clipped_probe_direction_and_penalty_match_numpy():
    # r₀ of seed 0: the k = 0 perturbation with ε = 1 (same seed, same stream).
    r0 = np.asarray(adversarial_perturbation(f, X, xi=XI, epsilon=1.0, power_iterations=0, seed=0))
    probe = X + XI * r0
    inside = np.abs(probe) < 1.0  # clip_by_value passes the gradient only inside the range
    assert inside.any(axis=1).all() and (~inside).any()  # the test must clip some coordinates, not all
    sign = np.sign((np.clip(probe, -1, 1) - X) @ W)[:, None]
    direction = sign * W * inside
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    r = adversarial_perturbation(f, X, xi=XI, epsilon=EPS, seed=0, clip=(-1.0, 1.0))
    np.testing.assert_allclose(np.asarray(r), EPS * direction, rtol=1e-5, atol=1e-6)
    # Unclipped probe: the direction is ±w/‖w‖ for a linear f.
    free = np.asarray(adversarial_perturbation(f, X, xi=XI, epsilon=EPS, seed=0))
    np.testing.assert_allclose(np.abs(free), EPS * np.abs(W) / np.linalg.norm(W) * np.ones_like(X), rtol=1e-5)

    result = adversarial_lipschitz_penalty(f, X, xi=XI, epsilon=EPS, seed=0, clip=(-1.0, 1.0), clip_probe=True,
                                           K=1.0, reduction="squared")
    x_hat = np.clip(X + EPS * direction, -1.0, 1.0)
    ratio = np.abs((x_hat - X) @ W) / np.linalg.norm(x_hat - X, axis=1)
    np.testing.assert_allclose(float(result.ratio_mean), ratio.mean(), rtol=1e-5)
    np.testing.assert_allclose(float(result.penalty), np.mean(np.maximum(ratio - 1.0, 0.0) ** 2), rtol=1e-5)
    # clip alone (the default behaviour) clips x̂ but not the probe: the ratio then differs.
    old = adversarial_lipschitz_penalty(f, X, xi=XI, epsilon=EPS, seed=0, clip=(-1.0, 1.0))
    assert abs(float(old.ratio_mean) - ratio.mean()) > 1e-3


def test_clip_probe_is_a_declared_option_and_needs_clip():
    assert penalties.get("alp", clip=(-1, 1), clip_probe=True).kwargs["clip_probe"] is True
    with pytest.raises(ValueError, match="clip_probe"):
        penalties.get("alp", clip_probe=1)
    with pytest.raises(ValueError, match="clip_probe"):
        adversarial_lipschitz_penalty(f, X, clip_probe=True)
