"""The one every-N-steps schedule of the periodic callbacks: measure, put the values into `fit`'s logs, keep a history.

`PeriodicCallback` serves `LipschitzMonitor`, `DomainRangeLogger`, `SampleGrid`, the metric callbacks and the
toy W1 monitor: a subclass says what to do at a scheduled step (`measure`) and, if it needs a certain kind of
model, which declared interface (`tf_lipschitz.foundations.contracts`) the model must speak (`requires`).
"""

from __future__ import annotations

import keras

from tf_lipschitz.foundations.contracts import members, training_step
from tf_lipschitz.foundations.validation import check_int

__all__ = ["PeriodicCallback"]


class PeriodicCallback(keras.callbacks.Callback):
    """Calls `measure()` after every N-th training batch (or at every epoch end) and reports its dict of floats.

    Batches are counted from the start of each `fit`, across epochs. With `every_n_steps=None` (allowed when
    the subclass passes `allow_epoch_end=True`) it measures at every epoch end instead. The values go into
    that batch's `logs`, and the latest ones into every epoch's `logs` (measured at the epoch's end if nothing
    was measured yet), so `History`, `CSVLogger` and `TensorBoard` record them when placed after this callback.

    `step` is the training step: the model's `step_counter` when it has one (`contracts.CountsSteps`, so a
    resumed run continues its numbering), else the batches this callback has seen since it was created. Each
    measurement is appended to `history` ({"step": [...], key: [...]}, padded with NaN so all lists align).

    Subclasses set `requires` to a `contracts` Protocol (checked at the start of training) and implement
    `measure()`.

    Args:
        every_n_steps: Measure after every N-th training batch (≥ 1), or None for every epoch end.
        allow_epoch_end: Whether `every_n_steps=None` is allowed.

    Raises:
        ValueError: for a bad `every_n_steps`, and, when training starts, for a model that does not speak
            `requires`.
    """

    requires: type | None = None

    def __init__(self, every_n_steps: int | None, *, allow_epoch_end: bool = False):
        super().__init__()
        if every_n_steps is not None or not allow_epoch_end:
            every_n_steps = check_int("every_n_steps", every_n_steps)
        self.every_n_steps = every_n_steps
        self.history: dict[str, list[float]] = {"step": []}
        self.latest: dict[str, float] = {}
        self.step = 0
        self._fit_step = 0

    def measure(self) -> dict[str, float]:  # pragma: no cover - abstract
        """The values of one measurement (may be empty)."""
        raise NotImplementedError

    def check_model(self, model) -> None:
        """Raises ValueError when `model` does not speak `requires`; called when training starts."""
        if self.requires is not None and not isinstance(model, self.requires):
            names = ", ".join(f"`{name}`" for name in members(self.requires))
            raise ValueError(
                f"{type(self).__name__} needs a GAN model with {names} (tf_lipschitz.foundations.contracts."
                f"{self.requires.__name__}, e.g. tf_lipschitz.models.LipschitzGAN); received a "
                f"{type(model).__name__}."
            )

    def on_train_begin(self, logs=None):
        self.check_model(self.model)
        self._fit_step = 0
        counted = training_step(self.model)
        if counted is not None:
            self.step = counted

    def record(self) -> dict[str, float]:
        """Measures now, at `step`; appends to `history` and returns the values."""
        values = self.measure()
        self.history["step"].append(self.step)
        for key, value in values.items():
            # A key first seen late (or missing once) is padded so all lists align with "step".
            self.history.setdefault(key, [float("nan")] * (len(self.history["step"]) - 1)).append(value)
        for column in self.history.values():
            if len(column) < len(self.history["step"]):
                column.append(float("nan"))
        self.latest = dict(values)
        return values

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        self._fit_step += 1
        if self.every_n_steps is not None and self._fit_step % self.every_n_steps == 0:
            values = self.record()
            if logs is not None:
                logs.update(values)

    def on_epoch_end(self, epoch, logs=None):
        if self.every_n_steps is None or not self.latest:
            self.record()
        if logs is not None:
            logs.update(self.latest)
