"""Classifiers and regressors of the ALR experiments: VAT's ConvLarge and the toy 20-40-20 MLP.

Reference:
    Miyato et al., "Virtual Adversarial Training: A Regularization Method for Supervised and Semi-Supervised
    Learning", IEEE TPAMI 2018 (ConvLarge, `cnn.py` in takerum/vat_tf).
    Terjék, "Adversarial Lipschitz Regularization", ICLR 2020, section 4.2 (toy MLP) and appendix A.3.
"""

from __future__ import annotations

from typing import Sequence

import keras
from keras import layers

from tf_lipschitz.architectures._common import layer_factory
from tf_lipschitz.foundations.validation import check_int

__all__ = ["conv_large", "toy_mlp"]


def _conv_bn_lrelu(x, filters: int, kernel_size: int, padding: str, slope: float, name: str):
    # Bias-free like the TF reference: the batch norm that follows has its own offset.
    x = layers.Conv2D(filters, kernel_size, padding=padding, use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.LeakyReLU(negative_slope=slope, name=f"{name}_lrelu")(x)


def conv_large(
    num_classes: int = 10,
    input_shape: Sequence[int] = (32, 32, 3),
    *,
    width: int = 128,
    dropout: float = 0.5,
    noise_stddev: float = 0.0,
    leaky_relu_slope: float = 0.1,
    top_batch_norm: bool = False,
    name: str = "conv_large",
) -> keras.Model:
    """VAT's ConvLarge: 9 conv layers with batch norm and LeakyReLU(0.1), max pooling, dropout, logits output.

    Layers (width w = 128): 3×[3×3 conv w], 2×2 max pool, dropout; 3×[3×3 conv 2w], max pool, dropout;
    3×3 'valid' conv 4w, 1×1 conv 2w, 1×1 conv w; global average pooling; dense to `num_classes` logits
    (optionally batch-normalized, VAT's `top_bn`).

    Args:
        num_classes: Number of classes (10 for CIFAR-10).
        input_shape: (height, width, channels).
        width: w, the first block's channels (128); the other blocks scale with it.
        dropout: Dropout rate after each pooling (0.5 in VAT).
        noise_stddev: Std of additive Gaussian input noise during training (0 disables, VAT's default).
        leaky_relu_slope: Negative slope (0.1).
        top_batch_norm: Batch-normalize the logits.
        name: Model name.

    Returns:
        A functional `keras.Model` from images to (batch, num_classes) logits.

    Raises:
        ValueError: for non-positive sizes or a dropout rate outside [0, 1).

    Example:
        >>> model = conv_large(width=4)
        >>> model(np.zeros((2, 32, 32, 3), "float32")).shape
        TensorShape([2, 10])

    Reference:
        Miyato et al., "Virtual Adversarial Training", TPAMI 2018, Table 4 (Conv-Large).
    """
    num_classes = check_int("num_classes", num_classes)
    width = check_int("width", width)
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={dropout!r}")
    if noise_stddev < 0:
        raise ValueError(f"`noise_stddev` must be >= 0. Received: noise_stddev={noise_stddev!r}")
    inputs = keras.Input(tuple(input_shape), name="images")
    x = layers.GaussianNoise(noise_stddev, name="noise")(inputs) if noise_stddev else inputs
    for block, filters in enumerate((width, 2 * width), start=1):
        for i in range(1, 4):
            x = _conv_bn_lrelu(x, filters, 3, "same", leaky_relu_slope, f"block{block}_{i}")
        x = layers.MaxPooling2D(2, padding="same", name=f"block{block}_pool")(x)
        x = layers.Dropout(dropout, name=f"block{block}_dropout")(x)
    x = _conv_bn_lrelu(x, 4 * width, 3, "valid", leaky_relu_slope, "block3_1")
    x = _conv_bn_lrelu(x, 2 * width, 1, "same", leaky_relu_slope, "block3_2")
    x = _conv_bn_lrelu(x, width, 1, "same", leaky_relu_slope, "block3_3")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dense(num_classes, name="logits")(x)
    if top_batch_norm:
        x = layers.BatchNormalization(name="logits_bn")(x)
    return keras.Model(inputs, x, name=name)


def toy_mlp(
    input_dim: int = 2,
    hidden_units: Sequence[int] = (20, 40, 20),
    output_dim: int = 1,
    *,
    batch_norm: bool = False,
    spectral_norm: bool = False,
    k_sn: float = 1.0,
    power_iterations: int = 1,
    name: str = "toy_mlp",
) -> keras.Model:
    """The MLP of the ALR toy example: hidden layers of 20, 40 and 20 ReLU units, a linear output.

    With `batch_norm=True`, batch normalization sits between each hidden dense layer and its ReLU. With
    `spectral_norm=True` every dense layer, the output included, is a `SpectralNormDense(k_sn)`.

    Args:
        input_dim: Input size (2 for the ring example on [-4, 4]²).
        hidden_units: Hidden layer sizes.
        output_dim: Output size.
        batch_norm: Batch norm before each ReLU.
        spectral_norm: Spectral-normalize the dense layers.
        k_sn: Target spectral norm of each dense layer.
        power_iterations: Power-iteration steps of the normalized layers.
        name: Model name.

    Returns:
        A functional `keras.Model` from (batch, input_dim) to (batch, output_dim).

    Raises:
        ValueError: for non-positive sizes, or `k_sn` ≤ 0 with `spectral_norm=True`.

    Example:
        >>> toy_mlp()(np.zeros((3, 2), "float32")).shape
        TensorShape([3, 1])

    Reference:
        Terjék, "Adversarial Lipschitz Regularization", ICLR 2020, section 4.2.
    """
    input_dim = check_int("input_dim", input_dim)
    output_dim = check_int("output_dim", output_dim)
    hidden_units = [check_int("hidden_units", u) for u in hidden_units]
    dense = layer_factory("spectral_norm" if spectral_norm else "plain", "dense", k_sn=k_sn,
                          power_iterations=power_iterations)
    inputs = keras.Input((input_dim,), name="inputs")
    x = inputs
    for i, units in enumerate(hidden_units, start=1):
        x = dense(units, use_bias=not batch_norm, name=f"dense{i}")(x)
        if batch_norm:
            x = layers.BatchNormalization(name=f"bn{i}")(x)
        x = layers.ReLU(name=f"relu{i}")(x)
    x = dense(output_dim, name="output")(x)
    return keras.Model(inputs, x, name=name)
