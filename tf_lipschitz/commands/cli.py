"""The `tf-lipschitz` command: `train` (the main job) and `evaluate` (IS/FID/KID on files or folders).

Each sub-command is a module of `tf_lipschitz.commands` that registers itself with `add_parser(subparsers)`,
setting the function that runs it as the `run` default. Only the module of the sub-command being run is
imported, so `--help` and argument errors answer at once (TensorFlow is imported when a job starts).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import MutableMapping, Sequence

# (sub-command, module providing `add_parser(subparsers)`, one-line help shown by `tf-lipschitz --help`)
_SUBCOMMANDS = (
    ("train", "tf_lipschitz.commands.train", "train a Lipschitz-regularized GAN (default: 2-D WGAN-ALP)"),
    ("evaluate", "tf_lipschitz.commands.evaluate", "Inception Score, FID and KID of .npz files or image folders"),
    ("fetch-inception", "tf_lipschitz.commands.fetch_inception", "download and convert the FID/KID Inception (once)"),
    ("inception-stats", "tf_lipschitz.commands.inception_stats", "write the FID statistics of a real image set"),
)


def build_parser(commands: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """Builds the argument parser of `tf-lipschitz`.

    Args:
        commands: The sub-commands whose modules are imported to define their flags; the others are only
            listed by name and help. None: all of them.

    Returns:
        The `argparse.ArgumentParser` of `tf-lipschitz`.

    Example:
        >>> build_parser([]).prog
        'tf-lipschitz'
    """
    parser = argparse.ArgumentParser(prog="tf-lipschitz", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, module, summary in _SUBCOMMANDS:
        if commands is None or name in commands:
            try:
                importlib.import_module(module).add_parser(subparsers)
                continue
            except ModuleNotFoundError as err:
                if err.name != module:
                    raise
        subparsers.add_parser(name, help=summary, add_help=False)
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
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = [argv[0]] if argv and argv[0] in {name for name, _, _ in _SUBCOMMANDS} else []
    args = build_parser(chosen).parse_args(argv)
    quiet_tensorflow(getattr(args, "verbose", None) == 2)
    return int(args.run(args) or 0)


def quiet_tensorflow(show: bool = False, environ: MutableMapping[str, str] | None = None) -> None:
    """Hides TensorFlow's C++ log lines (CUDA probing on CPU machines, iterator clean-up at exit) unless shown.

    Sets `TF_CPP_MIN_LOG_LEVEL=3` before TensorFlow is imported, unless the user set it or `show` is true
    (`tf-lipschitz train --verbose 2`). Errors that matter reach the command as Python exceptions.

    Args:
        show: Leave TensorFlow's logging as it is.
        environ: The environment to change (default `os.environ`).

    Example:
        >>> env = {}
        >>> quiet_tensorflow(environ=env); env
        {'TF_CPP_MIN_LOG_LEVEL': '3'}
        >>> env = {"TF_CPP_MIN_LOG_LEVEL": "0"}
        >>> quiet_tensorflow(environ=env); env
        {'TF_CPP_MIN_LOG_LEVEL': '0'}
    """
    environ = os.environ if environ is None else environ
    if not show:
        environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
