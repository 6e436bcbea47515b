"""ALP's direction in the limit ξ → 0 (`xi=0`): the exact limit of the power iteration, taken from the loss's
forward pass inside graphs."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from references import TanhNet
from tf_lipschitz.penalties import adversarial_lipschitz_penalty, adversarial_perturbation, virtual_adversarial_loss


def _unit(v):
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_limit_direction_is_the_signed_input_gradient_and_the_limit_of_small_xi():
    net = TanhNet(d_in=6, hidden=16)
    x = np.random.default_rng(1).normal(size=(32, 6)).astype("float32")
    r = adversarial_perturbation(net, x, xi=0, epsilon=0.5, seed=3).numpy()
    unit = _unit(net.np_grad(x))
    side = np.sign((r * unit).sum(1, keepdims=True))
    np.testing.assert_allclose(r, 0.5 * side * unit, atol=1e-5)  # ε·s·∇f/‖∇f‖ with s = ±1 per sample
    assert 0 < (side > 0).sum() < len(x)  # both sides occur
    # ... which is where the ξ > 0 iteration goes as ξ shrinks, up to the side (random in both).
    small = adversarial_perturbation(net, x, xi=1e-3, epsilon=0.5, seed=3).numpy()
    np.testing.assert_allclose(np.abs(small), np.abs(r), atol=2e-3)
    np.testing.assert_allclose(np.abs((small * r).sum(1)), 0.25, atol=2e-3)


def test_limit_side_is_a_fair_coin_per_sample_like_the_side_of_the_random_start():
    """sign(∇f·r₀) of the iteration is a fair coin for the symmetric r₀; the limit draws the coin itself."""
    w = tf.constant(np.random.default_rng(0).normal(size=(5, 1)).astype("float32"))
    x = tf.zeros((4000, 5))  # a linear critic: the same gradient w for every sample
    sides = [np.sign(adversarial_perturbation(lambda t: t @ w, x, xi=0, epsilon=1.0, seed=s).numpy() @ w.numpy())
             for s in (0, 1)]
    for side in sides:
        assert abs((side > 0).mean() - 0.5) < 0.032  # 4 standard deviations of a fair coin over 4000 samples
    assert abs((sides[0] == sides[1]).mean() - 0.5) < 0.032  # independent between seeds
    # The iteration at small ξ (a random r₀ per sample) has the same law.
    iterated = np.sign(adversarial_perturbation(lambda t: t @ w, x, xi=1e-3, epsilon=1.0, seed=0).numpy() @ w.numpy())
    assert abs((iterated > 0).mean() - 0.5) < 0.032


@pytest.mark.parametrize("mode", ["eager", "graph", "xla"])
def test_limit_keeps_the_random_start_where_the_gradient_vanishes(mode):
    """Samples on which f is flat keep ε·r₀, as the ξ > 0 iteration does; the others follow ±∇f."""
    w = np.array([[1.0], [-2.0], [0.5]], "float32")
    f = lambda t: tf.nn.relu(t @ w)  # noqa: E731  (zero gradient where x·w < 0)
    x = np.random.default_rng(3).normal(size=(16, 3)).astype("float32")
    flat_rows = (x @ w)[:, 0] < 0
    assert 0 < flat_rows.sum() < len(x)
    run = {"eager": lambda fn: fn, "graph": tf.function, "xla": lambda fn: tf.function(fn, jit_compile=True)}[mode]
    r = run(lambda t: adversarial_perturbation(f, t, xi=0, epsilon=(0.5, 2.0), seed=9))(tf.constant(x)).numpy()
    start = adversarial_perturbation(f, x, power_iterations=0, epsilon=(0.5, 2.0), seed=9).numpy()  # ε·r₀
    np.testing.assert_allclose(r[flat_rows], start[flat_rows], atol=1e-6)
    eps = np.linalg.norm(start, axis=1)
    np.testing.assert_allclose(np.abs(r[~flat_rows]), eps[~flat_rows, None] * np.abs(_unit(w.T)), atol=1e-5)


def test_limit_in_a_graph_reuses_the_forward_pass_of_fx():
    net = TanhNet(d_in=6, hidden=16)
    x = tf.constant(np.random.default_rng(2).normal(size=(16, 6)).astype("float32"))
    eager = adversarial_lipschitz_penalty(net, x, xi=0, epsilon=(0.1, 1.0), seed=4, K=0.5)
    for xi, forwards in ((0, 2), (10.0, 3)):  # f(x) for fx, f(x̂); ξ > 0 also f(x + ξr)
        net.calls = 0

        @tf.function
        def penalty(x, xi=xi):
            return adversarial_lipschitz_penalty(net, x, fx=net(x), xi=xi, epsilon=(0.1, 1.0), seed=4, K=0.5)

        traced = penalty(x)
        assert net.calls == forwards
        if xi == 0:
            np.testing.assert_allclose([traced.penalty, traced.ratio_mean], [eager.penalty, eager.ratio_mean],
                                       rtol=1e-5)
    # Eagerly (no graph to differentiate) and for an fx not computed from this x, a forward pass under a tape.
    net.calls = 0
    adversarial_perturbation(net, x, xi=0, fx=net(x), seed=4)
    assert net.calls == 2

    @tf.function
    def unconnected(x):  # fx's pass has no gradient path back to this x
        return adversarial_perturbation(net, x, xi=0, fx=net(tf.stop_gradient(x)), epsilon=0.5, seed=4)

    net.calls = 0
    traced = unconnected(x)
    assert net.calls == 2
    np.testing.assert_allclose(traced, adversarial_perturbation(net, x, xi=0, epsilon=0.5, seed=4), atol=1e-6)


def test_limit_penalty_matches_numpy_and_trains_under_xla_like_eagerly():
    critic = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(1)])
    x = tf.constant(np.random.default_rng(5).normal(size=(12, 5)).astype("float32"))

    def step(x):
        with tf.GradientTape() as tape:
            fx = critic(x)
            result = adversarial_lipschitz_penalty(critic, x, fx=fx, xi=0, epsilon=(0.5, 2.0), seed=7, K=0.1)
        return result.penalty, tape.gradient(result.penalty, critic.trainable_variables)

    eager_penalty, eager_grads = step(x)
    xla_penalty, xla_grads = tf.function(step, jit_compile=True)(x)
    np.testing.assert_allclose(xla_penalty, eager_penalty, rtol=1e-4)
    for a, b in zip(xla_grads, eager_grads):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-6)
    # NumPy re-derivation of the penalty from the direction and ε the function used.
    r = adversarial_perturbation(critic, x, xi=0, epsilon=(0.5, 2.0), seed=7).numpy()
    f = lambda v: critic(tf.constant(v)).numpy()[:, 0]  # noqa: E731
    ratio = np.abs(f(x.numpy() + r) - f(x.numpy())) / np.linalg.norm(r, axis=1)
    np.testing.assert_allclose(eager_penalty, np.mean(np.maximum(ratio - 0.1, 0.0) ** 2), rtol=1e-4)


def test_limit_refuses_what_has_no_gradient_limit():
    net = TanhNet(d_in=6, hidden=16)
    x = tf.ones((4, 6))
    with pytest.raises(ValueError, match=r"`xi=0`.*needs `d_y` in \('abs', 'l2'\).*d_y='kl'"):
        virtual_adversarial_loss(lambda t: tf.concat([net(t), -net(t)], axis=1), x, xi=0)
    with pytest.raises(ValueError, match=r"`xi=0`.*one output per sample.*\(4, 2\)"):
        adversarial_perturbation(lambda t: tf.concat([net(t), net(t)], axis=1), x, xi=0, d_y="l2")
    with pytest.raises(ValueError, match="`xi` must be a finite number >= 0"):
        adversarial_perturbation(net, x, xi=-0.5)


def test_wgan_alp_with_the_limit_trains_alike_in_graphs_and_eagerly():
    """In `fit` the direction comes from the critic-loss pass (graph); eagerly from a separate taped pass."""
    from tf_lipschitz.models import WGANALP

    def mlp(inputs, outputs):
        return keras.Sequential([keras.Input((inputs,)), keras.layers.Dense(8, "tanh"), keras.layers.Dense(outputs)])

    data = np.random.default_rng(0).normal(size=(64, 2)).astype("float32") * 3.0
    logs = []
    for eagerly in (False, True):
        keras.utils.set_random_seed(1)
        gan = WGANALP(mlp(2, 2), mlp(2, 1), latent_dim=2, n_critic=2, seed=0,
                      penalty_kwargs={"xi": 0, "epsilon": (0.1, 1.0), "K": 0.2})
        gan.compile(run_eagerly=eagerly)
        logs.append(gan.fit(tf.data.Dataset.from_tensor_slices(data).batch(32), epochs=1, verbose=0).history)
    assert logs[0]["penalty"][-1] > 0.01  # K = 0.2: the penalty is active
    # (Weights are not compared: Adam's first steps turn float round-off in near-zero gradients into ±lr.)
    for key in ("penalty", "ratio_mean", "ratio_max", "critic_loss"):
        np.testing.assert_allclose(logs[0][key], logs[1][key], rtol=1e-5, err_msg=key)


def _conv_critic():
    return keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(8, 3, strides=2, padding="same",
                                                                         activation="tanh"),
                             keras.layers.Flatten(), keras.layers.Dense(1)])


def _unit_gradients(critic, x):
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(tf.cast(critic(x), tf.float32))
    g = tape.gradient(total, x).numpy().reshape(len(x), -1)
    return g / np.linalg.norm(g, axis=1, keepdims=True)


def test_limit_under_mixed_precision_follows_the_float32_gradient():
    reference = _conv_critic()
    x = tf.random.normal((8, 8, 8, 3), seed=3)
    expected = _unit_gradients(reference, x)
    keras.mixed_precision.set_global_policy("mixed_float16")
    critic = _conv_critic()
    critic.set_weights(reference.get_weights())
    assert critic(x).dtype == tf.float16

    @tf.function
    def direction(x):
        return adversarial_perturbation(critic, x, fx=critic(x), xi=0, epsilon=1.0, seed=2)

    r = direction(x).numpy().reshape(len(x), -1)
    np.testing.assert_allclose(np.abs((r * expected).sum(1)), 1.0, atol=5e-3)  # |cos| = 1 up to float16


def test_limit_per_replica_under_mirrored_strategy():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"],
                                              cross_device_ops=tf.distribute.ReductionToOneDevice())
    with strategy.scope():
        critic = _conv_critic()
    x = tf.random.normal((8, 8, 8, 3), seed=5)

    @tf.function
    def step(batch):
        return strategy.run(lambda xb: adversarial_perturbation(critic, xb, fx=critic(xb), xi=0, epsilon=0.5,
                                                                seed=1), args=(batch,))

    dataset = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(x).unbatch().batch(8))
    r = np.concatenate(strategy.experimental_local_results(step(next(iter(dataset)))))
    r = r.reshape(len(x), -1)
    np.testing.assert_allclose(np.abs(r), 0.5 * np.abs(_unit_gradients(critic, x)), atol=1e-5)
