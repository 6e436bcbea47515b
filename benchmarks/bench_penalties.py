"""Critic step time with each Lipschitz penalty, as ratios to the unpenalized step (one run, one machine).

The same convolutional critic and batch (64 real + 64 fake, 32×32×3 in [-1, 1], WGAN loss, Adam) is trained with:
no penalty; ALP on both batches (k = 1, one call on the concatenated batch, f(x) shared with the loss); ALP on the
real batch only; ALP on both batches the straightforward way (two calls, f(x) recomputed); WGAN-GP; and LP —
each as a `tf.function` graph and compiled with XLA. Steps are timed round-robin (one step of every variant per
round) so that load from other processes hits all variants alike, and the minimum (or median) is kept.

Pass count per regularized sample (forward = 1, backward to weights = 2): ALP adds one forward with an input
gradient (the power iteration, ≈ 2) and one forward-backward (≈ 3), so ALP on both batches costs ≈ (3 + 5)/3 ≈ 2.7×
the unpenalized step; GP adds a forward, an input gradient kept for differentiation and its double backward.

Usage:
    python benchmarks/bench_penalties.py --steps 15
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tf_lipschitz.penalties import adversarial_lipschitz_penalty, gradient_penalty  # noqa: E402

PENALTY_WEIGHT = 10.0
ALP_KWARGS = dict(K=1.0, xi=10.0, epsilon=(0.1, 10.0), power_iterations=1)  # the paper's CIFAR-10 setting


def make_critic(width: int) -> keras.Model:
    """A DCGAN-style critic: three stride-2 4×4 convolutions with leaky ReLU, then a linear unit."""
    layers = [keras.Input((32, 32, 3))]
    for i in range(3):
        layers += [keras.layers.Conv2D(width * 2**i, 4, strides=2, padding="same"), keras.layers.LeakyReLU(0.2)]
    layers += [keras.layers.Flatten(), keras.layers.Dense(1)]
    return keras.Sequential(layers)


def _penalty(variant: str, critic: keras.Model, x_real, x_fake, x, fx, seed):
    n = tf.shape(x_real)[0]
    if variant == "none":
        return 0.0
    if variant == "alp_both":
        return adversarial_lipschitz_penalty(critic, x, fx=fx, seed=seed, **ALP_KWARGS).penalty
    if variant == "alp_one":
        return adversarial_lipschitz_penalty(critic, x_real, fx=fx[:n], seed=seed, **ALP_KWARGS).penalty
    if variant == "alp_both_unshared":
        real = adversarial_lipschitz_penalty(critic, x_real, seed=seed, **ALP_KWARGS).penalty
        return 0.5 * (real + adversarial_lipschitz_penalty(critic, x_fake, seed=seed, **ALP_KWARGS).penalty)
    if variant == "gp":
        return gradient_penalty(critic, x_real, x_fake, seed=seed).penalty
    if variant == "lp":
        return gradient_penalty(critic, x_real, x_fake, one_sided=True, seed=seed).penalty
    raise ValueError(f"unknown variant {variant!r}")


def make_step(variant: str, critic: keras.Model, optimizer, seed, jit_compile: bool):
    def step(x_real, x_fake):
        x = tf.concat([x_real, x_fake], axis=0)
        with tf.GradientTape() as tape:
            fx = critic(x, training=True)
            n = tf.shape(x_real)[0]
            loss = tf.reduce_mean(fx[n:]) - tf.reduce_mean(fx[:n])
            loss += PENALTY_WEIGHT * _penalty(variant, critic, x_real, x_fake, x, fx, seed)
        grads = tape.gradient(loss, critic.trainable_variables)
        optimizer.apply_gradients(zip(grads, critic.trainable_variables))
        return loss

    return tf.function(step, jit_compile=jit_compile)


VARIANTS = ("none", "alp_both", "alp_one", "alp_both_unshared", "gp", "lp")
LABELS = {
    "none": "no penalty",
    "alp_both": "ALP, both batches (128 samples, f(x) shared)",
    "alp_one": "ALP, real batch only (64 samples)",
    "alp_both_unshared": "ALP, both batches, straightforward (2 calls, f(x) recomputed)",
    "gp": "GP (64 interpolates)",
    "lp": "LP, one-sided GP (64 interpolates)",
}


def time_mode(jit_compile: bool, steps: int, width: int, batch: int, clock: str, stat: str) -> dict[str, float]:
    """Step time of every variant (min or median over steps timed round-robin), wall-clock or process CPU time."""
    timer = time.perf_counter if clock == "wall" else time.process_time
    reduce = min if stat == "min" else statistics.median
    rng = np.random.default_rng(0)
    x_real = tf.constant(np.clip(rng.normal(size=(batch, 32, 32, 3)), -1, 1).astype("float32"))
    x_fake = tf.constant(np.clip(rng.normal(size=(batch, 32, 32, 3)), -1, 1).astype("float32"))
    critic = make_critic(width)
    steps_fns = {}
    for variant in VARIANTS:
        optimizer = keras.optimizers.Adam(1e-4, beta_1=0.0, beta_2=0.9)
        optimizer.build(critic.trainable_variables)
        steps_fns[variant] = make_step(variant, critic, optimizer, keras.random.SeedGenerator(1), jit_compile)
        for _ in range(2):  # trace/compile and warm up
            steps_fns[variant](x_real, x_fake).numpy()
    times = {variant: [] for variant in VARIANTS}
    for _ in range(steps):
        for variant, fn in steps_fns.items():
            start = timer()
            fn(x_real, x_fake).numpy()
            times[variant].append(timer() - start)
    return {variant: reduce(values) for variant, values in times.items()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=15, help="timed rounds per mode (one step of each variant)")
    parser.add_argument("--width", type=int, default=32, help="channels of the first convolution")
    parser.add_argument("--batch", type=int, default=64, help="real samples (and as many fake) per step")
    parser.add_argument("--modes", default="graph,xla", help="comma-separated subset of graph,xla")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall-clock time, or this process's CPU time (steadier on a machine shared with others)")
    parser.add_argument("--stat", choices=("min", "median"), default="min",
                        help="statistic over the timed steps; the minimum is the least disturbed by other load")
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)

    results = {}
    for mode in args.modes.split(","):
        results[mode] = time_mode(mode == "xla", args.steps, args.width, args.batch, args.clock, args.stat)

    modes = list(results)
    print(f"\nCritic step time / unpenalized step ({args.batch} real + {args.batch} fake, 32×32×3, width {args.width}; "
          f"{args.stat} {args.clock} time of {args.steps} round-robin steps)\n")
    print("| variant | " + " | ".join(modes) + " |")
    print("|---|" + "---:|" * len(modes))
    for variant in VARIANTS:
        print(f"| {LABELS[variant]} | " + " | ".join(f"{results[m][variant] / results[m]['none']:.2f}" for m in modes) + " |")
    print("| unpenalized step (ms) | " + " | ".join(f"{1e3 * results[m]['none']:.1f}" for m in modes) + " |")
    print("\n| ratio | target | " + " | ".join(modes) + " |")
    print("|---|---|" + "---:|" * len(modes))
    for name, num, den, target in [
        ("ALP(both) / none", "alp_both", "none", "≤ 2.9"),
        ("ALP(one batch) / GP", "alp_one", "gp", "≤ 0.9"),
        ("ALP(both) / GP", "alp_both", "gp", ""),
        ("ALP(both, straightforward) / none", "alp_both_unshared", "none", ""),
    ]:
        print(f"| {name} | {target} | " + " | ".join(f"{results[m][num] / results[m][den]:.2f}" for m in modes) + " |")


if __name__ == "__main__":
    main()
