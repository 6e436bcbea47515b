"""A resumable training run in a run directory: checkpoints, CSV log, and a clean stop on divergence.

`train_run` is what `tf-lipschitz train` and the examples use: restarted with the same arguments after a
crash or a kill, it resumes from the newest good checkpoint (skipping the data it already consumed) and ends
with the same weights as an uninterrupted run, because `LipschitzGAN` draws its noise from its saved step
counter.

Run directory layout:
    checkpoints/step-XXXXXXXX/   atomic, verified checkpoints (`tf_lipschitz.checkpoints`)
    log.csv                      one row per checkpoint interval (`keras.callbacks.CSVLogger`)
    final.weights.npz            every weight of the model after the last step
"""

from __future__ import annotations

import os
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from tf_lipschitz.checkpoints import CheckpointCallback, RunCheckpoints

__all__ = ["TrainingDiverged", "train_run", "load_final_weights"]


class TrainingDiverged(RuntimeError):
    """Training produced a non-finite value; the message names the term, the step and the last good checkpoint."""


def train_run(
    model: keras.Model,
    dataset: tf.data.Dataset,
    *,
    run_dir: str,
    steps: int,
    checkpoint_every: int = 100,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int | str = "auto",
    keep: int = 3,
    resume_from: str | None = None,
) -> dict:
    """Trains a compiled model for `steps` batches in `run_dir`, resuming from its newest good checkpoint.

    The dataset must be deterministic (same seed, same order) so that skipping the batches already consumed
    resumes exactly. One Keras "epoch" is one checkpoint interval.

    Args:
        model: A compiled `keras.Model` (e.g. `LipschitzGAN`); its optimizers must be attributes of it.
        dataset: An endless, deterministic `tf.data.Dataset` of training batches.
        run_dir: The run directory (created if needed).
        steps: Total number of training batches; a multiple of `checkpoint_every`.
        checkpoint_every: Checkpoint (and CSV log) interval in batches.
        callbacks: More Keras callbacks.
        verbose: Passed to `fit`.
        keep: Number of checkpoints kept on disk.
        resume_from: Run directory whose checkpoints to resume from, when it is not `run_dir`: a non-chief
            worker writes into a temporary folder but resumes from the chief's (`tf_lipschitz.distribute`).

    Returns:
        `{"start_step": s, "end_step": e, "history": {key: [values]}}`.

    Raises:
        ValueError: if `steps` is not a positive multiple of `checkpoint_every`.
        TrainingDiverged: when a loss term becomes NaN/Inf; the newest checkpoint on disk is the last finite one.

    Example:
        >>> train_run(gan, toy_dataset("8gaussians", 1280), run_dir="runs/toy", steps=200)  # doctest: +SKIP
    """
    if steps < 1 or checkpoint_every < 1 or steps % checkpoint_every:
        raise ValueError(
            f"`steps` must be a positive multiple of `checkpoint_every`. Received: steps={steps}, "
            f"checkpoint_every={checkpoint_every}"
        )
    os.makedirs(run_dir, exist_ok=True)
    checkpoints = RunCheckpoints(os.path.join(run_dir, "checkpoints"), keep=keep, model=model)
    source = RunCheckpoints(os.path.join(resume_from or run_dir, "checkpoints"), model=model)
    start = source.restore_latest()
    if start:
        print(f"Resuming from step {start} ({source.path(start)})")
    history: dict = {}
    if start < steps:
        saver = CheckpointCallback(checkpoints, checkpoint_every, initial_step=start)
        csv = keras.callbacks.CSVLogger(os.path.join(run_dir, "log.csv"), append=start > 0)
        try:
            result = model.fit(
                dataset.skip(start),
                steps_per_epoch=checkpoint_every,
                epochs=steps // checkpoint_every,
                initial_epoch=start // checkpoint_every,
                callbacks=[saver, *callbacks, csv],  # user callbacks may add to the epoch logs
                verbose=verbose,
            )
        except FloatingPointError as err:
            raise TrainingDiverged(f"{err} Last finite checkpoint: {_newest(checkpoints)}.") from err
        if saver.stopped_reason:
            raise TrainingDiverged(saver.stopped_reason)
        history = result.history
    weights = {f"w{i:04d}": w for i, w in enumerate(model.get_weights())}
    np.savez(os.path.join(run_dir, "final.weights.npz"), **weights)
    return {"start_step": start, "end_step": steps, "history": history}


def _newest(checkpoints: RunCheckpoints) -> str:
    steps = checkpoints.steps()
    return checkpoints.path(steps[-1]) if steps else "none"


def load_final_weights(run_dir: str) -> list[np.ndarray]:
    """The weights `train_run` wrote at the end of a run, in `model.get_weights()` order.

    Args:
        run_dir: The run directory.

    Returns:
        A list of arrays.

    Example:
        >>> weights = load_final_weights("runs/toy")  # doctest: +SKIP
    """
    with np.load(os.path.join(run_dir, "final.weights.npz")) as npz:
        return [npz[key] for key in sorted(npz.files)]
