"""Inception Score, FID and KID on top of TF-GAN's evaluation math, and an MNIST domain classifier.

`inception_score`, `frechet_inception_distance` and `kernel_inception_distance` stream images (uint8 in
[0, 255] or float in [-1, 1]) through a classifier in batches: TF-GAN's Inception from TF-Hub by default,
or a local SavedModel, `.keras` file, Keras model or callable. The scores are TF-GAN's, loaded by
`tfgan_compat` without `import tensorflow_gan` (which fails on TensorFlow >= 2.16). The `fit` callbacks
live in `tf_lipschitz.callbacks`, the command in `tf-lipschitz evaluate`.
"""

from tf_lipschitz.evaluation.classifiers import (
    INCEPTION_IMAGE_SIZE,
    INCEPTION_TFHUB,
    Classifier,
    load_classifier,
    tfgan_inception,
)
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
    "detect_value_range",
    "evaluate",
    "frechet_distance",
    "frechet_inception_distance",
    "inception_score",
    "inception_score_from_logits",
    "kernel_inception_distance",
    "kid_from_features",
    "load_classifier",
    "load_images",
    "mnist_frechet_distance",
    "mnist_score",
    "reference_statistics",
    "tfgan_inception",
    "train_mnist_classifier",
]
