"""Running an experiment: shared flags, seeding, local image data and a resumable run with a wall clock.

Reference:
    Terjék, "Adversarial Lipschitz Regularization", ICLR 2020, section 5 and appendix A.2.
    "How does Lipschitz regularization influence GAN training?", appendix B.
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from tf_lipschitz.data import load_images
from tf_lipschitz.foundations.validation import check_int
from tf_lipschitz.training import train_run

__all__ = ["load_image_data", "add_run_arguments", "seed_everything", "fit_schedule", "run_training"]


def load_image_data(dataset: str, data_dir: str | None = None, *, limit: int | None = None,
                    split: str = "train") -> np.ndarray:
    """Local images for an example: `tf_lipschitz.data.load_images` (the one image loader), kept under this name.

    Args:
        dataset: TFDS name ("mnist", "cifar10", "celeb_a") or "folder".
        data_dir: `.npz`, TFDS data directory or image folder; None: TFDS's default directory.
        limit: Keep at most this many images.
        split: "train" or "test".

    Returns:
        Square images (non-square ones center-cropped): uint8 (N, S, S, C), or float32 in [-1, 1] for float data.

    Raises:
        ValueError: when the data cannot be found or is not usable (the message says why).

    Example:
        >>> images = load_image_data("cifar10", "cifar10.npz", limit=1000)  # doctest: +SKIP
    """
    return load_images(dataset, data_dir, split=split, limit=limit)


def add_run_arguments(parser: argparse.ArgumentParser, *, steps: int | None, checkpoint_every: int,
                      run_dir: str) -> None:
    """Adds the flags every example shares: --steps, --checkpoint-every, --run-dir, --seed, --jit, --verbose.

    Args:
        parser: The example's parser.
        steps: Default number of generator steps; None: no --steps flag (the example schedules its own).
        checkpoint_every: Default checkpoint/log interval.
        run_dir: Default run directory.

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> add_run_arguments(parser, steps=10, checkpoint_every=5, run_dir="runs/x")
        >>> parser.parse_args([]).steps
        10
    """
    if steps is not None:
        parser.add_argument("--steps", type=int, default=steps, help="generator steps (default %(default)s)")
    parser.add_argument("--checkpoint-every", type=int, default=checkpoint_every,
                        help="checkpoint, CSV-log and sample-grid interval in steps (default %(default)s)")
    parser.add_argument("--run-dir", default=run_dir, help="run directory; rerun to resume (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jit", action="store_true", help="XLA-compile the training step")
    parser.add_argument("--verbose", type=int, default=1, help="0 silent, 1 progress bar, 2 one line per interval")


def seed_everything(seed: int, *, deterministic: bool = True) -> None:
    """Seeds Python, NumPy and Keras and, with `deterministic`, makes TensorFlow's kernels deterministic.

    Resumable runs need determinism to repeat an uninterrupted run bit for bit. Keras turns `jit_compile`
    off while op determinism is on, so XLA runs pass `deterministic=False` (XLA on CPU is itself repeatable).

    Example:
        >>> seed_everything(0)
    """
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def fit_schedule(steps: int, checkpoint_every: int) -> tuple[int, int]:
    """`steps` rounded up to a multiple of the interval, which is capped at `steps` (what `train_run` needs).

    Example:
        >>> fit_schedule(7, 5), fit_schedule(3, 100)
        ((10, 5), (3, 3))
    """
    steps, checkpoint_every = check_int("steps", steps), check_int("checkpoint_every", checkpoint_every)
    every = min(checkpoint_every, steps)
    return every * math.ceil(steps / every), every


def run_training(model: keras.Model, dataset: tf.data.Dataset, *, run_dir: str, steps: int, checkpoint_every: int,
                 callbacks: Sequence[keras.callbacks.Callback] = (), verbose: int = 1) -> dict:
    """`tf_lipschitz.training.train_run` with `fit_schedule` and a wall clock.

    Args:
        model: A compiled GAN.
        dataset: Endless deterministic dataset (elements of n_critic × critic batch samples).
        run_dir: Run directory (resumed when it holds checkpoints).
        steps: Generator steps.
        checkpoint_every: Checkpoint interval.
        callbacks: More callbacks (put before the CSV log by `train_run`).
        verbose: `fit` verbosity.

    Returns:
        `train_run`'s dict plus "seconds" (wall clock of this call).

    Raises:
        TrainingDiverged: see `train_run`.

    Example:
        >>> result = run_training(gan, dataset, run_dir="runs/x", steps=100, checkpoint_every=50)  # doctest: +SKIP
    """
    steps, every = fit_schedule(steps, checkpoint_every)
    start = time.perf_counter()
    result = train_run(model, dataset, run_dir=run_dir, steps=steps, checkpoint_every=every,
                       callbacks=callbacks, verbose=verbose)
    return {**result, "seconds": time.perf_counter() - start}
