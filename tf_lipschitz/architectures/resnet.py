"""The CIFAR-10 ResNet of WGAN-GP (Gulrajani et al. 2017), used for WGAN-ALP in section 5 of the ALR paper.

Generator: a dense layer to 4×4×128, three residual up-blocks (batch norm, ReLU, nearest-neighbour upsampling,
3×3 convolutions, 1×1 convolution on the upsampled shortcut), batch norm, ReLU, a 3×3 convolution to RGB and
tanh. Critic, without normalization: an "optimized" first block (conv, ReLU, conv, mean pool; shortcut: mean
pool then 1×1 conv), a down block (shortcut: 1×1 conv then mean pool), two plain blocks with identity
shortcuts, ReLU, global average pooling and a dense output. Widths default to 128 everywhere.

Mean pooling is 2×2 average pooling; the upsampling repeats each pixel 2×2, like the reference's
depth-to-space of four copies. Initializers are Keras' defaults (the reference used its own He/Glorot mix).

Reference:
    Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017 (`gan_cifar_resnet.py`).
    Terjék, "Adversarial Lipschitz Regularization", ICLR 2020, section 5.
"""

from __future__ import annotations

import keras
from keras import layers

from tf_lipschitz.architectures._common import LayerSpec, layer_factory
from tf_lipschitz.foundations.validation import check_int

__all__ = ["resnet_generator", "resnet_critic"]


def _up_block(x, width: int, batch_norm: bool, name: str):
    """BN-ReLU-upsample-conv3-BN-ReLU-conv3, plus upsample-conv1 on the shortcut."""
    shortcut = layers.UpSampling2D(2, interpolation="nearest", name=f"{name}_shortcut_up")(x)
    shortcut = layers.Conv2D(width, 1, name=f"{name}_shortcut_conv")(shortcut)
    if batch_norm:
        x = layers.BatchNormalization(name=f"{name}_bn1")(x)
    x = layers.ReLU(name=f"{name}_relu1")(x)
    x = layers.UpSampling2D(2, interpolation="nearest", name=f"{name}_up")(x)
    x = layers.Conv2D(width, 3, padding="same", name=f"{name}_conv1")(x)
    if batch_norm:
        x = layers.BatchNormalization(name=f"{name}_bn2")(x)
    x = layers.ReLU(name=f"{name}_relu2")(x)
    x = layers.Conv2D(width, 3, padding="same", name=f"{name}_conv2")(x)
    return layers.Add(name=f"{name}_add")([shortcut, x])


def resnet_generator(
    latent_dim: int = 128,
    width: int = 128,
    channels: int = 3,
    *,
    batch_norm: bool = True,
    name: str = "resnet_generator",
) -> keras.Model:
    """The WGAN-GP CIFAR-10 ResNet generator: z ↦ a 32×32 image in [-1, 1].

    Args:
        latent_dim: Size of the Gaussian latent vector (128 in the reference).
        width: Channels of every residual block (DIM_G = 128 in the reference).
        channels: Image channels (3 for CIFAR-10).
        batch_norm: Batch normalization before each ReLU, as in the reference; False removes it.
        name: Model name.

    Returns:
        A functional `keras.Model` from (batch, latent_dim) to (batch, 32, 32, channels), ending in tanh.

    Raises:
        ValueError: if `latent_dim`, `width` or `channels` is not a positive integer.

    Example:
        >>> g = resnet_generator(latent_dim=8, width=8)
        >>> g(np.zeros((2, 8), "float32")).shape
        TensorShape([2, 32, 32, 3])

    Reference:
        Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017.
    """
    latent_dim = check_int("latent_dim", latent_dim)
    width = check_int("width", width)
    channels = check_int("channels", channels)
    z = keras.Input((latent_dim,), name="z")
    x = layers.Dense(4 * 4 * width, name="input_dense")(z)
    x = layers.Reshape((4, 4, width), name="input_reshape")(x)
    for i in range(1, 4):
        x = _up_block(x, width, batch_norm, name=f"block{i}")
    if batch_norm:
        x = layers.BatchNormalization(name="output_bn")(x)
    x = layers.ReLU(name="output_relu")(x)
    x = layers.Conv2D(channels, 3, padding="same", name="output_conv")(x)
    x = layers.Activation("tanh", name="tanh")(x)
    return keras.Model(z, x, name=name)


def _critic_block(x, width: int, conv, resample: str, name: str):
    """One critic residual block; `resample` is "first" (optimized block 1), "down" or "none"."""
    if resample == "first":
        shortcut = layers.AveragePooling2D(2, name=f"{name}_shortcut_pool")(x)
        shortcut = conv(width, 1, name=f"{name}_shortcut_conv")(shortcut)
        h = conv(width, 3, padding="same", name=f"{name}_conv1")(x)
    else:
        if resample == "down":
            shortcut = conv(width, 1, name=f"{name}_shortcut_conv")(x)
            shortcut = layers.AveragePooling2D(2, name=f"{name}_shortcut_pool")(shortcut)
        else:
            shortcut = x
        h = layers.ReLU(name=f"{name}_relu1")(x)
        h = conv(width, 3, padding="same", name=f"{name}_conv1")(h)
    h = layers.ReLU(name=f"{name}_relu2")(h)
    h = conv(width, 3, padding="same", name=f"{name}_conv2")(h)
    if resample in ("first", "down"):
        h = layers.AveragePooling2D(2, name=f"{name}_pool")(h)
    return layers.Add(name=f"{name}_add")([shortcut, h])


def resnet_critic(
    width: int = 128,
    channels: int = 3,
    resolution: int = 32,
    *,
    conv_layer: LayerSpec = "plain",
    dense_layer: LayerSpec = "plain",
    k_sn: float = 1.0,
    power_iterations: int = 1,
    name: str = "resnet_critic",
) -> keras.Model:
    """The WGAN-GP CIFAR-10 ResNet critic, with any of our Lipschitz layers in place of Conv2D/Dense.

    Block structure (all widths `width`): optimized block (→ resolution/2), down block (→ resolution/4), two
    plain blocks with identity shortcuts, ReLU, global average pooling, dense to one output. No normalization.
    The input shape is static, so `ToeplitzNormConv2D` knows its operator.

    Args:
        width: Channels of every block (DIM_D = 128 in the reference).
        channels: Image channels.
        resolution: Input height and width (32 for CIFAR-10); a multiple of 4.
        conv_layer: "plain" (`keras.layers.Conv2D`, for GP/ALP), "spectral_norm", "toeplitz_norm", a layer class
            or a factory with Conv2D's signature; used for every convolution, shortcuts included.
        dense_layer: "plain", "spectral_norm", a class or a factory with Dense's signature, for the output.
        k_sn: `k_sn` of the normalized layers (spectral or Toeplitz).
        power_iterations: Power-iteration steps of the normalized layers.
        name: Model name.

    Returns:
        A functional `keras.Model` from (batch, resolution, resolution, channels) to (batch, 1).

    Raises:
        ValueError: for a non-positive width/channels, a resolution not a multiple of 4, or an unknown layer name.

    Example:
        >>> d = resnet_critic(width=8, conv_layer="spectral_norm", dense_layer="spectral_norm")
        >>> d(np.zeros((2, 32, 32, 3), "float32")).shape
        TensorShape([2, 1])

    Reference:
        Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017.
    """
    width = check_int("width", width)
    channels = check_int("channels", channels)
    resolution = check_int("resolution", resolution)
    if resolution % 4:
        raise ValueError(f"`resolution` must be a multiple of 4. Received: resolution={resolution}")
    conv = layer_factory(conv_layer, "conv", k_sn=k_sn, power_iterations=power_iterations)
    dense = layer_factory(dense_layer, "dense", k_sn=k_sn, power_iterations=power_iterations)
    images = keras.Input((resolution, resolution, channels), name="images")
    x = _critic_block(images, width, conv, "first", "block1")
    x = _critic_block(x, width, conv, "down", "block2")
    x = _critic_block(x, width, conv, "none", "block3")
    x = _critic_block(x, width, conv, "none", "block4")
    x = layers.ReLU(name="output_relu")(x)
    x = layers.GlobalAveragePooling2D(name="output_pool")(x)
    x = dense(1, name="output_dense")(x)
    return keras.Model(images, x, name=name)
