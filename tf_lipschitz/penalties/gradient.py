"""Gradient penalties on ‖∇ₓf‖₂: WGAN-GP, the one-sided LP and zero-centered R1.

Reference:
    Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017 (GP).
    Petzka, Fischer and Lukovnikov, "On the regularization of Wasserstein GANs", ICLR 2018 (LP).
    Mescheder, Geiger and Nowozin, "Which Training Methods for GANs do actually Converge?", ICML 2018 (R1).
"""

from __future__ import annotations

from typing import Callable

import tensorflow as tf

from tf_lipschitz.penalties._core import (
    PenaltyResult, Tensor, as_float_input, checked, flat, flat_outputs, per_sample, resolve_check, safe_sqrt,
    with_diagnostics,
)
from tf_lipschitz.penalties.noise import Seed, seed_tensor, uniform
from tf_lipschitz.penalties.options import validated

__all__ = ["gradient_penalty"]


@validated
def gradient_penalty(
    f: Callable,
    x_real: Tensor,
    x_fake: Tensor | None = None,
    *,
    target: float = 1.0,
    one_sided: bool = False,
    sample: str = "interpolate",
    seed: Seed = None,
    check_numerics: bool | None = None,
) -> PenaltyResult:
    """Gradient penalties on ‖∇ₓf(x̃)‖₂: WGAN-GP, the one-sided LP and zero-centered R1.

    penalty = mean over x̃ of (‖∇ₓf(x̃)‖₂ − target)², or of (‖∇ₓf(x̃)‖₂ − target)_+² when `one_sided`:
      * WGAN-GP, Eq. (7) (Gulrajani et al., 2017): target=1, sample="interpolate".
      * LP, Eq. (9) (Petzka et al., 2018): target=1, one_sided=True.
      * R1 (Mescheder et al., 2018): target=0, sample="real", giving mean ‖∇ₓf(x)‖² (scale by γ/2 yourself).
    Interpolates are x̃ = x_fake + α(x_real − x_fake) with α ~ U[0, 1] per sample. A vector-valued f is summed
    over its outputs. The penalty needs a double backward: f's weights get gradients through ∇ₓf.

    Args:
        f: The critic (callable), scalar output per sample.
        x_real: Real batch (n, ...).
        x_fake: Generated batch, same shape; unused (may be None) for sample="real".
        target: The gradient norm to enforce, ≥ 0.
        one_sided: Penalize only norms above `target`.
        sample: Where to evaluate: "interpolate", "real", "fake" or "both" (real and fake concatenated).
        seed: Seed of α (see `adversarial_perturbation`).
        check_numerics: Raise on NaN/Inf in the inputs or f; None: on in eager, off in graphs.

    Returns:
        `PenaltyResult`; the ratio is ‖∇ₓf(x̃)‖₂, and a violation is a norm above `target`.

    Raises:
        ValueError: for an unknown `sample`, a negative `target`, or a missing `x_fake`.
        tf.errors.InvalidArgumentError: with numerics checking on, naming the tensor that has NaN or Inf.

    Example:
        >>> w = tf.constant([[3.0], [4.0]])
        >>> result = gradient_penalty(lambda x: x @ w, tf.ones((4, 2)), tf.zeros((4, 2)))
        >>> round(float(result.penalty), 4)  # (5 - 1)²
        16.0
    """
    if x_fake is None and sample != "real":
        raise ValueError(f"`x_fake` is required for sample={sample!r}")
    check = resolve_check(check_numerics)
    x_real = checked(as_float_input(x_real), "x_real", check)
    if x_fake is not None:
        x_fake = checked(tf.cast(x_fake, x_real.dtype), "x_fake", check)
    if sample == "interpolate":
        alpha = uniform(tf.shape(x_real)[:1], seed_tensor(seed), stream=3)
        alpha = tf.cast(per_sample(alpha, x_real), x_real.dtype)
        x = x_fake + alpha * (x_real - x_fake)
    else:
        x = {"real": x_real, "fake": x_fake}.get(sample)
        if x is None:
            x = tf.concat([x_real, x_fake], axis=0)
    x = tf.stop_gradient(x)
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(x)
        y = checked(flat_outputs(f(x)), "f(x)", check)
        total = tf.reduce_sum(y)
    grad = flat(tape.gradient(total, x, unconnected_gradients=tf.UnconnectedGradients.ZERO))
    squared_norm = tf.reduce_sum(tf.square(grad), axis=1)
    norm = safe_sqrt(squared_norm)
    if target == 0:
        penalty = tf.reduce_mean(squared_norm)  # R1: no square root, so no kink at zero.
    else:
        gap = tf.nn.relu(norm - target) if one_sided else norm - target
        penalty = tf.reduce_mean(tf.square(gap))
    return with_diagnostics(penalty, norm, target)


