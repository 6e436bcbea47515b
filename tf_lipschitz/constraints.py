"""Weight constraints: WGAN weight clipping.

Reference:
    Arjovsky, Chintala and Bottou, "Wasserstein GAN", ICML 2017.
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["WeightClip"]


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class WeightClip(keras.constraints.Constraint):
    """Clips every weight to [-c, c] after each optimizer update (the original WGAN critic constraint).

    Args:
        c: Clipping bound (> 0); WGAN uses 0.01.

    Raises:
        ValueError: if `c` ≤ 0.

    Example:
        >>> layer = keras.layers.Dense(4, kernel_constraint=WeightClip(0.01))
        >>> float(ops.max(WeightClip(0.5)(ops.ones((2,)) * 3)))
        0.5

    Reference:
        Arjovsky et al., "Wasserstein GAN", ICML 2017.
    """

    def __init__(self, c: float = 0.01):
        if not isinstance(c, (int, float)) or not c > 0:
            raise ValueError(f"`c` must be > 0. Received: c={c}")
        self.c = float(c)

    def __call__(self, w):
        return ops.clip(w, -self.c, self.c)

    def get_config(self) -> dict:
        return {"c": self.c}
