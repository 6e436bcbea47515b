"""Power iteration and operator norms: the one power-iteration helper of the library.

Every layer and callback that needs a top singular value goes through `power_iteration`:
the spectral-normalized layers on the reshaped kernel, the Toeplitz-normalized convolution on
the convolution operator itself, and the spectral gradient clamp on weight gradients.

Reference:
    Miyato et al., "Spectral Normalization for Generative Adversarial Networks", ICLR 2018.
    Tsuzuku, Sato and Sugiyama, "Lipschitz-Margin Training", NeurIPS 2018.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import ops

__all__ = [
    "l2_normalize",
    "check_power_iterations",
    "check_padding",
    "check_pair",
    "power_iteration",
    "spectral_norm",
    "conv_operator_norm",
    "conv_transpose",
    "conv_operator",
    "linear_adjoint",
    "reshaped_kernel_bound",
    "reshaped_kernel_factor",
    "kernel_matrix",
]

_EPS = 1e-12
VALID_PADDINGS = ("valid", "same")


def l2_normalize(x, axis=None):
    """Scales `x` to unit L2 norm (over `axis`, all axes by default); zero stays zero, never NaN.

    Args:
        x: A tensor.
        axis: Axes to normalize over; `None` normalizes the whole tensor.

    Returns:
        `x / max(||x||, 1e-12)`.

    Example:
        >>> round(float(ops.norm(l2_normalize(ops.ones((3,))))), 6)
        1.0
    """
    norm = ops.sqrt(ops.sum(ops.square(x), axis=axis, keepdims=axis is not None))
    return x / ops.maximum(norm, _EPS)


def power_iteration(
    operator: Callable,
    adjoint: Callable,
    v,
    power_iterations: int = 1,
):
    """Runs `power_iterations` steps of v ← A*(A v)/‖A*(A v)‖ and returns (sigma, u, v).

    `operator` (A) and `adjoint` (A*) may be a matrix product or a convolution and its transpose:
    this is the single power-iteration routine the library uses.

    Args:
        operator: Callable applying the linear map A to a tensor shaped like `v`.
        adjoint: Callable applying the adjoint A* to a tensor shaped like `operator(v)`.
        v: Starting vector in the domain of A (any shape; need not be normalized).
        power_iterations: Number of steps, ≥ 0. With 0, `v` is only normalized.

    Returns:
        `(sigma, u, v)`: `v` unit in the domain, `u = A v / ‖A v‖` unit in the codomain and
        `sigma = ‖A v‖`, the current estimate of the top singular value (a lower bound).

    Raises:
        ValueError: if `power_iterations` is negative.

    Example:
        >>> w = ops.convert_to_tensor([[3.0, 0.0], [0.0, 1.0]])
        >>> sigma, u, v = power_iteration(lambda v: ops.matmul(w, v),
        ...                               lambda u: ops.matmul(ops.transpose(w), u),
        ...                               ops.ones((2, 1)), power_iterations=20)
        >>> round(float(sigma), 4)
        3.0
    """
    check_power_iterations(power_iterations, minimum=0)
    v = l2_normalize(v)
    for _ in range(power_iterations):
        v = l2_normalize(adjoint(l2_normalize(operator(v))))
    av = operator(v)
    sigma = ops.sqrt(ops.sum(ops.square(av)))
    return sigma, l2_normalize(av), v


def check_power_iterations(power_iterations, minimum: int = 1) -> int:
    """Validates a number of power-iteration steps: every layer, penalty and callback uses this check.

    Args:
        power_iterations: The value to check.
        minimum: The smallest allowed value (0 where only normalizing the start vector makes sense).

    Returns:
        `power_iterations` as a Python int.

    Raises:
        ValueError: for a non-integer (bools included) or a value below `minimum`.

    Example:
        >>> check_power_iterations(3)
        3
    """
    if isinstance(power_iterations, bool) or not isinstance(power_iterations, (int, np.integer)) \
            or power_iterations < minimum:
        raise ValueError(
            f"`power_iterations` must be an integer >= {minimum}. Received: power_iterations={power_iterations!r}"
        )
    return int(power_iterations)


def kernel_matrix(kernel):
    """Reshapes a Dense (in, out) or Conv (kh, kw, c_in, c_out) kernel to the 2-D matrix (·, out).

    Args:
        kernel: A kernel of rank ≥ 2 whose last axis is the output channels.

    Returns:
        The matrix R_K of shape (prod(kernel.shape[:-1]), kernel.shape[-1]).

    Raises:
        ValueError: if `kernel` has rank < 2.

    Example:
        >>> tuple(kernel_matrix(ops.zeros((3, 3, 4, 8))).shape)
        (36, 8)
    """
    shape = tuple(kernel.shape)
    if len(shape) < 2:
        raise ValueError(f"A kernel must have rank >= 2. Received a kernel of shape {shape}")
    return ops.reshape(kernel, (-1, shape[-1]))


def spectral_norm(matrix, *, power_iterations: int = 20, v=None, seed: int | None = None):
    """Top singular value of a matrix (or of a kernel reshaped by `kernel_matrix`) by power iteration.

    Args:
        matrix: A tensor of rank ≥ 2; ranks > 2 are reshaped to (·, last axis).
        power_iterations: Number of power-iteration steps (≥ 1).
        v: Optional start vector of shape (n, 1) with n the number of columns; random otherwise.
        seed: Seed of the random start vector.

    Returns:
        `(sigma, u, v)` with `matrix @ v ≈ sigma * u`, u of shape (m, 1) and v of shape (n, 1).

    Raises:
        ValueError: for rank < 2 or `power_iterations` < 1.

    Example:
        >>> sigma, _, _ = spectral_norm(np.diag([2.0, 1.0]).astype("float32"), power_iterations=30)
        >>> round(float(sigma), 4)
        2.0
    """
    check_power_iterations(power_iterations)
    w = kernel_matrix(ops.convert_to_tensor(matrix))
    if v is None:
        v = keras.random.normal((w.shape[-1], 1), seed=seed, dtype=w.dtype)
    return power_iteration(
        lambda x: ops.matmul(w, x), lambda y: ops.matmul(ops.transpose(w), y), v, power_iterations
    )


def check_pair(value, name: str) -> tuple[int, int]:
    """A convolution's or pooling's size argument as a pair of positive ints (an int is used for both axes).

    Args:
        value: An int or a pair of ints.
        name: The argument's name, for the message.

    Returns:
        A tuple of two ints.

    Raises:
        ValueError: naming the argument, for anything else.

    Example:
        >>> check_pair(2, "strides"), check_pair((1, 3), "pool_size")
        ((2, 2), (1, 3))
    """
    if isinstance(value, (int, np.integer)):
        value = (int(value), int(value))
    value = tuple(int(x) for x in value)
    if len(value) != 2 or min(value) < 1:
        raise ValueError(f"`{name}` must be a positive int or a pair of them. Received: {name}={value}")
    return value


def check_padding(padding: str) -> str:
    """Validates a convolution's padding for the operators of this module ("valid" or "same", any case).

    Args:
        padding: The received padding.

    Returns:
        The padding in lower case.

    Raises:
        ValueError: for any other padding.

    Example:
        >>> check_padding("SAME")
        'same'
    """
    padding = str(padding).lower()
    if padding not in VALID_PADDINGS:
        raise ValueError(f"`padding` must be one of {VALID_PADDINGS}. Received: padding={padding!r}")
    return padding


def linear_adjoint(operator: Callable, input_shape: Sequence[int], dtype="float32") -> Callable:
    """The adjoint A* of a linear map A, as the gradient y ↦ ∇ₓ⟨A x, y⟩ (which does not depend on x).

    Works for any linear TensorFlow computation, so every convolution type gets its exact transpose from the
    same kernels TensorFlow uses for training: no transposed-convolution op is called directly (TF's
    `conv2d_transpose` with dilation is not implemented on some CPUs).

    Args:
        operator: Callable applying A to a tensor of shape `input_shape`.
        input_shape: The fully defined shape of A's input.
        dtype: The input's dtype.

    Returns:
        A callable `adjoint(y)` returning A* y, shaped like the input.

    Example:
        >>> w = tf.constant([[1.0, 2.0], [3.0, 4.0]])
        >>> adjoint = linear_adjoint(lambda x: tf.matmul(w, x), (2, 1))
        >>> np.asarray(adjoint(tf.ones((2, 1)))).ravel().tolist()
        [4.0, 6.0]
    """
    shape = tuple(int(d) for d in input_shape)

    def adjoint(y):
        x = tf.zeros(shape, dtype)
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = operator(x)
        return tape.gradient(out, x, output_gradients=tf.cast(y, out.dtype))

    return adjoint


def conv_transpose(y, kernel, input_shape, strides=1, padding="same", dilation_rate=1):
    """Adjoint of the channels_last 2-D convolution on `input_shape`: the transposed Toeplitz matrix applied to y.

    Computed as the gradient of `tf.nn.convolution` (see `linear_adjoint`), which handles dilation on every CPU.

    Args:
        y: Output-space tensor (N, H', W', c_out).
        kernel: (kh, kw, c_in, c_out) kernel.
        input_shape: (N, H, W, c_in) of the convolution's input.
        strides, padding, dilation_rate: as in `keras.layers.Conv2D`.

    Returns:
        Tensor of shape `input_shape`, equal to Tᵀ y.

    Example:
        >>> k = ops.ones((3, 3, 1, 1))
        >>> conv_transpose(ops.ones((1, 4, 4, 1)), k, (1, 4, 4, 1)).shape
        TensorShape([1, 4, 4, 1])
    """
    _, adjoint = conv_operator(kernel, input_shape, strides, padding, dilation_rate)
    return adjoint(y)


def conv_operator(kernel, input_shape, strides=1, padding="same", dilation_rate=1):
    """Returns `(operator, adjoint)` callables of the 2-D convolution with `kernel` on `input_shape`.

    Always channels_last, whatever `keras.config.image_data_format()` says: both callables use the same layout.

    Args:
        kernel: (kh, kw, c_in, c_out) kernel.
        input_shape: (N, H, W, c_in), fully defined.
        strides, padding, dilation_rate: as in `keras.layers.Conv2D` ('same' or 'valid').

    Returns:
        `(operator, adjoint)`, with `adjoint` the exact transpose of `operator`.

    Raises:
        ValueError: for an unknown padding or invalid strides/dilation.

    Example:
        >>> op, adj = conv_operator(ops.ones((3, 3, 1, 2)), (1, 5, 5, 1))
        >>> tuple(op(ops.ones((1, 5, 5, 1))).shape), tuple(adj(ops.ones((1, 5, 5, 2))).shape)
        ((1, 5, 5, 2), (1, 5, 5, 1))
    """
    strides = check_pair(strides, "strides")
    dilation_rate = check_pair(dilation_rate, "dilation_rate")
    padding = check_padding(padding).upper()

    def operator(x):
        return tf.nn.convolution(
            x, tf.cast(kernel, x.dtype), strides=strides, padding=padding, dilations=dilation_rate, data_format="NHWC"
        )

    return operator, linear_adjoint(operator, input_shape, kernel.dtype)


def conv_operator_norm(
    kernel,
    input_shape: Sequence[int],
    strides=1,
    padding: str = "same",
    dilation_rate=1,
    *,
    power_iterations: int = 100,
    seed: int | None = None,
):
    """True operator norm (top singular value of the Toeplitz matrix) of a 2-D convolution.

    Power iteration with the convolution and its transpose (the "Toeplitz normalization" of Sargent's poster),
    on the actual input shape, strides, padding and dilation.

    Args:
        kernel: (kh, kw, c_in, c_out) kernel.
        input_shape: (H, W, c_in) or (N, H, W, c_in); only one sample is used.
        strides, padding, dilation_rate: as in `keras.layers.Conv2D` ('same' or 'valid').
        power_iterations: Number of power-iteration steps (≥ 1).
        seed: Seed of the random start vector.

    Returns:
        A scalar tensor, the estimate of ‖T_K‖₂ (a lower bound that converges from below).

    Raises:
        ValueError: for a kernel that is not rank 4, an unknown padding, or `power_iterations` < 1.

    Example:
        >>> k = np.ones((3, 3, 1, 1), "float32")
        >>> 8.5 < float(conv_operator_norm(k, (16, 16, 1), padding="valid", power_iterations=200)) <= 9.0
        True
    """
    check_power_iterations(power_iterations)
    kernel = ops.convert_to_tensor(kernel)
    if len(kernel.shape) != 4:
        raise ValueError(f"A Conv2D kernel must have rank 4. Received a kernel of shape {tuple(kernel.shape)}")
    shape = tuple(input_shape)
    shape = (1,) + tuple(int(d) for d in (shape if len(shape) == 3 else shape[1:]))  # any batch size, even None
    if shape[-1] != kernel.shape[2]:
        raise ValueError(f"input_shape {tuple(input_shape)} has {shape[-1]} channels; the kernel expects {kernel.shape[2]}")
    operator, adjoint = conv_operator(kernel, shape, strides, padding, dilation_rate)
    v = keras.random.normal(shape, seed=seed, dtype=kernel.dtype)
    sigma, _, _ = power_iteration(operator, adjoint, v, power_iterations)
    return sigma


def reshaped_kernel_factor(kernel_size, strides=1) -> float:
    """√n of Tsuzuku et al.: n = ⌈kh/sh⌉·⌈kw/sw⌉, the most output positions one input pixel feeds.

    Args:
        kernel_size: int or (kh, kw).
        strides: int or (sh, sw).

    Returns:
        The factor √n with ‖T_K‖₂ ≤ √n · σ(R_K).

    Example:
        >>> reshaped_kernel_factor(3)
        3.0
    """
    kh, kw = check_pair(kernel_size, "kernel_size")
    sh, sw = check_pair(strides, "strides")
    return math.sqrt(math.ceil(kh / sh) * math.ceil(kw / sw))


def reshaped_kernel_bound(kernel, strides=1, *, power_iterations: int = 50):
    """The cheap upper bound √n · σ(R_K) on a convolution's operator norm (Tsuzuku et al., 2018).

    Args:
        kernel: (kh, kw, c_in, c_out) kernel.
        strides: int or pair, as in `keras.layers.Conv2D`.
        power_iterations: Power-iteration steps for σ(R_K).

    Returns:
        A scalar tensor ≥ the true operator norm (up to power-iteration convergence).

    Raises:
        ValueError: for a kernel that is not rank 4.

    Example:
        >>> round(float(reshaped_kernel_bound(np.ones((3, 3, 1, 1), "float32"))), 3)
        9.0
    """
    kernel = ops.convert_to_tensor(kernel)
    if len(kernel.shape) != 4:
        raise ValueError(f"A Conv2D kernel must have rank 4. Received a kernel of shape {tuple(kernel.shape)}")
    sigma, _, _ = spectral_norm(kernel, power_iterations=power_iterations)
    return sigma * reshaped_kernel_factor(kernel.shape[:2], strides)
