"""Critic step time with each Lipschitz penalty, as ratios to the unpenalized step (one run, one machine).

Two critics (`--critics`): "bench", the DCGAN-style critic below at `--width` (32/64/128 channels by default), and
"plain", the same three stride-2 4×4 convolutions with leaky ReLU at 64/128/256 channels (issue 15's plain
critic). For each, the same batch (64 real + 64 fake, 32×32×3 in [-1, 1], WGAN loss, Adam) is trained with:
no penalty; ALP on both batches (k = 1, one call per batch, each sharing its f(x) with the loss, as
`LipschitzGAN`); ALP on the real batch only; ALP on both batches the straightforward way (two calls, f(x)
recomputed); the same two with ξ → 0 (`xi=0`: the direction ±∇f(x)/‖∇f(x)‖ from an input-only backward through
the loss's forward pass); WGAN-GP; and LP — each as a `tf.function` graph and compiled with XLA. Reals and fakes
go through the critic in separate passes, as in `LipschitzGAN`'s critic update. Steps are timed round-robin (one
step of every variant per round) so that load from other processes hits all variants alike, and the minimum (or
median) is kept.

Where ALP's time goes (`--profile` adds three partial variants): "ALP direction only" runs the noise and the
power-iteration pass (a forward at x + ξr and a backward to the input only, no weight gradients) and discards the
direction; "ALP ξ → 0 direction only" the same for `xi=0` (an input-only backward through the loss's f(x) pass);
"ALP, random direction" skips the power iteration (noise, f(x̂) forward and backward). The extra times of a
direction and of the random-direction variant over the unpenalized step add up to ALP's.

What we measured (README, "Penalties: critic step"; F = one forward pass on 64 samples, the unpenalized step
being ≈ 6F): the noise is negligible, the direction pass costs ≈ 1.9F (a forward and an input-only backward:
weight gradients are pruned) and the f(x̂) pass ≈ 2.9F, so ALP on one batch adds ≈ 4.8F against GP's ≈ 5.5F.
That is the pass-count floor of Eq. (20) with ξ > 0 and one power iteration (the direction needs f(x + ξr) and
its input gradient, x̂ needs the direction): ALP(one batch)/GP ≈ (6 + 4.8)/(6 + 5.5) ≈ 0.94. With ξ → 0 the
direction needs no forward pass of its own (≈ 1F) and its random side is one coin per sample, hence
≈ (6 + 3.8)/(6 + 5.5) ≈ 0.85 (0.74–0.89 over four runs, README).

Pass count per regularized sample (forward = 1, backward to weights = 2): ALP adds one forward with an input
gradient (the power iteration, ≈ 2) and one forward-backward (≈ 3), so ALP on both batches costs ≈ (3 + 5)/3 ≈ 2.7×
the unpenalized step; GP adds a forward, an input gradient kept for differentiation and its double backward.

Usage:
    python benchmarks/bench_penalties.py --steps 15
    python benchmarks/bench_penalties.py --critics bench,plain --stat median --clock cpu --steps 12 --profile
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

from tf_lipschitz.penalties import (  # noqa: E402
    adversarial_lipschitz_penalty, adversarial_perturbation, gradient_penalty,
)

PENALTY_WEIGHT = 10.0
ALP_KWARGS = dict(K=1.0, xi=10.0, epsilon=(0.1, 10.0), power_iterations=1)  # the paper's CIFAR-10 setting
LIMIT_KWARGS = {**ALP_KWARGS, "xi": 0.0}  # the limit ξ → 0 (variants "*_limit")


CRITIC_WIDTHS = {"plain": 64}  # "bench" takes --width


def make_critic(width: int) -> keras.Model:
    """A DCGAN-style critic: three stride-2 4×4 convolutions with leaky ReLU, then a linear unit."""
    layers = [keras.Input((32, 32, 3))]
    for i in range(3):
        layers += [keras.layers.Conv2D(width * 2**i, 4, strides=2, padding="same"), keras.layers.LeakyReLU(0.2)]
    layers += [keras.layers.Flatten(), keras.layers.Dense(1)]
    return keras.Sequential(layers)


def _penalty(variant: str, critic: keras.Model, x_real, x_fake, f_real, f_fake, seed):
    if variant == "none":
        return 0.0
    kwargs = LIMIT_KWARGS if variant.endswith("_limit") else ALP_KWARGS
    if variant in ("alp_both", "alp_both_limit"):  # as LipschitzGAN: one call per batch, each sharing its f(x)
        real = adversarial_lipschitz_penalty(critic, x_real, fx=f_real, seed=seed, **kwargs).penalty
        return 0.5 * (real + adversarial_lipschitz_penalty(critic, x_fake, fx=f_fake, seed=seed, **kwargs).penalty)
    if variant in ("alp_one", "alp_one_limit"):
        return adversarial_lipschitz_penalty(critic, x_real, fx=f_real, seed=seed, **kwargs).penalty
    if variant == "alp_both_unshared":
        real = adversarial_lipschitz_penalty(critic, x_real, seed=seed, **ALP_KWARGS).penalty
        return 0.5 * (real + adversarial_lipschitz_penalty(critic, x_fake, seed=seed, **ALP_KWARGS).penalty)
    if variant in ("alp_direction", "alp_direction_limit"):  # the noise and the power-iteration pass only
        direction_kwargs = {k: v for k, v in kwargs.items() if k != "K"}  # the direction has no target K
        r_adv = adversarial_perturbation(critic, x_real, fx=f_real, seed=seed, **direction_kwargs)
        return 0.0 * tf.reduce_sum(r_adv)
    if variant == "alp_random":  # no power iteration: the noise, then f(x̂) forward and backward
        return adversarial_lipschitz_penalty(
            critic, x_real, fx=f_real, seed=seed, **{**ALP_KWARGS, "power_iterations": 0}).penalty
    if variant == "gp":
        return gradient_penalty(critic, x_real, x_fake, seed=seed).penalty
    if variant == "lp":
        return gradient_penalty(critic, x_real, x_fake, one_sided=True, seed=seed).penalty
    raise ValueError(f"unknown variant {variant!r}")


def make_step(variant: str, critic: keras.Model, optimizer, seed, jit_compile: bool):
    def step(x_real, x_fake):
        with tf.GradientTape() as tape:
            # Reals and fakes in separate passes, as LipschitzGAN's critic update.
            f_real, f_fake = critic(x_real, training=True), critic(x_fake, training=True)
            loss = tf.reduce_mean(f_fake) - tf.reduce_mean(f_real)
            loss += PENALTY_WEIGHT * _penalty(variant, critic, x_real, x_fake, f_real, f_fake, seed)
        grads = tape.gradient(loss, critic.trainable_variables)
        optimizer.apply_gradients(zip(grads, critic.trainable_variables))
        return loss

    return tf.function(step, jit_compile=jit_compile)


VARIANTS = ("none", "alp_both", "alp_one", "alp_both_unshared", "alp_both_limit", "alp_one_limit", "gp", "lp")
PROFILE_VARIANTS = ("alp_direction", "alp_direction_limit", "alp_random")
LABELS = {
    "none": "no penalty",
    "alp_both": "ALP, both batches (128 samples, f(x) shared)",
    "alp_both_limit": "ALP ξ → 0, both batches (128 samples, f(x) shared)",
    "alp_one_limit": "ALP ξ → 0, real batch only (64 samples)",
    "alp_one": "ALP, real batch only (64 samples)",
    "alp_both_unshared": "ALP, both batches, straightforward (2 calls, f(x) recomputed)",
    "gp": "GP (64 interpolates)",
    "lp": "LP, one-sided GP (64 interpolates)",
    "alp_direction": "ALP direction only (real batch; noise + power-iteration pass)",
    "alp_direction_limit": "ALP ξ → 0 direction only (real batch; input-only backward through f(x)'s pass)",
    "alp_random": "ALP, random direction (real batch; noise + f(x̂) pass)",
}


def time_mode(jit_compile: bool, steps: int, width: int, batch: int, clock: str, stat: str,
              variants: tuple[str, ...] = VARIANTS) -> dict[str, float]:
    """Step time of every variant (min or median over steps timed round-robin), wall-clock or process CPU time."""
    timer = time.perf_counter if clock == "wall" else time.process_time
    reduce = min if stat == "min" else statistics.median
    rng = np.random.default_rng(0)
    x_real = tf.constant(np.clip(rng.normal(size=(batch, 32, 32, 3)), -1, 1).astype("float32"))
    x_fake = tf.constant(np.clip(rng.normal(size=(batch, 32, 32, 3)), -1, 1).astype("float32"))
    critic = make_critic(width)
    steps_fns = {}
    for variant in variants:
        optimizer = keras.optimizers.Adam(1e-4, beta_1=0.0, beta_2=0.9)
        optimizer.build(critic.trainable_variables)
        steps_fns[variant] = make_step(variant, critic, optimizer, keras.random.SeedGenerator(1), jit_compile)
        for _ in range(2):  # trace/compile and warm up
            steps_fns[variant](x_real, x_fake).numpy()
    times = {variant: [] for variant in variants}
    for _ in range(steps):
        for variant, fn in steps_fns.items():
            start = timer()
            fn(x_real, x_fake).numpy()
            times[variant].append(timer() - start)
    return {variant: reduce(values) for variant, values in times.items()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=15, help="timed rounds per mode (one step of each variant)")
    parser.add_argument("--width", type=int, default=32, help="channels of the first convolution of the bench critic")
    parser.add_argument("--critics", default="bench", help="comma-separated subset of bench,plain (plain: 64/128/256)")
    parser.add_argument("--batch", type=int, default=64, help="real samples (and as many fake) per step")
    parser.add_argument("--modes", default="graph,xla", help="comma-separated subset of graph,xla")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall-clock time, or this process's CPU time (steadier on a machine shared with others)")
    parser.add_argument("--stat", choices=("min", "median"), default="min",
                        help="statistic over the timed steps; the minimum is the least disturbed by other load")
    parser.add_argument("--profile", action="store_true",
                        help="also time ALP's direction pass and its f(x̂) pass separately (see above)")
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)
    variants = VARIANTS + (PROFILE_VARIANTS if args.profile else ())

    results = {}
    for critic in args.critics.split(","):
        if critic not in ("bench", *CRITIC_WIDTHS):
            parser.error(f"--critics: unknown critic {critic!r}; choose from bench, plain")
        width = CRITIC_WIDTHS.get(critic, args.width)
        for mode in args.modes.split(","):
            results[f"{critic} ({width}) {mode}"] = time_mode(
                mode == "xla", args.steps, width, args.batch, args.clock, args.stat, variants)

    columns = list(results)
    print(f"\nCritic step time / unpenalized step ({args.batch} real + {args.batch} fake, 32×32×3; critic (first "
          f"width) and mode per column; {args.stat} {args.clock} time of {args.steps} round-robin steps)\n")
    print("| variant | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for variant in variants:
        print(f"| {LABELS[variant]} | " + " | ".join(f"{results[c][variant] / results[c]['none']:.2f}" for c in columns)
              + " |")
    print("| unpenalized step (ms) | " + " | ".join(f"{1e3 * results[c]['none']:.1f}" for c in columns) + " |")
    if args.profile:
        print("\nExtra time over the unpenalized step (ms)\n")
        print("| part | " + " | ".join(columns) + " |")
        print("|---|" + "---:|" * len(columns))
        for variant in ("alp_direction", "alp_direction_limit", "alp_random", "alp_one", "alp_one_limit", "gp"):
            print(f"| {LABELS[variant]} | "
                  + " | ".join(f"{1e3 * (results[c][variant] - results[c]['none']):.1f}" for c in columns) + " |")
    print("\n| ratio | target | " + " | ".join(columns) + " |")
    print("|---|---|" + "---:|" * len(columns))
    for name, num, den, target in [
        ("ALP(both) / none", "alp_both", "none", "≤ 2.9"),
        ("ALP(one batch) / GP", "alp_one", "gp", "≤ 0.9"),
        ("ALP ξ → 0 (one batch) / GP", "alp_one_limit", "gp", "≤ 0.9"),
        ("ALP ξ → 0 (both) / none", "alp_both_limit", "none", ""),
        ("ALP(both) / GP", "alp_both", "gp", ""),
        ("ALP(both, straightforward) / none", "alp_both_unshared", "none", ""),
    ]:
        print(f"| {name} | {target} | " + " | ".join(f"{results[c][num] / results[c][den]:.2f}" for c in columns)
              + " |")


if __name__ == "__main__":
    main()
