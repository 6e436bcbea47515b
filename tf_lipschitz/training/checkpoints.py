"""Crash-safe checkpoints of everything a training run needs: networks, optimizers, seed state, step.

A checkpoint is written into a temporary folder, each file's SHA-256 goes into a manifest, and only then
is the folder renamed into place: a run killed mid-write leaves no half checkpoint behind, and a file
truncated or corrupted later is detected (with a clear error) instead of silently loading garbage. When the
newest checkpoint is bad, `restore_latest` falls back to the previous good one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile

import keras
import tensorflow as tf

from tf_lipschitz.foundations.validation import check_int

__all__ = ["CheckpointCorruptedError", "RunCheckpoints", "CheckpointCallback"]

_log = logging.getLogger(__name__)
_PREFIX = "step-"
_MANIFEST = "manifest.json"


class CheckpointCorruptedError(ValueError):
    """A checkpoint on disk does not match its manifest (truncated, corrupted or incomplete)."""


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class RunCheckpoints:
    """Atomic, verified checkpoints of trackable objects (Keras models, optimizers, variables) in a folder.

    Args:
        directory: Folder that holds one sub-folder `step-00000123` per checkpoint.
        keep: How many of the newest checkpoints to keep (≥ 1).
        **objects: The trackables to save, e.g. `model=gan` (a Keras model tracks its optimizers and
            `SeedGenerator`s when they are attributes).

    Raises:
        ValueError: if `keep` < 1 or no objects are given.

    Example:
        >>> ckpts = RunCheckpoints("/tmp/run/checkpoints", model=model)  # doctest: +SKIP
        >>> ckpts.save(step=100)  # doctest: +SKIP
        >>> ckpts.restore_latest()  # doctest: +SKIP
        100
    """

    def __init__(self, directory: str, *, keep: int = 3, **objects):
        keep = check_int("keep", keep)
        if not objects:
            raise ValueError("RunCheckpoints needs at least one object to save, e.g. model=...")
        self.directory = directory
        self.keep = keep
        self._checkpoint = tf.train.Checkpoint(**objects)

    def steps(self) -> list[int]:
        """Steps of the complete checkpoints on disk, oldest first."""
        if not os.path.isdir(self.directory):
            return []
        found = []
        for name in os.listdir(self.directory):
            if name.startswith(_PREFIX) and name[len(_PREFIX):].isdigit():
                found.append(int(name[len(_PREFIX):]))
        return sorted(found)

    def path(self, step: int) -> str:
        """Folder of the checkpoint of `step`."""
        return os.path.join(self.directory, f"{_PREFIX}{step:08d}")

    def save(self, step: int) -> str:
        """Writes the checkpoint of `step` atomically and prunes old ones.

        Args:
            step: The training step the state belongs to.

        Returns:
            The checkpoint's folder.
        """
        os.makedirs(self.directory, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".tmp-", dir=self.directory)
        try:
            self._checkpoint.write(os.path.join(tmp, "ckpt"))
            files = sorted(n for n in os.listdir(tmp))
            manifest = {"step": step, "files": {n: _sha256(os.path.join(tmp, n)) for n in files}}
            with open(os.path.join(tmp, _MANIFEST), "w") as handle:
                json.dump(manifest, handle)
                handle.flush()
                os.fsync(handle.fileno())
            final = self.path(step)
            if os.path.exists(final):
                shutil.rmtree(final)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        for old in self.steps()[:-self.keep]:
            shutil.rmtree(self.path(old), ignore_errors=True)
        return final

    def verify(self, step: int) -> None:
        """Checks every file of a checkpoint against its manifest.

        Raises:
            CheckpointCorruptedError: naming the missing, truncated or altered file.
        """
        folder = self.path(step)
        try:
            with open(os.path.join(folder, _MANIFEST)) as handle:
                manifest = json.load(handle)
        except (OSError, json.JSONDecodeError) as err:
            raise CheckpointCorruptedError(f"Checkpoint {folder} has no readable manifest: {err}") from err
        for name, digest in manifest["files"].items():
            path = os.path.join(folder, name)
            if not os.path.exists(path):
                raise CheckpointCorruptedError(f"Checkpoint file {path} is missing")
            if _sha256(path) != digest:
                raise CheckpointCorruptedError(
                    f"Checkpoint file {path} is corrupted or truncated (SHA-256 differs from the manifest)"
                )

    def restore(self, step: int) -> int:
        """Verifies, then restores the checkpoint of `step` into the objects.

        Returns:
            `step`.

        Raises:
            CheckpointCorruptedError: if the checkpoint fails verification.
        """
        self.verify(step)
        self._checkpoint.read(os.path.join(self.path(step), "ckpt")).assert_existing_objects_matched()
        return step

    def restore_latest(self) -> int:
        """Restores the newest checkpoint that verifies, skipping (and logging) corrupted ones.

        Returns:
            The restored step, or 0 when there is no usable checkpoint (nothing is restored).
        """
        for step in reversed(self.steps()):
            try:
                return self.restore(step)
            except CheckpointCorruptedError as err:
                _log.warning("%s; falling back to the previous checkpoint", err)
        return 0


class CheckpointCallback(keras.callbacks.Callback):
    """Saves a `RunCheckpoints` every `every_n_steps` training batches and at `final_step`, never a non-finite state.

    If any logged value is NaN or Inf, training stops with a message naming the log key and the step,
    and the last finite checkpoint stays the newest on disk.

    Args:
        checkpoints: The `RunCheckpoints` to write.
        every_n_steps: Save interval in batches (≥ 1).
        initial_step: The step training resumes from (from `restore_latest()`).
        final_step: The run's last step, saved even when it is not a multiple of `every_n_steps`; None: none.

    Raises:
        ValueError: if `every_n_steps` < 1.

    Example:
        >>> callback = CheckpointCallback(RunCheckpoints(d, model=gan), every_n_steps=100)  # doctest: +SKIP
    """

    def __init__(self, checkpoints: RunCheckpoints, every_n_steps: int, initial_step: int = 0,
                 final_step: int | None = None):
        super().__init__()
        self.checkpoints = checkpoints
        self.every_n_steps = check_int("every_n_steps", every_n_steps)
        self.step = initial_step
        self.final_step = final_step
        self.stopped_reason: str | None = None

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        for key, value in (logs or {}).items():
            try:
                finite = bool(tf.math.is_finite(tf.cast(value, tf.float32)))
            except (TypeError, ValueError):
                continue
            if not finite:
                last = self.checkpoints.steps()
                self.stopped_reason = (
                    f"Training diverged: '{key}' became {float(value)} at step {self.step}. "
                    f"The last finite checkpoint is step {last[-1] if last else 'none'} in {self.checkpoints.directory}."
                )
                print(self.stopped_reason)
                self.model.stop_training = True
                return
        if self.step % self.every_n_steps == 0 or self.step == self.final_step:
            self.checkpoints.save(self.step)
