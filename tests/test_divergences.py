"""The pure functions of `tf_lipschitz.divergences` against NumPy re-derivations and closed forms."""

import math

import numpy as np
import pytest
import tensorflow as tf
from scipy.special import logsumexp

from tf_lipschitz import divergences as dv


def test_log_mean_exp_matches_numpy_and_does_not_overflow():
    t = np.random.default_rng(0).normal(0.0, 3.0, 1000)
    np.testing.assert_allclose(float(dv.log_mean_exp(t.astype("float32"))), np.log(np.mean(np.exp(t))), rtol=1e-5)
    big = np.array([[500.0], [800.0], [-900.0]], "float32")  # (n, 1) like a critic's output; exp overflows
    assert float(dv.log_mean_exp(big)) == pytest.approx(logsumexp(big.astype(np.float64)) - np.log(3), rel=1e-6)


def test_donsker_varadhan_is_the_numpy_formula_on_fixed_samples():
    rng = np.random.default_rng(1)
    f_mu, f_nu = rng.normal(1.0, 2.0, 300), rng.normal(-1.0, 1.5, 500)
    expected = f_mu.mean() - np.log(np.mean(np.exp(f_nu)))
    value = dv.donsker_varadhan(f_mu.astype("float32")[:, None], f_nu.astype("float32")[:, None])
    assert float(value) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("w", [0.5, 1.0, 2.5])
def test_linear_critic_on_gaussians_gives_the_closed_form(w):
    # f(x) = w·x between N(m, 1) and N(0, 1): E_µ f − log E_ν e^f = w·m − w²/2, maximal (= m²/2) at w = m.
    m, n = 1.5, 400_000
    rng = np.random.default_rng(2)
    x_mu, x_nu = rng.normal(m, 1.0, n), rng.normal(0.0, 1.0, n)
    value = float(dv.donsker_varadhan((w * x_mu).astype("float32"), (w * x_nu).astype("float32")))
    # Standard error of the second term is about sqrt((e^{w²} − 1) / n) (delta method).
    tolerance = 5 * (w / math.sqrt(n) + math.sqrt(math.expm1(w * w) / n))
    assert value == pytest.approx(w * m - w * w / 2, abs=tolerance)
    assert w * m - w * w / 2 <= dv.gaussian_kl(m)


def test_moving_average_changes_the_gradient_not_the_value():
    rng = np.random.default_rng(3)
    x_mu, x_nu = rng.normal(1.0, 1.0, 64).astype("float32"), rng.normal(0.0, 1.0, 64).astype("float32")
    w = tf.Variable(0.7)
    log_average = math.log(1.3)
    values, grads = [], []
    for average in (None, log_average):
        with tf.GradientTape() as tape:
            value = dv.donsker_varadhan(w * x_mu, w * x_nu, log_moving_average=average)
        values.append(float(value))
        grads.append(float(tape.gradient(value, w)))
    x_mu64, x_nu64 = x_mu.astype(np.float64), x_nu.astype(np.float64)
    e = np.exp(0.7 * x_nu64)
    assert values[0] == pytest.approx(values[1], rel=1e-6)
    # d/dw of the plain bound: E x_mu − Σ e^{w x} x / Σ e^{w x}; with the average a: E x_mu − mean(e^{w x} x) / e^a.
    assert grads[0] == pytest.approx(x_mu64.mean() - np.sum(e * x_nu64) / np.sum(e), rel=1e-4)
    assert grads[1] == pytest.approx(x_mu64.mean() - np.mean(e * x_nu64) / 1.3, rel=1e-4)


def test_update_log_moving_average_is_the_bias_corrected_average():
    decay = 0.9
    values = np.array([3.0, 1.0, 10.0, 2.0, 1e30])  # the last one would overflow a float32 average
    log_average, expected = 0.0, []
    for t, value in enumerate(values, start=1):
        log_average = dv.update_log_moving_average(log_average, math.log(value), t, decay)
        weights = (1 - decay) * decay ** np.arange(t - 1, -1, -1)
        expected.append(np.sum(weights * values[:t]) / (1 - decay**t))
        assert float(log_average) == pytest.approx(math.log(expected[-1]), rel=1e-5)
    assert float(dv.update_log_moving_average(123.0, 0.5, 1, decay)) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="decay"):
        dv.update_log_moving_average(0.0, 0.0, 1, 1.0)


def test_product_of_marginals_is_a_derangement_for_every_shift():
    n = 7
    y = tf.range(n)
    for shift in range(1, n):
        x, rolled = dv.product_of_marginals(tf.range(n), y, shift)
        rolled = rolled.numpy()
        np.testing.assert_array_equal(rolled, np.roll(np.arange(n), shift))
        assert sorted(rolled) == list(range(n)) and np.all(rolled != x.numpy())


def test_product_of_marginals_decorrelates_the_pairs():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(20_000, 1))
    y = 0.9 * x + math.sqrt(1 - 0.81) * rng.normal(size=(20_000, 1))
    _, rolled = dv.product_of_marginals(tf.constant(x), tf.constant(y), 5)
    assert abs(np.corrcoef(x[:, 0], rolled.numpy()[:, 0])[0, 1]) < 0.03  # 4 standard errors


def test_lipschitz_donsker_varadhan_penalizes_the_slope_above_lam():
    w = tf.constant([[2.0]])  # f(x) = 2x
    rng = np.random.default_rng(5)
    x_mu, x_nu = rng.normal(1.0, 1.0, (32, 1)).astype("float32"), rng.normal(size=(16, 1)).astype("float32")
    result = dv.lipschitz_donsker_varadhan(lambda t: t @ w, x_mu, x_nu, lam=0.5, xi=1.0, epsilon=(0.1, 0.5), seed=0)
    expected = 2 * x_mu.mean() - np.log(np.mean(np.exp(2.0 * x_nu.astype(np.float64))))
    assert float(result.estimate) == pytest.approx(expected, rel=1e-5)
    assert float(result.penalty.ratio_max) == pytest.approx(2.0, rel=1e-5)
    assert float(result.penalty.penalty) == pytest.approx((2.0 - 0.5) ** 2, rel=1e-4)
    assert float(result.log_mean_exp_nu) == pytest.approx(np.log(np.mean(np.exp(2.0 * x_nu.astype(np.float64)))),
                                                        rel=1e-5)
    assert dv.lipschitz_donsker_varadhan(lambda t: t @ w, x_mu, x_nu).penalty is None
    with pytest.raises(ValueError, match="lam"):
        dv.lipschitz_donsker_varadhan(lambda t: t @ w, x_mu, x_nu, lam=0.0)
    with pytest.raises(ValueError, match="lam"):
        dv.lipschitz_donsker_varadhan(lambda t: t @ w, x_mu, x_nu, lam=1.0, K=1.0)


@pytest.mark.parametrize("m", [-2.0, 0.7, 3.0])
def test_gaussian_lipschitz_kl_is_the_best_linear_critic_and_tends_to_kl(m):
    for lam in (0.1, 0.5, 1.0, 2.0, 5.0):
        slopes = np.linspace(-lam, lam, 20_001)
        best = np.max(slopes * m - slopes**2 / 2)  # DV value of f(x) = s·x, |s| ≤ λ
        assert dv.gaussian_lipschitz_kl(m, lam) == pytest.approx(best, abs=1e-6)
        assert dv.gaussian_lipschitz_kl(m, lam) <= dv.gaussian_kl(m) + 1e-12
    assert dv.gaussian_lipschitz_kl(m, 100.0) == dv.gaussian_kl(m) == pytest.approx(m * m / 2)
    with pytest.raises(ValueError, match="lam"):
        dv.gaussian_lipschitz_kl(m, -1.0)


@pytest.mark.parametrize("rho,d", [(0.5, 1), (0.75, 2), (-0.3, 3)])
def test_gaussian_mutual_information_matches_the_covariance_determinants(rho, d):
    # I = ½ log(det Σ_X det Σ_Y / det Σ_XY) for jointly Gaussian (X, Y).
    cov = np.block([[np.eye(d), rho * np.eye(d)], [rho * np.eye(d), np.eye(d)]])
    expected = 0.5 * np.log(1.0 / np.linalg.det(cov))
    assert dv.gaussian_mutual_information(rho, d) == pytest.approx(expected, rel=1e-10)


def test_gaussian_mutual_information_rejects_bad_arguments():
    with pytest.raises(ValueError, match="rho"):
        dv.gaussian_mutual_information(1.0)
    with pytest.raises(ValueError, match="d"):
        dv.gaussian_mutual_information(0.5, 0)
