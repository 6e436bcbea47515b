"""LipschitzGAN / WGANALP / WGANGP: construction, logs, SN advancing, inputs, NaN guard, sampling, config."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_lipschitz import losses, penalties
from tf_lipschitz.layers import SpectralNormDense
from tf_lipschitz.models import LipschitzGAN, WGANALP, WGANGP
from tf_lipschitz.models.diagnostics import NonFiniteGuard
from tf_lipschitz.models.sampling import image_grid
from tf_lipschitz.penalties import Penalty, PenaltyCall, PenaltyResult, PenaltySpec, RelativeEpsilon, options

TOY_ALP = {"xi": 1.0, "epsilon": (0.01, 0.5)}


def mlp(inputs, outputs, width=16, last=None):
    return keras.Sequential([
        keras.Input((inputs,)), keras.layers.Dense(width, "relu"), keras.layers.Dense(outputs, activation=last),
    ])


def toy_data(n=64, batch=32):
    x = np.random.default_rng(0).normal(size=(n, 2)).astype("float32")
    return tf.data.Dataset.from_tensor_slices(x).batch(batch, drop_remainder=True)


def test_fit_logs_every_term_and_counts_steps():
    gan = WGANALP(mlp(2, 2), mlp(2, 1), latent_dim=2, n_critic=2, penalty_kwargs=TOY_ALP, seed=0)
    gan.compile()
    history = gan.fit(toy_data(), epochs=2, verbose=0)
    assert sorted(history.history) == sorted([
        "critic_loss", "generator_loss", "wasserstein_estimate", "penalty", "ratio_mean", "ratio_max",
        "violation_fraction",
    ])
    assert all(np.all(np.isfinite(v)) for v in history.history.values())
    assert int(gan.step_counter.numpy()) == 4
    assert int(gan.critic_optimizer.iterations.numpy()) == 8  # n_critic updates per step
    assert int(gan.generator_optimizer.iterations.numpy()) == 4


def test_paper_defaults():
    alp = WGANALP(mlp(2, 2), mlp(2, 1), latent_dim=2)
    assert (alp.gan_loss.name, alp.penalty, alp.penalty_weight, alp.regularize) == ("wgan", "alp", 100.0, "both")
    assert alp.penalty_kwargs == {"K": 1.0, "xi": 10.0, "epsilon": (0.1, 10.0), "power_iterations": 1}
    assert (alp.n_critic, alp.generator_batch_multiplier) == (5, 2)
    gp = WGANGP(mlp(2, 2), mlp(2, 1), latent_dim=2)
    assert (gp.penalty, gp.penalty_weight, gp.regularize, gp.n_critic) == ("gp", 10.0, "interpolate", 5)


def test_wgan_alp_defaults_come_from_the_penalty_declaration_aliases_included():
    from tf_lipschitz import penalties

    declared = penalties.get("alp").spec.defaults
    for name in ("alp", "alr", "Adversarial"):
        gan = WGANALP(mlp(2, 2), mlp(2, 1), latent_dim=2, penalty=name, penalty_kwargs={"xi": 1.0})
        assert gan.penalty == "alp" and gan.penalty_kwargs == {**declared, "xi": 1.0}
    assert WGANALP.ALP_DEFAULTS == declared
    gp = WGANALP(mlp(2, 2), mlp(2, 1), latent_dim=2, penalty="wgan-gp", penalty_weight=10.0)
    assert (gp.penalty, gp.penalty_kwargs) == ("gp", {})


def test_generator_batch_is_multiplier_times_critic_batch():
    seen = []

    class Probe(keras.layers.Layer):
        def call(self, x):
            seen.append(x.shape[0])
            return x

    gen = keras.Sequential([keras.Input((2,)), Probe(), keras.layers.Dense(2)])
    gan = LipschitzGAN(gen, mlp(2, 1), latent_dim=2, n_critic=2, generator_batch_multiplier=3)
    gan.compile(run_eagerly=True)
    gan.fit(toy_data(n=24, batch=24), epochs=1, verbose=0)  # 24 samples = 2 critic batches of 12
    assert seen[-3:] == [12, 12, 36]


def test_spectral_norm_layers_advance_once_per_update():
    critic = keras.Sequential([keras.Input((2,)), SpectralNormDense(8, activation="relu"), SpectralNormDense(1)])
    gen = keras.Sequential([keras.Input((2,)), SpectralNormDense(2)])
    counts = {}
    for layer in (*critic.layers, *gen.layers):
        original = layer.advance_power_iteration

        def counted(original=original, layer=layer):
            counts[layer.name] = counts.get(layer.name, 0) + 1
            return original()

        layer.advance_power_iteration = counted
    # ALP calls the critic on real, fake and perturbed batches: still one advance per critic update.
    gan = WGANALP(gen, critic, latent_dim=2, n_critic=3, penalty_kwargs=TOY_ALP)
    gan.compile(run_eagerly=True)
    gan.fit(toy_data(n=30, batch=30), epochs=1, verbose=0)
    assert [counts[layer.name] for layer in critic.layers] == [3, 3]
    assert counts[gen.layers[0].name] == 1


def test_without_penalty_logs_the_pair_quotient_and_zero_penalty():
    gan = LipschitzGAN(mlp(2, 2), mlp(2, 1), latent_dim=2, n_critic=1)
    gan.compile()
    logs = gan.fit(toy_data(), epochs=1, verbose=0).history
    assert logs["penalty"] == [0.0]
    assert logs["ratio_mean"][0] > 0.0


def linear_critic(w):
    """f(x) = w·x: ‖∇f‖ = ‖w‖ everywhere, and ALP's one power-iteration step finds the direction ±w exactly."""
    w = np.asarray(w, "float32").reshape(-1, 1)
    return keras.Sequential([keras.Input((w.shape[0],)),
                             keras.layers.Dense(1, kernel_initializer=keras.initializers.Constant(w))])


# ‖w‖ = 3 and K = target = 1: closed forms of every penalty at a linear critic (ratio = ‖w‖ everywhere).
@pytest.mark.parametrize(
    "penalty, regularize, kwargs, expected",
    [("alp", "real", TOY_ALP, 4.0), ("alp", "fake", TOY_ALP, 4.0), ("alp", "interpolate", TOY_ALP, 4.0),
     ("alp", "both", {"epsilon": RelativeEpsilon(), "xi": 1.0, "reduction": "squared+abs"}, 4.0 + 2.0),
     ("alp", "both", {**TOY_ALP, "K": 4.0}, 0.0),
     ("gp", "both", {"K": 1.0}, 4.0), ("lp", "interpolate", {}, 4.0), ("r1", "real", {}, 9.0)],
)
def test_penalty_and_regularize_variants_match_the_closed_form_at_a_linear_critic(penalty, regularize, kwargs,
                                                                                     expected):
    gan = LipschitzGAN(mlp(2, 2), linear_critic([1.8, -2.4]), latent_dim=2, penalty=penalty, regularize=regularize,
                       penalty_kwargs=kwargs, n_critic=1, drift=1e-3)
    gan.compile(run_eagerly=True)
    logs = gan.fit(toy_data(n=32, batch=32), epochs=1, verbose=0).history  # one step: logs are at the initial w
    np.testing.assert_allclose(logs["penalty"][0], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose([logs["ratio_mean"][0], logs["ratio_max"][0]], [3.0, 3.0], rtol=1e-5)
    target = kwargs.get("K", 0.0 if penalty == "r1" else 1.0)
    assert logs["violation_fraction"][0] == (1.0 if 3.0 > target else 0.0)


def test_one_sided_penalty_is_zero_below_the_target_and_two_sided_is_not():
    for penalty, expected in (("lp", 0.0), ("gp", 0.25)):  # ‖w‖ = 0.5
        gan = LipschitzGAN(mlp(2, 2), linear_critic([0.3, 0.4]), latent_dim=2, penalty=penalty, n_critic=1)
        gan.compile(run_eagerly=True)
        logs = gan.fit(toy_data(n=32, batch=32), epochs=1, verbose=0).history
        np.testing.assert_allclose(logs["penalty"][0], expected, rtol=1e-5, atol=1e-7)
        assert logs["violation_fraction"][0] == 0.0


def test_alpha_given_with_a_gan_loss_object_is_used():
    gan = LipschitzGAN(mlp(2, 2), mlp(2, 1), latent_dim=2, loss=losses.GANLoss("ns-gan"), alpha=0.25)
    assert (gan.gan_loss.name, gan.gan_loss.alpha) == ("ns-gan", 0.25)
    own = LipschitzGAN(mlp(2, 2), mlp(2, 1), latent_dim=2, loss=losses.GANLoss("ls-gan", 0.5, include_constant=True))
    assert (own.gan_loss.alpha, own.gan_loss.include_constant) == (0.5, True)


def test_config_keeps_include_constant():
    gan = LipschitzGAN(mlp(2, 2), mlp(2, 1), latent_dim=2, loss="ns", alpha=0.5, include_constant=True)
    clone = LipschitzGAN.from_config(gan.get_config())
    assert (clone.gan_loss.name, clone.gan_loss.alpha, clone.gan_loss.include_constant) == ("ns-gan", 0.5, True)
    real, fake = tf.constant([0.3, -1.2]), tf.constant([0.4, 2.0])
    assert float(clone.gan_loss.discriminator_loss(real, fake)) == float(gan.gan_loss.discriminator_loss(real, fake))


@pytest.mark.parametrize("loss", ["ns-gan", "ls-gan#", "cos-gan", "exp-gan"])
def test_other_losses_with_tiny_alpha_train(loss):
    gan = LipschitzGAN(mlp(2, 2), mlp(2, 1), latent_dim=2, loss=loss, alpha=1e-25, n_critic=1)
    gan.compile(run_eagerly=True)
    logs = gan.fit(toy_data(n=32, batch=32), epochs=1, verbose=0).history
    assert all(np.isfinite(v[0]) for v in logs.values())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"loss": "hinge"}, "Unknown GAN loss"),
        ({"penalty": "sn"}, "Unknown `penalty`"),
        ({"penalty": "alp", "penalty_weight": -1.0}, "penalty_weight"),
        ({"n_critic": 0}, "n_critic"),
        ({"generator_batch_multiplier": 0}, "generator_batch_multiplier"),
        ({"regularize": "everything"}, "regularize"),
        ({"drift": -0.1}, "drift"),
        ({"alpha": 0.0}, "alpha"),
        ({"penalty": "alp", "penalty_kwargs": {"eps": 1.0}}, "Unknown arguments of penalty 'alp'.*eps"),
        ({"penalty": None, "penalty_kwargs": {"xi": 1.0}}, "without a penalty"),
        ({"data_range": (1.0, -1.0)}, "data_range"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LipschitzGAN(mlp(2, 2), mlp(2, 1), latent_dim=2, **kwargs)


def test_shape_mismatch_between_generator_and_critic_raises():
    with pytest.raises(ValueError, match=r"generator's output shape \(None, 3\).*critic's input shape \(None, 2\)"):
        LipschitzGAN(mlp(2, 3), mlp(2, 1), latent_dim=2)
    with pytest.raises(ValueError, match="one score per sample"):
        LipschitzGAN(mlp(2, 2), mlp(2, 4), latent_dim=2)


def test_bad_data_raises_naming_what_was_expected():
    gan = LipschitzGAN(mlp(2, 2, last="tanh"), mlp(2, 1), latent_dim=2, n_critic=2)
    gan.compile()
    assert gan.data_range == (-1.0, 1.0)  # "auto" from the tanh output
    x = np.random.default_rng(0).uniform(-1, 1, (64, 2)).astype("float32")
    with pytest.raises(ValueError, match=r"shaped like the critic's input, \(batch, 2\).*\(None, 3\)"):
        gan.fit(tf.data.Dataset.from_tensor_slices(np.zeros((8, 3), "float32")).batch(4), verbose=0)
    with pytest.raises(ValueError, match="floating-point.*uint8"):
        gan.fit(tf.data.Dataset.from_tensor_slices((x * 100).astype("uint8")).batch(8), verbose=0)
    with pytest.raises(ValueError, match=r"range \[-1, 1\].*Received values in \[0, "):
        gan.fit(tf.data.Dataset.from_tensor_slices(np.linspace(0, 255, 128, dtype="float32").reshape(64, 2))
                .batch(8), verbose=0)
    with pytest.raises(ValueError, match="at least 2 samples"):
        gan.fit(tf.data.Dataset.from_tensor_slices(x).batch(1, drop_remainder=True), verbose=0)
    with pytest.raises(ValueError, match="NaN or Inf"):
        gan.fit(np.full((8, 2), np.nan, "float32"), batch_size=4, verbose=0)
    with pytest.raises(ValueError, match="dataset is empty"):
        gan.fit(tf.data.Dataset.from_tensor_slices(x[:0]).batch(8), verbose=0)
    with pytest.raises(ValueError, match="array is empty"):
        gan.fit(x[:0], batch_size=4, verbose=0)
    gan.fit(tf.data.Dataset.from_tensor_slices(x).batch(8), verbose=0)  # the good data trains


def test_nan_stops_training_naming_the_term():
    # log of a negative critic score: the real-sample critic output is the first non-finite term.
    critic = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1), keras.layers.Lambda(lambda t: tf.math.log(t))])
    critic.layers[0].set_weights([np.array([[1.0], [0.0]], "float32"), np.array([-100.0], "float32")])
    gan = LipschitzGAN(mlp(2, 2), critic, latent_dim=2, n_critic=1)
    gan.compile()
    with pytest.raises(FloatingPointError, match="critic update 1/1: critic output on real samples"):
        gan.fit(toy_data(), epochs=1, verbose=0)


def test_guard_names_the_first_flagged_term_and_hides_its_key():
    guard = NonFiniteGuard()
    model = type("M", (), {"nonfinite_labels": ("a", "b: penalty (alp)", "c"), "stop_training": False})()
    guard.set_model(model)
    logs = {"critic_loss": 1.0, "nonfinite": np.array([0.0, 0.0, 0.0])}
    guard.on_train_batch_end(0, logs)
    assert "nonfinite" not in logs
    with pytest.raises(FloatingPointError, match=r"`b: penalty \(alp\)`"):
        guard.on_train_batch_end(1, {"critic_loss": float("nan"), "nonfinite": np.array([0.0, 0.5, 0.5])})
    with pytest.raises(FloatingPointError, match="`generator_loss`"):
        guard.on_epoch_end(0, {"critic_loss": 1.0, "generator_loss": float("inf")})


def test_generate_and_fixed_noise_sampler():
    gan = LipschitzGAN(mlp(2, 2), mlp(2, 1), latent_dim=2)
    samples = gan.generate(10, batch_size=4, seed=3)
    assert samples.shape == (10, 2)
    # float32 results depend on how the CPU blocks a batch: equal to float32 precision, not bit for bit.
    np.testing.assert_allclose(samples, gan.generate(10, batch_size=7, seed=3), rtol=1e-5, atol=1e-6)
    sampler = gan.fixed_noise_sampler(6, seed=1)
    np.testing.assert_array_equal(sampler(), sampler())
    np.testing.assert_allclose(sampler(), np.asarray(gan.generator(sampler.z)), rtol=1e-6)
    assert image_grid(np.zeros((5, 4, 4, 1)), ncols=3).shape == (9, 14, 1)


def test_config_round_trip():
    gan = WGANALP(mlp(2, 2), mlp(2, 1), latent_dim=2, penalty_kwargs={"epsilon": RelativeEpsilon(0.01, 0.1)},
                  drift=0.001, seed=7)
    config = gan.get_config()
    clone = WGANALP.from_config(config)
    assert clone.get_config()["penalty_kwargs"] == config["penalty_kwargs"]
    assert isinstance(clone.penalty_kwargs["epsilon"], RelativeEpsilon)
    assert (clone.seed, clone.drift, clone.penalty_weight, clone.latent_dim) == (7, 0.001, 100.0, 2)
    assert clone.generator.count_params() == gan.generator.count_params()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"penalty": "alp", "penalty_kwargs": {"clip_probe": True}}, r"`clip_probe=True` needs a `clip` range"),
        ({"penalty": "alp", "penalty_kwargs": {"xi": 0, "d_y": "kl"}}, r"`xi=0`.*Received: xi=0, d_y='kl'"),
        ({"penalty": "gp", "penalty_kwargs": {"K": 1.0, "target": 1.0}}, r"`K` and `target` name the same option"),
        ({"penalty": penalties.get("alp"), "penalty_kwargs": {"xi": 1.0}}, r"`penalty_kwargs` given with a configured"),
        ({"penalty": "alp", "both_reduction": "sum", "regularize": "real"}, r"Received: regularize='real'"),
        ({"penalty": "alp", "both_reduction": "max"}, r"`both_reduction` must be one of"),
        ({"penalty": "unconstrained", "penalty_kwargs": {"alpha": 1.0}}, r"`alpha` must be a finite number > 1"),
    ],
)
def test_option_combinations_are_refused_at_construction(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LipschitzGAN(mlp(2, 2), mlp(2, 1), latent_dim=2, **kwargs)


def test_presets_refuse_bad_combinations_at_construction():
    with pytest.raises(ValueError, match=r"`xi=0`.*d_y='kl'"):
        WGANALP(mlp(2, 2), mlp(2, 1), latent_dim=2, penalty_kwargs={"xi": 0, "d_y": "kl"})
    with pytest.raises(ValueError, match="clip_probe"):
        WGANALP(mlp(2, 2), mlp(2, 1), latent_dim=2, penalty_kwargs={"clip_probe": True})
    with pytest.raises(ValueError, match="configured penalty"):
        WGANALP(mlp(2, 2), mlp(2, 1), latent_dim=2, penalty=penalties.get("alp"), penalty_kwargs={"xi": 1.0})


def _first_step_logs(make):
    keras.utils.set_random_seed(3)
    gan = make()
    gan.compile(run_eagerly=True)  # one small step: eager is quicker than tracing it
    return gan, gan.fit(toy_data(n=32, batch=32), epochs=1, verbose=0).history


def test_a_configured_penalty_trains_exactly_like_its_name_and_options():
    by_name, expected = _first_step_logs(lambda: LipschitzGAN(
        mlp(2, 2), mlp(2, 1), latent_dim=2, n_critic=2, seed=5, penalty="alr", penalty_kwargs=TOY_ALP))
    by_object, logs = _first_step_logs(lambda: LipschitzGAN(
        mlp(2, 2), mlp(2, 1), latent_dim=2, n_critic=2, seed=5, penalty=penalties.get("alp", **TOY_ALP)))
    assert logs == expected and logs["penalty"][0] > 0
    assert (by_object.penalty, by_object.penalty_kwargs, by_object.penalty_weight) == ("alp", TOY_ALP, 100.0)
    assert by_object.get_config()["penalty_kwargs"] == by_name.get_config()["penalty_kwargs"]
    limit = WGANALP(mlp(2, 2), mlp(2, 1), latent_dim=2, penalty=penalties.get("alp", xi=0))
    assert limit.penalty_kwargs == WGANALP(mlp(2, 2), mlp(2, 1), latent_dim=2, penalty_kwargs={"xi": 0}).penalty_kwargs
    assert limit.penalty_kwargs == {**WGANALP.ALP_DEFAULTS, "xi": 0}


def test_the_step_calls_a_penalty_as_its_declaration_says():
    """A penalty is called by what it declares (points, reuse of f(x), how halves combine), not by who it is."""
    seen = []

    @options.validated
    def mean_square(f, x, *, fx=None, seed=None, check_numerics=None, scale: float = 1.0):
        seen.append(fx is not None)
        value = scale * tf.reduce_mean(tf.square(tf.cast(x, tf.float32)))
        return PenaltyResult(value, value, value, tf.zeros(()))

    def real_half(real, fake, *, reduction):
        return real

    x = np.random.default_rng(0).normal(size=(32, 2)).astype("float32")
    for reuses_fx in (False, True):
        seen.clear()
        spec = PenaltySpec("mean-square", mean_square, 1.0, call=PenaltyCall(reuses_fx=reuses_fx, combine=real_half))
        gan = LipschitzGAN(mlp(2, 2), mlp(2, 1), latent_dim=2, n_critic=1, penalty=Penalty(spec, {"scale": 2.0}),
                           data_range=None)
        gan.compile(run_eagerly=True)
        logs = gan.fit(x, batch_size=32, epochs=1, verbose=0, shuffle=False).history
        assert seen == [reuses_fx, reuses_fx]  # the real and the generated half, with f(x) iff declared
        np.testing.assert_allclose(logs["penalty"][0], 2.0 * np.mean(x ** 2), rtol=1e-6)  # the real half alone


def test_nonfinite_logs_finds_nan_and_inf_of_any_scalar_type():
    from tf_lipschitz.models.diagnostics import nonfinite_logs

    logs = {"a": 1.0, "b": np.float32("nan"), "c": tf.constant(np.inf), "d": np.array(-np.inf), "e": "text",
            "f": np.array([np.nan, 1.0]), "g": True}
    assert list(nonfinite_logs(logs)) == ["b", "c", "d"]
    assert nonfinite_logs(None) == {}
