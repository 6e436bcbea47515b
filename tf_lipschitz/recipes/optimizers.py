"""Adam with the papers' settings and linear learning-rate decay, one for each network of a GAN.

Reference:
    Terjék, "Adversarial Lipschitz Regularization", ICLR 2020, section 5 and appendix A.2.
    "How does Lipschitz regularization influence GAN training?", appendix B.
"""

from __future__ import annotations

import keras

__all__ = ["adam_optimizers"]


def adam_optimizers(learning_rate: float, beta_1: float, beta_2: float, *, decay_steps: int | None = None,
                    n_critic: int = 1, epsilon: float = 1e-7) -> tuple[keras.optimizers.Optimizer, ...]:
    """Critic and generator Adam, optionally decaying linearly to 0 over `decay_steps` generator steps.

    The critic's optimizer counts `n_critic` updates per generator step, so its schedule is stretched by
    `n_critic`: both rates reach 0 together, as in the WGAN-GP/WGAN-ALP CIFAR-10 setup.

    Args:
        learning_rate: Initial learning rate.
        beta_1: Adam β₁.
        beta_2: Adam β₂.
        decay_steps: Generator steps of the linear decay; None keeps the rate constant.
        n_critic: Critic updates per generator step.
        epsilon: Adam ε.

    Returns:
        (critic_optimizer, generator_optimizer).

    Example:
        >>> critic_opt, gen_opt = adam_optimizers(2e-4, 0.0, 0.9, decay_steps=100, n_critic=5)
        >>> round(float(critic_opt.learning_rate), 6)
        0.0002
    """
    def rate(scale: int):
        if not decay_steps:
            return learning_rate
        return keras.optimizers.schedules.PolynomialDecay(learning_rate, decay_steps * scale, 0.0, power=1.0)

    return tuple(keras.optimizers.Adam(rate(scale), beta_1=beta_1, beta_2=beta_2, epsilon=epsilon)
                 for scale in (n_critic, 1))
