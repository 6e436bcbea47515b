"""Classifier-layer benchmark: training and inference time of 1-Lipschitz convolutions relative to a plain Conv2D at the
same shapes (AOLConv2D, SLLConv2D, SpectralNormConv2D, ToeplitzNormConv2D), measured in alternation in one run.

    python benchmarks/bench_classifier_layers.py [--batch 32] [--size 32] [--width 32] [--depth 3] [--jit]

Each variant is a stack of `depth` 3×3 'same' convolutions at `width` channels (input and output, since SLL is a
residual layer of the input's width; its hidden width is `width` too), followed by global average pooling and a
Dense(10). Images/s ratios are the inverse of the printed time ratios. Every row is measured on two clocks: the
process' CPU time (steadier on a machine shared with other jobs) and the wall clock. The library has no orthonormal
(Björck) convolution, so none is measured.

Measured (AMD EPYC, 2 cores shared with other jobs, TF_ENABLE_ONEDNN_OPTS=0), time / plain Conv2D on the CPU-time
clock, from `python benchmarks/bench_classifier_layers.py --jit --steps 8 --rounds 7`:

    |                            | AOLConv2D | SLLConv2D | SpectralNormConv2D | ToeplitzNormConv2D |
    | training step, tf.function |   1.07    |   2.50    |        1.02        |        1.07        |
    | inference, tf.function     |   1.06    |   2.80    |        1.00        |        1.01        |
    | training step, XLA         |   1.06    |   2.26    |        1.01        |        1.14        |
    | inference, XLA             |   1.02    |   2.09    |        1.01        |        1.11        |

AOL costs a few percent over a plain convolution (its rescaling is a small convolution of the kernel with itself,
independent of the batch); SLL runs two convolutions per layer (C and its transpose), hence about 2-2.8×. An exported
AOL/spectral/Toeplitz model (`tf_lipschitz.analysis.convert.export_plain`) is a plain Conv2D model at inference.

`--groupsort` measures GroupSort(2) as pairwise min/max (the library's path for group size 2) against the general
`ops.sort` path, time / ops.sort, from `python benchmarks/bench_classifier_layers.py --groupsort --batch 128
--steps 5 --rounds 5` (AMD EPYC, 2 cores shared with two other jobs, load average 2.7-3.7; 38 s CPU, 49 s wall):

    |                                              | ops.sort | min/max |
    | GroupSort(2) forward+backward, CPU time      |   1.00   |  0.50   |
    | certified_classifier network, training step  |   1.00   |  0.82   |
    | certified_classifier network, inference      |   1.00   |  0.94   |
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from bench_layers import steps_for  # noqa: E402
from timing import _sync, ratio_table  # noqa: E402

from tf_lipschitz.layers import AOLConv2D, GroupSort, SLLConv2D, SpectralNormConv2D, ToeplitzNormConv2D  # noqa: E402
from tf_lipschitz.layers.groupsort import _sorted_groups  # noqa: E402

VARIANTS = {
    "plain Conv2D": lambda w: keras.layers.Conv2D(w, 3, padding="same", activation="relu"),
    "AOLConv2D": lambda w: AOLConv2D(w, 3, padding="same", activation="relu"),
    "SLLConv2D": lambda w: SLLConv2D(w, 3),
    "SpectralNormConv2D": lambda w: SpectralNormConv2D(w, 3, padding="same", activation="relu"),
    "ToeplitzNormConv2D": lambda w: ToeplitzNormConv2D(w, 3, padding="same", activation="relu"),
}


class SortedPairs(keras.layers.Layer):
    """GroupSort(2) through the general `ops.sort` path, the reference the pairwise min/max path replaced."""

    def call(self, inputs):
        return _sorted_groups(inputs, inputs.shape[-1], 2)


def groupsort_rows(batch: int, steps: int, rounds: int) -> list:
    """GroupSort(2) as pairwise min/max (the library's path) vs `ops.sort`, on the activations of
    examples/certified_classifier.py: the activation alone on (batch, 28, 28, 16), and that example's whole AOL
    network (training step and inference)."""
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
    import certified_classifier

    x = tf.constant(np.random.default_rng(0).normal(size=(batch, 28, 28, 16)), tf.float32)
    images = tf.constant(np.random.default_rng(1).uniform(size=(batch, 28, 28, 1)), tf.float32)
    args = certified_classifier.build_parser().parse_args(["--data-file", "unused"])
    candidates = {"activation": {}, "network": {}}
    for name, make in (("ops.sort", SortedPairs), ("min/max", lambda: GroupSort(2))):
        layer = make()

        @tf.function
        def activation_step(layer=layer):
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.reduce_sum(layer(x) * x)
            return tape.gradient(loss, x)

        candidates["activation"][name] = activation_step
        keras.utils.set_random_seed(0)
        model = certified_classifier.build_model(args)
        if name == "ops.sort":  # the same network with every GroupSort on the sort path
            model = keras.models.clone_model(
                model, clone_function=lambda l: SortedPairs() if isinstance(l, GroupSort) else l.__class__.from_config(
                    l.get_config()))
        candidates["network"][name] = steps_for(model, images, False)
    rows = []
    for label, group in (("GroupSort(2) forward+backward", {k: v for k, v in candidates["activation"].items()}),
                         ("example network, training step", {k: v[0] for k, v in candidates["network"].items()}),
                         ("example network, inference", {k: v[1] for k, v in candidates["network"].items()})):
        print(f"timing {label} ...", file=sys.stderr)
        wall, cpu = median_wall_and_cpu_times(group, steps=steps, rounds=rounds)
        rows += [(f"{label}, CPU time", cpu), (f"{label}, wall clock", wall)]
    return rows


def stack(make_conv, size: int, width: int, depth: int) -> keras.Model:
    """`depth` convolutions from `make_conv(width)` on (size, size, width) inputs, global average pooling, Dense(10)."""
    layers = [keras.Input((size, size, width))] + [make_conv(width) for _ in range(depth)]
    return keras.Sequential(layers + [keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10)])


def median_wall_and_cpu_times(candidates: dict, *, steps: int, rounds: int, warmup: int = 2) -> tuple[dict, dict]:
    """Median seconds per call of each candidate, round-robin like `timing.median_times`, on two clocks.

    Wall-clock time is what a user waits for; on a machine shared with other jobs it mostly measures the scheduler.
    The process' CPU time (all its threads) counts only the work done, so its ratios are the steadier ones there.

    Args:
        candidates: name → zero-argument callable (one step).
        steps: Calls per candidate per round.
        rounds: Number of rounds; the median over rounds is reported.
        warmup: Untimed calls per candidate first (tracing, XLA compilation).

    Returns:
        `(wall, cpu)`: two dicts name → median seconds per call.
    """
    for fn in candidates.values():
        for _ in range(warmup):
            _sync(fn())
    wall: dict = {name: [] for name in candidates}
    cpu: dict = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, fn in candidates.items():
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            for _ in range(steps):
                result = fn()
            _sync(result)
            wall[name].append((time.perf_counter() - start_wall) / steps)
            cpu[name].append((time.process_time() - start_cpu) / steps)
    return ({name: statistics.median(v) for name, v in wall.items()},
            {name: statistics.median(v) for name, v in cpu.items()})


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (what `lscpu | grep 'Model name'` shows), or 'unknown'."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--jit", action="store_true", help="also measure with XLA (jit_compile=True)")
    parser.add_argument("--groupsort", action="store_true",
                        help="instead: GroupSort(2) as pairwise min/max vs ops.sort (batch --batch)")
    args = parser.parse_args(argv)
    if args.groupsort:
        table = ratio_table(groupsort_rows(args.batch, args.steps, args.rounds), "ops.sort", ["ops.sort", "min/max"])
        print(f"Time / ops.sort (batch {args.batch}, {os.cpu_count()} CPU cores, {cpu_name()}, median of "
              f"{args.rounds} rounds x {args.steps} steps):\n")
        print(table)
        return table

    keras.utils.set_random_seed(0)
    shape = (args.batch, args.size, args.size, args.width)
    x = tf.constant(np.random.default_rng(0).uniform(-1, 1, shape), tf.float32)
    rows = []
    for jit in ([False, True] if args.jit else [False]):
        train, infer = {}, {}
        for name, make in VARIANTS.items():
            train[name], infer[name] = steps_for(stack(make, args.size, args.width, args.depth), x, jit)
        mode = "XLA" if jit else "tf.function"
        for label, candidates in ((f"training step, {mode}", train), (f"inference, {mode}", infer)):
            print(f"timing {label} ...", file=sys.stderr)
            wall, cpu = median_wall_and_cpu_times(candidates, steps=args.steps, rounds=args.rounds)
            rows += [(f"{label}, CPU time", cpu), (f"{label}, wall clock", wall)]
    table = ratio_table(rows, "plain Conv2D", list(VARIANTS))
    print(f"Time / plain Conv2D (batch {args.batch}, {args.size}x{args.size}x{args.width}, {args.depth} layers, "
          f"{os.cpu_count()} CPU cores, {cpu_name()}, median of {args.rounds} rounds x {args.steps} steps; "
          "images/s ratio = 1 / time ratio):\n")
    print(table)
    return table


if __name__ == "__main__":
    main()
