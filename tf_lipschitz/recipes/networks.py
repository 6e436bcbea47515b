"""The networks of the presets: the 2-D toy MLPs and the DCGAN-style image nets, by model name.

Reference:
    Terjék, "Adversarial Lipschitz Regularization", ICLR 2020, section 5 and appendix A.2.
    "How does Lipschitz regularization influence GAN training?", appendix B.
"""

from __future__ import annotations

import keras

from tf_lipschitz.architectures import dcgan_critic, dcgan_generator, toy_mlp
from tf_lipschitz.foundations.validation import check_choice
from tf_lipschitz.recipes.gans import MODELS

__all__ = ["toy_networks", "image_networks"]


def toy_networks(width: int = 256, depth: int = 3, *, spectral_norm: bool = False,
                 latent_dim: int = 2) -> tuple[keras.Model, keras.Model]:
    """The 2-D toy generator and critic of `tf-lipschitz train`: `depth` ReLU layers of `width` units each.

    Args:
        width: Units per hidden layer (256 in `tf-lipschitz train`).
        depth: Hidden layers per network.
        spectral_norm: Spectral-normalize every critic layer (the SN model).
        latent_dim: Latent size of the generator.

    Returns:
        (generator, critic): z (latent_dim) ↦ point (2); point ↦ score (1).

    Example:
        >>> gen, critic = toy_networks(8, 2)
        >>> gen.output_shape, critic.output_shape
        ((None, 2), (None, 1))
    """
    generator = keras.Sequential(
        [keras.Input((latent_dim,))] + [keras.layers.Dense(width, activation="relu") for _ in range(depth)]
        + [keras.layers.Dense(2)], name="toy_generator")
    critic = toy_mlp(2, (width,) * depth, 1, spectral_norm=spectral_norm, name="toy_critic")
    return generator, critic


def image_networks(model: str, channels: int, width: int = 16, *,
                   latent_dim: int = 100) -> tuple[keras.Model, keras.Model]:
    """The DCGAN 32×32 generator and critic of `tf-lipschitz train` for `model`: a plain critic for the penalized
    GANs, a spectral-normalized one for "sn" (`dcgan_critic` normalizes by default).

    Args:
        model: One of `MODELS`.
        channels: Image channels.
        width: Base width of both networks (16 in `tf-lipschitz train`).
        latent_dim: Latent size of the generator.

    Returns:
        (generator, critic): z (latent_dim) ↦ image (32, 32, channels); image ↦ score (1).

    Raises:
        ValueError: for an unknown `model`.

    Example:
        >>> gen, critic = image_networks("wgan-alp", 1, width=4)
        >>> gen.output_shape, critic.output_shape
        ((None, 32, 32, 1), (None, 1))
    """
    check_choice("model", model, MODELS)
    generator = dcgan_generator(32, latent_dim, channels, width=width)
    critic = dcgan_critic(32, channels=channels, spectral_norm=model == "sn", width=width)
    return generator, critic
