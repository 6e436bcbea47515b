"""Training loops: Lipschitz-regularized GANs, the ALR wrapper for any Keras model, and critic-based estimators.

- `gan`: `LipschitzGAN`; its step in `gan_step`, its data intake in `intake`, its logs and NaN guard in
  `diagnostics`, its generator average in `averaging`, sampling in `sampling`.
- `wgan`: the papers' presets `WGANALP` and `WGANGP`.
- `regularized`: `LipschitzRegularizedModel`, ALR (or any penalty) for a model trained with `fit`.
- `estimators`: `DivergenceEstimator`, `MutualInformationEstimator`, `UnconstrainedWassersteinCritic`, on the
  base of `two_sample`.
"""

from tf_lipschitz.models.estimators import (DivergenceEstimator, MutualInformationEstimator,
                                           UnconstrainedWassersteinCritic)
from tf_lipschitz.models.gan import LipschitzGAN
from tf_lipschitz.models.regularized import LipschitzRegularizedModel
from tf_lipschitz.models.wgan import WGANALP, WGANGP

__all__ = [
    "LipschitzGAN",
    "WGANALP",
    "WGANGP",
    "LipschitzRegularizedModel",
    "DivergenceEstimator",
    "MutualInformationEstimator",
    "UnconstrainedWassersteinCritic",
]
