"""`tf-lipschitz train`: the main job.

With no arguments it trains a WGAN-ALP on the 8-Gaussians toy (embedded, no download) in a few minutes on two
CPU cores, showing the exact W1 between generated and real samples as it goes and writing a plot of samples
and critic contours. With `--dataset mnist|fashion_mnist|cifar10|folder --data-dir PATH` it trains the
DCGAN-style nets of "How does Lipschitz regularization influence GAN training?" on real images (the default
MNIST run takes about 15 minutes on two CPU cores). `--model` picks WGAN-ALP, WGAN-GP or an SN-GAN
(spectral-normalized critic, non-saturating loss).

The run directory records the run's arguments (args.json). Restarted with the same arguments, a run resumes
from its newest good checkpoint; a finished run says so and prints its summary again. Other arguments are
refused unless you pass --resume-anyway (continue with the new ones) or --overwrite (start over).
"""


from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import signal
import sys
import threading
from typing import MutableMapping

from tf_lipschitz.foundations.defaults import MODELS, N_CRITIC, STRATEGIES, TOY_DISTRIBUTIONS
from tf_lipschitz.foundations.validation import check_float, check_int
from tf_lipschitz.foundations.run_lock import RunDirLock, RunDirLockedError

# This module imports no TensorFlow, so that `--help` and argument errors answer at once: `run` checks the flags,
# holds the run directory's lock and prepares it, then hands over to `tf_lipschitz.commands.train_job`, which
# builds and trains.

DATASETS = ("toy", "mnist", "fashion_mnist", "cifar10", "folder")
# The toy distributions a run can train on: all but the two-Gaussians check.
TOYS = tuple(name for name in TOY_DISTRIBUTIONS if name != "two_gaussians")
# Defaults that depend on the data: (toy, images). The image ones make the default MNIST run about 15 minutes.
DEFAULTS = {"steps": (1000, 4000), "batch_size": (256, 64), "lr": (1e-4, 2e-4)}
DEFAULT_WIDTH = 16
# Seconds per generator step measured at the defaults above on two idle CPU cores (README, "The command"):
# the start-of-run estimate scales them by batch × n_critic (and width² for images).
SECONDS_PER_STEP = {"toy": 0.05, "images": 0.2}
STARTUP_SECONDS = 15  # building the nets and tracing the train step
# The arguments a run directory records (args.json); a run resumes only when they are the same.
RECORDED = ("dataset", "toy", "data_dir", "model", "steps", "batch_size", "n_critic", "lr", "width",
            "checkpoint_every", "eval_samples", "seed", "jit", "strategy")
# Recorded arguments that shape the networks: a checkpoint cannot be restored into others, even with --resume-anyway.
FIXED = ("dataset", "model", "width")
# What a run writes into its directory: removed by --overwrite (nothing else is touched).
RUN_FILES = ("args.json", "checkpoints", "log.csv", "final.weights.npz", "summary.md", "samples",
             "samples_and_critic.png")


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the description's paragraphs as written."""


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Adds the `train` sub-command; every flag's help shows its default.

    Args:
        subparsers: The `add_subparsers()` object of the `tf-lipschitz` parser.

    Returns:
        The new sub-parser.

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> _ = add_parser(parser.add_subparsers())
        >>> parser.parse_args(["train"]).steps is None  # resolved per dataset by `settings`
        True
    """
    parser = subparsers.add_parser("train", help="train a Lipschitz-regularized GAN (default: 2-D WGAN-ALP)",
                                   description=__doc__, formatter_class=_HelpFormatter)
    steps, batch, lr = (DEFAULTS[key] for key in ("steps", "batch_size", "lr"))
    add = parser.add_argument
    add("--dataset", choices=DATASETS, default="toy", help="training data (default: %(default)s)")
    add("--toy", choices=TOYS, help="toy distribution for --dataset toy (default: 8gaussians)")
    add("--data-dir", help="an .npz (keras layout: x_train), an image folder, or a TFDS data_dir; "
        "needed by --dataset folder, refused by --dataset toy (default: TFDS's own folder)")
    add("--model", choices=MODELS, default="wgan-alp", help="GAN model (default: %(default)s)")
    add("--steps", type=int, help=f"generator steps (default: {steps[0]} toy, {steps[1]} images)")
    add("--batch-size", type=int, help=f"critic batch (default: {batch[0]} toy, {batch[1]} images)")
    add("--n-critic", type=int, default=N_CRITIC, help="critic updates per generator step (default: %(default)s)")
    add("--lr", type=float, help=f"Adam learning rate (default: {lr[0]:g} toy, {lr[1]:g} images)")
    add("--width", type=int, default=DEFAULT_WIDTH,
        help="base width of the image nets; step time grows as its square (default: %(default)s)")
    add("--checkpoint-every", type=int, default=100,
        help="checkpoint, log.csv and sample interval in steps; the last step is saved too (default: %(default)s)")
    add("--run-dir", help="run directory (default: runs/<toy or dataset>-<model>)")
    add("--resume-anyway", action="store_true",
        help="continue the run in --run-dir although its recorded arguments differ; a new --lr is applied to the "
        "restored optimizers, other networks (--dataset, --model, --width) are refused (default: refuse)")
    add("--overwrite", action="store_true",
        help="delete what an earlier run wrote in --run-dir and start over (default: refuse)")
    add("--eval-samples", type=int, default=1000, help="samples per side of the toy's exact W1 (default: %(default)s)")
    add("--seed", type=int, default=0, help="seed of weights, data order and noise (default: %(default)s)")
    add("--jit", action="store_true", help="compile the train step with XLA (default: off)")
    add("--strategy", choices=STRATEGIES, default="auto",
        help="tf.distribute strategy; auto: multi-worker when TF_CONFIG is set (README) (default: %(default)s)")
    add("--connect-timeout", type=float, default=300.0,
        help="multi-worker: seconds to wait for every worker of TF_CONFIG before giving up (default: %(default)s)")
    add("--verbose", type=int, default=1, choices=(0, 1, 2),
        help="0 silent, 1 progress bar (plain lines when not a terminal), 2 plain lines and TensorFlow's own log "
        "lines, which are hidden otherwise unless TF_CPP_MIN_LOG_LEVEL is set (default: %(default)s)")
    parser.set_defaults(run=run)
    return parser


def settings(args: argparse.Namespace) -> dict:
    """The run's arguments, checked and with the data-dependent defaults filled in (no TensorFlow needed).

    Args:
        args: Parsed `train` arguments.

    Returns:
        A dict with the keys of `RECORDED` (`data_dir` made absolute) plus "run_dir".

    Raises:
        ValueError: naming the flag and the received value, e.g. "`--steps` must be an integer >= 1.
            Received: --steps=0".

    Example:
        >>> from tf_lipschitz.commands.cli import build_parser
        >>> settings(build_parser(["train"]).parse_args(["train", "--steps", "50"]))["batch_size"]
        256
    """
    toy = args.dataset == "toy"
    pick = 0 if toy else 1
    value = {key: getattr(args, key) for key in RECORDED}
    for key in ("steps", "batch_size", "lr"):
        if value[key] is None:
            value[key] = DEFAULTS[key][pick]
    for key in ("steps", "batch_size", "n_critic", "width", "checkpoint_every"):
        check_int(_flag(key), value[key])
    check_int("--eval-samples", value["eval_samples"], minimum=2)
    check_int("--seed", value["seed"], minimum=0)
    value["lr"] = check_float("--lr", value["lr"])
    if getattr(args, "connect_timeout", None) is not None:
        check_float("--connect-timeout", args.connect_timeout)
    if toy:
        if args.data_dir is not None:
            raise ValueError(f"--dataset toy draws its own samples and reads no files, but --data-dir "
                             f"{args.data_dir!r} was given; pick the toy with --toy, or pass an image --dataset.")
        value["toy"] = args.toy or TOYS[0]
    else:
        if args.toy is not None:
            raise ValueError(f"--toy {args.toy} is for --dataset toy; --dataset is {args.dataset}.")
        if args.data_dir is None and args.dataset == "folder":
            raise ValueError("--dataset folder needs --data-dir (a folder of image files).")
        if args.data_dir is not None:
            if not os.path.exists(args.data_dir):
                raise ValueError(f"--data-dir {args.data_dir!r} does not exist.")
            value["data_dir"] = os.path.abspath(args.data_dir)
    value["run_dir"] = args.run_dir or os.path.join("runs", f"{value['toy'] if toy else args.dataset}-{args.model}")
    return value


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def expected_seconds(config: dict) -> float:
    """The expected run time: start-up plus the measured pace of the defaults (`SECONDS_PER_STEP`), scaled.

    Example:
        >>> round(expected_seconds({"dataset": "toy", "steps": 1000, "batch_size": 256, "n_critic": 5}))
        65
    """
    toy = config["dataset"] == "toy"
    scale = config["batch_size"] * config["n_critic"] / (DEFAULTS["batch_size"][0 if toy else 1] * 5)
    if not toy:
        scale *= (config["width"] / DEFAULT_WIDTH) ** 2
    return STARTUP_SECONDS + config["steps"] * SECONDS_PER_STEP["toy" if toy else "images"] * scale


def prepare_run_dir(config: dict, *, resume_anyway: bool = False, overwrite: bool = False) -> str:
    """Checks the run directory against the run's arguments and records them.

    Args:
        config: `settings(args)`.
        resume_anyway: Continue although the recorded arguments differ (the new ones are recorded).
        overwrite: Remove what an earlier run wrote (`RUN_FILES`) and start over.

    Returns:
        "new", "resume" or "finished" (same arguments and a summary: nothing to train).

    Raises:
        ValueError: when the directory holds a run with other (or unrecorded) arguments, listing the
            differences and the ways on.

    Example:
        >>> prepare_run_dir({"run_dir": "runs/toy", "steps": 10})  # doctest: +SKIP
        'new'
    """
    run_dir = config["run_dir"]
    recorded_path = os.path.join(run_dir, "args.json")
    wanted = {key: config[key] for key in RECORDED}
    if overwrite:
        for name in RUN_FILES:
            path = os.path.join(run_dir, name)
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.exists(path):
                os.remove(path)
    checkpoints = os.path.join(run_dir, "checkpoints")
    started = os.path.isdir(checkpoints) and any(name.startswith("step-") for name in os.listdir(checkpoints))
    recorded, unreadable = _read_recorded(recorded_path)
    state = "new"
    if started or recorded is not None or unreadable:  # args.json is written first: a run started before
        if recorded == wanted:
            state = "finished" if os.path.exists(os.path.join(run_dir, "summary.md")) else "resume"
        elif not resume_anyway:
            if unreadable:
                what = f"holds a run whose {unreadable}"
            elif recorded is None:
                what = "holds a run without recorded arguments (args.json)"
            else:
                what = "holds a run with other arguments: " + ", ".join(
                    f"{_flag(key)} {recorded.get(key)!r} there, {wanted[key]!r} now"
                    for key in RECORDED if recorded.get(key) != wanted[key])
            raise ValueError(f"{run_dir} {what}. Pass another --run-dir for a new run, --resume-anyway to continue "
                             "that run with these arguments, or --overwrite to start over in it.")
        else:
            changed = [key for key in FIXED if recorded is not None and recorded.get(key) != wanted[key]]
            if changed:
                raise ValueError(
                    f"{run_dir} holds a run with other networks: " + ", ".join(
                        f"{_flag(key)} {recorded.get(key)!r} there, {wanted[key]!r} now" for key in changed)
                    + ". Its checkpoints cannot be loaded into these; --resume-anyway continues a run with the "
                    "same networks only. Pass another --run-dir, or --overwrite to start over in it.")
            state = "resume"
            if unreadable:
                print(f"tf-lipschitz train: the run's {unreadable}; --resume-anyway: continuing with these "
                      "arguments and recording them anew.")
            if os.path.exists(os.path.join(run_dir, "summary.md")):
                os.remove(os.path.join(run_dir, "summary.md"))
    os.makedirs(run_dir, exist_ok=True)
    # Atomic: every worker of a multi-worker run writes the same arguments here, and a worker may be killed mid-write.
    partial = f"{recorded_path}.{os.getpid()}.tmp"
    with open(partial, "w") as handle:
        json.dump(wanted, handle, indent=2)
    os.replace(partial, recorded_path)
    return state


def _read_recorded(path: str) -> tuple[dict | None, str]:
    """The arguments recorded in `args.json` (None when absent), and why it is unusable ("" when it is not)."""
    if not os.path.exists(path):
        return None, ""
    try:
        with open(path) as handle:
            recorded = json.load(handle)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        return None, f"recorded arguments {path} cannot be read ({err})"
    if not isinstance(recorded, dict):
        return None, f"recorded arguments {path} are not a JSON object (found {type(recorded).__name__})"
    return recorded, ""


def run(args: argparse.Namespace) -> int:
    """Runs `tf-lipschitz train` with parsed arguments.

    Args:
        args: The parsed arguments.

    Returns:
        0 on success (or for a finished run), 1 when training diverged or the peers of a multi-worker run
        never came, 2 for a usage or data error (or a run directory held by another process), 128 + the
        signal's number after SIGINT/SIGTERM (the step's checkpoint is saved first).

    Example:
        >>> from tf_lipschitz.commands.cli import build_parser
        >>> run(build_parser(["train"]).parse_args(["train", "--steps", "50"]))  # doctest: +SKIP
        0
    """
    try:
        config = settings(args)
    except ValueError as err:
        print(f"tf-lipschitz train: error: {err}", file=sys.stderr)
        return 2
    try:
        lock = RunDirLock(config["run_dir"])
    except RunDirLockedError as err:
        print(f"tf-lipschitz train: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"tf-lipschitz train: error: {_cannot_write(err)}", file=sys.stderr)
        return 2
    if lock.stale_pid:
        print(f"{lock.path} named PID {lock.stale_pid}, which no longer runs: taking the run directory over.")
    if default_onednn():
        print("tf-lipschitz train: TensorFlow's oneDNN kernels are on (TF_ENABLE_ONEDNN_OPTS=1, faster on the CPUs "
              "measured); results may differ slightly from runs without them because of floating-point round-off "
              "from different computation orders. Set TF_ENABLE_ONEDNN_OPTS=0 to turn them off.")
    previous = signal.getsignal(signal.SIGTERM)
    if threading.current_thread() is threading.main_thread():  # SIGTERM before training starts: like Ctrl-C
        signal.signal(signal.SIGTERM, _terminated)
    try:
        return _run_locked(args, config)
    except (KeyboardInterrupt, _Terminated) as err:
        print("tf-lipschitz train: interrupted before training started (nothing to save); rerun the same command "
              "to resume.", file=sys.stderr)
        return 128 + (signal.SIGTERM if isinstance(err, _Terminated) else signal.SIGINT)
    finally:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, previous)
        lock.release()


def default_onednn(environ: MutableMapping[str, str] | None = None) -> bool:
    """Turns TensorFlow's oneDNN CPU kernels on where the user has not chosen; call it before TensorFlow loads.

    TensorFlow enables them by default only on CPUs with some instruction sets; on an AMD EPYC where it
    leaves them off, the toy job ran 1.5x faster with them (README, "Speed"). Where they are on already,
    this changes nothing.

    Args:
        environ: The environment to change (default `os.environ`).

    Returns:
        Whether it set `TF_ENABLE_ONEDNN_OPTS=1` (False when the variable was set already).

    Example:
        >>> env = {}
        >>> default_onednn(env), env
        (True, {'TF_ENABLE_ONEDNN_OPTS': '1'})
        >>> default_onednn({"TF_ENABLE_ONEDNN_OPTS": "0"})
        False
    """
    environ = os.environ if environ is None else environ
    if "TF_ENABLE_ONEDNN_OPTS" in environ:
        return False
    environ["TF_ENABLE_ONEDNN_OPTS"] = "1"
    return True


class _Terminated(Exception):
    """SIGTERM arrived while the run was being set up."""


def _terminated(signum, frame):
    raise _Terminated


def _cannot_write(err: OSError) -> str:
    """The message of an `OSError` met while writing the run directory: the file, the reason, what next."""
    where = err.filename or "the run directory"
    return (f"cannot write {where} ({err.strerror or err}). Nothing more was written there; make the folder "
            "writable (or pass another --run-dir) and rerun the same command: it resumes from the last checkpoint.")


def _run_locked(args: argparse.Namespace, config: dict) -> int:
    """`run` once the run directory's lock is held."""
    try:
        state = prepare_run_dir(config, resume_anyway=args.resume_anyway, overwrite=args.overwrite)
    except ValueError as err:
        print(f"tf-lipschitz train: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"tf-lipschitz train: error: {_cannot_write(err)}", file=sys.stderr)
        return 2
    run_dir = config["run_dir"]
    if state == "finished":
        with open(os.path.join(run_dir, "summary.md")) as handle:
            print(f"{run_dir} holds a finished run with these arguments; its summary:\n\n{handle.read()}")
        return 0

    job = importlib.import_module("tf_lipschitz.commands.train_job")  # TensorFlow: once the flags are checked
    try:
        return job.train(args, config, expected_seconds=expected_seconds(config))
    except OSError as err:
        print(f"tf-lipschitz train: error: {_cannot_write(err)}", file=sys.stderr)
        return 2
