"""Tests of the callbacks: spectral gradient clamping, Ω/Ψ logging, Lipschitz monitor and sample grids.

The clamp is checked on the update itself: with SGD (learning rate 1, no momentum) the applied update of a
variable is weight_before − weight_after, whose singular values NumPy computes exactly.
"""

import glob
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tf_lipschitz import analysis
from tf_lipschitz import losses
from tf_lipschitz.callbacks import DomainRangeLogger, LipschitzMonitor, SampleGrid, SpectralGradientClamp
from tf_lipschitz.callbacks import monitors
from tf_lipschitz.callbacks.domain_range import domain_range_table
from tf_lipschitz.models.sampling import image_grid
from tf_lipschitz.ops.spectral_clamp import spectral_clamp


# ------------------------------------------------------------------------------------------ GAN test double
class TinyGAN(keras.Model):
    """Speaks the declared contract the callbacks use (`tf_lipschitz.foundations.contracts.GenerativeModel`): `generator`,
    `critic`, `latent_dim`, `gan_loss`, `latent_noise(n, seed)`, `generate(n, batch_size, seed=...)`, plus the
    `critic_optimizer`/`generator_optimizer` of the clamp, and no `step_counter` (so the callbacks count steps
    themselves). The noise comes with the data (`fit(x=real, y=z)`) so that two runs are bit-comparable; the
    critic step calls `apply_gradients`, the generator step `apply`, so both optimizer entry points are
    exercised."""

    def __init__(self, generator, critic, *, latent_dim, loss="ns-gan", alpha=1.0):
        super().__init__()
        self.generator = generator
        self.critic = critic
        self.latent_dim = latent_dim
        self.gan_loss = losses.get(loss, alpha=alpha)
        self.alpha = alpha
        self.critic_optimizer = None
        self.generator_optimizer = None

    def compile(self, critic_optimizer, generator_optimizer, **kwargs):
        super().compile(**kwargs)
        self.critic_optimizer = critic_optimizer
        self.generator_optimizer = generator_optimizer

    def call(self, z, training=False):
        return self.generator(z, training=training)

    def latent_noise(self, n, seed=None):
        return np.random.default_rng(seed).standard_normal((n, self.latent_dim)).astype("float32")

    def generate(self, n, batch_size=256, *, seed=None):
        return keras.ops.convert_to_numpy(self.generator(self.latent_noise(n, seed), training=False))

    def train_step(self, data):
        real, z = data
        with tf.GradientTape() as tape:
            fake = self.generator(z, training=True)
            d_loss = self.gan_loss.discriminator_loss(self.critic(real, training=True), self.critic(fake, training=True))
        grads = tape.gradient(d_loss, self.critic.trainable_variables)
        self.critic_optimizer.apply_gradients(zip(grads, self.critic.trainable_variables))
        with tf.GradientTape() as tape:
            g_loss = self.gan_loss.generator_loss(self.critic(self.generator(z, training=True), training=True))
        grads = tape.gradient(g_loss, self.generator.trainable_variables)
        self.generator_optimizer.apply(grads, self.generator.trainable_variables)
        return {"d_loss": d_loss, "g_loss": g_loss}


def tiny_gan(latent_dim=3, loss="ns-gan", alpha=1.0, conv=True):
    generator = keras.Sequential([
        keras.Input((latent_dim,)),
        keras.layers.Dense(8, activation="tanh"),
        keras.layers.Dense(16, activation="tanh"),
        keras.layers.Reshape((4, 4, 1)),
    ])
    critic = keras.Sequential(
        [keras.Input((4, 4, 1))]
        + ([keras.layers.Conv2D(3, 2, activation="tanh")] if conv else [])
        + [keras.layers.Flatten(), keras.layers.Dense(6, activation="tanh"), keras.layers.Dense(1)]
    )
    return TinyGAN(generator, critic, latent_dim=latent_dim, loss=loss, alpha=alpha)


def gan_data(n=8, latent_dim=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (n, 4, 4, 1)).astype("float32"), rng.normal(size=(n, latent_dim)).astype("float32")


def compile_gan(gan):
    gan.compile(critic_optimizer=keras.optimizers.SGD(1.0), generator_optimizer=keras.optimizers.SGD(1.0))


def sgd_updates(model, variables, fit):
    """Runs `fit()` from the current weights and returns (updates, weights_before) with update = before − after."""
    before = [np.array(v.numpy()) for v in variables]
    fit()
    return [b - np.array(v.numpy()) for b, v in zip(before, variables)], before


def singular_ratio(update):
    s = np.linalg.svd(update.reshape(-1, update.shape[-1]), compute_uv=False)
    return s[0] / s[1]


# ------------------------------------------------------------------------------------------ spectral clamp
def test_spectral_clamp_matrix_exact_spectrum():
    rng = np.random.default_rng(0)
    u, _ = np.linalg.qr(rng.normal(size=(7, 7)))
    v, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    g = (u[:, :5] * np.array([20.0, 4.0, 2.0, 1.0, 0.5])) @ v.T
    clamped, s0, s1 = spectral_clamp(g.astype("float32"), 3.0, power_iterations=60, seed=1)
    np.testing.assert_allclose(np.linalg.svd(clamped.numpy(), compute_uv=False), [12.0, 4.0, 2.0, 1.0, 0.5], rtol=1e-4)
    assert float(s0) == pytest.approx(20.0, rel=1e-5) and float(s1) == pytest.approx(4.0, rel=1e-4)
    # Under the ratio: returned unchanged, bit for bit.
    unclamped, _, _ = spectral_clamp(g.astype("float32"), 6.0, power_iterations=60, seed=1)
    np.testing.assert_array_equal(unclamped.numpy(), g.astype("float32"))


def mlp_with_conv():
    return keras.Sequential([
        keras.Input((5, 5, 2)),
        keras.layers.Conv2D(4, 3, activation="tanh"),  # kernel (3, 3, 2, 4) -> (18, 4)
        keras.layers.Flatten(),
        keras.layers.Dense(6, activation="tanh"),  # (36, 6)
        keras.layers.Dense(5, activation="tanh"),  # (6, 5)
        keras.layers.Dense(1),  # (5, 1): a single singular value, left alone
    ])


def test_clamp_sgd_updates_plain_model():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(3, 5, 5, 2)).astype("float32"), rng.normal(size=(3, 1)).astype("float32")
    model = mlp_with_conv()
    initial = model.get_weights()

    def one_step(callbacks):
        model.set_weights(initial)
        model.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse", jit_compile=False)
        return sgd_updates(model, model.trainable_variables,
                           lambda: model.fit(x, y, batch_size=3, epochs=1, shuffle=False, verbose=0, callbacks=callbacks))

    reference, _ = one_step([])
    kernels = [i for i, u in enumerate(reference) if u.ndim >= 2 and min(u.reshape(-1, u.shape[-1]).shape) >= 2]
    ratios = sorted(singular_ratio(reference[i]) for i in kernels)
    assert len(kernels) == 3
    # A ratio between the kernels' own σ0/σ1, so that some are clamped and some are not.
    r = float(np.sqrt(ratios[-1] * ratios[-2])) if ratios[-1] / ratios[-2] > 1.5 else float(np.sqrt(ratios[0] * ratios[1]))
    clamp = SpectralGradientClamp(ratio=r, power_iterations=60, seed=0)
    clamped, _ = one_step([clamp])

    n_clamped = 0
    for i, (ref, upd) in enumerate(zip(reference, clamped)):
        if i in kernels and singular_ratio(ref) > r:
            n_clamped += 1
            assert singular_ratio(upd) <= r * (1 + 1e-3)
            # Only the top direction changed: the other singular values are those of the raw gradient.
            s_ref = np.linalg.svd(ref.reshape(-1, ref.shape[-1]), compute_uv=False)
            s_upd = np.linalg.svd(upd.reshape(-1, upd.shape[-1]), compute_uv=False)
            np.testing.assert_allclose(s_upd[1:], s_ref[1:], rtol=1e-3, atol=1e-7)
        else:  # biases, kernels under the ratio, the (5, 1) kernel: untouched, bit for bit
            np.testing.assert_array_equal(upd, ref)
    assert 0 < n_clamped < len(kernels)
    logs = clamp.model.history.history
    assert logs["spectral_clamp_fraction"][-1] == pytest.approx(n_clamped / len(kernels))
    assert logs["spectral_clamp_sigma_ratio"][-1] == pytest.approx(np.mean(ratios), rel=1e-3)
    # Unwrapped after training: the model's own optimizer is back, the traced clamped function dropped.
    assert type(model.optimizer) is keras.optimizers.SGD and model.train_function is None


def test_clamp_inf_is_bit_identical():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(6, 5, 5, 2)).astype("float32"), rng.normal(size=(6, 1)).astype("float32")
    model = mlp_with_conv()
    initial = model.get_weights()
    results = []
    for callbacks in ([], [SpectralGradientClamp(ratio=float("inf"))]):
        model.set_weights(initial)
        model.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse", jit_compile=False)
        history = model.fit(x, y, batch_size=3, epochs=2, shuffle=False, verbose=0, callbacks=callbacks)
        results.append(model.get_weights())
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
    assert history.history["spectral_clamp_fraction"] == [0.0, 0.0]
    assert all(r >= 1.0 for r in history.history["spectral_clamp_sigma_ratio"])


@pytest.mark.parametrize("target", ["critic", "generator", "both"])
def test_clamp_gan_targets(target):
    x, z = gan_data()
    gan = tiny_gan()
    initial = {"critic": gan.critic.get_weights(), "generator": gan.generator.get_weights()}

    def run(callbacks):
        gan.critic.set_weights(initial["critic"])
        gan.generator.set_weights(initial["generator"])
        compile_gan(gan)
        variables = gan.critic.trainable_variables + gan.generator.trainable_variables
        updates, _ = sgd_updates(gan, variables,
                                 lambda: gan.fit(x, z, batch_size=8, shuffle=False, verbose=0, callbacks=callbacks))
        n = len(gan.critic.trainable_variables)
        return {"critic": updates[:n], "generator": updates[n:]}

    reference = run([])
    clamp = SpectralGradientClamp(ratio=1.01, target=target, power_iterations=60)
    clamped = run([clamp])
    selected = ("critic", "generator") if target == "both" else (target,)
    for net in ("critic", "generator"):
        for ref, upd in zip(reference[net], clamped[net]):
            eligible = ref.ndim >= 2 and min(ref.reshape(-1, ref.shape[-1]).shape) >= 2
            if net in selected and eligible:
                assert singular_ratio(upd) <= 1.01 * (1 + 1e-3)
            elif net == "critic" or net not in selected:
                # The generator's step follows the critic's, so with a clamped critic it sees other weights;
                # compare the generator only when the critic was not clamped.
                if net == "critic" or "critic" not in selected:
                    np.testing.assert_array_equal(upd, ref)
    keys = {k for k in gan.history.history if "spectral_clamp" in k}
    assert keys == {f"{net}_spectral_clamp_{s}" for net in selected for s in ("fraction", "sigma_ratio")}


def test_clamp_jit_compile_matches_eager_semantics():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(2, 6)).astype("float32"), rng.normal(size=(2, 4)).astype("float32")
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, use_bias=False)])
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse", jit_compile=True)
    update, _ = sgd_updates(model, model.trainable_variables,
                            lambda: model.fit(x, y, batch_size=2, verbose=0, callbacks=[SpectralGradientClamp(1.2, power_iterations=60)]))
    assert singular_ratio(update[0]) <= 1.2 * (1 + 1e-3)


def test_clamp_update_mode_bounds_adams_applied_update():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(4, 6)).astype("float32"), rng.normal(size=(4, 4)).astype("float32")
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, use_bias=False)])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    clamp = SpectralGradientClamp(1.2, power_iterations=60, seed=0, mode="update")
    update, _ = sgd_updates(model, model.trainable_variables,
                            lambda: model.fit(x, y, batch_size=4, verbose=0, callbacks=[clamp]))
    assert singular_ratio(update[0]) <= 1.2 * (1 + 1e-3)
    assert type(model.optimizer) is keras.optimizers.Adam and int(model.optimizer.iterations.numpy()) == 1


def test_clamp_argument_and_model_errors():
    with pytest.raises(ValueError, match="`ratio` must be"):
        SpectralGradientClamp(1.0)
    with pytest.raises(ValueError, match="`ratio` must be"):
        SpectralGradientClamp(float("nan"))
    with pytest.raises(ValueError, match="`target` must be"):
        SpectralGradientClamp(2.0, target="discriminator")
    with pytest.raises(ValueError, match="`power_iterations`"):
        SpectralGradientClamp(2.0, power_iterations=0)
    with pytest.raises(ValueError, match="single singular value|both dimensions"):
        spectral_clamp(np.ones((5, 1), "float32"), 2.0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="generator_optimizer"):
        model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0, callbacks=[SpectralGradientClamp(2.0, target="generator")])
    gan = tiny_gan()
    gan.compile(critic_optimizer=keras.optimizers.SGD(0.1), generator_optimizer=None)
    x, z = gan_data()
    with pytest.raises(ValueError, match="generator_optimizer"):
        gan.fit(x, z, verbose=0, callbacks=[SpectralGradientClamp(2.0, target="both")])


# ------------------------------------------------------------------------------------------ domain / range
class CaptureBatchLogs(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.batches = []

    def on_train_batch_end(self, batch, logs=None):
        self.batches.append(dict(logs))


def test_domain_range_logger_matches_direct_computation(tmp_path):
    x, z = gan_data(n=16)
    gan = tiny_gan(loss="ns-gan", alpha=0.5)
    compile_gan(gan)
    logger = DomainRangeLogger(2, real_data=x[:6], n_generated=5, plot_path=str(tmp_path / "omega.png"),
                               table_path=str(tmp_path / "omega.md"))
    capture = CaptureBatchLogs()
    csv = tmp_path / "log.csv"
    gan.fit(x, z, batch_size=4, epochs=1, shuffle=False, verbose=0,
            callbacks=[logger, capture, keras.callbacks.CSVLogger(str(csv))])
    # Measured after batches 2 and 4; the last measurement used the final weights.
    assert logger.history["step"] == [2, 4]
    assert [("omega_min" in logs) for logs in capture.batches] == [False, True, False, True]
    real_out = gan.critic(logger.last_real, training=False).numpy().ravel().astype(np.float64)
    fake_out = gan.critic(logger.last_fake, training=False).numpy().ravel().astype(np.float64)
    assert logger.last_fake.shape[0] == 5
    low, high = min(real_out.min(), fake_out.min()), max(real_out.max(), fake_out.max())
    sigmoid = lambda t: 1.0 / (1.0 + np.exp(-t))  # noqa: E731
    expected = {
        "omega_real_min": real_out.min(), "omega_real_max": real_out.max(),
        "omega_fake_min": fake_out.min(), "omega_fake_max": fake_out.max(),
        "omega_min": low, "omega_max": high,
        # NS-GAN, L_α(ω) = L(αω)/α: real term −log σ(ω) has L'_α(ω) = −σ(−αω), fake term σ(αω).
        "psi_real_min": -sigmoid(-0.5 * low), "psi_real_max": -sigmoid(-0.5 * high),
        "psi_fake_min": sigmoid(0.5 * low), "psi_fake_max": sigmoid(0.5 * high),
    }
    for key, value in expected.items():
        assert logger.history[key][-1] == pytest.approx(value, rel=1e-5, abs=1e-6), key
        assert capture.batches[-1][key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
        assert gan.history.history[key][-1] == pytest.approx(value, rel=1e-5, abs=1e-6), key
    assert "omega_min" in csv.read_text().splitlines()[0]
    with Image.open(tmp_path / "omega.png") as image:
        image.verify()
    table = (tmp_path / "omega.md").read_text()
    summary = logger.summary()
    assert summary["omega_min"] == pytest.approx(min(logger.history["omega_min"]))
    assert f"[{summary['omega_min']:.3f}, {summary['omega_max']:.3f}]" in table


def test_domain_range_table_and_errors():
    summary = {"omega_min": -1.0, "omega_max": 2.0, "psi_real_min": -4.0, "psi_real_max": 2.0,
               "psi_fake_min": -2.0, "psi_fake_max": 4.0}
    assert "| k=1 | [-1.000, 2.000] |" in domain_range_table([("k=1", summary)])
    with pytest.raises(ValueError, match="every_n_steps"):
        DomainRangeLogger(0, real_data=np.ones((2, 3)))
    with pytest.raises(ValueError, match="real_data"):
        DomainRangeLogger(1, real_data=np.ones((0, 3)))
    with pytest.raises(ValueError, match="Unknown GAN loss"):
        DomainRangeLogger(1, real_data=np.ones((2, 3)), loss="hinge-ish")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="DomainRangeLogger needs a GAN model.*`critic`"):
        model.fit(np.ones((4, 3)), np.ones((4, 1)), verbose=0, callbacks=[DomainRangeLogger(1, real_data=np.ones((2, 3)))])


# ------------------------------------------------------------------------------------------ Lipschitz monitor
def test_lipschitz_monitor_chain_critic():
    x, z = gan_data()
    gan = tiny_gan(conv=False)  # a chain of Dense layers: every layer has a known bound
    compile_gan(gan)
    monitor = LipschitzMonitor(x, every_n_steps=1, xi=1.0, epsilon=(0.01, 0.5))
    gan.fit(x, z, batch_size=8, verbose=0, callbacks=[monitor])
    logs = gan.history.history
    assert logs["lipschitz_gradient_max"][-1] == pytest.approx(analysis.empirical_lipschitz(gan.critic, x), rel=1e-5)
    upper = analysis.lipschitz_upper_bound(gan.critic)
    assert logs["lipschitz_upper_bound"][-1] == pytest.approx(upper, rel=1e-3)
    assert 0 < logs["lipschitz_alp_ratio_max"][-1] <= upper * 1.001
    assert logs["lipschitz_gradient_max"][-1] <= upper * 1.001


def test_lipschitz_monitor_residual_model_logs_bound_and_unknown_layer_skips_it():
    inputs = keras.Input((4,))
    outputs = keras.layers.Add()([keras.layers.Dense(4)(inputs), inputs])
    model = keras.Model(inputs, keras.layers.Dense(1)(outputs))
    model.compile(optimizer="sgd", loss="mse")
    monitor = LipschitzMonitor(np.ones((4, 4), "float32"), every_n_steps=1, xi=1.0, epsilon=(0.01, 0.5))
    history = model.fit(np.ones((4, 4)), np.ones((4, 1)), verbose=0, epochs=2, callbacks=[monitor])
    assert history.history["lipschitz_upper_bound"][-1] == pytest.approx(analysis.lipschitz_upper_bound(model))
    assert history.history["lipschitz_gradient_max"][-1] <= history.history["lipschitz_upper_bound"][-1]
    outputs = keras.layers.LayerNormalization()(keras.layers.Dense(4)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1)(outputs))
    model.compile(optimizer="sgd", loss="mse")
    monitor = LipschitzMonitor(np.ones((4, 4), "float32"), every_n_steps=1, xi=1.0, epsilon=(0.01, 0.5))
    with pytest.warns(UserWarning, match="upper bound"):
        history = model.fit(np.ones((4, 4)), np.ones((4, 1)), verbose=0, epochs=2, callbacks=[monitor])
    assert "lipschitz_upper_bound" not in history.history
    assert "LayerNormalization" in monitor.upper_bound_unavailable
    assert all(np.isfinite(history.history["lipschitz_gradient_max"]))
    with pytest.raises(ValueError, match="`data`"):
        LipschitzMonitor(np.ones((0, 4)), every_n_steps=1)


# ------------------------------------------------------------------------------------------ sample grid
def test_sample_grid_png_and_tensorboard(tmp_path, monkeypatch):
    x, z = gan_data(n=12)
    gan = tiny_gan()
    compile_gan(gan)
    images = []
    monkeypatch.setattr(monitors, "_tensorboard_available", lambda: True)
    monkeypatch.setattr(monitors, "_summary_image", lambda writer, name, grid, step: images.append((name, grid.shape, step)))
    grid = SampleGrid(2, str(tmp_path / "samples" / "step_{step:03d}.png"), n_samples=6, columns=3,
                      log_dir=tmp_path / "tb")
    gan.fit(x, z, batch_size=4, verbose=0, callbacks=[grid])
    # Steps 2 and the final step 3.
    assert [os.path.basename(p) for p in grid.paths] == ["step_002.png", "step_003.png"]
    for path in grid.paths:
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            assert image.size == (3 * 5 - 1, 2 * 5 - 1) and image.mode == "L"
    # One TensorBoard image per grid, in log_dir/train.
    assert images == [("samples", (9, 14, 1), 2), ("samples", (9, 14, 1), 3)]
    assert os.path.isdir(tmp_path / "tb" / "train")
    # The grid shows the generator at the fixed noise `latent_noise(6, seed=0)`, mapped from [-1, 1] to [0, 255].
    expected = np.round(image_grid(gan.generator(gan.latent_noise(6, seed=0)).numpy(), 3) * 255.0)
    with Image.open(grid.paths[-1]) as image:
        np.testing.assert_array_equal(np.asarray(image), expected[..., 0].astype(np.uint8))
    noise = np.array(grid.noise)
    grid.log_dir = None  # the writer was closed at the end of training; no new one
    gan.fit(x, z, batch_size=4, verbose=0, callbacks=[grid])
    np.testing.assert_array_equal(np.array(grid.noise), noise)  # the same latent points across fits
    assert len(images) == 2 and os.path.basename(grid.paths[-1]) == "step_006.png"  # no TensorBoard this time


def test_sample_grid_real_tensorboard_event_file(tmp_path):
    pytest.importorskip("tensorboard")
    x, z = gan_data(n=8)
    gan = tiny_gan()
    compile_gan(gan)
    grid = SampleGrid(1, str(tmp_path / "latest.png"), n_samples=4, log_dir=str(tmp_path / "tb"))
    gan.fit(x, z, batch_size=4, verbose=0, callbacks=[grid, keras.callbacks.TensorBoard(str(tmp_path / "tb"))])
    events = glob.glob(str(tmp_path / "tb" / "train" / "events.out.tfevents.*"))
    tags = {v.tag for path in events for e in tf.compat.v1.train.summary_iterator(path) for v in e.summary.value}
    assert "samples" in tags and grid.paths == [str(tmp_path / "latest.png")] * 2


def test_sample_grid_errors():
    with pytest.raises(ValueError, match="`n_samples`"):
        SampleGrid(1, "a.png", n_samples=0)
    with pytest.raises(ValueError, match="`path`"):
        SampleGrid(1, "a_{epoch}.png")
    with pytest.raises(ValueError, match="`every_n_steps` must be an integer >= 1. Received: every_n_steps=0"):
        SampleGrid(0, "a.png")
    with pytest.raises(ValueError, match="`log_dir`"):
        SampleGrid(1, "a.png", log_dir=3)
    with pytest.warns(DeprecationWarning, match="log_dir"):
        assert SampleGrid(1, "a.png", tensorboard=keras.callbacks.TensorBoard("tb_dir")).log_dir == "tb_dir"
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="SampleGrid needs a GAN model"):
        model.fit(np.ones((4, 3)), np.ones((4, 1)), verbose=0, callbacks=[SampleGrid(1, "a.png")])
