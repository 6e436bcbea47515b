"""1-Lipschitz pooling: L2-norm pooling, global L2-norm pooling, and invertible down-sampling (space-to-depth).

Max pooling is 1-Lipschitz only without overlap and average pooling shrinks the signal (its norm is 1/p for p×p
windows), so 1-Lipschitz classifiers pool with norms instead (Anil et al., Trockman & Kolter):

* L2-norm pooling: each output is the Euclidean norm of its window, times 1/√m. A window's norm is 1-Lipschitz in
  the window's entries (|‖a‖ − ‖b‖| ≤ ‖a − b‖), so Σ_windows (‖a_w‖ − ‖b_w‖)² ≤ Σ_windows ‖a_w − b_w‖² ≤ m ‖a − b‖²,
  where m is the largest number of windows that share one input pixel: m = ⌈ph/sh⌉·⌈pw/sw⌉ (zero padding only
  removes windows). The scale 1/√m is exact: a spike on a pixel inside m windows moves each of them by its size.
  Non-overlapping windows (strides ≥ pool size) have m = 1 and need no scale.
* Global L2-norm pooling: one norm per channel over all positions; the channels' position sets are disjoint, so
  the map is 1-Lipschitz (and exactly 1 on one channel).
* Invertible down-sampling: space-to-depth, a permutation of the entries, so an isometry (norm-preserving).

The norms are computed as √(Σ x² + ε) with ε = 1e-12 (in float32 at least): that is the Euclidean norm of the
window extended by one constant √ε entry, still 1-Lipschitz, and differentiable at 0 (gradient 0 instead of NaN).

Reference:
    Anil, Lucas and Grosse, "Sorting out Lipschitz function approximation", ICML 2019 (L2-norm pooling).
    Jacobsen, Smeulders and Oyallon, "i-RevNet: Deep Invertible Networks", ICLR 2018 (invertible down-sampling).
"""

from __future__ import annotations

import math

import keras
from keras import ops

from tf_lipschitz import ops as lip_ops
from tf_lipschitz.layers.base import LipschitzLayer

__all__ = ["L2NormPooling2D", "GlobalL2NormPooling2D", "InvertibleDownSampling", "l2_norm_pooling_scale"]

_EPSILON = 1e-12


def l2_norm_pooling_scale(pool_size, strides) -> float:
    """1/√m with m = ⌈ph/sh⌉·⌈pw/sw⌉, the most windows one pixel lies in: the scale that makes L2 pooling 1-Lipschitz.

    Args:
        pool_size: A pair (ph, pw) of positive ints.
        strides: A pair (sh, sw) of positive ints.

    Returns:
        A float in (0, 1].

    Example:
        >>> l2_norm_pooling_scale((3, 3), (2, 2))  # each pixel lies in up to 2 × 2 windows
        0.5
    """
    return 1.0 / math.sqrt(math.prod(-(-p // s) for p, s in zip(pool_size, strides)))


def _norm(squares_sum, dtype):
    return ops.cast(ops.sqrt(squares_sum + _EPSILON), dtype)


def _float32_at_least(x):
    x = ops.convert_to_tensor(x)
    return ops.cast(x, "float32") if x.dtype in ("float16", "bfloat16") else x


def _check_channels_last(data_format) -> str:
    data_format = keras.config.image_data_format() if data_format is None else str(data_format).lower()
    if data_format != "channels_last":
        raise ValueError(f"Only `data_format='channels_last'` is supported. Received: data_format={data_format!r}")
    return data_format


class _ParameterFreeLipschitz(LipschitzLayer):
    """1-Lipschitz parameter-free layers: bound 1, exported as a fresh copy of themselves."""

    def lipschitz_bound(self) -> float:
        """1.0, by construction (see the module docstring)."""
        return 1.0

    def export_plain(self) -> keras.layers.Layer:
        """A fresh copy of the layer (it has no weights to bake in).

        Keras has no norm-pooling layer, so an exported network with L2-norm pooling still needs tf_lipschitz to load.

        Returns:
            A new, unbuilt layer of the same class and configuration.
        """
        return type(self).from_config(self.get_config())


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class L2NormPooling2D(_ParameterFreeLipschitz, keras.layers.Layer):
    """L2-norm pooling scaled by 1/√(⌈ph/sh⌉·⌈pw/sw⌉): the output is 1-Lipschitz in L2 for any overlap and padding.

    Each output is √(Σ_window x²) / √m (see the module docstring). Zero padding ('same') adds zeros to the border
    windows, which does not change their norm's Lipschitz constant.

    Args:
        pool_size: int or (ph, pw) (≥ 1).
        strides: int or (sh, sw) (≥ 1); defaults to `pool_size`.
        padding: "valid" or "same".
        data_format: "channels_last" (or None for Keras' default, which must be channels_last).
        **kwargs: Any `keras.layers.Layer` argument (name, dtype, …).

    Raises:
        ValueError: for a pool size or stride that is not a positive int or pair, an unknown padding,
            channels_first, or (when called) 'same' padding on a dynamic height or width.

    Example:
        >>> layer = L2NormPooling2D(2)
        >>> x = np.array([3.0, 0.0, 0.0, 4.0], "float32").reshape(1, 2, 2, 1)
        >>> round(float(layer(x)[0, 0, 0, 0]), 5)
        5.0

    Reference:
        Anil, Lucas and Grosse, "Sorting out Lipschitz function approximation", ICML 2019.
    """

    def __init__(self, pool_size=2, strides=None, padding: str = "valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = lip_ops.check_pair(pool_size, "pool_size")
        self.strides = self.pool_size if strides is None else lip_ops.check_pair(strides, "strides")
        self.padding = lip_ops.check_padding(padding)
        self.data_format = _check_channels_last(data_format)
        self.scale = l2_norm_pooling_scale(self.pool_size, self.strides)

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError(f"L2NormPooling2D expects rank-4 inputs with known channels. Received: {input_shape}")
        super().build(input_shape)

    def call(self, inputs):
        squares = ops.square(_float32_at_least(inputs))
        if self.padding == "same":  # zero padding as Keras places it (Keras' 'same' average excludes the padding)
            squares = ops.pad(squares, ((0, 0), *self._same_padding(inputs.shape), (0, 0)))
        # Window sums: the window average times the window size.
        sums = ops.average_pool(squares, self.pool_size, self.strides, "valid") * math.prod(self.pool_size)
        return _norm(sums, self.compute_dtype) * ops.cast(self.scale, self.compute_dtype)

    def _same_padding(self, shape) -> list:
        pads = []
        for size, pool, stride in zip(shape[1:3], self.pool_size, self.strides):
            if size is None:
                raise ValueError(f"L2NormPooling2D with padding='same' needs a static height and width. Received "
                                 f"input shape {tuple(shape)}")
            total = max((-(-size // stride) - 1) * stride + pool - size, 0)
            pads.append((total // 2, total - total // 2))
        return pads

    def compute_output_shape(self, input_shape):
        def size(n, p, s):
            if n is None:
                return None
            return -(-n // s) if self.padding == "same" else (n - p) // s + 1

        spatial = [size(n, p, s) for n, p, s in zip(input_shape[1:3], self.pool_size, self.strides)]
        return (input_shape[0], *spatial, input_shape[-1])

    def get_config(self) -> dict:
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding, "data_format": self.data_format}


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class GlobalL2NormPooling2D(_ParameterFreeLipschitz, keras.layers.Layer):
    """Global L2-norm pooling: y_c = √(Σ_{h,w} x_{h,w,c}²), 1-Lipschitz (each channel is a norm of disjoint entries).

    Args:
        keepdims: Keep the spatial axes (as size 1).
        data_format: "channels_last" (or None for Keras' default, which must be channels_last).
        **kwargs: Any `keras.layers.Layer` argument.

    Raises:
        ValueError: for channels_first.

    Example:
        >>> x = np.zeros((1, 3, 3, 2), "float32"); x[0, 0, 0, 0], x[0, 2, 1, 0] = 3.0, 4.0
        >>> np.round(np.asarray(GlobalL2NormPooling2D()(x)), 4)
        array([[5., 0.]], dtype=float32)

    Reference:
        Anil, Lucas and Grosse, "Sorting out Lipschitz function approximation", ICML 2019.
    """

    def __init__(self, keepdims: bool = False, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.keepdims = bool(keepdims)
        self.data_format = _check_channels_last(data_format)

    def call(self, inputs):
        x = _float32_at_least(inputs)
        return _norm(ops.sum(ops.square(x), axis=(1, 2), keepdims=self.keepdims), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1, 1, input_shape[-1]) if self.keepdims else (input_shape[0], input_shape[-1])

    def get_config(self) -> dict:
        return {**super().get_config(), "keepdims": self.keepdims, "data_format": self.data_format}


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class InvertibleDownSampling(LipschitzLayer, keras.layers.Layer):
    """Space-to-depth: (H, W, C) → (H/ph, W/pw, ph·pw·C), a permutation of the entries and hence an isometry.

    The channel order is TensorFlow's `space_to_depth`: channel (i·pw + j)·C + c holds pixel (i, j) of each block.

    Args:
        pool_size: int or (ph, pw) (≥ 1); the input's height and width must be multiples of it.
        data_format: "channels_last" (or None for Keras' default, which must be channels_last).
        **kwargs: Any `keras.layers.Layer` argument.

    Raises:
        ValueError: for a bad pool size, channels_first, or (when built) a spatial size that is not a multiple of
            the pool size.

    Example:
        >>> x = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
        >>> InvertibleDownSampling(2)(x)[0, 0, 0].numpy()
        array([0., 1., 4., 5.], dtype=float32)

    Reference:
        Jacobsen, Smeulders and Oyallon, "i-RevNet: Deep Invertible Networks", ICLR 2018.
    """

    positively_homogeneous = True  # a permutation of the entries

    def __init__(self, pool_size=2, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = lip_ops.check_pair(pool_size, "pool_size")
        self.data_format = _check_channels_last(data_format)

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError(f"InvertibleDownSampling expects rank-4 inputs with known channels. "
                             f"Received: {input_shape}")
        for size, pool in zip(input_shape[1:3], self.pool_size):
            if size is not None and size % pool:
                raise ValueError(f"InvertibleDownSampling needs height and width that are multiples of pool_size="
                                 f"{self.pool_size}. Received input_shape={tuple(input_shape)}")
        super().build(input_shape)

    def _block_shape(self, input_shape) -> tuple:
        (ph, pw), (_, h, w, c) = self.pool_size, input_shape
        return h // ph, ph, w // pw, pw, c

    def call(self, inputs):
        shape = ops.shape(inputs)
        (ph, pw), c = self.pool_size, inputs.shape[-1]
        h, w = shape[1] // ph, shape[2] // pw
        blocks = ops.reshape(inputs, (-1, h, ph, w, pw, c))
        return ops.reshape(ops.transpose(blocks, (0, 1, 3, 2, 4, 5)), (-1, h, w, ph * pw * c))

    def compute_output_shape(self, input_shape):
        (ph, pw), (b, h, w, c) = self.pool_size, input_shape
        return (b, None if h is None else h // ph, None if w is None else w // pw, ph * pw * c)

    def lipschitz_bound(self) -> float:
        """1.0: a permutation of the entries preserves the L2 norm exactly."""
        return 1.0

    def export_plain(self) -> keras.layers.Layer:
        """The same permutation from plain Keras layers: Reshape → Permute → Reshape, in a Sequential.

        Returns:
            A built `keras.Sequential` named like the layer.

        Raises:
            ValueError: if the layer is not built on a static height and width.
        """
        shape = tuple(self.get_build_config()["input_shape"]) if self.built else None
        if shape is None or None in shape[1:]:
            raise ValueError(f"Layer {self.name!r} must be built on a static input shape to export; got {shape}")
        h, ph, w, pw, c = self._block_shape(shape)
        plain = keras.Sequential([
            keras.Input(shape[1:]),
            keras.layers.Reshape((h, ph, w, pw, c)),
            keras.layers.Permute((1, 3, 2, 4, 5)),
            keras.layers.Reshape((h, w, ph * pw * c)),
        ], name=self.name)
        return plain

    def get_config(self) -> dict:
        return {**super().get_config(), "pool_size": self.pool_size, "data_format": self.data_format}
