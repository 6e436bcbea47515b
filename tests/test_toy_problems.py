"""The ring toy of ALR section 4.2: f̂_opt of Eq. (25) against its definition, and the grid metrics."""

import numpy as np
import pytest
import tensorflow as tf
from scipy import integrate

from tf_lipschitz.toy import ring as tp


def _polar(radii, seed=0):
    angles = np.random.default_rng(seed).uniform(0, 2 * np.pi, len(radii))
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)


def _eq25_literally(r):
    """Eq. (25) transcribed case by case, to check the compact min(1, |r − 1.5|) form against."""
    if r <= 0.5:
        return 1.0
    if r <= 1.5:
        return 1.5 - r
    if r <= 2.5:
        return r - 1.5
    return 1.0


def test_target_is_eq24_zero_on_the_closed_ring_one_elsewhere():
    radii = np.array([0.0, 0.99, 1.0, 1.5, 2.0, 2.01, 4.0 * np.sqrt(2)])
    np.testing.assert_array_equal(tp.ring_target(_polar(radii)), [1, 1, 0, 0, 0, 1, 1])


def test_optimal_matches_eq25_case_by_case():
    radii = np.random.default_rng(1).uniform(0, 4 * np.sqrt(2), 5000)
    radii[:6] = [0.5, 1.0, 1.5, 2.0, 2.5, 0.0]
    expected = [_eq25_literally(r) for r in radii]
    np.testing.assert_allclose(tp.ring_optimal(_polar(radii)), expected, atol=1e-12)


def test_optimal_equals_target_outside_the_transition_bands():
    rng = np.random.default_rng(2)
    radii = np.concatenate([rng.uniform(0, 0.5, 1000), rng.uniform(2.5, 4 * np.sqrt(2), 1000), [0.5, 1.5, 2.5]])
    points = _polar(radii)
    np.testing.assert_allclose(tp.ring_optimal(points), tp.ring_target(points), atol=1e-12)
    # Inside the bands it differs from f, by at most 1/2 (at r = 1 and r = 2, the jumps of f).
    band = _polar(rng.uniform(0.5, 2.5, 2000))
    gap = np.abs(tp.ring_optimal(band) - tp.ring_target(band))
    assert gap.max() <= 0.5 + 1e-12 and gap.max() > 0.49


def test_optimal_is_1_lipschitz_and_the_bound_is_tight():
    rng = np.random.default_rng(3)
    a = rng.uniform(-4, 4, (20000, 2))
    b = a + rng.normal(scale=rng.choice([1e-3, 0.1, 2.0], (20000, 1)), size=(20000, 2))
    quotient = np.abs(tp.ring_optimal(a) - tp.ring_optimal(b)) / np.linalg.norm(a - b, axis=1)
    assert quotient.max() <= 1.0 + 1e-9
    # Radial steps inside a band have slope exactly 1.
    inner, outer = _polar(np.full(100, 0.8), 4), _polar(np.full(100, 0.8), 4) * (1.2 / 0.8)
    np.testing.assert_allclose(np.abs(tp.ring_optimal(inner) - tp.ring_optimal(outer)), 0.4, atol=1e-12)


def test_optimal_gradient_norm_matches_finite_differences():
    radii = np.array([0.2, 0.7, 1.2, 1.8, 2.3, 3.0, 5.0])
    points = _polar(radii, 5)
    h = 1e-6
    grad = np.stack([(tp.ring_optimal(points + h * e) - tp.ring_optimal(points - h * e)) / (2 * h)
                     for e in np.eye(2)], axis=1)
    np.testing.assert_allclose(np.linalg.norm(grad, axis=1), tp.ring_optimal_gradient_norm(points), atol=1e-6)
    np.testing.assert_array_equal(tp.ring_optimal_gradient_norm(_polar(np.array([0.5, 1.5, 2.5]))), [0, 0, 0])


def test_evaluation_grid_layout_and_validation():
    grid = tp.evaluation_grid(5, 2.0)
    assert grid.shape == (25, 2) and grid.dtype == np.float32
    image_x = grid[:, 0].reshape(5, 5)
    image_y = grid[:, 1].reshape(5, 5)
    np.testing.assert_array_equal(image_x[0], [-2, -1, 0, 1, 2])  # x varies along a row
    np.testing.assert_array_equal(image_y[:, 0], [-2, -1, 0, 1, 2])  # y along a column, row 0 at y = -limit
    with pytest.raises(ValueError, match="resolution"):
        tp.evaluation_grid(1)
    with pytest.raises(ValueError, match="limit"):
        tp.evaluation_grid(5, 0.0)
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        tp.ring_optimal(np.zeros((3, 3)))


def test_grid_metrics_of_known_functions():
    grid = tp.evaluation_grid(101)
    exact = tp.grid_metrics(grid, tp.ring_optimal(grid), tp.ring_optimal_gradient_norm(grid))
    assert exact["rmse_opt"] == 0.0 and exact["max_abs_error_opt"] == 0.0 and exact["grad_norm_mae_opt"] == 0.0
    assert exact["max_grad_norm"] == 1.0

    shifted = tp.grid_metrics(grid, tp.ring_optimal(grid) - 0.25, np.full(len(grid), 3.0))
    assert shifted["rmse_opt"] == pytest.approx(0.25) and shifted["max_abs_error_opt"] == pytest.approx(0.25)
    assert shifted["max_grad_norm"] == 3.0 and shifted["mean_grad_norm"] == 3.0
    band_fraction = np.mean(tp.ring_optimal_gradient_norm(grid))
    assert shifted["grad_norm_mae_opt"] == pytest.approx(3.0 - band_fraction)

    with pytest.raises(ValueError, match="same length"):
        tp.grid_metrics(grid, np.zeros(3), np.zeros(3))


def test_rmse_of_the_optimum_against_the_target_equals_the_integral():
    # f − f̂_opt is a triangle wave of height 1/2 on 0.5 < r < 2.5, so the RMSE over [-4, 4]² is an integral.
    def squared_error(r):
        return (0.5 - abs(abs(r - 1.5) - 0.5)) ** 2 * 2 * np.pi * r

    exact = np.sqrt(integrate.quad(squared_error, 0.5, 2.5, points=[1.0, 1.5, 2.0])[0] / 64.0)
    grid = tp.evaluation_grid(801)
    metrics = tp.grid_metrics(grid, tp.ring_optimal(grid), tp.ring_optimal_gradient_norm(grid))
    assert metrics["rmse_target"] == pytest.approx(exact, abs=2e-3)
    assert exact == pytest.approx(0.1567, abs=1e-4)


def test_value_and_gradient_norm_of_a_quadratic_in_batches():
    points = tp.evaluation_grid(7, 3.0)
    values, norms = tp.value_and_gradient_norm(lambda t: tf.reduce_sum(t * t, axis=1), points, batch_size=10)
    np.testing.assert_allclose(values, np.sum(points.astype(np.float64) ** 2, axis=1), rtol=1e-6)
    np.testing.assert_allclose(norms, 2 * np.linalg.norm(points, axis=1), rtol=1e-6, atol=1e-6)
