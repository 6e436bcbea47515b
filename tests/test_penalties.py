"""Tests of tf_lipschitz.penalties: exact values on linear maps, NumPy re-derivations, finite differences,
graph/XLA/mixed-precision/distributed execution, bad inputs, and a WGAN critic on two Gaussians."""

import itertools
import time

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from references import TanhNet
from tf_lipschitz.penalties import (
    HalfNormalEpsilon,
    PenaltyResult,
    RelativeEpsilon,
    VALID_D_X,
    VALID_D_Y,
    adversarial_lipschitz_penalty,
    adversarial_perturbation,
    gradient_penalty,
    lipschitz_quotient_penalty,
    typical_pairwise_distance,
    virtual_adversarial_loss,
)


def _linear(norm=3.0, dim=5, seed=0):
    """f(x) = w·x with ‖w‖ = norm, on inputs of any shape with `dim` entries per sample."""
    w = np.random.default_rng(seed).normal(size=dim)
    w = (norm * w / np.linalg.norm(w)).astype("float32")
    wt = tf.constant(w)
    return w, lambda x: tf.reduce_sum(tf.reshape(x, (-1, dim)) * wt, axis=1, keepdims=True)


def _np_norm(d, kind):
    d = d.reshape(len(d), -1)
    return {"l2": np.linalg.norm(d, axis=1), "l1": np.abs(d).sum(1), "linf": np.abs(d).max(1)}[kind]


def _r0_and_eps(f, x, seed, epsilon):
    """The seeded r₀ and ε the penalty uses, read off a k = 0 perturbation (ε·r₀) with the same seed."""
    r = adversarial_perturbation(f, x, power_iterations=0, epsilon=epsilon, seed=seed).numpy()
    eps = np.linalg.norm(r.reshape(len(r), -1), axis=1)
    return r / eps.reshape((-1,) + (1,) * (r.ndim - 1)), eps


# ------------------------------------------------------------------------------------------- exact values
@pytest.mark.parametrize("shape", [(5,), (1, 5, 1)])
def test_linear_critic_ratio_is_norm_and_violation_is_4(shape):
    _, f = _linear(3.0, dim=5)
    x = tf.random.normal((16,) + shape, seed=1)
    epsilons = [1e-3, 1.0, 100.0, (0.1, 10.0), (0.01, 0.5), RelativeEpsilon(0.01, 0.3), HalfNormalEpsilon(1.0)]
    for epsilon in epsilons:
        result = adversarial_lipschitz_penalty(f, x, K=1.0, xi=1.0, epsilon=epsilon, seed=3)
        assert isinstance(result, PenaltyResult)
        np.testing.assert_allclose(result.ratio_mean, 3.0, rtol=1e-3, err_msg=str(epsilon))  # f32 at ε = 1e-3
        np.testing.assert_allclose(result.ratio_max, 3.0, rtol=1e-3, err_msg=str(epsilon))
        np.testing.assert_allclose(result.penalty, 4.0, rtol=1e-3, err_msg=str(epsilon))
        assert float(result.violation_fraction) == 1.0
    for reduction, expected in [("squared", 4.0), ("abs", 2.0), ("squared+abs", 6.0)]:
        result = adversarial_lipschitz_penalty(f, x, xi=1.0, epsilon=0.5, reduction=reduction, seed=0)
        np.testing.assert_allclose(result.penalty, expected, rtol=1e-3)


def test_no_violation_below_K():
    _, f = _linear(0.5)
    result = adversarial_lipschitz_penalty(f, tf.ones((8, 5)), xi=1.0, epsilon=(0.1, 1.0), seed=0)
    assert float(result.penalty) == 0.0 and float(result.violation_fraction) == 0.0
    np.testing.assert_allclose(result.ratio_max, 0.5, rtol=1e-4)


def test_l2_output_power_iteration_finds_top_singular_value():
    a = np.diag([4.0, 2.0, 1.0]).astype("float32") @ np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0]
    f = lambda x: x @ tf.constant(a.T.astype("float32"))  # noqa: E731
    result = adversarial_lipschitz_penalty(
        f, tf.random.normal((8, 3), seed=2), d_y="l2", xi=1.0, epsilon=1.0, power_iterations=10, seed=0
    )
    np.testing.assert_allclose(result.ratio_max, 4.0, rtol=1e-3)
    np.testing.assert_allclose(result.ratio_mean, 4.0, rtol=1e-3)


def test_perturbation_is_aligned_with_input_gradient():
    net = TanhNet(d_in=6, hidden=16)
    x = np.random.default_rng(1).normal(size=(32, 6)).astype("float32")
    r = adversarial_perturbation(net, x, xi=1e-2, epsilon=(0.1, 1.0), power_iterations=1, seed=5).numpy()
    g = net.np_grad(x)
    cosine = np.abs((r * g).sum(1)) / (np.linalg.norm(r, axis=1) * np.linalg.norm(g, axis=1))
    assert cosine.min() > 0.99
    assert r.shape == x.shape and r.dtype == np.float32
    eps = np.linalg.norm(r, axis=1)
    assert eps.min() >= 0.1 - 1e-5 and eps.max() <= 1.0 + 1e-5


def test_int_seed_is_reproducible_and_seed_generator_is_fresh_inside_tf_function():
    _, f = _linear()
    x = tf.ones((4, 5))
    fixed = tf.function(lambda: adversarial_perturbation(f, x, power_iterations=0, epsilon=1.0, seed=7))
    np.testing.assert_array_equal(fixed(), fixed())
    generator = keras.random.SeedGenerator(7)
    fresh = tf.function(lambda: adversarial_perturbation(f, x, power_iterations=0, epsilon=1.0, seed=generator))
    assert not np.allclose(fresh(), fresh())


# ------------------------------------------------------------------------------------ NumPy re-derivation
def test_alp_equals_numpy_rederivation():
    net = TanhNet()
    x = np.random.default_rng(2).normal(size=(16, 4)).astype("float32")
    xi, epsilon, seed = 0.5, (0.1, 2.0), 11
    r0, eps = _r0_and_eps(net, x, seed, epsilon)
    # Eq. (23) by hand: ∇_r |f(x) − f(x + r)| at r = ξ r₀ is sign(f(x + ξr₀) − f(x)) ∇f(x + ξr₀).
    x_xi = x + xi * r0
    g = np.sign(net.np(x_xi) - net.np(x)) * net.np_grad(x_xi)
    x_hat = x + eps[:, None] * g / np.linalg.norm(g, axis=1, keepdims=True)
    for d_x in ("l2", "l1", "linf"):
        ratio = np.abs(net.np(x_hat) - net.np(x))[:, 0] / _np_norm(x_hat - x, d_x)
        expected = np.mean(np.maximum(ratio - 1.0, 0.0) ** 2)
        result = adversarial_lipschitz_penalty(net, x, d_x=d_x, xi=xi, epsilon=epsilon, seed=seed)
        np.testing.assert_allclose(result.penalty, expected, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(result.ratio_mean, ratio.mean(), rtol=1e-4)
        np.testing.assert_allclose(result.ratio_max, ratio.max(), rtol=1e-4)
        np.testing.assert_allclose(result.violation_fraction, np.mean(ratio > 1.0))


def test_clipping_changes_the_denominator():
    net = TanhNet()
    rng = np.random.default_rng(3)
    x = (rng.uniform(0.6, 0.95, size=(32, 4)) * rng.choice([-1, 1], size=(32, 4))).astype("float32")
    epsilon, seed = (0.5, 1.5), 4
    r_adv = adversarial_perturbation(net, x, xi=0.5, epsilon=epsilon, seed=seed).numpy()
    x_hat = np.clip(x + r_adv, -1.0, 1.0)
    moved = np.linalg.norm(x_hat - x, axis=1)
    assert np.mean(moved < np.linalg.norm(r_adv, axis=1) - 1e-3) > 0.5  # clipping is active for most samples
    ratio = np.abs(net.np(x_hat) - net.np(x))[:, 0] / moved
    result = adversarial_lipschitz_penalty(net, x, xi=0.5, epsilon=epsilon, seed=seed, clip=(-1, 1))
    np.testing.assert_allclose(result.ratio_mean, ratio.mean(), rtol=1e-4)
    np.testing.assert_allclose(result.penalty, np.mean(np.maximum(ratio - 1, 0) ** 2), rtol=1e-4, atol=1e-6)
    unclipped = adversarial_lipschitz_penalty(net, x, xi=0.5, epsilon=epsilon, seed=seed)
    assert abs(float(unclipped.ratio_mean) - float(result.ratio_mean)) > 1e-3


def test_output_distances_match_numpy():
    rng = np.random.default_rng(4)
    w = rng.normal(size=(4, 3)).astype("float32")
    f = lambda x: tf.tanh(x @ w) * 3.0  # noqa: E731
    x = rng.normal(size=(16, 4)).astype("float32")
    for d_y in VALID_D_Y:
        kwargs = dict(xi=0.1, epsilon=(0.1, 1.0), d_y=d_y, seed=9)
        x_hat = x + adversarial_perturbation(f, x, **kwargs).numpy()
        a, b = np.tanh(x @ w) * 3.0, np.tanh(x_hat @ w) * 3.0
        log_p = a - np.log(np.exp(a).sum(1, keepdims=True))
        log_q = b - np.log(np.exp(b).sum(1, keepdims=True))
        d = {
            "abs": np.abs(a - b).sum(1),
            "l2": np.linalg.norm(a - b, axis=1),
            "kl": (np.exp(log_p) * (log_p - log_q)).sum(1),
            "mse_logits": ((a - b) ** 2).mean(1),
        }[d_y]
        ratio = d / np.linalg.norm(x_hat - x, axis=1)
        result = adversarial_lipschitz_penalty(f, x, K=0.0, reduction="abs", **kwargs)
        np.testing.assert_allclose(result.penalty, ratio.mean(), rtol=1e-4, err_msg=d_y)


def test_shared_fx_gives_same_penalty_and_gradients():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(1)])
    x = tf.random.normal((16, 4), seed=3)
    grads = []
    for share in (False, True):
        with tf.GradientTape() as tape:
            fx = model(x)
            result = adversarial_lipschitz_penalty(model, x, fx=fx if share else None, xi=1.0, epsilon=0.5, seed=2)
        grads.append(tape.gradient(result.penalty, model.trainable_variables))
    for g0, g1 in zip(*grads):
        np.testing.assert_allclose(g0, g1, rtol=1e-5, atol=1e-7)
    assert any(float(tf.reduce_max(tf.abs(g))) > 0 for g in grads[1])


def test_gradients_flow_through_both_outputs_not_through_r_adv():
    """d penalty / d w for f(x) = w·x equals the analytic derivative with r_adv held constant."""
    w = tf.Variable([[3.0], [0.0]])
    x = tf.constant([[1.0, 2.0], [0.5, -1.0]])
    f = lambda t: t @ w  # noqa: E731
    with tf.GradientTape() as tape:
        result = adversarial_lipschitz_penalty(f, x, xi=1.0, epsilon=0.5, seed=0)
    grad = tape.gradient(result.penalty, w).numpy()[:, 0]
    # ratio = |w·r|/‖r‖ with r = ±0.5·e₁: d ratio/dw = sign(w·r)·r/‖r‖ = e₁; penalty (ratio−1)² → 2(3−1)e₁.
    np.testing.assert_allclose(grad, [4.0, 0.0], atol=1e-5)


# ------------------------------------------------------------------------------------ gradient penalties
def _float64_critic():
    keras.config.set_floatx("float64")
    try:
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(1)])
    finally:
        keras.config.set_floatx("float32")
    return model


def _fd_grad_norms(model, x, h=1e-5):
    grads = np.zeros_like(x)
    for j in range(x.shape[1]):
        e = np.zeros_like(x)
        e[:, j] = h
        grads[:, j] = (model(x + e).numpy() - model(x - e).numpy())[:, 0] / (2 * h)
    return np.linalg.norm(grads, axis=1)


def test_gradient_penalty_equals_finite_differences():
    model = _float64_critic()
    rng = np.random.default_rng(5)
    x_real, x_fake = rng.normal(size=(16, 3)), rng.normal(size=(16, 3)) + 2.0
    variants = [
        (dict(target=1.0), lambda n: np.mean((n - 1) ** 2)),  # WGAN-GP
        (dict(target=0.5, one_sided=True), lambda n: np.mean(np.maximum(n - 0.5, 0) ** 2)),  # LP
        (dict(target=0.0), lambda n: np.mean(n**2)),  # R1
    ]
    for sample, points in [("real", x_real), ("fake", x_fake), ("both", np.concatenate([x_real, x_fake]))]:
        norms = _fd_grad_norms(model, points)
        for kwargs, penalty in variants:
            result = gradient_penalty(model, x_real, x_fake, sample=sample, **kwargs)
            np.testing.assert_allclose(result.penalty, penalty(norms), rtol=1e-5, err_msg=f"{sample} {kwargs}")
            np.testing.assert_allclose(result.ratio_max, norms.max(), rtol=1e-5)


def test_gradient_penalty_interpolates_between_the_batches():
    model = _float64_critic()
    x = np.random.default_rng(6).normal(size=(16, 3))
    result = gradient_penalty(model, x, x, seed=0)  # every interpolate is x itself
    np.testing.assert_allclose(result.penalty, np.mean((_fd_grad_norms(model, x) - 1) ** 2), rtol=1e-5)
    _, f = _linear(3.0, dim=3)
    linear = gradient_penalty(f, tf.zeros((8, 3)), tf.ones((8, 3)), seed=1)
    np.testing.assert_allclose(linear.penalty, 4.0, rtol=1e-5)


def test_gradient_penalty_gets_weight_gradients_through_double_backward():
    w = tf.Variable([[3.0], [4.0]])
    with tf.GradientTape() as tape:
        result = gradient_penalty(lambda t: t @ w, tf.ones((4, 2)), tf.zeros((4, 2)), seed=0)
    # (‖w‖ − 1)² → 2(‖w‖ − 1) w/‖w‖ = 8·(0.6, 0.8)
    np.testing.assert_allclose(tape.gradient(result.penalty, w).numpy()[:, 0], [4.8, 6.4], rtol=1e-5)


def test_lipschitz_quotient_penalty_matches_numpy():
    net = TanhNet()
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(16, 4)).astype("float32"), rng.normal(size=(16, 4)).astype("float32")
    ratio = np.abs(net.np(x) - net.np(y))[:, 0] / np.linalg.norm(x - y, axis=1)
    result = lipschitz_quotient_penalty(net, x, y, K=0.5)
    np.testing.assert_allclose(result.penalty, np.mean(np.maximum(ratio - 0.5, 0) ** 2), rtol=1e-4)
    np.testing.assert_allclose(result.ratio_mean, ratio.mean(), rtol=1e-4)


# --------------------------------------------------------------------------------------------------- VAT
def test_virtual_adversarial_loss_is_kl_with_fixed_clean_predictions():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(3)])
    x = np.random.default_rng(8).normal(size=(16, 4)).astype("float32")
    x_hat = x + adversarial_perturbation(model, x, xi=1e-3, epsilon=0.5, d_y="kl", seed=3).numpy()
    a, b = model(x).numpy().astype("float64"), model(x_hat).numpy().astype("float64")
    log_p = a - np.log(np.exp(a).sum(1, keepdims=True))
    log_q = b - np.log(np.exp(b).sum(1, keepdims=True))
    expected = np.mean((np.exp(log_p) * (log_p - log_q)).sum(1))
    with tf.GradientTape(persistent=True) as tape:
        result = virtual_adversarial_loss(model, x, xi=1e-3, epsilon=0.5, seed=3)
        shifted = model(x_hat)
        p_fixed, log_p_fixed = tf.constant(np.exp(log_p), tf.float32), tf.constant(log_p, tf.float32)
        reference = tf.reduce_mean(tf.reduce_sum(p_fixed * (log_p_fixed - tf.nn.log_softmax(shifted)), axis=1))
    np.testing.assert_allclose(result.penalty, expected, rtol=1e-3)
    # f(x) is held fixed: the gradient is that of KL(p_fixed ‖ q(x̂)).
    for g, g_ref in zip(tape.gradient(result.penalty, model.trainable_variables),
                        tape.gradient(reference, model.trainable_variables)):
        np.testing.assert_allclose(g, g_ref, rtol=1e-3, atol=1e-6)


def test_semi_supervised_alr_variant_adds_entropy():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    x = np.random.default_rng(9).normal(size=(16, 4)).astype("float32")
    kwargs = dict(epsilon=(1.0, 10.0), xi=1.0, d_y="mse_logits", d_x="l2", seed=1)
    plain = virtual_adversarial_loss(model, x, **kwargs)
    with_entropy = virtual_adversarial_loss(model, x, entropy_weight=1.0, **kwargs)
    logits = model(x).numpy()
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    entropy = -np.mean((p * np.log(p)).sum(1))
    np.testing.assert_allclose(with_entropy.penalty - plain.penalty, entropy, rtol=1e-4)


def _dropout_classifier(d_in=64):
    return keras.Sequential([keras.Input((d_in,)), keras.layers.Dense(32, activation="tanh"),
                             keras.layers.Dropout(0.5, seed=4), keras.layers.Dense(3)])


def _unit_rows(a):
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def test_virtual_adversarial_direction_follows_the_dropout_free_model_with_f_direction():
    model = _dropout_classifier()
    x = np.random.default_rng(10).normal(size=(32, 64)).astype("float32")
    kwargs = dict(xi=1e-2, epsilon=1.0, d_y="mse_logits", d_x="l2", seed=5)
    # The dropout-free direction, from the model in inference mode.
    reference = _unit_rows(adversarial_perturbation(
        lambda t: model(t, training=False), x, xi=1e-2, epsilon=1.0, d_y="mse_logits", seed=5).numpy())
    cosines = {}
    for name, f_direction in (("independent masks", None), ("f_direction", lambda t: model(t, training=False))):
        seen = []  # inputs of f: with fx given, its only call is f(x̂)

        def f(t):
            seen.append(np.asarray(t))
            return model(t, training=True)

        virtual_adversarial_loss(f, x, fx=model(x, training=True), f_direction=f_direction, **kwargs)
        direction = _unit_rows(seen[-1] - x)
        cosines[name] = np.abs(np.sum(direction * reference, axis=1)).mean()
    assert cosines["f_direction"] > 0.9, cosines
    # With a fresh dropout mask in every call the direction is mostly noise: near-orthogonal in 64 dimensions.
    assert cosines["independent masks"] < 0.5, cosines
    with pytest.raises(ValueError, match="f_direction"):
        virtual_adversarial_loss(model, x, f_direction="model")


# ------------------------------------------------------------------------ graph, XLA, mixed precision, dist
def _conv_critic():
    return keras.Sequential([
        keras.Input((8, 8, 3)),
        keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="tanh"),
        keras.layers.Flatten(),
        keras.layers.Dense(1),
    ])


def test_all_penalties_run_in_tf_function_like_eagerly():
    critic = keras.Sequential([keras.Input((2, 2, 3)), keras.layers.Flatten(), keras.layers.Dense(8, activation="tanh"),
                               keras.layers.Dense(1)])
    x_real, x_fake = tf.random.normal((8, 2, 2, 3), seed=1), tf.random.normal((8, 2, 2, 3), seed=2)

    def step(seed):
        fx = critic(x_real)
        return (
            adversarial_lipschitz_penalty(critic, x_real, fx=fx, xi=1.0, epsilon=(0.1, 1.0), seed=seed),
            gradient_penalty(critic, x_real, x_fake, seed=seed),
            lipschitz_quotient_penalty(critic, x_real, x_fake),
            virtual_adversarial_loss(critic, x_real, d_y="l2", xi=0.1, epsilon=0.5, seed=seed),
        )

    for res_graph, res_eager in zip(tf.function(step)(0), step(0)):  # the same seeded noise
        assert res_graph.penalty.dtype == tf.float32
        np.testing.assert_allclose(res_graph, res_eager, rtol=1e-4, atol=1e-6)


def test_penalties_compile_with_xla():
    # XLA's stateless RNG draws other numbers for the same seed: check values that do not depend on them.
    _, f = _linear(3.0, dim=12)
    x_real, x_fake = tf.random.normal((8, 2, 2, 3), seed=1), tf.random.normal((8, 2, 2, 3), seed=2)
    generator = keras.random.SeedGenerator(0)

    def step():
        return (
            adversarial_lipschitz_penalty(f, x_real, xi=1.0, epsilon=(0.1, 1.0), seed=generator),
            gradient_penalty(f, x_real, x_fake, seed=generator),
            adversarial_perturbation(f, x_real, power_iterations=0, epsilon=1.0, seed=generator),
            adversarial_perturbation(f, x_real, power_iterations=0, epsilon=(0.1, 1.0), seed=5),
        )

    xla = tf.function(step, jit_compile=True)
    (alp, gp, r_first, r_int), (_, _, r_second, _) = xla(), xla()
    np.testing.assert_allclose([alp.ratio_max, alp.penalty, gp.penalty], [3.0, 4.0, 4.0], rtol=1e-3)
    assert not np.allclose(r_first, r_second)  # fresh noise on every call
    np.testing.assert_allclose(r_int, step()[3], rtol=1e-5, atol=1e-6)  # an int seed draws the same noise


def test_mixed_precision_penalty_is_float32_and_close_to_float32_model():
    reference = _conv_critic()
    keras.mixed_precision.set_global_policy("mixed_float16")
    critic = _conv_critic()
    critic.set_weights(reference.get_weights())
    x = tf.random.normal((8, 8, 8, 3), seed=3)
    kwargs = dict(xi=1.0, epsilon=(0.5, 1.0), seed=4)
    assert critic(x).dtype == tf.float16
    result = adversarial_lipschitz_penalty(critic, x, **kwargs)
    expected = adversarial_lipschitz_penalty(reference, x, **kwargs)
    assert result.penalty.dtype == tf.float32 and result.ratio_mean.dtype == tf.float32
    np.testing.assert_allclose(result.ratio_mean, expected.ratio_mean, rtol=2e-2)
    gp = gradient_penalty(critic, x, x * 0.5, seed=0)
    assert gp.penalty.dtype == tf.float32 and np.isfinite(float(gp.penalty))


def test_penalties_per_replica_under_mirrored_strategy():
    # Copies instead of collective ops: a second strategy in one process would reuse collective instance keys.
    strategy = tf.distribute.MirroredStrategy(
        ["/cpu:0", "/cpu:1"], cross_device_ops=tf.distribute.ReductionToOneDevice()
    )
    with strategy.scope():
        critic = keras.Sequential([keras.Input((3,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(1)])
        optimizer = keras.optimizers.SGD(0.01)
        generator = keras.random.SeedGenerator(0)
    x = tf.random.normal((16, 3), seed=5)

    @tf.function
    def step(batch):
        def replica_fn(xb):
            with tf.GradientTape() as tape:
                fx = critic(xb)
                alp = adversarial_lipschitz_penalty(critic, xb, fx=fx, xi=1.0, epsilon=(0.1, 0.5), seed=generator)
                gp = gradient_penalty(critic, xb, xb[::-1], seed=generator)
                loss = (alp.penalty + gp.penalty) / strategy.num_replicas_in_sync
            grads = tape.gradient(loss, critic.trainable_variables)
            optimizer.apply_gradients(zip(grads, critic.trainable_variables))
            r_adv = adversarial_perturbation(critic, xb[:1], xi=1.0, epsilon=1.0, power_iterations=0, seed=3)
            return alp.ratio_mean, gp.penalty, r_adv

        return strategy.run(replica_fn, args=(batch,))

    dataset = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(x))
    ratios, gps, r_advs = step(next(iter(dataset)))
    ratios, gps = strategy.experimental_local_results(ratios), strategy.experimental_local_results(gps)
    r_advs = strategy.experimental_local_results(r_advs)
    assert len(ratios) == 2 and all(np.isfinite(v) for v in ratios + gps)
    assert not np.allclose(r_advs[0], r_advs[1])  # each replica draws its own noise, even from an int seed


# ------------------------------------------------------------------------------------------- bad input
def test_check_numerics_names_x_and_fx():
    _, f = _linear()
    x = np.ones((4, 5), "float32")
    x[1, 2] = np.nan
    with pytest.raises(tf.errors.InvalidArgumentError, match="`x`"):
        adversarial_lipschitz_penalty(f, x, xi=1.0, epsilon=0.1)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"`f\(x\)`"):
        adversarial_lipschitz_penalty(lambda t: f(t) / 0.0, np.ones((4, 5), "float32"), xi=1.0, epsilon=0.1)
    with pytest.raises(tf.errors.InvalidArgumentError, match="`x_real`"):
        gradient_penalty(f, x, np.ones((4, 5), "float32"))
    with pytest.raises(tf.errors.InvalidArgumentError, match="`x`"):
        virtual_adversarial_loss(f, x, d_y="abs")
    with pytest.raises(tf.errors.InvalidArgumentError, match="`y`"):
        lipschitz_quotient_penalty(f, np.ones((4, 5), "float32"), x)
    # Off: no error; the NaN shows in the mean ratio (and the graph has no check, see below).
    result = adversarial_lipschitz_penalty(f, x, xi=1.0, epsilon=0.1, check_numerics=False)
    assert np.isnan(float(result.ratio_mean))


def test_check_numerics_adds_ops_only_when_on():
    _, f = _linear()
    for check_numerics, expected in [(None, False), (False, False), (True, True)]:
        fn = tf.function(
            lambda x: adversarial_lipschitz_penalty(f, x, xi=1.0, epsilon=0.1, seed=0, check_numerics=check_numerics)
        )
        graph = fn.get_concrete_function(tf.TensorSpec((4, 5), tf.float32)).graph
        ops = {op.type for op in graph.get_operations()}
        assert ("CheckNumerics" in ops or "CheckNumericsV2" in ops) is expected


def test_zero_direction_and_zero_denominator_never_nan():
    w = tf.Variable(tf.zeros((5, 2)))
    constant = lambda t: t @ w  # noqa: E731  # f ≡ 0: every gradient direction is zero
    x = tf.random.normal((4, 5), seed=0)
    # Ordinary, zero and underflowing displacements, for every output distance.
    for d_y, epsilon in itertools.product(VALID_D_Y, (0.5, (0.0, 0.0), 1e-30)):
        with tf.GradientTape() as tape:
            result = adversarial_lipschitz_penalty(constant, x, d_y=d_y, xi=1.0, epsilon=epsilon, seed=1)
        assert all(np.isfinite(v) for v in result)
        assert float(result.penalty) == 0.0
        assert np.all(np.isfinite(tape.gradient(result.penalty, w)))
        r = adversarial_perturbation(constant, x, d_y=d_y, xi=1.0, epsilon=epsilon, seed=1)
        assert np.all(np.isfinite(r))
    with tf.GradientTape() as tape:
        gp = gradient_penalty(constant, x, x * 2, seed=0)
    np.testing.assert_allclose(gp.penalty, 1.0)
    assert np.all(np.isfinite(tape.gradient(gp.penalty, w)))


def test_invalid_arguments_raise_value_error():
    _, f = _linear()
    cases = [
        (dict(d_y="cosine"), r"`d_y` must be one of \('abs', 'l2', 'kl', 'mse_logits'\)"),
        (dict(d_x="l3"), r"`d_x` must be one of \('l2', 'l1', 'linf', 'trivial'\)"),
        (dict(reduction="cube"), "`reduction` must be one of"),
        (dict(epsilon=(2.0, 1.0)), "`epsilon` must be"),
        (dict(epsilon=-1.0), "`epsilon` must be > 0"),
        (dict(power_iterations=-1), "`power_iterations` must be an integer >= 0"),
        (dict(xi=-1.0), "`xi` must be a finite number >= 0"),
        (dict(K=-1.0), "`K` must be a finite number >= 0"),
        (dict(clip=(1, -1)), "`clip` must be"),
        (dict(seed="abc"), "`seed` must be"),
    ]
    for kwargs, match in cases:
        with pytest.raises(ValueError, match=match):
            adversarial_lipschitz_penalty(f, tf.ones((2, 5)), **kwargs)


def test_invalid_names_in_other_penalties():
    _, f = _linear()
    x = tf.ones((2, 5))
    with pytest.raises(ValueError, match="`sample` must be one of"):
        gradient_penalty(f, x, x, sample="midpoint")
    with pytest.raises(ValueError, match="`d_y` must be one of"):
        virtual_adversarial_loss(f, x, d_y="js")
    with pytest.raises(ValueError, match="`d_x` must be one of"):
        lipschitz_quotient_penalty(f, x, x, d_x="l0")
    assert VALID_D_Y == ("abs", "l2", "kl", "mse_logits") and VALID_D_X == ("l2", "l1", "linf", "trivial")


def test_typical_pairwise_distance_matches_numpy():
    x = np.random.default_rng(10).normal(size=(32, 3, 2)).astype("float32")
    flat = x.reshape(32, -1)
    d = cdist(flat, flat)
    expected = np.sqrt((d**2).sum() / (32 * 31))
    np.testing.assert_allclose(typical_pairwise_distance(x), expected, rtol=1e-5)


# ---------------------------------------------------------------------------------- WGAN critic, W1 = 3
def test_alp_critic_estimates_w1_of_two_gaussians():
    """Critic-only WGAN-ALP on N(0, I) vs N((3, 0), I): KR estimate within 5% of the exact W1 of the samples."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    p = rng.normal(size=(512, 2)).astype("float32")
    q = (rng.normal(size=(512, 2)) + [3.0, 0.0]).astype("float32")
    cost = cdist(p, q)
    rows, cols = linear_sum_assignment(cost)
    exact_w1 = cost[rows, cols].mean()

    critic = keras.Sequential([
        keras.Input((2,)),
        keras.layers.Dense(64, activation="tanh"),
        keras.layers.Dense(64, activation="tanh"),
        keras.layers.Dense(1),
    ])
    optimizer = keras.optimizers.Adam(1e-3, beta_1=0.5, beta_2=0.9)
    generator = keras.random.SeedGenerator(1)

    @tf.function(jit_compile=True)
    def step(x_real, x_fake):
        x = tf.concat([x_real, x_fake], axis=0)
        with tf.GradientTape() as tape:
            fx = critic(x, training=True)
            n = tf.shape(x_real)[0]
            loss = tf.reduce_mean(fx[n:]) - tf.reduce_mean(fx[:n])
            alp = adversarial_lipschitz_penalty(critic, x, fx=fx, xi=1.0, epsilon=(0.01, 0.5), seed=generator)
            total = loss + 100.0 * alp.penalty
        grads = tape.gradient(total, critic.trainable_variables)
        optimizer.apply_gradients(zip(grads, critic.trainable_variables))
        return alp

    start = time.perf_counter()
    for _ in range(300):
        step(rng.normal(size=(256, 2)).astype("float32"), (rng.normal(size=(256, 2)) + [3.0, 0.0]).astype("float32"))
    assert time.perf_counter() - start < 60

    estimate = float(tf.reduce_mean(critic(p)) - tf.reduce_mean(critic(q)))
    samples = tf.constant(np.concatenate([p, q]))
    with tf.GradientTape() as tape:
        tape.watch(samples)
        values = critic(samples)
    max_grad_norm = float(tf.reduce_max(tf.norm(tape.gradient(values, samples), axis=1)))
    assert abs(estimate - exact_w1) / exact_w1 < 0.05, (estimate, exact_w1)
    assert max_grad_norm <= 1.1, max_grad_norm


def test_get_resolves_names_and_aliases_to_one_declared_spec():
    from tf_lipschitz import penalties

    assert penalties.available() == ("alp", "gp", "lp", "r1", "unconstrained")
    for alias, name in [("ALR", "alp"), (" adversarial ", "alp"), ("WGAN-GP", "gp"), ("wgangp", "gp"), ("lp", "lp")]:
        assert penalties.get(alias).name == name
    assert penalties.get("alr").spec is penalties.get("alp").spec
    # The paper's ALP setting is the function's own signature, and the usual weights are the papers' λ.
    assert penalties.get("alp").spec.defaults == {"K": 1.0, "xi": 10.0, "epsilon": (0.1, 10.0), "power_iterations": 1}
    assert [penalties.get(n).penalty_weight for n in penalties.available()] == [100.0, 10.0, 10.0, 5.0, 1.0]
    # K is the gradient-norm target of the gradient penalties; LP and R1 fix one option each.
    assert penalties.get("gp", K=2.0).kwargs == {"target": 2.0}
    assert "one_sided" not in penalties.get("lp").spec.options and "target" not in penalties.get("r1").spec.options


def test_penalty_object_calls_its_function_with_fixed_and_given_options():
    from tf_lipschitz import penalties

    w = tf.constant([[0.3], [0.4]])  # ‖w‖ = 0.5
    f, x_real, x_fake = (lambda x: x @ w), tf.ones((4, 2)), tf.zeros((4, 2))
    for name, expected in (("gp", 0.25), ("lp", 0.0), ("r1", 0.25)):
        result = penalties.get(name)(f, x_real, x_fake, sample="real" if name == "r1" else "interpolate", seed=0)
        np.testing.assert_allclose(float(result.penalty), expected, rtol=1e-6, atol=1e-7)
    alp = penalties.get("alp", xi=1.0, epsilon=(0.1, 1.0), K=0.25)
    np.testing.assert_allclose(float(alp(f, x_real, seed=0).penalty), (0.5 - 0.25) ** 2, rtol=1e-5)


def test_get_rejects_unknown_names_options_and_values():
    from tf_lipschitz import penalties

    with pytest.raises(ValueError, match=r"Unknown `penalty`.*Received: penalty='sn'"):
        penalties.get("sn")
    with pytest.raises(ValueError, match=r"Unknown arguments of penalty 'alp': \['eps'\]"):
        penalties.get("alp", eps=1.0)
    with pytest.raises(ValueError, match="Unknown arguments of penalty 'lp'.*one_sided"):
        penalties.get("lp", one_sided=False)
    for kwargs, match in [(dict(d_y="hinge"), "`d_y` must be one of"), (dict(xi=-1.0), "`xi` must be"),
                          (dict(epsilon=(2.0, 1.0)), "`epsilon` must be"), (dict(clip=(1, 0)), "`clip` must be"),
                          (dict(power_iterations=-1), "`power_iterations`"),
                          (dict(check_numerics="yes"), "`check_numerics` must be")]:
        with pytest.raises(ValueError, match=match):
            penalties.get("alp", **kwargs)


def test_penalty_config_round_trip():
    from tf_lipschitz import penalties

    penalty = penalties.get("alr", epsilon=RelativeEpsilon(0.01, 0.1), clip=(-1.0, 1.0), d_x="linf")
    config = penalty.get_config()
    assert config["name"] == "alp" and config["clip"] == [-1.0, 1.0]
    clone = penalties.Penalty.from_config(config)
    assert clone.kwargs["clip"] == (-1.0, 1.0) and clone.kwargs["d_x"] == "linf"
    assert isinstance(clone.kwargs["epsilon"], RelativeEpsilon) and clone.kwargs["epsilon"].high == 0.1
    assert clone.get_config() == config
