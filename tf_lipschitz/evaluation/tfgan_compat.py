"""TF-GAN's evaluation math, loaded without `import tensorflow_gan`.

TF-GAN 2.1's package `__init__` imports its estimator support, which needs `tf.estimator`, gone since
TensorFlow 2.16; so `import tensorflow_gan` fails on TF 2.21. Its `python/eval/classifier_metrics.py`
and `eval_utils.py` only need TensorFlow and TensorFlow Probability, and work once loaded on their own.

`load_classifier_metrics()` finds those two files inside the installed distribution, executes them as
private modules of this package, and returns the metrics module. While `classifier_metrics` runs its
`from tensorflow_gan.python.eval import eval_utils`, placeholder parent packages are put in
`sys.modules` and removed again afterwards, so a later `import tensorflow_gan` behaves as it would have
(and `tensorflow_gan/__init__.py` is never executed here).

Only the functions this library uses are re-exported:

- `classifier_score_from_logits(logits)`: `exp(E_x KL(p(y|x) || p(y)))`.
- `frechet_classifier_distance_from_activations(a1, a2)`: FID of two activation sets.
- `kernel_classifier_distance_and_std_from_activations(a1, a2, max_block_size, dtype)`: KID and its
  standard error.
- `trace_sqrt_product(sigma1, sigma2)`: `Tr((sigma1 sigma2)^(1/2))`, the one matrix function of FID.

Reference:
    Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016 (Inception Score).
    Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
    Equilibrium", NeurIPS 2017 (FID).
    Bińkowski et al., "Demystifying MMD GANs", ICLR 2018 (KID).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.machinery
import importlib.util
import os
import sys
import types
from typing import Iterator

__all__ = [
    "TFGAN_EVAL_PACKAGE",
    "tfgan_eval_dir",
    "load_classifier_metrics",
    "classifier_score_from_logits",
    "frechet_classifier_distance_from_activations",
    "kernel_classifier_distance_and_std_from_activations",
    "trace_sqrt_product",
]

TFGAN_EVAL_PACKAGE = "tensorflow_gan.python.eval"
_PRIVATE_PREFIX = __name__ + "._tfgan"
_MISSING = object()


def tfgan_eval_dir() -> str:
    """Returns the folder of the installed `tensorflow_gan/python/eval`, without importing TF-GAN.

    Returns:
        An absolute directory path.

    Raises:
        ImportError: If the `tensorflow-gan` distribution is not installed.

    Example:
        >>> os.path.basename(tfgan_eval_dir())
        'eval'
    """
    # Searches sys.path only: finds the package without executing it, even if an import of it failed.
    spec = importlib.machinery.PathFinder.find_spec("tensorflow_gan")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "TF-GAN's evaluation code was not found: pip install \"tf-lipschitz[eval]\" (or tensorflow-gan==2.1.*)."
        )
    return os.path.join(list(spec.submodule_search_locations)[0], "python", "eval")


def _exec_file(name: str, path: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def _placeholder_parents(eval_utils: types.ModuleType) -> Iterator[None]:
    """Makes `from tensorflow_gan.python.eval import eval_utils` resolve to `eval_utils`, temporarily."""
    names = ("tensorflow_gan", "tensorflow_gan.python", TFGAN_EVAL_PACKAGE)
    added = [name for name in names if name not in sys.modules]
    for name in added:
        sys.modules[name] = types.ModuleType(name)
    parent = sys.modules[TFGAN_EVAL_PACKAGE]
    previous_child = parent.__dict__.get("eval_utils", _MISSING)
    parent.eval_utils = eval_utils
    try:
        yield
    finally:
        if previous_child is _MISSING:
            del parent.eval_utils
        else:
            parent.eval_utils = previous_child
        for name in added:
            del sys.modules[name]


@functools.lru_cache(maxsize=None)
def load_classifier_metrics() -> types.ModuleType:
    """Loads TF-GAN's `classifier_metrics` module once, without running `tensorflow_gan/__init__.py`.

    Returns:
        The module object, named `tf_lipschitz.evaluation.tfgan_compat._tfgan.classifier_metrics` and kept
        out of `sys.modules`.

    Raises:
        ImportError: If TF-GAN or TensorFlow Probability is missing.

    Example:
        >>> hasattr(load_classifier_metrics(), "classifier_score_from_logits")
        True
    """
    folder = tfgan_eval_dir()
    eval_utils = _exec_file(f"{_PRIVATE_PREFIX}.eval_utils", os.path.join(folder, "eval_utils.py"))
    with _placeholder_parents(eval_utils):
        return _exec_file(f"{_PRIVATE_PREFIX}.classifier_metrics", os.path.join(folder, "classifier_metrics.py"))


def classifier_score_from_logits(logits):
    """TF-GAN's classifier (Inception) score of one set of logits: `exp(E_x KL(p(y|x) || p(y)))`."""
    return load_classifier_metrics().classifier_score_from_logits(logits)


def frechet_classifier_distance_from_activations(activations1, activations2):
    """TF-GAN's Fréchet distance between two activation sets (unbiased covariances)."""
    return load_classifier_metrics().frechet_classifier_distance_from_activations(activations1, activations2)


def kernel_classifier_distance_and_std_from_activations(
    activations1, activations2, max_block_size: int = 1024, dtype=None
):
    """TF-GAN's block estimate of KID (cubic polynomial kernel) and its standard error."""
    return load_classifier_metrics().kernel_classifier_distance_and_std_from_activations(
        activations1, activations2, max_block_size=max_block_size, dtype=dtype
    )


def trace_sqrt_product(sigma1, sigma2):
    """TF-GAN's `Tr((sigma1 sigma2)^(1/2))` for symmetric positive semi-definite matrices."""
    return load_classifier_metrics().trace_sqrt_product(sigma1, sigma2)
