"""Divergences and mutual information from critics: the Donsker–Varadhan bound, its Lipschitz-constrained
version D_λ (the Moreau–Yosida regularized KL), MINE's product of marginals and its bias-corrected gradient,
and the Gaussian closed forms the estimators are tested against.

The Donsker–Varadhan representation of the KL divergence is

    D(µ‖ν) = sup_f E_µ f − log E_ν e^f,

attained at f = log dµ/dν + c. Restricting the supremum to λ-Lipschitz critics gives

    D_λ(µ‖ν) = sup_{‖f‖_L ≤ λ} E_µ f − log E_ν e^f = inf_ξ D(ξ‖ν) + λ·W(µ, ξ),

the Moreau–Yosida regularization of µ ↦ D(µ‖ν) in the Wasserstein metric: D_λ ≤ D, D_λ → D as λ → ∞, and D_λ
is λ-Lipschitz in µ (finite even between distributions with disjoint supports). The constraint is enforced by
the Adversarial Lipschitz Penalty at K = λ, or by building the critic from normalized layers whose bounds
multiply to λ. Mutual information is a KL divergence, I(X; Y) = D(µ_XY ‖ µ_X × µ_Y); MINE estimates it with
the Donsker–Varadhan bound, drawing the product of marginals by pairing x with a y from another sample.

Everything here is a small pure function of tensors (or of a critic and batches); the `fit`-based models are
`tf_lipschitz.models.DivergenceEstimator` and `MutualInformationEstimator`.

Reference:
    Donsker and Varadhan, "Asymptotic evaluation of certain Markov process expectations for large time", 1983.
    Belghazi et al., "Mutual Information Neural Estimation", ICML 2018 (MINE, the moving-average gradient).
    Ozair et al., "Wasserstein Dependency Measure for Representation Learning", NeurIPS 2019 (Lipschitz critic).
    Terjék, "Moreau-Yosida f-divergences", ICML 2021 (D_λ and its dual).
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import tensorflow as tf

from tf_lipschitz.foundations.validation import check_float, check_int
from tf_lipschitz.penalties import PenaltyResult, adversarial_lipschitz_penalty

__all__ = [
    "DonskerVaradhanResult",
    "log_mean_exp",
    "donsker_varadhan",
    "update_log_moving_average",
    "lipschitz_donsker_varadhan",
    "product_of_marginals",
    "gaussian_kl",
    "gaussian_lipschitz_kl",
    "gaussian_mutual_information",
]

Tensor = Any


def _flat_scores(t: Tensor) -> Tensor:
    """Critic outputs (n,) or (n, 1) as a float32 (n,) vector."""
    t = tf.cast(tf.convert_to_tensor(t), tf.float32)
    return tf.reshape(t, (-1,))


def log_mean_exp(t: Tensor) -> Tensor:
    """log((1/n)·Σ eᵗⁱ), computed stably as logsumexp(t) − log n (no overflow for large t).

    Args:
        t: Critic outputs, (n,) or (n, 1).

    Returns:
        A float32 scalar.

    Example:
        >>> round(float(log_mean_exp([1000.0, 1000.0])), 4)  # exp(1000) overflows; this does not
        1000.0
    """
    t = _flat_scores(t)
    return tf.reduce_logsumexp(t) - tf.math.log(tf.cast(tf.size(t), tf.float32))


def donsker_varadhan(f_mu: Tensor, f_nu: Tensor, *, log_moving_average: Tensor | None = None) -> Tensor:
    """The Donsker–Varadhan lower bound of D(µ‖ν) from critic outputs: mean(f_mu) − log mean(exp(f_nu)).

    With `log_moving_average` (log of a moving average of mean(e^f) under ν over past batches) the value is
    unchanged but the gradient of the second term becomes E_ν[e^f ∇f] / moving average instead of
    E_ν[e^f ∇f] / (batch mean of e^f): MINE's correction of the bias the batch denominator gives the gradient.

    Args:
        f_mu: Critic outputs on samples of µ, (n,) or (n, 1).
        f_nu: Critic outputs on samples of ν, (m,) or (m, 1).
        log_moving_average: None, or a float32 scalar (no gradient flows into it).

    Returns:
        A float32 scalar, differentiable with respect to the critic's weights.

    Example:
        >>> round(float(donsker_varadhan([1.0, 3.0], [0.0, 0.0])), 4)  # 2 - log 1
        2.0
    """
    lme = log_mean_exp(f_nu)
    if log_moving_average is not None:
        # exp(lme − a) has the gradient ∇mean(e^f)/e^a; adding it minus its own value keeps the value lme.
        ratio = tf.exp(lme - tf.stop_gradient(tf.cast(log_moving_average, tf.float32)))
        lme = tf.stop_gradient(lme) + ratio - tf.stop_gradient(ratio)
    return tf.reduce_mean(_flat_scores(f_mu)) - lme


def update_log_moving_average(log_average: Tensor, log_value: Tensor, step: Tensor, decay: float) -> Tensor:
    """One step of a bias-corrected exponential moving average, kept in log space.

    With values v₁ … v_t the average is Σ (1−decay)·decay^{t−s}·v_s / (1 − decay^t) (Adam's correction), so the
    first step returns v₁ itself and no initial value is needed. In log space: no overflow for large v.

    Args:
        log_average: log of the average after step − 1 values (ignored when step is 1).
        log_value: log of the new value v_t.
        step: t ≥ 1, the number of values including the new one (int or int tensor).
        decay: In [0, 1).

    Returns:
        log of the average of the t values, float32.

    Example:
        >>> a = update_log_moving_average(0.0, math.log(4.0), 1, 0.5)  # the first value itself
        >>> b = update_log_moving_average(a, math.log(1.0), 2, 0.5)    # (0.5·4·0.5 + 0.5·1) / 0.75
        >>> round(math.exp(float(a)), 4), round(math.exp(float(b)), 4)
        (4.0, 2.0)
    """
    decay = check_float("decay", decay, 0.0, inclusive=True, maximum=1.0)
    if decay == 1.0:
        raise ValueError(f"`decay` must be < 1. Received: decay={decay}")
    t = tf.cast(step, tf.float32)
    # The old average carries weight decay·(1 − decay^{t−1}) / (1 − decay^t), the new value the rest.
    old = decay * (1.0 - decay ** (t - 1.0)) / (1.0 - decay**t)
    kept = tf.where(old > 0.0, tf.math.log(old) + tf.cast(log_average, tf.float32), -math.inf)
    return tf.reduce_logsumexp(tf.stack([kept, tf.math.log(1.0 - old) + tf.cast(log_value, tf.float32)]))


class DonskerVaradhanResult(NamedTuple):
    """The Donsker–Varadhan estimate of one batch and its Lipschitz penalty.

    Attributes:
        estimate: E_µ f − log E_ν e^f on the batch (float32, with gradient).
        log_mean_exp_nu: log E_ν e^f on the batch (no gradient), e.g. for a moving average.
        penalty: The `PenaltyResult` of ALP at K = λ, or None without a constraint.
    """

    estimate: Tensor
    log_mean_exp_nu: Tensor
    penalty: PenaltyResult | None


def lipschitz_donsker_varadhan(
    f: Callable,
    x_mu: Tensor,
    x_nu: Tensor,
    *,
    lam: float | None = None,
    moving_average: Callable[[Tensor], Tensor] | None = None,
    seed: Any = None,
    **penalty_kwargs: Any,
) -> DonskerVaradhanResult:
    """The Donsker–Varadhan bound of a critic on two batches, with ALP at K = λ for the D_λ(µ‖ν) estimate.

    The critic runs once on µ's and ν's samples concatenated; ALP reuses those outputs (`fx`) and perturbs both
    sides. Maximize `estimate − penalty_weight · penalty.penalty`: with a large enough weight the critic stays
    (about) λ-Lipschitz on the data and the maximum approaches D_λ(µ‖ν); without `lam` it approaches D(µ‖ν).
    A soft penalty lets the slope exceed λ a little, so the estimate of D_λ is slightly high for small weights
    (for two unit Gaussians at distance m the optimal slope is (m + 2wλ)/(1 + 2w) with weight w).

    Args:
        f: The critic: a batch (n, ...) → (n, 1) callable, e.g. `lambda t: critic(t, training=True)`.
        x_mu: Samples of µ (n, ...).
        x_nu: Samples of ν (m, ...), same trailing shape.
        lam: λ > 0, the Lipschitz bound of D_λ; None for the unconstrained bound (no penalty).
        moving_average: None, or a callable mapping the batch's log E_ν e^f (no gradient) to the log moving
            average used in the gradient (see `donsker_varadhan`); it may update state.
        seed: Seed of ALP's noise (an int, a `keras.random.SeedGenerator` or None).
        **penalty_kwargs: Options of `adversarial_lipschitz_penalty` (xi, epsilon, power_iterations, d_x,
            reduction, ...); K is λ.

    Returns:
        `DonskerVaradhanResult(estimate, log_mean_exp_nu, penalty)`.

    Raises:
        ValueError: if `lam` is not None and not > 0, or K is passed among the ALP options.

    Example:
        >>> w = tf.constant([[2.0]])  # f(x) = 2x, 2-Lipschitz
        >>> result = lipschitz_donsker_varadhan(lambda x: x @ w, tf.ones((4, 1)), tf.zeros((4, 1)), lam=1.0,
        ...                                     xi=1.0, epsilon=(0.1, 0.5), seed=0)
        >>> round(float(result.estimate), 4), round(float(result.penalty.ratio_max), 4)
        (2.0, 2.0)
    """
    if lam is not None:
        lam = check_float("lam", lam)
    if "K" in penalty_kwargs:
        raise ValueError(f"Pass the Lipschitz bound as `lam`, not K. Received: K={penalty_kwargs['K']!r}")
    x_mu = tf.convert_to_tensor(x_mu)
    x = tf.concat([x_mu, tf.cast(x_nu, x_mu.dtype)], axis=0)
    fx = f(x)
    scores = _flat_scores(fx)
    n = tf.shape(x_mu)[0]
    f_mu, f_nu = scores[:n], scores[n:]
    lme = tf.stop_gradient(log_mean_exp(f_nu))
    log_average = None if moving_average is None else moving_average(lme)
    estimate = donsker_varadhan(f_mu, f_nu, log_moving_average=log_average)
    penalty = None
    if lam is not None:
        penalty = adversarial_lipschitz_penalty(f, x, K=lam, fx=fx, seed=seed, **penalty_kwargs)
    return DonskerVaradhanResult(estimate, lme, penalty)


def product_of_marginals(x: Tensor, y: Tensor, shift: Tensor | int = 1) -> tuple[Tensor, Tensor]:
    """Pairs each x with the y of another sample: (x, y rolled by `shift` along the batch).

    For a batch of independent pairs (xᵢ, yᵢ) ~ µ_XY, (xᵢ, y_{i−s}) with 0 < s < n pairs draws from different
    samples, so they are exact draws of µ_X × µ_Y (a random permutation would leave ≈ one joint pair per batch).
    Draw `shift` at random in [1, n) to vary the pairing between steps.

    Args:
        x: (n, ...) samples of X.
        y: (n, ...) samples of Y, paired with x.
        shift: The roll s, an int or int tensor, not a multiple of n.

    Returns:
        (x, y_rolled).

    Example:
        >>> _, y = product_of_marginals(tf.constant([1, 2, 3]), tf.constant([10, 20, 30]))
        >>> y.numpy().tolist()
        [30, 10, 20]
    """
    return x, tf.roll(y, shift=shift, axis=0)


# ----------------------------------------------------------------------------------------------- closed forms
def gaussian_kl(m: float) -> float:
    """D(N(m, 1) ‖ N(0, 1)) = m²/2.

    Args:
        m: The mean shift.

    Returns:
        A float.

    Example:
        >>> gaussian_kl(2.0)
        2.0
    """
    return 0.5 * float(m) ** 2


def gaussian_lipschitz_kl(m: float, lam: float) -> float:
    """D_λ(N(m, 1) ‖ N(0, 1)): λ|m| − λ²/2 for λ ≤ |m|, else m²/2.

    The optimal critic is linear, f(x) = min(λ, |m|)·sign(m)·x: the DV value of f(x) = s·x is s·m − s²/2,
    increasing up to s = |m| (the log density ratio).

    Args:
        m: The mean shift.
        lam: λ > 0.

    Returns:
        A float.

    Raises:
        ValueError: if lam ≤ 0.

    Example:
        >>> gaussian_lipschitz_kl(2.0, 1.0), gaussian_lipschitz_kl(2.0, 5.0)
        (1.5, 2.0)
    """
    lam = check_float("lam", lam)
    slope = min(lam, abs(float(m)))
    return slope * abs(float(m)) - 0.5 * slope**2


def gaussian_mutual_information(rho: float, d: int = 1) -> float:
    """I(X; Y) = −(d/2)·log(1 − ρ²) for d independent pairs of standard Gaussians with correlation ρ.

    Args:
        rho: The correlation of each pair, in (−1, 1).
        d: The number of pairs (dimensions of X and of Y), ≥ 1.

    Returns:
        A float (nats).

    Raises:
        ValueError: for |ρ| ≥ 1 or d < 1.

    Example:
        >>> round(gaussian_mutual_information(0.5, 2), 4)
        0.2877
    """
    rho = check_float("rho", rho, -1.0, maximum=1.0)
    if abs(rho) >= 1.0:
        raise ValueError(f"`rho` must be in (-1, 1). Received: rho={rho}")
    d = check_int("d", d)
    return -0.5 * d * math.log1p(-rho * rho)
