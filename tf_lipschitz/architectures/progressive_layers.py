"""The layers of Progressive GAN: pixel norm, minibatch stddev, equalized learning rate, and the fade-in.

Reference:
    Karras et al., "Progressive Growing of GANs for Improved Quality, Stability, and Variation", ICLR 2018,
    sections 3 (minibatch stddev), 4.1 (equalized learning rate), 4.2 (pixel norm) and Figure 2 (fade-in).
"""

from __future__ import annotations

import math

import keras
from keras import ops

from tf_lipschitz.foundations.validation import check_float, check_int

__all__ = ["PixelNormalization", "MinibatchStdDev", "EqualizedDense", "EqualizedConv2D", "FadeIn", "set_fade_in"]


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class PixelNormalization(keras.layers.Layer):
    """Normalizes each pixel's feature vector to unit average square: x / sqrt(mean_c(x²) + ε).

    Args:
        epsilon: Added under the square root (1e-8 in the paper).
        **kwargs: `keras.layers.Layer` arguments.

    Raises:
        ValueError: if `epsilon` ≤ 0.

    Example:
        >>> y = PixelNormalization()(np.full((1, 2, 2, 4), 3.0, "float32"))
        >>> float(y[0, 0, 0, 0])
        1.0

    Reference:
        Karras et al., "Progressive Growing of GANs", ICLR 2018, Eq. in section 4.2.
    """

    def __init__(self, epsilon: float = 1e-8, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = check_float("epsilon", epsilon)

    def call(self, inputs):
        return inputs * ops.rsqrt(ops.mean(ops.square(inputs), axis=-1, keepdims=True) + self.epsilon)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class MinibatchStdDev(keras.layers.Layer):
    """Appends one feature map: the standard deviation of the features across a group, averaged.

    The batch of N is split into groups of G = min(group_size, N) samples, sample i belonging to group
    i mod (N / G); for each group the per-feature standard deviation over its G members (population variance,
    plus ε) is averaged over height, width and channels, and the scalar is broadcast as a new channel to every
    member. N must be divisible by G.

    Args:
        group_size: G (4 in the paper).
        epsilon: Added to the variance before the square root.
        **kwargs: `keras.layers.Layer` arguments.

    Raises:
        ValueError: if `group_size` < 1 or `epsilon` ≤ 0.

    Example:
        >>> x = np.stack([np.zeros((2, 2, 1)), np.full((2, 2, 1), 2.0)]).astype("float32")
        >>> y = MinibatchStdDev(group_size=2)(x)
        >>> y.shape, round(float(y[0, 0, 0, 1]), 4)
        (TensorShape([2, 2, 2, 2]), 1.0)

    Reference:
        Karras et al., "Progressive Growing of GANs", ICLR 2018, section 3.
    """

    def __init__(self, group_size: int = 4, epsilon: float = 1e-8, **kwargs):
        super().__init__(**kwargs)
        self.group_size = check_int("group_size", group_size)
        self.epsilon = check_float("epsilon", epsilon)

    def call(self, inputs):
        n, h, w, c = ops.shape(inputs)
        group = ops.minimum(self.group_size, n)
        y = ops.reshape(ops.cast(inputs, "float32"), (group, -1, h, w, c))
        y = y - ops.mean(y, axis=0, keepdims=True)
        y = ops.sqrt(ops.mean(ops.square(y), axis=0) + self.epsilon)
        y = ops.mean(y, axis=(1, 2, 3), keepdims=True)
        y = ops.tile(y, (group, h, w, 1))
        return ops.concatenate([inputs, ops.cast(y, inputs.dtype)], axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (None if input_shape[-1] is None else input_shape[-1] + 1,)

    def get_config(self):
        return {**super().get_config(), "group_size": self.group_size, "epsilon": self.epsilon}


class _Equalized(keras.layers.Layer):
    """Weights drawn from N(0, 1) and scaled at run time by gain / sqrt(fan_in) (He's constant for gain = √2)."""

    def __init__(self, gain: float, use_bias: bool, activation, **kwargs):
        super().__init__(**kwargs)
        self.gain = check_float("gain", gain)
        self.use_bias = bool(use_bias)
        self.activation = keras.activations.get(activation)

    def _build_weights(self, kernel_shape, fan_in: int, units: int) -> None:
        self.scale = self.gain / math.sqrt(fan_in)
        self.kernel = self.add_weight(
            name="kernel", shape=kernel_shape, initializer=keras.initializers.RandomNormal(stddev=1.0)
        )
        self.bias = self.add_weight(name="bias", shape=(units,), initializer="zeros") if self.use_bias else None

    def _finish(self, outputs):
        if self.bias is not None:
            outputs = outputs + self.bias
        return self.activation(outputs) if self.activation is not None else outputs

    def get_config(self):
        return {
            **super().get_config(),
            "gain": self.gain,
            "use_bias": self.use_bias,
            "activation": keras.activations.serialize(self.activation),
        }


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class EqualizedDense(_Equalized):
    """Dense layer with equalized learning rate: y = x · (gain/√fan_in) W + b, W ~ N(0, 1), fan_in = input size.

    Storing W at unit scale makes Adam's step the same relative size in every layer.

    Args:
        units: Output size.
        gain: √2 for layers followed by (leaky) ReLU, 1 for linear outputs.
        use_bias: Add a bias, initialized to zero.
        activation: Optional activation.
        **kwargs: `keras.layers.Layer` arguments.

    Raises:
        ValueError: if `units` < 1 or `gain` ≤ 0.

    Example:
        >>> layer = EqualizedDense(3)
        >>> layer(np.ones((2, 8), "float32")).shape, round(layer.scale, 4)
        (TensorShape([2, 3]), 0.5)

    Reference:
        Karras et al., "Progressive Growing of GANs", ICLR 2018, section 4.1.
    """

    def __init__(self, units: int, gain: float = math.sqrt(2.0), use_bias: bool = True, activation=None, **kwargs):
        super().__init__(gain, use_bias, activation, **kwargs)
        units = check_int("units", units)
        self.units = units

    def build(self, input_shape):
        fan_in = int(input_shape[-1])
        self._build_weights((fan_in, self.units), fan_in, self.units)

    def call(self, inputs):
        return self._finish(ops.matmul(inputs, self.kernel * self.scale))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class EqualizedConv2D(_Equalized):
    """Stride-1 'same' Conv2D with equalized learning rate: kernel used = (gain/√fan_in) W, fan_in = kh·kw·c_in.

    Args:
        filters: Output channels.
        kernel_size: Odd int (3 for the blocks, 1 for toRGB/fromRGB).
        gain: √2 before (leaky) ReLU, 1 for the linear toRGB.
        use_bias: Add a bias, initialized to zero.
        activation: Optional activation.
        **kwargs: `keras.layers.Layer` arguments.

    Raises:
        ValueError: if `filters` < 1, `kernel_size` is not a positive odd int, or `gain` ≤ 0.

    Example:
        >>> layer = EqualizedConv2D(4, 3)
        >>> layer(np.ones((1, 8, 8, 2), "float32")).shape, round(layer.scale, 4)
        (TensorShape([1, 8, 8, 4]), 0.3333)

    Reference:
        Karras et al., "Progressive Growing of GANs", ICLR 2018, section 4.1.
    """

    def __init__(
        self, filters: int, kernel_size: int = 3, gain: float = math.sqrt(2.0), use_bias: bool = True,
        activation=None, **kwargs,
    ):
        super().__init__(gain, use_bias, activation, **kwargs)
        filters = check_int("filters", filters)
        if check_int("kernel_size", kernel_size) % 2 == 0:
            raise ValueError(f"`kernel_size` must be a positive odd integer. Received: kernel_size={kernel_size!r}")
        self.filters = filters
        self.kernel_size = kernel_size

    def build(self, input_shape):
        c_in = int(input_shape[-1])
        self._build_weights(
            (self.kernel_size, self.kernel_size, c_in, self.filters), self.kernel_size ** 2 * c_in, self.filters
        )

    def call(self, inputs):
        return self._finish(ops.conv(inputs, self.kernel * self.scale, strides=1, padding="same"))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.filters,)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size}


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class FadeIn(keras.layers.Layer):
    """(1 − α) · old + α · new, with α a non-trainable scalar variable: the fade-in of a new resolution block.

    α = 0 is the previous (lower-resolution) network, α = 1 the new block alone. Ramp it from 0 to 1 during a
    transition phase with `set_fade_in`; it is saved with the model.

    Args:
        alpha: Initial α in [0, 1].
        **kwargs: `keras.layers.Layer` arguments.

    Raises:
        ValueError: if `alpha` is outside [0, 1].

    Example:
        >>> fade = FadeIn(alpha=0.25)
        >>> float(fade([np.zeros((1, 1), "float32"), np.ones((1, 1), "float32")])[0, 0])
        0.25

    Reference:
        Karras et al., "Progressive Growing of GANs", ICLR 2018, Figure 2.
    """

    def __init__(self, alpha: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.initial_alpha = _check_alpha(alpha)

    def build(self, input_shape):
        self.alpha = self.add_weight(
            name="alpha", shape=(), initializer=keras.initializers.Constant(self.initial_alpha), trainable=False
        )

    def call(self, inputs):
        old, new = inputs
        alpha = ops.cast(self.alpha, old.dtype)
        return old + (new - old) * alpha

    def compute_output_shape(self, input_shape):
        return input_shape[1]

    def get_config(self):
        return {**super().get_config(), "alpha": self.initial_alpha}


def _check_alpha(alpha) -> float:
    return check_float("alpha", alpha, 0.0, inclusive=True, maximum=1.0)


def set_fade_in(model: keras.layers.Layer, alpha: float) -> int:
    """Sets α of every `FadeIn` layer inside `model` (nested models included).

    Args:
        model: A Keras model or layer.
        alpha: The new α in [0, 1].

    Returns:
        The number of `FadeIn` layers updated.

    Raises:
        ValueError: if `alpha` is outside [0, 1].

    Example:
        >>> set_fade_in(keras.Sequential([keras.layers.Dense(1)]), 0.5)
        0
    """
    alpha = _check_alpha(alpha)
    count = 0
    stack, seen = [model], set()
    while stack:
        layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        stack.extend(getattr(layer, "layers", []))
        if isinstance(layer, FadeIn):
            if not layer.built:
                layer.initial_alpha = alpha
            else:
                layer.alpha.assign(alpha)
            count += 1
    return count
