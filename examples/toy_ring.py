"""The ring toy of the ALR paper (section 4.2, Figure 1): SN, LP and ALP fitting a 1-Lipschitz f̂ to a ring.

An MLP with hidden layers of 20, 40 and 20 ReLU units (optionally batch-normalized before the activations)
regresses the target f of Eq. (24) (0 on the ring 1 ≤ ‖x‖ ≤ 2, 1 elsewhere) from batches of 64 input-output
pairs drawn from U[-4, 4]², while a Lipschitz regularizer acts on 1024 further inputs per batch:

  * none: plain MSE.
  * sn: every dense layer spectral-normalized (`toy_mlp(spectral_norm=True)`, k_sn = 1); no penalty.
  * lp: MSE + λ·LP, the one-sided gradient penalty (‖∇f̂‖ − 1)_+² of Petzka et al., λ ∈ {0.1, 1, 10}.
  * alp: MSE + λ·ALP of Eq. (20) with K = 1, d_X = ℓ2, d_Y = |·|, k ∈ {0, 1, 5} power iterations and the
    clipped half-normal P_ε = min(|N(0, 10⁻¹²)| + 10⁻⁶, 10⁻⁵), λ ∈ {0.1, 1, 10}.

Each configuration is evaluated on a grid of [-4, 4]² against the optimal 1-Lipschitz approximation f̂_opt of
Eq. (25): the maximum gradient norm (f̂_opt has 1) and the RMSE of f̂ − f̂_opt, among others (see
`tf_lipschitz.toy.grid_metrics`). The run directory holds, per configuration, verified checkpoints
(a killed run resumes; finished configurations are not retrained), a CSV log and the grid values; at the top
level the gradient-norm heatmaps of Figure 1 (black 0, white ≥ 1), the learned functions, the loss curves
and the summary table (Markdown, CSV and JSON).

Choices the paper leaves open: Adam with learning rate 10⁻³ (PyTorch's default), ξ = 10⁻³ for the power
iteration (it only has to stay inside one linear piece of the ReLU network), evaluation in inference mode.

Float32 caveat: with |x| up to 4 the spacing of float32 numbers is ≈ 5·10⁻⁷, so a perturbation of ε ≈ 10⁻⁶
is resolved only to tens of percent; the library measures d_X on the perturbation actually applied, but the
quotient of an exactly 1-Lipschitz linear map still scatters to ≈ 1.6. The penalty therefore pushes ‖∇f̂‖
somewhat below 1, as it would in the paper's float32 PyTorch code. `--epsilon-scale 1000` shows the
effect of a resolvable ε.

Usage:
    python examples/toy_ring.py                              # 28 configurations × 2000 iterations
    python examples/toy_ring.py --paper                      # 2^14 iterations, as in the paper
    python examples/toy_ring.py --methods none sn alp --lambdas 1 --power-iterations 5 --batch-norm off

Reference:
    Terjék, "Adversarial Lipschitz Regularization", ICLR 2020, section 4.2.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from typing import Callable, Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from tf_lipschitz import reporting  # noqa: E402
from tf_lipschitz.architectures import toy_mlp  # noqa: E402
from tf_lipschitz.penalties import HalfNormalEpsilon, adversarial_lipschitz_penalty, gradient_penalty  # noqa: E402
from tf_lipschitz.toy import ring as toy_problems  # noqa: E402
from tf_lipschitz.training.checkpoints import RunCheckpoints  # noqa: E402

METHODS = ("none", "sn", "lp", "alp")
PAPER_ITERATIONS = 2**14
_LOG_FIELDS = ("step", "loss", "mse", "penalty", "ratio_mean", "ratio_max", "violation_fraction")
_SUMMARY_FIELDS = (
    "configuration", "method", "batch_norm", "lambda", "k", "max_grad_norm", "mean_grad_norm", "rmse_opt",
    "max_abs_error_opt", "grad_norm_mae_opt", "rmse_target", "final_mse", "seconds",
)


@dataclass(frozen=True)
class ToyConfig:
    """One trained network of the comparison.

    Attributes:
        method: "none", "sn", "lp" or "alp".
        batch_norm: Batch normalization before the ReLUs.
        penalty_weight: λ of LP/ALP (0 for none and sn).
        power_iterations: k of ALP (0 otherwise).
    """

    method: str
    batch_norm: bool
    penalty_weight: float = 0.0
    power_iterations: int = 0

    @property
    def name(self) -> str:
        """A folder-friendly name, e.g. `alp_lambda1_k5_bn`."""
        parts = [self.method]
        if self.method in ("lp", "alp"):
            parts.append(f"lambda{self.penalty_weight:g}")
        if self.method == "alp":
            parts.append(f"k{self.power_iterations}")
        if self.batch_norm:
            parts.append("bn")
        return "_".join(parts)

    @property
    def label(self) -> str:
        """A plot title, e.g. `ALP λ=1 k=5 +BN`."""
        text = {"none": "no reg.", "sn": "SN", "lp": "LP", "alp": "ALP"}[self.method]
        if self.method in ("lp", "alp"):
            text += f" λ={self.penalty_weight:g}"
        if self.method == "alp":
            text += f" k={self.power_iterations}"
        return text + (" +BN" if self.batch_norm else "")


def configurations(
    methods: Sequence[str] = METHODS,
    lambdas: Sequence[float] = (0.1, 1.0, 10.0),
    power_iterations: Sequence[int] = (0, 1, 5),
    batch_norm: str = "both",
) -> list[ToyConfig]:
    """The grid of configurations of Figure 1: every method, λ and k, without and/or with batch norm.

    Args:
        methods: Subset of `METHODS`.
        lambdas: λ values for LP and ALP.
        power_iterations: k values for ALP.
        batch_norm: "off", "on" or "both".

    Returns:
        A list of `ToyConfig`, BN-free ones first.

    Raises:
        ValueError: for an unknown method or batch_norm value.

    Example:
        >>> [c.name for c in configurations(["none", "alp"], [1.0], [5], "off")]
        ['none', 'alp_lambda1_k5']
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"`methods` must be among {METHODS}. Received: methods={list(methods)}")
    choices = {"off": (False,), "on": (True,), "both": (False, True)}
    if batch_norm not in choices:
        raise ValueError(f"`batch_norm` must be one of {tuple(choices)}. Received: batch_norm={batch_norm!r}")
    result = []
    for bn in choices[batch_norm]:
        for method in methods:
            if method in ("none", "sn"):
                result.append(ToyConfig(method, bn))
            elif method == "lp":
                result.extend(ToyConfig(method, bn, float(lam)) for lam in lambdas)
            else:
                result.extend(ToyConfig(method, bn, float(lam), int(k)) for lam in lambdas for k in power_iterations)
    return result


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options (see `--help`)."""
    parser = argparse.ArgumentParser(
        description="ALR paper section 4.2: SN, LP and ALP on the ring toy (Eqs. 24/25, Figure 1).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--run-dir", default="runs/toy_ring", help="Output folder (resumed if it exists).")
    parser.add_argument("--iterations", type=int, default=2000, help="Training iterations per configuration.")
    parser.add_argument("--paper", action="store_true", help=f"Train {PAPER_ITERATIONS} iterations (2^14).")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--lambdas", nargs="+", type=float, default=[0.1, 1.0, 10.0], help="λ of LP and ALP.")
    parser.add_argument("--power-iterations", nargs="+", type=int, default=[0, 1, 5], help="k of ALP.")
    parser.add_argument("--batch-norm", choices=("off", "on", "both"), default="both")
    parser.add_argument("--hidden-units", nargs="+", type=int, default=[20, 40, 20], help="MLP width.")
    parser.add_argument("--batch-size", type=int, default=64, help="Input-output pairs per batch.")
    parser.add_argument("--reg-batch-size", type=int, default=1024, help="Regularization inputs per batch.")
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="Adam learning rate.")
    parser.add_argument("--xi", type=float, default=1e-3, help="ALP power-iteration step ξ.")
    parser.add_argument("--epsilon-scale", type=float, default=1.0,
                        help="Multiplies the paper's P_ε (std 1e-6, offset 1e-6, clip 1e-5).")
    parser.add_argument("--grid-resolution", type=int, default=201, help="Evaluation grid points per axis.")
    parser.add_argument("--log-every", type=int, default=50, help="CSV log interval (iterations).")
    parser.add_argument("--checkpoint-every", type=int, default=500, help="Checkpoint interval (iterations).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")
    args = parser.parse_args(argv)
    if args.paper:
        args.iterations = PAPER_ITERATIONS
    for name in ("iterations", "batch_size", "reg_batch_size", "log_every", "checkpoint_every"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.grid_resolution < 2:
        parser.error(f"--grid-resolution must be >= 2, got {args.grid_resolution}")
    return args


# ------------------------------------------------------------------------------------------------ training
def _ring_target_tf(x: tf.Tensor) -> tf.Tensor:
    """Eq. (24) in TensorFlow, (n, 2) → (n, 1); the same rule as `toy_problems.ring_target`."""
    r = tf.norm(x, axis=1, keepdims=True)
    return tf.where((r >= 1.0) & (r <= 2.0), 0.0, 1.0)


def make_train_step(
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    config: ToyConfig,
    args: argparse.Namespace,
    seed_generator: keras.random.SeedGenerator,
) -> Callable[[tf.Tensor], dict]:
    """A compiled training step `step(iteration) -> logs` that draws its own batches.

    The batches come from a stateless generator keyed by (seed, iteration), so a resumed run sees the same data
    as an uninterrupted one; the ALP noise comes from `seed_generator`, whose state is checkpointed.

    Args:
        model: The MLP.
        optimizer: Its optimizer.
        config: Which regularizer to add.
        args: Parsed options (batch sizes, ξ, ε scale, seed, limit).
        seed_generator: Source of the ALP noise.

    Returns:
        A `tf.function` of an int64 iteration returning a dict of float32 scalars named as `_LOG_FIELDS`.
    """
    limit = toy_problems.RING_LIMIT
    scale = args.epsilon_scale
    epsilon = HalfNormalEpsilon(1e-6 * scale, offset=1e-6 * scale, maximum=1e-5 * scale)

    def f(t):
        return model(t, training=True)

    @tf.function
    def step(iteration):
        seeds = tf.random.experimental.stateless_split(tf.stack([tf.cast(args.seed, tf.int64), iteration]), 2)
        x = tf.random.stateless_uniform((args.batch_size, 2), seeds[0], -limit, limit)
        x_reg = tf.random.stateless_uniform((args.reg_batch_size, 2), seeds[1], -limit, limit)
        zero = tf.constant(0.0)
        with tf.GradientTape() as tape:
            mse = tf.reduce_mean(tf.square(tf.cast(f(x), tf.float32) - _ring_target_tf(x)))
            if config.method == "lp":
                result = gradient_penalty(f, x_reg, sample="real", target=1.0, one_sided=True, check_numerics=False)
            elif config.method == "alp":
                result = adversarial_lipschitz_penalty(
                    f, x_reg, K=1.0, d_x="l2", d_y="abs", xi=args.xi, epsilon=epsilon,
                    power_iterations=config.power_iterations, reduction="squared", seed=seed_generator,
                    check_numerics=False,
                )
            else:
                result = None
            penalty = zero if result is None else result.penalty
            loss = mse + config.penalty_weight * penalty
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        logs = {"loss": loss, "mse": mse, "penalty": penalty}
        for key in ("ratio_mean", "ratio_max", "violation_fraction"):
            logs[key] = zero if result is None else getattr(result, key)
        return logs

    return step


def _rewrite_log(path: str, keep_until: int) -> None:
    """Drops rows logged after the restored checkpoint, so a resumed run's log has no duplicates."""
    if not os.path.exists(path):
        return
    with open(path, newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if int(row["step"]) <= keep_until]
    reporting.write_rows(path, _LOG_FIELDS, rows)


def train_configuration(
    config: ToyConfig, args: argparse.Namespace, folder: str, grid: np.ndarray, progress: tqdm
) -> dict:
    """Trains (or resumes, or reloads) one configuration and evaluates it on the grid.

    Args:
        config: The configuration.
        args: Parsed options.
        folder: Its run sub-folder (checkpoints/, log.csv, grid.npz, metrics.json).
        grid: The (n, 2) evaluation grid.
        progress: The shared progress bar, advanced once per iteration.

    Returns:
        The summary row: the configuration, `toy_problems.grid_metrics`, the final MSE and the seconds spent.
    """
    metrics_path = os.path.join(folder, "metrics.json")
    if os.path.exists(metrics_path):
        with open(metrics_path) as handle:
            row = json.load(handle)
        if row.get("iterations") == args.iterations and row.get("grid_resolution") == args.grid_resolution:
            progress.update(args.iterations)
            return row
    os.makedirs(folder, exist_ok=True)
    keras.utils.set_random_seed(args.seed)  # the same initial weights for every configuration of one kind
    model = toy_mlp(2, args.hidden_units, 1, batch_norm=config.batch_norm, spectral_norm=config.method == "sn",
                    name=config.name)
    optimizer = keras.optimizers.Adam(args.learning_rate)
    optimizer.build(model.trainable_variables)
    seed_generator = keras.random.SeedGenerator(args.seed)
    checkpoints = RunCheckpoints(os.path.join(folder, "checkpoints"), keep=2, model=model, optimizer=optimizer,
                                 seed_state=seed_generator.state)
    start = checkpoints.restore_latest()
    log_path = os.path.join(folder, "log.csv")
    if start:
        _rewrite_log(log_path, start)
    else:
        reporting.write_rows(log_path, _LOG_FIELDS, [])
    progress.update(start)
    step = make_train_step(model, optimizer, config, args, seed_generator)
    began = time.perf_counter()
    sums: dict[str, float] = {}
    count = 0
    for iteration in range(start, args.iterations):
        logs = step(tf.constant(iteration, tf.int64))
        values = {key: float(value) for key, value in logs.items()}
        if not all(math.isfinite(v) for v in values.values()):
            bad = [k for k, v in values.items() if not math.isfinite(v)]
            raise FloatingPointError(f"{config.name}: {bad} became non-finite at iteration {iteration + 1}")
        for key, value in values.items():
            sums[key] = sums.get(key, 0.0) + value
        count += 1
        done = iteration + 1
        progress.update(1)
        if done % args.log_every == 0 or done == args.iterations:
            row = {"step": done, **{key: total / count for key, total in sums.items()}}
            reporting.write_rows(log_path, _LOG_FIELDS, [row], mode="a")
            progress.set_postfix(config=config.name, mse=f"{row['mse']:.4f}", penalty=f"{row['penalty']:.2e}")
            sums, count = {}, 0
        if done % args.checkpoint_every == 0 or done == args.iterations:
            checkpoints.save(done)
    seconds = time.perf_counter() - began
    values, norms = toy_problems.value_and_gradient_norm(lambda t: model(t, training=False), grid)
    np.savez_compressed(os.path.join(folder, "grid.npz"), values=values, gradient_norms=norms)
    final_mse = _last_logged(log_path, "mse")
    row = {
        "configuration": config.name, "label": config.label, "method": config.method,
        "batch_norm": config.batch_norm, "lambda": config.penalty_weight, "k": config.power_iterations,
        **toy_problems.grid_metrics(grid, values, norms), "final_mse": final_mse, "seconds": seconds,
        "iterations": args.iterations, "grid_resolution": args.grid_resolution,
    }
    with open(metrics_path, "w") as handle:
        json.dump(row, handle, indent=2)
    return row


def _last_logged(log_path: str, key: str) -> float:
    with open(log_path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return float(rows[-1][key]) if rows else float("nan")


# ------------------------------------------------------------------------------------------ report, plots
_TABLE_HEADERS = ("configuration", "max ‖∇f̂‖", "mean ‖∇f̂‖", "RMSE vs f̂_opt", "max \\|f̂ − f̂_opt\\|",
                  "MAE ‖∇f̂‖ vs ‖∇f̂_opt‖", "RMSE vs f", "final train MSE", "seconds")
_TABLE_KEYS = ("max_grad_norm", "mean_grad_norm", "rmse_opt", "max_abs_error_opt", "grad_norm_mae_opt",
               "rmse_target", "final_mse", "seconds")
_TABLE_FORMATS = (None, ".3f", ".3f", ".4f", ".4f", ".4f", ".4f", ".4f", ".1f")
# f̂_opt's own numbers on the grid (Eq. 25): the row every configuration is compared with.
_OPTIMUM_ROW = ("f̂_opt (Eq. 25)", 1.0, 0.295, 0.0, 0.0, 0.0, 0.1567, "—", "—")


def markdown_table(rows: Sequence[dict]) -> str:
    """The summary as a Markdown table, with f̂_opt's own numbers as the first row.

    Args:
        rows: Summary rows of `train_configuration`.

    Returns:
        The table text.

    Example:
        >>> print(markdown_table([]).splitlines()[2])  # doctest: +ELLIPSIS
        | f̂_opt (Eq. 25) | ...
    """
    cells = [_OPTIMUM_ROW] + [[row["label"], *(row[key] for key in _TABLE_KEYS)] for row in rows]
    return reporting.markdown_table(_TABLE_HEADERS, cells, formats=_TABLE_FORMATS)


def _panel_grid(n: int, ncols: int = 6):
    import matplotlib.pyplot as plt

    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.4 * ncols, 2.5 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    return fig, list(axes.flat)


def plot_heatmaps(run_dir: str, rows: Sequence[dict], grid: np.ndarray, resolution: int, which: str) -> str:
    """Figure 1: target f, then ‖∇f̂_opt‖ and ‖∇f̂‖ per configuration (`which="gradient_norms"`), or the
    functions f̂_opt and f̂ themselves (`which="values"`), in gray from black at 0 to white at 1.

    Args:
        run_dir: The run directory (reads `<configuration>/grid.npz`, writes the PNG).
        rows: Summary rows.
        grid: The evaluation grid.
        resolution: Its points per axis.
        which: "gradient_norms" or "values".

    Returns:
        The path of the PNG.
    """
    import matplotlib.pyplot as plt

    limit = toy_problems.RING_LIMIT
    panels = [("target f (Eq. 24)", toy_problems.ring_target(grid))]
    if which == "gradient_norms":
        panels.append(("‖∇f̂_opt‖", toy_problems.ring_optimal_gradient_norm(grid)))
    else:
        panels.append(("f̂_opt (Eq. 25)", toy_problems.ring_optimal(grid)))
    for row in rows:
        with np.load(os.path.join(run_dir, row["configuration"], "grid.npz")) as npz:
            panels.append((row["label"], npz[which]))
    fig, axes = _panel_grid(len(panels))
    for ax, (title, image) in zip(axes, panels):
        ax.imshow(np.reshape(image, (resolution, resolution)), cmap="gray", vmin=0.0, vmax=1.0, origin="lower",
                  extent=(-limit, limit, -limit, limit), interpolation="nearest")
        ax.set_title(title, fontsize=8)
    fig.suptitle("gradient norm ‖∇f̂‖ (black 0, white ≥ 1)" if which == "gradient_norms" else "f̂ (black 0, white 1)")
    fig.tight_layout()
    path = os.path.join(run_dir, "figure1_gradient_norms.png" if which == "gradient_norms" else "functions.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_losses(run_dir: str, rows: Sequence[dict]) -> str:
    """Training MSE and penalty against iterations for every configuration; returns the PNG path."""
    import matplotlib.pyplot as plt

    fig, (ax_mse, ax_pen) = plt.subplots(1, 2, figsize=(12, 4.5))
    for row in rows:
        with open(os.path.join(run_dir, row["configuration"], "log.csv"), newline="") as handle:
            log = list(csv.DictReader(handle))
        steps = [int(r["step"]) for r in log]
        ax_mse.plot(steps, [float(r["mse"]) for r in log], label=row["label"], lw=1)
        if row["method"] in ("lp", "alp"):
            ax_pen.plot(steps, [max(float(r["penalty"]), 1e-12) for r in log], label=row["label"], lw=1)
    ax_mse.set(xlabel="iteration", ylabel="MSE vs f (Eq. 24)", yscale="log", title="data term")
    ax_pen.set(xlabel="iteration", ylabel="penalty (before λ)", yscale="log", title="LP / ALP")
    for ax in (ax_mse, ax_pen):
        if ax.lines:
            ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    path = os.path.join(run_dir, "loss_curves.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv: Sequence[str] | None = None) -> list[dict]:
    """Runs the comparison and writes the run directory; prints and returns the summary.

    Args:
        argv: Command-line arguments (`sys.argv[1:]` when None).

    Returns:
        The summary rows, one dict per configuration (see `train_configuration`).

    Example:
        >>> rows = main(["--iterations", "20", "--methods", "alp", "--lambdas", "1",
        ...              "--power-iterations", "1", "--batch-norm", "off"])  # doctest: +SKIP
    """
    import matplotlib

    matplotlib.use("Agg")
    args = parse_args(argv)
    configs = configurations(args.methods, args.lambdas, args.power_iterations, args.batch_norm)
    os.makedirs(args.run_dir, exist_ok=True)
    with open(os.path.join(args.run_dir, "args.json"), "w") as handle:
        json.dump(vars(args), handle, indent=2)
    grid = toy_problems.evaluation_grid(args.grid_resolution)
    rows = []
    with tqdm(total=len(configs) * args.iterations, desc="toy ring", unit="it", disable=args.no_progress,
              dynamic_ncols=True, mininterval=0.5) as progress:
        for config in configs:
            rows.append(train_configuration(config, args, os.path.join(args.run_dir, config.name), grid, progress))
    plot_heatmaps(args.run_dir, rows, grid, args.grid_resolution, "gradient_norms")
    plot_heatmaps(args.run_dir, rows, grid, args.grid_resolution, "values")
    plot_losses(args.run_dir, rows)
    table = markdown_table(rows)
    title = (f"Ring toy (ALR §4.2), {args.iterations} iterations, batch {args.batch_size} + {args.reg_batch_size} "
             f"regularization inputs, {args.grid_resolution}² grid on [-4, 4]²")
    reporting.write_summary(args.run_dir, title, table, rows, _SUMMARY_FIELDS)
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
