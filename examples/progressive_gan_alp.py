"""Progressive GAN with the Adversarial Lipschitz Penalty (ALR paper, appendix A.2) on any image folder.

The ALP of Eq. (32) on Progressive GAN networks (equalized learning rate, pixel norm, minibatch stddev), as the
author's fork of Karras et al.'s code trains them (`tf_lipschitz.recipes.PROGRESSIVE_ALP`): WGAN loss +
λ·(P_real + P_fake) with λ = 0.1, each P the batch mean of (q − 1)₊² + (q − 1)₊ over the real (or generated)
batch alone (separate passes, so that minibatch stddev sees the same batch in f(x) and f(x̂)), ε ~ U[0.1, 100],
ξ = 10, k = 1 power iteration, K = 1, no clipping; drift 0.001; n_critic = 1; generator batch = critic batch;
a generator EMA with β = 0.999; Adam(β = (0, 0.99), ε = 1e-8) with the minibatch and learning rate by
resolution of Karras et al.'s one-GPU preset (`recipes.progressive_schedule`: 128 images up to 16×16, then 64,
32, 16, 8, 4, 4; rate 1e-3, 1.5e-3 at 1024×1024). Training grows from 4×4 to `--max-resolution`: level 0
stabilizes for `--training-images` real images; every later level fades in its new blocks over
`--transition-images` (α from 0 to 1, `ProgressiveGAN.phase`) and then stabilizes for `--training-images`.
Each level starts with fresh optimizers and the previous level's weights (`ProgressiveGAN.grow`).

Not the fork's set-up, still: the fork averages one network across all levels, here the EMA of each level
starts from the previous level's (new blocks from their fresh weights); no mirror augmentation; no auxiliary classifier (AC-GAN) terms;
the fork's `minibatch_repeats` and its per-tick bookkeeping are not reproduced; and the networks are ours
(`tf_lipschitz.architectures.progressive_gan`), not a port of the fork's. `--batch-size` / `--learning-rate`
override the schedule for small runs.

Data (`--data-dir`): a folder of images (any size, center-cropped to a square and resized per level) or an `.npz`.
For CelebA-HQ use `--max-resolution 1024`; `--max-resolution 8` and small `--fmap-*` run on a CPU in seconds.

Run directory:
    level<L>-<R>x<R>/     one `train_run` directory per level: checkpoints/, log.csv (with `fade_in_alpha`),
                          final.weights.npz, result.json
    samples/<R>x<R>_step_XXXXXX.png   sample grids from fixed noise (live generator)
    samples/<R>x<R>_ema.png           the level's final grid from the generator EMA
    training.png          critic loss, Wasserstein estimate and fade-in α over all levels
Rerun with the same arguments to resume; finished levels are loaded, not retrained.

Example:
    python examples/progressive_gan_alp.py --data-dir celeba_hq/ --max-resolution 1024
    python examples/progressive_gan_alp.py --data-dir faces/ --max-resolution 16 --fmap-base 256 --fmap-max 64 \\
        --training-images 20000 --transition-images 20000

Reference:
    Terjék, "Adversarial Lipschitz Regularization", ICLR 2020, appendix A.2, Eq. (32).
    Karras et al., "Progressive Growing of GANs for Improved Quality, Stability, and Variation", ICLR 2018.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from typing import Sequence

import keras
import numpy as np


def build_parser() -> argparse.ArgumentParser:
    """The example's command-line parser.

    Returns:
        An `argparse.ArgumentParser`.

    Example:
        >>> build_parser().parse_args(["--data-dir", "faces"]).max_resolution
        1024
    """
    from tf_lipschitz.recipes import add_run_arguments

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True, help="an image folder or an .npz")
    parser.add_argument("--limit", type=int, help="use at most this many images")
    parser.add_argument("--max-resolution", type=int, default=1024, help="final resolution, a power of 2 >= 4")
    parser.add_argument("--fmap-base", type=int, default=8192, help="width schedule (the paper's 8192)")
    parser.add_argument("--fmap-max", type=int, default=512, help="maximum channels (the paper's 512)")
    parser.add_argument("--latent-dim", type=int, help="latent size (default: the top feature-map count, 512)")
    parser.add_argument("--group-size", type=int, default=4, help="minibatch-stddev group size")
    parser.add_argument("--batch-size", type=int,
                        help="critic and generator batch (default: by resolution, recipes.progressive_schedule)")
    parser.add_argument("--learning-rate", type=float,
                        help="Adam learning rate (default: by resolution, recipes.progressive_schedule)")
    parser.add_argument("--training-images", type=int, default=600_000, help="real images per stabilization")
    parser.add_argument("--transition-images", type=int, default=600_000, help="real images per fade-in")
    parser.add_argument("--grid-samples", type=int, default=16, help="images per sample grid")
    add_run_arguments(parser, steps=None, checkpoint_every=1000, run_dir=os.path.join("runs", "progressive_gan_alp"))
    return parser


class FadeInSchedule(keras.callbacks.Callback):
    """Sets the fade-in α of a level's networks before every batch from the images seen (`ProgressiveGAN.phase`).

    Args:
        config: The `ProgressiveGAN`.
        level: The level being trained.
        first_image: Real images seen before this level started.
        batch_size: Real images per step.

    Example:
        >>> schedule = FadeInSchedule(progressive_gan(8), level=1, first_image=600_000, batch_size=16)  # doctest: +SKIP
    """

    def __init__(self, config, level: int, first_image: int, batch_size: int):
        super().__init__()
        self.config, self.level, self.first_image, self.batch_size = config, level, first_image, batch_size
        self.alpha = 1.0
        self._step = 0

    def on_train_begin(self, logs=None):
        self._step = int(self.model.step_counter.numpy())  # a resumed level continues its fade-in

    def on_train_batch_begin(self, batch, logs=None):
        from tf_lipschitz.architectures import set_fade_in

        level, alpha = self.config.phase(self.first_image + self._step * self.batch_size)
        self.alpha = alpha if level == self.level else 1.0
        set_fade_in(self.model, self.alpha)
        self._step += 1

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["fade_in_alpha"] = self.alpha


def level_plan(config, batch_size: int | None = None) -> list[tuple[int, int, int, int]]:
    """(level, first real image, generator steps, batch size) of every level of the schedule.

    Args:
        config: The `ProgressiveGAN`.
        batch_size: One batch size for all levels; None: `recipes.progressive_schedule` by resolution.

    Example:
        >>> from tf_lipschitz.architectures import progressive_gan
        >>> level_plan(progressive_gan(16, training_images=8, transition_images=4), 4)
        [(0, 0, 2, 4), (1, 8, 3, 4), (2, 20, 3, 4)]
        >>> level_plan(progressive_gan(64, training_images=256, transition_images=256))[-1]
        (4, 1792, 16, 32)
    """
    from tf_lipschitz.recipes import progressive_schedule

    plan, first = [], 0
    for level in range(config.num_levels):
        batch = batch_size or progressive_schedule(config.resolutions[level])[0]
        images = config.training_images + (config.transition_images if level else 0)
        plan.append((level, first, max(1, math.ceil(images / batch)), batch))
        first += images
    return plan


def write_plot(args: argparse.Namespace, config, plan) -> str:
    """training.png: critic loss, Wasserstein estimate and α against the generator step over all levels."""
    from tf_lipschitz.recipes import fit_schedule
    from tf_lipschitz.reporting import line_plot, read_csv_log

    series: dict[str, tuple[list, list]] = {}
    offset = 0
    for level, _, steps, _ in plan:
        log = read_csv_log(os.path.join(args.run_dir, level_name(config, level), "log.csv"))
        steps, _ = fit_schedule(steps, args.checkpoint_every)
        for key in ("critic_loss", "wasserstein_estimate", "fade_in_alpha"):
            if key in log:
                xs, ys = series.setdefault(key, ([], []))
                xs.extend(offset + log["step"])
                ys.extend(log[key])
        offset += steps
    return line_plot(os.path.join(args.run_dir, "training.png"), series, xlabel="generator step (all levels)",
                     ylabel="value", title=f"Progressive WGAN-ALP up to {config.resolution}x{config.resolution}")


def carry_generator_ema(config, level: int, previous, gan) -> None:
    """Starts the generator EMA of `gan` (level L + 1) from that of `previous` (level L).

    Blocks that level L had take their averaged weights; the new blocks start from the live (fresh) ones, as
    `ProgressiveGAN.grow` does for the live generator.
    """
    from tf_lipschitz.architectures import transfer_weights

    averaged = config.generator(level, alpha=0.0)
    averaged.set_weights(gan.generator.get_weights())
    with previous.ema_weights():
        transfer_weights(previous.generator, averaged)
    for average, value in zip(gan.ema_variables, averaged.trainable_variables):
        average.assign(value)


def save_image(path: str, grid: np.ndarray) -> str:
    """Writes an `image_grid` (floats in [0, 1]) as a PNG; returns the path."""
    from PIL import Image

    grid = np.round(np.asarray(grid) * 255.0).astype(np.uint8)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid).save(path, format="PNG")
    return path


def level_name(config, level: int) -> str:
    """`level<L>-<R>x<R>`, the run directory of a level."""
    size = config.resolutions[level]
    return f"level{level}-{size}x{size}"


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the example.

    Args:
        argv: Command-line arguments (without the program name); `sys.argv[1:]` when None.

    Returns:
        0 on success, 1 if training diverged, 2 for a data or usage error.

    Example:
        >>> main(["--data-dir", "faces/", "--max-resolution", "8", "--training-images", "64"])  # doctest: +SKIP
    """
    from tf_lipschitz.architectures import progressive_gan
    from tf_lipschitz.callbacks import SampleGrid
    from tf_lipschitz.data import image_dataset
    from tf_lipschitz.recipes import (
        load_image_data, progressive_schedule, progressive_wgan_alp, run_training, seed_everything,
    )
    from tf_lipschitz.reporting import load_result, save_result
    from tf_lipschitz.training import TrainingDiverged, load_final_weights

    args = build_parser().parse_args(argv)
    seed_everything(args.seed)
    try:
        images = load_image_data("folder", args.data_dir, limit=args.limit)
        config = progressive_gan(args.max_resolution, images.shape[-1], latent_dim=args.latent_dim,
                                 fmap_base=args.fmap_base, fmap_max=args.fmap_max, group_size=args.group_size,
                                 training_images=args.training_images, transition_images=args.transition_images)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    plan = level_plan(config, args.batch_size)
    generator = critic = gan_previous = None
    for level, first_image, steps, batch_size in plan:
        size = config.resolutions[level]
        learning_rate = args.learning_rate or progressive_schedule(size)[1]
        level_dir = os.path.join(args.run_dir, level_name(config, level))
        if level == 0:
            generator, critic = config.generator(0), config.critic(0)
        else:
            generator, critic = config.grow(generator, critic)
        gan = progressive_wgan_alp(config, generator, critic, seed=args.seed + level, learning_rate=learning_rate)
        if level > 0:
            carry_generator_ema(config, level, gan_previous, gan)
        gan_previous = gan
        if load_result(level_dir) is not None:
            gan.set_weights(load_final_weights(level_dir))
            print(f"[progressive_gan_alp] level {level} ({size}x{size}) already trained: {level_dir}")
            continue
        print(f"[progressive_gan_alp] level {level} ({size}x{size}): {steps} steps of batch {batch_size}, "
              f"learning rate {learning_rate:g}, images {first_image}..{first_image + steps * batch_size}, "
              f"run dir {level_dir}", flush=True)
        grid = SampleGrid(min(args.checkpoint_every, steps),
                          os.path.join(args.run_dir, "samples", f"{size}x{size}_step_" + "{step:06d}.png"),
                          n_samples=args.grid_samples, seed=args.seed)
        schedule = FadeInSchedule(config, level, first_image, batch_size)
        try:
            dataset = image_dataset(images, batch_size, resolution=size, seed=args.seed + level)
        except ValueError as err:
            print(f"error: level {level}: {err} (pass a smaller --batch-size)", file=sys.stderr)
            return 2
        try:
            trained = run_training(gan, dataset, run_dir=level_dir, steps=steps,
                                   checkpoint_every=args.checkpoint_every, callbacks=[schedule, grid],
                                   verbose=args.verbose)
        except TrainingDiverged as err:
            print(f"error: level {level}: {err}", file=sys.stderr)
            return 1
        save_image(os.path.join(args.run_dir, "samples", f"{size}x{size}_ema.png"),
                   gan.fixed_noise_sampler(args.grid_samples, seed=args.seed, ema=True).grid())
        save_result(level_dir, {"level": level, "resolution": size, "steps": trained["end_step"],
                                "seconds": trained["seconds"]})
    write_plot(args, config, plan)
    print(f"done: {args.run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
