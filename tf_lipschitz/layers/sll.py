"""SDP-based Lipschitz layers (SLL): the residual x − 2 W T⁻¹ σ(Wᵀx + b), 1-Lipschitz, dense and convolutional.

With σ = ReLU (slope in [0, 1]) and a diagonal T ⪰ WᵀW the layer is 1-Lipschitz (Araujo et al., Theorem 3). Its
Jacobian, wherever it exists, is I − 2 W T⁻¹ Λ Wᵀ with Λ = diag(σ') ∈ [0, I]: a symmetric matrix whose eigenvalues
lie in [−1, 1], because 0 ⪯ W T^(-1/2) Λ T^(-1/2) Wᵀ ⪯ W T⁻¹ Wᵀ and W T⁻¹ Wᵀ has the eigenvalues of
T^(-1/2) WᵀW T^(-1/2) ⪯ I.

T comes in closed form, with learned positive weights q (q = exp(log_q)):

    tᵢ = Σⱼ |WᵀW|ᵢⱼ qⱼ / qᵢ.

Why T ⪰ WᵀW: for symmetric A, xᵀAx ≤ Σᵢⱼ |Aᵢⱼ| |xᵢ||xⱼ| ≤ Σᵢⱼ |Aᵢⱼ| (xᵢ² qⱼ/qᵢ + xⱼ² qᵢ/qⱼ)/2 = Σᵢ tᵢ xᵢ².
Here W is the layer's "up" map: for `SLLDense` the kernel (features × hidden_units) acting as x ↦ x W; for
`SLLConv2D` the transposed convolution with kernel K (hidden → input channels), so that Wᵀx is the stride-1 'same'
convolution C x and WᵀW = C Cᵀ. On the infinite grid C Cᵀ is a convolution whose entries between hidden channels
i and j at offset Δ are Σ_{a, c} K[a, c, i] K[a + Δ, c, j] (`tf_lipschitz.layers.aol.conv_gram` of the kernel with
its channel axes swapped), and zero padding only makes C Cᵀ smaller (C = R C_∞ E with E the zero extension, R a
restriction: C Cᵀ ⪯ R C_∞ C_∞ᵀ Rᵀ ⪯ R diag(t) Rᵀ), so the per-channel t bounds every input size. A small ε is
added to t, which only makes T larger.

Reference:
    Araujo, Havens, Delattre, Allauzen and Hu, "A Unified Algebraic Perspective on Lipschitz Neural Networks",
    ICLR 2023.
"""

from __future__ import annotations

import keras
from keras import ops

from tf_lipschitz import ops as lip_ops
from tf_lipschitz.layers.aol import conv_gram
from tf_lipschitz.layers.base import LipschitzLayer
from tf_lipschitz.foundations.validation import check_int

__all__ = ["SLLDense", "SLLConv2D", "sll_dense_t", "sll_conv_t"]

# Added to t: keeps a zero column finite (its term vanishes anyway) and only makes T larger.
_EPS = 1e-10


def _weighted_row_sums(abs_gram, q):
    """tᵢ = Σⱼ |A|ᵢⱼ qⱼ / qᵢ for a (n, n) matrix of absolute values."""
    return ops.matmul(abs_gram, q) / q + _EPS


def sll_dense_t(kernel, q):
    """The diagonal of T for `SLLDense`: tᵢ = Σⱼ |WᵀW|ᵢⱼ qⱼ/qᵢ (+ ε), W the (features × hidden_units) kernel.

    Args:
        kernel: A 2-D tensor W.
        q: A 1-D tensor of positive weights, one per hidden unit.

    Returns:
        A 1-D tensor t with diag(t) ⪰ WᵀW.

    Example:
        >>> w = np.array([[1.0, 1.0], [0.0, 1.0]], "float32")
        >>> np.round(np.asarray(sll_dense_t(w, np.ones(2, "float32"))), 4)  # |WᵀW| = [[1, 1], [1, 2]]
        array([2., 3.], dtype=float32)
    """
    kernel = ops.convert_to_tensor(kernel)
    return _weighted_row_sums(ops.abs(ops.matmul(ops.transpose(kernel), kernel)), ops.convert_to_tensor(q))


def sll_conv_t(kernel, q):
    """The diagonal of T for `SLLConv2D`, one entry per hidden channel: tᵢ = Σ_{Δ, j} |C Cᵀ|[Δ, i, j] qⱼ/qᵢ (+ ε).

    Args:
        kernel: A (kh, kw, channels, hidden_filters) tensor: the convolution C from the input to the hidden channels.
        q: A 1-D tensor of positive weights, one per hidden channel.

    Returns:
        A 1-D tensor t of length hidden_filters with diag(t) ⪰ C Cᵀ for the stride-1 'same' convolution on any input.

    Example:
        >>> k = np.zeros((3, 3, 1, 1), "float32"); k[1, 1] = 2.0  # C = 2 · identity, C Cᵀ = 4 · identity
        >>> np.round(np.asarray(sll_conv_t(k, np.ones(1, "float32"))), 4)
        array([4.], dtype=float32)
    """
    gram = conv_gram(ops.transpose(ops.convert_to_tensor(kernel), (0, 1, 3, 2)))[0]  # (Δh, Δw, i, j)
    return _weighted_row_sums(ops.sum(ops.abs(gram), axis=(0, 1)), ops.convert_to_tensor(q))


class _SLLMixin(LipschitzLayer):
    """Weights (kernel, bias, log_q), the shared residual, bound 1, config."""

    def _init_sll(self, hidden, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer) -> None:
        self.hidden = None if hidden is None else check_int(self._hidden_name, hidden)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)

    def _build_sll(self, kernel_shape) -> None:
        hidden = kernel_shape[-1]
        self.kernel = self.add_weight(name="kernel", shape=kernel_shape, initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, autocast=False)
        self.bias = self.add_weight(name="bias", shape=(hidden,), initializer=self.bias_initializer,
                                    regularizer=self.bias_regularizer)
        self.log_q = self.add_weight(name="log_q", shape=(hidden,), initializer="zeros", autocast=False)

    def _t(self, kernel, q):
        raise NotImplementedError

    def _up_kernel(self, kernel, factor):
        raise NotImplementedError

    def scaled_hidden_kernel(self):
        """The kernel, and the per-hidden-unit factor 2/t, in the variable dtype (float32 under mixed precision).

        Returns:
            `(kernel, 2 / t)`.
        """
        kernel = ops.convert_to_tensor(self.kernel)
        return kernel, 2.0 / self._t(kernel, ops.exp(ops.convert_to_tensor(self.log_q)))

    def call(self, inputs):
        kernel, factor = self.scaled_hidden_kernel()
        kernel = ops.cast(kernel, self.compute_dtype)
        hidden = ops.relu(ops.add(self._down(inputs, kernel), self.bias)) * ops.cast(factor, self.compute_dtype)
        return ops.subtract(inputs, self._up(hidden, kernel))

    def compute_output_shape(self, input_shape):
        return input_shape

    def lipschitz_bound(self) -> float:
        """1.0: proven for every value of the weights (module docstring)."""
        return 1.0

    def _export(self, down: keras.layers.Layer, up: keras.layers.Layer) -> keras.Model:
        shape = tuple(self.get_build_config()["input_shape"])
        kernel, factor = (ops.convert_to_numpy(value) for value in self.scaled_hidden_kernel())
        inputs = keras.Input(shape[1:], name=f"{self.name}_input")
        outputs = keras.layers.Add(name=f"{self.name}_residual")([inputs, up(down(inputs))])
        down.set_weights([kernel, ops.convert_to_numpy(self.bias)])
        up.set_weights([self._up_kernel(kernel, factor)])
        return keras.Model(inputs, outputs, name=self.name)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            self._hidden_name: self.hidden,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
        }


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class SLLDense(_SLLMixin, keras.layers.Layer):
    """SDP-based Lipschitz residual layer: y = x − 2 W T⁻¹ ReLU(Wᵀx + b), 1-Lipschitz; output size = input size.

    In Keras' row convention with the kernel W (features × hidden_units): y = x − 2 (ReLU(x W + b) / t) Wᵀ,
    tᵢ = Σⱼ |WᵀW|ᵢⱼ qⱼ/qᵢ with q = exp(log_q) a trainable positive weight per hidden unit (module docstring).

    Args:
        hidden_units: Width of the hidden layer (≥ 1); defaults to the number of input features.
        kernel_initializer: Initializer of W.
        bias_initializer: Initializer of b.
        kernel_regularizer: Optional regularizer of W.
        bias_regularizer: Optional regularizer of b.
        **kwargs: Any `keras.layers.Layer` argument (name, dtype, …).

    Raises:
        ValueError: if `hidden_units` is not a positive int, or (when built) the input is not (batch, features).

    Example:
        >>> layer = SLLDense(8)
        >>> y = layer(np.ones((2, 4), "float32"))
        >>> y.shape, layer.lipschitz_bound()
        (TensorShape([2, 4]), 1.0)

    Reference:
        Araujo, Havens, Delattre, Allauzen and Hu, "A Unified Algebraic Perspective on Lipschitz Neural Networks",
        ICLR 2023.
    """

    _hidden_name = "hidden_units"

    def __init__(self, hidden_units: int | None = None, kernel_initializer="glorot_normal", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self._init_sll(hidden_units, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer)

    def build(self, input_shape):
        if len(input_shape) != 2 or input_shape[-1] is None:
            raise ValueError(f"SLLDense expects (batch, features) inputs with known features. Received: {input_shape}")
        features = int(input_shape[-1])
        self._build_sll((features, self.hidden or features))

    def _t(self, kernel, q):
        return sll_dense_t(kernel, q)

    def _down(self, x, kernel):
        return ops.matmul(x, kernel)

    def _up(self, hidden, kernel):
        return ops.matmul(hidden, ops.transpose(kernel))

    def export_plain(self) -> keras.Model:
        """A functional block of plain layers: Dense(hidden_units, relu) → Dense(features, no bias) → Add(input).

        The second Dense holds −2 Wᵀ/t (T folded in). The block computes the same function, but its graph bound
        (`tf_lipschitz.analysis.bounds`) is the triangle inequality 1 + ‖W‖·‖2 T⁻¹Wᵀ‖ ≥ 1, not the layer's proven 1: certify
        with the SLL layer, deploy with the export.

        Returns:
            A built `keras.Model` named like the layer.

        Raises:
            ValueError: if the layer is not built.
        """
        if not self.built:
            raise ValueError(f"Layer {self.name!r} is not built; call it on an input first")
        kernel = self.kernel
        down = keras.layers.Dense(kernel.shape[1], activation="relu", name=f"{self.name}_down")
        up = keras.layers.Dense(kernel.shape[0], use_bias=False, name=f"{self.name}_up")
        down.build((None, kernel.shape[0]))
        up.build((None, kernel.shape[1]))
        return self._export(down, up)

    def _up_kernel(self, kernel, factor):
        return -(kernel * factor).T  # −2 T⁻¹ Wᵀ in the row convention: (hidden_units, features)


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class SLLConv2D(_SLLMixin, keras.layers.Layer):
    """Convolutional SLL: y = x − 2 Cᵀ T⁻¹ ReLU(C x + b), C a stride-1 'same' convolution; 1-Lipschitz.

    C maps the input channels to `hidden_filters` channels with a (kh, kw, channels, hidden_filters) kernel, and Cᵀ
    is its exact adjoint (the transposed convolution with the same kernel), so the output has the input's shape.
    T holds one tᵢ per hidden channel from the kernel's self-correlation (module docstring), valid on any input size.
    Channels-last only.

    Args:
        hidden_filters: Number of hidden channels (≥ 1); defaults to the number of input channels.
        kernel_size: int or (kh, kw) (≥ 1).
        kernel_initializer: Initializer of the kernel.
        bias_initializer: Initializer of b.
        kernel_regularizer: Optional regularizer of the kernel.
        bias_regularizer: Optional regularizer of b.
        **kwargs: Any `keras.layers.Layer` argument.

    Raises:
        ValueError: if `hidden_filters` or `kernel_size` is not positive, or (when built) the input is not rank 4
            with known channels.

    Example:
        >>> layer = SLLConv2D(8, 3)
        >>> layer(np.ones((1, 6, 6, 4), "float32")).shape
        TensorShape([1, 6, 6, 4])

    Reference:
        Araujo, Havens, Delattre, Allauzen and Hu, "A Unified Algebraic Perspective on Lipschitz Neural Networks",
        ICLR 2023.
    """

    _hidden_name = "hidden_filters"

    def __init__(self, hidden_filters: int | None = None, kernel_size=3, kernel_initializer="glorot_normal",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size = lip_ops.check_pair(kernel_size, "kernel_size")
        self._init_sll(hidden_filters, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer)

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError(f"SLLConv2D expects (batch, height, width, channels) inputs with known channels. "
                             f"Received: {input_shape}")
        channels = int(input_shape[-1])
        self._build_sll(self.kernel_size + (channels, self.hidden or channels))

    def _t(self, kernel, q):
        return sll_conv_t(kernel, q)

    def _down(self, x, kernel):
        return ops.conv(x, kernel, strides=1, padding="same", data_format="channels_last")

    def _up(self, hidden, kernel):
        return ops.conv_transpose(hidden, kernel, strides=1, padding="same", data_format="channels_last")

    def export_plain(self) -> keras.Model:
        """A functional block of plain layers: Conv2D(relu) → Conv2DTranspose(no bias) → Add(input).

        The transposed convolution holds −2 K/t (T folded into its kernel). The block computes the same function,
        but its graph bound is the triangle inequality (≥ 1), not the layer's proven 1: certify with the SLL layer.

        Returns:
            A built `keras.Model` named like the layer.

        Raises:
            ValueError: if the layer is not built.
        """
        if not self.built:
            raise ValueError(f"Layer {self.name!r} is not built; call it on an input first")
        *_, channels, hidden = self.kernel.shape
        down = keras.layers.Conv2D(hidden, self.kernel_size, padding="same", activation="relu",
                                   name=f"{self.name}_down")
        up = keras.layers.Conv2DTranspose(channels, self.kernel_size, padding="same", use_bias=False,
                                          name=f"{self.name}_up")
        down.build((None, None, None, channels))
        up.build((None, None, None, hidden))
        return self._export(down, up)

    def _up_kernel(self, kernel, factor):
        return -kernel * factor  # Conv2DTranspose's (kh, kw, channels, hidden) layout is the kernel's own

    def get_config(self) -> dict:
        return {**super().get_config(), "kernel_size": self.kernel_size}
