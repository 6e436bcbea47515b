"""Keras callbacks: spectral gradient clamping, domain/range logging, Lipschitz, sample and metric monitors.

Callbacks that need a GAN check that the model speaks a declared interface of `tf_lipschitz.foundations.contracts`
(`GenerativeModel`, `Sampler`); the periodic ones share one schedule (`callbacks._periodic.PeriodicCallback`).
`ToyW1Monitor` prints and logs the exact W1 of the toy problems (`tf_lipschitz.toy`).
"""

from tf_lipschitz.callbacks.domain_range import DomainRangeLogger
from tf_lipschitz.callbacks.metrics import FrechetInceptionDistance, InceptionScore
from tf_lipschitz.callbacks.monitors import LipschitzMonitor, SampleGrid
from tf_lipschitz.callbacks.spectral_clamp import SpectralGradientClamp
from tf_lipschitz.callbacks.toy_w1 import ToyW1Monitor
from tf_lipschitz.callbacks.weight_spectrum import WeightSpectrumMonitor

__all__ = [
    "DomainRangeLogger",
    "FrechetInceptionDistance",
    "InceptionScore",
    "LipschitzMonitor",
    "SampleGrid",
    "SpectralGradientClamp",
    "ToyW1Monitor",
    "WeightSpectrumMonitor",
]

