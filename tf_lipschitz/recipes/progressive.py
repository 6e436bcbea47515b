"""The Progressive GAN + ALP setup of the ALR paper's appendix A.2: the schedule by resolution and the compiled model.

The paper's hyper-parameters (`PROGRESSIVE_ALP`) live with the architecture they belong to,
`tf_lipschitz.architectures.progressive`.

Reference:
    Terjék, "Adversarial Lipschitz Regularization", ICLR 2020, section 5 and appendix A.2.
    "How does Lipschitz regularization influence GAN training?", appendix B.
"""

from __future__ import annotations

import keras

from tf_lipschitz.architectures.progressive import PROGRESSIVE_ALP
from tf_lipschitz.foundations.validation import check_choice
from tf_lipschitz.models import LipschitzGAN

__all__ = ["progressive_schedule", "progressive_wgan_alp"]


def progressive_schedule(resolution: int) -> tuple[int, float]:
    """(critic = generator batch, learning rate) of the Progressive GAN preset at one resolution.

    Args:
        resolution: A level's resolution, a power of 2 from 4 to 1024.

    Returns:
        (batch size, Adam learning rate) of `PROGRESSIVE_ALP`.

    Raises:
        ValueError: for a resolution outside the preset's table.

    Example:
        >>> progressive_schedule(4), progressive_schedule(256), progressive_schedule(1024)
        ((128, 0.001), (8, 0.001), (4, 0.0015))
    """
    check_choice("resolution", resolution, tuple(PROGRESSIVE_ALP["minibatch"]))
    rate = PROGRESSIVE_ALP["learning_rate"].get(resolution, PROGRESSIVE_ALP["adam"]["learning_rate"])
    return PROGRESSIVE_ALP["minibatch"][resolution], rate


def progressive_wgan_alp(config, generator: keras.Model, critic: keras.Model, *, seed: int = 0,
                         learning_rate: float | None = None):
    """The compiled `LipschitzGAN` of one Progressive GAN level with the ALR paper's Eq. (32) setup.

    λ = 0.1 multiplies the sum of the penalty's means over the real and the generated batch
    (`both_reduction="sum"`), as in Eq. (32) and the author's code.

    Args:
        config: The `tf_lipschitz.architectures.ProgressiveGAN` (gives `latent_dim`).
        generator: The level's generator.
        critic: The level's critic.
        seed: Seed of the training noise.
        learning_rate: Adam's rate; None: `PROGRESSIVE_ALP["adam"]`'s 1e-3 (see `progressive_schedule` for
            the rate by resolution).

    Returns:
        A `LipschitzGAN` with `PROGRESSIVE_ALP` and fresh Adam optimizers, compiled.

    Example:
        >>> from tf_lipschitz.architectures import progressive_gan
        >>> config = progressive_gan(8, fmap_base=16, fmap_max=8)
        >>> gan = progressive_wgan_alp(config, config.generator(0), config.critic(0))
        >>> gan.penalty, gan.penalty_weight, gan.both_reduction, gan.generator_ema, gan.n_critic
        ('alp', 0.1, 'sum', 0.999, 1)

    Reference:
        Terjék, "Adversarial Lipschitz Regularization", ICLR 2020, appendix A.2, Eq. (32).
    """
    gan = LipschitzGAN(generator, critic, latent_dim=config.latent_dim, seed=seed,
                       penalty_kwargs=dict(PROGRESSIVE_ALP["penalty_kwargs"]), **PROGRESSIVE_ALP["gan"])
    adam = dict(PROGRESSIVE_ALP["adam"])
    if learning_rate is not None:
        adam["learning_rate"] = learning_rate
    gan.compile(critic_optimizer=keras.optimizers.Adam(**adam), generator_optimizer=keras.optimizers.Adam(**adam))
    return gan
