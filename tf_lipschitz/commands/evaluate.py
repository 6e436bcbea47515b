"""`tf-lipschitz evaluate`: Inception Score, FID and KID of image files or folders.

Example:
    tf-lipschitz evaluate --real cifar10_test.npz --fake samples/ --classifier ./tfgan_inception_1

Each of `--real` and `--fake` is an `.npz` (the array named by `--real-key`/`--fake-key`, else the only
or a usual one), an `.npy`, or a folder of image files. `--real` may also be a statistics file written
by `tf-lipschitz inception-stats` (FID only; it must come from the same classifier). Without
`--classifier`, FID and KID use the standard Inception network prepared by `tf-lipschitz fetch-inception`,
and the default metrics are `fid,kid` (the Inception Score needs TF-GAN's Inception with its logits:
ask for it with `--metrics`). Results are printed one `name: value` per line, and written as JSON with
`--json` (NaN as null). `--limit N` uses the first N images of each set. `--help` and argument errors
answer before TensorFlow is imported; a progress bar follows each set through the classifier.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from typing import Callable

from tf_lipschitz.evaluation.settings import DEFAULT_BATCH_SIZE, EVALUATE_METRICS, int_at_least
from tf_lipschitz.evaluation.statistics import fingerprint_path, is_statistics_file, load_statistics_file

__all__ = ["add_parser", "run"]

_DEFAULT_METRICS = ("inception_score", "fid", "kid")


def add_parser(subparsers) -> Callable[[argparse.Namespace], int]:
    """Adds the `evaluate` sub-command to the `tf-lipschitz` parser.

    Args:
        subparsers: The object returned by `ArgumentParser.add_subparsers()`.

    Returns:
        `run`, also set as the sub-parser's `run` default.

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> _ = add_parser(parser.add_subparsers())
        >>> parser.parse_args(["evaluate", "--fake", "f.npz"]).metrics is None
        True
    """
    parser = subparsers.add_parser(
        "evaluate",
        help="Inception Score, FID and KID of .npz files or image folders.",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument(
        "--real", help="Real images: .npz, .npy or folder (needed for FID and KID), or an inception-stats file."
    )
    parser.add_argument("--fake", required=True, help="Generated images: .npz, .npy or folder.")
    parser.add_argument("--real-key", help="Array of the real .npz to use.")
    parser.add_argument("--fake-key", help="Array of the fake .npz to use.")
    parser.add_argument(
        "--classifier",
        help="SavedModel folder, TF-Hub module folder or .keras file; default the standard Inception "
        "(prepared by fetch-inception for FID/KID; TF-Hub for the Inception Score).",
    )
    parser.add_argument(
        "--metrics",
        help=f"Comma-separated subset of {','.join(EVALUATE_METRICS)} (default: fid,kid without --classifier, "
        f"{','.join(_DEFAULT_METRICS)} with it; fid for a statistics file; inception_score without --real).",
    )
    parser.add_argument("--limit", type=int_at_least(2, "--limit"),
                        help="Use only the first LIMIT images of each set (at least 2).")
    parser.add_argument("--num-splits", type=int_at_least(1, "--num-splits"), default=10,
                        help="Inception Score splits.")
    parser.add_argument("--batch-size", type=int_at_least(1, "--batch-size"), default=DEFAULT_BATCH_SIZE,
                        help="Images per classifier call.")
    parser.add_argument("--max-block-size", type=int_at_least(2, "--max-block-size"), default=1024,
                        help="KID block size.")
    parser.add_argument(
        "--dataset", help="Name of the real set: its FID statistics are cached (keyed on the name, the --real "
        "file's content and the classifier's weights), and reused on later runs."
    )
    parser.add_argument("--cache-dir", help="Folder of cached statistics (default ~/.cache/tf_lipschitz/fid_stats).")
    parser.add_argument("--json", dest="json_path", help="Also write the results to this JSON file.")
    parser.add_argument("--quiet", action="store_true", help="No progress bars.")
    parser.set_defaults(run=run)
    return run


def run(args: argparse.Namespace) -> int:
    """Runs `tf-lipschitz evaluate` with parsed arguments; prints the scores.

    Args:
        args: Namespace from the parser built by `add_parser`.

    Returns:
        0 on success; 2 on a usage error, invalid images or a classifier that cannot be loaded
        (message on stderr).

    Example:
        >>> from tf_lipschitz.commands.cli import main
        >>> main(["evaluate", "--real", "x.npz", "--fake", "samples/"])  # doctest: +SKIP
    """
    for flag, path in (("--fake", args.fake), ("--real", args.real)):
        if path is not None and not os.path.exists(path):
            print(f"tf-lipschitz evaluate: error: {flag} {path!r} does not exist.", file=sys.stderr)
            return 2
    real_is_statistics = args.real is not None and is_statistics_file(args.real)
    metrics = _metrics(args, real_is_statistics)
    if not metrics:
        print("tf-lipschitz evaluate: nothing to compute; FID, KID and the real IS need --real.", file=sys.stderr)
        return 2
    unknown = sorted(set(metrics) - set(EVALUATE_METRICS))
    if unknown:
        print(f"tf-lipschitz evaluate: error: --metrics: unknown {', '.join(unknown)}; choose among "
              f"{','.join(EVALUATE_METRICS)}.", file=sys.stderr)
        return 2
    if not args.quiet:
        print("tf-lipschitz evaluate: loading TensorFlow and the classifier...", file=sys.stderr, flush=True)
    from tf_lipschitz.evaluation.classifiers import load_classifier  # TensorFlow: only once the arguments are fine
    from tf_lipschitz.evaluation.images import load_images
    from tf_lipschitz.evaluation.metrics import evaluate

    if not args.quiet:  # say which value range was detected
        logger = logging.getLogger("tf_lipschitz.evaluation")
        logger.setLevel(logging.INFO)
        if not logger.handlers:
            logger.addHandler(logging.StreamHandler())
    try:
        classifier = load_classifier(args.classifier, needs_logits=any(m.startswith("inception") for m in metrics))
        if real_is_statistics:
            real, stored_classifier = load_statistics_file(args.real)
            if stored_classifier is not None and stored_classifier != classifier.name:
                raise ValueError(
                    f"{args.real} holds statistics of classifier {stored_classifier!r}, not of {classifier.name!r}."
                )
        else:  # read only on a cache miss; the cache key hashes the file's bytes, the key and the limit
            real = (lambda: _first(load_images(args.real, args.real_key), args.limit)) if args.real else None
        fake = _first(load_images(args.fake, args.fake_key), args.limit)
        fingerprint = None
        if args.dataset and args.real and not real_is_statistics:
            fingerprint = fingerprint_path(args.real, args.real_key, args.limit)
        results = evaluate(
            real,
            fake,
            classifier_fn=classifier,
            metrics=metrics,
            num_splits=args.num_splits,
            batch_size=args.batch_size,
            max_block_size=args.max_block_size,
            dataset=args.dataset,
            cache_dir=args.cache_dir,
            verbose=not args.quiet,
            real_fingerprint=fingerprint,
        )
    except (ValueError, RuntimeError) as err:  # bad inputs or no classifier: a message, not a traceback
        print(f"tf-lipschitz evaluate: error: {err}", file=sys.stderr)
        return 2
    for name, value in results.items():
        print(f"{name}: {value:.6g}")
    if args.json_path:
        with open(args.json_path, "w") as handle:
            # NaN (KID's standard error with a single block) is not JSON: written as null.
            json.dump({k: None if math.isnan(v) else v for k, v in results.items()}, handle, indent=2)
    return 0


def _first(images, limit: int | None):
    """The first `limit` images (all without a limit); arrays and `ImageFolder`s slice alike."""
    return images if limit is None else images[:limit]


def _metrics(args: argparse.Namespace, real_is_statistics: bool) -> list[str]:
    """The metrics asked for, or the defaults described in the module docstring."""
    if args.metrics is not None:
        metrics = [name.strip() for name in args.metrics.split(",") if name.strip()]
    elif real_is_statistics:
        metrics = ["fid"]
    elif args.real is None or args.classifier is not None:
        metrics = list(_DEFAULT_METRICS)
    else:
        metrics = ["fid", "kid"]
    if args.real is None:
        metrics = [name for name in metrics if name == "inception_score"]
    return metrics
