"""The DCGAN-style nets of appendix B of "How does Lipschitz regularization influence GAN training?".

Generator: z ∈ R^100 reshaped to 1×1×100, a 4×4 stride-1 transposed convolution to 4×4, then 4×4 stride-2
transposed convolutions doubling the resolution, batch norm and ReLU after each hidden layer, tanh at the end.
Critic: 4×4 stride-2 convolutions with LeakyReLU(0.2), spectral-normalized in the SN experiments, and a final
4×4 convolution to one output on the 4×4 feature map.

Channel widths (with the default `width=64`):

    resolution 64: G 512-256-128-64-c, D 64-128-256-512-1
    resolution 32: G 256-128-64-c,     D 64-128-256-1

The paper's tables (a)/(b) have their input captions swapped; the layer lists only fit as above. The final
critic convolution is "valid" on a 4×4 map, so its stride (2 in the SN table, 1 in appendix C) does not matter.

Reference:
    "How does Lipschitz regularization influence GAN training?", appendix B (and appendix C for the
    batch-normalized GP critic).
"""

from __future__ import annotations

import keras
from keras import layers

from tf_lipschitz.architectures._common import LayerSpec, layer_factory
from tf_lipschitz.foundations.validation import check_int

__all__ = ["dcgan_generator", "dcgan_critic"]

_RESOLUTIONS = (32, 64)


def _hidden_widths(resolution: int, width: int) -> list[int]:
    """Hidden widths from the 4×4 end: [8w, 4w, 2w, w] at 64, [4w, 2w, w] at 32."""
    if resolution not in _RESOLUTIONS:
        raise ValueError(f"`resolution` must be 32 or 64. Received: resolution={resolution!r}")
    n = 4 if resolution == 64 else 3
    return [width * 2 ** i for i in reversed(range(n))]


def dcgan_generator(
    resolution: int = 32,
    latent_dim: int = 100,
    channels: int = 3,
    *,
    width: int = 64,
    name: str | None = None,
) -> keras.Model:
    """The appendix-B generator: transposed convolutions with batch norm and ReLU, tanh output.

    Args:
        resolution: 32 (MNIST/CIFAR-10) or 64 (CelebA).
        latent_dim: Size of the latent vector (100 in the paper).
        channels: Output channels c (1 for MNIST, 3 for CIFAR-10/CelebA).
        width: Channels of the last hidden layer (64 in the paper); earlier layers double it.
        name: Model name; default "dcgan_generator_{resolution}".

    Returns:
        A functional `keras.Model` from (batch, latent_dim) to (batch, resolution, resolution, channels) in [-1, 1].

    Raises:
        ValueError: if `resolution` is not 32 or 64, or a size is not a positive integer.

    Example:
        >>> g = dcgan_generator(32, latent_dim=8, channels=1, width=4)
        >>> g(np.zeros((2, 8), "float32")).shape
        TensorShape([2, 32, 32, 1])

    Reference:
        "How does Lipschitz regularization influence GAN training?", appendix B.
    """
    widths = _hidden_widths(resolution, check_int("width", width))
    latent_dim = check_int("latent_dim", latent_dim)
    channels = check_int("channels", channels)
    z = keras.Input((latent_dim,), name="z")
    x = layers.Reshape((1, 1, latent_dim), name="reshape")(z)
    for i, filters in enumerate(widths):
        # Batch norm follows, so a bias would be redundant.
        x = layers.Conv2DTranspose(
            filters, 4, strides=1 if i == 0 else 2, padding="valid" if i == 0 else "same", use_bias=False,
            name=f"deconv{i + 1}",
        )(x)
        x = layers.BatchNormalization(name=f"bn{i + 1}")(x)
        x = layers.ReLU(name=f"relu{i + 1}")(x)
    x = layers.Conv2DTranspose(channels, 4, strides=2, padding="same", name=f"deconv{len(widths) + 1}")(x)
    x = layers.Activation("tanh", name="tanh")(x)
    return keras.Model(z, x, name=name or f"dcgan_generator_{resolution}")


def dcgan_critic(
    resolution: int = 32,
    k_sn: float = 1.0,
    *,
    channels: int = 3,
    spectral_norm: bool = True,
    width: int = 64,
    power_iterations: int = 1,
    batch_norm: bool = False,
    conv_layer: LayerSpec | None = None,
    name: str | None = None,
) -> keras.Model:
    """The appendix-B critic: 4×4 stride-2 convolutions with LeakyReLU(0.2), spectral-normalized by default.

    Every convolution, the output one included, is normalized when `spectral_norm=True`, so the critic's
    Lipschitz constant is roughly k_sn^n with n = 4 (resolution 32) or 5 (resolution 64) layers.

    Args:
        resolution: 32 or 64.
        k_sn: Target spectral norm of each layer (Eq. 1 of the paper).
        channels: Input channels c.
        spectral_norm: Use `SpectralNormConv2D`; False gives plain convolutions (for GP/ALP).
        width: Channels of the first layer (64 in the paper); later layers double it.
        power_iterations: Power-iteration steps of the normalized layers.
        batch_norm: Batch norm before each LeakyReLU, as in the GP critic of appendix C.
        conv_layer: Overrides `spectral_norm`: "plain", "spectral_norm", "toeplitz_norm", a class or a factory.
        name: Model name; default "dcgan_critic_{resolution}".

    Returns:
        A functional `keras.Model` from (batch, resolution, resolution, channels) to (batch, 1).

    Raises:
        ValueError: if `resolution` is not 32 or 64, a size is not a positive integer, `k_sn` ≤ 0, or the
            layer name is unknown.

    Example:
        >>> d = dcgan_critic(64, k_sn=1.0, channels=3, width=4)
        >>> d(np.zeros((2, 64, 64, 3), "float32")).shape
        TensorShape([2, 1])

    Reference:
        "How does Lipschitz regularization influence GAN training?", appendix B.
    """
    widths = list(reversed(_hidden_widths(resolution, check_int("width", width))))
    channels = check_int("channels", channels)
    if conv_layer is None:
        conv_layer = "spectral_norm" if spectral_norm else "plain"
    conv = layer_factory(conv_layer, "conv", k_sn=k_sn, power_iterations=power_iterations)
    images = keras.Input((resolution, resolution, channels), name="images")
    x = images
    for i, filters in enumerate(widths):
        x = conv(filters, 4, strides=2, padding="same", use_bias=not batch_norm, name=f"conv{i + 1}")(x)
        if batch_norm:
            x = layers.BatchNormalization(name=f"bn{i + 1}")(x)
        x = layers.LeakyReLU(negative_slope=0.2, name=f"lrelu{i + 1}")(x)
    x = conv(1, 4, strides=2 if resolution == 64 else 1, padding="valid", name=f"conv{len(widths) + 1}")(x)
    x = layers.Flatten(name="flatten")(x)
    return keras.Model(images, x, name=name or f"dcgan_critic_{resolution}")
