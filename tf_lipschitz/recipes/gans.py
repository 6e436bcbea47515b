"""Recipes: the papers' presets in one place, used by `tf-lipschitz train` and the examples.

- GAN models by name (`MODELS`, `make_gan`), the 2-D toy networks and their ALP units (`toy_networks`,
  `TOY_ALP`), Adam with the papers' linear decay (`adam_optimizers`);
- the Progressive GAN + ALP setup of the ALR paper's appendix A.2 (`PROGRESSIVE_ALP`, `progressive_wgan_alp`,
  `progressive_schedule`);
- running an experiment: shared flags (`add_run_arguments`), seeding (`seed_everything`), local image data
  (`load_image_data`, `center_crop`) and a resumable run with a wall clock (`fit_schedule`, `run_training`).

Imports run one way: recipes build on `models`, `architectures`, `data` and `training` (imported inside the
functions that need them); nothing in the library imports the recipes. Reports (tables, plots, JSON) are in
`tf_lipschitz.reporting`.

Reference:
    Terjék, "Adversarial Lipschitz Regularization", ICLR 2020, section 5 and appendix A.2.
    "How does Lipschitz regularization influence GAN training?", appendix B.
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any, Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf

from tf_lipschitz.data import center_crop, load_images  # noqa: F401  (center_crop: public here too)
from tf_lipschitz.validation import check_choice, check_int

__all__ = [
    "MODELS",
    "TOY_ALP",
    "PROGRESSIVE_ALP",
    "make_gan",
    "toy_networks",
    "image_networks",
    "adam_optimizers",
    "progressive_wgan_alp",
    "progressive_schedule",
    "load_image_data",
    "center_crop",
    "add_run_arguments",
    "seed_everything",
    "fit_schedule",
    "run_training",
]

# The models compared in the ALR paper: WGAN-ALP, WGAN-GP and a spectral-normalized critic (SN-GAN).
MODELS = ("wgan-alp", "wgan-gp", "sn")
# ξ and ε are in data units: the paper's image values (ξ = 10, ε ~ U[0.1, 10]) are far too large for 2-D data.
TOY_ALP = {"xi": 1.0, "epsilon": (0.01, 0.5)}
# The ALR paper's Progressive GAN (appendix A.2, Eq. 32) as the author's fork of Karras et al.'s code runs it:
# WGAN loss + λ·(P_real + P_fake), each P the batch mean of (q − 1)₊² + (q − 1)₊ over reals (or fakes) alone
# (both_reduction="sum"), λ = 0.1, ε ~ U[0.1, 100], ξ = 10, one power iteration, K = 1, no clipping; drift 0.001;
# n_critic 1; generator batch = critic batch; generator EMA β = 0.999; Adam(β = (0, 0.99), ε = 1e-8) with
# the learning rate and minibatch by resolution of Karras et al.'s one-GPU preset ("preset-v2-1gpu", fp32):
# `progressive_schedule`.
PROGRESSIVE_ALP = {
    "gan": {"loss": "wgan", "penalty": "alp", "penalty_weight": 0.1, "regularize": "both", "both_reduction": "sum",
            "n_critic": 1, "generator_batch_multiplier": 1, "drift": 0.001, "generator_ema": 0.999},
    "penalty_kwargs": {"reduction": "squared+abs", "epsilon": (0.1, 100.0), "xi": 10.0, "power_iterations": 1,
                       "K": 1.0},
    "adam": {"learning_rate": 1e-3, "beta_1": 0.0, "beta_2": 0.99, "epsilon": 1e-8},
    # Minibatch by resolution (capped at 16/8/4 at 256/512/1024 for fp32 memory), and learning rates that differ
    # from adam["learning_rate"].
    "minibatch": {4: 128, 8: 128, 16: 128, 32: 64, 64: 32, 128: 16, 256: 8, 512: 4, 1024: 4},
    "learning_rate": {1024: 1.5e-3},
}


def progressive_schedule(resolution: int) -> tuple[int, float]:
    """(critic = generator batch, learning rate) of the Progressive GAN preset at one resolution.

    Args:
        resolution: A level's resolution, a power of 2 from 4 to 1024.

    Returns:
        (batch size, Adam learning rate) of `PROGRESSIVE_ALP`.

    Raises:
        ValueError: for a resolution outside the preset's table.

    Example:
        >>> progressive_schedule(4), progressive_schedule(256), progressive_schedule(1024)
        ((128, 0.001), (8, 0.001), (4, 0.0015))
    """
    check_choice("resolution", resolution, tuple(PROGRESSIVE_ALP["minibatch"]))
    rate = PROGRESSIVE_ALP["learning_rate"].get(resolution, PROGRESSIVE_ALP["adam"]["learning_rate"])
    return PROGRESSIVE_ALP["minibatch"][resolution], rate


def make_gan(model: str, generator: keras.Model, critic: keras.Model, *, latent_dim: int, n_critic: int = 5,
             seed: int = 0, alp_kwargs: Mapping[str, Any] | None = None, **kwargs):
    """A GAN model by name, with the papers' defaults for each.

    - "wgan-alp": `WGANALP` (λ = 100, ALP on real and generated samples; `alp_kwargs` override ξ, ε, …).
    - "wgan-gp": `WGANGP` (λ = 10 on interpolates).
    - "sn": `LipschitzGAN` with the non-saturating loss and no penalty; pass a spectral-normalized critic.

    Args:
        model: One of `MODELS`.
        generator: The generator network.
        critic: The critic network (spectral-normalized for "sn").
        latent_dim: Latent size.
        n_critic: Critic updates per generator step.
        seed: Seed of the training noise.
        alp_kwargs: `penalty_kwargs` of the ALP (ignored by the other models).
        **kwargs: More `LipschitzGAN` arguments (e.g. `generator_batch_multiplier`, `drift`).

    Returns:
        An uncompiled `tf_lipschitz.models.LipschitzGAN`.

    Raises:
        ValueError: for an unknown `model`.

    Example:
        >>> gen, critic = toy_networks(8, 1)
        >>> make_gan("wgan-gp", gen, critic, latent_dim=2).penalty
        'gp'
    """
    from tf_lipschitz.models import LipschitzGAN, WGANALP, WGANGP

    check_choice("model", model, MODELS)
    common = dict(latent_dim=latent_dim, n_critic=n_critic, seed=seed, **kwargs)
    if model == "wgan-alp":
        return WGANALP(generator, critic, penalty_kwargs=dict(alp_kwargs or {}), **common)
    if model == "wgan-gp":
        return WGANGP(generator, critic, **common)
    return LipschitzGAN(generator, critic, loss=common.pop("loss", "ns-gan"), penalty=None, **common)


def toy_networks(width: int = 256, depth: int = 3, *, spectral_norm: bool = False,
                 latent_dim: int = 2) -> tuple[keras.Model, keras.Model]:
    """The 2-D toy generator and critic of `tf-lipschitz train`: `depth` ReLU layers of `width` units each.

    Args:
        width: Units per hidden layer (256 in `tf-lipschitz train`).
        depth: Hidden layers per network.
        spectral_norm: Spectral-normalize every critic layer (the SN model).
        latent_dim: Latent size of the generator.

    Returns:
        (generator, critic): z (latent_dim) ↦ point (2); point ↦ score (1).

    Example:
        >>> gen, critic = toy_networks(8, 2)
        >>> gen.output_shape, critic.output_shape
        ((None, 2), (None, 1))
    """
    from tf_lipschitz.architectures import toy_mlp

    generator = keras.Sequential(
        [keras.Input((latent_dim,))] + [keras.layers.Dense(width, activation="relu") for _ in range(depth)]
        + [keras.layers.Dense(2)], name="toy_generator")
    critic = toy_mlp(2, (width,) * depth, 1, spectral_norm=spectral_norm, name="toy_critic")
    return generator, critic


def image_networks(model: str, channels: int, width: int = 16, *,
                   latent_dim: int = 100) -> tuple[keras.Model, keras.Model]:
    """The DCGAN 32×32 generator and critic of `tf-lipschitz train` for `model`: a plain critic for the penalized
    GANs, a spectral-normalized one for "sn" (`dcgan_critic` normalizes by default).

    Args:
        model: One of `MODELS`.
        channels: Image channels.
        width: Base width of both networks (16 in `tf-lipschitz train`).
        latent_dim: Latent size of the generator.

    Returns:
        (generator, critic): z (latent_dim) ↦ image (32, 32, channels); image ↦ score (1).

    Raises:
        ValueError: for an unknown `model`.

    Example:
        >>> gen, critic = image_networks("wgan-alp", 1, width=4)
        >>> gen.output_shape, critic.output_shape
        ((None, 32, 32, 1), (None, 1))
    """
    from tf_lipschitz.architectures import dcgan_critic, dcgan_generator

    check_choice("model", model, MODELS)
    generator = dcgan_generator(32, latent_dim, channels, width=width)
    critic = dcgan_critic(32, channels=channels, spectral_norm=model == "sn", width=width)
    return generator, critic


def adam_optimizers(learning_rate: float, beta_1: float, beta_2: float, *, decay_steps: int | None = None,
                    n_critic: int = 1, epsilon: float = 1e-7) -> tuple[keras.optimizers.Optimizer, ...]:
    """Critic and generator Adam, optionally decaying linearly to 0 over `decay_steps` generator steps.

    The critic's optimizer counts `n_critic` updates per generator step, so its schedule is stretched by
    `n_critic`: both rates reach 0 together, as in the WGAN-GP/WGAN-ALP CIFAR-10 setup.

    Args:
        learning_rate: Initial learning rate.
        beta_1: Adam β₁.
        beta_2: Adam β₂.
        decay_steps: Generator steps of the linear decay; None keeps the rate constant.
        n_critic: Critic updates per generator step.
        epsilon: Adam ε.

    Returns:
        (critic_optimizer, generator_optimizer).

    Example:
        >>> critic_opt, gen_opt = adam_optimizers(2e-4, 0.0, 0.9, decay_steps=100, n_critic=5)
        >>> round(float(critic_opt.learning_rate), 6)
        0.0002
    """
    def rate(scale: int):
        if not decay_steps:
            return learning_rate
        return keras.optimizers.schedules.PolynomialDecay(learning_rate, decay_steps * scale, 0.0, power=1.0)

    return tuple(keras.optimizers.Adam(rate(scale), beta_1=beta_1, beta_2=beta_2, epsilon=epsilon)
                 for scale in (n_critic, 1))


def progressive_wgan_alp(config, generator: keras.Model, critic: keras.Model, *, seed: int = 0,
                         learning_rate: float | None = None):
    """The compiled `LipschitzGAN` of one Progressive GAN level with the ALR paper's Eq. (32) setup.

    λ = 0.1 multiplies the sum of the penalty's means over the real and the generated batch
    (`both_reduction="sum"`), as in Eq. (32) and the author's code.

    Args:
        config: The `tf_lipschitz.architectures.ProgressiveGAN` (gives `latent_dim`).
        generator: The level's generator.
        critic: The level's critic.
        seed: Seed of the training noise.
        learning_rate: Adam's rate; None: `PROGRESSIVE_ALP["adam"]`'s 1e-3 (see `progressive_schedule` for
            the rate by resolution).

    Returns:
        A `LipschitzGAN` with `PROGRESSIVE_ALP` and fresh Adam optimizers, compiled.

    Example:
        >>> from tf_lipschitz.architectures import progressive_gan
        >>> config = progressive_gan(8, fmap_base=16, fmap_max=8)
        >>> gan = progressive_wgan_alp(config, config.generator(0), config.critic(0))
        >>> gan.penalty, gan.penalty_weight, gan.both_reduction, gan.generator_ema, gan.n_critic
        ('alp', 0.1, 'sum', 0.999, 1)

    Reference:
        Terjék, "Adversarial Lipschitz Regularization", ICLR 2020, appendix A.2, Eq. (32).
    """
    from tf_lipschitz.models import LipschitzGAN

    gan = LipschitzGAN(generator, critic, latent_dim=config.latent_dim, seed=seed,
                       penalty_kwargs=dict(PROGRESSIVE_ALP["penalty_kwargs"]), **PROGRESSIVE_ALP["gan"])
    adam = dict(PROGRESSIVE_ALP["adam"])
    if learning_rate is not None:
        adam["learning_rate"] = learning_rate
    gan.compile(critic_optimizer=keras.optimizers.Adam(**adam), generator_optimizer=keras.optimizers.Adam(**adam))
    return gan


def load_image_data(dataset: str, data_dir: str | None = None, *, limit: int | None = None,
                    split: str = "train") -> np.ndarray:
    """Local images for an example: `tf_lipschitz.data.load_images` (the one image loader), kept under this name.

    Args:
        dataset: TFDS name ("mnist", "cifar10", "celeb_a") or "folder".
        data_dir: `.npz`, TFDS data directory or image folder; None: TFDS's default directory.
        limit: Keep at most this many images.
        split: "train" or "test".

    Returns:
        Square images (non-square ones center-cropped): uint8 (N, S, S, C), or float32 in [-1, 1] for float data.

    Raises:
        ValueError: when the data cannot be found or is not usable (the message says why).

    Example:
        >>> images = load_image_data("cifar10", "cifar10.npz", limit=1000)  # doctest: +SKIP
    """
    return load_images(dataset, data_dir, split=split, limit=limit)


def add_run_arguments(parser: argparse.ArgumentParser, *, steps: int | None, checkpoint_every: int,
                      run_dir: str) -> None:
    """Adds the flags every example shares: --steps, --checkpoint-every, --run-dir, --seed, --jit, --verbose.

    Args:
        parser: The example's parser.
        steps: Default number of generator steps; None: no --steps flag (the example schedules its own).
        checkpoint_every: Default checkpoint/log interval.
        run_dir: Default run directory.

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> add_run_arguments(parser, steps=10, checkpoint_every=5, run_dir="runs/x")
        >>> parser.parse_args([]).steps
        10
    """
    if steps is not None:
        parser.add_argument("--steps", type=int, default=steps, help="generator steps (default %(default)s)")
    parser.add_argument("--checkpoint-every", type=int, default=checkpoint_every,
                        help="checkpoint, CSV-log and sample-grid interval in steps (default %(default)s)")
    parser.add_argument("--run-dir", default=run_dir, help="run directory; rerun to resume (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jit", action="store_true", help="XLA-compile the training step")
    parser.add_argument("--verbose", type=int, default=1, help="0 silent, 1 progress bar, 2 one line per interval")


def seed_everything(seed: int, *, deterministic: bool = True) -> None:
    """Seeds Python, NumPy and Keras and, with `deterministic`, makes TensorFlow's kernels deterministic.

    Resumable runs need determinism to repeat an uninterrupted run bit for bit. Keras turns `jit_compile`
    off while op determinism is on, so XLA runs pass `deterministic=False` (XLA on CPU is itself repeatable).

    Example:
        >>> seed_everything(0)
    """
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def fit_schedule(steps: int, checkpoint_every: int) -> tuple[int, int]:
    """`steps` rounded up to a multiple of the interval, which is capped at `steps` (what `train_run` needs).

    Example:
        >>> fit_schedule(7, 5), fit_schedule(3, 100)
        ((10, 5), (3, 3))
    """
    steps, checkpoint_every = check_int("steps", steps), check_int("checkpoint_every", checkpoint_every)
    every = min(checkpoint_every, steps)
    return every * math.ceil(steps / every), every


def run_training(model: keras.Model, dataset: tf.data.Dataset, *, run_dir: str, steps: int, checkpoint_every: int,
                 callbacks: Sequence[keras.callbacks.Callback] = (), verbose: int = 1) -> dict:
    """`tf_lipschitz.training.train_run` with `fit_schedule` and a wall clock.

    Args:
        model: A compiled GAN.
        dataset: Endless deterministic dataset (elements of n_critic × critic batch samples).
        run_dir: Run directory (resumed when it holds checkpoints).
        steps: Generator steps.
        checkpoint_every: Checkpoint interval.
        callbacks: More callbacks (put before the CSV log by `train_run`).
        verbose: `fit` verbosity.

    Returns:
        `train_run`'s dict plus "seconds" (wall clock of this call).

    Raises:
        TrainingDiverged: see `train_run`.

    Example:
        >>> result = run_training(gan, dataset, run_dir="runs/x", steps=100, checkpoint_every=50)  # doctest: +SKIP
    """
    from tf_lipschitz.training import train_run

    steps, every = fit_schedule(steps, checkpoint_every)
    start = time.perf_counter()
    result = train_run(model, dataset, run_dir=run_dir, steps=steps, checkpoint_every=every,
                       callbacks=callbacks, verbose=verbose)
    return {**result, "seconds": time.perf_counter() - start}
