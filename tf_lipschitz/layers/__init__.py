"""Lipschitz layers: spectral-normalized Dense/Conv2D and the Toeplitz-normalized Conv2D."""

from tf_lipschitz.layers.base import (
    LipschitzLayer,
    NormalizedKernelMixin,
    advance_power_iteration,
    lipschitz_layers,
    power_iteration_frozen,
)
from tf_lipschitz.layers.spectral_norm import SpectralNormConv2D, SpectralNormDense
from tf_lipschitz.layers.toeplitz_norm import ToeplitzNormConv2D

__all__ = [
    "LipschitzLayer",
    "NormalizedKernelMixin",
    "SpectralNormDense",
    "SpectralNormConv2D",
    "ToeplitzNormConv2D",
    "advance_power_iteration",
    "lipschitz_layers",
    "power_iteration_frozen",
]
