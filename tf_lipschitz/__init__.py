"""tf_lipschitz: Lipschitz-constrained layers, Adversarial Lipschitz Regularization and Lipschitz GANs for Keras 3."""

__version__ = "0.1.0"
