"""LipschitzGAN against the ALR author's code: batch-coupled critics, Eq. (32)'s sum, the generator EMA."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_lipschitz.models import LipschitzGAN


def toy_data(n=32):
    x = np.random.default_rng(0).normal(size=(n, 2)).astype("float32")
    return tf.data.Dataset.from_tensor_slices(x).batch(n, drop_remainder=True)


class BatchStdShift(keras.layers.Layer):
    """f(x) = w·x + c·mean_j std_batch(x_j): every score depends on the whole batch (like minibatch stddev).

    Records the batches it sees in eager mode.
    """

    def __init__(self, w, c, seen=None, **kwargs):
        super().__init__(**kwargs)
        w = np.asarray(w, "float32").reshape(-1, 1)
        self.c = float(c)
        self.record = seen.append if seen is not None else None  # (a list attribute would be copied by Keras)
        self.w = self.add_weight(shape=w.shape, initializer=keras.initializers.Constant(w), name="w")

    def call(self, x):
        if self.record is not None and tf.executing_eagerly():
            self.record(np.asarray(x))
        std = tf.reduce_mean(tf.math.reduce_std(x, axis=0))
        return tf.matmul(x, self.w) + self.c * std


def numpy_critic(x, w, c):
    """The same critic in NumPy, on one batch."""
    return x @ np.asarray(w).reshape(-1) + c * x.std(axis=0).mean()


W, C = [1.8, -2.4], 5.0


@pytest.mark.parametrize("both_reduction", ["mean", "sum"])
def test_both_matches_the_per_batch_computation_for_a_batch_coupled_critic(both_reduction):
    seen = []
    critic = keras.Sequential([keras.Input((2,)), BatchStdShift(W, C, seen)])
    gen = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    gan = LipschitzGAN(gen, critic, latent_dim=2, penalty="alp", regularize="both", n_critic=1,
                       both_reduction=both_reduction,
                       penalty_kwargs={"xi": 1.0, "epsilon": 0.5, "K": 1.0, "reduction": "squared"})
    gan.compile(run_eagerly=True)
    seen.clear()
    logs = gan.fit(toy_data(), epochs=1, verbose=0).history  # one step: logs are at the initial (fixed) critic
    # Critic update: f(real), f(fake), then probe and x̂ of the reals, probe and x̂ of the fakes.
    real, fake, probe_r, x_hat_r, probe_f, x_hat_f = seen[:6]
    for x, probe, x_hat in ((real, probe_r, x_hat_r), (fake, probe_f, x_hat_f)):
        np.testing.assert_allclose(np.linalg.norm(probe - x, axis=1), 1.0, rtol=1e-5)  # ξ = 1
        np.testing.assert_allclose(np.linalg.norm(x_hat - x, axis=1), 0.5, rtol=1e-5)  # ε = 0.5
    ratios = [np.abs(numpy_critic(x, W, C) - numpy_critic(x_hat, W, C)) / np.linalg.norm(x_hat - x, axis=1)
              for x, x_hat in ((real, x_hat_r), (fake, x_hat_f))]
    means = [np.mean(np.maximum(r - 1.0, 0.0) ** 2) for r in ratios]
    expected = sum(means) if both_reduction == "sum" else np.mean(means)
    joined = np.concatenate(ratios)
    np.testing.assert_allclose(logs["penalty"][0], expected, rtol=1e-4)
    np.testing.assert_allclose([logs["ratio_mean"][0], logs["ratio_max"][0]], [joined.mean(), joined.max()],
                               rtol=1e-4)
    np.testing.assert_allclose(logs["violation_fraction"][0], np.mean(joined > 1.0))
    # The old joined pass, f(x̂) over reals and fakes together against f(x) over each alone, is far off here.
    both = np.concatenate([x_hat_r, x_hat_f])
    f_joined = numpy_critic(both, W, C)
    stale = np.abs(np.concatenate([numpy_critic(real, W, C), numpy_critic(fake, W, C)]) - f_joined) / 0.5
    assert np.abs(stale - joined).max() > 1.0 and abs(stale.max() - logs["ratio_max"][0]) > 0.5


def test_both_reduction_sum_is_twice_the_joined_mean_at_a_linear_critic():
    """Linear critic, ‖w‖ = 3, K = 1: each half's mean is (3 − 1)² = 4; "mean" gives 4, "sum" 8 (Eq. 32)."""
    logs = {}
    for reduction in ("mean", "sum"):
        kernel = keras.initializers.Constant(np.reshape(W, (2, 1)))
        critic = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, kernel_initializer=kernel)])
        gan = LipschitzGAN(keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)]), critic, latent_dim=2,
                           penalty="alp", both_reduction=reduction, n_critic=1,
                           penalty_kwargs={"xi": 1.0, "epsilon": (0.01, 0.5)})
        gan.compile()
        logs[reduction] = gan.fit(toy_data(), epochs=1, verbose=0).history["penalty"][0]
        assert LipschitzGAN.from_config(gan.get_config()).both_reduction == reduction
    np.testing.assert_allclose([logs["mean"], logs["sum"]], [4.0, 8.0], rtol=1e-5)


@pytest.mark.parametrize("kwargs, match", [
    ({"both_reduction": "max"}, "both_reduction"),
    ({"both_reduction": "sum", "regularize": "real"}, "regularize"),
    ({"generator_ema": 1.0}, "generator_ema"),
    ({"generator_ema": -0.1}, "generator_ema"),
])
def test_bad_faithfulness_options_raise(kwargs, match):
    gen = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    critic = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match=match):
        LipschitzGAN(gen, critic, latent_dim=2, penalty="alp", **kwargs)


class RecordGenerator(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights = []

    def on_train_batch_end(self, batch, logs=None):
        self.weights.append([np.asarray(v) for v in self.model.generator.trainable_variables])


def test_generator_ema_follows_the_numpy_recurrence_and_survives_a_keras_round_trip(tmp_path):
    gan, average, live = _ema_gan_trained(tf.distribute.get_strategy())
    gen = gan.generator
    for a, v in zip(average, gan.ema_variables):
        np.testing.assert_allclose(np.asarray(v), a, rtol=1e-5, atol=1e-6)
    assert not np.allclose(average[0], live[0])  # the average lags the live weights

    # Sampling with the average equals a plain generator holding the averaged weights; the live ones come back.
    z = gan.latent_noise(5, seed=2)
    plain = keras.models.clone_model(gen)
    plain.set_weights(average)
    np.testing.assert_allclose(gan.generate(5, z=z, ema=True), np.asarray(plain(z)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gan.fixed_noise_sampler(5, seed=2, ema=True)(), np.asarray(plain(z)),
                               rtol=1e-5, atol=1e-6)
    for live_value, v in zip(live, gen.trainable_variables):
        np.testing.assert_array_equal(live_value, np.asarray(v))

    path = str(tmp_path / "gan.keras")
    gan.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.generator_ema == 0.75
    for a, v in zip(gan.ema_variables, loaded.ema_variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(v))
    np.testing.assert_allclose(loaded.generate(5, z=z, ema=True), gan.generate(5, z=z, ema=True), rtol=1e-6)


def test_generate_with_ema_needs_the_option():
    gan = LipschitzGAN(keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)]),
                       keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]), latent_dim=2)
    with pytest.raises(ValueError, match="generator_ema"):
        gan.generate(2, ema=True)
    with pytest.raises(ValueError, match="generator_ema"):
        gan.fixed_noise_sampler(2, ema=True)


def _ema_gan_trained(strategy, beta=0.75):
    """A small GAN with a generator EMA trained 4 steps under `strategy`: (gan, NumPy average, last live weights)."""
    with strategy.scope():
        gen = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3, "tanh"), keras.layers.Dense(2)])
        critic = keras.Sequential([keras.Input((2,)), keras.layers.Dense(8, "relu"), keras.layers.Dense(1)])
        gan = LipschitzGAN(gen, critic, latent_dim=2, n_critic=1, generator_ema=beta, seed=0)
        gan.compile(critic_optimizer=keras.optimizers.SGD(0.1), generator_optimizer=keras.optimizers.SGD(0.1))
    average = [np.asarray(v) for v in gen.trainable_variables]
    recorder = RecordGenerator()
    data = tf.data.Dataset.from_tensor_slices(np.random.default_rng(1).normal(size=(64, 2)).astype("float32"))
    gan.fit(data.batch(16), epochs=1, verbose=0, callbacks=[recorder])
    assert len(recorder.weights) == 4
    for weights in recorder.weights:
        average = [beta * a + (1 - beta) * w for a, w in zip(average, weights)]
    return gan, average, recorder.weights[-1]


def test_generator_ema_under_mirrored_strategy_follows_the_numpy_recurrence():
    """Two replicas: each assigns the same average (equal weights after each update); the stored one is it."""
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"], cross_device_ops=tf.distribute.ReductionToOneDevice())
    gan, average, _ = _ema_gan_trained(strategy)
    for a, v in zip(average, gan.ema_variables):
        for value in strategy.experimental_local_results(v):
            np.testing.assert_allclose(np.asarray(value), a, rtol=1e-5, atol=1e-6)
    assert not np.allclose(average[0], np.asarray(gan.generator.trainable_variables[0]))


def test_sample_grid_with_ema_draws_the_averaged_generator(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    from tf_lipschitz.callbacks import SampleGrid
    from tf_lipschitz.models.sampling import image_grid

    gen = keras.Sequential([keras.Input((3,)), keras.layers.Dense(16, "tanh"), keras.layers.Reshape((4, 4, 1))])
    critic = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(1)])
    gan = LipschitzGAN(gen, critic, latent_dim=3, n_critic=1, generator_ema=0.5, seed=0)
    gan.compile(critic_optimizer=keras.optimizers.SGD(0.5), generator_optimizer=keras.optimizers.SGD(0.5))
    x = np.random.default_rng(0).uniform(-1, 1, (12, 4, 4, 1)).astype("float32")
    grids = {ema: SampleGrid(100, str(tmp_path / f"ema_{ema}.png"), n_samples=4, columns=2, ema=ema)
             for ema in (False, True)}
    gan.fit(x, batch_size=4, verbose=0, callbacks=list(grids.values()))  # 3 steps: one final grid each
    averaged = keras.models.clone_model(gen)
    averaged.set_weights([np.asarray(v) for v in gan.ema_variables])
    noise = grids[True].noise
    for ema, network in ((True, averaged), (False, gen)):
        expected = np.round(image_grid(np.asarray(network(noise)), 2) * 255.0).astype(np.uint8)[..., 0]
        with Image.open(grids[ema].paths[-1]) as image:
            np.testing.assert_array_equal(np.asarray(image), expected, err_msg=f"ema={ema}")
    assert not np.allclose(np.asarray(averaged(noise)), np.asarray(gen(noise)), atol=1e-3)  # the two differ

    no_average = LipschitzGAN(gen, critic, latent_dim=3, n_critic=1)
    no_average.compile(critic_optimizer=keras.optimizers.SGD(0.1), generator_optimizer=keras.optimizers.SGD(0.1))
    with pytest.raises(ValueError, match=r"SampleGrid\(ema=True\) needs a model that keeps a generator moving average"):
        no_average.fit(x, batch_size=4, verbose=0, callbacks=[SampleGrid(1, str(tmp_path / "a.png"), ema=True)])
    with pytest.raises(ValueError, match="`ema` must be True or False. Received: ema=1"):
        SampleGrid(1, "a.png", ema=1)
