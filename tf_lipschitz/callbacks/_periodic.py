"""Shared schedule of the measuring callbacks: every N-th training batch, into `fit`'s logs and a history."""

from __future__ import annotations

import keras

__all__ = ["PeriodicCallback", "check_every_n_steps", "require_attributes"]


def check_every_n_steps(every_n_steps) -> int:
    if isinstance(every_n_steps, bool) or not isinstance(every_n_steps, int) or every_n_steps < 1:
        raise ValueError(f"`every_n_steps` must be an integer >= 1. Received: every_n_steps={every_n_steps!r}")
    return every_n_steps


def require_attributes(model, callback: str, *names: str) -> None:
    """Raises a ValueError naming the callback and the missing attributes when `model` lacks any of `names`."""
    missing = [name for name in names if getattr(model, name, None) is None]
    if missing:
        raise ValueError(
            f"{callback} needs a GAN model with {', '.join('`' + n + '`' for n in names)} "
            f"(e.g. tf_lipschitz.models.LipschitzGAN); {type(model).__name__} has no "
            f"{', '.join('`' + n + '`' for n in missing)}."
        )


class PeriodicCallback(keras.callbacks.Callback):
    """Calls `measure()` after every N-th training batch and reports its dict of floats.

    Steps are counted from the start of each `fit` across epochs; `step` in the history is the number
    of batches trained by this callback's model since the callback was created (it keeps counting
    over several `fit` calls). The values go into that batch's `logs`, and the latest ones into every
    epoch's `logs` (measured at the epoch's end if nothing was measured yet), so `History`,
    `CSVLogger` and `TensorBoard` record them when placed after this callback.
    """

    def __init__(self, every_n_steps: int):
        super().__init__()
        self.every_n_steps = check_every_n_steps(every_n_steps)
        self.history: dict[str, list[float]] = {"step": []}
        self._step = 0
        self._fit_step = 0
        self._latest: dict[str, float] = {}

    def measure(self) -> dict[str, float]:  # pragma: no cover - abstract
        raise NotImplementedError

    def validate_model(self, model) -> None:
        """Raises ValueError when the callback cannot serve `model`; called in `on_train_begin`."""

    def on_train_begin(self, logs=None):
        self.validate_model(self.model)
        self._fit_step = 0

    def _record(self) -> dict[str, float]:
        values = self.measure()
        self.history["step"].append(self._step)
        for key, value in values.items():
            # A key first seen late (or missing once) is padded so all lists align with "step".
            column = self.history.setdefault(key, [float("nan")] * (len(self.history["step"]) - 1))
            column.append(value)
        for key, column in self.history.items():
            if len(column) < len(self.history["step"]):
                column.append(float("nan"))
        self._latest = dict(values)
        return values

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        self._fit_step += 1
        if self._fit_step % self.every_n_steps == 0:
            values = self._record()
            if logs is not None:
                logs.update(values)

    def on_epoch_end(self, epoch, logs=None):
        if not self._latest:
            self._record()
        if logs is not None:
            logs.update(self._latest)
