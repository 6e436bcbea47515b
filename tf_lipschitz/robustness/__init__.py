"""Certified robustness of Lipschitz classifiers: radii, certified accuracy, a Keras metric, margin losses, PGD.

* `certified_radius`, `certified_accuracy` (`certificates`): the L2 radius within which a prediction provably does
  not change, from the model's proven Lipschitz bound;
* `CertifiedAccuracy` (`metrics`): the same as a metric for `compile(metrics=...)`;
* the losses of Lipschitz classifiers (`losses`): Kantorovich–Rubinstein, hinge, hinge-KR, multiclass hinge,
  multiclass hinge-KR, τ-scaled cross-entropy;
* `pgd_l2`, `soundness_check` (`attacks`): an L2 PGD attack that checks certificates from the other side.

Example:
    >>> import keras, numpy as np
    >>> from tf_lipschitz import robustness
    >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, use_bias=False)])
    >>> _ = m.layers[0].kernel.assign(np.eye(2, dtype="float32"))        # f(x) = x, L = 1
    >>> robustness.certified_radius(m, np.array([[3.0, 1.0]], "float32")).round(4)   # (3 − 1)/√2
    array([1.4142])
"""

from tf_lipschitz.robustness.attacks import SoundnessReport, pgd_l2, soundness_check
from tf_lipschitz.robustness.certificates import (
    certified_accuracy,
    certified_radius,
    model_lipschitz,
    pairwise_radius_from_logits,
    radius_from_logits,
)
from tf_lipschitz.robustness.losses import (
    HingeKR,
    HingeMargin,
    KantorovichRubinstein,
    MulticlassHinge,
    MulticlassHingeKR,
    TauCategoricalCrossentropy,
)
from tf_lipschitz.robustness.metrics import CertifiedAccuracy

__all__ = [
    "certified_radius",
    "certified_accuracy",
    "model_lipschitz",
    "radius_from_logits",
    "pairwise_radius_from_logits",
    "CertifiedAccuracy",
    "KantorovichRubinstein",
    "HingeMargin",
    "HingeKR",
    "MulticlassHinge",
    "MulticlassHingeKR",
    "TauCategoricalCrossentropy",
    "pgd_l2",
    "soundness_check",
    "SoundnessReport",
]
