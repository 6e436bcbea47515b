"""Names and defaults that several layers and the command line share, declared once and without TensorFlow.

The `tf-lipschitz` command builds its parser from these (its `--help` and argument errors import no TensorFlow),
and the library modules that own each concept import them from here: `recipes.MODELS`,
`training.distribute.STRATEGIES`, `toy.TOY_DISTRIBUTIONS`, the `n_critic` default of the presets.

Example:
    >>> N_CRITIC, MODELS[0]
    (5, 'wgan-alp')
"""

__all__ = ["N_CRITIC", "MODELS", "STRATEGIES", "TOY_DISTRIBUTIONS"]

# Critic updates per generator step of WGAN-GP and WGAN-ALP (Gulrajani et al. 2017; Terjék 2020).
N_CRITIC = 5
# The models compared in the ALR paper: WGAN-ALP, WGAN-GP and a spectral-normalized critic (SN-GAN).
MODELS = ("wgan-alp", "wgan-gp", "sn")
# `tf.distribute` strategies by name (`tf_lipschitz.training.distribute.make_strategy`).
STRATEGIES = ("auto", "default", "mirrored", "multi-worker")
# The 2-D distributions of the GAN experiments (`tf_lipschitz.toy.toy_samples`).
TOY_DISTRIBUTIONS = ("8gaussians", "25gaussians", "swissroll", "two_gaussians")
