"""Inception Score, FID and KID on top of TF-GAN's evaluation math, and an MNIST domain classifier.

`inception_score`, `frechet_inception_distance` and `kernel_inception_distance` stream images (uint8 in
[0, 255] or float in [-1, 1]) through a classifier in batches. By default FID and KID use the standard
Inception network (2015-12-05 graph, `inception_2015`) prepared offline by `tf-lipschitz fetch-inception`
(`fetch_inception`, `fid_inception`), else TF-GAN's Inception from TF-Hub; the Inception Score needs the
TF-Hub module (the prepared network has no logits). A local SavedModel, `.keras` file, Keras model or
callable also works. The scores are TF-GAN's, loaded by
`tfgan_compat` without `import tensorflow_gan` (which fails on TensorFlow >= 2.16). The `fit` callbacks
live in `tf_lipschitz.callbacks`, the command in `tf-lipschitz evaluate`.
"""

import importlib

from tf_lipschitz.foundations.optional import require

# The package needs the `[eval]` extra: say so when it is first used, not at the first metric. tqdm is the light
# member of the extra (no TensorFlow import), so the commands' `--help` stays fast.
require("tqdm", extra="eval")

# Public name -> the module defining it, imported on first access (PEP 562): the `evaluate` and
# `inception-stats` commands live in this package, and must answer `--help` without importing TensorFlow.
_EXPORTS = {
    "INCEPTION_IMAGE_SIZE": "classifiers",
    "INCEPTION_TFHUB": "classifiers",
    "Classifier": "classifiers",
    "default_classifier": "classifiers",
    "load_classifier": "classifiers",
    "tfgan_inception": "classifiers",
    "fetch_inception": "inception_fetch",
    "fid_inception": "inception_fetch",
    "load_fid_inception": "inception_fetch",
    "inception_2015": "inception",
    "preprocess_inception": "inception",
    "ImageFolder": "images",
    "detect_value_range": "images",
    "load_images": "images",
    "EVALUATE_METRICS": "metrics",
    "compute_activations": "metrics",
    "compute_statistics": "metrics",
    "evaluate": "metrics",
    "frechet_distance": "metrics",
    "frechet_inception_distance": "metrics",
    "inception_score": "metrics",
    "inception_score_from_logits": "metrics",
    "kernel_inception_distance": "metrics",
    "kid_from_features": "metrics",
    "reference_statistics": "metrics",
    "build_mnist_classifier": "mnist",
    "mnist_frechet_distance": "mnist",
    "mnist_score": "mnist",
    "train_mnist_classifier": "mnist",
    "FeatureStatistics": "statistics",
    "load_torchscript": "torchscript",
}


_SUBMODULES = ("classifiers", "images", "inception", "inception_fetch", "metrics", "mnist", "statistics",
               "tfgan_compat", "torchscript")


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS) | set(_SUBMODULES))


__all__ = [
    "EVALUATE_METRICS",
    "INCEPTION_IMAGE_SIZE",
    "INCEPTION_TFHUB",
    "Classifier",
    "FeatureStatistics",
    "ImageFolder",
    "build_mnist_classifier",
    "compute_activations",
    "compute_statistics",
    "default_classifier",
    "detect_value_range",
    "evaluate",
    "fetch_inception",
    "fid_inception",
    "frechet_distance",
    "frechet_inception_distance",
    "inception_2015",
    "inception_score",
    "inception_score_from_logits",
    "kernel_inception_distance",
    "kid_from_features",
    "load_classifier",
    "load_fid_inception",
    "load_images",
    "load_torchscript",
    "mnist_frechet_distance",
    "mnist_score",
    "preprocess_inception",
    "reference_statistics",
    "tfgan_inception",
    "train_mnist_classifier",
]
