"""Losses of tf_lipschitz.robustness.losses against closed forms computed with NumPy, and their serialization."""

import keras
import numpy as np
import pytest

from tf_lipschitz.robustness import losses as L

RNG = np.random.default_rng(0)
LOGITS = RNG.normal(size=(12, 4)).astype(np.float32) * 2
LABELS = np.array([0, 1, 2, 3, 0, 1, 2, 3, 0, 0, 1, 2])
BINARY = RNG.normal(size=(10, 1)).astype(np.float32) * 2
BINARY_LABELS = np.array([1, 0, 1, 1, 0, 0, 1, 0, 1, 1])


def _kr_numpy(onehot, f):
    """−(mean of f_k over class k − mean of f_k over the rest), averaged over columns k."""
    values = [f[onehot[:, k] == 1, k].mean() - f[onehot[:, k] == 0, k].mean() for k in range(f.shape[1])]
    return -float(np.mean(values))


def _value(loss, y, f):
    return float(loss(y, f))


def test_kantorovich_rubinstein_is_the_negated_difference_of_class_means():
    onehot = np.eye(4)[LABELS]
    assert _value(L.KantorovichRubinstein(), LABELS, LOGITS) == pytest.approx(_kr_numpy(onehot, LOGITS), rel=1e-5)
    assert _value(L.KantorovichRubinstein(), onehot, LOGITS) == pytest.approx(_kr_numpy(onehot, LOGITS), rel=1e-5)
    binary = BINARY_LABELS[:, None]
    expected = -(BINARY[binary[:, 0] == 1, 0].mean() - BINARY[binary[:, 0] == 0, 0].mean())
    assert _value(L.KantorovichRubinstein(), BINARY_LABELS, BINARY) == pytest.approx(expected, rel=1e-5)
    assert _value(L.KantorovichRubinstein(), 2 * BINARY_LABELS - 1, BINARY) == pytest.approx(expected, rel=1e-5)


def test_hinge_and_hinge_kr():
    sign = 2.0 * BINARY_LABELS - 1
    hinge = np.maximum(0.0, 0.7 - sign * BINARY[:, 0]).mean()
    assert _value(L.HingeMargin(margin=0.7), BINARY_LABELS, BINARY) == pytest.approx(hinge, rel=1e-5)
    kr = -(BINARY[BINARY_LABELS == 1, 0].mean() - BINARY[BINARY_LABELS == 0, 0].mean())
    assert _value(L.HingeKR(alpha=5.0, margin=0.7), sign, BINARY) == pytest.approx(kr + 5.0 * hinge, rel=1e-5)


def test_multiclass_hinge_is_a_margin_on_every_logit_difference():
    f = LOGITS.astype(np.float64)
    own = f[np.arange(len(f)), LABELS][:, None]
    terms = np.maximum(0.0, 0.5 - (own - f))
    terms[np.arange(len(f)), LABELS] = 0.0
    expected = (terms.sum(axis=1) / 3).mean()
    assert _value(L.MulticlassHinge(margin=0.5), LABELS, LOGITS) == pytest.approx(expected, rel=1e-5)
    assert _value(L.MulticlassHinge(margin=0.5), np.eye(4)[LABELS], LOGITS) == pytest.approx(expected, rel=1e-5)
    kr = _kr_numpy(np.eye(4)[LABELS], f)
    assert _value(L.MulticlassHingeKR(alpha=3.0, margin=0.5), LABELS, LOGITS) == pytest.approx(kr + 3 * expected, rel=1e-5)


@pytest.mark.parametrize("tau", [0.5, 3.0, 100.0])
def test_tau_cross_entropy_is_the_cross_entropy_of_scaled_logits_over_tau(tau):
    z = tau * LOGITS.astype(np.float64)
    log_probs = z - z.max(axis=1, keepdims=True)
    log_probs -= np.log(np.exp(log_probs).sum(axis=1, keepdims=True))
    expected = -log_probs[np.arange(len(z)), LABELS].mean() / tau
    assert _value(L.TauCategoricalCrossentropy(tau=tau), LABELS, LOGITS) == pytest.approx(expected, rel=1e-4)
    assert _value(L.TauCategoricalCrossentropy(tau=tau), np.eye(4)[LABELS], LOGITS) == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("loss", [L.KantorovichRubinstein(), L.HingeMargin(margin=0.3), L.HingeKR(alpha=2.0, margin=0.3),
                                  L.MulticlassHinge(margin=0.3), L.MulticlassHingeKR(alpha=2.0, margin=0.3),
                                  L.TauCategoricalCrossentropy(tau=7.0)])
def test_config_round_trip(loss):
    clone = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(clone) is type(loss) and clone.get_config() == loss.get_config()
    binary = isinstance(loss, (L.HingeMargin, L.HingeKR, L.KantorovichRubinstein))
    y, f = (BINARY_LABELS, BINARY) if binary else (LABELS, LOGITS)
    assert float(clone(y, f)) == pytest.approx(float(loss(y, f)))


def test_invalid_hyper_parameters_are_named():
    with pytest.raises(ValueError, match="`margin` must be a finite number > 0.0. Received: margin=0"):
        L.MulticlassHinge(margin=0)
    with pytest.raises(ValueError, match="`alpha` must be"):
        L.HingeKR(alpha=-1.0)
    with pytest.raises(ValueError, match="`tau` must be"):
        L.TauCategoricalCrossentropy(tau=0.0)
    with pytest.raises(ValueError, match="C ≥ 2"):
        L.MulticlassHinge()(BINARY_LABELS, BINARY)


def test_losses_train_a_model_in_fit():
    x = RNG.normal(size=(64, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=L.MulticlassHingeKR(alpha=10.0, margin=0.5))
    history = model.fit(x, y, epochs=5, batch_size=16, verbose=0).history["loss"]
    assert history[-1] < history[0]
