"""Keras callbacks: spectral gradient clamping, domain/range logging, Lipschitz, sample and metric monitors.

Callbacks that need a GAN check that the model speaks a declared interface of `tf_lipschitz.contracts`
(`GenerativeModel`, `Sampler`); the periodic ones share one schedule (`callbacks._periodic.PeriodicCallback`).
`ToyW1Monitor` lives with the toy problems (`tf_lipschitz.toy`) and is re-exported here on first use.
"""

from tf_lipschitz.callbacks.domain_range import DomainRangeLogger
from tf_lipschitz.callbacks.metrics import FrechetInceptionDistance, InceptionScore
from tf_lipschitz.callbacks.monitors import LipschitzMonitor, SampleGrid
from tf_lipschitz.callbacks.spectral_clamp import SpectralGradientClamp
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


def __getattr__(name: str):
    # Lazy, so that importing the callbacks does not import the toy package (which imports the callbacks).
    if name == "ToyW1Monitor":
        from tf_lipschitz.toy.monitor import ToyW1Monitor

        return ToyW1Monitor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
