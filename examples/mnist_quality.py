"""Real-data quality run: WGAN-ALP vs WGAN-GP vs SN-GAN (NS loss) on MNIST at one budget of generator steps.

Each model is the main job's image set-up (`tf-lipschitz train --dataset mnist`: the DCGAN 32×32 nets of
"How does Lipschitz regularization influence GAN training?", Adam(2e-4, β = (0, 0.9))), trained in its own
resumable run directory; WGAN-ALP and WGAN-GP take n_critic = 5, SN-GAN n_critic = 1 (the second paper's
n_dis = 1). Afterwards every generator is scored with the MNIST Fréchet distance of
`tf_lipschitz.evaluation` (a small MNIST classifier trained on the training set) against the test set, and
a Markdown table with the wall-clock of each run is printed and written to `<out-dir>/results.md`.

    python examples/mnist_quality.py --data-file ../shared/data/mnist/mnist.npz --steps 1500

Re-running resumes unfinished runs and re-scores finished ones.
"""

from __future__ import annotations

import argparse
import json
import os
import time

MODELS = {"wgan-alp": 5, "wgan-gp": 5, "sn": 1}  # model → n_critic


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-file", required=True, help="MNIST .npz in the keras.datasets layout")
    parser.add_argument("--out-dir", default="runs/mnist_quality")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of " + ",".join(MODELS))
    parser.add_argument("--steps", type=int, default=1500, help="generator steps per model (equal budget)")
    parser.add_argument("--checkpoint-every", type=int, default=100)
    parser.add_argument("--width", type=int, default=32, help="base width of the DCGAN nets")
    parser.add_argument("--batch-size", type=int, default=64, help="critic batch")
    parser.add_argument("--eval-samples", type=int, default=5000)
    parser.add_argument("--classifier-epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=2)
    return parser.parse_args(argv)


def train_one(model: str, args: argparse.Namespace):
    """Trains (or resumes) one model; returns its Setup and the wall-clock seconds of all its training."""
    from tf_lipschitz.cli import build_parser
    from tf_lipschitz.train_command import build
    from tf_lipschitz.training import train_run

    run_dir = os.path.join(args.out_dir, model)
    train_args = build_parser().parse_args([
        "train", "--dataset", "mnist", "--data-dir", args.data_file, "--model", model,
        "--steps", str(args.steps), "--checkpoint-every", str(args.checkpoint_every), "--width", str(args.width),
        "--n-critic", str(MODELS[model]), "--batch-size", str(args.batch_size), "--run-dir", run_dir, "--seed", str(args.seed),
    ])
    setup = build(train_args)
    clock_file = os.path.join(run_dir, "wall_clock.json")
    spent = json.load(open(clock_file))["seconds"] if os.path.exists(clock_file) else 0.0
    start = time.perf_counter()
    train_run(setup.gan, setup.dataset, run_dir=run_dir, steps=setup.steps, checkpoint_every=args.checkpoint_every,
              callbacks=setup.callbacks, verbose=args.verbose)
    spent += time.perf_counter() - start
    with open(clock_file, "w") as handle:
        json.dump({"seconds": spent}, handle)
    return setup, spent


def main(argv=None) -> str:
    """Runs the comparison and returns the Markdown table."""
    args = parse_args(argv)
    import numpy as np

    from tf_lipschitz.data import load_images
    from tf_lipschitz.evaluation import mnist_frechet_distance, train_mnist_classifier

    models = [m for m in args.models.split(",") if m]
    unknown = set(models) - set(MODELS)
    if unknown:
        raise SystemExit(f"unknown models {sorted(unknown)}; valid: {list(MODELS)}")
    x_train = load_images("mnist", args.data_file)
    with np.load(args.data_file) as npz:
        y_train = npz["y_train"]
    x_test = load_images("mnist", args.data_file, split="test")[: args.eval_samples]
    print(f"training the MNIST classifier on {len(x_train)} digits ...")
    classifier = train_mnist_classifier(x_train, y_train, epochs=args.classifier_epochs)
    floor = mnist_frechet_distance(x_train[: args.eval_samples], x_test, classifier)

    rows = []
    for model in models:
        setup, seconds = train_one(model, args)
        fake = setup.gan.generate(args.eval_samples, seed=args.seed)
        distance = mnist_frechet_distance(x_test, fake, classifier)
        rows.append((model, MODELS[model], setup.steps, seconds, distance, os.path.join(setup.run_dir, "samples")))
        print(f"{model}: MNIST Fréchet distance {distance:.2f} after {setup.steps} generator steps, {seconds:.0f} s")
    lines = [
        "| model | n_critic | generator steps | wall-clock (s) | MNIST FD (lower is better) | samples |",
        "|---|---|---|---|---|---|",
        *(f"| {m} | {n} | {s} | {t:.0f} | {d:.2f} | {p} |" for m, n, s, t, d, p in rows),
        f"| real train vs test | | | | {floor:.2f} | |",
    ]
    table = "\n".join(lines)
    os.makedirs(args.out_dir, exist_ok=True)
    with open(os.path.join(args.out_dir, "results.md"), "w") as handle:
        handle.write(table + "\n")
    print(table)
    return table


if __name__ == "__main__":
    main()
