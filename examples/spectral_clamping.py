"""Sargent's poster at small scale on MNIST: spectral gradient clamping in G vs in D, and Toeplitz-normalized critics.

Three experiments, each a set of short WGAN runs of the appendix-B DCGAN (32×32, MNIST resized from 28×28):

* ``generator``: `SpectralGradientClamp(r, target="generator")` with r in `--ratios-generator`
  (poster: 1.05, 1.5, 2), spectral-normalized critic (k_SN = 1);
* ``critic``: the same clamp on the critic's gradients, r in `--ratios-critic` (poster: 4, 15, 30);
* ``toeplitz``: a critic of `ToeplitzNormConv2D` layers with k in `--toeplitz-k` (poster: 1, 2, 4, 8), no clamp;

plus a ``baseline`` (SN critic, no clamp) that logs σ0/σ1 of both networks' kernel gradients (the poster saw
σ0/σ1 ≈ 30 for the critic early in training, ≈ 3 later). Each run is scored with an MNIST classifier
trained on the data file's labels (`tf_lipschitz.evaluation.train_mnist_classifier`): the MNIST score (the
Inception Score computed through it, the poster's metric) and the Fréchet distance on its features.

Outputs in `--out-dir`: ``<run>/samples.png`` (fixed-noise grid), ``results.md`` and ``results.json``.

Example:
    python examples/spectral_clamping.py --data-file ../shared/data/mnist/mnist.npz --steps 2000
    python examples/spectral_clamping.py --data-file mnist.npz --steps 20 --width 8 --experiments generator

Reference:
    K. Sargent, "Lipschitz Constraints in Wasserstein GANs" (poster): spectral gradient clipping and
    Toeplitz normalization tables.
    Brock, Donahue and Simonyan, "Large Scale GAN Training for High Fidelity Natural Image Synthesis", 2018.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import Sequence

import numpy as np

EXPERIMENTS = ("baseline", "generator", "critic", "toeplitz")


def _floats(text: str) -> list[float]:
    try:
        return [float(t) for t in text.split(",") if t.strip()]
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from err


def build_parser() -> argparse.ArgumentParser:
    """The example's command-line parser.

    Returns:
        An `argparse.ArgumentParser`.

    Example:
        >>> build_parser().parse_args(["--data-file", "mnist.npz"]).ratios_critic
        [4.0, 15.0, 30.0]
    """
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-file", required=True, metavar="PATH",
                        help=".npz with x_train (uint8 digits) and, for the classifier, y_train (keras.datasets layout)")
    parser.add_argument("--experiments", nargs="+", choices=EXPERIMENTS, default=list(EXPERIMENTS))
    parser.add_argument("--ratios-generator", type=_floats, default=[1.05, 1.5, 2.0], metavar="R,R,...",
                        help="clamping ratios r for the generator (default 1.05,1.5,2)")
    parser.add_argument("--ratios-critic", type=_floats, default=[4.0, 15.0, 30.0], metavar="R,R,...",
                        help="clamping ratios r for the critic (default 4,15,30)")
    parser.add_argument("--toeplitz-k", type=_floats, default=[1.0, 2.0, 4.0, 8.0], metavar="K,K,...",
                        help="k of the Toeplitz-normalized critic layers (default 1,2,4,8)")
    parser.add_argument("--steps", type=int, default=2000, help="generator iterations per run (default %(default)s)")
    parser.add_argument("--batch-size", type=int, default=64, help="critic batch size (default %(default)s)")
    parser.add_argument("--n-critic", type=int, default=1, help="critic updates per generator step (default %(default)s)")
    parser.add_argument("--lr", type=float, default=2e-4, help="Adam learning rate, β = (0, 0.9) (default %(default)s)")
    parser.add_argument("--loss", default="wgan", help="GAN loss of tf_lipschitz.losses (default %(default)s)")
    parser.add_argument("--width", type=int, default=32, help="DCGAN width (paper: 64; default %(default)s)")
    parser.add_argument("--latent-dim", type=int, default=64, help="latent size (default %(default)s)")
    parser.add_argument("--power-iterations", type=int, default=20, help="clamp power-iteration steps (default %(default)s)")
    parser.add_argument("--limit", type=int, default=None, help="use at most this many training images")
    parser.add_argument("--eval-samples", type=int, default=2000, help="generated/real images per score (default %(default)s)")
    parser.add_argument("--classifier", default=None, metavar="PATH",
                        help="a saved MNIST classifier (.keras); trained on the data file (and saved to out-dir) if absent")
    parser.add_argument("--classifier-epochs", type=int, default=3, help="epochs of the MNIST classifier (default %(default)s)")
    parser.add_argument("--jit-compile", choices=("auto", "on", "off"), default="auto", help="XLA for the train step")
    parser.add_argument("--run-eagerly", action="store_true", help="no tf.function: slower steps, no tracing (smoke runs)")
    parser.add_argument("--log-every", type=int, default=100, help="steps between log lines (default %(default)s)")
    parser.add_argument("--out-dir", default=os.path.join("runs", "spectral_clamping"), help="output directory")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def run_specs(args: argparse.Namespace) -> list[dict]:
    """The runs selected by `--experiments`: dicts with `name`, `experiment`, `value` and the critic/clamp choice."""
    specs = []
    if "baseline" in args.experiments:
        specs.append({"name": "baseline", "experiment": "baseline", "value": None, "critic": "spectral_norm",
                      "target": "both", "ratio": math.inf})
    for experiment, values in (("generator", args.ratios_generator), ("critic", args.ratios_critic)):
        if experiment in args.experiments:
            specs += [{"name": f"clamp_{experiment}_r{r:g}", "experiment": experiment, "value": r,
                       "critic": "spectral_norm", "target": experiment, "ratio": r} for r in values]
    if "toeplitz" in args.experiments:
        specs += [{"name": f"toeplitz_k{k:g}", "experiment": "toeplitz", "value": k, "critic": "toeplitz_norm",
                   "k_sn": k, "target": None, "ratio": None} for k in args.toeplitz_k]
    return specs


def log_line(label: str, steps: int, every: int):
    """A `fit` callback printing one line every `every` steps: losses, clamp statistics, speed."""
    import keras

    class LogLine(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.start = time.time()

        def on_train_batch_end(self, batch, logs=None):
            step = batch + 1
            if step % max(1, every) and step != steps:
                return
            parts = [f"{k}={float(v):.4g}" for k, v in sorted((logs or {}).items())
                     if k in ("critic_loss", "generator_loss") or "spectral_clamp" in k]
            rate = step / max(time.time() - self.start, 1e-9)
            print(f"[{label}] step {step}/{steps} ({rate:.1f} it/s) " + " ".join(parts), flush=True)

    return LogLine()


def load_data(args: argparse.Namespace):
    """(training images uint8 (N, 28, 28, 1), labels or None, evaluation images uint8)."""
    from tf_lipschitz.data import load_images

    images = load_images("mnist", args.data_file, split="train", limit=args.limit)
    with np.load(args.data_file) as npz:
        labels = npz["y_train"][: len(images)] if "y_train" in npz.files else None
        evaluation = npz["x_test"] if "x_test" in npz.files else None
    evaluation = images if evaluation is None else evaluation
    if evaluation.ndim == 3:
        evaluation = evaluation[..., None]
    return images, labels, evaluation[: args.eval_samples]


def get_classifier(args: argparse.Namespace, images, labels):
    """The MNIST classifier of the scores: `--classifier`, or trained on the data file's labels."""
    from tf_lipschitz.evaluation.mnist import train_mnist_classifier

    if args.classifier:
        return args.classifier
    if labels is None:
        raise SystemExit(f"{args.data_file} has no y_train to train the MNIST classifier; pass --classifier PATH")
    path = os.path.join(args.out_dir, "mnist_classifier.keras")
    print(f"training the MNIST classifier ({args.classifier_epochs} epochs) -> {path}", flush=True)
    train_mnist_classifier(images, labels, epochs=args.classifier_epochs, save_path=path)
    return path


def train_one(args: argparse.Namespace, spec: dict, dataset, classifier, evaluation) -> dict:
    """Trains one GAN of `spec` for `--steps` generator iterations and scores it."""
    import keras

    from tf_lipschitz.architectures.dcgan import dcgan_critic, dcgan_generator
    from tf_lipschitz.callbacks import SampleGrid, SpectralGradientClamp
    from tf_lipschitz.evaluation.mnist import mnist_frechet_distance, mnist_score
    from tf_lipschitz.models.gan import LipschitzGAN

    keras.utils.set_random_seed(args.seed)
    generator = dcgan_generator(32, latent_dim=args.latent_dim, channels=1, width=args.width)
    critic = dcgan_critic(32, channels=1, width=args.width, conv_layer=spec["critic"], k_sn=spec.get("k_sn", 1.0))
    gan = LipschitzGAN(generator, critic, latent_dim=args.latent_dim, loss=args.loss, n_critic=args.n_critic,
                       generator_batch_multiplier=1, seed=args.seed)
    jit = {"auto": "auto", "on": True, "off": False}[args.jit_compile]
    adam = lambda: keras.optimizers.Adam(args.lr, beta_1=0.0, beta_2=0.9)  # noqa: E731
    gan.compile(critic_optimizer=adam(), generator_optimizer=adam(), jit_compile=jit, run_eagerly=args.run_eagerly)
    run_dir = os.path.join(args.out_dir, spec["name"])
    callbacks = []
    if spec["ratio"] is not None:
        callbacks.append(SpectralGradientClamp(spec["ratio"], target=spec["target"], power_iterations=args.power_iterations,
                                               seed=args.seed))
    callbacks += [SampleGrid(max(1, args.steps), os.path.join(run_dir, "samples.png"), n_samples=64),
                  log_line(spec["name"], args.steps, args.log_every)]
    start = time.time()
    history = gan.fit(dataset, steps_per_epoch=args.steps, epochs=1, verbose=0, callbacks=callbacks).history
    seconds = time.time() - start
    fake = gan.generate(len(evaluation), seed=args.seed + 1)
    score, _ = mnist_score(fake, classifier, num_splits=min(10, max(1, len(fake) // 100)))
    distance = mnist_frechet_distance(evaluation, fake, classifier)
    result = {**{k: v for k, v in spec.items() if k != "ratio"}, "ratio": spec["ratio"] if spec["ratio"] != math.inf else None,
              "mnist_score": float(score), "frechet_distance": float(distance), "seconds": seconds}
    for key in ("critic_spectral_clamp_sigma_ratio", "generator_spectral_clamp_sigma_ratio",
                "critic_spectral_clamp_fraction", "generator_spectral_clamp_fraction"):
        if key in history:
            result[key] = float(history[key][-1])
    print(f"[{spec['name']}] MNIST score {score:.3f}, Fréchet distance {distance:.3f} ({seconds:.0f} s)", flush=True)
    return result


def report(results: list[dict]) -> str:
    """The poster's tables: one per experiment, a row per r or k, with the scores (and σ0/σ1 for the baseline)."""
    lines = []
    titles = {"generator": ("Spectral gradient clamping with ratio r in the generator", "r"),
              "critic": ("Spectral gradient clamping with ratio r in the critic", "r"),
              "toeplitz": ("Toeplitz-normalized critic", "k_sn")}
    for experiment, (title, column) in titles.items():
        rows = [r for r in results if r["experiment"] == experiment]
        if not rows:
            continue
        lines += [f"### {title}", "", f"| {column} | MNIST score ↑ | Fréchet distance ↓ | clamped fraction (last step) |",
                  "|---|---|---|---|"]
        for r in rows:
            fraction = r.get(f"{experiment}_spectral_clamp_fraction")
            fraction = "" if fraction is None else f"{fraction:.2f}"
            lines.append(f"| {r['value']:g} | {r['mnist_score']:.3f} | {r['frechet_distance']:.3f} | {fraction} |")
        lines.append("")
    for r in results:
        if r["experiment"] == "baseline":
            lines += ["### Baseline (no clamp)", "",
                      f"MNIST score {r['mnist_score']:.3f}, Fréchet distance {r['frechet_distance']:.3f}; last-step mean "
                      f"σ0/σ1 of the kernel gradients: critic {r.get('critic_spectral_clamp_sigma_ratio', float('nan')):.2f}, "
                      f"generator {r.get('generator_spectral_clamp_sigma_ratio', float('nan')):.2f}", ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the selected experiments and writes `results.md` / `results.json` to `--out-dir`.

    Args:
        argv: Command-line arguments (default: `sys.argv[1:]`).

    Returns:
        The exit status, 0.
    """
    args = build_parser().parse_args(argv)
    if args.steps < 1 or args.batch_size < 2 or args.n_critic < 1 or args.eval_samples < 2:
        raise SystemExit("--steps and --n-critic must be >= 1, --batch-size and --eval-samples >= 2")
    if not os.path.exists(args.data_file):
        raise SystemExit(f"--data-file {args.data_file!r} does not exist")
    os.makedirs(args.out_dir, exist_ok=True)
    from tf_lipschitz.data import image_dataset

    images, labels, evaluation = load_data(args)
    classifier = get_classifier(args, images, labels)
    dataset = image_dataset(images, args.batch_size * args.n_critic, resolution=32, seed=args.seed)
    results = []
    specs = run_specs(args)
    for i, spec in enumerate(specs):
        print(f"=== run {i + 1}/{len(specs)}: {spec['name']}", flush=True)
        results.append(train_one(args, spec, dataset, classifier, evaluation))
        with open(os.path.join(args.out_dir, "results.json"), "w", encoding="utf-8") as handle:
            json.dump({"args": vars(args), "results": results}, handle, indent=2)
    text = report(results)
    with open(os.path.join(args.out_dir, "results.md"), "w", encoding="utf-8") as handle:
        handle.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
