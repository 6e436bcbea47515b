"""Domain Ω of the loss (the critic's range) and interval Ψ of attained loss gradients during GAN training.

For a discriminator D(x) = L(f(x)) the loss only ever sees ω = f(x) ∈ Ω, so the gradients it sends back
lie in Ψ = L'(Ω); for the convex GAN losses, Ψ = [L'(min Ω), L'(max Ω)] (Eq. 9). A Lipschitz constraint
(or the domain scaling α) shrinks Ω and thereby Ψ, which is the paper's explanation of why it
stabilizes training. `DomainRangeLogger` measures both during `fit` and draws Figure 1 of the paper.

Reference:
    "How does Lipschitz regularization influence GAN training?", section 4 (Theorem 1, Corollary 1.1,
    Eq. 9, Figure 1).
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np
from keras import ops

from tf_lipschitz import losses as gan_losses
from tf_lipschitz.callbacks._periodic import PeriodicCallback
from tf_lipschitz.foundations.contracts import GenerativeModel
from tf_lipschitz.foundations.optional import require
from tf_lipschitz.foundations.validation import check_int

__all__ = ["DomainRangeLogger", "domain_range", "plot_domain_history", "domain_range_table"]

OMEGA_KEYS = ("omega_real_min", "omega_real_max", "omega_fake_min", "omega_fake_max", "omega_min", "omega_max")
PSI_KEYS = ("psi_real_min", "psi_real_max", "psi_fake_min", "psi_fake_max")


def _psi(loss: gan_losses.GANLoss, low: float, high: float) -> dict[str, float]:
    """Ψ = [L'(min Ω), L'(max Ω)] for the real and the fake term of the discriminator loss."""
    omega = ops.convert_to_tensor([low, high], dtype="float32")
    values = {}
    for name, term in (("real", loss.real), ("fake", loss.fake)):
        derivative = np.asarray(ops.convert_to_numpy(term.derivative(omega)), dtype=np.float64)
        values[f"psi_{name}_min"], values[f"psi_{name}_max"] = float(derivative[0]), float(derivative[1])
    return values


def domain_range(real_outputs, fake_outputs, loss: gan_losses.GANLoss) -> dict[str, float]:
    """Ω on real, on generated and on both samples, and Ψ of the loss's real and fake terms on Ω.

    Args:
        real_outputs: Critic outputs f(x) on real samples (any shape).
        fake_outputs: Critic outputs f(g(z)) on generated samples.
        loss: A `tf_lipschitz.losses.GANLoss` (its α included).

    Returns:
        A dict with `omega_real_min/max`, `omega_fake_min/max`, `omega_min/max` (Ω = both together) and
        `psi_real_min/max`, `psi_fake_min/max` = L'(min Ω), L'(max Ω) of each discriminator loss term.

    Example:
        >>> values = domain_range(np.array([0.5, 2.0]), np.array([-1.0, 0.0]), gan_losses.get("ls-gan"))
        >>> values["omega_min"], values["omega_max"], values["psi_fake_min"], values["psi_fake_max"]
        (-1.0, 2.0, -2.0, 4.0)
    """
    real = np.asarray(ops.convert_to_numpy(real_outputs), dtype=np.float64).ravel()
    fake = np.asarray(ops.convert_to_numpy(fake_outputs), dtype=np.float64).ravel()
    values = {
        "omega_real_min": float(real.min()), "omega_real_max": float(real.max()),
        "omega_fake_min": float(fake.min()), "omega_fake_max": float(fake.max()),
    }
    values["omega_min"] = min(values["omega_real_min"], values["omega_fake_min"])
    values["omega_max"] = max(values["omega_real_max"], values["omega_fake_max"])
    values.update(_psi(loss, values["omega_min"], values["omega_max"]))
    return values


def _model_loss(model: GenerativeModel, loss, alpha) -> gan_losses.GANLoss:
    """The GAN loss with its α: the callback's `loss`/`alpha` where given, else the model's `gan_loss`."""
    if loss is None:
        loss = model.gan_loss
    if alpha is None:
        alpha = loss.alpha if isinstance(loss, gan_losses.GANLoss) else model.gan_loss.alpha
    if isinstance(loss, gan_losses.GANLoss):
        return loss if loss.alpha == float(alpha) else gan_losses.get(loss.name, alpha=alpha)
    return gan_losses.get(loss, alpha=alpha)


def _symlog_threshold(values: np.ndarray) -> float:
    """Linear range of the symmetric log axis: three decades below the largest |ω|."""
    finite = np.abs(values[np.isfinite(values)])
    top = float(finite.max()) if finite.size else 1.0
    return max(top * 1e-3, 1e-12)


def plot_domain_history(histories: Sequence[dict], labels: Sequence[str], path: str, *, title: str | None = None) -> str:
    """Writes Figure 1(a): Ω of the critic on real and generated samples against iterations, log scale.

    One panel per history (e.g. one per k_SN or α); each shows the interval [min Ω, max Ω] at every
    logged step, shaded, for real and generated samples. The y-axis is symmetric-log ("symlog"), since
    Ω usually contains negative values.

    Args:
        histories: `DomainRangeLogger.history` dicts (keys `step` and `omega_*`).
        labels: One panel title per history.
        path: The PNG file to write (directories are created).
        title: Optional figure title.

    Returns:
        `path`.

    Raises:
        ValueError: if the number of labels differs from the number of histories, or a history is empty.
        ImportError: when Matplotlib is not installed (`pip install "tf-lipschitz[plots]"`).
    """
    FigureCanvasAgg = require("matplotlib.backends.backend_agg", extra="plots").FigureCanvasAgg
    Figure = require("matplotlib.figure", extra="plots").Figure

    if len(histories) != len(labels) or not histories:
        raise ValueError(f"Need one label per history. Received {len(histories)} histories, {len(labels)} labels")
    fig = Figure(figsize=(4.0 * len(histories), 3.2), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(histories), squeeze=False)[0]
    for ax, history, label in zip(axes, histories, labels):
        if not history.get("step"):
            raise ValueError(f"History {label!r} has no recorded step")
        steps = np.asarray(history["step"], dtype=np.float64)
        for kind, color in (("real", "tab:blue"), ("fake", "tab:orange")):
            low = np.asarray(history[f"omega_{kind}_min"], dtype=np.float64)
            high = np.asarray(history[f"omega_{kind}_max"], dtype=np.float64)
            ax.fill_between(steps, low, high, color=color, alpha=0.3, step="mid", label=f"Ω on {kind}")
            ax.vlines(steps, low, high, color=color, linewidth=1.0)
        bounds = np.concatenate([history["omega_min"], history["omega_max"]]).astype(np.float64)
        ax.set_yscale("symlog", linthresh=_symlog_threshold(bounds))
        ax.set_xlabel("iteration")
        ax.set_ylabel("Ω (symlog)")
        ax.set_title(label)
        ax.grid(True, alpha=0.3)
    axes[0].legend(loc="best", fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, format="png")
    return path


def domain_range_table(rows: Sequence[tuple[str, dict]], *, loss_name: str | None = None) -> str:
    """Figure 1(b) as a Markdown table: Ω over all logged steps (Ω = ∪ Ω_i) and Ψ, one row per run.

    Args:
        rows: (label, summary) pairs, summaries from `DomainRangeLogger.summary()`.
        loss_name: Optional loss description for the header.

    Returns:
        The table as a string.

    Example:
        >>> summary = {"omega_min": -1.0, "omega_max": 2.0, "psi_real_min": -4.0, "psi_real_max": 2.0,
        ...            "psi_fake_min": -2.0, "psi_fake_max": 4.0}
        >>> print(domain_range_table([("k_SN=1", summary)]).splitlines()[2])
        | k_SN=1 | [-1.000, 2.000] | [-4.000, 2.000] | [-2.000, 4.000] |
    """
    header = f"| run | Ω | Ψ real term | Ψ fake term |" + (f" <!-- {loss_name} -->" if loss_name else "")
    lines = [header, "|---|---|---|---|"]
    for label, s in rows:
        lines.append(
            f"| {label} | [{s['omega_min']:.3f}, {s['omega_max']:.3f}] "
            f"| [{s['psi_real_min']:.3f}, {s['psi_real_max']:.3f}] "
            f"| [{s['psi_fake_min']:.3f}, {s['psi_fake_max']:.3f}] |"
        )
    return "\n".join(lines)


class DomainRangeLogger(PeriodicCallback):
    """Logs the domain Ω of the loss (critic outputs on real and generated samples) and Ψ = L'(Ω).

    Every `every_n_steps` training batches the critic (in inference mode) scores the held batch
    `real_data` and `n_generated` fresh samples of `model.generate`. The logs get Ω on real
    (`omega_real_min/max`), on generated (`omega_fake_min/max`) and on both samples (`omega_min/max`),
    and the interval of attained loss gradients Ψ = [L'(min Ω), L'(max Ω)] (Eq. 9) of the
    discriminator's real and fake loss terms, with the model's domain scaling α (`psi_real_min/max`,
    `psi_fake_min/max`). Values go into that batch's `logs`, the latest into every epoch's `logs`
    (`CSVLogger` and `TensorBoard` pick them up when placed after this callback), and into
    `self.history`. At the end of training it writes Figure 1(a), Ω against iterations on a log scale,
    to `plot_path`, and Figure 1(b), the Ω/Ψ table over all logged steps (Ω = ∪ Ω_i), to `table_path`,
    when they are given.

    The model must be a `tf_lipschitz.foundations.contracts.GenerativeModel` (`critic`, `generate(n)` and `gan_loss`
    with its α), as `tf_lipschitz.models.LipschitzGAN` is; `loss`/`alpha` arguments override the model's.
    The samples of the last measurement are kept in `last_real` / `last_fake`. The plot needs Matplotlib
    (`pip install "tf-lipschitz[plots]"`).

    Args:
        every_n_steps: Measure after every N-th training batch (≥ 1), counted from the start of `fit`.
        real_data: A held batch of real samples (array or tensor), scored at every measurement.
        n_generated: Number of generated samples per measurement; defaults to `len(real_data)`.
        plot_path: PNG file for Figure 1(a); None (the default): no plot (nothing is written unasked).
        table_path: Markdown file for the Figure 1(b) table; None (the default): none (`table()` returns it).
        loss: Override of the model's GAN loss (name or `tf_lipschitz.losses.GANLoss`).
        alpha: Override of the model's domain scaling α.

    Raises:
        ValueError: for `every_n_steps` < 1, an empty `real_data`, `n_generated` < 1, and (at the start
            of training) a model that is not a `GenerativeModel`.

    Example:
        >>> logger = DomainRangeLogger(50, real_data=x_train[:256], plot_path="omega.png")  # doctest: +SKIP
        >>> gan.fit(dataset, epochs=5, callbacks=[logger, keras.callbacks.CSVLogger("log.csv")])  # doctest: +SKIP

    Reference:
        "How does Lipschitz regularization influence GAN training?", section 4, Eq. 9 and Figure 1.
    """

    def __init__(
        self,
        every_n_steps: int,
        real_data: Any,
        *,
        n_generated: int | None = None,
        plot_path: str | None = None,
        table_path: str | None = None,
        loss: str | gan_losses.GANLoss | None = None,
        alpha: float | None = None,
    ):
        super().__init__(every_n_steps)
        if real_data is None or len(real_data) == 0:
            raise ValueError("`real_data` must be a non-empty batch of real samples. Received an empty batch")
        if n_generated is not None:
            n_generated = check_int("n_generated", n_generated)
        if loss is not None:
            gan_losses.get(loss)  # validates the name now, not at the first measurement
        self.real_data = real_data
        self.n_generated = int(n_generated) if n_generated is not None else len(real_data)
        self.plot_path = plot_path
        self.table_path = table_path
        self.loss = loss
        self.alpha = alpha
        self.gan_loss: gan_losses.GANLoss | None = None
        self.last_real = None
        self.last_fake = None

    requires = GenerativeModel

    def check_model(self, model) -> None:
        super().check_model(model)
        self.gan_loss = _model_loss(model, self.loss, self.alpha)

    def measure(self) -> dict[str, float]:
        fake = self.model.generate(self.n_generated)
        critic = self.model.critic
        real_outputs = critic(self.real_data, training=False)
        fake_outputs = critic(fake, training=False)
        self.last_real, self.last_fake = self.real_data, fake
        return domain_range(real_outputs, fake_outputs, self.gan_loss)

    def summary(self) -> dict[str, float]:
        """Ω = ∪ Ω_i over all logged steps and the matching Ψ (the numbers of Figure 1(b))."""
        if not self.history["step"]:
            raise ValueError("DomainRangeLogger has not measured anything yet")
        low = float(np.nanmin(self.history["omega_min"]))
        high = float(np.nanmax(self.history["omega_max"]))
        return {"omega_min": low, "omega_max": high, **_psi(self.gan_loss, low, high)}

    def table(self, label: str | None = None) -> str:
        """The Figure 1(b) table of this run (one row)."""
        name = f"{self.gan_loss.name}, α={self.gan_loss.alpha:g}"
        return domain_range_table([(label or name, self.summary())], loss_name=name)

    def on_train_end(self, logs=None):
        if not self.history["step"]:
            return
        name = f"{self.gan_loss.name}, α={self.gan_loss.alpha:g}"
        if self.plot_path:
            plot_domain_history([self.history], [name], self.plot_path, title="Domain Ω of the loss (Figure 1a)")
        if self.table_path:
            os.makedirs(os.path.dirname(os.path.abspath(self.table_path)), exist_ok=True)
            with open(self.table_path, "w", encoding="utf-8") as handle:
                handle.write(self.table() + "\n")
