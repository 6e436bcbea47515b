"""`tf-lipschitz train`: the main job.

With no arguments it trains a WGAN-ALP on the 8-Gaussians toy (embedded, no download) in a few minutes on two
CPU cores, printing the exact W1 between generated and real samples as it goes and writing a plot of samples
and critic contours. With `--dataset mnist|fashion_mnist|cifar10|folder --data-dir PATH` it trains the
DCGAN-style nets of "How does Lipschitz regularization influence GAN training?" on real images.
`--model` picks WGAN-ALP, WGAN-GP or an SN-GAN (spectral-normalized critic, non-saturating loss).

Restarted with the same arguments, a run resumes from its newest good checkpoint in `--run-dir`.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import NamedTuple

from tf_lipschitz.distribute import STRATEGIES
from tf_lipschitz.recipes import MODELS, TOY_ALP

DATASETS = ("toy", "mnist", "fashion_mnist", "cifar10", "folder")


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Adds the `train` sub-command.

    Args:
        subparsers: The `add_subparsers()` object of the `tf-lipschitz` parser.

    Returns:
        The new sub-parser.
    """
    from tf_lipschitz.toy import TOY_DISTRIBUTIONS

    parser = subparsers.add_parser("train", help="train a Lipschitz-regularized GAN (default: 2-D WGAN-ALP)",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=DATASETS, default="toy")
    parser.add_argument("--toy", choices=[t for t in TOY_DISTRIBUTIONS if t != "two_gaussians"],
                        default="8gaussians", help="toy distribution for --dataset toy")
    parser.add_argument("--data-dir", help="an .npz (keras layout), an image folder, or a TFDS data_dir")
    parser.add_argument("--model", choices=MODELS, default="wgan-alp")
    parser.add_argument("--steps", type=int, help="generator steps (default 1000 toy, 2000 images)")
    parser.add_argument("--batch-size", type=int, help="critic batch (default 256 toy, 64 images)")
    parser.add_argument("--n-critic", type=int, default=5, help="critic updates per generator step")
    parser.add_argument("--lr", type=float, help="Adam learning rate (default 1e-4 toy, 2e-4 images)")
    parser.add_argument("--width", type=int, default=64, help="base width of the image nets")
    parser.add_argument("--checkpoint-every", type=int, default=100, help="checkpoint/log interval in steps")
    parser.add_argument("--run-dir", help="run directory (default runs/<dataset>-<model>)")
    parser.add_argument("--eval-samples", type=int, default=1000, help="samples per side of the toy's exact W1")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jit", action="store_true", help="compile the train step with XLA")
    parser.add_argument("--strategy", choices=STRATEGIES, default="auto",
                        help="tf.distribute strategy; auto: multi-worker when TF_CONFIG is set (README)")
    parser.add_argument("--verbose", type=int, default=1, help="0 silent, 1 progress bar, 2 one line per interval")
    parser.set_defaults(run=run)
    return parser


class Setup(NamedTuple):
    """Everything `run` trains: the compiled GAN, its data and callbacks, and the run's size and folder."""

    gan: object
    dataset: object
    callbacks: list
    run_dir: str
    steps: int
    batch: int
    write_dir: str  # run_dir on the chief; a temporary folder on the other workers (tf_lipschitz.distribute)


def build(args: argparse.Namespace) -> Setup:
    """Builds and compiles the GAN, dataset and callbacks that `tf-lipschitz train` would train.

    Args:
        args: Parsed `train` arguments (`build_parser().parse_args(["train", ...])`).

    Returns:
        A `Setup`.

    Raises:
        ValueError: for unusable data arguments.

    Example:
        >>> from tf_lipschitz.cli import build_parser
        >>> setup = build(build_parser().parse_args(["train", "--steps", "10"]))  # doctest: +SKIP
    """
    from tf_lipschitz import distribute
    from tf_lipschitz.recipes import adam_optimizers, seed_everything

    strategy = distribute.make_strategy(args.strategy)  # first: multi-worker set-up must precede other TF ops
    toy = args.dataset == "toy"
    steps = args.steps or (1000 if toy else 2000)
    batch = args.batch_size or (256 if toy else 64)
    run_dir = args.run_dir or os.path.join("runs", f"{args.toy if toy else args.dataset}-{args.model}")
    write_dir = distribute.worker_dir(run_dir, strategy)
    seed_everything(args.seed, deterministic=not args.jit)
    with strategy.scope():
        if toy:
            gan, dataset, callbacks = _toy_setup(args, batch, write_dir)
        else:
            gan, dataset, callbacks = _image_setup(args, batch, write_dir)
        critic_optimizer, generator_optimizer = adam_optimizers(args.lr or (1e-4 if toy else 2e-4),
                                                                beta_1=0.5 if toy else 0.0, beta_2=0.9)
        gan.compile(critic_optimizer=critic_optimizer, generator_optimizer=generator_optimizer, jit_compile=args.jit)
    return Setup(gan, distribute.shard_by_worker(dataset), callbacks, run_dir, steps, batch, write_dir)


def run(args: argparse.Namespace) -> int:
    """Runs `tf-lipschitz train` with parsed arguments.

    Args:
        args: The parsed arguments.

    Returns:
        0 on success, 1 when training diverged, 2 for a usage or data error.
    """
    from tf_lipschitz.distribute import remove_worker_dir
    from tf_lipschitz.training import TrainingDiverged, train_run

    try:
        setup = build(args)
        print(f"tf-lipschitz train: {args.model} on {args.toy if args.dataset == 'toy' else args.dataset}, "
              f"{setup.steps} steps, critic batch {setup.batch} x n_critic {args.n_critic}, run dir {setup.run_dir}")
        train_run(setup.gan, setup.dataset, run_dir=setup.write_dir, resume_from=setup.run_dir, steps=setup.steps,
                  checkpoint_every=args.checkpoint_every, callbacks=setup.callbacks, verbose=args.verbose)
        remove_worker_dir(setup.write_dir, setup.run_dir)
    except TrainingDiverged as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for callback in setup.callbacks:
        if hasattr(callback, "summary"):
            print(callback.summary())
    print(f"done: {setup.run_dir}")
    return 0


def _toy_setup(args, batch: int, run_dir: str):
    from tf_lipschitz.recipes import make_gan, toy_networks
    from tf_lipschitz.toy import ToyW1Monitor, toy_dataset

    generator, critic = toy_networks(256, 3, spectral_norm=args.model == "sn")
    gan = make_gan(args.model, generator, critic, latent_dim=2, n_critic=args.n_critic, seed=args.seed,
                   alp_kwargs=TOY_ALP)
    dataset = toy_dataset(args.toy, batch * args.n_critic, seed=args.seed)
    monitor = ToyW1Monitor(args.toy, every_n_steps=args.checkpoint_every, n=args.eval_samples,
                           plot_path=os.path.join(run_dir, "samples_and_critic.png"), seed=args.seed)
    return gan, dataset, [monitor]


def _image_setup(args, batch: int, run_dir: str):
    from tf_lipschitz.architectures import dcgan_critic, dcgan_generator
    from tf_lipschitz.callbacks import SampleGrid
    from tf_lipschitz.data import image_dataset, load_images
    from tf_lipschitz.recipes import make_gan

    if args.data_dir is None and args.dataset == "folder":
        raise ValueError("--dataset folder needs --data-dir")
    images = load_images(args.dataset, args.data_dir)
    channels = images.shape[-1]
    generator = dcgan_generator(32, 100, channels, width=args.width)
    critic = dcgan_critic(32, channels=channels, spectral_norm=args.model == "sn", width=args.width)
    gan = make_gan(args.model, generator, critic, latent_dim=100, n_critic=args.n_critic, seed=args.seed)
    dataset = image_dataset(images, batch * args.n_critic, resolution=32, seed=args.seed)
    grid = SampleGrid(every_n_steps=args.checkpoint_every, path=os.path.join(run_dir, "samples", "step_{step:06d}.png"))
    return gan, dataset, [grid]
