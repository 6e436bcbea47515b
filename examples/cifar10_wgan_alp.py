"""WGAN-ALP on CIFAR-10 with the ALR paper's setup (section 5), scored by Inception Score and FID.

The setup: the WGAN-GP ResNet generator and critic (width 128), WGAN loss with the Adversarial Lipschitz Penalty
λ = 100, ξ = 10, ε ~ U[0.1, 10], one power iteration, on real and generated samples, the probe x + ξd and x̂
clipped to the data range [-1, 1] as the author's CIFAR-10 code does (`--no-clip` turns that off); n_critic = 5, critic batch
64, generator batch 128; Adam(2e-4, β = (0, 0.9)) decaying linearly to 0 over the 100k generator steps (both
optimizers reach 0 together). Every `--eval-every` steps the Inception Score and the FID of `--eval-samples`
generated images are logged (`--eval-every 0` turns them off).

Data (`--data-dir`): a prepared TFDS data directory holding `cifar10/`, an `.npz` in the `keras.datasets` layout,
or a folder of 32×32 images. Without `--data-dir`, TFDS's default directory is read (nothing is downloaded).
Classifier (`--classifier`): a local SavedModel folder, `.keras` file or the extracted TF-Hub module; the
default TF-Hub Inception needs internet and fails before training, saying so, when it cannot be loaded.

Run directory: checkpoints/, log.csv (losses, `inception_score`, `fid`), samples/step_XXXXXX.png,
metrics.png, losses.png, final.weights.npz, result.json. Rerun with the same arguments to resume.

Example:
    python examples/cifar10_wgan_alp.py --data-dir ~/tensorflow_datasets --classifier ~/tfgan_inception_1
    python examples/cifar10_wgan_alp.py --data-dir cifar10.npz --steps 20 --width 16 --eval-every 0

Reference:
    Terjék, "Adversarial Lipschitz Regularization", ICLR 2020, section 5 (Eq. 26).
    Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017 (ResNet, optimizer schedule).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

import numpy as np


def build_parser() -> argparse.ArgumentParser:
    """The example's command-line parser.

    Returns:
        An `argparse.ArgumentParser`.

    Example:
        >>> build_parser().parse_args([]).penalty_weight
        100.0
    """
    from tf_lipschitz.recipes import add_run_arguments

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", help="TFDS data dir holding cifar10/, an .npz, or an image folder")
    parser.add_argument("--limit", type=int, help="use at most this many training images")
    parser.add_argument("--width", type=int, default=128, help="channels of every ResNet block (default 128)")
    parser.add_argument("--latent-dim", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=64, help="critic batch; the generator's is twice it")
    parser.add_argument("--n-critic", type=int, default=5)
    parser.add_argument("--lr", type=float, default=2e-4, help="initial learning rate, decaying linearly to 0")
    parser.add_argument("--decay-steps", type=int, help="generator steps of the linear decay (default --steps)")
    parser.add_argument("--penalty-weight", type=float, default=100.0, help="λ (default %(default)s)")
    parser.add_argument("--xi", type=float, default=10.0, help="ξ of the ALP power iteration")
    parser.add_argument("--epsilon", type=float, nargs=2, default=(0.1, 10.0), metavar=("LOW", "HIGH"),
                        help="ε ~ U[LOW, HIGH] of the ALP")
    parser.add_argument("--no-clip", action="store_true",
                        help="do not clip the probe x + ξd and x̂ to [-1, 1] (the author's code clips both)")
    parser.add_argument("--eval-every", type=int, default=5000, help="IS/FID interval in steps; 0 disables")
    parser.add_argument("--eval-samples", type=int, default=5000, help="generated images per IS/FID evaluation")
    parser.add_argument("--classifier", help="local SavedModel/.keras/TF-Hub folder; default TF-Hub Inception")
    parser.add_argument("--grid-samples", type=int, default=64, help="images per sample grid")
    add_run_arguments(parser, steps=100_000, checkpoint_every=1000, run_dir=os.path.join("runs", "cifar10_wgan_alp"))
    return parser


def build_gan(args: argparse.Namespace, channels: int = 3):
    """The compiled WGAN-ALP of the paper's CIFAR-10 experiment, sized by `args`.

    Args:
        args: Parsed arguments.
        channels: Image channels.

    Returns:
        A compiled `WGANALP`.
    """
    from tf_lipschitz.architectures import resnet_critic, resnet_generator
    from tf_lipschitz.recipes import adam_optimizers, make_gan

    generator = resnet_generator(args.latent_dim, args.width, channels)
    critic = resnet_critic(args.width, channels)
    gan = make_gan("wgan-alp", generator, critic, latent_dim=args.latent_dim, n_critic=args.n_critic,
                   seed=args.seed, penalty_weight=args.penalty_weight,
                   penalty_kwargs={"xi": args.xi, "epsilon": tuple(args.epsilon),
                               **({} if args.no_clip else {"clip": (-1.0, 1.0), "clip_probe": True})})
    critic_opt, generator_opt = adam_optimizers(args.lr, 0.0, 0.9, decay_steps=args.decay_steps or args.steps,
                                                n_critic=args.n_critic)
    gan.compile(critic_optimizer=critic_opt, generator_optimizer=generator_opt, jit_compile=args.jit)
    return gan


def metric_callbacks(args: argparse.Namespace, images: np.ndarray) -> list:
    """IS and FID callbacks every `--eval-every` steps (none for 0), sharing one classifier loaded up front.

    Args:
        args: Parsed arguments.
        images: Real uint8 images; the first `--eval-samples` are FID's reference set.

    Returns:
        A list of callbacks.

    Raises:
        RuntimeError: when the classifier cannot be loaded (offline TF-Hub); the message says what to pass.
    """
    from tf_lipschitz.callbacks import FrechetInceptionDistance, InceptionScore
    from tf_lipschitz.evaluation import load_classifier

    if args.eval_every <= 0:
        return []
    classifier = load_classifier(args.classifier)
    every = min(args.eval_every, args.steps)
    return [
        InceptionScore(num_samples=args.eval_samples, num_splits=min(10, args.eval_samples), every_n_steps=every,
                       classifier_fn=classifier),
        FrechetInceptionDistance(images[:args.eval_samples], num_samples=args.eval_samples, every_n_steps=every,
                                 classifier_fn=classifier),
    ]


def write_plots(run_dir: str) -> list[str]:
    """losses.png (critic loss, Wasserstein estimate) and, when measured, metrics.png (IS and FID) from log.csv."""
    from tf_lipschitz.reporting import line_plot, read_csv_log

    log = read_csv_log(os.path.join(run_dir, "log.csv"))
    if not log:
        return []
    epochs = log["step"]  # log.csv is by generator step
    paths = [line_plot(os.path.join(run_dir, "losses.png"),
                       {key: (epochs, log[key]) for key in ("critic_loss", "wasserstein_estimate", "generator_loss")
                        if key in log},
                       xlabel="generator step", ylabel="value", title="WGAN-ALP training")]
    metrics = {key: (epochs, log[key]) for key in ("inception_score", "fid") if key in log}
    if metrics:
        paths.append(line_plot(os.path.join(run_dir, "metrics.png"), metrics, xlabel="generator step",
                               ylabel="score", title="IS (higher is better) and FID (lower is better)"))
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the example.

    Args:
        argv: Command-line arguments (without the program name); `sys.argv[1:]` when None.

    Returns:
        0 on success, 1 if training diverged, 2 for a data, classifier or usage error.

    Example:
        >>> main(["--data-dir", "cifar10.npz", "--steps", "10", "--width", "8", "--eval-every", "0"])  # doctest: +SKIP
    """
    from tf_lipschitz.callbacks import SampleGrid
    from tf_lipschitz.data import image_dataset
    from tf_lipschitz.recipes import load_image_data, run_training, seed_everything
    from tf_lipschitz.reporting import save_result
    from tf_lipschitz.training import TrainingDiverged

    args = build_parser().parse_args(argv)
    seed_everything(args.seed)
    try:
        images = load_image_data("cifar10", args.data_dir, limit=args.limit)
        callbacks = metric_callbacks(args, images)
        gan = build_gan(args, channels=images.shape[-1])
        dataset = image_dataset(images, args.batch_size * args.n_critic, resolution=32, seed=args.seed)
        grid = SampleGrid(min(args.checkpoint_every, args.steps),
                          os.path.join(args.run_dir, "samples", "step_{step:06d}.png"), n_samples=args.grid_samples)
        print(f"[cifar10_wgan_alp] {len(images)} images, {args.steps} steps, critic batch {args.batch_size} x "
              f"n_critic {args.n_critic}, width {args.width}, run dir {args.run_dir}", flush=True)
        trained = run_training(gan, dataset, run_dir=args.run_dir, steps=args.steps,
                               checkpoint_every=args.checkpoint_every, callbacks=[*callbacks, grid],
                               verbose=args.verbose)
    except TrainingDiverged as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except (ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    result = {"steps": trained["end_step"], "seconds": trained["seconds"]}
    for callback in callbacks:
        result.update({key: float(value) for key, value in callback.latest.items()})
    save_result(args.run_dir, result)
    write_plots(args.run_dir)
    print(f"[cifar10_wgan_alp] " + ", ".join(f"{k} {v:.4g}" for k, v in result.items()))
    print(f"done: {args.run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
