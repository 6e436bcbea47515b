"""Lipschitz constants (L2 operator norms) of plain Keras layers and activations, each a true upper bound.

The Lipschitz layers use this table for their plain export, and `tf_lipschitz.analysis.bounds` for every plain
layer of a graph. Each entry is a true upper bound in inference mode (exact where marked):

* Dense: ‖W‖₂ by SVD (exact); Conv1D/2D/3D, DepthwiseConv1D/2D, SeparableConv1D/2D and Conv1D/2D/3DTranspose: the
  certified Fourier bound of `tf_lipschitz.ops.certified.conv_norm_bound` on the layer's input (or, for a transposed
  convolution, output) shape. Either times the activation's constant.
* BatchNormalization: maxᶜ |γ_c| / √(var_c + ε) (exact at inference; batch statistics are not a per-sample map).
* Activations: ReLU, ReLU6, LeakyReLU(|slope| ≤ 1), tanh, ELU(α ≤ 1), softplus, softsign, softmax: 1;
  sigmoid: 1/4; hard_sigmoid: 1/6; SiLU/swish: 1.0998 (max of its derivative); GELU: 1.1290; SELU: 1.7581;
  hard_silu: 1.5; linear: 1. LeakyReLU/ELU/PReLU with a larger slope: that slope.
* Shape-only and inference-identity layers (Flatten, Reshape, Permute, ZeroPadding, Cropping, Dropout and the
  noise layers, Identity, InputLayer, GlobalMaxPooling): 1. RepeatVector(n): √n. UpSampling (nearest), size s:
  √(s₁·…·s_d) (exact). Rescaling: max |scale|.
* MaxPooling with pool p and strides s: √(∏⌈pᵢ/sᵢ⌉), the most windows a pixel can be the maximum of (exact for
  overlapping windows too: one spike moves every window it lies in). AveragePooling: the exact norm of its
  averaging matrix (`certified.average_pooling_norm`). GlobalAveragePooling over N positions: 1/√N (exact).
"""

from __future__ import annotations

import math
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from tf_lipschitz.ops import certified

__all__ = ["activation_bound", "as_float64", "plain_layer_bound"]

L = keras.layers


# Max of |f'| (a true Lipschitz constant) of Keras' activations, rounded up.
_ACTIVATION_LIPSCHITZ = {
    "linear": 1.0, "relu": 1.0, "relu6": 1.0, "leaky_relu": 1.0, "tanh": 1.0, "elu": 1.0, "sigmoid": 0.25,
    "softplus": 1.0, "softsign": 1.0, "softmax": 1.0, "log_sigmoid": 1.0, "hard_sigmoid": 1.0 / 6.0,
    "silu": 1.1, "swish": 1.1, "gelu": 1.13, "selu": 1.7581, "hard_silu": 1.5, "hard_swish": 1.5, "mish": 1.09,
}


def activation_bound(activation) -> float:
    """The Lipschitz constant (max |f'|, rounded up) of a Keras activation.

    Args:
        activation: A Keras activation (function, name or None for linear).

    Returns:
        A float constant.

    Raises:
        ValueError: for an activation with no known constant (the known ones are listed).

    Example:
        >>> activation_bound(keras.activations.relu), activation_bound(keras.activations.sigmoid)
        (1.0, 0.25)
    """
    name = keras.activations.serialize(activation) if activation is not None else "linear"
    if isinstance(name, dict):
        name = name.get("config", {}).get("name", name.get("class_name"))
    if name not in _ACTIVATION_LIPSCHITZ:
        raise ValueError(f"No known Lipschitz constant for activation {name!r}; known: {sorted(_ACTIVATION_LIPSCHITZ)}")
    return _ACTIVATION_LIPSCHITZ[name]



def _spatial(shape, data_format: str) -> tuple[int, ...]:
    spatial = tuple(shape[1:-1]) if data_format == "channels_last" else tuple(shape[2:])
    if any(d is None for d in spatial):
        raise ValueError(f"needs a static spatial input shape; got {tuple(shape)}")
    return tuple(int(d) for d in spatial)


def as_float64(value) -> np.ndarray:
    """A tensor, variable or array as a float64 NumPy array (through a tensor: NumPy 2 warns on variables).

    Args:
        value: A tensor, Keras variable or array.

    Returns:
        A float64 `np.ndarray`.

    Example:
        >>> as_float64(keras.Variable([1.0, 2.0])).dtype
        dtype('float64')
    """
    return np.asarray(tf.convert_to_tensor(value).numpy(), dtype=np.float64)


def _act(layer) -> float:
    return activation_bound(layer.activation)


def _dense(layer, shape) -> float:
    return certified.matrix_norm(as_float64(layer.kernel)) * _act(layer)


def _conv(layer, shape) -> float:
    return certified.conv_norm_bound(
        as_float64(layer.kernel), _spatial(shape, layer.data_format), layer.strides, layer.padding, layer.dilation_rate,
        groups=layer.groups,
    ) * _act(layer)


def _depthwise(layer, shape) -> float:
    kernel = as_float64(layer.kernel)
    return certified.conv_norm_bound(
        certified.depthwise_as_grouped(kernel), _spatial(shape, layer.data_format), layer.strides, layer.padding,
        layer.dilation_rate, groups=kernel.shape[-2],
    ) * _act(layer)


def _separable(layer, shape) -> float:
    kernel = certified.separable_as_full(as_float64(layer.depthwise_kernel), as_float64(layer.pointwise_kernel))
    return certified.conv_norm_bound(
        kernel, _spatial(shape, layer.data_format), layer.strides, layer.padding, layer.dilation_rate
    ) * _act(layer)


def _conv_transpose(layer, shape) -> float:
    # The transposed convolution is the adjoint of the convolution on its output shape: same norm.
    out = layer.compute_output_shape(shape)
    return certified.conv_norm_bound(
        as_float64(layer.kernel), _spatial(out, layer.data_format), layer.strides, layer.padding, layer.dilation_rate
    ) * _act(layer)


def _batch_norm(layer, shape) -> float:
    variance = as_float64(layer.moving_variance)
    scale = np.abs(as_float64(layer.gamma)) if layer.scale else np.ones_like(variance)
    return float(np.max(scale / np.sqrt(variance + layer.epsilon)))


def _max_pool(layer, shape) -> float:
    return math.sqrt(math.prod(-(-p // s) for p, s in zip(layer.pool_size, layer.strides)))


def _average_pool(layer, shape) -> float:
    return certified.average_pooling_norm(
        _spatial(shape, layer.data_format), layer.pool_size, layer.strides, layer.padding
    )


def _global_average_pool(layer, shape) -> float:
    return 1.0 / math.sqrt(math.prod(_spatial(shape, layer.data_format)))


def _upsampling(layer, shape) -> float:
    if getattr(layer, "interpolation", "nearest") != "nearest":
        raise ValueError(f"has no known bound for interpolation={layer.interpolation!r}")
    size = layer.size if isinstance(layer.size, (tuple, list)) else (layer.size,)
    return math.sqrt(math.prod(size))


def _slope(name: str) -> Callable:
    def bound(layer, shape) -> float:
        return max(1.0, float(np.max(np.abs(as_float64(getattr(layer, name))))))  # a public hyper-parameter or weight
    return bound


def _one(layer, shape) -> float:
    return 1.0


_RULES: dict[type, Callable] = {
    L.Dense: _dense,
    L.Conv1D: _conv, L.Conv2D: _conv, L.Conv3D: _conv,
    L.DepthwiseConv1D: _depthwise, L.DepthwiseConv2D: _depthwise,
    L.SeparableConv1D: _separable, L.SeparableConv2D: _separable,
    L.Conv1DTranspose: _conv_transpose, L.Conv2DTranspose: _conv_transpose, L.Conv3DTranspose: _conv_transpose,
    L.BatchNormalization: _batch_norm,
    L.Activation: lambda layer, shape: _act(layer),
    L.ReLU: _slope("negative_slope"), L.LeakyReLU: _slope("negative_slope"), L.ELU: _slope("alpha"),
    L.PReLU: _slope("alpha"), L.Softmax: _one,
    L.MaxPooling1D: _max_pool, L.MaxPooling2D: _max_pool, L.MaxPooling3D: _max_pool,
    L.AveragePooling1D: _average_pool, L.AveragePooling2D: _average_pool, L.AveragePooling3D: _average_pool,
    L.GlobalAveragePooling1D: _global_average_pool, L.GlobalAveragePooling2D: _global_average_pool,
    L.GlobalAveragePooling3D: _global_average_pool,
    L.UpSampling1D: _upsampling, L.UpSampling2D: _upsampling, L.UpSampling3D: _upsampling,
    L.RepeatVector: lambda layer, shape: math.sqrt(layer.n),
    L.Rescaling: lambda layer, shape: float(np.max(np.abs(np.asarray(layer.scale, dtype=np.float64)))),
}
for _cls in (L.InputLayer, L.Identity, L.Flatten, L.Reshape, L.Permute, L.ZeroPadding1D, L.ZeroPadding2D,
             L.ZeroPadding3D, L.Cropping1D, L.Cropping2D, L.Cropping3D, L.Dropout, L.SpatialDropout1D,
             L.SpatialDropout2D, L.SpatialDropout3D, L.GaussianNoise, L.GaussianDropout, L.AlphaDropout,
             L.ActivityRegularization, L.GlobalMaxPooling1D, L.GlobalMaxPooling2D, L.GlobalMaxPooling3D):
    _RULES[_cls] = _one


def plain_layer_bound(layer, input_shape=None) -> float:
    """An upper bound of a plain Keras layer's Lipschitz constant (L2 norms, inference mode), from the table above.

    Args:
        layer: A built Keras layer of a kind listed in the module docstring.
        input_shape: The shape the layer is applied to (with batch axis); needed for convolutions and pooling.

    Returns:
        A float upper bound, activation included.

    Raises:
        ValueError: naming the layer, if no bound is known for its kind or its input shape is not static.

    Example:
        >>> layer = keras.layers.Dense(2, use_bias=False); layer.build((None, 2))
        >>> _ = layer.kernel.assign(np.diag([3.0, 1.0]).astype("float32"))
        >>> plain_layer_bound(layer)
        3.0
    """
    rule = _RULES.get(type(layer))
    if rule is None:
        raise ValueError(
            f"No Lipschitz bound is known for layer {layer.name!r} of type {type(layer).__name__}; use a "
            "LipschitzLayer or one of the layers listed in tf_lipschitz.ops.layer_norms"
        )
    try:
        return float(rule(layer, input_shape))
    except ValueError as err:
        raise ValueError(f"Layer {layer.name!r} ({type(layer).__name__}): {err}") from err
