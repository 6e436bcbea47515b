"""Training loops: Lipschitz-regularized GANs and the ALR wrapper for any Keras model."""
