"""The papers' toy problems under one roof.

- `toy.data`: the 2-D distributions of the GAN experiments (`TOY_DISTRIBUTIONS`, `toy_samples`, `toy_dataset`).
- `toy.w1`: the exact Wasserstein-1 distance between two samples (`exact_w1`, needs SciPy: `[toy]` extra).
- `toy.monitor`: `ToyW1Monitor`, a `fit` callback printing and logging the exact W1 as a toy GAN trains.
- `toy.ring`: the ring problem of the ALR paper, section 4.2 (`ring_target`, `ring_optimal`, `grid_metrics`, …).

The presets that train on them (toy networks, `TOY_ALP`) are in `tf_lipschitz.recipes`. Imports run one way: this
package uses `callbacks` and `contracts`; nothing in the core imports it (`tf_lipschitz.data` and
`tf_lipschitz.callbacks.ToyW1Monitor` re-export its names for compatibility).
"""

from tf_lipschitz.toy.data import TOY_DISTRIBUTIONS, toy_dataset, toy_samples
from tf_lipschitz.toy.monitor import ToyW1Monitor
from tf_lipschitz.toy import ring
from tf_lipschitz.toy.ring import *  # noqa: F401,F403  (the ring problem's names, listed in ring.__all__)
from tf_lipschitz.toy.w1 import exact_w1

__all__ = [
    "TOY_DISTRIBUTIONS",
    "toy_samples",
    "toy_dataset",
    "exact_w1",
    "ToyW1Monitor",
    *ring.__all__,
]
