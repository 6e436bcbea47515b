"""Losses of Table 1 with domain scaling: values and derivatives against a NumPy re-derivation."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from tf_lipschitz import losses

# Table 1, written naively in float64, in the library's convention (the critic scores real high:
# WGAN and EXP-GAN use f ↦ −f). Each entry: (real term, fake term, generator term) as L(t).
_log_sigmoid = lambda t: -np.logaddexp(0.0, -t)  # noqa: E731
NAIVE = {
    "ns-gan": (lambda t: -_log_sigmoid(t), lambda t: -_log_sigmoid(-t), lambda t: -_log_sigmoid(t)),
    "ls-gan": (lambda t: (t - 1) ** 2, lambda t: t**2, lambda t: (t - 1) ** 2),
    "ls-gan#": (lambda t: (t - 1) ** 2, lambda t: (t + 1) ** 2, lambda t: (t - 1) ** 2),
    "wgan": (lambda t: -t, lambda t: t, lambda t: -t),
    "cos-gan": (lambda t: -np.cos(t - 1), lambda t: -np.cos(t + 1), lambda t: -np.cos(t - 1)),
    "exp-gan": (lambda t: np.exp(-t), lambda t: np.exp(t), lambda t: np.exp(-t)),
}
_sigmoid = lambda t: 1.0 / (1.0 + np.exp(-t))  # noqa: E731
NAIVE_DERIVATIVE = {
    "ns-gan": (lambda t: _sigmoid(t) - 1, lambda t: _sigmoid(t), lambda t: _sigmoid(t) - 1),
    "ls-gan": (lambda t: 2 * (t - 1), lambda t: 2 * t, lambda t: 2 * (t - 1)),
    "ls-gan#": (lambda t: 2 * (t - 1), lambda t: 2 * (t + 1), lambda t: 2 * (t - 1)),
    "wgan": (lambda t: -np.ones_like(t), lambda t: np.ones_like(t), lambda t: -np.ones_like(t)),
    "cos-gan": (lambda t: np.sin(t - 1), lambda t: np.sin(t + 1), lambda t: np.sin(t - 1)),
    "exp-gan": (lambda t: -np.exp(-t), lambda t: np.exp(t), lambda t: -np.exp(-t)),
}
TERMS = ("real", "fake", "generator")
ALPHAS = (1.0, 0.3, 1e-3, 1e-9, 1e-25)
OMEGA = np.concatenate([np.linspace(-5.0, 5.0, 41), [-1e-3, 1e-7, 0.0, 37.0, -37.0]])


def _reference(naive, omega, alpha):
    """(L(αω) − L(0))/α in float64; where that cancels (|αω| < 1e-6), L'(0)ω + ½L''(0)αω² by finite differences."""
    t = alpha * omega
    direct = (naive(t) - naive(0.0)) / alpha
    h = 1e-4
    d1 = (naive(h) - naive(-h)) / (2 * h)
    d2 = (naive(h) - 2 * naive(0.0) + naive(-h)) / h**2
    taylor = d1 * omega + 0.5 * d2 * alpha * omega**2
    return np.where(np.abs(t) < 1e-6, taylor, direct)


def _value_and_grad(term, omega, dtype="float32"):
    x = tf.constant(omega, dtype=dtype)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = term(x)
    return y.numpy().astype(np.float64), tape.gradient(y, x).numpy().astype(np.float64)


def test_naive_derivatives_match_finite_differences():
    t = np.linspace(-3.0, 3.0, 13)
    for name in NAIVE:
        for naive, deriv in zip(NAIVE[name], NAIVE_DERIVATIVE[name]):
            fd = (naive(t + 1e-6) - naive(t - 1e-6)) / 2e-6
            np.testing.assert_allclose(deriv(t), fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", sorted(NAIVE))
@pytest.mark.parametrize("alpha", ALPHAS)
def test_term_values_and_gradients_match_numpy(name, alpha):
    loss = losses.get(name, alpha)
    omega = OMEGA if name != "exp-gan" or alpha < 1 else OMEGA[np.abs(OMEGA) < 20]
    for which, naive, deriv in zip(TERMS, NAIVE[name], NAIVE_DERIVATIVE[name]):
        term = getattr(loss, which)
        value, grad = _value_and_grad(term, omega)
        expected = _reference(naive, omega, alpha)
        scale = np.maximum(np.abs(expected), 1.0)
        np.testing.assert_allclose(value / scale, expected / scale, rtol=0, atol=3e-6, err_msg=f"{name}.{which}")
        np.testing.assert_allclose(grad, deriv(alpha * omega), rtol=1e-5, atol=1e-6, err_msg=f"{name}.{which}'")
        np.testing.assert_allclose(
            np.asarray(term.derivative(tf.constant(omega, tf.float32))), deriv(alpha * omega), rtol=1e-5, atol=1e-6
        )


@pytest.mark.parametrize("name", sorted(NAIVE))
def test_float64_inputs_are_computed_in_float64(name):
    loss = losses.get(name, 1e-2)
    omega = np.linspace(-4.0, 4.0, 17)
    value, grad = _value_and_grad(loss.real, omega, dtype="float64")
    np.testing.assert_allclose(value, _reference(NAIVE[name][0], omega, 1e-2), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(grad, NAIVE_DERIVATIVE[name][0](1e-2 * omega), rtol=1e-12, atol=1e-13)


@settings(max_examples=30, deadline=None)
@given(
    name=st.sampled_from(sorted(NAIVE)),
    log_alpha=st.floats(-25.0, 0.0),
    omega=st.floats(-8.0, 8.0, allow_subnormal=False),
)
def test_terms_match_numpy_property(name, log_alpha, omega):
    alpha = 10.0**log_alpha
    loss = losses.get(name, alpha)
    for which, naive, deriv in zip(TERMS, NAIVE[name], NAIVE_DERIVATIVE[name]):
        value, grad = _value_and_grad(getattr(loss, which), np.array([omega]))
        expected = _reference(naive, np.array([omega]), alpha)
        assert abs(value[0] - expected[0]) <= 3e-6 * max(1.0, abs(expected[0]))
        assert abs(grad[0] - deriv(np.array([alpha * omega]))[0]) <= 1e-5 * max(1.0, abs(grad[0]))


@pytest.mark.parametrize("name", sorted(NAIVE))
def test_tiny_alpha_is_the_linear_wgan_like_loss(name):
    """Eq. 13: L_α(ω) → L'(0)·ω and dL_α/dω → L'(0) as α → 0, with exact gradients at α = 1e-25."""
    omega = np.linspace(-10.0, 10.0, 21)
    gaps = []
    for which, deriv in zip(TERMS, NAIVE_DERIVATIVE[name]):
        slope = deriv(np.zeros(1))[0]
        for alpha in (1e-1, 1e-2, 1e-4, 1e-25):
            value, grad = _value_and_grad(getattr(losses.get(name, alpha), which), omega)
            gap = np.max(np.abs(value - slope * omega))
            if which == "real":
                gaps.append(gap)
        np.testing.assert_allclose(value, slope * omega, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(grad, np.full_like(omega, slope), rtol=1e-6, atol=1e-7)
    assert all(b <= a for a, b in zip(gaps, gaps[1:])), gaps


def test_tiny_alpha_stays_finite_for_huge_outputs_and_below_float32_range():
    omega = tf.constant([-1e30, -1e6, -1e-30, 0.0, 1e-30, 1e6, 1e30])
    for name in losses.available():
        for alpha in (1e-25, 1e-45):  # 1e-45 underflows float32: the Taylor branch takes over
            for which in TERMS:
                value, grad = _value_and_grad(getattr(losses.get(name, alpha), which), omega.numpy())
                if name != "exp-gan" or alpha < 1e-30:  # exp(±αω) with αω = ±1e5 genuinely overflows
                    assert np.all(np.isfinite(grad)), (name, alpha, which, grad)
                assert not np.any(np.isnan(value)), (name, alpha, which, value)


def test_ns_gan_saturated_outputs_have_finite_values_and_gradients():
    value, grad = _value_and_grad(losses.get("ns-gan").real, np.array([-1e4, -100.0, 100.0, 1e4]))
    np.testing.assert_allclose(value, [1e4 - math.log(2), 100 - math.log(2), -math.log(2), -math.log(2)], rtol=1e-6)
    np.testing.assert_allclose(grad, [-1.0, -1.0, 0.0, 0.0], atol=1e-30)


def test_losses_compose_from_terms_and_sign_convention():
    real = tf.constant([[2.0], [4.0], [0.5]])
    fake = tf.constant([[1.0], [-1.0], [-3.0]])
    wgan = losses.get("wgan")
    # The critic scores real samples high: it minimizes E f(fake) − E f(real).
    assert float(wgan.discriminator_loss(real, fake)) == pytest.approx(-1.0 - 6.5 / 3)
    assert float(wgan.generator_loss(fake)) == pytest.approx(1.0)
    assert float(losses.wasserstein_estimate(real, fake)) == pytest.approx(6.5 / 3 + 1.0)
    for name in losses.available():
        loss = losses.get(name, 0.5)
        expected = np.mean(loss.real(real)) + np.mean(loss.fake(fake))
        assert float(loss.discriminator_loss(real, fake)) == pytest.approx(expected, rel=1e-6)
        assert float(loss.generator_loss(fake)) == pytest.approx(np.mean(loss.generator(fake)), rel=1e-6)


@pytest.mark.parametrize(
    "prefix, name",
    [("ns_gan", "ns-gan"), ("ls_gan", "ls-gan"), ("ls_gan_zero_centered", "ls-gan#"), ("wgan", "wgan"),
     ("cos_gan", "cos-gan"), ("exp_gan", "exp-gan")],
)
def test_functional_api_matches_loss_objects(prefix, name):
    real, fake = tf.random.normal((8, 1)), tf.random.normal((8, 1))
    disc = getattr(losses, f"{prefix}_discriminator_loss")
    gen = getattr(losses, f"{prefix}_generator_loss")
    loss = losses.get(name, 1e-2, include_constant=True)
    assert float(disc(real, fake, alpha=1e-2, include_constant=True)) == pytest.approx(
        float(loss.discriminator_loss(real, fake)), rel=1e-6)
    assert float(gen(fake, alpha=1e-2, include_constant=True)) == pytest.approx(float(loss.generator_loss(fake)), rel=1e-6)
    assert disc.__name__ in losses.__all__ and gen.__name__ in losses.__all__
    assert "Args:" in disc.__doc__ and "Returns:" in gen.__doc__


def test_include_constant_reproduces_textbook_values():
    real, fake = tf.constant([0.3, -1.2, 2.0]), tf.constant([-0.4, 0.9, 1.5])
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    textbook = float(bce(tf.ones(3), real)) + float(bce(tf.zeros(3), fake))
    ns = losses.get("ns-gan", include_constant=True)
    assert float(ns.discriminator_loss(real, fake)) == pytest.approx(textbook, rel=1e-5)
    centered = float(losses.get("ns-gan").discriminator_loss(real, fake))
    assert centered == pytest.approx(textbook - 2 * math.log(2.0), rel=1e-5)
    ls = losses.get("ls-gan", include_constant=True)
    assert float(ls.generator_loss(fake)) == pytest.approx(np.mean((fake.numpy() - 1) ** 2), rel=1e-6)


def test_jit_compiled_matches_eager():
    loss = losses.get("ns-gan", 1e-25)
    real, fake = tf.random.normal((16,)), tf.random.normal((16,))
    jitted = tf.function(loss.discriminator_loss, jit_compile=True)
    assert float(jitted(real, fake)) == pytest.approx(float(loss.discriminator_loss(real, fake)), rel=1e-6)


def test_names_and_aliases():
    assert losses.available() == ("ns-gan", "ls-gan", "ls-gan#", "wgan", "cos-gan", "exp-gan")
    for alias, name in [("NS", "ns-gan"), ("ns_gan", "ns-gan"), ("LSGAN", "ls-gan"), ("ls#", "ls-gan#"),
                        ("LS-GAN#", "ls-gan#"), ("wgan", "wgan"), ("cos", "cos-gan"), ("EXP_GAN", "exp-gan")]:
        assert losses.get(alias).name == name
    loss = losses.get("wgan", 0.5)
    assert losses.get(loss) is loss
    assert loss.get_config() == {"name": "wgan", "alpha": 0.5, "include_constant": False}


@pytest.mark.parametrize("alpha", [0.0, -1.0, float("nan"), float("inf"), "x"])
def test_bad_alpha_raises(alpha):
    with pytest.raises(ValueError, match="alpha"):
        losses.get("wgan", alpha)


def test_unknown_name_raises():
    with pytest.raises(ValueError, match="Unknown GAN loss.*hinge"):
        losses.get("hinge")
    with pytest.raises(ValueError, match="loss"):
        losses.get(3)


def test_get_applies_alpha_and_include_constant_to_a_loss_object():
    loss = losses.GANLoss("ns-gan", 0.5)
    assert losses.get(loss) is loss
    scaled = losses.get(loss, alpha=1e-3)
    assert (scaled.name, scaled.alpha, scaled.include_constant) == ("ns-gan", 1e-3, False)
    omega = np.array([2.0, -1.0], "float32")
    # L_α(ω) = (L(αω) − L(0))/α with L(t) = softplus(−t) for the real term.
    expected = (np.logaddexp(0.0, -1e-3 * omega.astype("float64")) - np.log(2.0)) / 1e-3
    np.testing.assert_allclose(scaled.real(omega), expected, rtol=1e-5)
    with_constant = losses.get(loss, include_constant=True)
    assert (with_constant.alpha, with_constant.include_constant) == (0.5, True)
