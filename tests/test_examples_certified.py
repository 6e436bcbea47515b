"""Smoke tests of examples/certified_classifier.py and examples/certified_from_plain.py on tiny synthetic data."""

import importlib.util
import json
import os
import sys

import numpy as np
import pytest

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "examples")


def _load(name):
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, os.path.join(EXAMPLES, f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture
def tiny_npz(tmp_path):
    """Two classes of 28×28 digits-like images: a bright left or right half, plus noise."""
    rng = np.random.default_rng(0)

    def split(n):
        y = rng.integers(0, 2, size=n)
        x = rng.integers(0, 60, size=(n, 28, 28)).astype(np.uint8)
        for i, label in enumerate(y):
            x[i, :, 14 * label:14 * label + 14] += 180
        return x, y.astype(np.uint8)

    x_train, y_train = split(96)
    x_test, y_test = split(48)
    path = tmp_path / "tiny.npz"
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return str(path)


def test_certified_classifier_trains_resumes_and_checks_soundness(tiny_npz, tmp_path, capsys):
    example = _load("certified_classifier")
    run_dir = str(tmp_path / "run")
    common = ["--data-file", tiny_npz, "--run-dir", run_dir, "--width", "4", "--dense", "8", "--batch-size", "32",
              "--lr", "0.01", "--epsilons", "0.1,0.5"]
    first = example.main(common + ["--epochs", "1"])
    assert first["epochs"] == 1
    result = example.main(common + ["--epochs", "2", "--soundness", "20", "--pgd-steps", "50", "--pgd-restarts", "2"])
    out = capsys.readouterr().out
    assert "Resuming after epoch 1" in out and result["epochs"] == 2
    assert result["clean_accuracy"] >= result["certified_0.1"] >= result["certified_0.5"]
    assert 0 < result["lipschitz"] <= 1.0 + 1e-6  # AOL layers and GroupSort: 1-Lipschitz by construction
    assert result["soundness"]["violations"] == 0 and result["soundness"]["certified"] > 0
    with open(os.path.join(run_dir, "state.json"), encoding="utf-8") as handle:
        assert len(json.load(handle)["rows"]) == 2
    assert "| mnist | aol |" in out and "GloRo" in out


def test_certified_classifier_flag_errors_name_the_flag(tiny_npz, capsys):
    example = _load("certified_classifier")
    with pytest.raises(SystemExit):
        example.main(["--data-file", tiny_npz, "--width", "3"])
    assert "--width and --dense must be even" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        example.main(["--data-file", "missing.npz"])
    assert "--data-file 'missing.npz' does not exist" in capsys.readouterr().err


def test_certified_from_plain_clones_folds_and_fine_tunes(tiny_npz, tmp_path, capsys):
    example = _load("certified_from_plain")
    rows = example.main(["--data-file", tiny_npz, "--run-dir", str(tmp_path / "plain"), "--epochs", "1",
                         "--finetune-epochs", "1", "--width", "4", "--batch-size", "32"])
    assert [r["stage"].split(" ")[0] for r in rows] == ["plain", "lipschitz_clone,", "clone"]
    out = capsys.readouterr().out
    assert "2 folded" in out and "0 unconstrained" in out
    # The clone's proven bound is about 1 (normalized layers; power iteration not fully converged after training).
    assert rows[1]["lipschitz"] == pytest.approx(1.0, abs=0.1)
    # The clone scales its biases with the norms (a ReLU/max-pooling CNN): the plain network's predictions, and
    # certificates no smaller than the plain network's (its bound multiplies the unfolded batch norms' bounds).
    assert rows[1]["clean_accuracy"] == rows[0]["clean_accuracy"]
    assert rows[1]["mean_radius"] >= rows[0]["mean_radius"] * (1 - 1e-2)
    assert all(0.0 <= r["certified_1.58"] <= r["certified_0.1"] <= r["clean_accuracy"] for r in rows)
