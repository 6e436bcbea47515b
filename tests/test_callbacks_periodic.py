"""The declared GAN contract (`tf_lipschitz.foundations.contracts`) and the one every-N-steps schedule of the callbacks."""

import itertools
import math
import os
import re

import keras
import numpy as np
import pytest

from tf_lipschitz.callbacks import ToyW1Monitor
from tf_lipschitz.callbacks._periodic import PeriodicCallback
from tf_lipschitz.foundations import contracts
from tf_lipschitz.models import LipschitzGAN
from tf_lipschitz.toy import toy_samples

PACKAGE = os.path.join(os.path.dirname(__file__), "..", "tf_lipschitz")


def toy_gan(seed=0):
    gen = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    critic = keras.Sequential([keras.Input((2,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(1)])
    gan = LipschitzGAN(gen, critic, latent_dim=2, n_critic=1, generator_batch_multiplier=1, seed=seed)
    gan.compile(critic_optimizer=keras.optimizers.SGD(0.01), generator_optimizer=keras.optimizers.SGD(0.01),
                jit_compile=False)
    return gan


class Recorder(PeriodicCallback):
    """Measures the step it is called at; a key that appears only from the second measurement on."""

    def measure(self):
        values = {"at": float(self.step)}
        if self.history["step"]:
            values["late"] = 1.0
        return values


def test_lipschitz_gan_speaks_every_contract_and_a_plain_model_none():
    gan = toy_gan()
    assert isinstance(gan, contracts.GenerativeModel) and isinstance(gan, contracts.Sampler)
    assert isinstance(gan, contracts.CountsSteps) and contracts.training_step(gan) == 0
    plain = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    assert not isinstance(plain, (contracts.GenerativeModel, contracts.Sampler, contracts.CountsSteps))
    assert contracts.training_step(plain) is None


def test_schedule_counts_batches_per_fit_and_steps_from_the_models_counter():
    gan = toy_gan()
    gan.step_counter.assign(600)  # a resumed run
    recorder = Recorder(2)
    x = np.random.default_rng(0).normal(size=(5 * 8, 2)).astype("float32")
    history = gan.fit(x, batch_size=8, epochs=1, verbose=0, callbacks=[recorder]).history
    assert recorder.history["step"] == [602, 604] and recorder.history["at"] == [602.0, 604.0]
    assert math.isnan(recorder.history["late"][0]) and recorder.history["late"][1] == 1.0  # padded, aligned
    assert history["at"] == [604.0]  # the latest value reaches the epoch logs
    gan.fit(x[:24], batch_size=8, epochs=1, verbose=0, callbacks=[recorder])  # counting restarts with each fit
    assert recorder.history["step"] == [602, 604, 607]


def test_schedule_without_a_step_counter_and_at_epoch_ends():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.ones((12, 2), "float32"), np.ones((12, 1), "float32")
    recorder = Recorder(4)
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[recorder])  # 3 batches per epoch
    # Nothing scheduled in epoch 1 (3 batches): measured at its end (step 3); then at the 4th batch of the fit.
    assert recorder.history["step"] == [3, 4]
    per_epoch = Recorder(None, allow_epoch_end=True)
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[per_epoch])
    assert per_epoch.history["step"] == [3, 6]
    for bad in (0, -1, 1.5, True, None):
        with pytest.raises(ValueError, match="`every_n_steps` must be an integer >= 1"):
            Recorder(bad)


def brute_force_w1(a, b):
    """min over all permutations of the mean distance: the exact W1 of two small equal-size samples."""
    cost = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=-1)
    return min(cost[np.arange(len(a)), list(p)].mean() for p in itertools.permutations(range(len(b))))


def test_toy_w1_monitor_logs_the_exact_w1_of_the_models_samples(tmp_path, capsys):
    gan = toy_gan()
    monitor = ToyW1Monitor("8gaussians", every_n_steps=2, n=6, plot_path=str(tmp_path / "plot.png"), seed=0)
    real = toy_samples("8gaussians", 6, seed=1)
    np.testing.assert_array_equal(monitor.real, real)
    assert monitor.noise_floor == pytest.approx(brute_force_w1(real, toy_samples("8gaussians", 6, seed=2)), rel=1e-9)
    x = np.random.default_rng(0).normal(size=(32, 2)).astype("float32")
    history = gan.fit(x, batch_size=8, epochs=1, verbose=0, callbacks=[monitor]).history
    assert monitor.history["step"] == [2, 4]
    # The last measurement: samples generate(6, seed=step) of the trained model against the fixed real sample.
    expected = brute_force_w1(gan.generate(6, seed=4), real)
    assert monitor.history["w1_exact"][-1] == pytest.approx(expected, rel=1e-6)
    assert history["w1_exact"] == [pytest.approx(expected, rel=1e-6)]
    assert f"step 4: exact W1(generated, real) = {expected:.4f}" in capsys.readouterr().out
    assert monitor.summary().splitlines()[3] == f"| 4 | {expected:.4f} |"
    assert os.path.getsize(tmp_path / "plot.png") > 1000
    with pytest.raises(ValueError, match="ToyW1Monitor needs a GAN model with `generate`"):
        plain = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        plain.compile(optimizer="sgd", loss="mse")
        plain.fit(x, x[:, :1], verbose=0, callbacks=[ToyW1Monitor("8gaussians", every_n_steps=1, n=4)])


def test_no_callback_probes_or_reads_private_attributes_of_the_model():
    # spectral_clamp.py is being reworked into an optimizer wrapper on another branch (issue 16, item 4).
    files = [os.path.join(PACKAGE, "callbacks", name) for name in os.listdir(os.path.join(PACKAGE, "callbacks"))
             if name.endswith(".py") and name != "spectral_clamp.py"]  # the toy W1 monitor (toy_w1.py) included
    for path in files:
        source = open(path, encoding="utf-8").read()
        assert not re.search(r"\b(getattr|hasattr)\(", source), path
        assert not re.search(r"model\._\w", source), path
        assert "inspect" not in source, path  # no stack-frame walks
