"""The papers' toy problems under one roof.

- `toy.data`: the 2-D distributions of the GAN experiments (`TOY_DISTRIBUTIONS`, `toy_samples`, `toy_dataset`).
- `toy.w1`: the exact Wasserstein-1 distance between two samples (`exact_w1`, needs SciPy: `[toy]` extra).
- `toy.ring`: the ring problem of the ALR paper, section 4.2 (`ring_target`, `ring_optimal`, `grid_metrics`, …).

The callback that prints and logs the exact W1 as a toy GAN trains is `tf_lipschitz.callbacks.ToyW1Monitor`; the
presets that train on these problems (toy networks, `TOY_ALP`) are in `tf_lipschitz.recipes`. This package
imports only the foundations: the callbacks, recipes and commands build on it.
"""

from tf_lipschitz.toy import ring
from tf_lipschitz.toy.data import TOY_DISTRIBUTIONS, toy_dataset, toy_samples
from tf_lipschitz.toy.ring import *  # noqa: F401,F403  (the ring problem's names, listed in ring.__all__)
from tf_lipschitz.toy.w1 import exact_w1

__all__ = [
    "TOY_DISTRIBUTIONS",
    "toy_samples",
    "toy_dataset",
    "exact_w1",
    *ring.__all__,
]
