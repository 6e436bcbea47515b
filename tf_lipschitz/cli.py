"""The `tf-lipschitz` command: `train` (the main job) and `evaluate` (IS/FID/KID on files or folders).

Each sub-command lives beside the code it drives and registers itself with `add_parser(subparsers)`,
returning the function that runs it.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Sequence

# (sub-command, module providing `add_parser(subparsers) -> callable(args) -> int`)
_SUBCOMMANDS = (
    ("train", "tf_lipschitz.train_command"),
    ("evaluate", "tf_lipschitz.evaluation.command"),
)


def build_parser() -> argparse.ArgumentParser:
    """Builds the argument parser with every available sub-command.

    Returns:
        The `argparse.ArgumentParser` of `tf-lipschitz`.

    Example:
        >>> build_parser().prog
        'tf-lipschitz'
    """
    parser = argparse.ArgumentParser(prog="tf-lipschitz", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for _name, module in _SUBCOMMANDS:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name != module:
                raise
            continue
        mod.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `tf-lipschitz` and `python -m tf_lipschitz`.

    Args:
        argv: Arguments without the program name; `sys.argv[1:]` when None.

    Returns:
        The process exit code.

    Example:
        >>> main(["--help"])  # doctest: +SKIP
    """
    args = build_parser().parse_args(argv)
    return int(args.run(args) or 0)
