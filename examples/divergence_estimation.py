"""KL, the Lipschitz-regularized KL D_λ and mutual information estimated by critics, against closed forms.

Two Gaussian cases, each trained with `fit` and then evaluated on `--eval-samples` fresh samples:

* µ = N(m, 1), ν = N(0, 1): D(µ‖ν) = m²/2 (Donsker–Varadhan, `DivergenceEstimator`), and
  D_λ(µ‖ν) = λ|m| − λ²/2 for λ ≤ |m| (m²/2 above) with a λ-Lipschitz critic (ALP at K = λ).
* (X, Y) with correlation ρ in each of d dimensions: I(X; Y) = −(d/2)·log(1 − ρ²) (MINE,
  `MutualInformationEstimator`), and the same with λ-Lipschitz critics, which must stay below I and rise with λ
  (no closed form there: the log density ratio is quadratic, not Lipschitz).

Prints a Markdown table (estimate, closed form, relative error) and writes it to `--output` if given.

Example:
    python examples/divergence_estimation.py                       # defaults: m = 2, ρ = 0.75, d = 2
    python examples/divergence_estimation.py --steps 50 --lams 1   # a quick look

Reference:
    Belghazi et al., "Mutual Information Neural Estimation", ICML 2018.
    Ozair et al., "Wasserstein Dependency Measure for Representation Learning", NeurIPS 2019.
    Terjék, "Moreau-Yosida f-divergences", ICML 2021.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence


def build_parser() -> argparse.ArgumentParser:
    """The example's command-line parser.

    Returns:
        An `argparse.ArgumentParser`.

    Example:
        >>> build_parser().parse_args([]).lams
        [0.5, 1.0, 1.5]
    """
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--m", type=float, default=2.0, help="mean of µ = N(m, 1) (default %(default)s)")
    parser.add_argument("--rho", type=float, default=0.75, help="correlation per dimension (default %(default)s)")
    parser.add_argument("--dims", type=int, default=2, help="dimensions d of X and of Y (default %(default)s)")
    parser.add_argument("--lams", type=float, nargs="+", default=[0.5, 1.0, 1.5], help="Lipschitz bounds λ")
    parser.add_argument("--steps", type=int, default=300, help="Adam steps per estimator (default %(default)s)")
    parser.add_argument("--batch-size", type=int, default=512, help="samples per batch (default %(default)s)")
    parser.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate (default %(default)s)")
    parser.add_argument("--width", type=int, default=64, help="units of the critic's 2 hidden layers")
    parser.add_argument("--penalty-weight", type=float, default=100.0, help="weight of ALP at K = λ")
    parser.add_argument("--bias-correction", type=float, default=None,
                        help="MINE's moving-average decay for the gradient (e.g. 0.99; default off)")
    parser.add_argument("--eval-samples", type=int, default=200_000, help="fresh samples for the final estimate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=None, help="also write the table to this Markdown file")
    return parser


def _critic(inputs: int, width: int):
    import keras

    return keras.Sequential([keras.Input((inputs,)), keras.layers.Dense(width, activation="relu"),
                             keras.layers.Dense(width, activation="relu"), keras.layers.Dense(1)])


def _fit(estimator, samples, args) -> None:
    import keras
    import tensorflow as tf

    estimator.compile(keras.optimizers.Adam(args.lr))
    estimator.fit(tf.data.Dataset.from_tensor_slices(samples).batch(args.batch_size), epochs=1, verbose=0)


def run(args: argparse.Namespace) -> list[dict]:
    """Trains every estimator and returns the table rows.

    Args:
        args: Parsed arguments.

    Returns:
        Rows {"quantity", "estimate", "closed_form" (None if unknown)}.
    """
    import keras
    import numpy as np

    from tf_lipschitz import divergences as dv
    from tf_lipschitz.models import DivergenceEstimator, MutualInformationEstimator

    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    n = args.steps * args.batch_size

    def gaussians(count):
        return (rng.normal(args.m, 1.0, (count, 1)).astype("float32"),
                rng.normal(0.0, 1.0, (count, 1)).astype("float32"))

    def correlated(count):
        x = rng.normal(size=(count, args.dims))
        y = args.rho * x + np.sqrt(1.0 - args.rho**2) * rng.normal(size=(count, args.dims))
        return x.astype("float32"), y.astype("float32")

    options = {"penalty_weight": args.penalty_weight, "bias_correction": args.bias_correction, "seed": args.seed}
    rows = []
    for lam in [None] + list(args.lams):
        estimator = DivergenceEstimator(_critic(1, args.width), lam=lam, **options)
        _fit(estimator, gaussians(n), args)
        exact = dv.gaussian_kl(args.m) if lam is None else dv.gaussian_lipschitz_kl(args.m, lam)
        name = f"KL(N({args.m:g},1) ‖ N(0,1))" if lam is None else f"D_λ, λ = {lam:g}"
        rows.append({"quantity": name, "estimate": estimator.estimate(*gaussians(args.eval_samples)),
                     "closed_form": exact})
    mutual_information = dv.gaussian_mutual_information(args.rho, args.dims)
    for lam in [None] + list(args.lams):
        estimator = MutualInformationEstimator(_critic(2 * args.dims, args.width), lam=lam, **options)
        _fit(estimator, correlated(n), args)
        name = f"I(X;Y), ρ = {args.rho:g}, d = {args.dims}" if lam is None else f"I_λ (Lipschitz MINE), λ = {lam:g}"
        rows.append({"quantity": name, "estimate": estimator.estimate(*correlated(args.eval_samples)),
                     "closed_form": mutual_information if lam is None else None})
    return rows


def table(rows: Sequence[dict], mutual_information: float) -> str:
    """The rows as a Markdown table.

    Args:
        rows: From `run`.
        mutual_information: The exact I(X; Y), the bound of the Lipschitz MINE rows.

    Returns:
        The table text.

    Example:
        >>> print(table([{"quantity": "KL", "estimate": 2.1, "closed_form": 2.0}], 1.0).splitlines()[2])
        | KL | 2.1000 | 2.0000 | +5.0 % |
    """
    lines = ["| quantity | estimate | closed form | error |", "|---|---|---|---|"]
    for row in rows:
        if row["closed_form"] is None:
            lines.append(f"| {row['quantity']} | {row['estimate']:.4f} | ≤ {mutual_information:.4f} | — |")
        else:
            error = 100.0 * (row["estimate"] / row["closed_form"] - 1.0)
            lines.append(f"| {row['quantity']} | {row['estimate']:.4f} | {row['closed_form']:.4f} | {error:+.1f} % |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> list[dict]:
    """Runs the example.

    Args:
        argv: Command-line arguments (default: sys.argv[1:]).

    Returns:
        The table rows.
    """
    args = build_parser().parse_args(argv)
    from tf_lipschitz.divergences import gaussian_mutual_information

    rows = run(args)
    text = table(rows, gaussian_mutual_information(args.rho, args.dims))
    print(text)
    if args.output:
        with open(args.output, "w") as handle:
            handle.write(text + "\n")
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
