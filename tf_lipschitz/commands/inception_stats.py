"""`tf-lipschitz inception-stats`: writes the FID statistics of a real image set to a file.

Example:
    tf-lipschitz inception-stats --data mnist.npz --split test --out mnist_test_stats.npz
    tf-lipschitz evaluate --real mnist_test_stats.npz --fake samples.npz

`--data` is an `.npz` (with `--split train|test`, the array `x_train`/`x_test` of the MNIST and
Fashion-MNIST layout; or `--key`), an `.npy`, or a folder of image files. The pool_3 features of the
images go through the standard Inception network (prepared by `tf-lipschitz fetch-inception`) or
`--classifier`, in batches; the file holds `mean`, `covariance`, `count`, and the `dataset` and
`classifier` names, which `evaluate --real` checks.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable

from tf_lipschitz.evaluation.settings import DEFAULT_BATCH_SIZE, int_at_least
from tf_lipschitz.evaluation.statistics import save_statistics

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> Callable[[argparse.Namespace], int]:
    """Adds the `inception-stats` sub-command to the `tf-lipschitz` parser.

    Args:
        subparsers: The object returned by `ArgumentParser.add_subparsers()`.

    Returns:
        `run`, also set as the sub-parser's `run` default.

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> _ = add_parser(parser.add_subparsers())
        >>> parser.parse_args(["inception-stats", "--data", "m.npz", "--split", "test", "--out", "s.npz"]).split
        'test'
    """
    parser = subparsers.add_parser(
        "inception-stats",
        help="Write the FID statistics (mean, covariance) of a real image set.",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("--data", required=True, help="Images: .npz, .npy or a folder of image files.")
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--split", choices=("train", "test"), help="Use the array x_<split> of the .npz.")
    choice.add_argument("--key", help="Array of the .npz to use.")
    parser.add_argument("--limit", type=int_at_least(2, "--limit"),
                        help="Use only the first LIMIT images (at least 2).")
    parser.add_argument("--out", required=True, help="Statistics file to write (.npz).")
    parser.add_argument("--classifier", help="SavedModel folder or .keras file; default the standard Inception.")
    parser.add_argument("--batch-size", type=int_at_least(1, "--batch-size"), default=DEFAULT_BATCH_SIZE,
                        help="Images per classifier call.")
    parser.add_argument("--quiet", action="store_true", help="No progress bar.")
    parser.set_defaults(run=run)
    return run


def run(args: argparse.Namespace) -> int:
    """Runs `tf-lipschitz inception-stats`; prints the file written and the number of images.

    Args:
        args: Namespace from the parser built by `add_parser`.

    Returns:
        0 on success; 2 on invalid images, arguments or a classifier that cannot be loaded (message on stderr).

    Example:
        >>> from tf_lipschitz.commands.cli import main
        >>> main(["inception-stats", "--data", "mnist.npz", "--split", "test", "--out", "s.npz"])  # doctest: +SKIP
    """
    if not os.path.exists(args.data):
        print(f"tf-lipschitz inception-stats: error: --data {args.data!r} does not exist.", file=sys.stderr)
        return 2
    if not args.quiet:
        print("tf-lipschitz inception-stats: loading TensorFlow and the classifier...", file=sys.stderr, flush=True)
    from tf_lipschitz.evaluation.classifiers import load_classifier  # TensorFlow: only once the arguments are fine
    from tf_lipschitz.evaluation.images import load_images
    from tf_lipschitz.evaluation.metrics import compute_statistics

    try:
        key = f"x_{args.split}" if args.split else args.key
        images = load_images(args.data, key)
        if args.limit is not None:
            images = images[: args.limit]
        classifier = load_classifier(args.classifier)
        stats = compute_statistics(images, classifier_fn=classifier, batch_size=args.batch_size, verbose=not args.quiet)
    except (ValueError, RuntimeError, FileNotFoundError) as err:
        print(f"tf-lipschitz inception-stats: error: {err}", file=sys.stderr)
        return 2
    dataset = f"{args.data}" + (f"[{key}]" if key else "") + (f"[:{args.limit}]" if args.limit is not None else "")
    save_statistics(args.out, stats, dataset=dataset, classifier=classifier.name)
    print(f"{args.out}: {stats.count} images, classifier {classifier.name}")
    return 0
