"""GAN benchmark: one full `train_step` (n_critic critic updates + one generator update) of WGAN-ALP (the
paper's ξ = 10, and the limit ξ → 0, `xi=0`), WGAN-GP (plain-conv critic) and WGAN-SN (spectral-normalized
critic, no penalty), as ratios to WGAN-SN, in one run, with `tf.function` and with XLA.

    python benchmarks/bench_gan.py [--batch 32] [--n-critic 5] [--width 16] [--steps 3] [--rounds 3] [--no-jit]

The pair is the appendix-B DCGAN at 32×32×3 with a reduced width (the ResNet pair comes later). ALP costs per
critic update one extra forward with an input gradient (r_adv, k = 1) and one forward-backward of the
perturbed batch, over real and generated batches; GP a double backward over one interpolated batch.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from timing import median_times, ratio_table  # noqa: E402

from tf_lipschitz.architectures.dcgan import dcgan_critic, dcgan_generator  # noqa: E402
from tf_lipschitz.models import LipschitzGAN, WGANALP, WGANGP  # noqa: E402

LATENT_DIM = 32


def build(variant: str, width: int, n_critic: int):
    gen = dcgan_generator(32, latent_dim=LATENT_DIM, channels=3, width=width)
    critic = dcgan_critic(32, channels=3, width=width, spectral_norm=variant == "WGAN-SN")
    common = dict(latent_dim=LATENT_DIM, n_critic=n_critic, seed=0)
    if variant == "WGAN-ALP":
        return WGANALP(gen, critic, **common)
    if variant == "WGAN-ALP ξ→0":
        return WGANALP(gen, critic, penalty_kwargs={"xi": 0.0}, **common)
    if variant == "WGAN-GP":
        return WGANGP(gen, critic, **common)
    return LipschitzGAN(gen, critic, **common)


def step_fn(variant: str, args, jit: bool):
    gan = build(variant, args.width, args.n_critic)
    gan.compile(jit_compile=jit)
    real = tf.constant(np.random.default_rng(0).uniform(-1, 1, (args.n_critic * args.batch, 32, 32, 3)), tf.float32)
    step = tf.function(gan.train_step, jit_compile=jit, autograph=False)
    return lambda: step(real)["critic_loss"]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32, help="critic batch (the generator's is twice that)")
    parser.add_argument("--n-critic", type=int, default=5)
    parser.add_argument("--width", type=int, default=16, help="DCGAN width (64 in the paper)")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-jit", action="store_true", help="skip the XLA row")
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)
    variants = ["WGAN-SN", "WGAN-GP", "WGAN-ALP", "WGAN-ALP ξ→0"]
    rows, absolute = [], []
    for jit in ([False] if args.no_jit else [False, True]):
        times = median_times({v: step_fn(v, args, jit) for v in variants}, steps=args.steps, rounds=args.rounds)
        label = "XLA" if jit else "tf.function"
        rows.append((label, times))
        absolute.append(f"{label}: " + ", ".join(f"{v} {1000 * t:.0f} ms" for v, t in times.items()))
    print(f"One train_step (n_critic={args.n_critic}, critic batch {args.batch}, generator batch {2 * args.batch}, "
          f"DCGAN width {args.width}, 32×32×3), time relative to WGAN-SN:\n")
    print(ratio_table(rows, baseline="WGAN-SN", columns=variants))
    print("\nAbsolute medians (noisy on shared machines): " + "; ".join(absolute))


if __name__ == "__main__":
    main()
