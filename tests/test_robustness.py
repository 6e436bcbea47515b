"""tf_lipschitz.robustness: certified radius and accuracy against closed forms, the metric, errors, soundness."""

import math

import keras
import numpy as np
import pytest

from tf_lipschitz.layers import GroupSort, SpectralNormDense
from tf_lipschitz.robustness import (
    CertifiedAccuracy,
    MulticlassHinge,
    certified_accuracy,
    certified_radius,
    model_lipschitz,
    pgd_l2,
    soundness_check,
)


def _linear(weights, bias=None):
    weights = np.asarray(weights, np.float32)
    model = keras.Sequential([keras.Input((weights.shape[0],)),
                              keras.layers.Dense(weights.shape[1], use_bias=bias is not None, name="linear")])
    model.layers[0].kernel.assign(weights)
    if bias is not None:
        model.layers[0].bias.assign(np.asarray(bias, np.float32))
    return model


def test_binary_linear_radius_is_the_distance_to_the_decision_boundary():
    rng = np.random.default_rng(0)
    w, b = rng.normal(size=(5, 1)), rng.normal(size=1)
    x = rng.normal(size=(40, 5)).astype(np.float32)
    radius = certified_radius(_linear(w, b), x)
    distance = np.abs(x.astype(np.float64) @ w[:, 0] + b[0]) / np.linalg.norm(w)  # |w·x + b| / ‖w‖
    np.testing.assert_allclose(radius, distance, rtol=1e-5)
    # The certificate is tight for a linear classifier: one step past it along the normal flips the prediction.
    sign = np.sign(x @ w[:, 0] + b[0])
    beyond = x - (sign * (radius * 1.001 + 1e-4))[:, None] * (w[:, 0] / np.linalg.norm(w))[None, :]
    assert np.all(np.sign(beyond @ w[:, 0] + b[0]) == -sign)


def test_multiclass_radius_uses_the_top_singular_value():
    rng = np.random.default_rng(1)
    w, b = rng.normal(size=(6, 4)), rng.normal(size=4)
    x = rng.normal(size=(50, 6)).astype(np.float32)
    model = _linear(w, b)
    sigma = np.linalg.svd(w, compute_uv=False)[0]
    assert model_lipschitz(model) == pytest.approx(sigma, rel=1e-6)
    logits = x.astype(np.float64) @ w + b
    top2 = np.sort(logits, axis=1)[:, -2:]
    expected = (top2[:, 1] - top2[:, 0]) / (math.sqrt(2) * sigma)
    np.testing.assert_allclose(certified_radius(model, x), expected, rtol=1e-4, atol=1e-6)
    # A given constant replaces the model's bound.
    np.testing.assert_allclose(certified_radius(model, x, lipschitz=2 * sigma), expected / 2, rtol=1e-4, atol=1e-6)


def test_pairwise_radius_of_a_linear_classifier_is_the_exact_distance_to_its_decision_boundary():
    rng = np.random.default_rng(2)
    w, b = rng.normal(size=(3, 4)), rng.normal(size=4)
    x = rng.normal(size=(30, 3)).astype(np.float32)
    model = _linear(w, b)
    logits = x.astype(np.float64) @ w + b
    c = np.argmax(logits, axis=1)
    # The nearest point of another class is on the nearest hyperplane f_c = f_j: (f_c − f_j)/‖w_c − w_j‖.
    exact = np.array([min((logits[i, c[i]] - logits[i, j]) / np.linalg.norm(w[:, c[i]] - w[:, j])
                          for j in range(4) if j != c[i]) for i in range(len(x))])
    pairwise = certified_radius(model, x, bound="pairwise")
    np.testing.assert_allclose(pairwise, exact, rtol=1e-4, atol=1e-6)
    assert np.all(pairwise >= certified_radius(model, x) * (1 - 1e-6))


def test_pairwise_radius_multiplies_the_last_kernel_by_the_prefix_bound():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(6, activation="relu", name="hidden")(inputs)
    outputs = SpectralNormDense(3, name="logits")(hidden)
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(3).normal(size=(20, 4)).astype(np.float32)
    kernel = np.asarray(model.get_layer("logits").normalized_kernel(), np.float64)
    prefix = np.linalg.svd(np.asarray(model.get_layer("hidden").kernel), compute_uv=False)[0]
    logits = np.asarray(model(x), np.float64)
    c = np.argmax(logits, axis=1)
    expected = np.array([min((logits[i, c[i]] - logits[i, j]) / (np.linalg.norm(kernel[:, c[i]] - kernel[:, j]) * prefix)
                             for j in range(3) if j != c[i]) for i in range(len(x))])
    np.testing.assert_allclose(certified_radius(model, x, bound="pairwise"), expected, rtol=1e-4, atol=1e-6)


def test_certified_accuracy_matches_a_numpy_rederivation_for_each_epsilon():
    rng = np.random.default_rng(4)
    w, b = rng.normal(size=(5, 3)), rng.normal(size=3)
    x = rng.normal(size=(200, 5)).astype(np.float32)
    y = rng.integers(0, 3, size=200)
    model = _linear(w, b)
    logits = x.astype(np.float64) @ w + b
    top2 = np.sort(logits, axis=1)[:, -2:]
    radius = (top2[:, 1] - top2[:, 0]) / (math.sqrt(2) * np.linalg.svd(w, compute_uv=False)[0])
    epsilons = [0.0, 0.05, 0.2, 0.5]
    expected = [np.mean((np.argmax(logits, axis=1) == y) & (radius > e)) for e in epsilons]
    values = certified_accuracy(model, x, y, epsilons)
    np.testing.assert_allclose(values, expected, atol=1e-12)
    assert certified_accuracy(model, x, y, 0.2) == pytest.approx(expected[2])
    assert certified_accuracy(model, x, np.eye(3)[y], epsilons) == values  # one-hot labels
    assert values[0] > values[-1] > 0.0  # the test is not vacuous


def test_binary_certified_accuracy_accepts_both_label_conventions():
    model = _linear([[1.0], [0.0]])
    x = np.array([[0.5, 0.0], [2.0, 1.0], [-1.0, 0.0], [-3.0, 0.0]], np.float32)
    assert certified_accuracy(model, x, [1, 1, 0, 1], [0.0, 1.0]) == [0.75, 0.25]
    assert certified_accuracy(model, x, [1, 1, -1, 1], [0.0, 1.0]) == [0.75, 0.25]


def test_metric_in_compile_and_evaluate_equals_certified_accuracy():
    rng = np.random.default_rng(5)
    w, b = rng.normal(size=(5, 3)), rng.normal(size=3)
    x = rng.normal(size=(96, 5)).astype(np.float32)
    y = rng.integers(0, 3, size=96)
    model = _linear(w, b)
    model.compile(loss=MulticlassHinge(), metrics=[CertifiedAccuracy(0.1, model=model), CertifiedAccuracy(0.3, model=model)])
    logs = model.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
    expected = certified_accuracy(model, x, y, [0.1, 0.3])
    assert logs["certified_accuracy_0.1"] == pytest.approx(expected[0], abs=1e-6)
    assert logs["certified_accuracy_0.3"] == pytest.approx(expected[1], abs=1e-6)
    # The bound is re-read at each evaluation: doubling the weights halves nothing in accuracy but keeps radii.
    model.layers[0].kernel.assign(2 * w.astype(np.float32))
    model.layers[0].bias.assign(2 * b.astype(np.float32))
    again = model.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
    assert again["certified_accuracy_0.3"] == pytest.approx(expected[1], abs=1e-6)


def test_metric_with_a_fixed_constant_round_trips_and_fits():
    metric = CertifiedAccuracy(0.5, lipschitz=2.0)
    clone = CertifiedAccuracy.from_config(metric.get_config())
    assert (clone.epsilon, clone.fixed_lipschitz, clone.name) == (0.5, 2.0, "certified_accuracy_0.5")
    model = _linear(np.eye(2))
    model.compile(optimizer="sgd", loss=MulticlassHinge(), metrics=[clone])
    history = model.fit(np.eye(2, dtype=np.float32) * 3, np.array([0, 1]), epochs=1, verbose=0)
    assert history.history["certified_accuracy_0.5"][0] == pytest.approx(1.0)  # radius 3/(2√2) > 0.5 before the step


def test_metric_without_a_bound_names_what_to_pass():
    model = _linear(np.eye(2))
    model.compile(loss="mse", metrics=[CertifiedAccuracy(0.1)])
    with pytest.raises(ValueError, match=r"CertifiedAccuracy\(0.1, model=model\)"):
        model.evaluate(np.eye(2, dtype=np.float32), np.array([0, 1]), verbose=0)
    with pytest.raises(ValueError, match="`epsilon` must be"):
        CertifiedAccuracy(-0.1)
    with pytest.raises(ValueError, match="not both"):
        CertifiedAccuracy(0.1, model=model, lipschitz=1.0)


def test_errors_name_the_problem():
    model = _linear(np.eye(3))
    x = np.ones((4, 3), np.float32)
    bad = x.copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"NaN or Inf values in 1 of 4 samples \(first at index 2\)"):
        certified_radius(model, bad)
    with pytest.raises(ValueError, match=r"Labels must be in \[0, 3\).*received 3"):
        certified_accuracy(model, x, [0, 1, 2, 3], 0.1)
    with pytest.raises(ValueError, match=r"`y` must hold one label per sample \(4\)"):
        certified_accuracy(model, x, [0, 1], 0.1)
    with pytest.raises(ValueError, match=r"`epsilon` must be a finite number >= 0.0. Received: epsilon=-0.5"):
        certified_accuracy(model, x, [0, 1, 2, 0], [0.1, -0.5])
    with pytest.raises(ValueError, match=r"\{0, 1\} or \{-1, 1\}"):
        certified_accuracy(_linear([[1.0], [0.0], [0.0]]), x, [0, 2, 1, 0], 0.1)
    with pytest.raises(ValueError, match="`lipschitz` must be"):
        certified_radius(model, x, lipschitz=0.0)
    with pytest.raises(ValueError, match="bound='pairwise'.*`lipschitz` must be None"):
        certified_radius(model, x, lipschitz=1.0, bound="pairwise")
    with pytest.raises(ValueError, match="`bound` must be one of"):
        certified_radius(model, x, bound="tight")


def test_a_model_without_a_proven_bound_is_refused_naming_the_layer():
    inputs = keras.Input((3,))
    hidden = keras.layers.Lambda(lambda t: t * t, name="square")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2)(hidden))
    with pytest.raises(ValueError, match=r"proven Lipschitz bound.*'square'.*Lambda"):
        certified_radius(model, np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match="'square'"):
        certified_accuracy(model, np.ones((2, 3), np.float32), [0, 1], 0.1)
    model.compile(loss="mse", metrics=[CertifiedAccuracy(0.1, model=model)])
    with pytest.raises(ValueError, match="'square'"):
        model.evaluate(np.ones((2, 3), np.float32), np.array([0, 1]), verbose=0)


def test_pgd_finds_the_linear_boundary_just_beyond_the_distance_and_not_before():
    rng = np.random.default_rng(6)
    w, b = rng.normal(size=(4, 1)), rng.normal(size=1)
    model = _linear(w, b)
    x = rng.normal(size=(32, 4)).astype(np.float32)
    distance = np.abs(x.astype(np.float64) @ w[:, 0] + b[0]) / np.linalg.norm(w)
    _, inside = pgd_l2(model, x, distance * 0.99, steps=50, restarts=2)
    x_adv, beyond = pgd_l2(model, x, distance * 1.02 + 1e-4, steps=50, restarts=2)
    assert not inside.any() and beyond.all()
    moved = np.linalg.norm((x_adv - x).reshape(len(x), -1), axis=1)
    assert np.all(moved <= (distance * 1.02 + 1e-4) * (1 + 1e-5))


def test_soundness_of_a_trained_lipschitz_classifier():
    """0 violations within the certified radius, while the same attack flips predictions at 3× the radius."""
    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(7)
    centers = rng.normal(size=(3, 8)) * 1.5
    y = rng.integers(0, 3, size=600)
    x = (centers[y] + rng.normal(size=(600, 8))).astype(np.float32)
    model = keras.Sequential([keras.Input((8,)), SpectralNormDense(32), GroupSort(2), SpectralNormDense(32),
                              GroupSort(2), SpectralNormDense(3)])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=MulticlassHinge(margin=1.0))
    model.fit(x[:400], y[:400], batch_size=50, epochs=8, verbose=0)
    assert model_lipschitz(model) <= 1.2  # one power-iteration step per update: ≈ 1, the certificate uses the exact value
    report = soundness_check(model, x[400:], multiple=3.0, steps=50, restarts=3)
    assert report.certified >= 150, report
    assert report.violations == 0
    assert report.flipped_above >= 0.5 * report.certified
    assert certified_accuracy(model, x[400:], y[400:], 0.0) > 0.8  # a real classifier, not a constant one


@pytest.mark.parametrize("pool, strides, expected", [(2, 2, 1.0), (3, 1, math.sqrt(3)), (3, 2, math.sqrt(2))])
def test_max_pooling_bound_counts_the_windows_a_pixel_can_win(pool, strides, expected):
    """√(windows per pixel): 1 for non-overlapping windows, and attained by a spike when windows overlap."""
    model = keras.Sequential([keras.Input((9, 1)), keras.layers.MaxPooling1D(pool, strides)])
    assert model_lipschitz(model) == pytest.approx(expected)
    spike = np.zeros((1, 9, 1), np.float32)
    spike[0, 4] = 1.0  # pixel 4 lies in ⌈pool/strides⌉ windows when they overlap around it
    gain = np.linalg.norm(np.asarray(model(spike)) - np.asarray(model(np.zeros_like(spike))))
    assert gain == pytest.approx(expected)
