"""The unconstrained Wasserstein GAN on a 2-D toy (8 Gaussians by default), scored by the exact W1.

The critic has no Lipschitz constraint; it maximizes E_real f − E_fake f − (α − 1)·α^{α/(1−α)}·‖f‖_L^{α/(α−1)},
whose maximum is W^α, with ‖f‖_L the max of ALP's adversarial ratios (`tf_lipschitz.penalties.unconstrained`).
The GAN is a `LipschitzGAN` with the WGAN loss and `penalty="unconstrained"` (weight 1, `penalty_kwargs={"alpha":
α}`): `--n-critic` critic updates of `--batch-size` real and generated points per generator update.

First, a check against the closed form (skip with `--check-steps 0`): the critic alone on N((3, 0), I) vs
N(0, I), where W = 3, so the objective's maximum is W^α and the optimal ‖f‖_L is α·W^{α−1} (9 and 6 for α = 2);
‖f‖_L is measured independently of ALP, as the max input-gradient norm on samples and a grid.

Every `--log-every` generator steps it prints the exact W1 between `--eval-samples` generated and real points
(optimal assignment, `tf_lipschitz.toy.exact_w1`; its noise floor, real vs real, is printed first) beside the
critic's estimates (objective)^{1/α} and (E_real f − E_fake f) / L, both → W as the critic converges;
`--plot` saves samples and critic contours.

Example:
    python examples/unconstrained_wgan.py                               # 8 Gaussians, α = 2
    python examples/unconstrained_wgan.py --steps 20 --log-every 10     # a quick look

Reference:
    The "Lipschitz continuity" slides: unconstrained Wasserstein GAN.
    Terjék, "Adversarial Lipschitz Regularization", ICLR 2020 (the adversarial ratio).
    Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017 (the toy distributions).
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

TOYS = ("8gaussians", "25gaussians", "swissroll")


def build_parser() -> argparse.ArgumentParser:
    """The example's command-line parser.

    Returns:
        An `argparse.ArgumentParser`.

    Example:
        >>> build_parser().parse_args([]).alpha
        2.0
    """
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--toy", choices=TOYS, default="8gaussians")
    parser.add_argument("--alpha", type=float, default=2.0, help="α > 1 (default %(default)s)")
    parser.add_argument("--statistic", choices=("max", "mean"), default="max", help="statistic of the ratios")
    parser.add_argument("--steps", type=int, default=500, help="generator steps (default %(default)s)")
    parser.add_argument("--n-critic", type=int, default=5, help="critic steps per generator step")
    parser.add_argument("--batch-size", type=int, default=256, help="(default %(default)s)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate of both (default %(default)s)")
    parser.add_argument("--width", type=int, default=128, help="units of the 2 hidden layers of each network")
    parser.add_argument("--eval-samples", type=int, default=1000, help="points per side of the exact W1")
    parser.add_argument("--log-every", type=int, default=100, help="generator steps between evaluations")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", default=None, help="save samples and critic contours to this PNG")
    parser.add_argument("--check-steps", type=int, default=400,
                        help="steps of the two-Gaussian closed-form check; 0 skips it (default %(default)s)")
    return parser


def _mlp(inputs: int, outputs: int, width: int):
    import keras

    return keras.Sequential([keras.Input((inputs,)), keras.layers.Dense(width, activation="relu"),
                             keras.layers.Dense(width, activation="relu"), keras.layers.Dense(outputs)])


def two_gaussian_check(args: argparse.Namespace) -> dict:
    """Trains the critic alone on N((3, 0), I) vs N(0, I) and compares it with the closed forms.

    Args:
        args: Parsed arguments (alpha, statistic, seed, check_steps, batch_size).

    Returns:
        {"objective", "objective_exact", "lipschitz", "lipschitz_exact"}: the objective with ‖f‖_L measured as
        the max input-gradient norm (samples and a grid), against W^α and α·W^{α−1} with W = 3.
    """
    import keras
    import numpy as np
    import tensorflow as tf

    from tf_lipschitz import analysis

    from tf_lipschitz.models import UnconstrainedWassersteinCritic
    from tf_lipschitz.penalties.unconstrained import unconstrained_wgan_regularizer

    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    def mu(n):
        return (rng.normal(size=(n, 2)) + [3.0, 0.0]).astype("float32")

    def nu(n):
        return rng.normal(size=(n, 2)).astype("float32")

    critic = _mlp(2, 1, 64)
    model = UnconstrainedWassersteinCritic(critic, alpha=args.alpha, statistic=args.statistic, seed=args.seed)
    model.compile(keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-2, args.check_steps, alpha=0.01)))
    batch = 512
    model.fit(tf.data.Dataset.from_tensor_slices((mu(args.check_steps * batch), nu(args.check_steps * batch)))
              .batch(batch), epochs=1, verbose=0)
    a, b = mu(100_000), nu(100_000)
    axis = np.linspace(-3.0, 6.0, 61)
    grid = np.stack(np.meshgrid(axis, axis - 1.5), -1).reshape(-1, 2).astype("float32")
    lipschitz = max(analysis.empirical_lipschitz(critic, np.concatenate([a[:2000], b[:2000]])),
                    analysis.empirical_lipschitz(critic, grid))
    difference = float(np.mean(critic.predict(a, batch_size=10_000, verbose=0))
                       - np.mean(critic.predict(b, batch_size=10_000, verbose=0)))
    result = {"objective": difference - float(unconstrained_wgan_regularizer(lipschitz, args.alpha)),
              "objective_exact": 3.0**args.alpha, "lipschitz": lipschitz,
              "lipschitz_exact": args.alpha * 3.0 ** (args.alpha - 1.0)}
    print("| N((3,0),I) vs N(0,I) | estimate | closed form |\n|---|---|---|\n"
          "| objective (→ W^α) | {objective:.4f} | {objective_exact:.4f} |\n"
          "| ‖f‖_L (max gradient norm) | {lipschitz:.4f} | {lipschitz_exact:.4f} |".format(**result), flush=True)
    return result


def train(args: argparse.Namespace) -> list[dict]:
    """Trains the GAN and returns one row per evaluation.

    Args:
        args: Parsed arguments.

    Returns:
        Rows {"step", "w1_exact", "noise_floor", "w_from_objective", "w_from_ratio", "lipschitz_estimate"}; the
        critic's figures are the means over the generator steps since the previous row.
    """
    import keras
    import numpy as np

    from tf_lipschitz.toy import exact_w1, toy_samples
    from tf_lipschitz.models import LipschitzGAN

    keras.utils.set_random_seed(args.seed)
    generator, critic = _mlp(2, 2, args.width), _mlp(2, 1, args.width)
    gan = LipschitzGAN(generator, critic, latent_dim=2, loss="wgan", penalty="unconstrained",
                       penalty_kwargs={"alpha": args.alpha, "statistic": args.statistic}, n_critic=args.n_critic,
                       generator_batch_multiplier=1, data_range=None, seed=args.seed)
    gan.compile(critic_optimizer=keras.optimizers.Adam(args.lr, beta_1=0.5, beta_2=0.9),
                generator_optimizer=keras.optimizers.Adam(args.lr, beta_1=0.5, beta_2=0.9))
    rng = np.random.default_rng(args.seed)
    ratio = "ratio_max" if args.statistic == "max" else "ratio_mean"  # the statistic the penalty uses as ‖f‖_L

    floor = exact_w1(toy_samples(args.toy, args.eval_samples, seed=args.seed + 1),
                     toy_samples(args.toy, args.eval_samples, seed=args.seed + 2))
    print(f"noise floor: exact W1 between two real samples of {args.eval_samples} points: {floor:.4f}")
    rows, step = [], 0
    while step < args.steps:
        steps = min(args.log_every - step % args.log_every, args.steps - step)
        real = toy_samples(args.toy, steps * args.n_critic * args.batch_size, seed=int(rng.integers(2**31)))
        logs = gan.fit(real, batch_size=args.batch_size, epochs=1, shuffle=False, verbose=0).history
        step += steps
        real = toy_samples(args.toy, args.eval_samples, seed=int(rng.integers(2**31)))
        fake = gan.generate(args.eval_samples, seed=int(rng.integers(2**31)))
        lipschitz = logs[ratio][-1]
        rows.append({
            "step": step,
            "w1_exact": exact_w1(real, fake),
            "noise_floor": floor,
            "w_from_objective": max(-logs["critic_loss"][-1], 0.0) ** (1.0 / args.alpha),
            "w_from_ratio": logs["wasserstein_estimate"][-1] / max(lipschitz, 1e-12),
            "lipschitz_estimate": lipschitz,
        })
        print("step {step}: exact W1 {w1_exact:.4f}, critic (objective)^(1/α) {w_from_objective:.4f}, "
              "difference / L {w_from_ratio:.4f}, L {lipschitz_estimate:.3f}".format(**rows[-1]), flush=True)
    if args.plot:
        _plot(args, generator, critic)
    return rows


def _plot(args: argparse.Namespace, generator, critic) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from tf_lipschitz.toy import toy_samples

    real = toy_samples(args.toy, 1000, seed=args.seed)
    fake = generator.predict(np.random.default_rng(args.seed).normal(size=(1000, 2)).astype("float32"), verbose=0)
    axis = np.linspace(-2.5, 2.5, 81)
    grid = np.stack(np.meshgrid(axis, axis), -1).reshape(-1, 2).astype("float32")
    values = critic.predict(grid, verbose=0).reshape(81, 81)
    figure, ax = plt.subplots(figsize=(5, 5))
    ax.contourf(axis, axis, values, levels=20, cmap="viridis", alpha=0.6)
    ax.scatter(real[:, 0], real[:, 1], s=2, c="k", label="real")
    ax.scatter(fake[:, 0], fake[:, 1], s=2, c="r", label="generated")
    ax.legend(loc="upper right")
    ax.set_title(f"unconstrained WGAN, α = {args.alpha:g}")
    figure.savefig(args.plot, dpi=100)
    plt.close(figure)


def main(argv: Sequence[str] | None = None) -> list[dict]:
    """Runs the example.

    Args:
        argv: Command-line arguments (default: sys.argv[1:]).

    Returns:
        The evaluation rows of `train`.
    """
    args = build_parser().parse_args(argv)
    if args.check_steps > 0:
        two_gaussian_check(args)
    return train(args)


if __name__ == "__main__":
    main(sys.argv[1:])
