"""Smoke test of examples/spectral_clamping.py on tiny synthetic digits (a few steps, every experiment)."""

import importlib.util
import json
import os

import numpy as np
import pytest

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "examples", "spectral_clamping.py")


def load_example():
    spec = importlib.util.spec_from_file_location("spectral_clamping_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_help_and_run_selection(capsys):
    example = load_example()
    with pytest.raises(SystemExit) as exit_info:
        example.main(["--help"])
    assert exit_info.value.code == 0
    assert "--data-file" in capsys.readouterr().out
    specs = example.run_specs(example.build_parser().parse_args(["--data-file", "x.npz"]))
    assert [s["name"] for s in specs] == [
        "baseline", "clamp_generator_r1.05", "clamp_generator_r1.5", "clamp_generator_r2",
        "clamp_critic_r4", "clamp_critic_r15", "clamp_critic_r30",
        "toeplitz_k1", "toeplitz_k2", "toeplitz_k4", "toeplitz_k8",
    ]
    assert specs[0]["ratio"] == float("inf") and specs[0]["target"] == "both"


def test_smoke_run(tmp_path, capsys):
    rng = np.random.default_rng(0)
    data = tmp_path / "digits.npz"
    np.savez(data, x_train=rng.integers(0, 256, (32, 28, 28), dtype=np.uint8), y_train=rng.integers(0, 10, 32),
             x_test=rng.integers(0, 256, (16, 28, 28), dtype=np.uint8))
    out = tmp_path / "out"
    status = load_example().main([
        "--data-file", str(data), "--out-dir", str(out), "--steps", "2", "--batch-size", "4", "--width", "2",
        "--latent-dim", "4", "--eval-samples", "16", "--classifier-epochs", "1", "--run-eagerly",
        "--power-iterations", "3", "--log-every", "1", "--experiments", "generator", "toeplitz",
        "--ratios-generator", "1.5", "--toeplitz-k", "2",
    ])
    assert status == 0
    results = json.loads((out / "results.json").read_text())["results"]
    assert [r["name"] for r in results] == ["clamp_generator_r1.5", "toeplitz_k2"]
    assert all(np.isfinite(r["frechet_distance"]) and r["mnist_score"] >= 1.0 - 1e-6 for r in results)
    assert "generator_spectral_clamp_sigma_ratio" in results[0] and results[0]["ratio"] == 1.5
    text = (out / "results.md").read_text()
    assert "Toeplitz-normalized critic" in text and "| 1.5 |" in text
    assert os.path.exists(out / "clamp_generator_r1.5" / "samples.png")
    assert "[clamp_generator_r1.5] step 2/2" in capsys.readouterr().out
