"""Certified operator norms in NumPy float64: upper bounds that hold exactly, with no power iteration.

Power iteration converges to a top singular value from below, so a product of its estimates can sit under the
true Lipschitz constant. Everything here is an upper bound by construction:

* a matrix (a Dense kernel): its exact top singular value (LAPACK SVD);
* a small convolution: the exact top singular value of its explicit matrix;
* a larger convolution with zero padding, any stride and dilation, grouped or not (Conv1D/2D/3D, depthwise,
  separable through its equivalent kernel, the transposed convolution as the adjoint of one): the exact norm of a
  circular convolution that contains it. The zero-padded input is cut into its stride phases (a permutation),
  which turns the strided convolution into a stride-1 one on s₁·…·s_d times more channels; that convolution is a
  corner of the circular one on a torus of ⌈H_padded/s⌉ points per axis, where nothing wraps around. A circular
  convolution is diagonalized by the DFT (Sedghi, Gupta and Long, 2019), so its norm is the largest singular value
  of the kernel's Fourier transform over the torus' frequencies;
* average pooling (including Keras' border divisor under 'same' padding): the exact norm of the explicit
  separable averaging matrices.

Reference:
    Sedghi, Gupta and Long, "The Singular Values of Convolutional Layers", ICLR 2019.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

__all__ = ["matrix_norm", "conv_norm_bound", "depthwise_as_grouped", "separable_as_full", "average_pooling_norm"]

_PADDINGS = ("valid", "same", "causal")
# Operators whose explicit matrix has at most this many entries get their exact norm instead of the Fourier bound.
_EXPLICIT_LIMIT = 1_000_000


def matrix_norm(matrix) -> float:
    """Exact top singular value of a matrix (a kernel of rank > 2 is reshaped to (·, last axis)).

    Args:
        matrix: An array of rank ≥ 2.

    Returns:
        ‖matrix‖₂ as a float (0.0 for an empty matrix), from the top eigenvalue of the smaller Gram matrix.

    Example:
        >>> round(matrix_norm(np.diag([3.0, 1.0])), 12)
        3.0
    """
    m = np.asarray(matrix, dtype=np.float64)
    m = m.reshape(-1, m.shape[-1])
    return _top_singular_values(m) if m.size else 0.0


def _tuple(value, rank: int) -> tuple[int, ...]:
    if isinstance(value, (int, np.integer)):
        return (int(value),) * rank
    value = tuple(int(v) for v in value)
    if len(value) != rank:
        raise ValueError(f"Expected {rank} values, one per spatial axis. Received: {value}")
    return value


def _padded_length(size: int, length: int, stride: int, padding: str) -> int:
    """Length of the input after Keras' zero padding, so that the convolution is a 'valid' one on it."""
    if padding == "valid":
        return size
    if padding == "causal":
        return size + length - 1
    out = -(-size // stride)
    return size + max((out - 1) * stride + length - size, 0)


def _top_singular_values(blocks) -> float:
    """max over a batch of complex matrices (..., m, n) of the top singular value, via the smaller Gram matrix."""
    if blocks.shape[-1] > blocks.shape[-2]:
        blocks = np.swapaxes(blocks, -1, -2)
    blocks = np.ascontiguousarray(blocks)  # strided operands would make matmul skip BLAS
    gram = np.ascontiguousarray(np.conj(np.swapaxes(blocks, -1, -2))) @ blocks
    # The top eigenvalue of the Gram matrix is accurate to ~1e-16 relative (Weyl), like the SVD, and far cheaper.
    return float(np.sqrt(max(np.linalg.eigvalsh(gram).max(), 0.0)))


def conv_norm_bound(
    kernel,
    spatial_shape: Sequence[int],
    strides=1,
    padding: str = "valid",
    dilation_rate=1,
    groups: int = 1,
    *,
    explicit_limit: int | None = None,
) -> float:
    """A certified upper bound of a convolution's operator norm (its Toeplitz matrix's top singular value).

    Small operators (at most 10⁶ matrix entries) get the exact norm of their explicit matrix; larger ones the
    Fourier bound of the module docstring, which is within a few percent of the true norm once the input is a few
    kernel widths wide (zero padding makes the true norm smaller than the circular one).

    Args:
        kernel: Keras kernel (*kernel_size, c_in // groups, c_out), any number of spatial axes.
        spatial_shape: The input's spatial size (H,), (H, W) or (D, H, W).
        strides, dilation_rate: Per-axis ints or one int, as in `keras.layers.Conv*D`.
        padding: "valid", "same" or "causal" (1-D).
        groups: Channel groups (input and output channels split into `groups` contiguous blocks).
        explicit_limit: Largest explicit matrix (entries) solved exactly (default 10⁶); 0 always uses the Fourier
            bound.

    Returns:
        A float ≥ ‖T_K‖₂ (0.0 if the output is empty).

    Raises:
        ValueError: for an unknown padding or mismatched ranks.

    Example:
        >>> k = np.zeros((3, 3, 1, 1)); k[1, 1] = 2.0            # 2 · identity
        >>> conv_norm_bound(k, (5, 5), padding="same")
        2.0
    """
    if padding not in _PADDINGS:
        raise ValueError(f"`padding` must be one of {_PADDINGS}. Received: padding={padding!r}")
    kernel = np.asarray(kernel, dtype=np.float64)
    rank = kernel.ndim - 2
    spatial = _tuple(spatial_shape, rank)
    strides, dilation = _tuple(strides, rank), _tuple(dilation_rate, rank)
    c_in_group, c_out = kernel.shape[-2:]
    # Dilation: the equivalent dense kernel with zeros between the taps.
    lengths = tuple((k - 1) * d + 1 for k, d in zip(kernel.shape[:rank], dilation))
    dense = np.zeros(lengths + (c_in_group, c_out))
    dense[tuple(slice(None, None, d) for d in dilation)] = kernel
    padded = [_padded_length(n, n_k, s, padding) for n, n_k, s in zip(spatial, lengths, strides)]
    if any(p < n_k for p, n_k in zip(padded, lengths)):
        return 0.0  # no output position
    outputs = tuple((p - n_k) // s + 1 for p, n_k, s in zip(padded, lengths, strides))
    explicit_limit = _EXPLICIT_LIMIT if explicit_limit is None else explicit_limit
    phases = tuple(-(-n_k // s) for n_k, s in zip(lengths, strides))  # taps per phase, B = ⌈L/s⌉
    # With one tap per phase the Fourier spectrum is constant and the bound below is exact.
    size = math.prod(spatial) * math.prod(outputs) * c_in_group * c_out
    if size <= explicit_limit and any(b > 1 for b in phases):  # small operator: its explicit matrix's norm
        before = tuple(0 if padding == "valid" else p - n if padding == "causal" else (p - n) // 2
                       for p, n in zip(padded, spatial))
        return _explicit_conv_norm(dense, spatial, outputs, strides, before, groups)
    torus = tuple(-(-p // s) for p, s in zip(padded, strides))  # J = ⌈H_padded/s⌉ ≥ B
    # Polyphase kernel K'[b, p] = K[s·b + p]: axes (B₁, s₁, …, B_d, s_d, c_in/g, c_out).
    dense = np.pad(dense, [(0, b * s - n_k) for b, s, n_k in zip(phases, strides, lengths)] + [(0, 0)] * 2)
    dense = dense.reshape(sum(((b, s) for b, s in zip(phases, strides)), ()) + (c_in_group, c_out))
    order = tuple(range(0, 2 * rank, 2)) + tuple(range(1, 2 * rank, 2)) + (2 * rank, 2 * rank + 1)
    dense = dense.transpose(order)  # (B…, s…, c_in/g, c_out)
    n_phase = int(np.prod(strides))
    dense = dense.reshape(phases + (n_phase, c_in_group, groups, c_out // groups))
    if all(b == 1 for b in phases):
        spectrum = dense.reshape((1, n_phase, c_in_group, groups, c_out // groups))  # constant over frequencies
    else:
        spectrum = np.fft.rfftn(dense, s=torus, axes=tuple(range(rank)))
        spectrum = spectrum.reshape((-1, n_phase, c_in_group, groups, c_out // groups))
    # One (s·c_in/g) × (c_out/g) matrix per frequency and group.
    blocks = spectrum.transpose(0, 3, 1, 2, 4).reshape(spectrum.shape[0], groups, n_phase * c_in_group, -1)
    return _top_singular_values(blocks)


def _explicit_conv_norm(kernel, spatial, outputs, strides, before, groups: int) -> float:
    """Exact norm of a (dense, undilated) convolution from its explicit matrix, one block per group."""
    rank = len(spatial)
    c_in_group, c_out = kernel.shape[-2:]
    out_idx = np.stack(np.meshgrid(*[np.arange(o) for o in outputs], indexing="ij"), -1).reshape(-1, rank)
    matrix = np.zeros((len(out_idx), math.prod(spatial), groups, c_out // groups, c_in_group))
    blocks = kernel.reshape(kernel.shape[:rank] + (c_in_group, groups, c_out // groups)).transpose(
        tuple(range(rank)) + (rank + 1, rank + 2, rank))  # (taps…, groups, c_out/g, c_in/g)
    for tap in np.ndindex(*kernel.shape[:rank]):
        pos = out_idx * np.array(strides) + np.array(tap) - np.array(before)
        valid = np.all((pos >= 0) & (pos < np.array(spatial)), axis=1)
        flat = np.ravel_multi_index(tuple(pos[valid].T), spatial) if valid.any() else np.zeros(0, int)
        matrix[np.nonzero(valid)[0], flat] += blocks[tap]  # each output meets one input per tap
    matrix = matrix.transpose(2, 0, 3, 1, 4).reshape(groups, len(out_idx) * (c_out // groups), -1)
    return _top_singular_values(matrix)


def depthwise_as_grouped(kernel):
    """A depthwise kernel (*k, c_in, multiplier) as the grouped kernel (*k, 1, c_in·multiplier), groups = c_in.

    Args:
        kernel: A depthwise kernel.

    Returns:
        The same operator as a grouped convolution kernel (output channel c·multiplier + j, as Keras orders them).

    Example:
        >>> depthwise_as_grouped(np.zeros((3, 3, 4, 2))).shape
        (3, 3, 1, 8)
    """
    kernel = np.asarray(kernel)
    return kernel.reshape(kernel.shape[:-2] + (1, kernel.shape[-2] * kernel.shape[-1]))


def separable_as_full(depthwise_kernel, pointwise_kernel):
    """The full kernel (*k, c_in, c_out) of a separable convolution (depthwise, then 1×1 pointwise).

    Args:
        depthwise_kernel: (*k, c_in, multiplier).
        pointwise_kernel: (1, …, 1, c_in·multiplier, c_out).

    Returns:
        K[a, i, o] = Σ_j D[a, i, j] · P[i·multiplier + j, o].

    Example:
        >>> separable_as_full(np.ones((3, 3, 2, 1)), np.ones((1, 1, 2, 4))).shape
        (3, 3, 2, 4)
    """
    d = np.asarray(depthwise_kernel, dtype=np.float64)
    c_in, mult = d.shape[-2:]
    p = np.asarray(pointwise_kernel, dtype=np.float64).reshape(c_in, mult, -1)
    return np.einsum("...ij,ijo->...io", d, p)


def _average_matrix(size: int, pool: int, stride: int, padding: str) -> np.ndarray:
    """Explicit 1-D average-pooling matrix; 'same' divides by the number of in-range taps, as Keras does."""
    out = (size - pool) // stride + 1 if padding == "valid" else -(-size // stride)
    top = max((out - 1) * stride + pool - size, 0) // 2 if padding == "same" else 0
    matrix = np.zeros((max(out, 0), size))
    for i in range(max(out, 0)):
        lo, hi = max(i * stride - top, 0), min(i * stride - top + pool, size)
        matrix[i, lo:hi] = 1.0 / (hi - lo)
    return matrix


def average_pooling_norm(spatial_shape: Sequence[int], pool_size, strides, padding: str = "valid") -> float:
    """Exact L2 operator norm of k-D average pooling on one channel (the same on every channel).

    The operator is a Kronecker product of 1-D averaging matrices, and ‖A ⊗ B‖ = ‖A‖·‖B‖.

    Args:
        spatial_shape: The input's spatial size.
        pool_size, strides: Per-axis ints or one int.
        padding: "valid" or "same".

    Returns:
        The norm (e.g. 1/2 for 2×2 pooling with stride 2 on an even grid).

    Example:
        >>> round(average_pooling_norm((4, 4), 2, 2), 6)
        0.5
    """
    rank = len(spatial_shape)
    norms = [
        np.linalg.norm(_average_matrix(n, p, s, padding), 2) if n else 0.0
        for n, p, s in zip(spatial_shape, _tuple(pool_size, rank), _tuple(strides, rank))
    ]
    return float(math.prod(norms))
