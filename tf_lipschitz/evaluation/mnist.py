"""A domain classifier for MNIST-like digits, and the MNIST score and Fréchet distance on top of it.

The Inception network is trained on ImageNet photographs, and its weights are not always at hand; TF-GAN's
MNIST examples score generators with a small MNIST classifier instead. `train_mnist_classifier` trains such
a classifier (two strided convolutions, a `pool` feature layer, 10 `logits`), and `mnist_score` and
`mnist_frechet_distance` are the Inception Score and FID computed through it. The numbers are comparable
only between runs that use the same trained classifier: save it once (`save_path`) and reuse the file.

Reference:
    Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016.
    Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
    Equilibrium", NeurIPS 2017.
"""

from __future__ import annotations

import os

import keras
import numpy as np

from tf_lipschitz.evaluation.images import to_model_input
from tf_lipschitz.evaluation.metrics import frechet_inception_distance, inception_score

__all__ = [
    "MNIST_IMAGE_SIZE",
    "build_mnist_classifier",
    "train_mnist_classifier",
    "mnist_score",
    "mnist_frechet_distance",
]

MNIST_IMAGE_SIZE = (28, 28)


def build_mnist_classifier(*, num_classes: int = 10, feature_units: int = 64) -> keras.Model:
    """An untrained MNIST classifier: 28×28×1 in [-1, 1] to `{"logits", "pool"}`.

    Args:
        num_classes: Number of classes.
        feature_units: Width of the `pool` feature layer that FID uses.

    Returns:
        A functional `keras.Model` named `mnist_classifier` with dict outputs.

    Raises:
        ValueError: If `num_classes` or `feature_units` < 1.

    Example:
        >>> build_mnist_classifier().output_shape
        [(None, 10), (None, 64)]
    """
    if num_classes < 1 or feature_units < 1:
        raise ValueError(
            f"`num_classes` and `feature_units` must be >= 1. Received: num_classes={num_classes}, "
            f"feature_units={feature_units}"
        )
    inputs = keras.Input((*MNIST_IMAGE_SIZE, 1), name="images")
    x = keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(inputs)
    x = keras.layers.Conv2D(64, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.Flatten()(x)
    pool = keras.layers.Dense(feature_units, activation="relu", name="pool")(x)
    logits = keras.layers.Dense(num_classes, name="logits")(pool)
    return keras.Model(inputs, {"logits": logits, "pool": pool}, name="mnist_classifier")


def _as_inputs(images) -> np.ndarray:
    return to_model_input(images, image_size=MNIST_IMAGE_SIZE, channels=1).numpy()


def train_mnist_classifier(
    x,
    y,
    *,
    validation_data: tuple | None = None,
    epochs: int = 3,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    save_path: str | os.PathLike | None = None,
    verbose: int = 0,
) -> keras.Model:
    """Trains `build_mnist_classifier()` on labelled digits and returns it (optionally saved as `.keras`).

    Args:
        x: Images, uint8 in [0, 255] or float in [-1, 1], `(N, 28, 28[, 1])` (other sizes are resized).
        y: Integer labels `(N,)`.
        validation_data: Optional `(x_val, y_val)`, same conventions.
        epochs: Training epochs.
        batch_size: Training batch size.
        learning_rate: Adam learning rate.
        save_path: If given, a `.keras` file to save the classifier to; pass it later as `classifier`.
        verbose: Keras `fit` verbosity.

    Returns:
        The trained classifier, outputs `{"logits", "pool"}`.

    Raises:
        ValueError: If images are in no accepted value range, or `x` and `y` differ in length.

    Example:
        >>> with np.load("mnist.npz") as d:  # doctest: +SKIP
        ...     clf = train_mnist_classifier(d["x_train"], d["y_train"], save_path="mnist_classifier.keras")
    """
    if len(x) != len(y):
        raise ValueError(f"`x` and `y` must have the same length. Received: {len(x)} and {len(y)}")
    model = build_mnist_classifier()
    trainer = keras.Model(model.inputs, model.get_layer("logits").output)
    trainer.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    validation = None
    if validation_data is not None:
        validation = (_as_inputs(validation_data[0]), np.asarray(validation_data[1]))
    trainer.fit(
        _as_inputs(x), np.asarray(y), validation_data=validation, epochs=epochs, batch_size=batch_size, verbose=verbose
    )
    if save_path is not None:
        model.save(save_path)
    return model


def mnist_score(
    images, classifier, *, num_splits: int = 10, batch_size: int = 256, verbose: bool = False
) -> tuple[float, float]:
    """Inception Score through an MNIST classifier: near 10 for varied, confidently classified digits.

    Args:
        images: Digits, uint8 in [0, 255] or float in [-1, 1].
        classifier: A trained classifier (`train_mnist_classifier`), its `.keras` path, or any
            `classifier_fn` accepted by `load_classifier`.
        num_splits: Splits for the mean and standard deviation.
        batch_size: Images per classifier call.
        verbose: Shows a progress bar.

    Returns:
        `(mean, std)` over splits.

    Example:
        >>> mnist_score(samples, "mnist_classifier.keras")  # doctest: +SKIP

    Reference:
        Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016.
    """
    return inception_score(
        images, classifier_fn=classifier, num_splits=num_splits, batch_size=batch_size, verbose=verbose
    )


def mnist_frechet_distance(real, fake, classifier, *, batch_size: int = 256, verbose: bool = False) -> float:
    """Fréchet distance between two digit sets on an MNIST classifier's `pool` features.

    Args:
        real: Real digits (or their `FeatureStatistics`).
        fake: Generated digits.
        classifier: A trained classifier (`train_mnist_classifier`), its `.keras` path, or any
            `classifier_fn` accepted by `load_classifier`.
        batch_size: Images per classifier call.
        verbose: Shows a progress bar.

    Returns:
        The distance, a float.

    Example:
        >>> mnist_frechet_distance(x_test, samples, "mnist_classifier.keras")  # doctest: +SKIP

    Reference:
        Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
        Equilibrium", NeurIPS 2017.
    """
    return frechet_inception_distance(real, fake, classifier_fn=classifier, batch_size=batch_size, verbose=verbose)
