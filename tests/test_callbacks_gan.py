"""The callbacks on the library's own `LipschitzGAN` (the contract the test doubles in test_callbacks.py mimic)."""

import os

import keras
import numpy as np
import pytest
from PIL import Image

from tf_lipschitz.callbacks import DomainRangeLogger, LipschitzMonitor, SampleGrid, SpectralGradientClamp
from tf_lipschitz.models.gan import LipschitzGAN


def small_gan(loss="ls-gan", alpha=0.5):
    generator = keras.Sequential([
        keras.Input((3,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(16, activation="tanh"),
        keras.layers.Reshape((4, 4, 1)),
    ])
    critic = keras.Sequential([
        keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(6, activation="tanh"), keras.layers.Dense(1),
    ])
    gan = LipschitzGAN(generator, critic, latent_dim=3, loss=loss, alpha=alpha, n_critic=1,
                       generator_batch_multiplier=1, seed=0)
    gan.compile(critic_optimizer=keras.optimizers.SGD(0.1), generator_optimizer=keras.optimizers.SGD(0.1),
                jit_compile=False)
    return gan


def test_callbacks_on_lipschitz_gan(tmp_path):
    x = np.random.default_rng(0).uniform(-1, 1, (8, 4, 4, 1)).astype("float32")
    gan = small_gan()
    before = [v.numpy().copy() for v in gan.critic.trainable_variables]
    clamp = SpectralGradientClamp(1.5, target="critic", power_iterations=60)
    logger = DomainRangeLogger(1, real_data=x[:5], n_generated=4, plot_path=str(tmp_path / "omega.png"),
                               table_path=str(tmp_path / "omega.md"))
    monitor = LipschitzMonitor(x, every_n_steps=1, xi=1.0, epsilon=(0.01, 0.5))
    grid = SampleGrid(1, str(tmp_path / "grid_{step}.png"), n_samples=4)
    history = gan.fit(x, batch_size=8, epochs=1, verbose=0, callbacks=[clamp, logger, monitor, grid])
    # One critic update of SGD: the applied update is 0.1 × the clamped gradient, the ratio is scale-free.
    for b, v in zip(before, gan.critic.trainable_variables):
        update = b - v.numpy()
        if update.ndim == 2 and min(update.shape) >= 2:
            s = np.linalg.svd(update, compute_uv=False)
            assert s[0] / s[1] <= 1.5 * (1 + 1e-3)
    logs = history.history
    assert {"critic_spectral_clamp_fraction", "omega_min", "psi_fake_max", "lipschitz_gradient_max",
            "lipschitz_upper_bound"} <= set(logs)
    f_real = gan.critic(logger.last_real, training=False).numpy().ravel()
    f_fake = gan.critic(logger.last_fake, training=False).numpy().ravel()
    low, high = min(f_real.min(), f_fake.min()), max(f_real.max(), f_fake.max())
    assert logs["omega_min"][-1] == pytest.approx(low, rel=1e-5, abs=1e-6)
    # LS-GAN fake term ω² with α = 0.5: L'_α(ω) = 2·αω = ω.
    assert logs["psi_fake_min"][-1] == pytest.approx(low, rel=1e-5, abs=1e-6)
    assert logs["psi_fake_max"][-1] == pytest.approx(high, rel=1e-5, abs=1e-6)
    for path in (tmp_path / "omega.png", tmp_path / "grid_1.png"):
        with Image.open(path) as image:
            image.verify()
    assert os.path.exists(tmp_path / "omega.md")
    assert "apply" not in gan.critic_optimizer.__dict__


def test_sample_grid_of_a_resumed_gan_continues_the_step_numbering(tmp_path):
    x = np.random.default_rng(1).uniform(-1, 1, (16, 4, 4, 1)).astype("float32")
    gan = small_gan()
    gan.step_counter.assign(600)  # as restored from a checkpoint at step 600
    grid = SampleGrid(1, str(tmp_path / "grid_{step}.png"), n_samples=4)
    gan.fit(x, batch_size=8, epochs=1, verbose=0, callbacks=[grid])
    assert sorted(os.listdir(tmp_path)) == ["grid_601.png", "grid_602.png"]
