"""The unconstrained WGAN objective: its closed-form supremum, the differentiable Lipschitz estimate, and a
critic trained on N((3, 0), I) vs N(0, I) (W = 3) reaching W² = 9 with ‖f‖_L = α·W^{α−1} = 6."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_lipschitz import analysis
from tf_lipschitz.models import UnconstrainedWassersteinCritic
from tf_lipschitz.penalties import unconstrained as uw


@pytest.mark.parametrize("alpha", [1.5, 2.0, 3.0])
@pytest.mark.parametrize("w", [0.5, 3.0])
def test_supremum_over_the_slope_is_w_to_the_alpha(alpha, w):
    # A critic with Lipschitz constant L gains at most L·W; the supremum of L·W − price(L) is W^α at α·W^{α−1}.
    slopes = np.linspace(0.0, 4 * alpha * w ** (alpha - 1), 200_001)
    values = slopes * w - uw.unconstrained_wgan_regularizer(slopes.astype("float32"), alpha).numpy()
    assert values.max() == pytest.approx(w**alpha, rel=1e-4)
    assert slopes[values.argmax()] == pytest.approx(alpha * w ** (alpha - 1), rel=1e-3)


def test_objective_is_the_numpy_formula():
    rng = np.random.default_rng(0)
    f_mu, f_nu = rng.normal(2.0, 1.0, (50, 1)), rng.normal(size=(70, 1))
    alpha, lipschitz = 2.5, 1.7
    price = (alpha - 1) * alpha ** (alpha / (1 - alpha)) * lipschitz ** (alpha / (alpha - 1))
    expected = f_mu.mean() - f_nu.mean() - price
    value = uw.unconstrained_wgan_objective(f_mu.astype("float32"), f_nu.astype("float32"), lipschitz, alpha)
    assert float(value) == pytest.approx(expected, rel=1e-5)


def test_ratios_of_a_quadratic_are_its_local_gradient_norms():
    # f(x) = ‖x‖²: |f(x + εu) − f(x)| / ε = |2x·u + ε| for a unit u; the power iteration (u ← x + ξu, normalized)
    # converges to ±x/‖x‖, where the ratio is 2‖x‖ ± ε: with ε ≤ 0.05, 2‖x‖ within 0.05.
    x = np.random.default_rng(1).normal(size=(64, 3)).astype("float32")
    f = lambda t: tf.reduce_sum(tf.square(t), axis=1, keepdims=True)  # noqa: E731
    ratios = uw.adversarial_lipschitz_ratios(f, x, xi=0.1, power_iterations=5, seed=0).numpy()
    norms = 2 * np.linalg.norm(x, axis=1)
    np.testing.assert_allclose(ratios, norms, atol=0.05 + 1e-4, rtol=0)


@pytest.mark.parametrize("statistic", ["max", "mean"])
def test_gradient_flows_through_the_lipschitz_estimate(statistic):
    # f(x) = x·w: every ratio is ‖w‖, the penalty (α = 2) is ‖w‖²/4, and its gradient is w/2.
    w = tf.Variable([[1.0], [-2.0]])
    x = np.random.default_rng(2).normal(size=(16, 2)).astype("float32")
    with tf.GradientTape() as tape:
        result = uw.unconstrained_wgan_penalty(lambda t: t @ w, x, alpha=2.0, statistic=statistic, seed=0)
    assert float(result.penalty) == pytest.approx(5.0 / 4.0, rel=1e-4)
    np.testing.assert_allclose(tape.gradient(result.penalty, w).numpy(), w.numpy() / 2, rtol=1e-3)
    assert float(result.ratio_max) == pytest.approx(np.sqrt(5.0), rel=1e-5)


def test_lipschitz_estimate_statistics_and_errors():
    ratios = tf.constant([1.0, 4.0, 2.0])
    assert float(uw.lipschitz_estimate(ratios)) == 4.0
    assert float(uw.lipschitz_estimate(ratios, "mean")) == pytest.approx(7.0 / 3.0)
    with pytest.raises(ValueError, match="statistic"):
        uw.lipschitz_estimate(ratios, "median")
    with pytest.raises(ValueError, match="alpha"):
        uw.unconstrained_wgan_regularizer(1.0, alpha=1.0)
    with pytest.raises(ValueError, match="alpha"):
        UnconstrainedWassersteinCritic(keras.Sequential([keras.layers.Dense(1)]), alpha=0.5)


def _mlp(d, width=64):
    return keras.Sequential([keras.Input((d,)), keras.layers.Dense(width, activation="relu"),
                             keras.layers.Dense(width, activation="relu"), keras.layers.Dense(1)])


def test_trained_critic_reaches_w_squared_and_slope_alpha_w():
    steps, batch = 400, 512
    rng = np.random.default_rng(0)
    mu = lambda n: (rng.normal(size=(n, 2)) + [3.0, 0.0]).astype("float32")  # noqa: E731
    nu = lambda n: rng.normal(size=(n, 2)).astype("float32")  # noqa: E731
    critic = _mlp(2)
    model = UnconstrainedWassersteinCritic(critic, alpha=2.0, seed=0)
    model.compile(keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-2, steps, alpha=0.01)))
    data = tf.data.Dataset.from_tensor_slices((mu(steps * batch), nu(steps * batch))).batch(batch)
    history = model.fit(data, epochs=1, verbose=0).history
    assert set(history) == {"loss", "objective", "difference", "lipschitz_estimate", "wasserstein_estimate"}

    # Independent of ALP's estimate: the Lipschitz constant as the max input-gradient norm on samples and a grid.
    a, b = mu(100_000), nu(100_000)
    grid = np.stack(np.meshgrid(np.linspace(-3, 6, 61), np.linspace(-4, 4, 61)), -1).reshape(-1, 2)
    lipschitz = max(analysis.empirical_lipschitz(critic, np.concatenate([a[:2000], b[:2000]])),
                    analysis.empirical_lipschitz(critic, grid.astype("float32")))
    difference = float(np.mean(critic.predict(a, batch_size=10_000, verbose=0))
                       - np.mean(critic.predict(b, batch_size=10_000, verbose=0)))
    objective = difference - lipschitz**2 / 4  # α = 2
    assert lipschitz == pytest.approx(6.0, rel=0.15)
    assert objective == pytest.approx(9.0, rel=0.10)


def test_registered_as_a_penalty_with_validated_options():
    from tf_lipschitz import penalties

    penalty = penalties.get("Unconstrained-WGAN", alpha=3.0)
    assert (penalty.name, penalty.penalty_weight, penalty.kwargs) == ("unconstrained", 1.0, {"alpha": 3.0})
    assert penalty.function is uw.unconstrained_wgan_penalty  # the historical module re-exports the penalty's
    with pytest.raises(ValueError, match=r"`alpha` must be a finite number > 1.*alpha=1.0"):
        penalties.get("unconstrained", alpha=1.0)
    with pytest.raises(ValueError, match="statistic"):
        penalties.get("unconstrained", statistic="median")
    with pytest.raises(ValueError, match="Unknown arguments"):
        penalties.get("unconstrained", K=1.0)


def test_lipschitz_gan_critic_reaches_w_squared_through_the_penalty_option():
    # Generator-free check of LipschitzGAN's penalty path: the generator is the identity held fixed (SGD with a
    # zero learning rate), so fake samples are z ~ N(0, I) = ν; real samples are µ = N((3, 0), I); W = 3.
    from tf_lipschitz.models import LipschitzGAN

    keras.utils.set_random_seed(0)
    steps, batch = 300, 512
    generator = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, kernel_initializer="identity")])
    critic = _mlp(2)
    gan = LipschitzGAN(generator, critic, latent_dim=2, loss="wgan", penalty="unconstrained",
                       penalty_kwargs={"alpha": 2.0}, n_critic=1, generator_batch_multiplier=1, seed=0)
    assert gan.penalty_weight == 1.0
    gan.compile(critic_optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-2, steps, alpha=0.01)),
                generator_optimizer=keras.optimizers.SGD(0.0), jit_compile=False)
    rng = np.random.default_rng(0)
    real = (rng.normal(size=(steps // 3 * batch, 2)) + [3.0, 0.0]).astype("float32")
    history = gan.fit(real, batch_size=batch, epochs=3, verbose=0).history  # 3 epochs of 100 steps
    np.testing.assert_array_equal(generator.layers[0].kernel.numpy(), np.eye(2))

    a = (rng.normal(size=(100_000, 2)) + [3.0, 0.0]).astype("float32")
    b = rng.normal(size=(100_000, 2)).astype("float32")
    grid = np.stack(np.meshgrid(np.linspace(-3, 6, 61), np.linspace(-4, 4, 61)), -1).reshape(-1, 2)
    lipschitz = max(analysis.empirical_lipschitz(critic, np.concatenate([a[:2000], b[:2000]])),
                    analysis.empirical_lipschitz(critic, grid.astype("float32")))
    difference = float(np.mean(critic.predict(a, batch_size=10_000, verbose=0))
                       - np.mean(critic.predict(b, batch_size=10_000, verbose=0)))
    assert lipschitz == pytest.approx(6.0, rel=0.15)  # α·W^{α−1}
    assert difference - lipschitz**2 / 4 == pytest.approx(9.0, rel=0.10)  # W^α
    # The logged critic loss (last epoch's mean) is minus the objective with the batch's estimate of ‖f‖_L.
    assert -history["critic_loss"][-1] == pytest.approx(9.0, rel=0.10)


def _two_slope_gan(alpha=2.0, **kwargs):
    """A LipschitzGAN whose critic f(x) = 3·relu(x) − relu(−x) has slope 3 at the reals (x = 5) and 1 at the
    fakes (x = −5, a constant generator); nothing trains (zero learning rates)."""
    from tf_lipschitz.models import LipschitzGAN

    constant = keras.layers.Dense(1, kernel_initializer="zeros", bias_initializer=keras.initializers.Constant(-5.0))
    generator = keras.Sequential([keras.Input((1,)), constant])
    critic = keras.Sequential([
        keras.Input((1,)),
        keras.layers.Dense(2, activation="relu", kernel_initializer=keras.initializers.Constant([[1.0, -1.0]])),
        keras.layers.Dense(1, use_bias=False, kernel_initializer=keras.initializers.Constant([[3.0], [-1.0]])),
    ])
    return LipschitzGAN(generator, critic, latent_dim=1, loss="wgan", penalty="unconstrained",
                        penalty_kwargs={"alpha": alpha}, n_critic=1, generator_batch_multiplier=1, seed=0, **kwargs)


def test_lipschitz_gan_both_prices_the_max_lipschitz_estimate_over_both_halves(alpha=2.0):
    # Closed form (the slides' price of ‖f‖_L): L = max(L_real, L_fake) = 3,
    # price = (α − 1)·α^{α/(1−α)}·3^{α/(α−1)} (2.25 for α = 2). Before the fix each half was priced and the prices averaged: (3² + 1²)/4/2 = 1.25.
    gan = _two_slope_gan(alpha)
    gan.compile(critic_optimizer=keras.optimizers.SGD(0.0), generator_optimizer=keras.optimizers.SGD(0.0),
                jit_compile=False)
    logs = gan.fit(np.full((16, 1), 5.0, "float32"), batch_size=16, epochs=1, verbose=0).history
    price = (alpha - 1) * alpha ** (alpha / (1 - alpha)) * 3.0 ** (alpha / (alpha - 1))
    assert logs["penalty"][0] == pytest.approx(price, rel=1e-4)
    assert logs["ratio_max"][0] == pytest.approx(3.0, rel=1e-4)
    assert logs["ratio_mean"][0] == pytest.approx(2.0, rel=1e-4)  # the joined batch: half at 3, half at 1
    assert logs["violation_fraction"][0] == 0.0
    # The critic loss is minus the objective E_µ f − E_ν f − price = −(15 − (−5) − price).
    assert logs["critic_loss"][0] == pytest.approx(-(20.0 - price), rel=1e-4)


def test_lipschitz_gan_refuses_summing_the_halves_of_the_unconstrained_price():
    # Before the fix, "sum" doubled a per-half average ((3² + 1²)/4 = 2.5 instead of 2.25).
    with pytest.raises(ValueError, match=r"both_reduction='sum'.*unconstrained"):
        _two_slope_gan(both_reduction="sum")


def test_unconstrained_penalty_of_an_empty_batch_is_refused():
    # Before: max over no ratios is −∞ and its price ∞, returned silently.
    w = tf.constant([[3.0], [4.0]])
    with pytest.raises(ValueError, match="empty batch"):
        uw.unconstrained_wgan_penalty(lambda x: x @ w, tf.zeros((0, 2)), seed=0)
    traced = tf.function(lambda x: uw.unconstrained_wgan_penalty(lambda t: t @ w, x, seed=0).penalty,
                         input_signature=[tf.TensorSpec((None, 2))])
    with pytest.raises(tf.errors.InvalidArgumentError, match="empty batch"):
        traced(tf.zeros((0, 2)))
    assert float(traced(tf.ones((3, 2)))) == pytest.approx(25.0 / 4, rel=1e-4)
