"""Spectral-normalized Dense and Conv2D: kernel used = k_sn · W / σ(W).

σ(W) is the top singular value of the kernel matrix (a conv kernel reshaped to (kh·kw·c_in, c_out)),
estimated by a power iteration whose state persists across steps (see `tf_lipschitz.layers.base`).
Unlike `keras.layers.SpectralNormalization`, the kernel variable is never overwritten: gradients flow
through σ, and inference applies the stored normalization without re-normalizing.

For a convolution the reshaped-kernel norm is not the operator norm: the layer's true Lipschitz constant
can exceed `k_sn` by up to √n (n = ⌈kh/sh⌉·⌈kw/sw⌉, Tsuzuku et al.). Use `ToeplitzNormConv2D` for an
exact bound.

Reference:
    Miyato et al., "Spectral Normalization for Generative Adversarial Networks", ICLR 2018.
    "How does Lipschitz regularization influence GAN training?" (k_SN, Eq. 1).
"""

from __future__ import annotations

import keras
from keras import ops

from tf_lipschitz import ops as lip_ops
from tf_lipschitz.layers.base import NormalizedKernelMixin
from tf_lipschitz.layers.export import PlainExportMixin
from tf_lipschitz.ops import certified
from tf_lipschitz.ops.layer_norms import as_float64

__all__ = ["SpectralNormDense", "SpectralNormConv2D"]


class _ReshapedKernelNorm(PlainExportMixin, NormalizedKernelMixin):
    """σ of the kernel matrix (·, out): the state is a vector over the output units."""

    def _operators(self, kernel):
        matrix = lip_ops.kernel_matrix(kernel)
        return (
            lambda v: ops.matmul(matrix, v),
            lambda u: ops.matmul(ops.transpose(matrix), u),
        )

    def _vector_shape(self, input_shape):
        return (int(self.kernel.shape[-1]), 1)

    def build(self, input_shape):
        super().build(input_shape)
        self._build_power_iteration(input_shape)

    def get_config(self):
        return {**super().get_config(), **self._normalization_config()}


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class SpectralNormDense(_ReshapedKernelNorm, keras.layers.Dense):
    """Dense layer whose kernel is k_sn · W / σ(W), so the linear map has spectral norm k_sn.

    Args:
        units: Output dimension.
        k_sn: Target spectral norm of the kernel (> 0); the layer is k_sn-Lipschitz before its activation.
        power_iterations: Power-iteration steps per training update (≥ 1).
        **kwargs: Any `keras.layers.Dense` argument (activation, use_bias, initializers, …).

    Raises:
        ValueError: if `k_sn` ≤ 0 or `power_iterations` < 1.

    Example:
        >>> import numpy as np
        >>> layer = SpectralNormDense(8, k_sn=1.0)
        >>> y = layer(np.ones((2, 4), "float32"), training=True)
        >>> y.shape
        TensorShape([2, 8])

    Reference:
        Miyato et al., "Spectral Normalization for Generative Adversarial Networks", ICLR 2018.
    """

    def __init__(self, units: int, k_sn: float = 1.0, power_iterations: int = 1, **kwargs):
        self._init_normalization(k_sn, power_iterations)
        super().__init__(units, **kwargs)

    def call(self, inputs, training=None):
        return self._add_bias_and_activate(ops.matmul(inputs, self.normalized_kernel(bool(training))))

    plain_class = keras.layers.Dense

    def lipschitz_bound(self) -> float:
        """‖normalized kernel‖₂ by SVD times the activation's constant: exact, ≈ k_sn once converged.

        Returns:
            A float.
        """
        return super().lipschitz_bound()


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class SpectralNormConv2D(_ReshapedKernelNorm, keras.layers.Conv2D):
    """Conv2D whose kernel is k_sn · W / σ(R_W), with R_W the kernel reshaped to (kh·kw·c_in, c_out).

    Args:
        filters: Number of output channels.
        kernel_size: int or (kh, kw).
        k_sn: Target spectral norm of the reshaped kernel (> 0).
        power_iterations: Power-iteration steps per training update (≥ 1).
        **kwargs: Any `keras.layers.Conv2D` argument (strides, padding, activation, …).

    Raises:
        ValueError: if `k_sn` ≤ 0, `power_iterations` < 1, or the padding is unknown.

    Example:
        >>> import numpy as np
        >>> layer = SpectralNormConv2D(4, 3, k_sn=1.0, padding="same")
        >>> layer(np.ones((1, 8, 8, 3), "float32")).shape
        TensorShape([1, 8, 8, 4])

    Reference:
        Miyato et al., "Spectral Normalization for Generative Adversarial Networks", ICLR 2018.
    """

    def __init__(self, filters: int, kernel_size, k_sn: float = 1.0, power_iterations: int = 1, **kwargs):
        self._init_normalization(k_sn, power_iterations)
        super().__init__(filters, kernel_size, **kwargs)
        lip_ops.check_padding(self.padding)

    def call(self, inputs, training=None):
        kernel = self.normalized_kernel(bool(training))
        return self._add_bias_and_activate(self.convolution_op(inputs, kernel))

    plain_class = keras.layers.Conv2D

    def lipschitz_bound(self) -> float:
        """min(√n · σ(R_W), certified Fourier bound on the built input shape) times the activation's constant.

        √n · σ(R_W) (Tsuzuku et al., ≈ √n · k_sn) holds for any input size; the Fourier bound
        (`tf_lipschitz.ops.certified.conv_norm_bound`) is usually much tighter. Both use the exact σ of the
        normalized kernel, so the bound holds before the power iteration converges.

        Returns:
            A float.
        """
        kernel = as_float64(self.normalized_kernel(training=False))
        reshaped = certified.matrix_norm(kernel) * lip_ops.reshaped_kernel_factor(self.kernel_size, self.strides)
        return min(reshaped * self._activation_bound(), super().lipschitz_bound())
