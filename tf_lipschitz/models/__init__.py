"""Training loops: Lipschitz-regularized GANs and the ALR wrapper for any Keras model."""
from tf_lipschitz.models.regularized import LipschitzRegularizedModel
from tf_lipschitz.models.gan import LipschitzGAN, WGANALP, WGANGP
from tf_lipschitz.models.estimators import (DivergenceEstimator, MutualInformationEstimator,
                                           UnconstrainedWassersteinCritic)
