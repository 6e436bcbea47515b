"""LipschitzGAN end to end: 8 Gaussians W1, determinism, save/resume, MirroredStrategy and XLA."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_lipschitz.layers import SpectralNormDense
from tf_lipschitz.models import LipschitzGAN, WGANALP, WGANGP
from tf_lipschitz.toy import exact_w1, toy_samples

TOY_ALP = {"xi": 1.0, "epsilon": (0.01, 0.5)}  # unit-scale 2-D data: not the image defaults


def mlp(inputs, outputs, width=64, depth=2):
    layers = [keras.Input((inputs,))] + [keras.layers.Dense(width, "relu") for _ in range(depth)]
    return keras.Sequential(layers + [keras.layers.Dense(outputs)])


def adam():
    return keras.optimizers.Adam(1e-3, beta_1=0.5, beta_2=0.9)


def eight_gaussians(n_critic, batch=128):
    x = toy_samples("8gaussians", 8192, seed=0).astype("float32")
    return tf.data.Dataset.from_tensor_slices(x).shuffle(8192, seed=0).repeat().batch(n_critic * batch, drop_remainder=True)


# WGAN-GP's image λ = 10 makes this small toy oscillate for hundreds of steps (W1 1.3 → 1.3–2.9 over 400
# steps with n_critic = 2 or 5); Gulrajani et al.'s own toy script uses λ = 0.1. ALP keeps its λ = 100.
@pytest.mark.parametrize(
    "cls, kwargs", [(WGANALP, {"penalty_kwargs": TOY_ALP}), (WGANGP, {"penalty_weight": 1.0})], ids=["alp", "gp"]
)
def test_8_gaussians_w1_drops_well_below_start(cls, kwargs):
    """400 generator steps of a small WGAN-ALP / WGAN-GP bring the generated samples close to the data."""
    gan = cls(mlp(2, 2), mlp(2, 1), latent_dim=2, n_critic=2, seed=1, **kwargs)
    gan.compile(adam(), adam())
    real = toy_samples("8gaussians", 1000, seed=1)
    before = exact_w1(gan.generate(1000, seed=2), real)
    history = gan.fit(eight_gaussians(n_critic=2), steps_per_epoch=100, epochs=4, verbose=0).history
    after = exact_w1(gan.generate(1000, seed=2), real)
    print(f"{cls.__name__}: exact W1 {before:.3f} -> {after:.3f}; critic estimate {history['wasserstein_estimate'][-1]:.3f}")
    assert after < 0.5 * before, (before, after)
    assert after < 0.6
    assert history["ratio_max"][-1] < 2.0  # the critic is kept near 1-Lipschitz


def _train(seed_model=5, steps=6, **fit_kwargs):
    keras.utils.set_random_seed(11)
    gan = WGANALP(mlp(2, 2, 16), mlp(2, 1, 16), latent_dim=2, n_critic=2, penalty_kwargs=TOY_ALP, seed=seed_model)
    gan.compile(adam(), adam())
    gan.fit(eight_gaussians(2, batch=16), steps_per_epoch=steps, epochs=1, verbose=0, **fit_kwargs)
    return gan


def _weights(gan):
    return [np.asarray(v) for v in gan.generator.weights + gan.critic.weights]


def test_fixed_seed_gives_identical_runs_and_another_seed_differs():
    a, b, c = _train(), _train(), _train(seed_model=6)
    for x, y in zip(_weights(a), _weights(b)):
        np.testing.assert_array_equal(x, y)
    assert any(not np.array_equal(x, y) for x, y in zip(_weights(a), _weights(c)))


def _fresh(seed=3):
    keras.utils.set_random_seed(21)
    gan = WGANALP(mlp(2, 2, 16), mlp(2, 1, 16), latent_dim=2, n_critic=2, penalty_kwargs=TOY_ALP, seed=seed)
    gan.compile(adam(), adam())
    return gan


def _epoch_data():
    # Finite and unshuffled: every epoch sees the same batches, so a restarted epoch is a repeated epoch.
    x = toy_samples("8gaussians", 160, seed=4).astype("float32")
    return tf.data.Dataset.from_tensor_slices(x).batch(32, drop_remainder=True)


class _Kill(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 2:
            raise RuntimeError("killed")


def test_backup_and_restore_resumes_to_the_same_weights(tmp_path):
    reference = _fresh()
    reference.fit(_epoch_data(), epochs=4, verbose=0)

    backup = str(tmp_path / "backup")
    interrupted = _fresh()
    with pytest.raises(RuntimeError, match="killed"):
        interrupted.fit(_epoch_data(), epochs=4, verbose=0,
                        callbacks=[keras.callbacks.BackupAndRestore(backup), _Kill()])
    resumed = _fresh()  # a new process would rebuild the model from scratch
    history = resumed.fit(_epoch_data(), epochs=4, verbose=0, callbacks=[keras.callbacks.BackupAndRestore(backup)])
    assert len(history.epoch) == 2  # epochs 3 and 4 only
    assert int(resumed.step_counter.numpy()) == int(reference.step_counter.numpy()) == 20
    for x, y in zip(_weights(reference), _weights(resumed)):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    for opt in ("critic_optimizer", "generator_optimizer"):
        for x, y in zip(getattr(reference, opt).variables, getattr(resumed, opt).variables):
            np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-5, atol=1e-7)


def test_keras_file_round_trip_restores_both_optimizers_and_continues_identically(tmp_path):
    gan = _fresh()
    gan.fit(_epoch_data(), epochs=1, verbose=0)
    path = str(tmp_path / "gan.keras")
    gan.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is WGANALP
    model_keys = ("generator", "critic")
    assert {k: v for k, v in loaded.get_config().items() if k not in model_keys} == {
        k: v for k, v in gan.get_config().items() if k not in model_keys}
    for x, y in zip(_weights(gan), _weights(loaded)):
        np.testing.assert_array_equal(x, y)
    assert int(loaded.step_counter.numpy()) == 5
    assert int(loaded.critic_optimizer.iterations.numpy()) == 10
    for opt in ("critic_optimizer", "generator_optimizer"):
        for x, y in zip(getattr(gan, opt).variables, getattr(loaded, opt).variables):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    gan.fit(_epoch_data(), epochs=1, verbose=0)
    loaded.fit(_epoch_data(), epochs=1, verbose=0)
    for x, y in zip(_weights(gan), _weights(loaded)):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


def _two_replicas():
    # Reduction to one device instead of collective ops: strategies created by several tests of one process
    # would otherwise reuse collective instance keys (a TF limitation, not the model's).
    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"], cross_device_ops=tf.distribute.ReductionToOneDevice())


def test_mirrored_strategy_scales_losses_by_the_global_batch():
    """Two replicas, SGD, a constant generator and a linear critic: the updates equal the global-batch means."""
    strategy = _two_replicas()
    assert strategy.num_replicas_in_sync == 2
    lr = 0.1
    with strategy.scope():
        gen = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, kernel_initializer="zeros",
                                                                     bias_initializer=keras.initializers.Constant(0.5))])
        critic = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, kernel_initializer="ones")])
        gan = LipschitzGAN(gen, critic, latent_dim=2, n_critic=1, data_range=None)
        gan.compile(keras.optimizers.SGD(lr), keras.optimizers.SGD(lr))
    x = np.arange(16, dtype="float32").reshape(8, 2) / 8.0
    gan.fit(tf.data.Dataset.from_tensor_slices(x).batch(8), epochs=1, verbose=0)
    # Critic: ∇w [mean f(fake) − mean f(real)] = b − mean(x). Generator: ∇b [−mean f(fake)] = −w.
    w = 1.0 - lr * (0.5 - x.mean(axis=0))
    np.testing.assert_allclose(critic.layers[0].kernel.numpy()[:, 0], w, rtol=1e-6)
    np.testing.assert_allclose(gen.layers[0].bias.numpy(), 0.5 + lr * w, rtol=1e-6)


def test_mirrored_strategy_trains_wgan_alp():
    """Two replicas: the generator trains, and ALP at a fixed linear critic f(x) = w·x, ‖w‖ = 2, has its closed
    form on every replica and step: ratio = ‖w‖ (one power-iteration step finds ±w), penalty = (‖w‖ − 1)²."""
    strategy = _two_replicas()
    with strategy.scope():
        critic = keras.Sequential([keras.Input((2,)), keras.layers.Dense(
            1, kernel_initializer=keras.initializers.Constant([[1.2], [-1.6]]))])
        gan = WGANALP(mlp(2, 2, 16), critic, latent_dim=2, n_critic=2, penalty_kwargs=TOY_ALP, seed=0)
        gan.compile(keras.optimizers.SGD(0.0), adam())  # the critic stays at w
    generator_before = [np.asarray(v) for v in gan.generator.trainable_weights]
    history = gan.fit(eight_gaussians(2, batch=32), steps_per_epoch=5, epochs=1, verbose=0).history
    np.testing.assert_allclose(history["penalty"][0], 1.0, rtol=1e-5)
    np.testing.assert_allclose([history["ratio_mean"][0], history["ratio_max"][0]], [2.0, 2.0], rtol=1e-5)
    assert history["violation_fraction"][0] == 1.0
    assert int(gan.step_counter.numpy()) == 5
    assert any(not np.allclose(a, np.asarray(b)) for a, b in zip(generator_before, gan.generator.trainable_weights))


def test_jit_compile_trains_wgan_alp_with_a_spectral_norm_critic():
    """XLA runs the whole step: ALP's input gradients, the SN power iteration advanced once per update.

    (XLA's stateless RNG draws other numbers than the TF kernels for the same seed, so XLA and non-XLA runs
    are each deterministic but not equal to each other.)
    """
    critic = keras.Sequential([keras.Input((2,)), SpectralNormDense(16, activation="relu"), SpectralNormDense(1)])
    gan = WGANALP(mlp(2, 2, 16), critic, latent_dim=2, n_critic=2, penalty_kwargs=TOY_ALP, seed=0)
    gan.compile(adam(), adam(), jit_compile=True)
    before = np.asarray(critic.layers[0].power_iteration_vector)
    history = gan.fit(_epoch_data(), epochs=1, verbose=0).history
    assert gan.jit_compile is True
    assert all(np.isfinite(v[0]) for v in history.values())
    assert history["penalty"][0] >= 0.0 and history["ratio_mean"][0] > 0.0
    assert int(gan.step_counter.numpy()) == 5
    assert not np.allclose(before, np.asarray(critic.layers[0].power_iteration_vector))
