"""Weight constraints: WGAN weight clipping, spectral clamping (Brock et al.) and weight normalization.

These are the weight-side normalizations the poster compares (weight clipping, weight normalization, spectral
normalization) and spectral clamping of the weights themselves, the weight-space twin of
`tf_lipschitz.callbacks.SpectralGradientClamp` (both clamp with `tf_lipschitz.ops.spectral_clamp`). Keras applies a
constraint after each optimizer update.

Reference:
    Arjovsky, Chintala and Bottou, "Wasserstein GAN", ICML 2017.
    Brock, Donahue and Simonyan, "Large Scale GAN Training for High Fidelity Natural Image Synthesis", 2018.
    Salimans and Kingma, "Weight Normalization", NeurIPS 2016.
    K. Sargent, "Lipschitz Constraints in Wasserstein GANs" (poster).
"""

from __future__ import annotations

import keras
from keras import ops

from tf_lipschitz import ops as lip_ops
from tf_lipschitz.foundations.validation import check_float
from tf_lipschitz.ops.spectral_clamp import spectral_clamp_weights

__all__ = ["WeightClip", "SpectralClamp", "WeightNorm", "spectral_clamp_weights", "weight_norm"]


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


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class SpectralClamp(keras.constraints.Constraint):
    """Spectral clamping of the weights (Brock et al.): after each update σ0 ← min(σ0, r·σ1).

    It keeps the top singular value of each kernel within a factor `ratio` of the second, against the "spectral
    collapse" of the poster, where one direction dominates a layer. Conv kernels are reshaped to (kh·kw·c_in,
    c_out). See `spectral_clamp_weights`.

    Args:
        ratio: r ≥ 1.

    Raises:
        ValueError: if `ratio` < 1.

    Example:
        >>> layer = keras.layers.Dense(4, kernel_constraint=SpectralClamp(2.0))
        >>> SpectralClamp.from_config(SpectralClamp(3.0).get_config()).ratio
        3.0

    Reference:
        Brock, Donahue and Simonyan, "Large Scale GAN Training for High Fidelity Natural Image Synthesis", 2018.
    """

    def __init__(self, ratio: float = 2.0):
        self.ratio = check_float("ratio", ratio, minimum=1.0, inclusive=True)

    def __call__(self, w):
        return spectral_clamp_weights(w, self.ratio)

    def get_config(self) -> dict:
        return {"ratio": self.ratio}


def weight_norm(w, g: float = 1.0):
    """Scales each output unit's weight vector (all axes but the last) to L2 norm `g`.

    For a Dense kernel (in, out) these are the columns, i.e. the rows of the matrix W = kernelᵀ that the poster
    normalizes; for a conv kernel the (kh, kw, c_in) filter of each output channel. A zero vector stays zero.

    Args:
        w: A kernel of rank ≥ 2 whose last axis is the output units.
        g: Target norm (> 0).

    Returns:
        A tensor of the shape of `w`.

    Raises:
        ValueError: if `g` ≤ 0.

    Example:
        >>> np.asarray(weight_norm(np.array([[3.0, 0.0], [4.0, 2.0]], "float32")))
        array([[0.6, 0. ],
               [0.8, 1. ]], dtype=float32)
    """
    g = check_float("g", g)
    w = ops.convert_to_tensor(w)
    return g * lip_ops.l2_normalize(w, axis=tuple(range(len(w.shape) - 1)))


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class WeightNorm(keras.constraints.Constraint):
    """Weight normalization as a constraint: every output unit's weight vector has L2 norm `g` after each update.

    Salimans and Kingma reparameterize w = g·v/‖v‖ with a learned g; as the poster's Lipschitz constraint g is
    fixed. Each unit is then g-Lipschitz, but the layer's spectral norm can reach g·√(units) (when the vectors
    align), so unlike spectral normalization this does not bound the layer by g.

    Args:
        g: The norm of every unit's weight vector (> 0).

    Raises:
        ValueError: if `g` ≤ 0.

    Example:
        >>> layer = keras.layers.Dense(4, kernel_constraint=WeightNorm())
        >>> WeightNorm.from_config(WeightNorm(2.0).get_config()).g
        2.0

    Reference:
        Salimans and Kingma, "Weight Normalization: A Simple Reparameterization to Accelerate Training of Deep
        Neural Networks", NeurIPS 2016.
    """

    def __init__(self, g: float = 1.0):
        self.g = check_float("g", g)

    def __call__(self, w):
        return weight_norm(w, self.g)

    def get_config(self) -> dict:
        return {"g": self.g}
