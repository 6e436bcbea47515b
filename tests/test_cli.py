"""The `tf-lipschitz` command line: instant help and argument errors (no TensorFlow), defaults shown, flags named."""

import re
import subprocess
import sys

import numpy as np
import pytest

from tf_lipschitz.commands.cli import build_parser, main
from tf_lipschitz.commands.train import MODELS, STRATEGIES, TOYS

NO_TENSORFLOW = """
import sys
from tf_lipschitz.commands.cli import main
try:
    code = main({argv!r})
except SystemExit as exit:
    code = exit.code
assert "tensorflow" not in sys.modules and "keras" not in sys.modules, "TensorFlow was imported"
print("exit", code)
"""


@pytest.mark.parametrize("argv, code", [
    (["--help"], 0),
    (["train", "--help"], 0),
    (["train", "--steps", "0"], 2),
    (["train", "--model", "nope"], 2),
    (["train", "--dataset", "toy", "--data-dir", "x.npz"], 2),
])
def test_help_and_argument_errors_do_not_import_tensorflow(argv, code):
    done = subprocess.run([sys.executable, "-c", NO_TENSORFLOW.format(argv=argv)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == f"exit {code}"


def test_train_help_shows_every_flags_default(capsys):
    with pytest.raises(SystemExit):
        build_parser(["train"]).parse_args(["train", "--help"])
    text = capsys.readouterr().out.split("options:")[1]
    entries = re.split(r"\n  (?=-)", text)[1:]  # one entry per option, its help included
    flags = [entry.split()[0].rstrip(",") for entry in entries]
    assert "--steps" in flags and "--checkpoint-every" in flags and len(flags) >= 17
    for entry in entries:
        if not entry.startswith("-h"):
            assert "(default: " in " ".join(entry.split()), entry
    assert "1000 toy, 4000 images" in " ".join(text.split())


def test_choices_written_out_for_the_parser_match_the_library():
    from tf_lipschitz.toy import TOY_DISTRIBUTIONS
    from tf_lipschitz.training.distribute import STRATEGIES as LIBRARY_STRATEGIES
    from tf_lipschitz.recipes import MODELS as LIBRARY_MODELS

    assert MODELS == LIBRARY_MODELS and STRATEGIES == LIBRARY_STRATEGIES
    assert TOYS == tuple(name for name in TOY_DISTRIBUTIONS if name != "two_gaussians")


@pytest.mark.parametrize("flags, message", [
    (["--steps", "0"], "`--steps` must be an integer >= 1. Received: --steps=0"),
    (["--steps", "-3"], "Received: --steps=-3"),
    (["--batch-size", "0"], "`--batch-size` must be an integer >= 1. Received: --batch-size=0"),
    (["--lr", "0"], "`--lr` must be a finite number > 0.0. Received: --lr=0.0"),
    (["--lr=-1e-4"], "Received: --lr=-0.0001"),
    (["--n-critic", "0"], "`--n-critic`"),
    (["--checkpoint-every", "0"], "`--checkpoint-every` must be an integer >= 1"),
    (["--width", "0"], "`--width`"),
    (["--data-dir", "somewhere"], "--dataset toy draws its own samples"),
    (["--dataset", "folder"], "--dataset folder needs --data-dir"),
    (["--dataset", "mnist", "--data-dir", "missing.npz"], "--data-dir 'missing.npz' does not exist"),
    (["--dataset", "mnist", "--toy", "swissroll"], "--toy swissroll is for --dataset toy"),
])
def test_bad_flags_are_refused_before_training_naming_the_flag(tmp_path, capsys, flags, message):
    assert main(["train", "--run-dir", str(tmp_path / "run"), *flags]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # nothing was started


def test_an_obviously_different_dataset_is_refused(tmp_path, capsys):
    digits = np.zeros((8, 28, 28), np.uint8)
    np.savez(tmp_path / "mnist.npz", x_train=digits)
    np.savez(tmp_path / "data.npz", x_train=digits)
    # --overwrite: each refused run recorded its arguments (args.json comes first).
    run = ["train", "--run-dir", str(tmp_path / "run"), "--steps", "1", "--overwrite"]
    assert main([*run, "--dataset", "cifar10", "--data-dir", str(tmp_path / "mnist.npz")]) == 2
    assert "28x28x1, but cifar10 images are 3-channel: this is not cifar10" in capsys.readouterr().err
    assert main([*run, "--dataset", "cifar10", "--data-dir", str(tmp_path / "data.npz")]) == 2
    assert "28x28x1, but cifar10 images are 3-channel: this is not cifar10" in capsys.readouterr().err
    # Judged by content, not by file name (tests/test_data.py): MNIST-like statistics are refused as Fashion-MNIST.
    rng = np.random.default_rng(0)
    mnist_like = np.where(rng.random((64, 28, 28)) < 0.81, 0, 175).astype(np.uint8)
    np.savez(tmp_path / "fashion_mnist.npz", x_train=mnist_like)
    assert main([*run, "--dataset", "fashion_mnist", "--data-dir", str(tmp_path / "fashion_mnist.npz")]) == 2
    assert "pixel statistics are those of mnist, not fashion_mnist" in capsys.readouterr().err


def test_evaluate_says_a_missing_path_does_not_exist(tmp_path, capsys):
    assert main(["evaluate", "--fake", str(tmp_path / "nope")]) == 2
    assert f"--fake '{tmp_path / 'nope'}' does not exist" in capsys.readouterr().err
