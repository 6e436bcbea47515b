"""Spectral clamping: lower a kernel's top singular value to at most r times the second, σ0 ← min(σ0, r·σ1).

The one home of the math, used on weight steps (`tf_lipschitz.optimizers.SpectralClampOptimizer` and the
`tf_lipschitz.callbacks.SpectralGradientClamp` that installs it) and on the weights themselves
(`tf_lipschitz.constraints.SpectralClamp`). A kernel is read as the matrix (·, c_out) of `kernel_matrix`; the
clamp is M − max(0, σ0 − r·σ1)·u0·v0ᵀ (`clamp_top_direction`), which changes σ0 only. `spectral_clamp` estimates
σ0, σ1 and the top singular vectors by power iteration (cheap, for every step), `spectral_clamp_weights` by an
exact SVD.

Reference:
    K. Sargent, "Lipschitz Constraints in Wasserstein GANs" (poster, "Spectral Gradient Clipping").
    Brock, Donahue and Simonyan, "Large Scale GAN Training for High Fidelity Natural Image
    Synthesis", arXiv:1809.11096, 2018 (spectral clamping of weights).
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import ops

from tf_lipschitz.foundations.validation import check_float
from tf_lipschitz.ops.power_iteration import check_power_iterations, kernel_matrix, power_iteration

__all__ = ["clamp_top_direction", "spectral_clamp", "spectral_clamp_weights", "clampable", "check_ratio"]


def clamp_top_direction(matrix, sigma0, sigma1, u0, v0t, ratio: float):
    """M − max(0, σ0 − r·σ1)·u0·v0ᵀ: the top singular value lowered to at most r·σ1, every other direction kept.

    Args:
        matrix: The (m, n) matrix M.
        sigma0, sigma1: Its top two singular values (exact or estimated).
        u0: The top left singular vector, shape (m, 1).
        v0t: The top right singular vector as a row, shape (1, n).
        ratio: r.

    Returns:
        The clamped (m, n) matrix.

    Example:
        >>> m = ops.convert_to_tensor(np.diag([10.0, 2.0]).astype("float32"))
        >>> ops.convert_to_numpy(clamp_top_direction(m, 10.0, 2.0, m[:, :1] / 10.0, m[:1, :] / 10.0, 2.0))
        array([[4., 0.],
               [0., 2.]], dtype=float32)
    """
    excess = ops.maximum(sigma0 - ratio * sigma1, 0.0)
    return matrix - excess * ops.matmul(u0, v0t)


def clampable(gradient) -> bool:
    """Whether `spectral_clamp` applies: a dense tensor of rank ≥ 2 whose (·, c_out) matrix has both dims ≥ 2.

    Args:
        gradient: A tensor, an `IndexedSlices` or None.

    Returns:
        A bool (False for None, sparse gradients, biases and kernels with a single singular value).

    Example:
        >>> clampable(np.zeros((3, 3, 2, 4))), clampable(np.zeros((5, 1))), clampable(None)
        (True, False, False)
    """
    if gradient is None or isinstance(gradient, tf.IndexedSlices):
        return False
    shape = tuple(gradient.shape)
    if len(shape) < 2 or any(d is None for d in shape):
        return False
    rows = math.prod(shape[:-1])
    return rows >= 2 and shape[-1] >= 2


def spectral_clamp(gradient, ratio: float, *, power_iterations: int = 20, seed=None):
    """Clamps one kernel gradient so that its top singular value is at most `ratio`·σ1.

    The gradient is reshaped to the matrix G = R(G) of shape (kh·kw·c_in, c_out) (`kernel_matrix`).
    σ0, u0, v0 come from `power_iteration` on G; σ1 from a second power iteration on the deflated
    matrix G − σ0·u0·v0ᵀ (poster, steps 1-4). The result is G − max(0, σ0 − r·σ1)·u0·v0ᵀ: the top
    singular value drops to r·σ1 and all other singular directions are untouched. (The poster prints
    `min(0, ·)`, a sign slip: with `min` the update would leave σ0 > r·σ1 alone and instead raise a
    smaller σ0 up to r·σ1.)

    Power iteration estimates converge from below. An under-estimated σ1 only clamps harder (the ratio
    stays ≤ r); an under-converged (u0, v0) leaves part of the top direction behind, so use enough
    `power_iterations` for ratios close to 1, where the spectral gap σ0/σ1 ≥ r is small.

    Args:
        gradient: A gradient tensor of rank ≥ 2 whose last axis is the output channels.
        ratio: The ratio r > 1; `inf` returns the gradient unchanged (statistics are still computed).
        power_iterations: Steps of each of the two power iterations (≥ 1), from fresh random vectors.
        seed: Seed of the random start vectors (int or `keras.random.SeedGenerator`).

    Returns:
        `(clamped_gradient, sigma0, sigma1)`, the singular values estimated before clamping as float32
        scalars. `clamped_gradient` has the shape and dtype of `gradient`.

    Raises:
        ValueError: if the gradient's reshaped matrix has a dimension of 1 (a single singular value), or
            `ratio` ≤ 1, or `power_iterations` < 1.

    Example:
        >>> g = np.diag([10.0, 2.0, 1.0]).astype("float32")
        >>> clamped, s0, s1 = spectral_clamp(g, 2.0, power_iterations=50, seed=0)
        >>> np.round(np.linalg.svd(clamped.numpy(), compute_uv=False), 3)
        array([4., 2., 1.], dtype=float32)

    Reference:
        K. Sargent, "Lipschitz Constraints in Wasserstein GANs" (poster); Brock et al., 2018.
    """
    check_ratio(ratio)
    check_power_iterations(power_iterations)
    gradient = ops.convert_to_tensor(gradient)
    if not clampable(gradient):
        raise ValueError(
            "spectral_clamp needs a gradient of rank >= 2 whose reshaped (., c_out) matrix has both dimensions "
            f">= 2. Received shape {tuple(gradient.shape)}"
        )
    w = ops.cast(kernel_matrix(gradient), "float32")
    wt = ops.transpose(w)
    n = w.shape[-1]
    sigma0, u0, v0 = _top_singular(
        lambda x: ops.matmul(w, x), lambda y: ops.matmul(wt, y), keras.random.normal((n, 1), seed=seed), power_iterations
    )
    # Deflation: the same iteration on G − σ0·u0·v0ᵀ, whose top singular value is σ1.
    sigma1, _, _ = _top_singular(
        lambda x: ops.matmul(w, x) - sigma0 * u0 * ops.sum(v0 * x),
        lambda y: ops.matmul(wt, y) - sigma0 * v0 * ops.sum(u0 * y),
        keras.random.normal((n, 1), seed=seed),
        power_iterations,
    )
    if math.isinf(ratio):
        return gradient, sigma0, sigma1
    clamped = clamp_top_direction(w, sigma0, sigma1, u0, ops.transpose(v0), ratio)
    return ops.cast(ops.reshape(clamped, gradient.shape), gradient.dtype), sigma0, sigma1


def _top_singular(operator, adjoint, v, power_iterations: int):
    """`ops.power_iteration` run one step at a time in a `fori_loop`, so the traced graph (and XLA's compile
    time) does not grow with `power_iterations`; the result is that of `power_iteration(..., power_iterations)`."""
    v = ops.fori_loop(0, power_iterations, lambda _, v: power_iteration(operator, adjoint, v, 1)[2], v)
    return power_iteration(operator, adjoint, v, 0)


def check_ratio(ratio) -> float:
    """Checks a clamping ratio r > 1 (`inf` allowed: no clamping) and returns it as a float.

    Args:
        ratio: The received value.

    Returns:
        `ratio` as a float.

    Raises:
        ValueError: naming the received value, if it is not a number > 1.

    Example:
        >>> check_ratio(2)
        2.0
    """
    try:
        value = float(ratio)
    except (TypeError, ValueError):
        value = float("nan")
    if not value > 1.0:
        raise ValueError(f"`ratio` must be a number > 1 (or inf for a no-op). Received: ratio={ratio!r}")
    return value


def spectral_clamp_weights(w, ratio: float):
    """Lowers the top singular value of a kernel to at most `ratio` times the second: σ0 ← min(σ0, r·σ1).

    The kernel is read as the matrix (·, c_out) of `ops.kernel_matrix`; with its exact SVD the result is
    W − max(0, σ0 − r·σ1)·u0·v0ᵀ, which changes σ0 only. Kernels whose matrix has a dimension of 1 (a single
    singular value) are returned unchanged.

    Args:
        w: A kernel of rank ≥ 2 (Dense (in, out), Conv (kh, kw, c_in, c_out)).
        ratio: r ≥ 1.

    Returns:
        A tensor of the shape and dtype of `w`.

    Raises:
        ValueError: if `ratio` < 1.

    Example:
        >>> w = spectral_clamp_weights(np.diag([10.0, 2.0, 1.0]).astype("float32"), 2.0)
        >>> np.round(np.linalg.svd(np.asarray(w), compute_uv=False), 4)
        array([4., 2., 1.], dtype=float32)
    """
    ratio = check_float("ratio", ratio, minimum=1.0, inclusive=True)
    matrix = ops.cast(kernel_matrix(ops.convert_to_tensor(w)), "float32")
    if min(matrix.shape) < 2:
        return w
    u, s, vh = ops.svd(matrix, full_matrices=False)
    clamped = clamp_top_direction(matrix, s[0], s[1], u[:, :1], vh[:1, :], ratio)
    return ops.cast(ops.reshape(clamped, ops.shape(w)), w.dtype)
