"""Keras callbacks: spectral gradient clamping, domain/range logging, Lipschitz, sample and metric monitors."""
from tf_lipschitz.callbacks.metrics import FrechetInceptionDistance, InceptionScore  # noqa: F401
from tf_lipschitz.callbacks.domain_range import DomainRangeLogger  # noqa: F401
from tf_lipschitz.callbacks.monitors import LipschitzMonitor, SampleGrid  # noqa: F401
from tf_lipschitz.callbacks.spectral_clamp import SpectralGradientClamp  # noqa: F401
from tf_lipschitz.callbacks.toy_w1 import ToyW1Monitor  # noqa: F401
