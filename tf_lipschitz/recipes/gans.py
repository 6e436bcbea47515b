"""GAN models by name with the papers' defaults (`MODELS`, `make_gan`) and the toy problems' ALP units (`TOY_ALP`).

Reference:
    Terjék, "Adversarial Lipschitz Regularization", ICLR 2020, section 5 and appendix A.2.
    "How does Lipschitz regularization influence GAN training?", appendix B.
"""

from __future__ import annotations

from typing import Any, Mapping

import keras

from tf_lipschitz.foundations.defaults import MODELS, N_CRITIC
from tf_lipschitz.foundations.validation import check_choice
from tf_lipschitz.models import WGANALP, WGANGP, LipschitzGAN

__all__ = ["MODELS", "TOY_ALP", "make_gan"]

# ξ and ε are in data units: the paper's image values (ξ = 10, ε ~ U[0.1, 10]) are far too large for 2-D data.
TOY_ALP = {"xi": 1.0, "epsilon": (0.01, 0.5)}


def make_gan(model: str, generator: keras.Model, critic: keras.Model, *, latent_dim: int, n_critic: int = N_CRITIC,
             seed: int = 0, penalty_kwargs: Mapping[str, Any] | None = None, **kwargs):
    """A GAN model by name, with the papers' defaults for each.

    - "wgan-alp": `WGANALP` (λ = 100, ALP on real and generated samples; `penalty_kwargs` override ξ, ε, …).
    - "wgan-gp": `WGANGP` (λ = 10 on interpolates).
    - "sn": `LipschitzGAN` with the non-saturating loss and no penalty; pass a spectral-normalized critic.

    Args:
        model: One of `MODELS`.
        generator: The generator network.
        critic: The critic network (spectral-normalized for "sn").
        latent_dim: Latent size.
        n_critic: Critic updates per generator step.
        seed: Seed of the training noise.
        penalty_kwargs: Options of the model's penalty (ALP for "wgan-alp", GP for "wgan-gp"); "sn" has no
            penalty and refuses them.
        **kwargs: More `LipschitzGAN` arguments (e.g. `generator_batch_multiplier`, `drift`).

    Returns:
        An uncompiled `tf_lipschitz.models.LipschitzGAN`.

    Raises:
        ValueError: for an unknown `model`, or `penalty_kwargs` for "sn".

    Example:
        >>> from tf_lipschitz.recipes.networks import toy_networks
        >>> gen, critic = toy_networks(8, 1)
        >>> make_gan("wgan-gp", gen, critic, latent_dim=2).penalty
        'gp'
    """
    check_choice("model", model, MODELS)
    common = dict(latent_dim=latent_dim, n_critic=n_critic, seed=seed, penalty_kwargs=penalty_kwargs, **kwargs)
    if model == "wgan-alp":
        return WGANALP(generator, critic, **common)
    if model == "wgan-gp":
        return WGANGP(generator, critic, **common)
    return LipschitzGAN(generator, critic, loss=common.pop("loss", "ns-gan"), penalty=None, **common)
