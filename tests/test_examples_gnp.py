"""Smoke tests of examples/gnp_critic.py and examples/lipschitz_estimation.py, run in-process on tiny settings."""

import importlib.util
import os
import sys

import numpy as np
import pytest

from tf_lipschitz.toy import exact_w1

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "examples")


def _load(name):
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, os.path.join(EXAMPLES, f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.mark.parametrize("name", ["gnp_critic", "lipschitz_estimation"])
def test_help(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        _load(name).main(["--help"])
    assert exit_info.value.code == 0 and "usage:" in capsys.readouterr().out


def test_gnp_critic_estimates_w1_of_a_translation_from_below(tmp_path, capsys):
    example = _load("gnp_critic")
    out = str(tmp_path / "gnp.md")
    rows = example.main(["--steps", "60", "--width", "8", "--depth", "2", "--batch-size", "64", "--lr", "0.02",
                         "--eval-samples", "200", "--critics", "groupsort", "--search-steps", "5", "--out", out])
    (row,) = rows
    mu, nu = example.sample(example.build_parser().parse_args(["--eval-samples", "200"]), 200, seed=1)
    assert row["w1_exact"] == pytest.approx(exact_w1(mu, nu), rel=1e-9)
    assert 2.5 < row["w1_exact"] < 3.5  # population W1 = 3 (the shift)
    # A 1-Lipschitz critic's dual value on the same samples never exceeds their exact W1 (duality) ...
    assert row["w1_estimate"] <= row["w1_exact"] * (1 + 1e-4)
    # ... and even 60 steps reach it within 10 % (f(x) = -x₁ is optimal for a translation).
    assert row["w1_estimate"] > 0.9 * row["w1_exact"]
    assert row["lipschitz_lower"] <= row["lipschitz_upper"] * (1 + 1e-5) and row["lipschitz_upper"] < 1.001
    with open(out, encoding="utf-8") as handle:
        assert "| groupsort |" in handle.read()
    assert "population W1 = 3" in capsys.readouterr().out


def test_lipschitz_estimation_table_brackets_each_network(tmp_path):
    pytest.importorskip("cvxpy", reason="cvxpy is absent: the table needs `pip install tf-lipschitz[sdp]`")
    example = _load("lipschitz_estimation")
    out = str(tmp_path / "table.md")
    rows = example.main(["--widths", "6", "--depths", "2", "--activations", "relu", "--points", "8",
                         "--steps", "10", "--grid", "101", "--out", out])
    (row,) = rows
    assert row["network"] == "2-6-6-1 relu"
    assert row["lower"] <= row["lipsdp"] * (1 + 1e-5) <= row["upper"] * (1 + 1e-5)
    assert row["lower"] >= 0.95 * row["grid"]
    with open(out, encoding="utf-8") as handle:
        assert handle.read().startswith("| network | lower | LipSDP |")
