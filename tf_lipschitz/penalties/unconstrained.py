"""The unconstrained Wasserstein GAN objective: no Lipschitz constraint, a penalty on ‖f‖_L instead.

For α > 1,

    W(µ, ν)^α = sup_f  E_µ f − E_ν f − (α − 1)·α^{α/(1−α)}·‖f‖_L^{α/(α−1)},

the supremum over all Lipschitz f (attained by α·W^{α−1} times a Kantorovich potential, so the optimal critic
has ‖f‖_L = α·W^{α−1}). The critic needs ∇θ‖f‖_L, and ‖f‖_L is estimated as in ALR: the adversarial ratio
|f(x) − f(x + r_adv)| / ‖r_adv‖ at each sample, with r_adv from ALP's power iteration, is a differentiable
per-sample lower estimate of the Lipschitz constant; a statistic of the ratios over the batch estimates ‖f‖_L.

Which statistic: `"max"` (the default). ‖f‖_L is a supremum, and the batch maximum of the adversarial ratios
is its plug-in estimate on the region the batch covers; its gradient is a subgradient of that supremum (it
lowers the steepest point, which is what the penalty should do). The mean is a smooth alternative, but it
under-estimates ‖f‖_L wherever the slope varies over the data, so a critic can buy a large E_µ f − E_ν f with
a few steep regions at a small price. It does: on N((3, 0), I) vs N(0, I) (W = 3, α = 2) a critic trained
with the mean (300 Adam steps) ended with a true Lipschitz constant of ≈ 118 and E_µ f − E_ν f ≈ 80, far from
the optimum (6 and 18, objective W² = 9), while with the max it reached ≈ 6.0 and ≈ 18.0, objective ≈ 9.0
(`tests/test_unconstrained_wgan.py`).

ε is small by default (U[0.001, 0.05], data units): the ratio then approximates the local gradient norm rather
than a slope averaged over a segment, which would under-estimate ‖f‖_L of a curved critic.

`unconstrained_wgan_penalty` has the signature and `PenaltyResult` of the other penalties and is registered as
`penalties.get("unconstrained", alpha=...)` (usual weight 1): with the WGAN loss, the critic loss
E_ν f − E_µ f + penalty is minus the objective, so
`LipschitzGAN(gen, critic, latent_dim=d, loss="wgan", penalty="unconstrained", penalty_kwargs={"alpha": 2.0})`
trains an unconstrained WGAN (with `regularize="both"`, L is estimated on the real and generated batches; its
`critic_loss` log is −objective → −W^α). `tf_lipschitz.models.UnconstrainedWassersteinCritic` trains a critic
alone with `fit`. `tf_lipschitz.penalties.unconstrained` names this module.

Reference:
    Terjék, "Adversarial Lipschitz Regularization", ICLR 2020 (the adversarial ratio).
    The "Lipschitz continuity" slides (../shared/papers/lipschitz-continuity-slides.txt): unconstrained WGAN.
"""

from __future__ import annotations

from typing import Any, Callable

import tensorflow as tf

from tf_lipschitz.penalties._core import D_X, D_Y, STATISTICS, PenaltyResult, flat_outputs, quotient_ratio
from tf_lipschitz.penalties.adversarial import adversarial_perturbation
from tf_lipschitz.penalties.epsilon import Epsilon
from tf_lipschitz.penalties.noise import Seed
from tf_lipschitz.penalties.options import validated

__all__ = [
    "STATISTICS",
    "unconstrained_wgan_regularizer",
    "unconstrained_wgan_objective",
    "adversarial_lipschitz_ratios",
    "lipschitz_estimate",
    "unconstrained_wgan_penalty",
]

Tensor = Any


@validated
def unconstrained_wgan_regularizer(lipschitz: Tensor, alpha: float = 2.0) -> Tensor:
    """(α − 1)·α^{α/(1−α)}·L^{α/(α−1)}: the price of a critic with Lipschitz constant L.

    It is the convex conjugate of t ↦ t^α evaluated along the slope, which makes the supremum of
    L·W − price(L) over L equal W^α (at L = α·W^{α−1}). For α = 2 it is L²/4.

    Args:
        lipschitz: L ≥ 0 (a tensor; differentiable).
        alpha: α > 1.

    Returns:
        A float32 tensor of L's shape.

    Raises:
        ValueError: if α ≤ 1.

    Example:
        >>> round(float(unconstrained_wgan_regularizer(6.0, alpha=2.0)), 4)  # 6²/4
        9.0
    """
    alpha = float(alpha)
    coefficient = (alpha - 1.0) * alpha ** (alpha / (1.0 - alpha))
    lipschitz = tf.cast(lipschitz, tf.float32)
    return coefficient * tf.pow(lipschitz, alpha / (alpha - 1.0))


@validated
def unconstrained_wgan_objective(f_mu: Tensor, f_nu: Tensor, lipschitz: Tensor, alpha: float = 2.0) -> Tensor:
    """The critic's objective E_µ f − E_ν f − (α − 1)·α^{α/(1−α)}·L^{α/(α−1)}; its supremum is W(µ, ν)^α.

    Args:
        f_mu: Critic outputs on samples of µ (the real data), (n,) or (n, 1).
        f_nu: Critic outputs on samples of ν (generated), (m,) or (m, 1).
        lipschitz: The estimate L of ‖f‖_L (e.g. `lipschitz_estimate`), with gradient.
        alpha: α > 1.

    Returns:
        A float32 scalar to maximize.

    Raises:
        ValueError: if α ≤ 1.

    Example:
        >>> # f(x) = 6x between N(3, 1) and N(0, 1): 6·3 − 6²/4 = 9 = W²
        >>> round(float(unconstrained_wgan_objective([18.0], [0.0], 6.0, alpha=2.0)), 4)
        9.0
    """
    difference = tf.reduce_mean(tf.cast(f_mu, tf.float32)) - tf.reduce_mean(tf.cast(f_nu, tf.float32))
    return difference - unconstrained_wgan_regularizer.unchecked(lipschitz, alpha)


@validated
def adversarial_lipschitz_ratios(
    f: Callable,
    x: Tensor,
    *,
    xi: float = 1.0,
    epsilon: Epsilon = (0.001, 0.05),
    power_iterations: int = 1,
    seed: Seed = None,
    fx: Tensor | None = None,
    check_numerics: bool | None = False,
) -> Tensor:
    """Per-sample adversarial ratios |f(x) − f(x̂)| / ‖x̂ − x‖₂ with x̂ = x + r_adv, differentiable in f's weights.

    r_adv comes from `penalties.adversarial_perturbation` (a constant); gradients reach the weights through
    f(x) and f(x̂). For a vector output, |·| is the sum of absolute differences. The defaults suit data of unit
    scale (ξ and ε are in data units; see `penalties.adversarial_perturbation`); a small ε keeps the ratio close
    to the local gradient norm.

    Args:
        f: The critic (callable).
        x: A float batch (n, ...).
        xi, epsilon, power_iterations, seed: As in `penalties.adversarial_perturbation`.
        fx: f(x) if already computed (gradients flow through it); (n,) and (n, 1) are both accepted.
        check_numerics: Raise on NaN/Inf inside the perturbation search (None: when eager).

    Returns:
        A float32 (n,) tensor.

    Example:
        >>> w = tf.constant([[3.0], [4.0]])  # f(x) = w·x, ‖f‖_L = 5
        >>> ratios = adversarial_lipschitz_ratios(lambda x: x @ w, tf.ones((3, 2)), seed=0)
        >>> np.round(ratios.numpy(), 4).tolist()
        [5.0, 5.0, 5.0]
    """
    x = tf.convert_to_tensor(x)
    fx = f(x) if fx is None else fx
    r_adv = adversarial_perturbation.unchecked(f, x, xi=xi, epsilon=epsilon, power_iterations=power_iterations,
                                               d_y="abs", seed=seed, fx=fx, check_numerics=check_numerics)
    x_hat = x + r_adv
    return quotient_ratio(flat_outputs(fx), flat_outputs(f(x_hat)), x, x_hat, D_X["l2"], D_Y["abs"])


_EMPTY = "The Lipschitz estimate of f needs at least one sample; received an empty batch (0 ratios)"


def _non_empty(ratios: Tensor) -> Tensor:
    """`ratios`, refused when empty: statically by a ValueError, else by an assertion when the step runs."""
    count = ratios.shape.num_elements()
    if count == 0:
        raise ValueError(_EMPTY)
    if count is not None:
        return ratios
    with tf.control_dependencies([tf.debugging.assert_greater(tf.size(ratios), 0, message=_EMPTY)]):
        return tf.identity(ratios)


@validated
def lipschitz_estimate(ratios: Tensor, statistic: str = "max") -> Tensor:
    """‖f‖_L from per-sample ratios: their maximum (default) or mean; see the module docstring for why max.

    Args:
        ratios: Per-sample Lipschitz ratios (n,), with gradient.
        statistic: "max" or "mean".

    Returns:
        A float32 scalar; the gradient of "max" flows to the arg-max sample only.

    Raises:
        ValueError: for an unknown statistic, or no ratios at all (an empty batch has no Lipschitz estimate:
            its max would be −∞ and its price ∞); inside a traced function whose batch size is not static,
            `tf.errors.InvalidArgumentError` with the same message when the step runs.

    Example:
        >>> float(lipschitz_estimate([1.0, 3.0], "max")), float(lipschitz_estimate([1.0, 3.0], "mean"))
        (3.0, 2.0)
    """
    ratios = _non_empty(tf.cast(ratios, tf.float32))
    return tf.reduce_max(ratios) if statistic == "max" else tf.reduce_mean(ratios)


@validated
def unconstrained_wgan_penalty(
    f: Callable,
    x: Tensor,
    *,
    alpha: float = 2.0,
    statistic: str = "max",
    xi: float = 1.0,
    epsilon: Epsilon = (0.001, 0.05),
    power_iterations: int = 1,
    seed: Seed = None,
    fx: Tensor | None = None,
    check_numerics: bool | None = None,
) -> PenaltyResult:
    """The unconstrained WGAN's price of ‖f‖_L as a penalty: (α − 1)·α^{α/(1−α)}·L^{α/(α−1)}, L from ALP ratios.

    Add it with weight 1 to the critic loss E_ν f − E_µ f; L is `lipschitz_estimate` of the adversarial ratios
    at `x` (real and generated samples together), and its gradient reaches the critic's weights.

    The price is of one L, the statistic of the whole batch: it is not a batch mean of per-sample terms, so the
    price of a batch is not the mean of its parts' prices. To evaluate the real and the generated samples in
    separate forward passes (a critic that couples the samples of a batch), pass them as a tuple
    `x=(x_real, x_fake)` (and `fx=(f(x_real), f(x_fake))`): the ratios of the parts are joined before the
    statistic, so L is e.g. the max over both halves, max(L_real, L_fake), and priced once
    (`LipschitzGAN(regularize="both")` does this).

    Args:
        f: The critic (callable).
        x: A float batch (n, ...), or a tuple of batches evaluated in separate passes whose ratios are joined.
            An empty batch is refused: the Lipschitz constant of f on no samples is undefined.
        alpha: α > 1.
        statistic: "max" (default) or "mean" of the ratios; see the module docstring.
        xi, epsilon, power_iterations, seed, check_numerics: As in `adversarial_lipschitz_ratios`.
        fx: f(x) if already computed (a tuple of the parts' outputs when `x` is a tuple).

    Returns:
        `PenaltyResult(penalty, ratio_mean, ratio_max, violation_fraction)`: the ratio is the adversarial ratio,
        and `violation_fraction` the fraction of samples above the estimate L (0 for "max").

    Raises:
        ValueError: if α ≤ 1, the statistic is unknown or the batch is empty (see `lipschitz_estimate`).

    Example:
        >>> w = tf.constant([[3.0], [4.0]])
        >>> result = unconstrained_wgan_penalty(lambda x: x @ w, tf.ones((3, 2)), alpha=2.0, seed=0)
        >>> round(float(result.penalty), 4), round(float(result.ratio_max), 4)  # 5²/4
        (6.25, 5.0)
        >>> # slope 1 on the real half, 3 on the fake half: the price of max L = 3 is 3²/4, not (1² + 3²)/4/2
        >>> f = lambda x: 3.0 * tf.nn.relu(x) - tf.nn.relu(-x)
        >>> result = unconstrained_wgan_penalty(f, (-5.0 * tf.ones((4, 1)), 5.0 * tf.ones((4, 1))), seed=0)
        >>> round(float(result.penalty), 4), round(float(result.ratio_mean), 4)
        (2.25, 2.0)
    """
    parts = x if isinstance(x, tuple) else (x,)
    part_outputs = fx if isinstance(x, tuple) and fx is not None else (fx,) * len(parts)
    if len(part_outputs) != len(parts):
        raise ValueError(f"`fx` must have one output per part of `x` ({len(parts)}). Received {len(part_outputs)}")
    ratios = tf.concat([
        adversarial_lipschitz_ratios.unchecked(f, part, xi=xi, epsilon=epsilon, power_iterations=power_iterations,
                                               seed=seed, fx=part_fx, check_numerics=check_numerics)
        for part, part_fx in zip(parts, part_outputs)
    ], axis=0)
    lipschitz = lipschitz_estimate.unchecked(ratios, statistic)
    constant = tf.stop_gradient(ratios)
    return PenaltyResult(
        penalty=unconstrained_wgan_regularizer.unchecked(lipschitz, alpha),
        ratio_mean=tf.reduce_mean(constant),
        ratio_max=tf.reduce_max(constant),
        violation_fraction=tf.reduce_mean(tf.cast(constant > tf.stop_gradient(lipschitz), tf.float32)),
    )
