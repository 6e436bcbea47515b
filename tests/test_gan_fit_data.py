"""`LipschitzGAN.fit`'s data handling: array batch_size is the critic batch, dataset batches must split into
n_critic, labels are ignored with a warning, and a noisy critic under ALP is warned about."""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_lipschitz.models import LipschitzGAN
from tf_lipschitz.models.intake import array_dataset, stochastic_layers

TOY_ALP = {"xi": 1.0, "epsilon": (0.01, 0.5)}


def mlp(inputs, outputs, *middle):
    return keras.Sequential([keras.Input((inputs,)), keras.layers.Dense(8, "relu"), *middle,
                             keras.layers.Dense(outputs)])


def probed_gan(seen, n_critic, **kwargs):
    class Probe(keras.layers.Layer):  # records the batch size of every call (eager runs only)
        def call(self, x):
            seen.append(x.shape[0])
            return x

    critic = keras.Sequential([keras.Input((2,)), Probe(), keras.layers.Dense(1)])
    gan = LipschitzGAN(mlp(2, 2), critic, latent_dim=2, n_critic=n_critic, generator_batch_multiplier=1, seed=0,
                       **kwargs)
    gan.compile(run_eagerly=True)
    seen.clear()  # construction calls the critic on symbolic inputs
    return gan


def test_array_batch_size_is_the_critic_batch_and_sets_the_steps():
    seen = []
    gan = probed_gan(seen, n_critic=5)
    x = np.random.default_rng(0).normal(size=(700, 2)).astype("float32")
    gan.fit(x, batch_size=64, epochs=2, verbose=0)
    # 700 // (5 × 64) = 2 steps per epoch, 4 in all; every critic call sees 64 real and 64 generated samples.
    assert int(gan.step_counter.numpy()) == 4
    assert int(gan.critic_optimizer.iterations.numpy()) == 20
    assert set(seen) - {None} == {64}


def test_array_rows_are_reshuffled_and_all_used_when_they_divide():
    ds = array_dataset(np.arange(12.0).reshape(12, 1), critic_batch_size=2, n_critic=3, seed=1)
    first, second = ([e.numpy().ravel() for e in ds] for _ in range(2))
    assert [len(e) for e in first] == [6, 6]
    assert sorted(np.concatenate(first)) == list(range(12)) == sorted(np.concatenate(second))
    assert not np.array_equal(np.concatenate(first), np.concatenate(second))  # a new order each epoch


def test_array_errors_and_validation_split():
    gan = LipschitzGAN(mlp(2, 2), mlp(2, 1), latent_dim=2, n_critic=5, seed=0)
    gan.compile(jit_compile=False)
    x = np.random.default_rng(0).normal(size=(100, 2)).astype("float32")
    with pytest.raises(ValueError, match=r"n_critic × batch_size = 5 × 32 = 160 samples.*only 100"):
        gan.fit(x, verbose=0)
    bad = x.copy()
    bad[90, 1] = np.inf  # beyond the first batch: the whole array is checked
    with pytest.raises(ValueError, match=r"NaN or Inf.*\(1 of 200 values\)"):
        gan.fit(bad, batch_size=4, verbose=0)
    with pytest.raises(ValueError, match="sample_weight"):
        gan.fit(x, batch_size=4, sample_weight=np.ones(100), verbose=0)
    history = gan.fit(tf.constant(x), batch_size=4, validation_split=0.2, verbose=0).history
    assert int(gan.step_counter.numpy()) == 80 // 20
    assert "val_wasserstein_estimate" in history


def test_dataset_batch_must_split_into_n_critic():
    gan = LipschitzGAN(mlp(2, 2), mlp(2, 1), latent_dim=2, n_critic=5, seed=0)
    gan.compile(jit_compile=False)
    x = np.random.default_rng(0).normal(size=(256, 2)).astype("float32")
    with pytest.raises(ValueError, match=r"n_critic=5.*multiple of 5.*Received batch size 64"):
        gan.fit(tf.data.Dataset.from_tensor_slices(x).batch(64, drop_remainder=True), verbose=0)
    with pytest.raises(ValueError, match=r"multiple of 5.*Received batch size 64"):  # static size unknown
        gan.fit(tf.data.Dataset.from_tensor_slices(x).batch(64), verbose=0)
    gan.fit(tf.data.Dataset.from_tensor_slices(x).batch(80), verbose=0)  # 80 = 5 × 16 trains


def test_labels_are_ignored_with_one_warning():
    seen = []
    gan = probed_gan(seen, n_critic=2)
    x = np.random.default_rng(0).normal(size=(16, 2)).astype("float32")
    y = np.arange(16)
    with pytest.warns(UserWarning, match="labels passed as `y` are ignored") as record:
        gan.fit(x, y, batch_size=4, epochs=2, verbose=0)
    assert sum("labels" in str(w.message) for w in record) == 1
    assert set(seen) - {None} == {4}
    with pytest.warns(UserWarning, match="dataset's elements after their first item"):
        gan.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(8), verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no labels: no warning
        gan.fit(x, batch_size=4, verbose=0)


def test_noisy_critic_under_alp_is_warned_about():
    for noise in (keras.layers.GaussianNoise(0.1), keras.layers.SpatialDropout1D(0.2)):
        assert stochastic_layers(mlp(2, 1, keras.layers.Reshape((8, 1)), noise, keras.layers.Flatten())) == [noise.name]
    noise = keras.layers.Dropout(0.3)
    nested = keras.Sequential([keras.Input((2,)), mlp(2, 1, noise)])
    assert stochastic_layers(nested) == [noise.name]
    x = np.random.default_rng(0).normal(size=(16, 2)).astype("float32")
    gan = LipschitzGAN(mlp(2, 2), nested, latent_dim=2, n_critic=2, penalty="alp", penalty_kwargs=TOY_ALP)
    gan.compile(jit_compile=False)
    with pytest.warns(UserWarning, match=rf"noise in training mode \({noise.name}\).*'alp'.*Stochastic critics"):
        gan.fit(x, batch_size=4, verbose=0)
    quiet = LipschitzGAN(mlp(2, 2), mlp(2, 1, keras.layers.Dropout(0.3)), latent_dim=2, n_critic=2, penalty="gp")
    quiet.compile(jit_compile=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the gradient penalty differentiates one call: no warning
        quiet.fit(x, batch_size=4, verbose=0)
