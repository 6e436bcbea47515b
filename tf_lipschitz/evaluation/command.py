"""`tf-lipschitz evaluate`: Inception Score, FID and KID of image files or folders.

Example:
    tf-lipschitz evaluate --real cifar10_test.npz --fake samples/ --classifier ./tfgan_inception_1

Each of `--real` and `--fake` is an `.npz` (the array named by `--real-key`/`--fake-key`, else the only
or a usual one), an `.npy`, or a folder of image files. Results are printed one `name: value` per line,
and written as JSON with `--json` (NaN as null).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from typing import Callable

from tf_lipschitz.evaluation.images import load_images
from tf_lipschitz.evaluation.metrics import DEFAULT_BATCH_SIZE, EVALUATE_METRICS, evaluate

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
        >>> parser.parse_args(["evaluate", "--fake", "f.npz"]).metrics
        'inception_score,fid,kid'
    """
    parser = subparsers.add_parser(
        "evaluate",
        help="Inception Score, FID and KID of .npz files or image folders.",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("--real", help="Real images: .npz, .npy or folder (needed for FID and KID).")
    parser.add_argument("--fake", required=True, help="Generated images: .npz, .npy or folder.")
    parser.add_argument("--real-key", help="Array of the real .npz to use.")
    parser.add_argument("--fake-key", help="Array of the fake .npz to use.")
    parser.add_argument(
        "--classifier",
        help="SavedModel folder, TF-Hub module folder or .keras file; default TF-GAN's Inception from TF-Hub.",
    )
    parser.add_argument(
        "--metrics",
        default=",".join(_DEFAULT_METRICS),
        help=f"Comma-separated subset of {','.join(EVALUATE_METRICS)} (default: %(default)s).",
    )
    parser.add_argument("--num-splits", type=int, default=10, help="Inception Score splits.")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="Images per classifier call.")
    parser.add_argument("--max-block-size", type=int, default=1024, help="KID block size.")
    parser.add_argument(
        "--dataset", help="Name of the real set: its FID statistics are cached, and reused on later runs."
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
        >>> from tf_lipschitz.cli import main
        >>> main(["evaluate", "--real", "x.npz", "--fake", "samples/"])  # doctest: +SKIP
    """
    metrics = [name.strip() for name in args.metrics.split(",") if name.strip()]
    if args.real is None:
        metrics = [name for name in metrics if name == "inception_score"]
    if not metrics:
        print("tf-lipschitz evaluate: nothing to compute; FID, KID and the real IS need --real.", file=sys.stderr)
        return 2
    for flag, path in (("--fake", args.fake), ("--real", args.real)):
        if path is not None and not os.path.exists(path) and not (flag == "--real" and args.dataset):
            print(f"tf-lipschitz evaluate: error: {flag} {path!r} does not exist.", file=sys.stderr)
            return 2
    if not args.quiet:  # say which value range was detected
        logger = logging.getLogger("tf_lipschitz.evaluation")
        logger.setLevel(logging.INFO)
        if not logger.handlers:
            logger.addHandler(logging.StreamHandler())
    try:
        fake = load_images(args.fake, args.fake_key)
        results = evaluate(
            (lambda: load_images(args.real, args.real_key)) if args.real else None,  # not read on a cache hit
            fake,
            classifier_fn=args.classifier,
            metrics=metrics,
            num_splits=args.num_splits,
            batch_size=args.batch_size,
            max_block_size=args.max_block_size,
            dataset=args.dataset,
            cache_dir=args.cache_dir,
            verbose=not args.quiet,
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
