"""The model a user already has: a plain Keras CNN → `lipschitz_clone` → margin fine-tuning → certified accuracy.

1. A plain CNN (Conv2D, BatchNormalization, ReLU, MaxPooling2D, Dropout, Dense) is trained normally with
   cross-entropy, and saved in the run directory (reloaded when the command is run again).
2. `tf_lipschitz.analysis.convert.lipschitz_clone(model, method="toeplitz")` copies it with every convolution divided by its
   operator norm on its input shape (`ToeplitzNormConv2D`) and every Dense by its spectral norm
   (`SpectralNormDense`); each batch normalization is folded into the convolution before it (its inference affine
   map merged into the kernel and bias, then normalized with it). Max pooling with non-overlapping windows and
   ReLU are 1-Lipschitz, dropout is the identity at inference: the clone's proven bound is ≈ 1.
3. The clone is fine-tuned with a margin loss (`--loss`) and evaluated again.

The table has one row per stage: clean accuracy, the proven Lipschitz bound of the whole network
(`tf_lipschitz.robustness.model_lipschitz`), certified accuracy at each ε (L2, pixels in [0, 1]) and the mean
certified radius. The plain network also gets a proven bound (exact and certified layer norms multiplied along the
graph, batch norm included), so its certificates are real, just tiny.

Example:
    python examples/certified_from_plain.py --dataset mnist --data-file ../shared/data/mnist/mnist.npz
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Sequence

import numpy as np

EPSILONS = (0.1, 0.3, 0.5, 1.0, 1.58)


def build_parser() -> argparse.ArgumentParser:
    """The example's command-line parser.

    Returns:
        An `argparse.ArgumentParser`.

    Example:
        >>> build_parser().parse_args(["--data-file", "mnist.npz"]).finetune_epochs
        3
    """
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=("mnist", "fashion_mnist"), default="mnist")
    parser.add_argument("--data-file", required=True, metavar="PATH",
                        help=".npz with x_train, y_train, x_test, y_test (keras.datasets layout)")
    parser.add_argument("--run-dir", default=None, help="output folder (default runs/certified_from_plain_<dataset>)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of the plain training (default %(default)s)")
    parser.add_argument("--finetune-epochs", type=int, default=3, help="epochs of the clone's fine-tuning "
                                                                      "(default %(default)s)")
    parser.add_argument("--loss", choices=("tau-ce", "multiclass-hinge"), default="tau-ce",
                        help="fine-tuning loss (default %(default)s)")
    parser.add_argument("--tau", type=float, default=3.0, help="τ of the τ-scaled cross-entropy (default %(default)s)")
    parser.add_argument("--margin", type=float, default=1.0, help="margin of the hinge (default %(default)s)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default %(default)s)")
    parser.add_argument("--finetune-lr", type=float, default=None,
                        help="Adam learning rate of the fine-tuning (default: --lr)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--width", type=int, default=32, help="channels of the first convolution (default %(default)s)")
    parser.add_argument("--limit", type=int, default=None, help="use at most this many training images")
    parser.add_argument("--test-limit", type=int, default=None, help="evaluate on at most this many test images")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parses and checks the options; errors name the flag."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for flag in ("epochs", "finetune_epochs", "batch_size", "width"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')} must be >= 1, got {getattr(args, flag)}")
    args.finetune_lr = args.lr if args.finetune_lr is None else args.finetune_lr
    for flag in ("tau", "margin", "lr", "finetune_lr"):
        if not getattr(args, flag) > 0:
            parser.error(f"--{flag.replace('_', '-')} must be > 0, got {getattr(args, flag)}")
    if not os.path.exists(args.data_file):
        parser.error(f"--data-file {args.data_file!r} does not exist")
    args.run_dir = args.run_dir or os.path.join("runs", f"certified_from_plain_{args.dataset}")
    return args


def plain_cnn(input_shape, classes: int, width: int):
    """A plain Keras CNN as users write them: conv, batch norm, ReLU, max pooling, dropout, dense."""
    import keras
    from keras import layers

    inputs = keras.Input(input_shape, name="images")
    x = inputs
    for block, filters in enumerate((width, 2 * width), start=1):
        x = layers.Conv2D(filters, 3, padding="same", name=f"conv{block}")(x)
        # momentum 0.9: the moving statistics settle within the first hundred steps of a short run
        x = layers.BatchNormalization(momentum=0.9, name=f"bn{block}")(x)
        x = layers.ReLU(name=f"relu{block}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{block}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(0.3, name="dropout")(x)
    x = layers.Dense(128, activation="relu", name="dense")(x)
    outputs = layers.Dense(classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="plain_cnn")


def evaluate(name: str, model, x, y, epsilons) -> dict:
    """A table row: clean accuracy, proven bound, certified accuracy at each ε, mean radius."""
    from tf_lipschitz.robustness import model_lipschitz, radius_from_logits
    from tf_lipschitz.robustness.certificates import predict_logits

    lipschitz = model_lipschitz(model)
    logits = predict_logits(model, x, 500)
    correct = np.argmax(logits, axis=1) == y
    radius = radius_from_logits(logits, lipschitz)  # certified_radius(model, x) without a second forward pass
    row = {"stage": name, "clean_accuracy": float(correct.mean()), "lipschitz": lipschitz,
           "mean_radius": float(radius.mean())}
    row.update({f"certified_{e:g}": float(np.mean(correct & (radius > e))) for e in epsilons})
    return row


def table(rows: Sequence[dict], epsilons) -> str:
    """The before/after table (Markdown)."""
    head = "| stage | clean | L (proven) | " + " | ".join(f"ε = {e:g}" for e in epsilons) + " | mean radius |"
    lines = [head, "|" + "---|" * (4 + len(epsilons))]
    for r in rows:
        lines.append(f"| {r['stage']} | {100 * r['clean_accuracy']:.2f} % | {r['lipschitz']:.4g} | "
                     + " | ".join(f"{100 * r[f'certified_{e:g}']:.2f} %" for e in epsilons)
                     + f" | {r['mean_radius']:.4g} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> list[dict]:
    """Trains (or reloads) the plain CNN, clones, fine-tunes and prints the before/after table.

    Args:
        argv: Command-line arguments (default `sys.argv[1:]`).

    Returns:
        The table's rows.
    """
    args = parse_args(argv)
    os.makedirs(args.run_dir, exist_ok=True)
    import keras

    from tf_lipschitz.analysis.convert import lipschitz_clone
    from tf_lipschitz.data import load_images
    from tf_lipschitz.foundations.files import write_atomically
    from tf_lipschitz.robustness import MulticlassHinge, TauCategoricalCrossentropy

    keras.utils.set_random_seed(args.seed)
    x_train, y_train = load_images(args.dataset, args.data_file, split="train", limit=args.limit, with_labels=True,
                                   report=print)
    x_test, y_test = load_images(args.dataset, args.data_file, split="test", limit=args.test_limit, with_labels=True,
                                 report=print)
    x_train, x_test = x_train.astype(np.float32) / 255.0, x_test.astype(np.float32) / 255.0
    classes = int(y_train.max()) + 1
    started, cpu = time.perf_counter(), time.process_time()
    plain_path = os.path.join(args.run_dir, "plain.keras")
    if os.path.exists(plain_path):
        print(f"Loading the trained plain CNN from {plain_path}")
        plain = keras.models.load_model(plain_path)
    else:
        plain = plain_cnn(x_train.shape[1:], classes, args.width)
        plain.compile(optimizer=keras.optimizers.Adam(args.lr),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        plain.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=2)
        plain.save(plain_path)
    rows = [evaluate("plain CNN (cross-entropy)", plain, x_test, y_test, EPSILONS)]

    clone, conversion = lipschitz_clone(plain, method="toeplitz", return_report=True, strict=True)
    print(conversion)
    rows.append(evaluate("lipschitz_clone, before fine-tuning", clone, x_test, y_test, EPSILONS))
    loss = TauCategoricalCrossentropy(args.tau) if args.loss == "tau-ce" else MulticlassHinge(args.margin)
    clone.compile(optimizer=keras.optimizers.Adam(args.finetune_lr), loss=loss)
    clone.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.finetune_epochs, verbose=2)
    label = f"τ-CE τ={args.tau:g}" if args.loss == "tau-ce" else f"multiclass hinge m={args.margin:g}"
    rows.append(evaluate(f"clone fine-tuned {args.finetune_epochs} epochs ({label}, lr {args.finetune_lr:g})", clone,
                         x_test, y_test, EPSILONS))
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    text = table(rows, EPSILONS)
    note = (f"{args.dataset}, plain training {args.epochs} epochs, fine-tuning {args.finetune_epochs} epochs; "
            f"{seconds / 60:.1f} min wall, {cpu_seconds / 60:.1f} min CPU")
    write_atomically(os.path.join(args.run_dir, "results.md"), text + "\n\n" + note + "\n")
    write_atomically(os.path.join(args.run_dir, "results.json"),
                     json.dumps({"args": vars(args), "rows": rows, "seconds": seconds, "cpu_seconds": cpu_seconds},
                                indent=2))
    print(text)
    print(note)
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.exit(0)
