"""tf_lipschitz: Lipschitz-constrained layers, Adversarial Lipschitz Regularization and Lipschitz GANs for Keras 3."""

from tf_lipschitz.layers import (
    SpectralNormConv2D,
    SpectralNormDense,
    ToeplitzNormConv2D,
    advance_power_iteration,
    power_iteration_frozen,
)

__version__ = "0.1.0"
