"""The FID sweeps of "How does Lipschitz regularization influence GAN training?": k_SN × loss and α × loss.

Every (loss, k_SN, α) point trains the appendix-B DCGAN generator and spectral-normalized critic with RMSProp
(lr 5e-5; ρ and ε, see below), n_dis = 1, batch 64 (generator batch 64 too) and the loss domain-scaled by α (L_α(x) = L(α·x)/α, Eq. 11),
then scores the generator by FID. Presets (`--sweep`):

    k_sn         Table 2:    k_SN ∈ {0.2, 0.25, 0.5, 1, 5, 10, 50}, α = 1; NS-, LS-, W-, COS-, EXP-GAN
    alpha        Table 5(a): α ∈ {1e-11, 1e-9, …, 1e-1} at k_SN = 50;    NS-, LS-, LS#-, COS-, EXP-GAN
    alpha-large  Table 5(b): α ∈ {1e1, 1e3, …, 1e11} at k_SN = 1;        same losses

`--losses`, `--k-sn` and `--alphas` override the preset. The paper trains 1e5 iterations per point.

RMSProp: the paper gives only the learning rate (5e-5, appendix B); its Eq. (5) writes the update as
η·g/√(E[g²] + ε) with E[g²] an exponential average of decay γ, the form of TensorFlow's and Keras' RMSProp, but
it states neither γ nor ε, and its code is not public. We use Keras' defaults, `--rmsprop-rho 0.9` and
`--rmsprop-epsilon 1e-7` (ε inside the square root); TF 1's `tf.train.RMSPropOptimizer` had ρ = 0.9, ε = 1e-10,
PyTorch's RMSprop has α = 0.99 and ε = 1e-8 outside the square root. By Eq. (5) a gradient scaled by k_SN^m acts
like ε/k_SN^(2m): the k_SN sweep is flat only while that stays negligible against E[g²], so ε matters at small k_SN.

FID: on MNIST, the Fréchet distance on a small MNIST classifier (`mnist_frechet_distance`), read from
`--classifier` or trained once on the labelled data (`y_train` in the `.npz`) and saved in the run directory; on
CIFAR-10 and CelebA, the Inception FID (`--classifier`: a local SavedModel/.keras/TF-Hub folder; the default
TF-Hub Inception fails offline before any training, saying so). Real statistics come from the first
`--fid-samples` training images.

Run directory: <loss>_ksn<k>_alpha<α>/ (a `train_run` directory with log.csv, checkpoints, samples/ and
result.json per point), fid.md (the table, also printed) and fid.png (FID against the swept value, log x,
one line per loss). Rerun with the same arguments to resume; finished points are skipped.

Example:
    python examples/lipschitz_sweep.py --dataset mnist --data-dir mnist.npz --steps 100000
    python examples/lipschitz_sweep.py --dataset cifar10 --data-dir ~/tensorflow_datasets --sweep alpha \\
        --classifier ~/tfgan_inception_1

Reference:
    "How does Lipschitz regularization influence GAN training?", Tables 2 and 5, appendix B.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

import numpy as np

DATASETS = ("mnist", "cifar10", "celeb_a", "folder")
K_SN_LOSSES = ("ns-gan", "ls-gan", "wgan", "cos-gan", "exp-gan")
ALPHA_LOSSES = ("ns-gan", "ls-gan", "ls-gan#", "cos-gan", "exp-gan")
# preset ↦ (swept parameter, losses, k_SN values, α values)
SWEEPS = {
    "k_sn": ("k_sn", K_SN_LOSSES, (0.2, 0.25, 0.5, 1.0, 5.0, 10.0, 50.0), (1.0,)),
    "alpha": ("alpha", ALPHA_LOSSES, (50.0,), (1e-11, 1e-9, 1e-7, 1e-5, 1e-3, 1e-1)),
    "alpha-large": ("alpha", ALPHA_LOSSES, (1.0,), (1e1, 1e3, 1e5, 1e7, 1e9, 1e11)),
}


def build_parser() -> argparse.ArgumentParser:
    """The example's command-line parser.

    Returns:
        An `argparse.ArgumentParser`.

    Example:
        >>> build_parser().parse_args([]).sweep
        'k_sn'
    """
    from tf_lipschitz.recipes import add_run_arguments

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=DATASETS, default="mnist")
    parser.add_argument("--data-dir", help="an .npz (keras layout), a TFDS data dir, or an image folder")
    parser.add_argument("--limit", type=int, help="use at most this many training images")
    parser.add_argument("--sweep", choices=tuple(SWEEPS), default="k_sn", help="preset (see above)")
    parser.add_argument("--losses", nargs="+", help="GAN losses (default: the preset's)")
    parser.add_argument("--k-sn", nargs="+", type=float, help="k_SN values (default: the preset's)")
    parser.add_argument("--alphas", nargs="+", type=float, help="α values (default: the preset's)")
    parser.add_argument("--resolution", type=int, choices=(32, 64), help="default 64 for CelebA/folder, else 32")
    parser.add_argument("--width", type=int, default=64, help="DCGAN base width (default %(default)s)")
    parser.add_argument("--latent-dim", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=5e-5, help="RMSProp learning rate (default %(default)s)")
    parser.add_argument("--rmsprop-rho", type=float, default=0.9,
                        help="RMSProp decay ρ (γ in Eq. 5; not stated by the paper; Keras default %(default)s)")
    parser.add_argument("--rmsprop-epsilon", type=float, default=1e-7,
                        help="RMSProp ε, inside the square root (not stated by the paper; Keras default %(default)s)")
    parser.add_argument("--fid-samples", type=int, default=10_000, help="generated and real images for FID")
    parser.add_argument("--classifier", help="FID classifier: MNIST classifier .keras, or Inception folder")
    parser.add_argument("--classifier-epochs", type=int, default=3, help="epochs of the MNIST classifier")
    parser.add_argument("--grid-samples", type=int, default=64, help="images per sample grid")
    add_run_arguments(parser, steps=100_000, checkpoint_every=5000, run_dir=os.path.join("runs", "lipschitz_sweep"))
    return parser


def sweep_points(args: argparse.Namespace) -> tuple[str, list[tuple[str, float, float]]]:
    """The swept parameter and the (loss, k_SN, α) points of the run, preset values overridden by flags.

    Example:
        >>> sweep_points(build_parser().parse_args(["--losses", "wgan", "--k-sn", "1", "5"]))
        ('k_sn', [('wgan', 1.0, 1.0), ('wgan', 5.0, 1.0)])
    """
    swept, losses, k_sns, alphas = SWEEPS[args.sweep]
    losses, k_sns, alphas = args.losses or losses, args.k_sn or k_sns, args.alphas or alphas
    return swept, [(loss, k, a) for loss in losses for k in k_sns for a in alphas]


def make_optimizer(args: argparse.Namespace):
    """The RMSProp optimizer of the sweep (`--lr`, `--rmsprop-rho`, `--rmsprop-epsilon`; no momentum, not centered).

    Raises:
        ValueError: for ρ outside [0, 1) or ε ≤ 0 (naming the flag).

    Example:
        >>> optimizer = make_optimizer(build_parser().parse_args(["--rmsprop-epsilon", "1e-10"]))
        >>> optimizer.rho, optimizer.epsilon, optimizer.momentum
        (0.9, 1e-10, 0.0)
    """
    import keras

    if not 0.0 <= args.rmsprop_rho < 1.0:
        raise ValueError(f"`--rmsprop-rho` must be in [0, 1). Received: {args.rmsprop_rho}")
    if not args.rmsprop_epsilon > 0.0:
        raise ValueError(f"`--rmsprop-epsilon` must be > 0. Received: {args.rmsprop_epsilon}")
    return keras.optimizers.RMSprop(args.lr, rho=args.rmsprop_rho, epsilon=args.rmsprop_epsilon)


def point_dir(args: argparse.Namespace, loss: str, k_sn: float, alpha: float) -> str:
    """Run directory of one point, e.g. `ns-gan_ksn0.5_alpha1e-09`."""
    return os.path.join(args.run_dir, f"{loss.replace('#', 'sharp')}_ksn{k_sn:g}_alpha{alpha:g}")


class FID:
    """The sweep's FID: real statistics once, then one call per trained generator.

    Args:
        args: Parsed arguments.
        images: Real uint8 training images.
        labels: Their labels (MNIST without `--classifier` trains a classifier on them), or None.
    """

    def __init__(self, args: argparse.Namespace, images: np.ndarray, labels: np.ndarray | None):
        from tf_lipschitz.evaluation import compute_statistics, load_classifier, train_mnist_classifier

        self.mnist = args.dataset == "mnist"
        classifier = args.classifier
        if self.mnist and classifier is None:
            path = os.path.join(args.run_dir, "mnist_classifier.keras")
            if not os.path.exists(path):
                if labels is None:
                    raise ValueError("MNIST FID needs --classifier (a trained MNIST classifier .keras) or an .npz "
                                     "--data-dir with y_train labels to train one")
                os.makedirs(args.run_dir, exist_ok=True)
                print(f"[lipschitz_sweep] training the MNIST FID classifier ({args.classifier_epochs} epochs) -> {path}")
                train_mnist_classifier(images, labels, epochs=args.classifier_epochs, save_path=path)
            classifier = path
        self.classifier = load_classifier(classifier)
        self.real = compute_statistics(images[:args.fid_samples], classifier_fn=self.classifier, verbose=False)
        self.samples = args.fid_samples

    def __call__(self, gan) -> float:
        """FID of `fid_samples` images of `gan` against the real statistics."""
        from tf_lipschitz.evaluation import frechet_inception_distance, mnist_frechet_distance

        fake = gan.generate(self.samples, seed=0)
        if self.mnist:
            return mnist_frechet_distance(self.real, fake, self.classifier)
        return frechet_inception_distance(self.real, fake, classifier_fn=self.classifier, verbose=False)


def load_data(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray | None]:
    """Training images (uint8) and, from an `.npz` holding `y_train`, their labels."""
    from tf_lipschitz.recipes import load_image_data

    images = load_image_data(args.dataset, args.data_dir, limit=args.limit)
    labels = None
    if args.data_dir and args.data_dir.endswith(".npz"):
        with np.load(args.data_dir) as npz:
            labels = npz["y_train"][:len(images)] if "y_train" in npz else None
    return images, labels


def train_point(args: argparse.Namespace, images: np.ndarray, fid: FID, loss: str, k_sn: float,
                alpha: float) -> dict:
    """Trains one point of the sweep (resuming) and returns {"fid", "seconds", "steps"}.

    Raises:
        TrainingDiverged: when a loss term becomes non-finite.
    """
    import keras

    from tf_lipschitz.architectures import dcgan_critic, dcgan_generator
    from tf_lipschitz.callbacks import SampleGrid
    from tf_lipschitz.data import image_dataset
    from tf_lipschitz.models import LipschitzGAN
    from tf_lipschitz.recipes import run_training, seed_everything
    from tf_lipschitz.reporting import save_result

    run_dir = point_dir(args, loss, k_sn, alpha)
    resolution = args.resolution or (64 if args.dataset in ("celeb_a", "folder") else 32)
    channels = images.shape[-1]
    keras.backend.clear_session()
    seed_everything(args.seed)
    generator = dcgan_generator(resolution, args.latent_dim, channels, width=args.width)
    critic = dcgan_critic(resolution, k_sn, channels=channels, spectral_norm=True, width=args.width)
    gan = LipschitzGAN(generator, critic, latent_dim=args.latent_dim, loss=loss, alpha=alpha, penalty=None,
                       n_critic=1, generator_batch_multiplier=1, seed=args.seed)
    gan.compile(critic_optimizer=make_optimizer(args), generator_optimizer=make_optimizer(args), jit_compile=args.jit)
    dataset = image_dataset(images, args.batch_size, resolution=resolution, seed=args.seed)
    grid = SampleGrid(min(args.checkpoint_every, args.steps), os.path.join(run_dir, "samples", "step_{step:06d}.png"),
                      n_samples=args.grid_samples)
    print(f"[lipschitz_sweep] {loss}, k_SN {k_sn:g}, alpha {alpha:g}: {args.steps} steps, run dir {run_dir}",
          flush=True)
    trained = run_training(gan, dataset, run_dir=run_dir, steps=args.steps, checkpoint_every=args.checkpoint_every,
                           callbacks=[grid], verbose=args.verbose)
    result = {"fid": fid(gan), "seconds": trained["seconds"], "steps": trained["end_step"]}
    save_result(run_dir, result)
    print(f"[lipschitz_sweep] {loss}, k_SN {k_sn:g}, alpha {alpha:g}: FID {result['fid']:.2f}", flush=True)
    return result


def report(args: argparse.Namespace, swept: str, results: dict) -> str:
    """Writes fid.md and fid.png; returns the Markdown table.

    Args:
        args: Parsed arguments.
        swept: "k_sn" or "alpha".
        results: (loss, k_SN, α) ↦ FID (float, NaN for a diverged point).

    Returns:
        The Markdown text.
    """
    from tf_lipschitz.reporting import line_plot, markdown_table

    index = 1 if swept == "k_sn" else 2
    values = sorted({point[index] for point in results})
    fixed = sorted({point[3 - index] for point in results})
    losses = list(dict.fromkeys(point[0] for point in results))
    rows, series = [], {}
    for loss in losses:
        for other in fixed:
            fids = [results.get((loss, v, other) if index == 1 else (loss, other, v), float("nan")) for v in values]
            label = loss if len(fixed) == 1 else f"{loss} ({'alpha' if index == 1 else 'k_SN'} {other:g})"
            rows.append([label] + fids)
            series[label] = (values, fids)
    name = "k_SN" if swept == "k_sn" else "α"
    other = f"α = {fixed[0]:g}" if index == 1 and len(fixed) == 1 else (
        f"k_SN = {fixed[0]:g}" if len(fixed) == 1 else "")
    text = (f"# FID vs {name} ({args.dataset}, {other}, {args.steps} steps, {args.fid_samples} samples)\n\n"
            + markdown_table(["loss"] + [f"{name} = {v:g}" for v in values], rows, precision=5)
            + "\n\nLower is better; NaN: diverged.\n")
    with open(os.path.join(args.run_dir, "fid.md"), "w") as handle:
        handle.write(text)
    line_plot(os.path.join(args.run_dir, "fid.png"), series, xlabel=name, ylabel="FID", logx=True,
              title=f"FID vs {name} on {args.dataset}")
    return text


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the example.

    Args:
        argv: Command-line arguments (without the program name); `sys.argv[1:]` when None.

    Returns:
        0 on success, 1 if a point diverged (the others still run), 2 for a data, classifier or usage error.

    Example:
        >>> main(["--data-dir", "mnist.npz", "--losses", "wgan", "--k-sn", "1", "--steps", "10"])  # doctest: +SKIP
    """
    from tf_lipschitz.reporting import load_result
    from tf_lipschitz.training import TrainingDiverged

    args = build_parser().parse_args(argv)
    swept, points = sweep_points(args)
    try:
        images, labels = load_data(args)
        fid = FID(args, images, labels)
    except (ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    results, code = {}, 0
    for loss, k_sn, alpha in points:
        done = load_result(point_dir(args, loss, k_sn, alpha))
        try:
            if not (done and done.get("steps", 0) >= args.steps):
                done = train_point(args, images, fid, loss, k_sn, alpha)
            results[loss, k_sn, alpha] = done["fid"]
        except TrainingDiverged as err:
            print(f"error: {loss}, k_SN {k_sn:g}, alpha {alpha:g} diverged: {err}", file=sys.stderr)
            results[loss, k_sn, alpha], code = float("nan"), 1
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    print(report(args, swept, results))
    print(f"done: {args.run_dir}")
    return code


if __name__ == "__main__":
    sys.exit(main())
