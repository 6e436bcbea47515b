"""Orthonormal Dense layer: the kernel used is the Björck orthonormalization of the trainable kernel.

Björck and Bowie's iteration drives every singular value of a matrix W to 1 while keeping its singular vectors,
converging to W (WᵀW)^(-1/2), the closest matrix with orthonormal columns (rows, for a wide matrix). Order p
truncates the binomial series (1 − Q)^(-1/2) = Σ_k binom(2k, k)/4^k · Q^k after p terms, Q = I − WᵀW:

    W ← W (I + ½ Q + ⅜ Q² + …)          (order 1 is W ← W (3/2 I − ½ WᵀW))

The iteration converges when every singular value lies in (0, 1]: then each step raises it towards 1 without
overshooting. So W is first divided by an upper bound of σ_max(W), the smaller of ‖W‖_F and √(‖W‖₁‖W‖_∞).
The iterations run inside `call()`, so gradients flow through them into the unconstrained kernel (Anil et al.).

Reference:
    Björck and Bowie, "An iterative algorithm for computing the best estimate of an orthogonal matrix",
    SIAM J. Numer. Anal. 8(2), 1971.
    Anil, Lucas and Grosse, "Sorting out Lipschitz function approximation", ICML 2019.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from tf_lipschitz.foundations.validation import check_int
from tf_lipschitz.layers.base import LipschitzLayer
from tf_lipschitz.ops.layer_norms import activation_bound

__all__ = ["OrthonormalDense", "bjorck_orthonormalize", "sigma_max_bound"]


def sigma_max_bound(w):
    """An upper bound of the top singular value of a matrix: min(‖W‖_F, √(‖W‖₁·‖W‖_∞)).

    Args:
        w: A 2-D tensor.

    Returns:
        A scalar tensor ≥ σ_max(w).

    Example:
        >>> round(float(sigma_max_bound(np.diag([3.0, 4.0]).astype("float32"))), 4)
        4.0
    """
    w = ops.convert_to_tensor(w)
    frobenius = ops.sqrt(ops.sum(ops.square(w)))
    absolute = ops.abs(w)
    l1_linf = ops.sqrt(ops.max(ops.sum(absolute, axis=0)) * ops.max(ops.sum(absolute, axis=1)))
    return ops.minimum(frobenius, l1_linf)


def _series_coefficients(order: int) -> list[float]:
    """binom(2k, k) / 4^k for k = 1..order: the Taylor coefficients of (1 − q)^(-1/2)."""
    return [math.comb(2 * k, k) / 4.0**k for k in range(1, order + 1)]


def bjorck_orthonormalize(w, iterations: int = 20, order: int = 1):
    """Björck orthonormalization of a matrix, differentiable, after scaling it by `sigma_max_bound`.

    For an (m, n) matrix with m ≥ n the columns become orthonormal, for m < n the rows: in both cases all
    min(m, n) singular values converge to 1 and the singular vectors are kept.

    Args:
        w: A 2-D float tensor.
        iterations: Number of Björck steps (≥ 1). Small singular values grow by about 1.5× per order-1 step
            until they approach 1, so ill-conditioned matrices need more steps.
        order: Terms of the series per step (≥ 1); higher orders converge in fewer, costlier steps.

    Returns:
        A tensor of the shape of `w`.

    Raises:
        ValueError: if `w` is not 2-D, or `iterations` or `order` < 1.

    Example:
        >>> q = bjorck_orthonormalize(np.array([[2.0, 1.0], [0.0, 1.0]], "float32"), iterations=30)
        >>> np.round(np.linalg.svd(np.asarray(q), compute_uv=False), 4)
        array([1., 1.], dtype=float32)
    """
    iterations = check_int("iterations", iterations)
    coefficients = _series_coefficients(check_int("order", order))
    w = ops.convert_to_tensor(w)
    if len(w.shape) != 2:
        raise ValueError(f"bjorck_orthonormalize needs a 2-D matrix. Received shape {tuple(w.shape)}")
    wide = w.shape[0] < w.shape[1]
    if wide:  # orthonormalize the rows: the same iteration on the transpose
        w = ops.transpose(w)
    w = w / ops.maximum(sigma_max_bound(w), 1e-12)
    eye = ops.eye(w.shape[1], dtype=w.dtype)
    for _ in range(iterations):
        q = eye - ops.matmul(ops.transpose(w), w)
        series = coefficients[-1] * q  # Horner: c1 Q + c2 Q² + … + cp Q^p
        for c in reversed(coefficients[:-1]):
            series = ops.matmul(c * eye + series, q)
        w = w + ops.matmul(w, series)
    return ops.transpose(w) if wide else w


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class OrthonormalDense(LipschitzLayer, keras.layers.Dense):
    """Dense layer whose kernel is the Björck orthonormalization of its trainable kernel (all σ = 1).

    With units = input dimension the linear map is orthogonal: it preserves norms and gradient norms. With fewer
    units it is a projection (1-Lipschitz), with more an isometry. The orthonormalization runs in every call
    (training and inference) with gradients through the iterations; the kernel starts orthogonal.

    Args:
        units: Output dimension.
        iterations: Björck steps per call (≥ 1).
        order: Series terms per step (≥ 1).
        **kwargs: Any `keras.layers.Dense` argument (activation, use_bias, initializers, …); the kernel
            initializer defaults to "orthogonal".

    Raises:
        ValueError: if `iterations` or `order` < 1.

    Example:
        >>> layer = OrthonormalDense(4, iterations=30)
        >>> y = layer(np.ones((2, 4), "float32"))
        >>> np.round(np.linalg.svd(np.asarray(layer.orthonormal_kernel()), compute_uv=False), 4)
        array([1., 1., 1., 1.], dtype=float32)

    Reference:
        Anil, Lucas and Grosse, "Sorting out Lipschitz function approximation", ICML 2019.
    """

    def __init__(self, units: int, iterations: int = 20, order: int = 1, **kwargs):
        self.iterations = check_int("iterations", iterations)
        self.order = check_int("order", order)
        kwargs.setdefault("kernel_initializer", "orthogonal")
        super().__init__(units, **kwargs)

    def add_weight(self, *args, **kwargs):
        # The iteration runs in float32 even under mixed precision; its result is cast to the compute dtype.
        if kwargs.get("name") == "kernel":
            kwargs["autocast"] = False
        return super().add_weight(*args, **kwargs)

    def orthonormal_kernel(self):
        """The kernel actually used, in float32.

        Returns:
            A tensor of shape (input_dim, units) whose singular values are all ≈ 1.
        """
        return bjorck_orthonormalize(ops.cast(self.kernel, "float32"), self.iterations, self.order)

    def call(self, inputs, training=None):
        outputs = ops.matmul(inputs, ops.cast(self.orthonormal_kernel(), self.compute_dtype))
        if self.bias is not None:
            outputs = ops.add(outputs, self.bias)
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def lipschitz_bound(self) -> float:
        """σ_max of the orthonormalized kernel (exact SVD, ≈ 1) times the activation's constant."""
        kernel = np.asarray(ops.convert_to_numpy(self.orthonormal_kernel()), np.float64)
        return float(np.linalg.svd(kernel, compute_uv=False)[0]) * activation_bound(self.activation)

    def export_plain(self) -> keras.layers.Layer:
        """A built `keras.layers.Dense` with the orthonormalized kernel baked in (same bias and activation).

        Returns:
            A plain Dense computing the same function.
        """
        config = self.get_config()
        for key in ("iterations", "order"):
            config.pop(key)
        plain = keras.layers.Dense.from_config(config)
        plain.build((None, int(self.kernel.shape[0])))
        weights = [ops.convert_to_numpy(self.orthonormal_kernel())]
        if self.bias is not None:
            weights.append(ops.convert_to_numpy(self.bias))
        plain.set_weights(weights)
        return plain

    def get_config(self) -> dict:
        return {**super().get_config(), "iterations": self.iterations, "order": self.order}
