"""Toeplitz normalization of every convolution type: Conv1D/3D, depthwise, separable and transposed.

Each layer divides its kernel by the operator norm of its own linear map on its (static) input shape, estimated by
the library's power iteration with the layer's convolution as A and the gradient of it as A* (so strides, padding,
dilation, groups and data formats are those of the layer itself). The kernel used is k_sn · W / ‖A_W‖₂, so the layer
has Lipschitz constant k_sn before its activation once the power iteration has converged; `lipschitz_bound()` is the
certified bound of the current state (`tf_lipschitz.ops.certified`).

A separable convolution is normalized as one operator (depthwise then pointwise): its pointwise kernel is scaled,
its depthwise kernel is used as is. `ToeplitzNormConv2D` (in `toeplitz_norm.py`) is the 2-D member of the family.

Reference:
    K. Sargent, "Lipschitz Constraints in Wasserstein GANs" (poster, "Toeplitz normalization").
"""

from __future__ import annotations

import keras
from keras import ops

from tf_lipschitz import ops as lip_ops
from tf_lipschitz.layers.base import NormalizedKernelMixin
from tf_lipschitz.layers.export import PlainExportMixin

__all__ = [
    "ToeplitzNormConv1D",
    "ToeplitzNormConv3D",
    "ToeplitzNormDepthwiseConv2D",
    "ToeplitzNormSeparableConv2D",
    "ToeplitzNormConv2DTranspose",
]


class _OperatorNorm(PlainExportMixin, NormalizedKernelMixin):
    """Normalizes the layer's own linear map (`linear(inputs, kernel)`) by its norm on the built input shape."""

    def __init__(self, *args, k_sn: float = 1.0, power_iterations: int = 1, **kwargs):
        self._init_normalization(k_sn, power_iterations)
        super().__init__(*args, **kwargs)

    def build(self, input_shape):
        super().build(input_shape)
        self._build_power_iteration(input_shape)

    def scaled_variable(self):
        """The variable that normalization scales (the kernel; the pointwise kernel of a separable layer)."""
        return self.kernel

    def _kernel_float32(self):
        return ops.cast(self.scaled_variable(), "float32")

    def _vector_shape(self, input_shape):
        shape = tuple(input_shape)
        if any(d is None for d in shape[1:]):
            raise ValueError(
                f"{type(self).__name__} needs static input dimensions: the operator norm depends on the input "
                f"size. Received input_shape={shape}"
            )
        return (1,) + tuple(int(d) for d in shape[1:])

    def _operators(self, kernel):
        def operator(v):
            return self.linear(v, kernel)

        return operator, lip_ops.linear_adjoint(operator, self.power_iteration_vector.shape)

    def call(self, inputs, training=None):
        return self._add_bias_and_activate(self.linear(inputs, self.normalized_kernel(bool(training))))

    def get_config(self):
        return {**super().get_config(), **self._normalization_config()}


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class ToeplitzNormConv1D(_OperatorNorm, keras.layers.Conv1D):
    """Conv1D whose kernel is k_sn · W / ‖T_W‖₂ on the input length ('valid', 'same' or 'causal' padding).

    Args:
        filters, kernel_size: As in `keras.layers.Conv1D`.
        k_sn: Target operator norm (> 0).
        power_iterations: Power-iteration steps per training update (≥ 1).
        **kwargs: Any `keras.layers.Conv1D` argument.

    Raises:
        ValueError: if `k_sn` ≤ 0, `power_iterations` < 1, or the input length is not static.

    Example:
        >>> layer = ToeplitzNormConv1D(4, 3, k_sn=1.0, padding="causal")
        >>> layer(np.ones((2, 10, 3), "float32"), training=True).shape
        TensorShape([2, 10, 4])
    """

    plain_class = keras.layers.Conv1D

    def linear(self, inputs, kernel):
        """The convolution without bias or activation (causal padding pads the start of the sequence)."""
        padding = self.padding
        if padding == "causal":
            left = (self.kernel_size[0] - 1) * self.dilation_rate[0]
            time_axis = 1 if self.data_format == "channels_last" else 2
            pads = [[0, 0]] * 3
            pads[time_axis] = [left, 0]
            inputs, padding = ops.pad(inputs, pads), "valid"
        return ops.conv(inputs, kernel, strides=self.strides, padding=padding, dilation_rate=self.dilation_rate,
                        data_format=self.data_format)


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class ToeplitzNormConv3D(_OperatorNorm, keras.layers.Conv3D):
    """Conv3D whose kernel is k_sn · W / ‖T_W‖₂ on the input volume.

    Args:
        filters, kernel_size: As in `keras.layers.Conv3D`.
        k_sn: Target operator norm (> 0).
        power_iterations: Power-iteration steps per training update (≥ 1).
        **kwargs: Any `keras.layers.Conv3D` argument.

    Raises:
        ValueError: if `k_sn` ≤ 0, `power_iterations` < 1, or the input shape is not static.

    Example:
        >>> layer = ToeplitzNormConv3D(2, 3, padding="same")
        >>> layer(np.ones((1, 4, 4, 4, 1), "float32")).shape
        TensorShape([1, 4, 4, 4, 2])
    """

    plain_class = keras.layers.Conv3D

    def linear(self, inputs, kernel):
        """The convolution without bias or activation."""
        return self.convolution_op(inputs, kernel)


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class ToeplitzNormDepthwiseConv2D(_OperatorNorm, keras.layers.DepthwiseConv2D):
    """DepthwiseConv2D whose kernel is k_sn · W / ‖T_W‖₂ (the norm of all channels' convolutions together).

    Args:
        kernel_size: As in `keras.layers.DepthwiseConv2D`.
        k_sn: Target operator norm (> 0).
        power_iterations: Power-iteration steps per training update (≥ 1).
        **kwargs: Any `keras.layers.DepthwiseConv2D` argument (depth_multiplier, strides, padding, …).

    Raises:
        ValueError: if `k_sn` ≤ 0, `power_iterations` < 1, or the input shape is not static.

    Example:
        >>> layer = ToeplitzNormDepthwiseConv2D(3, padding="same")
        >>> layer(np.ones((1, 6, 6, 2), "float32")).shape
        TensorShape([1, 6, 6, 2])
    """

    plain_class = keras.layers.DepthwiseConv2D

    def linear(self, inputs, kernel):
        """The depthwise convolution without bias or activation."""
        return ops.depthwise_conv(inputs, kernel, strides=self.strides, padding=self.padding,
                                  dilation_rate=self.dilation_rate, data_format=self.data_format)


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class ToeplitzNormSeparableConv2D(_OperatorNorm, keras.layers.SeparableConv2D):
    """SeparableConv2D normalized as one operator: the pointwise kernel is scaled by k_sn / ‖T_{P∘D}‖₂.

    Args:
        filters, kernel_size: As in `keras.layers.SeparableConv2D`.
        k_sn: Target operator norm of depthwise-then-pointwise (> 0).
        power_iterations: Power-iteration steps per training update (≥ 1).
        **kwargs: Any `keras.layers.SeparableConv2D` argument.

    Raises:
        ValueError: if `k_sn` ≤ 0, `power_iterations` < 1, or the input shape is not static.

    Example:
        >>> layer = ToeplitzNormSeparableConv2D(4, 3, padding="same")
        >>> layer(np.ones((1, 6, 6, 2), "float32")).shape
        TensorShape([1, 6, 6, 4])
    """

    plain_class = keras.layers.SeparableConv2D

    def scaled_variable(self):
        """The pointwise kernel (the depthwise kernel is used as it is)."""
        return self.pointwise_kernel

    def linear(self, inputs, pointwise_kernel):
        """Depthwise then pointwise convolution without bias or activation."""
        depthwise = ops.cast(self.depthwise_kernel, pointwise_kernel.dtype)
        return ops.separable_conv(inputs, depthwise, pointwise_kernel, strides=self.strides, padding=self.padding,
                                  dilation_rate=self.dilation_rate, data_format=self.data_format)

    def plain_weights(self) -> dict:
        """Depthwise kernel as is, pointwise kernel normalized, bias."""
        weights = {"depthwise_kernel": self.depthwise_kernel,
                   "pointwise_kernel": self.normalized_kernel(training=False)}
        if self.bias is not None:
            weights["bias"] = self.bias
        return weights


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class ToeplitzNormConv2DTranspose(_OperatorNorm, keras.layers.Conv2DTranspose):
    """Conv2DTranspose whose kernel is k_sn · W / ‖T_W‖₂ (the norm of the transposed convolution on its input).

    Args:
        filters, kernel_size: As in `keras.layers.Conv2DTranspose`.
        k_sn: Target operator norm (> 0).
        power_iterations: Power-iteration steps per training update (≥ 1).
        **kwargs: Any `keras.layers.Conv2DTranspose` argument.

    Raises:
        ValueError: if `k_sn` ≤ 0, `power_iterations` < 1, or the input shape is not static.

    Example:
        >>> layer = ToeplitzNormConv2DTranspose(2, 3, strides=2, padding="same")
        >>> layer(np.ones((1, 4, 4, 3), "float32")).shape
        TensorShape([1, 8, 8, 2])
    """

    plain_class = keras.layers.Conv2DTranspose

    def linear(self, inputs, kernel):
        """The transposed convolution without bias or activation."""
        return ops.conv_transpose(inputs, kernel, strides=self.strides, padding=self.padding,
                                  output_padding=self.output_padding, dilation_rate=self.dilation_rate,
                                  data_format=self.data_format)
