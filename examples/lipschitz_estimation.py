"""Bracketing the Lipschitz constant of small networks: lower bound ≤ ‖f‖_L ≤ LipSDP ≤ layer-wise bound.

For random fully connected networks (Glorot-initialized, ReLU or LeakyReLU(0.2)) of the given input dimension,
widths and depths, the table lists the three estimates of `tf_lipschitz.analysis.estimation.estimate_lipschitz`:

* lower: the largest Jacobian norm found by search from `--points` Gaussian points (a true lower bound);
* LipSDP: LipSDP-Neuron (Fazlyab et al., 2019), an upper bound, solved with cvxpy (`pip install
  "tf-lipschitz[sdp]"`);
* layer-wise: the product of the layers' spectral norms, the bound spectral normalization controls.

and the gap factors LipSDP / lower and layer-wise / LipSDP. The exact constant lies in [lower, LipSDP]; the
layer-wise product is often several times larger. For 2-D inputs a dense grid of gradient norms is added as a
check of the lower bound (`--grid`).

Example:
    python examples/lipschitz_estimation.py
    python examples/lipschitz_estimation.py --input-dim 2 --widths 16 --depths 2 --grid 401 --out table.md

Reference:
    Fazlyab, Robey, Hassani, Morari and Pappas, "Efficient and Accurate Estimation of Lipschitz Constants for
    Deep Neural Networks", NeurIPS 2019.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from typing import Sequence

import numpy as np

ACTIVATIONS = ("relu", "leaky_relu")


def build_parser() -> argparse.ArgumentParser:
    """The example's command-line parser.

    Returns:
        An `argparse.ArgumentParser`.

    Example:
        >>> build_parser().parse_args([]).widths
        [8, 32]
    """
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input-dim", type=int, default=2, help="input dimension (default %(default)s)")
    parser.add_argument("--widths", type=int, nargs="+", default=[8, 32], help="hidden widths to try")
    parser.add_argument("--depths", type=int, nargs="+", default=[1, 2, 3], help="hidden layer counts to try")
    parser.add_argument("--activations", nargs="+", choices=ACTIVATIONS, default=list(ACTIVATIONS))
    parser.add_argument("--points", type=int, default=32, help="starting points of the lower-bound search")
    parser.add_argument("--steps", type=int, default=50, help="ascent steps of the lower-bound search")
    parser.add_argument("--solver", choices=("CLARABEL", "SCS"), default="CLARABEL", help="LipSDP's SDP solver")
    parser.add_argument("--grid", type=int, default=0,
                        help="for --input-dim 2: points per axis of a gradient-norm grid on [-6, 6]² (0: none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, metavar="PATH", help="also write the table to this Markdown file")
    return parser


def random_network(input_dim: int, width: int, depth: int, activation: str, seed: int):
    """A Glorot-initialized MLP input_dim → width^depth → 1 with random biases.

    Args:
        input_dim: Input dimension.
        width: Units per hidden layer.
        depth: Hidden layers.
        activation: "relu" or "leaky_relu".
        seed: Keras seed.

    Returns:
        A built `keras.Sequential`.
    """
    import keras

    keras.utils.set_random_seed(seed)
    layers = [keras.Input((input_dim,))]
    for _ in range(depth):
        layers.append(keras.layers.Dense(width, bias_initializer="random_normal"))
        layers.append(keras.layers.ReLU() if activation == "relu" else keras.layers.LeakyReLU(0.2))
    layers.append(keras.layers.Dense(1))
    return keras.Sequential(layers)


def grid_gradient_max(model, resolution: int, limit: float = 6.0) -> float:
    """max ‖∇f‖ over a resolution × resolution grid on [-limit, limit]² (2-D inputs).

    Args:
        model: A model on 2-D inputs with scalar output.
        resolution: Points per axis.
        limit: Half-width of the square.

    Returns:
        The largest gradient norm on the grid.
    """
    import tensorflow as tf

    axis = np.linspace(-limit, limit, resolution, dtype="float32")
    points = tf.constant(np.stack(np.meshgrid(axis, axis), -1).reshape(-1, 2))
    with tf.GradientTape() as tape:
        tape.watch(points)
        y = model(points)
    return float(np.linalg.norm(tape.gradient(y, points).numpy(), axis=1).max())


def report(rows: list[dict]) -> str:
    """The Markdown table.

    Args:
        rows: One dict per network.

    Returns:
        The table as text.
    """
    grid = any("grid" in row for row in rows)
    head = "| network | lower | LipSDP | layer-wise | LipSDP / lower | layer-wise / LipSDP |" + (
        " grid max |" if grid else "")
    lines = [head, "|---" * (head.count("|") - 1) + "|"]
    for row in rows:
        line = (f"| {row['network']} | {row['lower']:.4f} | {row['lipsdp']:.4f} | {row['upper']:.4f} "
                f"| {row['lipsdp'] / row['lower']:.3f} | {row['upper'] / row['lipsdp']:.3f} |")
        lines.append(line + (f" {row['grid']:.4f} |" if grid else ""))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> list[dict]:
    """Builds the networks, estimates their Lipschitz constants, prints (and optionally writes) the table.

    Args:
        argv: Command-line arguments (default: `sys.argv[1:]`).

    Returns:
        The table's rows.
    """
    args = build_parser().parse_args(argv)
    if args.input_dim < 1 or args.points < 1 or args.steps < 0 or min(args.widths + args.depths) < 1:
        raise SystemExit("--input-dim, --points, --widths and --depths must be >= 1, --steps >= 0")
    if args.grid and args.input_dim != 2:
        raise SystemExit("--grid needs --input-dim 2")
    from tf_lipschitz.analysis.estimation import estimate_lipschitz

    x = np.random.default_rng(args.seed).normal(size=(args.points, args.input_dim)).astype("float32")
    rows = []
    for activation, width, depth in itertools.product(args.activations, args.widths, args.depths):
        model = random_network(args.input_dim, width, depth, activation, args.seed)
        result = estimate_lipschitz(model, x, "all", seed=args.seed, solver=args.solver,
                                    lower_options={"steps": args.steps})
        row = {"network": f"{args.input_dim}-{'-'.join([str(width)] * depth)}-1 {activation}", **result}
        if args.grid:
            row["grid"] = grid_gradient_max(model, args.grid)
        rows.append(row)
        print(report(rows[-1:]).splitlines()[-1], flush=True)
    text = report(rows)
    print("\n" + text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
