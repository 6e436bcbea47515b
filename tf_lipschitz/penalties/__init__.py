"""Lipschitz penalties: Adversarial Lipschitz Regularization (ALP), gradient penalties, the explicit quotient
penalty and VAT's local distributional smoothness.

All penalties return a `PenaltyResult(penalty, ratio_mean, ratio_max, violation_fraction)`: the scalar to add
(times λ) to the loss, plus the diagnostics a training loop logs, computed in the same pass. `ratio` is the
per-sample Lipschitz estimate the penalty acts on: d_Y/d_X for ALP and the quotient penalty, ‖∇ₓf‖₂ for the
gradient penalties. Every function works eagerly, in `tf.function`, with `jit_compile=True`, under a mixed
precision policy (ratios are computed in float32) and per replica under a `tf.distribute` strategy.

This is the one package of the library that uses `tf.GradientTape` directly: the penalties differentiate with
respect to inputs, which `keras.ops` does not express.

Layout (imports run downwards only): `noise` (counter-based random numbers and per-step, per-replica seeds) and
`_core` (result type, distances, checks) → `epsilon` (ε samplers) → `options` (one validator per option, the
checks of combinations, and the `validated` decorator of the public functions) → `adversarial` (ALP, the
quotient penalty, VAT) and `gradient` (GP, LP, R1) → `unconstrained` (the unconstrained WGAN's price of ‖f‖_L,
from adversarial ratios) → `specs` (penalties by name: `get`, `available`, and how a loop calls each,
`PenaltyCall`). Everything public is re-exported here. Nothing here imports `tf_lipschitz.models`.

Units: `xi` and `epsilon` are lengths in the units of the data. The paper's ε ~ U[0.1, 10], ξ = 10 suit
32×32×3 images in [-1, 1] (two such images are typically ≈ 40 apart). On 2-D data of unit scale they are far too
large, and the critic over-estimates W1: on two unit Gaussians 3 apart (W1 = 3) we measured +4-10 % at λ = 100
and +80 % at λ = 10 (a factor of 2.7 has been reported), against +1 % and +17 % with ε ~ U[0.01, 0.5], ξ = 1.
`RelativeEpsilon` draws ε as a fraction of the batch's typical pairwise distance instead;
`RelativeEpsilon(0.003, 0.2)` matches both settings.

Reference:
    Terjék, "Adversarial Lipschitz Regularization", ICLR 2020 (Eqs. 8-32; appendix A.2, A.3).
    Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017 (GP).
    Petzka, Fischer and Lukovnikov, "On the regularization of Wasserstein GANs", ICLR 2018 (LP).
    Mescheder, Geiger and Nowozin, "Which Training Methods for GANs do actually Converge?", ICML 2018 (R1).
    Miyato et al., "Virtual Adversarial Training", TPAMI 2018 (VAT).
"""

from tf_lipschitz.penalties._core import VALID_D_X, VALID_D_Y, VALID_REDUCTIONS, PenaltyResult
from tf_lipschitz.penalties.adversarial import (
    adversarial_lipschitz_penalty,
    adversarial_perturbation,
    lipschitz_quotient_penalty,
    virtual_adversarial_loss,
)
from tf_lipschitz.penalties.epsilon import (
    Epsilon,
    EpsilonSampler,
    HalfNormalEpsilon,
    RelativeEpsilon,
    typical_pairwise_distance,
)
from tf_lipschitz.penalties.gradient import gradient_penalty
from tf_lipschitz.penalties.noise import Seed  # type alias of the `seed` arguments
from tf_lipschitz.penalties.specs import Penalty, PenaltyCall, PenaltySpec, available, get, join_halves, resolve
from tf_lipschitz.penalties.unconstrained import unconstrained_wgan_penalty

__all__ = [
    "PenaltyResult",
    "VALID_D_X",
    "VALID_D_Y",
    "VALID_REDUCTIONS",
    "HalfNormalEpsilon",
    "RelativeEpsilon",
    "typical_pairwise_distance",
    "adversarial_perturbation",
    "adversarial_lipschitz_penalty",
    "gradient_penalty",
    "lipschitz_quotient_penalty",
    "virtual_adversarial_loss",
    "unconstrained_wgan_penalty",
    "Penalty",
    "PenaltyCall",
    "PenaltySpec",
    "join_halves",
    "get",
    "resolve",
    "available",
]
