"""Almost-orthogonal Lipschitz (AOL) Dense and Conv2D: the kernel is rescaled per input channel so that ‖W D‖₂ ≤ 1.

For a linear map P (a matrix, or a convolution on ℓ²), AOL multiplies its input by D = diag(dᵢ) with

    dᵢ = (Σⱼ |PᵀP|ᵢⱼ)^(-1/2).

Why ‖P D‖₂ ≤ 1: for any symmetric A with absolutely summable rows rᵢ = Σⱼ |Aᵢⱼ|,
xᵀAx ≤ Σᵢⱼ |Aᵢⱼ| |xᵢ||xⱼ| ≤ Σᵢⱼ |Aᵢⱼ| (xᵢ² + xⱼ²)/2 = Σᵢ rᵢ xᵢ², i.e. A ⪯ diag(r). With A = PᵀP this gives
D PᵀP D ⪯ D diag(r) D ⪯ I as soon as dᵢ² rᵢ ≤ 1. The argument holds in infinite dimension, which is what a
convolution needs:

* Dense: P is the kernel's linear map and PᵀP = W Wᵀ with W the Keras kernel (input × units), so row i of W
  (input feature i) is scaled by dᵢ.
* Conv2D: let C be the convolution with the layer's strides and dilation on the infinite grid ℓ²(ℤ²) (every output
  position of the stride lattice). A layer on a finite input with 'valid' or 'same' zero padding is R C E: E
  extends the input by zeros (an isometry) and R keeps some output positions (a coordinate projection, ‖R‖ ≤ 1).
  A per-channel D commutes with E, so ‖R C E D‖ ≤ ‖C D‖ ≤ 1 whatever the padding and input size.
  CᵀC is periodic with the stride: its entry between input pixels p and p + Δ (channels c, c') is
  Gᵩ[Δ, c, c'] = Σ_{a ≡ φ (mod s)} Σ_o K[a, c, o] K[a + Δ, c', o], where φ is the phase of p relative to the
  output lattice. Its row sums are rᵩ(c) = Σ_{Δ, c'} |Gᵩ[Δ, c, c']|, so the per-channel scale is
  d_c = (maxᵩ rᵩ(c))^(-1/2). With stride 1 there is one phase and G is the kernel's self-correlation |K ⋆ K| of
  the paper; with stride s only the taps of one phase meet in a row, which for typical kernels gives a larger
  (less conservative) scale than the stride-1 formula (by 1.2-2× for random 3×3 kernels with stride 2-3). Not
  always, as cancellations between phases can make the stride-1 sums smaller; since the strided layer is the
  stride-1 one followed by a restriction, the stride-1 scale bounds it too, and the layer uses whichever of the
  two scale vectors has the larger product. A dilated kernel is handled as the equivalent kernel with zeros
  between taps.

A small ε is added to every row sum (so a zero row gives no division by zero): it only shrinks D, so the bound
still holds.

Reference:
    Prach and Lampert, "Almost-Orthogonal Layers for Efficient General-Purpose Lipschitz Networks", ECCV 2022.
"""

from __future__ import annotations

import keras
from keras import ops

from tf_lipschitz import ops as lip_ops
from tf_lipschitz.layers.base import LipschitzLayer, add_bias_and_activate
from tf_lipschitz.layers.export import PlainExportMixin
from tf_lipschitz.ops.layer_norms import activation_bound

__all__ = ["AOLDense", "AOLConv2D", "aol_dense_scale", "aol_conv_scale", "conv_gram", "dilate_kernel"]

# Added to every Gram row sum before the inverse square root: keeps zero rows finite, only shrinks the scale.
_EPS = 1e-10


def aol_dense_scale(kernel):
    """AOL's per-input-feature scale d for a Dense kernel W (input × units): dᵢ = (Σⱼ |W Wᵀ|ᵢⱼ)^(-1/2).

    Args:
        kernel: A 2-D float tensor, the Keras Dense kernel.

    Returns:
        A 1-D tensor of length `kernel.shape[0]`; `d[:, None] * kernel` has spectral norm ≤ 1.

    Example:
        >>> w = np.array([[1.0, 1.0], [1.0, -1.0]], "float32")  # orthogonal columns, norm √2
        >>> np.round(np.asarray(aol_dense_scale(w)), 4)
        array([0.7071, 0.7071], dtype=float32)
    """
    kernel = ops.convert_to_tensor(kernel)
    row_sums = ops.sum(ops.abs(ops.matmul(kernel, ops.transpose(kernel))), axis=1)
    return ops.rsqrt(row_sums + _EPS)


def dilate_kernel(kernel, dilation_rate):
    """The equivalent undilated kernel of a dilated Conv2D: taps spread apart with zeros between them.

    Args:
        kernel: A (kh, kw, c_in, c_out) tensor.
        dilation_rate: A pair (δh, δw) of positive ints.

    Returns:
        A ((kh − 1)·δh + 1, (kw − 1)·δw + 1, c_in, c_out) tensor.

    Example:
        >>> dilate_kernel(np.ones((2, 3, 1, 1), "float32"), (2, 1))[:, :, 0, 0].numpy()
        array([[1., 1., 1.],
               [0., 0., 0.],
               [1., 1., 1.]], dtype=float32)
    """
    kernel = ops.convert_to_tensor(kernel)
    for axis, rate in enumerate(dilation_rate):
        if rate == 1:
            continue
        size = kernel.shape[axis]
        zeros = ops.zeros_like(kernel)
        spread = ops.stack([kernel] + [zeros] * (rate - 1), axis=axis + 1)  # tap, then rate − 1 zeros
        shape = list(kernel.shape)
        shape[axis] = size * rate
        kernel = ops.reshape(spread, shape)
        kernel = kernel[: (size - 1) * rate + 1] if axis == 0 else kernel[:, : (size - 1) * rate + 1]
    return kernel


def conv_gram(kernel, strides=(1, 1)):
    """The entries of CᵀC for the convolution C with kernel K and `strides` on the infinite grid, by phase.

    Gᵩ[Δ, c, c'] = Σ_{a ≡ φ (mod s)} Σ_o K[a, c, o] K[a + Δ, c', o], for every phase φ of the stride (one phase for
    stride 1: the kernel's self-correlation). Computed as one convolution of the zero-padded kernel with the
    phase-masked kernels, so it is differentiable and runs on any backend.

    Args:
        kernel: A (kh, kw, c_in, c_out) tensor (an already dilated kernel for dilated convolutions).
        strides: A pair (sh, sw) of positive ints.

    Returns:
        A (sh·sw, 2kh − 1, 2kw − 1, c_in, c_in) tensor: phase, offset Δ (centred), row channel c, column channel c'.

    Example:
        >>> g = conv_gram(np.array([1.0, 2.0], "float32").reshape(1, 2, 1, 1))
        >>> g[0, 0, :, 0, 0].numpy()  # the self-correlation of [1, 2]
        array([2., 5., 2.], dtype=float32)
    """
    kernel = ops.convert_to_tensor(kernel)
    kh, kw, c_in, c_out = kernel.shape
    sh, sw = strides
    rows = ops.arange(kh)[:, None]
    cols = ops.arange(kw)[None, :]
    filters = []
    for ph in range(sh):
        for pw in range(sw):
            mask = ops.cast(ops.logical_and(rows % sh == ph, cols % sw == pw), kernel.dtype)
            masked = kernel * mask[:, :, None, None]
            filters.append(ops.transpose(masked, (0, 1, 3, 2)))  # (kh, kw, c_out, c_in): row channel c as output
    filters = ops.concatenate(filters, axis=-1)
    # A batch of c_in images K[:, :, c', :] with c_out channels, zero-padded so every overlap Δ is computed.
    images = ops.pad(ops.transpose(kernel, (2, 0, 1, 3)), ((0, 0), (kh - 1, kh - 1), (kw - 1, kw - 1), (0, 0)))
    gram = ops.conv(images, filters, strides=1, padding="valid", data_format="channels_last")
    gram = ops.reshape(gram, (c_in, 2 * kh - 1, 2 * kw - 1, sh * sw, c_in))  # (c', Δh, Δw, φ, c)
    return ops.transpose(gram, (3, 1, 2, 4, 0))


def aol_conv_scale(kernel, strides=(1, 1), dilation_rate=(1, 1)):
    """AOL's per-input-channel scale for a Conv2D kernel: d_c = (maxᵩ Σ_{Δ, c'} |Gᵩ[Δ, c, c']|)^(-1/2).

    With strides > 1 the stride-1 scale is used instead when its product over channels is larger (both are valid).
    The rescaled kernel `kernel * d[:, None]` gives a convolution of operator norm ≤ 1 with these strides and
    dilation, for 'valid' and 'same' padding on every input size (see the module docstring).

    Args:
        kernel: A (kh, kw, c_in, c_out) tensor.
        strides: A pair of positive ints.
        dilation_rate: A pair of positive ints.

    Returns:
        A 1-D tensor of length c_in.

    Example:
        >>> k = np.zeros((3, 3, 1, 1), "float32"); k[1, 1] = 2.0  # 2 · identity
        >>> np.round(np.asarray(aol_conv_scale(k)), 4)
        array([0.5], dtype=float32)
    """
    gram = conv_gram(dilate_kernel(kernel, dilation_rate), strides)
    row_sums = ops.max(ops.sum(ops.abs(gram), axis=(1, 2, 4)), axis=0) + _EPS  # max over phases of Σ_{Δ, c'}
    if tuple(strides) != (1, 1):
        # The stride-1 sums (the phases' Gram entries added before |·|) bound the strided layer too; keep the set
        # with the smaller product over channels (the stride-aware one for typical kernels, not always).
        stride_one = ops.sum(ops.abs(ops.sum(gram, axis=0)), axis=(0, 1, 3)) + _EPS
        smaller = ops.sum(ops.log(row_sums)) <= ops.sum(ops.log(stride_one))
        row_sums = ops.where(smaller, row_sums, stride_one)
    return ops.rsqrt(row_sums)


class _AOLMixin(PlainExportMixin, LipschitzLayer):
    """Shared by the AOL layers: un-autocast kernel, `normalized_kernel`, export and bound through the plain layer."""

    def add_weight(self, *args, **kwargs):
        # The rescaling runs in the variable dtype (float32 under mixed precision), then casts to the compute dtype.
        if kwargs.get("name") == "kernel":
            kwargs["autocast"] = False
        return super().add_weight(*args, **kwargs)

    def _scale(self, kernel):
        raise NotImplementedError

    def normalized_kernel(self, training: bool = False):
        """The kernel actually used: W scaled by AOL's d along the input axis, in the compute dtype.

        Args:
            training: Unused (AOL has no state); kept for the normalized layers' common signature.

        Returns:
            A tensor shaped like the kernel.
        """
        kernel = ops.convert_to_tensor(self.kernel)  # the variable dtype: float32 under mixed precision
        scale = self._scale(kernel)
        kernel = kernel * ops.reshape(scale, (1,) * (len(kernel.shape) - 2) + (-1, 1))
        return ops.cast(kernel, self.compute_dtype)

    def _add_bias_and_activate(self, outputs):
        return add_bias_and_activate(outputs, self.bias, self.activation, getattr(self, "data_format", None))

    def lipschitz_bound(self) -> float:
        """min(1, exact or certified norm of the rescaled kernel) times the activation's constant.

        1 is AOL's guarantee; the plain export's bound (`tf_lipschitz.analysis.bounds`: SVD for Dense, the Fourier bound on
        the built input shape for Conv2D) is often smaller, and both are true upper bounds. On an input shape with
        unknown spatial dimensions only the guarantee is used.

        Returns:
            A float.

        Raises:
            ValueError: if the layer is not built.
        """
        guarantee = activation_bound(self.activation)
        if None in self.built_input_shape()[1:]:
            return guarantee
        return min(guarantee, super().lipschitz_bound())


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class AOLDense(_AOLMixin, keras.layers.Dense):
    """Dense layer with AOL's rescaled kernel diag(d) W, dᵢ = (Σⱼ |W Wᵀ|ᵢⱼ)^(-1/2): 1-Lipschitz by construction.

    The rescaling is recomputed in every call (no state, no power iteration) and gradients flow through it. When
    W has orthogonal columns the layer is an isometry; in general it is "almost orthogonal" (Prach & Lampert).
    The kernel initializer defaults to "orthogonal", where AOL starts close to norm-preserving.

    Args:
        units: Output dimension.
        **kwargs: Any `keras.layers.Dense` argument (activation, use_bias, initializers, …).

    Raises:
        ValueError: if `units` is not a positive int (Keras' own check).

    Example:
        >>> layer = AOLDense(3)
        >>> y = layer(np.random.default_rng(0).normal(size=(2, 5)).astype("float32"))
        >>> w = np.asarray(layer.normalized_kernel())
        >>> bool(np.linalg.svd(w, compute_uv=False)[0] <= 1.0 + 1e-6)
        True

    Reference:
        Prach and Lampert, "Almost-Orthogonal Layers for Efficient General-Purpose Lipschitz Networks",
        ECCV 2022.
    """

    plain_class = keras.layers.Dense

    def __init__(self, units: int, **kwargs):
        kwargs.setdefault("kernel_initializer", "orthogonal")
        super().__init__(units, **kwargs)

    def _scale(self, kernel):
        return aol_dense_scale(kernel)

    def call(self, inputs, training=None):
        return self._add_bias_and_activate(ops.matmul(inputs, self.normalized_kernel()))


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class AOLConv2D(_AOLMixin, keras.layers.Conv2D):
    """Conv2D with AOL's per-input-channel rescaled kernel: 1-Lipschitz for every stride, dilation and padding.

    The scale d_c = (maxᵩ Σ_{Δ, c'} |Gᵩ[Δ, c, c']|)^(-1/2) comes from the kernel's self-correlation restricted to
    each stride phase φ (`conv_gram`); the proof that the layer's operator norm is ≤ 1 on every input size with
    'valid' or 'same' zero padding is in the module docstring. The rescaling is recomputed in every call, with
    gradients through it; no input shape is needed, so the layer accepts any spatial size. For deployment,
    `export_plain()` (or `tf_lipschitz.analysis.convert.export_plain(model)`) bakes the rescaled kernel into a plain Conv2D.

    Args:
        filters: Number of output channels.
        kernel_size: int or (kh, kw).
        **kwargs: Any `keras.layers.Conv2D` argument (strides, padding, dilation_rate, activation, …) except
            `groups` ≠ 1.

    Raises:
        ValueError: if the padding is not 'valid' or 'same', or `groups` ≠ 1.

    Example:
        >>> layer = AOLConv2D(4, 3, strides=2, padding="same")
        >>> layer(np.ones((1, 8, 8, 3), "float32")).shape
        TensorShape([1, 4, 4, 4])

    Reference:
        Prach and Lampert, "Almost-Orthogonal Layers for Efficient General-Purpose Lipschitz Networks",
        ECCV 2022.
    """

    plain_class = keras.layers.Conv2D

    def __init__(self, filters: int, kernel_size, **kwargs):
        super().__init__(filters, kernel_size, **kwargs)
        lip_ops.check_padding(self.padding)
        if self.groups != 1:
            raise ValueError(f"AOLConv2D supports only `groups=1`. Received: groups={self.groups}")

    def _scale(self, kernel):
        return aol_conv_scale(kernel, self.strides, self.dilation_rate)

    def call(self, inputs, training=None):
        return self._add_bias_and_activate(self.convolution_op(inputs, self.normalized_kernel()))
