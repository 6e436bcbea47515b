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

from tf_lipschitz.evaluation.classifiers import (
    INCEPTION_IMAGE_SIZE,
    INCEPTION_TFHUB,
    Classifier,
    default_classifier,
    load_classifier,
    tfgan_inception,
)
from tf_lipschitz.evaluation.inception_fetch import fetch_inception, fid_inception, load_fid_inception
from tf_lipschitz.evaluation.inception import inception_2015, preprocess_inception
from tf_lipschitz.evaluation.images import ImageFolder, detect_value_range, load_images
from tf_lipschitz.evaluation.metrics import (
    EVALUATE_METRICS,
    compute_activations,
    compute_statistics,
    evaluate,
    frechet_distance,
    frechet_inception_distance,
    inception_score,
    inception_score_from_logits,
    kernel_inception_distance,
    kid_from_features,
    reference_statistics,
)
from tf_lipschitz.evaluation.mnist import (
    build_mnist_classifier,
    mnist_frechet_distance,
    mnist_score,
    train_mnist_classifier,
)
from tf_lipschitz.evaluation.statistics import FeatureStatistics
from tf_lipschitz.evaluation.torchscript import load_torchscript

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
