"""The `fit`-based estimators against closed forms: KL and D_λ between unit Gaussians, MINE on correlated
Gaussians (with and without a Lipschitz critic), plus `.keras` round trips, XLA, mixed precision and errors."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_lipschitz import divergences as dv
from tf_lipschitz.layers import SpectralNormDense
from tf_lipschitz.models import DivergenceEstimator, MutualInformationEstimator, UnconstrainedWassersteinCritic

STEPS, BATCH, EVAL = 300, 512, 200_000


def _mlp(d, width=64):
    return keras.Sequential([keras.Input((d,)), keras.layers.Dense(width, activation="relu"),
                             keras.layers.Dense(width, activation="relu"), keras.layers.Dense(1)])


def _gaussians(rng, m, n):
    return rng.normal(m, 1.0, (n, 1)).astype("float32"), rng.normal(0.0, 1.0, (n, 1)).astype("float32")


def _correlated(rng, rho, d, n):
    x = rng.normal(size=(n, d))
    return x.astype("float32"), (rho * x + np.sqrt(1 - rho**2) * rng.normal(size=(n, d))).astype("float32")


def _train(estimator, samples, lr=3e-3):
    estimator.compile(keras.optimizers.Adam(lr))
    history = estimator.fit(tf.data.Dataset.from_tensor_slices(samples).batch(BATCH), epochs=1, verbose=0)
    return history.history


def _kl_estimate(m, lam, seed=0, **options):
    rng = np.random.default_rng(seed)
    estimator = DivergenceEstimator(_mlp(1), lam=lam, seed=seed, **options)
    history = _train(estimator, _gaussians(rng, m, STEPS * BATCH))
    assert np.isfinite(history["divergence"]).all()
    return estimator.estimate(*_gaussians(rng, m, EVAL))


@pytest.mark.parametrize("bias_correction", [None, 0.99])
def test_kl_between_unit_gaussians(bias_correction):
    m = 1.5
    estimate = _kl_estimate(m, None, bias_correction=bias_correction)
    assert estimate == pytest.approx(dv.gaussian_kl(m), rel=0.10)  # 1.125


def test_lipschitz_kl_is_the_moreau_yosida_closed_form_and_rises_with_lam():
    m = 2.0
    estimates = {lam: _kl_estimate(m, lam) for lam in (0.5, 1.0)}
    for lam, estimate in estimates.items():
        assert estimate == pytest.approx(dv.gaussian_lipschitz_kl(m, lam), rel=0.10)  # 0.875, 1.5
    assert estimates[0.5] < estimates[1.0] < dv.gaussian_kl(m)


def test_normalized_layers_give_the_lipschitz_kl_without_a_penalty():
    # Spectral-normalized layers with k_sn = λ, 1, 1 and ReLU: the critic is λ-Lipschitz by construction.
    m, lam = 2.0, 1.0
    critic = keras.Sequential([keras.Input((1,)), SpectralNormDense(32, k_sn=lam, activation="relu"),
                               SpectralNormDense(32, activation="relu"), SpectralNormDense(1)])
    rng = np.random.default_rng(0)
    estimator = DivergenceEstimator(critic)
    _train(estimator, _gaussians(rng, m, STEPS * BATCH), lr=1e-2)
    estimate = estimator.estimate(*_gaussians(rng, m, EVAL))
    assert estimate == pytest.approx(dv.gaussian_lipschitz_kl(m, lam), rel=0.10)  # 1.5, below the KL 2


def _mi_estimate(rho, d, lam, steps=STEPS, **options):
    rng = np.random.default_rng(0)
    estimator = MutualInformationEstimator(_mlp(2 * d), lam=lam, seed=0, **options)
    history = _train(estimator, _correlated(rng, rho, d, steps * BATCH))
    assert np.isfinite(history["mutual_information"]).all()
    return estimator.estimate(*_correlated(rng, rho, d, EVAL))


@pytest.mark.parametrize("bias_correction", [None, 0.99])
def test_mine_on_correlated_gaussians(bias_correction):
    estimate = _mi_estimate(0.75, 2, None, bias_correction=bias_correction)
    assert estimate == pytest.approx(dv.gaussian_mutual_information(0.75, 2), rel=0.10)  # 0.8267


def test_lipschitz_mine_stays_below_the_mutual_information_and_rises_with_lam():
    exact = dv.gaussian_mutual_information(0.75, 2)
    low, high = _mi_estimate(0.75, 2, 0.5, steps=150), _mi_estimate(0.75, 2, 1.0, steps=150)
    # Measured ≈ 0.33 and ≈ 0.55 after 300 steps: the quadratic log density ratio is not λ-Lipschitz, so D_λ < I.
    assert 0.1 < low < high < 0.9 * exact


def _roundtrip(model, tmp_path, *args):
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is type(model)
    assert json.dumps(loaded.get_config(), sort_keys=True) == json.dumps(model.get_config(), sort_keys=True)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    return loaded


def test_keras_round_trip_of_the_three_estimators_and_xla(tmp_path):
    rng = np.random.default_rng(0)
    x_mu, x_nu = _gaussians(rng, 1.0, 64)
    divergence = DivergenceEstimator(_mlp(1, 8), lam=2.0, penalty_weight=5.0, bias_correction=0.9, seed=3,
                                     power_iterations=2, d_x="l2")
    divergence.compile("adam", jit_compile=True)
    divergence.fit(x_mu, x_nu, batch_size=16, verbose=0)
    assert float(divergence.moving_average_steps.numpy()) == 4.0
    loaded = _roundtrip(divergence, tmp_path)
    assert loaded.estimate(x_mu, x_nu) == pytest.approx(divergence.estimate(x_mu, x_nu), rel=1e-6)
    assert float(loaded.log_moving_average.numpy()) == float(divergence.log_moving_average.numpy())
    assert (loaded.lam, loaded.penalty_weight, loaded.bias_correction) == (2.0, 5.0, 0.9)

    x, y = _correlated(rng, 0.5, 1, 64)
    mine = MutualInformationEstimator(_mlp(2, 8), lam=1.0, seed=1)
    mine.compile("adam", jit_compile=False)
    mine.fit(x, y, batch_size=16, verbose=0)
    assert _roundtrip(mine, tmp_path).estimate(x, y) == pytest.approx(mine.estimate(x, y), rel=1e-6)

    critic = UnconstrainedWassersteinCritic(_mlp(1, 8), alpha=3.0, statistic="mean", epsilon=(0.01, 0.1))
    critic.compile("adam", jit_compile=False)
    critic.fit(x_mu, x_nu, batch_size=16, verbose=0)
    loaded = _roundtrip(critic, tmp_path)
    assert (loaded.alpha, loaded.statistic, loaded.epsilon) == (3.0, "mean", (0.01, 0.1))


def test_mixed_precision_and_evaluate():
    keras.mixed_precision.set_global_policy("mixed_float16")
    rng = np.random.default_rng(0)
    x_mu, x_nu = _gaussians(rng, 1.0, 64)
    estimator = DivergenceEstimator(_mlp(1, 8), lam=1.0, seed=0)
    estimator.compile("adam")
    history = estimator.fit(x_mu, x_nu, batch_size=32, verbose=0).history
    assert sorted(history) == ["divergence", "loss", "penalty", "ratio_max", "ratio_mean", "violation_fraction"]
    assert np.isfinite(list(history.values())).all()
    logs = estimator.evaluate(x_mu, x_nu, batch_size=64, verbose=0, return_dict=True)
    # evaluate on one batch of everything: the logged divergence is the DV value of the whole sample.
    assert logs["divergence"] == pytest.approx(estimator.estimate(x_mu, x_nu), rel=1e-2, abs=1e-2)


def test_mirrored_strategy_averages_the_replicas_gradients():
    # A linear critic f(x) = w·x + b and one SGD step on 2 replicas, each with half of both batches: the update is
    # lr × the mean over halves of d DV / dw = mean(x_mu) − Σ e^{w x} x / Σ e^{w x} (and 0 for b).
    rng = np.random.default_rng(0)
    x_mu, x_nu = _gaussians(rng, 1.0, 16)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"],
                                              cross_device_ops=tf.distribute.ReductionToOneDevice())
    with strategy.scope():
        critic = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, kernel_initializer="ones")])
        estimator = DivergenceEstimator(critic)
        estimator.compile(keras.optimizers.SGD(0.1))
    estimator.fit(tf.data.Dataset.from_tensor_slices((x_mu, x_nu)).batch(16), epochs=1, verbose=0)
    gradients = []
    for half in (slice(0, 8), slice(8, 16)):
        a, b = x_mu[half, 0].astype(np.float64), x_nu[half, 0].astype(np.float64)
        gradients.append(a.mean() - np.sum(np.exp(b) * b) / np.sum(np.exp(b)))
    kernel, bias = critic.get_weights()
    assert kernel[0, 0] == pytest.approx(1.0 + 0.1 * np.mean(gradients), rel=1e-5)
    assert bias[0] == pytest.approx(0.0, abs=1e-6)


def test_invalid_arguments_name_the_argument():
    critic = _mlp(1, 4)
    with pytest.raises(ValueError, match="lam"):
        DivergenceEstimator(critic, lam=-1.0)
    with pytest.raises(ValueError, match="penalty_weight"):
        DivergenceEstimator(critic, lam=1.0, penalty_weight=-1.0)
    with pytest.raises(ValueError, match="bias_correction"):
        MutualInformationEstimator(critic, bias_correction=1.0)
    with pytest.raises(ValueError, match="Unknown ALP options"):
        DivergenceEstimator(critic, lam=1.0, K=1.0)
    with pytest.raises(ValueError, match="d_x"):
        DivergenceEstimator(critic, lam=1.0, d_x="l3")
    with pytest.raises(ValueError, match="statistic"):
        UnconstrainedWassersteinCritic(critic, statistic="median")
    # One rule per option, the penalty declaration's, checked at construction (combinations included).
    with pytest.raises(ValueError, match=r"`clip_probe=True` needs a `clip` range"):
        DivergenceEstimator(critic, lam=1.0, clip_probe=True)
    with pytest.raises(ValueError, match=r"`xi` must be a finite number >= 0"):
        UnconstrainedWassersteinCritic(critic, xi=-1.0)
    assert DivergenceEstimator(critic, lam=1.0, xi=0).penalty_kwargs["xi"] == 0  # the limit ξ → 0, as in ALP
    estimator = DivergenceEstimator(critic)
    estimator.compile("adam")
    with pytest.raises(ValueError, match=r"needs \(x, y\) batches"):
        estimator.fit(np.zeros((8, 1), "float32"), verbose=0)


# ------------------------------------------------------------------------------------ non-finite input, MINE n=1
def _small_critic(d=1):
    return keras.Sequential([keras.Input((d,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])


@pytest.mark.parametrize("cls", [DivergenceEstimator, MutualInformationEstimator, UnconstrainedWassersteinCritic])
def test_nan_batch_stops_fit_naming_the_step_and_nan_arrays_are_refused(cls):
    # Before: fit logged NaN for the rest of training and returned normally.
    x = np.random.default_rng(0).normal(size=(64, 1)).astype("float32")
    damaged = x.copy()
    damaged[40] = np.nan  # in the third batch of 16
    estimator = cls(_small_critic(2 if cls is MutualInformationEstimator else 1), seed=0)
    estimator.compile(keras.optimizers.Adam(1e-3))
    dataset = tf.data.Dataset.from_tensor_slices((damaged, x)).batch(16)
    with pytest.raises(FloatingPointError, match=rf"{cls.__name__} training stopped: .*loss.* epoch 1, batch 3"):
        estimator.fit(dataset, verbose=0)
    with pytest.raises(ValueError, match="`x` contains 1 NaN or Inf"):
        estimator.fit(damaged, x, batch_size=16, verbose=0)


def test_estimate_raises_instead_of_returning_nan():
    x = np.random.default_rng(0).normal(size=(64, 1)).astype("float32")
    estimator = DivergenceEstimator(_small_critic())
    damaged = x.copy()
    damaged[0] = np.inf
    with pytest.raises(ValueError, match="`x_nu` contains 1 NaN or Inf"):
        estimator.estimate(x, damaged)
    estimator.critic.layers[-1].kernel.assign(np.full((8, 1), np.nan, "float32"))
    with pytest.raises(ValueError, match="estimate is nan"):
        estimator.estimate(x, x)


def test_mine_refuses_batches_of_one_pair():
    # Before: a single pair is its own product of marginals, and the estimate was exactly 0.
    x = np.random.default_rng(0).normal(size=(33, 1)).astype("float32")
    estimator = MutualInformationEstimator(_small_critic(2), seed=0)
    estimator.compile("adam")
    with pytest.raises(ValueError, match=r"at least 2 pairs.*batch_size of 1"):
        estimator.fit(x, x, batch_size=1, verbose=0)
    with pytest.raises(ValueError, match=r"last batch of 33 pairs in batches of 32 would hold 1 pair"):
        estimator.fit(x, x, batch_size=32, verbose=0)
    with pytest.raises(ValueError, match="at least 2 pairs"):
        estimator.estimate(x[:1], x[:1])
    with pytest.raises(tf.errors.InvalidArgumentError, match="at least 2 pairs"):
        estimator.fit(tf.data.Dataset.from_tensor_slices((x[:1], x[:1])).batch(1), verbose=0)
    assert np.isfinite(estimator.fit(x[:32], x[:32], batch_size=16, verbose=0).history["mutual_information"][0])
