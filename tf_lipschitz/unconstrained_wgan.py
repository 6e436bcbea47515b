"""The unconstrained Wasserstein GAN objective (no Lipschitz constraint, a price on ‖f‖_L instead).

The math lives in `tf_lipschitz.penalties.unconstrained` (so that the penalty registry, `penalties.get(
"unconstrained")`, can declare it without importing upwards); this module re-exports it under its
historical name. See that module for the objective, the estimate of ‖f‖_L and why its statistic is the max.

Example:
    >>> round(float(unconstrained_wgan_regularizer(6.0, alpha=2.0)), 4)  # 6²/4
    9.0
"""

from tf_lipschitz.penalties import unconstrained
from tf_lipschitz.penalties.unconstrained import *  # noqa: F401,F403  (the names of unconstrained.__all__)

__all__ = list(unconstrained.__all__)
