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
import sys
import tempfile

import keras
import tensorflow as tf

from tf_lipschitz.foundations.validation import check_int
from tf_lipschitz.models.diagnostics import nonfinite_logs

__all__ = ["CheckpointCorruptedError", "CheckpointMismatchError", "RunCheckpoints", "CheckpointCallback"]

_log = logging.getLogger(__name__)
_PREFIX = "step-"
_MANIFEST = "manifest.json"


class CheckpointCorruptedError(ValueError):
    """A checkpoint on disk does not match its manifest (truncated, corrupted, incomplete or malformed)."""


class CheckpointMismatchError(ValueError):
    """A checkpoint holds other variables than the objects it is restored into (e.g. another model)."""


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
        manifest_path = os.path.join(folder, _MANIFEST)
        try:
            with open(manifest_path) as handle:
                manifest = json.load(handle)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise CheckpointCorruptedError(f"Checkpoint {folder} has no readable manifest: {err}") from err
        files = manifest.get("files") if isinstance(manifest, dict) else None
        if (not isinstance(files, dict) or "ckpt.index" not in files
                or not all(isinstance(name, str) and isinstance(digest, str) for name, digest in files.items())
                or any(os.path.basename(name) != name or name in ("", ".", "..") for name in files)):
            raise CheckpointCorruptedError(
                f"Checkpoint manifest {manifest_path} is malformed: it must be an object whose \"files\" maps "
                f"each file of the checkpoint (ckpt.index included) to its SHA-256")
        for name, digest in files.items():
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
            CheckpointMismatchError: if it holds other variables than the objects (another model).
        """
        self.verify(step)
        status = None
        try:
            status = self._checkpoint.read(os.path.join(self.path(step), "ckpt"))
            status.assert_existing_objects_matched()
        except (AssertionError, ValueError) as err:  # ValueError: a variable of another shape
            if status is not None:
                status.expect_partial()  # no "deleted with unrestored values" warnings on top of this error
            first = str(err).strip().splitlines()[0][:300] if str(err).strip() else ""
            raise CheckpointMismatchError(
                f"Checkpoint {self.path(step)} was written by other networks or optimizers than these (its "
                f"variables do not match: {first}); it cannot be restored into them.") from None
        return step

    def restore_latest(self) -> int:
        """Restores the newest checkpoint that verifies, skipping (and logging) corrupted ones.

        Each one skipped is reported on stderr with the step it falls back to.

        Returns:
            The restored step, or 0 when there is no usable checkpoint (nothing is restored).

        Raises:
            CheckpointMismatchError: for a checkpoint of other networks (not skipped: falling back would not help).
        """
        steps = self.steps()
        for i in reversed(range(len(steps))):
            try:
                return self.restore(steps[i])
            except CheckpointCorruptedError as err:
                then = f"falling back to step {steps[i - 1]}" if i else "no older checkpoint: starting from step 0"
                print(f"{err}; {then}.", file=sys.stderr, flush=True)
        return 0

    def remove_partial(self) -> list[str]:
        """Deletes the temporary folders of saves that were killed before their rename (`.tmp-*`).

        Call it only from the process that writes this folder.

        Returns:
            The removed folders.
        """
        if not os.path.isdir(self.directory):
            return []
        removed = [os.path.join(self.directory, name) for name in sorted(os.listdir(self.directory))
                   if name.startswith(".tmp-")]
        for path in removed:
            shutil.rmtree(path, ignore_errors=True)
        return removed


class CheckpointCallback(keras.callbacks.Callback):
    """Saves a `RunCheckpoints` every `every_n_steps` training batches and at `final_step`, never a non-finite state.

    If any logged value is NaN or Inf, training stops with a message naming the log key and the step,
    and the last finite checkpoint stays the newest on disk.

    Args:
        checkpoints: The `RunCheckpoints` to write.
        every_n_steps: Save interval in batches (≥ 1).
        initial_step: The step training resumes from (from `restore_latest()`).
        final_step: The run's last step, saved even when it is not a multiple of `every_n_steps`; None: none.
        at_epoch_end: Save at the end of every Keras epoch instead (after the callbacks listed before this one,
            e.g. the log; `train_run` makes one epoch per interval, and an interrupted epoch ends early).

    Raises:
        ValueError: if `every_n_steps` < 1.

    Example:
        >>> callback = CheckpointCallback(RunCheckpoints(d, model=gan), every_n_steps=100)  # doctest: +SKIP
    """

    def __init__(self, checkpoints: RunCheckpoints, every_n_steps: int, initial_step: int = 0,
                 final_step: int | None = None, *, at_epoch_end: bool = False):
        super().__init__()
        self.checkpoints = checkpoints
        self.every_n_steps = check_int("every_n_steps", every_n_steps)
        self.step = initial_step
        self.final_step = final_step
        self.at_epoch_end = at_epoch_end
        self.stopped_reason: str | None = None
        self._saved = initial_step

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        for key, value in nonfinite_logs(logs).items():  # the first non-finite log stops training
            last = self.checkpoints.steps()
            self.stopped_reason = (
                f"Training diverged: '{key}' became {value} at step {self.step}. "
                f"The last finite checkpoint is step {last[-1] if last else 'none'} in {self.checkpoints.directory}."
            )
            print(self.stopped_reason)
            self.model.stop_training = True
            return
        if not self.at_epoch_end and (self.step % self.every_n_steps == 0 or self.step == self.final_step):
            self.checkpoints.save(self.step)
            self._saved = self.step

    def on_epoch_end(self, epoch, logs=None):
        if self.at_epoch_end and self.stopped_reason is None and self.step > self._saved:
            self.checkpoints.save(self.step)
            self._saved = self.step
