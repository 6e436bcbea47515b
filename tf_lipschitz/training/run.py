"""A resumable training run in a run directory: checkpoints, a log by step, progress, and a clean stop on divergence.

`train_run` is what `tf-lipschitz train` and the examples use: restarted with the same arguments after a
crash or a kill, it resumes from the newest good checkpoint (skipping the data it already consumed) and ends
with the same weights as an uninterrupted run, because `LipschitzGAN` draws its noise from its saved step
counter. Any number of steps works: a checkpoint is written every `checkpoint_every` steps and at the last.

Run directory layout:
    checkpoints/step-XXXXXXXX/   atomic, verified checkpoints (`tf_lipschitz.training.checkpoints`)
    log.csv                      one row per checkpoint interval (column `step`): the model's metrics averaged
                                 over the interval and what callbacks logged; only columns with values
    final.weights.npz            every weight of the model after the last step
"""

from __future__ import annotations

import csv
import math
import os
import signal
import sys
import threading
import time
from typing import Sequence, TextIO

import keras
import numpy as np
import tensorflow as tf

from tf_lipschitz.foundations.files import write_atomically
from tf_lipschitz.foundations.validation import check_int
from tf_lipschitz.training.checkpoints import CheckpointCallback, RunCheckpoints

__all__ = [
    "TrainingDiverged", "TrainingInterrupted", "ApplyLearningRate", "StepLog", "StepProgress", "train_run", "read_log",
    "load_final_weights",
]

# The figures the progress display shows when they are logged, with their short labels.
PROGRESS_KEYS = {"w1_exact": "W1", "wasserstein_estimate": "W1 est", "critic_loss": "critic",
                 "generator_loss": "gen", "penalty": "penalty", "fid": "FID", "inception_score": "IS"}


class TrainingDiverged(RuntimeError):
    """Training produced a non-finite value; the message names the term, the step and the last good checkpoint."""


class TrainingInterrupted(RuntimeError):
    """SIGINT or SIGTERM stopped `train_run(interruptible=True)`; the state of `step` was checkpointed first.

    Attributes:
        step: The step the run stopped at (its checkpoint is the newest on disk).
        signal: The signal's number.
    """

    def __init__(self, step: int, signum: int):
        super().__init__(f"interrupted at step {step}; rerun the same command to resume")
        self.step, self.signal = step, signum


class _Interrupt(keras.callbacks.Callback):
    """Turns SIGINT/SIGTERM into a stop at the end of the running batch (the epoch's end then logs and saves).

    A second signal raises `KeyboardInterrupt` at once. The previous handlers come back with `restore()`.
    """

    def __init__(self):
        super().__init__()
        self.signum: int | None = None
        self._previous = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)}

    def _handle(self, signum, frame):
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum
        if self.model is not None:
            self.model.stop_training = True

    def on_train_batch_end(self, batch, logs=None):
        if self.signum is not None:
            self.model.stop_training = True

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


_MISSING = ("", None, "NA")  # an empty cell, or Keras' CSVLogger's marker of a missing value


def read_log(path: str, *, index: str | None = "step") -> list[dict[str, float]]:
    """The rows of a `log.csv` written by `StepLog`, as dicts of floats (a missing value, empty or "NA", is NaN).

    The one log reader of the library (`tf_lipschitz.reporting.read_csv_log` gives its columns).

    Args:
        path: The CSV file; a missing file has no rows.
        index: The column every row must have ("step" for `StepLog`'s logs, "epoch" for Keras' `CSVLogger`),
            or None for any numeric CSV.

    Returns:
        One dict per row.

    Raises:
        ValueError: naming the file when it is not such a log (a cell that is not a number, no `index` column).

    Example:
        >>> read_log("runs/toy/log.csv")[-1]["step"]  # doctest: +SKIP
        1000.0
    """
    if not os.path.exists(path):
        return []
    try:
        with open(path, newline="") as handle:
            rows = [{key: float(value) if value not in _MISSING else math.nan for key, value in row.items()}
                    for row in csv.DictReader(handle)]
    except (ValueError, TypeError, UnicodeDecodeError, csv.Error) as err:
        raise ValueError(f"{path} is not a log written by tf_lipschitz (a cell is not a number: {err})") from err
    if rows and index is not None and index not in rows[0]:
        raise ValueError(f"{path} is not a log written by tf_lipschitz (no column {index!r})")
    return rows


class StepLog(keras.callbacks.Callback):
    """Writes `log.csv` by training step: one row at the end of each Keras epoch of `train_run`.

    `train_run` makes one epoch per checkpoint interval (the last one stops early at the run's last step),
    so a row holds the step, the model's metrics averaged over the interval (Keras resets them at each
    epoch) and what callbacks added to the epoch's logs (e.g. `w1_exact`, `fid`). Columns that never get a
    value are not written. Rows after `initial_step` found in an existing file (from a run killed after its
    last checkpoint) are dropped; an existing file that is not such a log is moved aside (`<path>.unreadable`),
    with a message, and a new log starts.

    Args:
        path: The CSV file.
        initial_step: The step training starts from.

    Example:
        >>> log = StepLog("runs/toy/log.csv")  # doctest: +SKIP
    """

    def __init__(self, path: str, initial_step: int = 0):
        super().__init__()
        self.path = path
        self.step = check_int("initial_step", initial_step, minimum=0)
        try:
            rows = read_log(path)
        except ValueError as err:
            aside = f"{path}.unreadable"
            os.replace(path, aside)
            print(f"{err}; moved it to {aside} and starting a new log at step {initial_step}.")
            rows = []
        self.rows = [row for row in rows if row["step"] <= initial_step]

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1

    def on_epoch_end(self, epoch, logs=None):
        numbers = {key: float(value) for key, value in (logs or {}).items()
                   if isinstance(value, (int, float, np.number)) and not isinstance(value, bool)}
        self.rows.append({"step": float(self.step), **numbers})
        columns = ["step"]
        for row in self.rows:
            columns += [key for key, value in row.items() if key not in columns and not math.isnan(value)]
        tmp = self.path + ".tmp"
        with open(tmp, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            for row in self.rows:
                writer.writerow([_cell(row.get(key, math.nan), key) for key in columns])
        os.replace(tmp, self.path)


class _StopAtStep(keras.callbacks.Callback):
    """Ends `fit` after the batch of `final_step` (Keras still closes the epoch: its callbacks see it)."""

    def __init__(self, step: int, final_step: int):
        super().__init__()
        self.step, self.final_step = step, final_step

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.step >= self.final_step:
            self.model.stop_training = True


class ApplyLearningRate(keras.callbacks.Callback):
    """Sets the learning rate of the model's optimizers when training begins, after a checkpoint was restored.

    A checkpoint restores each optimizer's learning rate with its other variables; a run resumed with another
    rate (`tf-lipschitz train --resume-anyway --lr ...`) applies the new one through this callback, and
    says so. Optimizers with a schedule are left alone (their rate is not a variable).

    Args:
        learning_rate: The rate (> 0).

    Example:
        >>> callback = ApplyLearningRate(1e-4)
    """

    def __init__(self, learning_rate: float):
        super().__init__()
        self.learning_rate = float(learning_rate)

    def on_train_begin(self, logs=None):
        names = ("critic_optimizer", "generator_optimizer", "optimizer")
        optimizers = {id(o): (name, o) for name in names
                      if isinstance(o := getattr(self.model, name, None), keras.optimizers.Optimizer)}
        for name, optimizer in optimizers.values():
            rate = optimizer._learning_rate  # a variable, or a schedule that this callback leaves alone
            if not isinstance(rate, keras.Variable):
                continue
            old = float(keras.ops.convert_to_numpy(rate))
            if not math.isclose(old, self.learning_rate, rel_tol=1e-6):
                rate.assign(self.learning_rate)
                print(f"{name}: learning rate {old:g} (restored) replaced by {self.learning_rate:g}")


def _cell(value: float, key: str) -> str:
    if math.isnan(value):
        return ""
    return str(int(value)) if key == "step" else f"{value:.6g}"


class StepProgress(keras.callbacks.Callback):
    """One progress display over a run's steps with its key figures (`PROGRESS_KEYS`).

    On a terminal, a bar redrawn in place; otherwise (or with `plain=True`) one plain line at the end of
    each Keras epoch (each checkpoint interval of `train_run`), so that a redirected log stays readable.
    The pace (and the time left) is measured over the batches since the previous epoch's end, and at first
    over those after the first batch, whose time is mostly TensorFlow tracing the step function.

    Args:
        total: The run's last step.
        initial: The step training starts from (a resumed run).
        plain: Plain lines even on a terminal; None: plain unless `stream` is a terminal.
        stream: Where to write (default `sys.stdout`).

    Example:
        >>> progress = StepProgress(total=1000)  # doctest: +SKIP
    """

    def __init__(self, total: int, initial: int = 0, plain: bool | None = None, stream: TextIO | None = None):
        super().__init__()
        self.total, self.initial = total, initial
        self.stream = stream or sys.stdout
        self.plain = (not self.stream.isatty()) if plain is None else plain
        self.step = initial
        self._start = time.perf_counter()
        self._mark = (self._start, initial)  # the pace is measured since the previous epoch's end
        self._drawn = 0.0
        self._traced = False
        self._latest: dict[str, float] = {}

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()
        self._mark = (self._start, self.step)
        self._traced = False

    def _remember(self, logs) -> None:
        self._latest.update({key: float(value) for key, value in (logs or {}).items()
                             if key in PROGRESS_KEYS and isinstance(value, (int, float, np.number))})

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        self._remember(logs)
        if not self._traced:  # the first batch traces the step function: the pace is measured after it
            self._traced = True
            self._mark = (time.perf_counter(), self.step)
        if not self.plain and (self.step == self.total or time.perf_counter() - self._drawn > 0.2):
            self._draw()

    def on_epoch_end(self, epoch, logs=None):
        self._remember(logs)
        if self.plain:
            self.stream.write(self.line() + "\n")
            self.stream.flush()
        else:
            self._draw()
        self._mark = (time.perf_counter(), self.step)

    def _draw(self) -> None:
        self._drawn = time.perf_counter()
        last = self.step == self.total
        self.stream.write("\r" + self.line(bar=True) + "\x1b[K" + ("\n" if last else ""))
        self.stream.flush()

    def on_train_end(self, logs=None):
        if not self.plain and self.step != self.total:  # stopped early: end the bar's line
            self.stream.write("\n")

    def line(self, bar: bool = False) -> str:
        """The progress text: step, time, pace (since the previous epoch's end or the first batch), time left."""
        now = time.perf_counter()
        elapsed, done = now - self._start, self.step - self._mark[1]
        pace = (now - self._mark[0]) / done if done else math.nan
        left = pace * (self.total - self.step)
        head = f"step {self.step}/{self.total}"
        if bar:
            filled = int(20 * self.step / self.total)
            head = f"[{'=' * filled}{'.' * (20 - filled)}] {head}"
        figures = "  ".join(f"{label} {self._latest[key]:.4g}" for key, label in PROGRESS_KEYS.items()
                            if key in self._latest)
        return f"{head}  {format_duration(elapsed)} ({pace:.2f} s/step, {format_duration(left)} left)  {figures}"


def format_duration(seconds: float) -> str:
    """`1h02m`, `3m05s` or `42s`.

    Example:
        >>> format_duration(3725), format_duration(185), format_duration(4.2)
        ('1h02m', '3m05s', '4s')
    """
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


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
    interruptible: bool = False,
) -> dict:
    """Trains a compiled model for `steps` batches in `run_dir`, resuming from its newest good checkpoint.

    The dataset must be deterministic (same seed, same order) so that skipping the batches already consumed
    resumes exactly. One Keras epoch is one checkpoint interval; the last one ends at `steps` even when
    `steps` is not a multiple of `checkpoint_every`. At the end of each epoch a `log.csv` row is written,
    then the checkpoint (a run killed between the two redoes the interval), then a plain progress line.
    Unfinished checkpoint folders a killed save left behind are removed, with a message.

    Args:
        model: A compiled `keras.Model` (e.g. `LipschitzGAN`); its optimizers must be attributes of it.
        dataset: An endless, deterministic `tf.data.Dataset` of training batches.
        run_dir: The run directory (created if needed).
        steps: Total number of training batches (≥ 1).
        checkpoint_every: Checkpoint, log and progress-line interval in batches (≥ 1); epochs are this long.
        callbacks: More Keras callbacks (they run before the log, which records what they add to the epoch logs).
        verbose: 0 silent; 1 or "auto": a progress bar on a terminal, plain lines otherwise; 2: plain lines.
        keep: Number of checkpoints kept on disk.
        resume_from: Run directory whose checkpoints to resume from, when it is not `run_dir`: a non-chief
            worker writes into a temporary folder but resumes from the chief's (`tf_lipschitz.training.distribute`).
        interruptible: On SIGINT (Ctrl-C) or SIGTERM (a cluster's preemption), finish the running batch, write
            the log row and a checkpoint of that step, and raise `TrainingInterrupted` (a second signal stops at
            once). Only in the main thread; the previous signal handlers are restored on return.

    Returns:
        `{"start_step": s, "end_step": e, "history": {key: [values]}}`, the history holding the rows of
        `log.csv` written by this call (key "step" included).

    Raises:
        ValueError: if `steps` or `checkpoint_every` is not an integer ≥ 1.
        TrainingDiverged: when a loss term becomes NaN/Inf; the newest checkpoint on disk is the last finite one.
        TrainingInterrupted: with `interruptible`, after a signal (the step's checkpoint is on disk).

    Example:
        >>> train_run(gan, toy_dataset("8gaussians", 1280), run_dir="runs/toy", steps=250)  # doctest: +SKIP
    """
    steps = check_int("steps", steps)
    checkpoint_every = check_int("checkpoint_every", checkpoint_every)
    os.makedirs(run_dir, exist_ok=True)
    checkpoints = RunCheckpoints(os.path.join(run_dir, "checkpoints"), keep=keep, model=model)
    removed = checkpoints.remove_partial()
    if removed:
        print(f"Removed {len(removed)} unfinished checkpoint folder(s) left by an interrupted save: {', '.join(removed)}")
    source = RunCheckpoints(os.path.join(resume_from or run_dir, "checkpoints"), model=model)
    start = source.restore_latest()
    if start:
        print(f"Resuming from step {start} ({source.path(start)})")
    elif source.steps():
        print(f"None of the {len(source.steps())} checkpoints in {source.directory} can be restored (see above): "
              "training starts from step 0.")
    history: dict = {}
    if start < steps:
        saver = CheckpointCallback(checkpoints, checkpoint_every, initial_step=start, final_step=steps,
                                   at_epoch_end=True)
        log = StepLog(os.path.join(run_dir, "log.csv"), initial_step=start)
        more = [] if verbose == 0 else [StepProgress(steps, start, plain=verbose == 2 or None)]
        kept = len(log.rows)
        interrupt = _Interrupt() if interruptible and threading.current_thread() is threading.main_thread() else None
        try:
            # The log row comes before its checkpoint: a run killed between the two redoes the interval.
            model.fit(dataset.skip(start), steps_per_epoch=checkpoint_every, epochs=start // checkpoint_every
                      + math.ceil((steps - start) / checkpoint_every), initial_epoch=start // checkpoint_every,
                      verbose=0, shuffle=False, callbacks=[_StopAtStep(start, steps), *callbacks, log, saver,
                                                           *([interrupt] if interrupt else []), *more])
        except FloatingPointError as err:
            raise TrainingDiverged(f"{err} Last finite checkpoint: {_newest(checkpoints)}.") from err
        finally:
            if interrupt is not None:
                interrupt.restore()
        if saver.stopped_reason:
            raise TrainingDiverged(saver.stopped_reason)
        if interrupt is not None and interrupt.signum is not None and saver.step < steps:
            raise TrainingInterrupted(saver.step, interrupt.signum)
        rows = log.rows[kept:]
        history = {key: [row.get(key, math.nan) for row in rows] for key in dict.fromkeys(k for r in rows for k in r)}
    weights = {f"w{i:04d}": w for i, w in enumerate(model.get_weights())}
    write_atomically(os.path.join(run_dir, "final.weights.npz"), lambda handle: np.savez(handle, **weights))
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
