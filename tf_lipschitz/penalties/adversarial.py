"""Penalties from input perturbations: ALP (Eq. 20) with its adversarial direction, the explicit quotient
penalty on given pairs (Eq. 8) and VAT's local distributional smoothness (Eqs. 10-13).

Reference:
    Terjék, "Adversarial Lipschitz Regularization", ICLR 2020 (Eqs. 8-32; appendix A.2, A.3).
    Petzka, Fischer and Lukovnikov, "On the regularization of Wasserstein GANs", ICLR 2018.
    Miyato et al., "Virtual Adversarial Training", TPAMI 2018 (VAT).
"""

from __future__ import annotations

from typing import Callable, Sequence

import tensorflow as tf

from tf_lipschitz.penalties._core import (
    D_X, D_Y, TINY, PenaltyResult, Tensor, as_float_input, checked, flat_outputs, penalty_result,
    per_sample, quotient_ratio, resolve_check,
)
from tf_lipschitz.penalties.epsilon import Epsilon, sample_epsilon
from tf_lipschitz.penalties.noise import Seed, random_bits, seed_tensor, uniform
from tf_lipschitz.penalties.options import is_limit, validated

__all__ = [
    "adversarial_perturbation", "adversarial_lipschitz_penalty", "lipschitz_quotient_penalty",
    "virtual_adversarial_loss",
]


def _range(clip: Sequence[float] | None) -> tuple[float, float] | None:
    """A checked `clip` option as a (low, high) pair of floats."""
    return None if clip is None else (float(clip[0]), float(clip[1]))


def _clip(x: Tensor, clip: tuple[float, float] | None) -> Tensor:
    if clip is None:
        return x
    return tf.clip_by_value(x, tf.cast(clip[0], x.dtype), tf.cast(clip[1], x.dtype))


def _row_norms(v: Tensor) -> Tensor:
    """Per-sample L2 norms over all non-batch axes (no gradient is taken through them)."""
    return tf.sqrt(tf.reduce_sum(tf.square(tf.reshape(v, [tf.shape(v)[0], -1])), axis=1))


def _power_step(
    f: Callable, x: Tensor, fx: Tensor, v: Tensor, scale: Tensor, xi: float, d_y: Callable,
    clip: tuple[float, float] | None = None,
) -> tuple[Tensor, Tensor]:
    """One step of Eq. (23) on r = scale·v (unit rows): returns the next (v, scale) with r ← ∇_r d_Y / ‖·‖.

    A direction is carried as a vector and a per-sample scale so that it is normalized without a pass over the
    batch: one reduction for the norms, and the scales are folded into the probe and into ε·r. Samples whose
    gradient vanishes (or is not finite) keep the previous direction.
    """
    # Only the input is watched: no weight gradients are computed, and none reach f's weights from here.
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        x_xi = x + tf.cast(per_sample(xi * scale, v) * v, x.dtype)
        tape.watch(x_xi)
        # A clipped probe (clip(x + ξr), the author's CIFAR-10 code) passes no gradient along clipped coordinates.
        distance = tf.reduce_sum(d_y(fx, flat_outputs(f(_clip(x_xi, clip)))))
    grad = tf.cast(tape.gradient(distance, x_xi, unconnected_gradients=tf.UnconnectedGradients.ZERO), tf.float32)
    norm = _row_norms(grad)
    usable = tf.math.is_finite(norm) & (norm > TINY)
    return tf.where(per_sample(usable, v), grad, v), tf.where(usable, 1.0 / tf.where(usable, norm, 1.0), scale)


def _check_one_output(fx: Tensor) -> None:
    """The limit ξ → 0 needs one output per sample (its `d_y` is checked with the options)."""
    if fx.shape[-1] is None:  # unknown until run time
        tf.debugging.assert_equal(tf.shape(fx)[1], 1, message="`xi=0` needs a model with one output per sample")
    elif fx.shape[-1] != 1:
        raise ValueError("`xi=0` (the limit ξ → 0) needs a model with one output per sample (a critic). "
                         f"Received: xi=0 and outputs of shape {tuple(fx.shape)} per batch")


def _random_start(x: Tensor, base: Tensor) -> tuple[Tensor, Tensor]:
    """The random start r₀ = scale·v with unit rows, as (v, per-sample scale)."""
    # Uniform in the cube rather than Gaussian: a generic start is all the power iteration needs, at a third of the cost.
    v = uniform(tf.shape(x), base, stream=1, low=-1.0, high=1.0)
    return v, 1.0 / tf.maximum(_row_norms(v), TINY)


def _input_gradient(f: Callable, x: Tensor, fx: Tensor) -> Tensor:
    """∇f(x) per sample as a float32 constant, for a model with one output per sample.

    In a graph, taken through the forward pass that computed `fx` (an input-only backward, no second forward
    pass); eagerly, or when `fx` was not computed from this `x`, by a forward pass under a tape.
    """
    grad = None
    if not tf.executing_eagerly():
        grad = tf.gradients(tf.reduce_sum(fx), x)[0]  # an input-only backward through fx's own forward pass
    if grad is None:
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(x)
            total = tf.reduce_sum(flat_outputs(f(x)))
        grad = tape.gradient(total, x, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    return tf.cast(tf.stop_gradient(grad), tf.float32)


def _limit_perturbation(f: Callable, x: Tensor, fx: Tensor, eps: Tensor, base: Tensor) -> Tensor:
    """Eq. (23) as ξ → 0 for one output per sample, times ε: r_adv = ε·s·∇f(x)/‖∇f(x)‖ with a random side s = ±1.

    The limit of the iteration started at r₀ is sign(∇f(x)·r₀)·∇f(x)/‖∇f(x)‖. For the symmetric start
    (uniform in the cube) sign(∇f(x)·r₀) is a fair coin per sample, independent of ∇f(x) and of the other samples,
    so the coin is drawn instead of r₀ (one random number per sample rather than one per input coordinate). Samples
    whose gradient vanishes (or is not finite) take the random start r₀ itself, as the ξ > 0 iteration keeps it;
    r₀ is drawn only when such a sample exists.
    """
    grad = _input_gradient(f, x, fx)
    norm = _row_norms(grad)
    usable = tf.math.is_finite(norm) & (norm > TINY)
    side = tf.where(random_bits(tf.shape(x)[:1], base, stream=4) < 2**31, 1.0, -1.0)
    coefficient = tf.where(usable, eps * side / tf.where(usable, norm, 1.0), 0.0)

    def along_the_gradient() -> Tensor:
        return per_sample(coefficient, grad) * grad

    def random_start_where_flat() -> Tensor:
        v, scale = _random_start(x, base)
        start = per_sample(eps * scale, v) * v
        return tf.where(per_sample(usable, v), along_the_gradient(), start)

    return tf.cond(tf.reduce_all(usable), along_the_gradient, random_start_where_flat)


@validated
def adversarial_perturbation(
    f: Callable,
    x: Tensor,
    *,
    xi: float = 10.0,
    epsilon: Epsilon = (0.1, 10.0),
    power_iterations: int = 1,
    d_y: str = "abs",
    seed: Seed = None,
    fx: Tensor | None = None,
    check_numerics: bool | None = None,
    clip: Sequence[float] | None = None,
) -> Tensor:
    """Adversarial perturbation r_adv ≈ ε·r_k of ALR (Eqs. 21-23): the direction along which f changes most.

    r₀ is a random unit direction per sample (uniform noise in [-1, 1]ⁿ, normalized); each of the `power_iterations` steps sets
    r_{i+1} = ∇_r d_Y(f(x), f(x + r))|_{r=ξ rᵢ} / ‖·‖₂ (a finite-difference power iteration on the Hessian of
    r ↦ d_Y(f(x), f(x + r)), appendix A.1); finally r_adv = ε·r_k with a per-sample ε ~ P_ε. Norms are per
    sample over all non-batch axes. r_adv is a constant: no gradient flows from it into f's weights.

    ξ and ε are in the units of the data. The defaults (ξ = 10, ε ~ U[0.1, 10], the paper's CIFAR-10 values)
    suit 32×32×3 images in [-1, 1]; for 2-D data of unit scale use e.g. ξ = 1, ε ~ U[0.01, 0.5] (with the
    defaults a WGAN critic on two Gaussians over-estimates W1, see the module docstring), or
    `epsilon=RelativeEpsilon()`.

    `xi=0` takes the limit ξ → 0, for a model with one output per sample and d_Y "abs" or "l2": the iteration
    then converges in one step to r₁ = sign(∇f(x)·r₀) ∇f(x)/‖∇f(x)‖ (the Jacobian has rank one), the direction
    of steepest change at x itself. The side sign(∇f(x)·r₀) is a fair coin per sample for the symmetric r₀, so
    the coin is drawn instead of r₀; samples where ∇f(x) vanishes keep r₀, as for ξ > 0. Inside a graph
    (`tf.function`, `fit`) with `fx` given, ∇f(x) comes from an input-only backward through the pass that
    computed `fx`, so the direction costs no forward pass (about half of the ξ > 0 step); eagerly it takes a
    forward pass under a tape.

    Args:
        f: The model (any callable batch → outputs; nested outputs are concatenated).
        x: A float batch (n, ...).
        xi: Finite-difference step ξ > 0, or 0 (a Python number) for the limit ξ → 0 (see above).
        epsilon: P_ε: a fixed float, a (low, high) uniform range, or a callable `sampler(x, seed) -> (n,)`
            such as `RelativeEpsilon` or `HalfNormalEpsilon` (seed is a (2,) int32 seed, usable with
            `tf.random.stateless_*`).
        power_iterations: k ≥ 0; with 0, r_adv is ε times the random direction. One is enough in practice.
        d_y: Output distance: "abs", "l2", "kl" (from logits) or "mse_logits".
        seed: An int (the same noise on every call, also inside `tf.function`: for tests), a
            `keras.random.SeedGenerator` (fresh noise each step: for training), or None (Keras' global one).
        fx: f(x) if already computed (it is not recomputed); treated as a constant. With `xi=0` in a graph,
            pass the tensor the model computed from this very `x` (its backward pass gives ∇f(x)).
        check_numerics: Raise on NaN/Inf in `x` or `f(x)`; None means on in eager mode, off in graphs.
        clip: None or (low, high): evaluate f at the clipped probe clip(x + ξr), as the author's CIFAR-10
            code does; the direction then has no component along coordinates the probe clipped. With `xi=0`
            the probe is x itself and `clip` has no effect.

    Returns:
        r_adv, a tensor with the shape and dtype of `x` and no gradient.

    Raises:
        ValueError: for an unknown `d_y`, a bad `epsilon` or `clip`, negative `power_iterations`, ξ < 0, or
            `xi=0` with a `d_y` other than "abs"/"l2" or more than one output per sample.
        tf.errors.InvalidArgumentError: with numerics checking on, naming `x` or `f(x)` if it has NaN or Inf.

    Example:
        >>> w = tf.constant([[3.0], [4.0]])
        >>> r = adversarial_perturbation(lambda x: x @ w, tf.ones((2, 2)), xi=1.0, epsilon=0.5, seed=0)
        >>> [round(float(v), 3) for v in tf.abs(r[0])]
        [0.3, 0.4]
    """
    check = resolve_check(check_numerics)
    x = checked(as_float_input(x), "x", check)
    if fx is None:
        fx = f(x)
    fx = checked(flat_outputs(fx), "f(x)", check)
    if is_limit(xi):
        _check_one_output(fx)
    base = seed_tensor(seed)
    eps = sample_epsilon(epsilon, x, tf.bitcast(random_bits((2,), base, stream=2), tf.int32))
    if is_limit(xi) and power_iterations > 0:  # converged after one step: further steps give the same direction
        return tf.stop_gradient(tf.cast(_limit_perturbation(f, x, fx, eps, base), x.dtype))
    v, scale = _random_start(x, base)
    for _ in range(power_iterations):
        v, scale = _power_step(f, tf.stop_gradient(x), tf.stop_gradient(fx), v, scale, xi, D_Y[d_y], _range(clip))
    return tf.stop_gradient(tf.cast(per_sample(eps * scale, v) * v, x.dtype))


@validated
def adversarial_lipschitz_penalty(
    f: Callable,
    x: Tensor,
    *,
    K: float = 1.0,
    d_x: str = "l2",
    d_y: str = "abs",
    xi: float = 10.0,
    epsilon: Epsilon = (0.1, 10.0),
    power_iterations: int = 1,
    reduction: str = "squared",
    clip: Sequence[float] | None = None,
    fx: Tensor | None = None,
    seed: Seed = None,
    check_numerics: bool | None = None,
    clip_probe: bool = False,
) -> PenaltyResult:
    """Adversarial Lipschitz Penalty, Eq. (20): mean over the batch of (d_Y(f(x), f(x̂)) / d_X(x, x̂) − K)_+^p.

    x̂ = x + r_adv with r_adv from `adversarial_perturbation`, optionally clipped to the data range; d_X is
    measured on the actual x̂ − x after clipping, and samples that did not move (x̂ = x) contribute 0. Gradients
    reach f's weights through both f(x) and f(x̂); r_adv is a constant. `reduction="squared"` is WGAN-ALP
    (Eq. 26), "abs" the plain violation, "squared+abs" the Progressive GAN variant (Eq. 32). The ratio is
    computed in float32 whatever f's compute dtype.

    Cost per regularized sample, with `fx` shared with the loss: one forward with an input gradient (k = 1) and
    one forward-backward, versus the double backward of a gradient penalty. With `xi=0` (the limit ξ → 0, the
    direction ±∇f(x)/‖∇f(x)‖) inside a graph the direction needs only an input-only backward through the loss's
    forward pass (benchmarks/bench_penalties.py).

    ξ and ε are in the units of the data: the defaults (ξ = 10, ε ~ U[0.1, 10], K = 1, λ = 100 in the paper) suit
    32×32×3 images in [-1, 1]; on 2-D data of unit scale they make a WGAN critic over-estimate W1 (by up to
    80 % in our runs), while ξ = 1, ε ~ U[0.01, 0.5] works. `epsilon=RelativeEpsilon()` scales ε to the batch.

    Args:
        f: The model (callable); pass e.g. `lambda t: critic(t, training=True)` to choose the mode.
        x: A float batch (n, ...): real, generated, or both concatenated (one call is cheaper than two).
        K: The Lipschitz constant to enforce, ≥ 0.
        d_x: Input distance of the displacement: "l2", "l1", "linf" or "trivial" (Eq. 14).
        d_y: Output distance: "abs", "l2", "kl" (from logits) or "mse_logits".
        xi, epsilon, power_iterations, seed: As in `adversarial_perturbation`.
        reduction: "squared", "abs" or "squared+abs".
        clip: None or (low, high): clip x̂ to the data range, e.g. (-1, 1). Default None: no clipping, as
            in the author's Progressive GAN code.
        fx: f(x) if the loss already computed it: the penalty then adds no forward pass on x.
        check_numerics: Raise on NaN/Inf in `x`, `f(x)` or `f(x + r_adv)`; None: on in eager, off in graphs.
        clip_probe: With `clip`, also clip the power iteration's probe x + ξr (`adversarial_perturbation`'s
            `clip`). `clip=(-1, 1), clip_probe=True` is the author's CIFAR-10 WGAN-ALP code, which clips both;
            the default False clips x̂ only (when `clip` is given), the behaviour before this option existed.

    Returns:
        `PenaltyResult(penalty, ratio_mean, ratio_max, violation_fraction)` of float32 scalars; the ratio is
        d_Y/d_X and a violation is ratio > K.

    Raises:
        ValueError: for unknown `d_x`, `d_y` or `reduction`, a bad `epsilon` or `clip`, `clip_probe` without
            `clip`, or K < 0.
        tf.errors.InvalidArgumentError: with numerics checking on, naming the tensor that has NaN or Inf.

    Example:
        >>> w = tf.constant([[0.0], [3.0]])  # f(x) = w·x with ‖w‖ = 3
        >>> result = adversarial_lipschitz_penalty(lambda x: x @ w, tf.ones((4, 2)), xi=1.0, epsilon=(0.1, 1.0))
        >>> round(float(result.ratio_mean), 4), round(float(result.penalty), 4)
        (3.0, 4.0)
    """
    clip = _range(clip)
    check = resolve_check(check_numerics)
    x = checked(as_float_input(x), "x", check)
    fx = checked(flat_outputs(f(x) if fx is None else fx), "f(x)", check)
    r_adv = adversarial_perturbation.unchecked(
        f, x, xi=xi, epsilon=epsilon, power_iterations=power_iterations, d_y=d_y, seed=seed, fx=fx,
        check_numerics=False, clip=clip if clip_probe else None,
    )
    x_hat = tf.stop_gradient(_clip(x + r_adv, clip))
    fx_hat = checked(flat_outputs(f(x_hat)), "f(x + r_adv)", check)
    return penalty_result(quotient_ratio(fx, fx_hat, x, x_hat, D_X[d_x], D_Y[d_y]), K, reduction)


@validated
def lipschitz_quotient_penalty(
    f: Callable,
    x: Tensor,
    y: Tensor,
    *,
    K: float = 1.0,
    d_x: str = "l2",
    d_y: str = "abs",
    reduction: str = "squared",
    fx: Tensor | None = None,
    fy: Tensor | None = None,
    check_numerics: bool | None = None,
) -> PenaltyResult:
    """Explicit Lipschitz penalty on given pairs, Eq. (8): mean of (d_Y(f(x), f(y)) / d_X(x, y) − K)_+².

    Petzka et al. (2018) apply it to random pairs (e.g. real and generated samples); it is ALP without the
    adversarial search, kept for comparison. Pairs with x = y contribute 0.

    Args:
        f: The model (callable).
        x: A float batch (n, ...).
        y: The paired batch, same shape.
        K: The Lipschitz constant to enforce, ≥ 0.
        d_x, d_y, reduction: As in `adversarial_lipschitz_penalty`.
        fx, fy: f(x), f(y) if already computed (gradients flow through them).
        check_numerics: Raise on NaN/Inf in inputs or outputs; None: on in eager, off in graphs.

    Returns:
        `PenaltyResult` with ratio d_Y(f(x), f(y)) / d_X(x, y).

    Raises:
        ValueError: for unknown `d_x`, `d_y` or `reduction`, or K < 0.
        tf.errors.InvalidArgumentError: with numerics checking on, naming the tensor that has NaN or Inf.

    Example:
        >>> w = tf.constant([[3.0], [4.0]])
        >>> result = lipschitz_quotient_penalty(lambda x: x @ w, tf.ones((2, 2)), tf.zeros((2, 2)))
        >>> round(float(result.ratio_max), 4)  # |7| / √2
        4.9497
    """
    check = resolve_check(check_numerics)
    x = checked(as_float_input(x), "x", check)
    y = checked(tf.cast(y, x.dtype), "y", check)
    fx = checked(flat_outputs(f(x) if fx is None else fx), "f(x)", check)
    fy = checked(flat_outputs(f(y) if fy is None else fy), "f(y)", check)
    return penalty_result(quotient_ratio(fx, fy, x, y, D_X[d_x], D_Y[d_y]), K, reduction)


# --------------------------------------------------------------------------------------------------- VAT
@validated
def virtual_adversarial_loss(
    f: Callable,
    x: Tensor,
    *,
    epsilon: Epsilon = 8.0,
    xi: float = 1e-6,
    power_iterations: int = 1,
    d_y: str = "kl",
    d_x: str = "trivial",
    K: float = 0.0,
    entropy_weight: float = 0.0,
    fx: Tensor | None = None,
    seed: Seed = None,
    check_numerics: bool | None = None,
    f_direction: Callable | None = None,
) -> PenaltyResult:
    """VAT's local distributional smoothness (Eqs. 10-13) and the semi-supervised ALR of appendix A.3.

    penalty = mean over x of (d_Y(f(x), f(x + r_adv)) / d_X(x, x + r_adv) − K)_+
              + entropy_weight · mean H(softmax(f(x))),
    with f(x) held fixed in the first term (no gradient through it), as VAT and appendix A.3 prescribe.
      * VAT: d_y="kl", d_x="trivial", K=0, fixed ε (the defaults; ε = 8 for ZCA-whitened CIFAR-10).
      * ALR, appendix A.3: d_y="mse_logits", d_x="l2", K=0, epsilon=(1.0, 10.0), entropy_weight=1.0
        (entropy minimization of Grandvalet and Bengio).
    f returns logits. It needs no labels, so apply it to labeled and unlabeled batches alike.

    Stochastic layers: f is called for f(x) (unless `fx` is given), for the probe f(x + ξr) and for f(x̂), and
    each call is taken as it comes. With dropout in training mode every call draws its own mask, so
    d_Y(f(x), f(x + ξr)) measures the dropout noise more than the ξr step, and the direction follows that noise
    (mean |cos| ≈ 0.04 to the dropout-free direction on ConvLarge). Either make f reuse one mask within a step,
    as VAT's TensorFlow code does in effect (its forward passes rebuild dropout with the same op seeds, so they
    draw the same masks; see `examples/semi_supervised_alr.py`), or pass `f_direction`, a dropout-free model
    (e.g. `lambda t: model(t, training=False)`) that computes the direction from its own f(x) at the cost of one
    more forward pass; f(x̂) and the penalty still use f.

    Args:
        f: The classifier (callable returning logits).
        x: A float batch (n, ...).
        epsilon, xi, power_iterations, seed: As in `adversarial_perturbation` (units of the data).
        d_y: Output distance: "kl", "mse_logits", "l2" or "abs".
        d_x: "trivial" (Eq. 14: d_X = 1, the VAT view), "l2", "l1" or "linf".
        K: Lipschitz target, usually 0.
        entropy_weight: Weight of the conditional-entropy term, ≥ 0 (gradient flows through f(x)).
        fx: f(x) if already computed (the classification loss's forward pass).
        check_numerics: Raise on NaN/Inf in `x`, `f(x)` or `f(x + r_adv)`; None: on in eager, off in graphs.
        f_direction: The model of the power iteration (its f(x) and probe), when it must differ from f, e.g.
            f without dropout; None uses f and `fx`.

    Returns:
        `PenaltyResult` with ratio d_Y/d_X; `penalty` includes the entropy term.

    Raises:
        ValueError: for unknown `d_x` or `d_y`, a bad `epsilon`, K < 0, entropy_weight < 0 or a non-callable
            `f_direction`.
        tf.errors.InvalidArgumentError: with numerics checking on, naming the tensor that has NaN or Inf.

    Example:
        >>> w = tf.constant([[1.0, -1.0], [0.5, 0.0]])
        >>> result = virtual_adversarial_loss(lambda x: x @ w, tf.ones((4, 2)), epsilon=0.1, seed=0)
        >>> bool(result.penalty > 0)
        True
    """
    check = resolve_check(check_numerics)
    x = checked(as_float_input(x), "x", check)
    logits = checked(flat_outputs(f(x) if fx is None else fx), "f(x)", check)
    r_adv = adversarial_perturbation.unchecked(
        f if f_direction is None else f_direction, x, xi=xi, epsilon=epsilon, power_iterations=power_iterations,
        d_y=d_y, seed=seed, fx=logits if f_direction is None else None, check_numerics=False,
    )
    x_hat = tf.stop_gradient(x + r_adv)
    fx_hat = checked(flat_outputs(f(x_hat)), "f(x + r_adv)", check)
    result = penalty_result(quotient_ratio(tf.stop_gradient(logits), fx_hat, x, x_hat, D_X[d_x], D_Y[d_y]), K, "abs")
    if entropy_weight:
        log_p = tf.nn.log_softmax(logits, axis=1)
        entropy = -tf.reduce_mean(tf.reduce_sum(tf.exp(log_p) * log_p, axis=1))
        result = result._replace(penalty=result.penalty + entropy_weight * entropy)
    return result

