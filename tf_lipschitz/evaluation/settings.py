"""Names and defaults shared by the evaluation functions and their commands, importable without TensorFlow.

The `evaluate` and `inception-stats` commands build their parsers from these, so that `--help` and argument
errors answer before TensorFlow is imported.

Example:
    >>> EVALUATE_METRICS
    ('inception_score', 'inception_score_real', 'fid', 'kid')
"""

from __future__ import annotations

import argparse
from typing import Callable

__all__ = ["DEFAULT_BATCH_SIZE", "EVALUATE_METRICS", "int_at_least"]

DEFAULT_BATCH_SIZE = 64
EVALUATE_METRICS = ("inception_score", "inception_score_real", "fid", "kid")


def int_at_least(minimum: int, flag: str) -> Callable[[str], int]:
    """An argparse `type`: an int >= `minimum`; anything else is an error naming `flag`.

    Example:
        >>> parser = argparse.ArgumentParser(prog="evaluate", exit_on_error=False)
        >>> _ = parser.add_argument("--limit", type=int_at_least(2, "--limit"))
        >>> parser.parse_args(["--limit", "5"]).limit
        5
        >>> parser.parse_args(["--limit", "1"])
        Traceback (most recent call last):
        ...
        argparse.ArgumentError: argument --limit: must be >= 2, got 1
    """

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    parse.__name__ = flag
    return parse
