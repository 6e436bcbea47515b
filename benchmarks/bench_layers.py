"""Layer benchmark: training step and inference of plain Conv2D vs SpectralNormConv2D, ToeplitzNormConv2D
and keras.layers.SpectralNormalization(Conv2D), as ratios to plain, measured in one run.

    python benchmarks/bench_layers.py [--batch 64] [--steps 10] [--rounds 5] [--jit]

Targets: SN inference <= 1.05x plain; SN training no slower than Keras' wrapper; Toeplitz training <= 1.5x plain.
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

from tf_lipschitz.layers import SpectralNormConv2D, ToeplitzNormConv2D  # noqa: E402

VARIANTS = {
    "plain": lambda f: keras.layers.Conv2D(f, 3, padding="same"),
    "SpectralNormConv2D": lambda f: SpectralNormConv2D(f, 3, padding="same"),
    "ToeplitzNormConv2D": lambda f: ToeplitzNormConv2D(f, 3, padding="same"),
    "keras SpectralNormalization": lambda f: keras.layers.SpectralNormalization(keras.layers.Conv2D(f, 3, padding="same")),
}


def critic(make_conv, size: int, width: int) -> keras.Model:
    """A DCGAN-like critic: three 3×3 convs (the middle one at full width twice), LeakyReLU, mean pool, dense."""
    layers = [keras.Input((size, size, 3))]
    for filters in (width, width, 2 * width):
        layers += [make_conv(filters), keras.layers.LeakyReLU(0.2), keras.layers.AveragePooling2D(2)]
    layers += [keras.layers.Flatten(), keras.layers.Dense(1)]
    return keras.Sequential(layers)


def steps_for(model: keras.Model, x, jit: bool):
    optimizer = keras.optimizers.Adam(1e-4)
    optimizer.build(model.trainable_variables)

    @tf.function(jit_compile=jit)
    def train():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    @tf.function(jit_compile=jit)
    def infer():
        return model(x, training=False)

    return train, infer


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--jit", action="store_true", help="also measure with XLA (jit_compile=True)")
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(0)
    x = tf.constant(np.random.default_rng(0).uniform(-1, 1, (args.batch, args.size, args.size, 3)), tf.float32)
    rows = []
    for jit in ([False, True] if args.jit else [False]):
        train, infer = {}, {}
        for name, make in VARIANTS.items():
            train[name], infer[name] = steps_for(critic(make, args.size, args.width), x, jit)
        mode = "XLA" if jit else "tf.function"
        print(f"timing {mode} ...", file=sys.stderr)
        rows.append((f"training step, {mode}", median_times(train, steps=args.steps, rounds=args.rounds)))
        rows.append((f"inference, {mode}", median_times(infer, steps=args.steps, rounds=args.rounds)))
    table = ratio_table(rows, "plain", list(VARIANTS))
    print(f"Time / plain Conv2D (batch {args.batch}, {args.size}x{args.size}x3, width {args.width}, "
          f"{os.cpu_count()} CPU cores, median of {args.rounds} rounds x {args.steps} steps):\n")
    print(table)
    return table


if __name__ == "__main__":
    main()
