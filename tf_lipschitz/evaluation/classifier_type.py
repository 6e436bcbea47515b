"""The `Classifier` type every IS/FID/KID classifier becomes, and how a model's outputs are read.

Model outputs are read the same way everywhere: a dict with `logits` and `pool` (or TF-GAN's `pool_3`);
a dict with two other keys, taken in sorted order (a Keras export's `output_0`, `output_1`); a pair
`(logits, pool)`; or a single tensor, used as both. `tf_lipschitz.evaluation.classifiers` makes a `Classifier`
out of TF-GAN's Inception, a local model or any callable; `inception_fetch` out of the prepared FID Inception.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np
import tensorflow as tf

from tf_lipschitz.evaluation.images import to_model_input

__all__ = ["Classifier", "split_outputs"]

_POOL_KEYS = ("pool", "pool_3")


@dataclasses.dataclass(frozen=True)
class Classifier:
    """A classifier for evaluation: `fn(x) -> (logits, pool)` on float32 images in [-1, 1].

    Args:
        fn: Maps a batch `(N, H, W, C)` in [-1, 1] to `(logits, pool)`, each with N rows.
        name: Identifies the classifier in cache file names.
        image_size: `(H, W)` that inputs are resized to; `None` keeps their size.
        channels: 1 or 3, the channels `fn` expects; `None` keeps them.
        has_logits: Whether `fn` returns class logits; `False` for a feature network (then both outputs
            are the features, and the Inception Score refuses it).

    Example:
        >>> clf = Classifier(lambda x: (x[:, 0, 0, :], x[:, 0, 0, :]), name="corner", image_size=(4, 4))
        >>> [a.shape for a in clf(np.zeros((2, 8, 8), "uint8"))]
        [(2, 3), (2, 3)]
    """

    fn: Callable[[tf.Tensor], Any]
    name: str
    image_size: tuple[int, int] | None = None
    channels: int | None = 3
    has_logits: bool = True

    def __call__(self, batch) -> tuple[np.ndarray, np.ndarray]:
        """Logits and pooled features (float32 NumPy arrays, one row per image) of an image batch."""
        x = to_model_input(batch, image_size=self.image_size, channels=self.channels)
        logits, pool = split_outputs(self.fn(x))
        n = x.shape[0]
        return _as_rows(logits, n), _as_rows(pool, n)


def _as_rows(tensor, n: int) -> np.ndarray:
    return np.asarray(tensor, dtype=np.float32).reshape(n, -1)


def split_outputs(outputs) -> tuple[Any, Any]:
    """Reads `(logits, pool)` out of a model's outputs, by the rules in the module docstring.

    Args:
        outputs: A dict, a pair, or a single tensor.

    Returns:
        `(logits, pool)`.

    Raises:
        ValueError: If the outputs fit none of the rules.

    Example:
        >>> split_outputs({"output_1": 2, "output_0": 1})
        (1, 2)
    """
    if isinstance(outputs, dict):
        if "logits" in outputs:
            pool = next((outputs[k] for k in _POOL_KEYS if k in outputs), outputs["logits"])
            return outputs["logits"], pool
        if len(outputs) == 2:
            first, second = sorted(outputs)
            return outputs[first], outputs[second]
        if len(outputs) == 1:
            (only,) = outputs.values()
            return only, only
        raise ValueError(f"Cannot tell logits from pool features among outputs {sorted(outputs)}.")
    if isinstance(outputs, (list, tuple)):
        if len(outputs) == 2:
            return outputs[0], outputs[1]
        raise ValueError(f"A classifier must return (logits, pool); it returned {len(outputs)} outputs.")
    return outputs, outputs
