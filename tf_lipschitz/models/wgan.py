"""The papers' WGAN set-ups as thin presets of `LipschitzGAN`: `WGANALP` (ALP paper §5) and `WGANGP`.

Each only changes `LipschitzGAN`'s defaults; the training step, data intake and diagnostics are `LipschitzGAN`'s.
"""

from __future__ import annotations

import keras

from tf_lipschitz import penalties
from tf_lipschitz.foundations.defaults import N_CRITIC
from tf_lipschitz.models.gan import LipschitzGAN

__all__ = ["WGANALP", "WGANGP"]


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class WGANALP(LipschitzGAN):
    """WGAN-ALP with the ALP paper's setup (§5, Eq. 26) as defaults.

    WGAN loss, Adversarial Lipschitz Penalty with λ = 100, K = 1, ξ = 10, ε ~ U[0.1, 10], k = 1 power
    iteration, d_X = l2, d_Y = |·|, squared violation, applied to both the real and the generated
    batches with λ times one mean over the joined batch (`both_reduction="mean"`, the author's CIFAR-10
    code); n_critic = 5 and a generator batch twice the critic batch. That code also clips the probe and
    x̂ to [-1, 1]; pass `penalty_kwargs={"clip": (-1, 1), "clip_probe": True}` for it (default: no clip).
    ξ and ε are in the units of the data and suit 32×32×3 images in [-1, 1]; for 2-D data of unit scale
    pass `penalty_kwargs={"xi": 1.0, "epsilon": (0.01, 0.5)}`. `penalty_kwargs={"xi": 0.0}` (or
    `penalty=penalties.get("alp", xi=0.0)`) takes the limit ξ → 0 (the direction ±∇f(x)/‖∇f(x)‖ from the
    critic-loss pass; cheaper, and better FID on MNIST in the README's sweep). The paper's options fill in
    those a name or a configured penalty leaves unset. Other arguments as `LipschitzGAN`.

    Example:
        >>> gan = WGANALP(gen, critic, latent_dim=2, penalty_kwargs={"xi": 1.0, "epsilon": (0.01, 0.5)})  # doctest: +SKIP
    """

    ALP_DEFAULTS = penalties.get("alp").spec.defaults  # K, xi, epsilon, power_iterations of the paper

    def __init__(self, generator, critic, *, latent_dim, loss="wgan", penalty="alp", penalty_weight=100.0,
                 penalty_kwargs=None, regularize="both", n_critic=N_CRITIC, generator_batch_multiplier=2, **kwargs):
        # The paper's options fill in the unset ones; they are declared once, in `penalties.get`.
        if isinstance(penalty, penalties.Penalty):
            penalty = penalty if penalty_kwargs else penalty.with_defaults(penalty.spec.defaults)
        elif penalties.resolve(penalty) is not None:
            penalty_kwargs = {**penalties.get(penalty).spec.defaults, **(penalty_kwargs or {})}
        super().__init__(
            generator, critic, latent_dim=latent_dim, loss=loss, penalty=penalty, penalty_weight=penalty_weight,
            penalty_kwargs=penalty_kwargs, regularize=regularize, n_critic=n_critic,
            generator_batch_multiplier=generator_batch_multiplier, **kwargs,
        )


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class WGANGP(LipschitzGAN):
    """WGAN-GP (Gulrajani et al., 2017) for side-by-side comparison with `WGANALP`.

    WGAN loss with the two-sided gradient penalty λ·E(‖∇f(x̃)‖₂ − 1)² at random interpolates x̃ between
    real and generated samples, λ = 10, n_critic = 5, generator batch twice the critic batch. Other
    arguments as `LipschitzGAN`.
    """

    def __init__(self, generator, critic, *, latent_dim, loss="wgan", penalty="gp", penalty_weight=10.0,
                 regularize="interpolate", n_critic=N_CRITIC, generator_batch_multiplier=2, **kwargs):
        super().__init__(
            generator, critic, latent_dim=latent_dim, loss=loss, penalty=penalty, penalty_weight=penalty_weight,
            regularize=regularize, n_critic=n_critic, generator_batch_multiplier=generator_batch_multiplier,
            **kwargs,
        )
