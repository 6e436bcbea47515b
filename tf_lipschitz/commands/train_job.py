"""`tf-lipschitz train`, the run: builds the GAN, its data and callbacks from the checked flags and trains it.

The flags, their checks, the lock and the run directory's bookkeeping are in `tf_lipschitz.commands.train`,
which imports no TensorFlow; it imports this module once the run directory is ready.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from typing import Any, Mapping, NamedTuple

from tf_lipschitz.callbacks import SampleGrid, ToyW1Monitor
from tf_lipschitz.data import image_dataset, load_images
from tf_lipschitz.foundations.files import write_atomically
from tf_lipschitz.foundations.replicas import check_jit_compile
from tf_lipschitz.recipes import TOY_ALP, adam_optimizers, image_networks, make_gan, seed_everything, toy_networks
from tf_lipschitz.toy import toy_dataset
from tf_lipschitz.training import (PROGRESS_KEYS, ApplyLearningRate, TrainingDiverged, TrainingInterrupted,
                                   format_duration, read_log, train_run)
from tf_lipschitz.training import distribute

__all__ = ["Setup", "build", "train", "summary"]

class Setup(NamedTuple):
    """Everything `run` trains: the compiled GAN, its data and callbacks, and the run's size and folder."""

    gan: object
    dataset: object
    callbacks: list
    run_dir: str
    steps: int
    batch: int
    write_dir: str  # run_dir on the chief; a temporary folder on the other workers (tf_lipschitz.training.distribute)


def build(args: argparse.Namespace, config: dict, report=print, *,
          gan_options: Mapping[str, Any] | None = None) -> Setup:
    """Builds and compiles the GAN, dataset and callbacks that `tf-lipschitz train` would train.

    Args:
        args: Parsed `train` arguments (`build_parser().parse_args(["train", ...])`).
        config: `tf_lipschitz.commands.train.settings(args)`.
        report: Called with the line that says what data was loaded.
        gan_options: More `recipes.make_gan` arguments (e.g. `penalty_kwargs`, `penalty_weight`), for studies
            that change one setting of the command's GAN; a `penalty_kwargs` here replaces the toy set-up's
            `TOY_ALP` (the toy WGAN-ALP's options).

    Returns:
        A `Setup`.

    Raises:
        ValueError: for unusable arguments or data.

    Example:
        >>> from tf_lipschitz.commands.cli import build_parser
        >>> from tf_lipschitz.commands.train import settings
        >>> args = build_parser().parse_args(["train", "--steps", "10"])
        >>> setup = build(args, settings(args))  # doctest: +SKIP
    """
    # First: multi-worker set-up must precede other TF ops.
    strategy = distribute.make_strategy(config["strategy"], connect_timeout=getattr(args, "connect_timeout", None))
    check_jit_compile(strategy, config["jit"], name="--jit")
    toy = config["dataset"] == "toy"
    write_dir = distribute.worker_dir(config["run_dir"], strategy)
    seed_everything(config["seed"], deterministic=not config["jit"])
    with strategy.scope():
        if toy:
            gan, dataset, callbacks = _toy_setup(config, write_dir, dict(gan_options or {}))
        else:
            gan, dataset, callbacks = _image_setup(config, write_dir, report, dict(gan_options or {}))
        critic_optimizer, generator_optimizer = adam_optimizers(config["lr"], beta_1=0.5 if toy else 0.0,
                                                                beta_2=0.9)
        gan.compile(critic_optimizer=critic_optimizer, generator_optimizer=generator_optimizer,
                    jit_compile=config["jit"])
    return Setup(gan, distribute.shard_by_worker(dataset), callbacks, config["run_dir"], config["steps"],
                 config["batch_size"], write_dir)



def train(args: argparse.Namespace, config: dict, *, expected_seconds: float) -> int:
    """Trains the run that `tf_lipschitz.commands.train.run` checked, then writes and prints its summary.

    Args:
        args: The parsed arguments.
        config: `tf_lipschitz.commands.train.settings(args)`, its run directory locked and prepared.
        expected_seconds: The run's expected duration (`tf_lipschitz.commands.train.expected_seconds`).

    Returns:
        0 on success, 1 when training diverged or the peers of a multi-worker run never came, 2 for a usage or
        data error, 128 + the signal's number after SIGINT/SIGTERM (the step's checkpoint is saved first).

    Raises:
        OSError: when the run directory cannot be written (the command names the file).

    Example:
        >>> from tf_lipschitz.commands.cli import build_parser
        >>> args = build_parser(["train"]).parse_args(["train", "--steps", "50"])
        >>> from tf_lipschitz.commands.train import expected_seconds, settings
        >>> config = settings(args)
        >>> train(args, config, expected_seconds=expected_seconds(config))  # doctest: +SKIP
        0
    """
    run_dir = config["run_dir"]

    what = config["toy"] if config["dataset"] == "toy" else config["dataset"]
    print(f"tf-lipschitz train: {config['model']} on {what}, {config['steps']} steps, critic batch "
          f"{config['batch_size']} x n_critic {config['n_critic']}, run dir {run_dir}")
    try:
        setup = build(args, config)
        print(f"Expected duration: about {format_duration(expected_seconds)} on two idle CPU cores "
              "(the progress shows the real pace).", flush=True)
        train_run(setup.gan, setup.dataset, run_dir=setup.write_dir, resume_from=run_dir, steps=setup.steps,
                  checkpoint_every=config["checkpoint_every"], verbose=args.verbose, interruptible=True,
                  callbacks=[ApplyLearningRate(config["lr"]), *setup.callbacks])
        distribute.remove_worker_dir(setup.write_dir, run_dir)
    except TrainingInterrupted as err:
        print(f"tf-lipschitz train: {err}", file=sys.stderr)
        return 128 + err.signal
    except TrainingDiverged as err:
        print(f"tf-lipschitz train: error: {err}", file=sys.stderr)
        return 1
    except distribute.PeersUnreachableError as err:
        print(f"tf-lipschitz train: error: {err}", file=sys.stderr)
        return 1
    except ValueError as err:
        print(f"tf-lipschitz train: error: {err}", file=sys.stderr)
        return 2
    if setup.write_dir != run_dir:  # a non-chief worker: the chief writes the run directory and its summary
        print(f"done: the chief wrote {run_dir}")
        return 0
    text = summary(config, _notes(config, setup))
    write_atomically(os.path.join(run_dir, "summary.md"), text + "\n")
    print(f"\n{text}")
    return 0



def summary(config: dict, notes: list[str]) -> str:
    """The end-of-run summary (Markdown): the figures of `log.csv` by step, the final ones, the output paths.

    Args:
        config: `tf_lipschitz.commands.train.settings(args)`.
        notes: More lines (from `_notes`).

    Returns:
        The summary text.

    Example:
        >>> print(summary(config, []))  # doctest: +SKIP
    """
    run_dir = config["run_dir"]
    rows = read_log(os.path.join(run_dir, "log.csv"))
    keys = [key for key in PROGRESS_KEYS if any(key in row and not math.isnan(row[key]) for row in rows)]
    shown = [rows[i] for i in sorted({round(k * (len(rows) - 1) / 10) for k in range(11)})] if rows else []
    what = config["toy"] if config["dataset"] == "toy" else config["dataset"]
    lines = [f"# {config['model']} on {what}, {config['steps']} steps", "",
             "| step | " + " | ".join(PROGRESS_KEYS[key] for key in keys) + " |", "|---" * (len(keys) + 1) + "|"]
    lines += ["| " + " | ".join([str(int(row["step"]))] + [_number(row.get(key)) for key in keys]) + " |"
              for row in shown]
    final = ", ".join(f"{PROGRESS_KEYS[key]} {_number(rows[-1].get(key))}" for key in keys) if rows else "no log"
    lines += ["", f"Step {int(rows[-1]['step']) if rows else '?'} (losses averaged over its interval): {final}."]
    lines += notes
    lines.append(f"Log: {os.path.join(run_dir, 'log.csv')}; weights: {os.path.join(run_dir, 'final.weights.npz')}")
    return "\n".join(lines)


def _number(value) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.4g}"


def _notes(config: dict, setup: Setup) -> list[str]:
    """The summary's lines about the toy's final exact W1 and plot, or the image job's sample grids."""
    run_dir = config["run_dir"]
    if config["dataset"] != "toy":
        folder = os.path.join(run_dir, "samples")
        grids = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
        return [f"Sample grids: {len(grids)} in {folder}, the last {os.path.join(folder, grids[-1])}"] if grids else []
    notes = []
    for callback in setup.callbacks:
        if isinstance(callback, ToyW1Monitor):
            # The value of log.csv's last row and of the plot's title: one exact W1 per step, on the same samples.
            if "w1_exact" in callback.latest:
                notes.append(f"Exact W1(generated, real) after step {callback.history['step'][-1]}: "
                             f"{callback.latest['w1_exact']:.4f}; noise floor (real vs real, {callback.n} samples) "
                             f"{callback.noise_floor:.4f}: a perfect generator scores about that.")
            notes.append(f"Plot of samples and critic contours: {callback.plot_path}")
    return notes


def _toy_setup(config: dict, write_dir: str, gan_options: dict):
    generator, critic = toy_networks(256, 3, spectral_norm=config["model"] == "sn")
    toy_penalty = {"penalty_kwargs": TOY_ALP} if config["model"] == "wgan-alp" else {}
    gan = make_gan(config["model"], generator, critic, latent_dim=2, n_critic=config["n_critic"],
                   seed=config["seed"], **{**toy_penalty, **gan_options})
    dataset = toy_dataset(config["toy"], config["batch_size"] * config["n_critic"], seed=config["seed"])
    monitor = ToyW1Monitor(config["toy"], every_n_steps=config["checkpoint_every"], n=config["eval_samples"],
                           plot_path=os.path.join(write_dir, "samples_and_critic.png"), seed=config["seed"],
                           verbose=False)
    return gan, dataset, [monitor]


def _image_setup(config: dict, write_dir: str, report, gan_options: dict):
    images = load_images(config["dataset"], config["data_dir"], report=report)
    generator, critic = image_networks(config["model"], images.shape[-1], width=config["width"])
    gan = make_gan(config["model"], generator, critic, latent_dim=100, n_critic=config["n_critic"],
                   seed=config["seed"], **gan_options)
    dataset = image_dataset(images, config["batch_size"] * config["n_critic"], resolution=32, seed=config["seed"])
    grid = SampleGrid(every_n_steps=config["checkpoint_every"],
                      path=os.path.join(write_dir, "samples", "step_{step:06d}.png"))
    return gan, dataset, [grid]
