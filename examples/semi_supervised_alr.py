"""Semi-supervised CIFAR-10 with 4000 labels: VAT against ALR (ALR paper, appendix A.3).

ConvLarge is trained with Adam at a fixed learning rate of 3·10⁻⁴ on cross-entropy over 4000 labeled images plus
λ times a smoothness term on unlabeled images; the 50000 training images are split, with balanced classes, into
4000 labeled, 45000 unlabeled (regularization only) and 1000 validation images:

  * vat: VAT as ALR with K = 0, d_X trivial (Eq. 14), d_Y = KL divergence, fixed ε = 8, λ = 1.
  * alr: ALR with K = 0, d_X = ℓ2, d_Y = mean squared logit difference, P_ε = U[1, 10], λ = 1.

Both hold f(x) fixed inside the smoothness term and add entropy minimization (Grandvalet and Bengio) on the
unlabeled batch, as appendix A.3 describes (`tf_lipschitz.penalties.virtual_adversarial_loss`). Validation and
test accuracy are logged every `--eval-every` steps; the summary reports the best validation accuracy and the
test accuracy at that step (the paper: VAT 84.2 % / 82.46 %, ALR 85.3 % / 83.54 %).

Data (`--data-dir`, nothing is downloaded): an `.npz` with `x_train`, `y_train`, `x_test`, `y_test` (the
`keras.datasets` layout), a folder with one sub-folder of images per class (optionally inside `train/` and
`test/`), or a prepared TFDS data directory (`--dataset cifar10`). Images are ZCA-whitened as in VAT
(`--preprocess zca`, fitted on the training images; ε = 8 is in those units) or scaled to [-1, 1].

Choices the paper leaves to Miyato et al. (2017): batches of 32 labeled and 128 unlabeled images, 48000
steps, ξ = 10⁻⁶, one power iteration, ConvLarge with dropout 0.5; the perturbed forward passes run in training
mode, so batch normalization also sees the perturbed batch.

Dropout and the adversarial direction (`--direction-dropout`): with a fresh dropout mask in each of f(x),
f(x + ξr) and f(x̂), the finite difference measures the masks' difference rather than the ξr step, and the
direction is mostly dropout noise. VAT's TensorFlow code rebuilds the network for every forward pass with the same
dropout op seeds, so within a step its three passes on the unlabeled batch draw the same masks. "shared" (the
default) does the same here: the three passes restore the dropout layers' seed state, so they use one mask per
step and the direction is a true power iteration on the thinned network that f(x̂) is then compared through
(each mask's network has its own direction: at initialization, width 8, the mean |cos| to the dropout-free
direction is ≈ 0.07, as with independent masks, but the penalty now measures one network's smoothness rather than
the masks' difference); batch normalization stays in training mode, as in the reference. "off" computes the direction with the whole network in inference
mode (no dropout, moving batch-norm statistics; one more forward pass) and keeps dropout for f(x̂).

Usage:
    python examples/semi_supervised_alr.py --data-dir ~/data/cifar10.npz
    python examples/semi_supervised_alr.py --data-dir ~/tensorflow_datasets --dataset cifar10 --methods alr
    python examples/semi_supervised_alr.py --data-dir tiny.npz --steps 20 --width 4 --preprocess scale \\
        --labeled 100 --validation 50  # a smoke run

Reference:
    Terjék, "Adversarial Lipschitz Regularization", ICLR 2020, appendix A.3.
    Miyato et al., "Virtual Adversarial Training", TPAMI 2018.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time
from typing import Callable, Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from tf_lipschitz import reporting  # noqa: E402
from tf_lipschitz.architectures import conv_large  # noqa: E402
from tf_lipschitz.data import load_images  # noqa: E402
from tf_lipschitz.penalties import virtual_adversarial_loss  # noqa: E402
from tf_lipschitz.training.checkpoints import RunCheckpoints  # noqa: E402

METHODS = ("vat", "alr")
DIRECTION_DROPOUT = ("shared", "off")
_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
_LOG_FIELDS = ("step", "loss", "cross_entropy", "penalty", "entropy", "ratio_mean", "ratio_max", "train_accuracy",
               "val_accuracy", "test_accuracy")
_SUMMARY_FIELDS = ("method", "best_val_accuracy", "best_step", "test_accuracy_at_best_val", "final_val_accuracy",
                   "final_test_accuracy", "steps", "seconds")


# ---------------------------------------------------------------------------------------------------- data
def _load_class_folders(folder: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    from PIL import Image

    classes = sorted(d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)))
    images, labels, size = [], [], None
    for label, name in enumerate(classes):
        for root, _, files in sorted(os.walk(os.path.join(folder, name))):
            for file in sorted(files):
                if file.lower().endswith(_IMAGE_EXTENSIONS):
                    image = Image.open(os.path.join(root, file)).convert("RGB")
                    size = size or image.size
                    images.append(np.asarray(image.resize(size)))
                    labels.append(label)
    if not images:
        raise ValueError(f"No images ({', '.join(_IMAGE_EXTENSIONS)}) in class sub-folders of {folder}")
    return np.stack(images), np.asarray(labels, np.int64), classes


def load_labeled_images(
    data_dir: str, dataset: str = "cifar10"
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Loads labeled train (and test) images from local files.

    Args:
        data_dir: An `.npz` with `x_train`, `y_train` (and optionally `x_test`, `y_test`); a folder of class
            sub-folders, or with `train/` and `test/` folders of class sub-folders; or a TFDS data directory.
        dataset: The TFDS name, used only for a TFDS data directory.

    Returns:
        `(x_train, y_train, x_test, y_test)`: uint8 (N, H, W, C) images and int64 (N,) labels; the test pair is
        None when the source has no test split.

    Raises:
        ValueError: for a missing path, missing arrays, no images, or a TFDS directory without the dataset.

    Example:
        >>> x, y, x_test, y_test = load_labeled_images("cifar10.npz")  # doctest: +SKIP
    """
    if not os.path.exists(data_dir):
        raise ValueError(f"--data-dir does not exist: {data_dir}")
    if data_dir.endswith(".npz"):
        with np.load(data_dir) as npz:
            missing = [key for key in ("x_train", "y_train") if key not in npz]
            if missing:
                raise ValueError(f"{data_dir} lacks {missing}; it has {sorted(npz.files)}")
            arrays = [npz[key] if key in npz else None for key in ("x_train", "y_train", "x_test", "y_test")]
    elif os.path.isdir(os.path.join(data_dir, "train")) and os.path.isdir(os.path.join(data_dir, "test")):
        x_train, y_train, classes = _load_class_folders(os.path.join(data_dir, "train"))
        x_test, y_test, test_classes = _load_class_folders(os.path.join(data_dir, "test"))
        if test_classes != classes:
            raise ValueError(f"train/ and test/ of {data_dir} have different classes: {classes} vs {test_classes}")
        arrays = [x_train, y_train, x_test, y_test]
    elif os.path.isdir(os.path.join(data_dir, dataset)):  # a TFDS data_dir holds <dataset>/<version>/
        arrays = [array for split in ("train", "test")
                  for array in load_images(dataset, data_dir, split=split, with_labels=True)]
    else:
        arrays = [*_load_class_folders(data_dir)[:2], None, None]
    x_train, y_train, x_test, y_test = arrays
    if x_test is None or y_test is None:
        x_test = y_test = None
    images = [x if x is None or x.ndim == 4 else x[..., None] for x in (x_train, x_test)]
    labels = [y if y is None else np.asarray(y).reshape(-1).astype(np.int64) for y in (y_train, y_test)]
    return images[0].astype(np.uint8), labels[0], None if images[1] is None else images[1].astype(np.uint8), labels[1]


def _per_class(total: int, num_classes: int) -> list[int]:
    base, extra = divmod(total, num_classes)
    return [base + (c < extra) for c in range(num_classes)]


def balanced_split(
    labels: np.ndarray, labeled: int, validation: int, unlabeled: int | None = None, *, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Splits training indices into disjoint labeled, validation and unlabeled sets with balanced classes.

    Args:
        labels: int (N,) class labels.
        labeled: Size of the labeled set (4000 in the paper), spread evenly over the classes.
        validation: Size of the validation set (1000).
        unlabeled: Size of the unlabeled set (45000), balanced too; None takes every remaining image.
        seed: Seed of the permutation.

    Returns:
        `(labeled_idx, validation_idx, unlabeled_idx)`, sorted int arrays.

    Raises:
        ValueError: if a class has too few images for its share.

    Example:
        >>> lab, val, unl = balanced_split(np.repeat(np.arange(2), 5), 2, 2)
        >>> len(lab), len(val), len(unl)
        (2, 2, 6)
    """
    classes = np.unique(labels)
    rng = np.random.default_rng(seed)
    wanted = [_per_class(labeled, len(classes)), _per_class(validation, len(classes))]
    if unlabeled is not None:
        wanted.append(_per_class(unlabeled, len(classes)))
    parts: list[list[np.ndarray]] = [[], [], []]
    for c, label in enumerate(classes):
        members = rng.permutation(np.flatnonzero(labels == label))
        need = sum(w[c] for w in wanted)
        if len(members) < need:
            raise ValueError(f"Class {label} has {len(members)} images; the split needs {need} of them")
        bounds = np.cumsum([0, wanted[0][c], wanted[1][c]])
        parts[0].append(members[bounds[0]:bounds[1]])
        parts[1].append(members[bounds[1]:bounds[2]])
        parts[2].append(members[bounds[2]:bounds[2] + wanted[2][c]] if unlabeled is not None else members[bounds[2]:])
    return tuple(np.sort(np.concatenate(p)) for p in parts)  # type: ignore[return-value]


class Preprocessor:
    """Maps uint8 images to float32 network inputs: ZCA whitening (VAT's CIFAR-10 setting) or [-1, 1] scaling.

    Args:
        mode: "zca" or "scale".
        zca_epsilon: Regularizer added to the covariance eigenvalues before whitening.

    Example:
        >>> inputs = Preprocessor("scale").fit(np.zeros((2, 4, 4, 3), np.uint8))(np.full((1, 4, 4, 3), 255, np.uint8))
        >>> float(inputs.max()), inputs.dtype
        (1.0, dtype('float32'))
    """

    def __init__(self, mode: str = "zca", zca_epsilon: float = 0.1):
        if mode not in ("zca", "scale"):
            raise ValueError(f"`mode` must be 'zca' or 'scale'. Received: mode={mode!r}")
        self.mode, self.zca_epsilon = mode, zca_epsilon
        self.mean: np.ndarray | None = None
        self.whitening: np.ndarray | None = None

    def fit(self, images: np.ndarray, chunk: int = 5000) -> "Preprocessor":
        """Estimates the ZCA mean and whitening matrix from uint8 images (no-op for "scale")."""
        if self.mode == "zca":
            flat = images.reshape(len(images), -1)
            self.mean = flat.mean(axis=0, dtype=np.float64) / 255.0
            covariance = np.zeros((flat.shape[1],) * 2)
            for start in range(0, len(flat), chunk):  # chunks keep 50000 × 3072 floats out of memory
                block = flat[start:start + chunk] / 255.0 - self.mean
                covariance += block.T @ block
            values, vectors = np.linalg.eigh(covariance / len(flat))
            self.whitening = (vectors / np.sqrt(np.maximum(values, 0.0) + self.zca_epsilon)) @ vectors.T
        return self

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """float32 inputs with the images' shape."""
        if self.mode == "scale":
            return (images.astype(np.float32) / 127.5 - 1.0).astype(np.float32)
        if self.whitening is None:
            raise ValueError("Preprocessor('zca') must be fitted before use")
        flat = images.reshape(len(images), -1) / 255.0 - self.mean
        return (flat @ self.whitening).astype(np.float32).reshape(images.shape)


# ------------------------------------------------------------------------------------------------ training
def regularizer_options(method: str, args: argparse.Namespace) -> dict:
    """The `virtual_adversarial_loss` options of a method.

    Args:
        method: "vat" or "alr".
        args: Parsed options (ε, ξ, power iterations, entropy weight).

    Returns:
        Keyword arguments for `tf_lipschitz.penalties.virtual_adversarial_loss`.

    Raises:
        ValueError: for an unknown method.

    Example:
        >>> regularizer_options("alr", parse_args(["--data-dir", "x.npz"]))["epsilon"]
        (1.0, 10.0)
    """
    common = {"K": 0.0, "xi": args.xi, "power_iterations": args.power_iterations,
              "entropy_weight": args.entropy_weight}
    if method == "vat":
        return {**common, "d_y": "kl", "d_x": "trivial", "epsilon": args.vat_epsilon}
    if method == "alr":
        return {**common, "d_y": "mse_logits", "d_x": "l2", "epsilon": tuple(args.alr_epsilon)}
    raise ValueError(f"`method` must be one of {METHODS}. Received: method={method!r}")


def _dropout_layers(model: keras.Model) -> list:
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dropout):
            found.append(layer)
        elif isinstance(layer, keras.Model):
            found.extend(_dropout_layers(layer))
    return found


def shared_mask(model: keras.Model) -> Callable[[], Callable]:
    """One dropout mask per step: `begin = shared_mask(model)`, then in each step `f = begin()`.

    Every call of `f` restores the seed state that the model's `Dropout` layers had when `begin()` ran, then calls
    the model in training mode, so all calls of one step with a batch of the same shape use the same masks; the
    state still advances once per step, so the next step draws new ones. Use it inside the step's `tf.function`.

    Args:
        model: A Keras model whose dropout layers are `keras.layers.Dropout` (nested models are searched).

    Returns:
        `begin()`, returning the step's callable `f(t) -> model(t, training=True)`.

    Example:
        >>> net = keras.Sequential([keras.Input((8,)), keras.layers.Dropout(0.5), keras.layers.Dense(2)])
        >>> f = shared_mask(net)()
        >>> x = np.ones((4, 8), np.float32)
        >>> bool(np.array_equal(f(x), f(x)))
        True
    """
    states = [layer.seed_generator.state for layer in _dropout_layers(model)]

    def begin() -> Callable:
        start = [tf.identity(state.value) for state in states]

        def f(t):
            for state, value in zip(states, start):
                state.assign(value)
            return model(t, training=True)

        return f

    return begin


def make_train_step(
    model: keras.Model, optimizer: keras.optimizers.Optimizer, options: dict, penalty_weight: float,
    seed_generator: keras.random.SeedGenerator, direction_dropout: str = "shared",
) -> Callable:
    """A compiled step `step(x_labeled, y_labeled, x_unlabeled) -> logs`: cross-entropy + λ·smoothness.

    Args:
        model: The classifier (logits).
        optimizer: Its optimizer.
        options: `regularizer_options(...)`.
        penalty_weight: λ.
        seed_generator: Source of the perturbation noise (checkpointed with the model).
        direction_dropout: "shared" (one dropout mask for f(x), the probe and f(x̂), as VAT's code) or "off"
            (the direction from the model in inference mode); see the module docstring.

    Returns:
        A `tf.function` returning float32 scalars `loss`, `cross_entropy`, `penalty` (with the entropy term),
        `entropy`, `ratio_mean`, `ratio_max`, `train_accuracy`.

    Raises:
        ValueError: for an unknown `direction_dropout`.
    """
    if direction_dropout not in DIRECTION_DROPOUT:
        raise ValueError(f"`direction_dropout` must be one of {DIRECTION_DROPOUT}. "
                         f"Received: direction_dropout={direction_dropout!r}")
    begin = shared_mask(model)

    def f(t):
        return model(t, training=True)

    def f_inference(t):
        return model(t, training=False)

    @tf.function
    def step(x_labeled, y_labeled, x_unlabeled):
        with tf.GradientTape() as tape:
            logits = tf.cast(f(x_labeled), tf.float32)
            cross_entropy = tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y_labeled, logits=logits))
            f_unlabeled = begin() if direction_dropout == "shared" else f
            logits_u = f_unlabeled(x_unlabeled)
            result = virtual_adversarial_loss(
                f_unlabeled, x_unlabeled, fx=logits_u, seed=seed_generator, check_numerics=False,
                f_direction=f_inference if direction_dropout == "off" else None, **options)
            loss = cross_entropy + penalty_weight * result.penalty
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        log_p = tf.nn.log_softmax(tf.cast(logits_u, tf.float32))
        hits = tf.equal(tf.argmax(logits, axis=1), y_labeled)
        return {
            "loss": loss, "cross_entropy": cross_entropy, "penalty": result.penalty,
            "entropy": -tf.reduce_mean(tf.reduce_sum(tf.exp(log_p) * log_p, axis=1)),
            "ratio_mean": result.ratio_mean, "ratio_max": result.ratio_max,
            "train_accuracy": tf.reduce_mean(tf.cast(hits, tf.float32)),
        }

    return step


def accuracy(model: keras.Model, x: np.ndarray | None, y: np.ndarray | None, batch_size: int = 500) -> float:
    """Top-1 accuracy in inference mode, NaN for a missing set.

    Args:
        model: The classifier.
        x: float32 inputs, or None.
        y: int labels.
        batch_size: Images per forward pass.

    Returns:
        The accuracy in [0, 1], or NaN.
    """
    if x is None or len(x) == 0:
        return float("nan")
    hits = 0
    for start in range(0, len(x), batch_size):
        logits = model(x[start:start + batch_size], training=False)
        hits += int(np.sum(np.argmax(np.asarray(logits), axis=1) == y[start:start + batch_size]))
    return hits / len(x)


def _read_rows(path: str) -> list[dict]:
    if not os.path.exists(path):
        return []
    with open(path, newline="") as handle:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def train_method(method: str, data: dict, args: argparse.Namespace, progress: tqdm) -> dict:
    """Trains (or resumes) one method in `<run-dir>/<method>` and summarizes its log.

    Args:
        method: "vat" or "alr".
        data: Preprocessed arrays `x_labeled`, `y_labeled`, `x_unlabeled`, `x_val`, `y_val`, `x_test`, `y_test`,
            and `num_classes`.
        args: Parsed options.
        progress: The shared progress bar.

    Returns:
        The summary row (see `_SUMMARY_FIELDS`).
    """
    folder = os.path.join(args.run_dir, method)
    os.makedirs(folder, exist_ok=True)
    keras.utils.set_random_seed(args.seed)  # both methods start from the same weights
    model = conv_large(data["num_classes"], data["x_labeled"].shape[1:], width=args.width, dropout=args.dropout)
    optimizer = keras.optimizers.Adam(args.learning_rate)
    optimizer.build(model.trainable_variables)
    seed_generator = keras.random.SeedGenerator(args.seed)
    checkpoints = RunCheckpoints(os.path.join(folder, "checkpoints"), keep=2, model=model, optimizer=optimizer,
                                 seed_state=seed_generator.state)
    start = min(checkpoints.restore_latest(), args.steps)
    log_path = os.path.join(folder, "log.csv")
    kept = [r for r in _read_rows(log_path) if r["step"] <= start] if start else []
    reporting.write_rows(log_path, _LOG_FIELDS, kept)
    progress.update(start)
    step = make_train_step(model, optimizer, regularizer_options(method, args), args.penalty_weight, seed_generator,
                           args.direction_dropout)
    n_labeled, n_unlabeled = len(data["x_labeled"]), len(data["x_unlabeled"])
    began = time.perf_counter()
    sums: dict[str, float] = {}
    count = 0
    for index in range(start, args.steps):
        rng = np.random.default_rng([args.seed, index])  # batches keyed by step: a resumed run sees the same data
        labeled = rng.choice(n_labeled, min(args.batch_size, n_labeled), replace=False)
        unlabeled = rng.choice(n_unlabeled, min(args.unlabeled_batch_size, n_unlabeled), replace=False)
        logs = step(data["x_labeled"][labeled], data["y_labeled"][labeled], data["x_unlabeled"][unlabeled])
        values = {key: float(value) for key, value in logs.items()}
        bad = [key for key, value in values.items() if not math.isfinite(value)]
        if bad:
            raise FloatingPointError(f"{method}: {bad} became non-finite at step {index + 1}")
        for key, value in values.items():
            sums[key] = sums.get(key, 0.0) + value
        count += 1
        done = index + 1
        progress.update(1)
        if done % args.eval_every == 0 or done == args.steps:
            row = {"step": done, **{key: total / count for key, total in sums.items()},
                   "val_accuracy": accuracy(model, data["x_val"], data["y_val"], args.eval_batch_size),
                   "test_accuracy": accuracy(model, data["x_test"], data["y_test"], args.eval_batch_size)}
            reporting.write_rows(log_path, _LOG_FIELDS, [row], mode="a")
            progress.set_postfix(method=method, ce=f"{row['cross_entropy']:.3f}", val=f"{row['val_accuracy']:.3f}")
            sums, count = {}, 0
        if done % args.checkpoint_every == 0 or done == args.steps:
            checkpoints.save(done)
    log = _read_rows(log_path)
    if not log:
        raise RuntimeError(f"{log_path} is empty: the run has no evaluation to summarize")
    best = max(log, key=lambda r: (r["val_accuracy"], -r["step"]))
    return {
        "method": method, "best_val_accuracy": best["val_accuracy"], "best_step": int(best["step"]),
        "test_accuracy_at_best_val": best["test_accuracy"], "final_val_accuracy": log[-1]["val_accuracy"],
        "final_test_accuracy": log[-1]["test_accuracy"], "steps": args.steps,
        "seconds": time.perf_counter() - began,
    }


# ------------------------------------------------------------------------------------------ report, plots
_TABLE_HEADERS = ("method", "best val. acc. (%)", "at step", "test acc. at best val. (%)", "final val. acc. (%)",
                  "final test acc. (%)", "steps", "seconds")
_PERCENT_KEYS = ("best_val_accuracy", "test_accuracy_at_best_val", "final_val_accuracy", "final_test_accuracy")
_TABLE_FORMATS = (None, ".2f", None, ".2f", ".2f", ".2f", None, ".1f")


def markdown_table(rows: Sequence[dict]) -> str:
    """The summary as a Markdown table (accuracies in percent).

    Args:
        rows: Summary rows of `train_method`.

    Returns:
        The table text.

    Example:
        >>> print(markdown_table([]).splitlines()[0])  # doctest: +ELLIPSIS
        | method | best val. acc. (%) | ...
    """
    cells = []
    for row in rows:
        best_val, test_at_best, final_val, final_test = (100 * row[key] for key in _PERCENT_KEYS)
        cells.append([row["method"].upper(), best_val, row["best_step"], test_at_best, final_val, final_test,
                      row["steps"], row["seconds"]])
    return reporting.markdown_table(_TABLE_HEADERS, cells, formats=_TABLE_FORMATS)


def plot_curves(run_dir: str, methods: Sequence[str]) -> str:
    """Validation/test accuracy and the loss terms against steps per method; returns the PNG path."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for i, method in enumerate(methods):
        log = _read_rows(os.path.join(run_dir, method, "log.csv"))
        steps, name, color = [r["step"] for r in log], method.upper(), f"C{i}"
        axes[0].plot(steps, [100 * r["val_accuracy"] for r in log], color=color, label=f"{name} validation")
        axes[0].plot(steps, [100 * r["test_accuracy"] for r in log], "--", color=color, label=f"{name} test")
        axes[1].plot(steps, [r["cross_entropy"] for r in log], color=color, label=name)
        axes[2].plot(steps, [r["penalty"] for r in log], color=color, label=f"{name} smoothness + entropy")
        axes[2].plot(steps, [r["entropy"] for r in log], ":", color=color, label=f"{name} entropy")
    axes[0].set(xlabel="step", ylabel="accuracy (%)", title="accuracy")
    axes[1].set(xlabel="step", ylabel="cross-entropy", title="labeled loss")
    axes[2].set(xlabel="step", ylabel="value (before λ)", title="unlabeled terms")
    for ax in axes:
        ax.legend(fontsize=7)
    fig.tight_layout()
    path = os.path.join(run_dir, "curves.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options (see `--help`)."""
    parser = argparse.ArgumentParser(
        description="ALR paper appendix A.3: semi-supervised CIFAR-10 (4000 labels), VAT vs ALR on ConvLarge.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data-dir", required=True,
                        help="An .npz (x_train, y_train, x_test, y_test), a folder of class sub-folders "
                             "(optionally in train/ and test/), or a TFDS data_dir.")
    parser.add_argument("--dataset", default="cifar10", help="TFDS name for a TFDS data_dir.")
    parser.add_argument("--run-dir", default="runs/semi_supervised_alr", help="Output folder (resumed if it exists).")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--steps", type=int, default=48000, help="Training steps per method.")
    parser.add_argument("--labeled", type=int, default=4000, help="Labeled training images (balanced).")
    parser.add_argument("--validation", type=int, default=1000, help="Validation images (balanced).")
    parser.add_argument("--unlabeled", type=int, default=None,
                        help="Unlabeled images (balanced); default: all remaining (45000 for CIFAR-10).")
    parser.add_argument("--test-limit", type=int, default=None, help="Evaluate on at most this many test images.")
    parser.add_argument("--batch-size", type=int, default=32, help="Labeled images per step.")
    parser.add_argument("--unlabeled-batch-size", type=int, default=128, help="Unlabeled images per step.")
    parser.add_argument("--learning-rate", type=float, default=3e-4, help="Adam learning rate (fixed).")
    parser.add_argument("--width", type=int, default=128, help="ConvLarge width w (128 in the paper).")
    parser.add_argument("--dropout", type=float, default=0.5, help="ConvLarge dropout rate.")
    parser.add_argument("--penalty-weight", type=float, default=1.0, help="λ.")
    parser.add_argument("--entropy-weight", type=float, default=1.0, help="Weight of entropy minimization.")
    parser.add_argument("--vat-epsilon", type=float, default=8.0, help="VAT's fixed ε.")
    parser.add_argument("--alr-epsilon", type=float, nargs=2, default=[1.0, 10.0], metavar=("LOW", "HIGH"),
                        help="ALR's P_ε = U[LOW, HIGH].")
    parser.add_argument("--xi", type=float, default=1e-6, help="Power-iteration step ξ.")
    parser.add_argument("--power-iterations", type=int, default=1, help="k.")
    parser.add_argument("--direction-dropout", choices=DIRECTION_DROPOUT, default="shared",
                        help="Dropout while finding the adversarial direction: one mask per step shared by f(x), "
                             "the probe and f(x̂) (VAT's code), or off (inference mode).")
    parser.add_argument("--preprocess", choices=("zca", "scale"), default="zca",
                        help="ZCA whitening (VAT's CIFAR-10 setting) or scaling to [-1, 1].")
    parser.add_argument("--zca-epsilon", type=float, default=0.1,
                        help="Added to the covariance eigenvalues (images in [0, 1]) before ZCA whitening.")
    parser.add_argument("--eval-every", type=int, default=1000, help="Evaluation and CSV log interval.")
    parser.add_argument("--checkpoint-every", type=int, default=1000, help="Checkpoint interval.")
    parser.add_argument("--eval-batch-size", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")
    args = parser.parse_args(argv)
    for name in ("steps", "labeled", "batch_size", "unlabeled_batch_size", "width", "eval_every", "checkpoint_every",
                 "eval_batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.validation < 0 or not 0 <= args.dropout < 1 or not 0 < args.alr_epsilon[0] <= args.alr_epsilon[1]:
        parser.error("need --validation >= 0, 0 <= --dropout < 1 and 0 < LOW <= HIGH for --alr-epsilon")
    return args


def prepare_data(args: argparse.Namespace) -> dict:
    """Loads, splits and preprocesses the data; prints the split sizes.

    Args:
        args: Parsed options.

    Returns:
        A dict of float32 inputs and int64 labels (see `train_method`) plus `num_classes`.
    """
    x_train, y_train, x_test, y_test = load_labeled_images(args.data_dir, args.dataset)
    labeled, val, unlabeled = balanced_split(y_train, args.labeled, args.validation, args.unlabeled, seed=args.seed)
    if len(unlabeled) == 0:
        raise ValueError("No images left for the unlabeled set; lower --labeled or --validation")
    preprocess = Preprocessor(args.preprocess, args.zca_epsilon).fit(x_train)
    if x_test is not None and args.test_limit is not None:
        x_test, y_test = x_test[:args.test_limit], y_test[:args.test_limit]
    x_unlabeled = preprocess(x_train[unlabeled])
    # ε and ξ are in input units: show the scale they act on (VAT's ε = 8 assumes its ZCA-whitened CIFAR-10).
    norm = float(np.sqrt(np.mean(np.sum(np.square(x_unlabeled.reshape(len(x_unlabeled), -1)), axis=1))))
    print(f"Data: {len(labeled)} labeled, {len(unlabeled)} unlabeled, {len(val)} validation, "
          f"{0 if x_test is None else len(x_test)} test images of shape {x_train.shape[1:]}, "
          f"{len(np.unique(y_train))} classes, preprocessing {args.preprocess}, RMS input norm {norm:.2f}")
    return {
        "x_labeled": preprocess(x_train[labeled]), "y_labeled": y_train[labeled],
        "x_unlabeled": x_unlabeled,
        "x_val": preprocess(x_train[val]), "y_val": y_train[val],
        "x_test": None if x_test is None else preprocess(x_test), "y_test": y_test,
        "num_classes": int(y_train.max()) + 1,
    }


def main(argv: Sequence[str] | None = None) -> list[dict]:
    """Trains the chosen methods, writes the run directory, prints and returns the summary.

    Args:
        argv: Command-line arguments (`sys.argv[1:]` when None).

    Returns:
        One summary dict per method.

    Example:
        >>> rows = main(["--data-dir", "cifar10.npz", "--steps", "10", "--width", "4"])  # doctest: +SKIP
    """
    import matplotlib

    matplotlib.use("Agg")
    args = parse_args(argv)
    os.makedirs(args.run_dir, exist_ok=True)
    with open(os.path.join(args.run_dir, "args.json"), "w") as handle:
        json.dump(vars(args), handle, indent=2)
    data = prepare_data(args)
    rows = []
    with tqdm(total=len(args.methods) * args.steps, desc="semi-supervised", unit="step", disable=args.no_progress,
              dynamic_ncols=True, mininterval=0.5) as progress:
        for method in args.methods:
            rows.append(train_method(method, data, args, progress))
    plot_curves(args.run_dir, args.methods)
    table = markdown_table(rows)
    title = (f"Semi-supervised ({len(data['x_labeled'])} labels), ConvLarge width {args.width}, Adam "
             f"{args.learning_rate:g}, {args.steps} steps, data {args.data_dir}")
    reporting.write_summary(args.run_dir, title, table, rows, _SUMMARY_FIELDS)
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
