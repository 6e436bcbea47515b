"""Keras callbacks: spectral gradient clamping, domain/range logging, Lipschitz, sample and metric monitors."""
from tf_lipschitz.callbacks.metrics import FrechetInceptionDistance, InceptionScore  # noqa: F401
