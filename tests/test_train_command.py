"""The main command end to end: a toy run, kill -9 and resume equal to an uninterrupted run, divergence."""

import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tf_lipschitz.cli import main
from tf_lipschitz.training import load_final_weights

FAST = ["--batch-size", "32", "--n-critic", "2", "--eval-samples", "64", "--verbose", "0"]


def command(run_dir, steps, *extra):
    return [sys.executable, "-m", "tf_lipschitz", "train", "--steps", str(steps), "--checkpoint-every", "5",
            "--run-dir", str(run_dir), *FAST, *extra]


def test_toy_run_writes_log_plot_checkpoints_and_reports_w1(tmp_path, capsys):
    assert main(["train", "--steps", "10", "--checkpoint-every", "5", "--run-dir", str(tmp_path), *FAST]) == 0
    out = capsys.readouterr().out
    assert "exact W1(generated, real)" in out and "noise floor" in out
    assert os.path.getsize(tmp_path / "samples_and_critic.png") > 1000
    log = (tmp_path / "log.csv").read_text().splitlines()
    assert len(log) == 3 and "wasserstein_estimate" in log[0] and "w1_exact" in log[0]
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["step-00000005", "step-00000010"]


def test_killed_run_resumes_to_the_same_weights_as_an_uninterrupted_run(tmp_path):
    steps = 20
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run(command(tmp_path / "full", steps), check=True, env=env, capture_output=True)

    killed = subprocess.Popen(command(tmp_path / "killed", steps), env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    checkpoints = tmp_path / "killed" / "checkpoints"
    deadline = time.time() + 120
    while time.time() < deadline and killed.poll() is None:
        if os.path.isdir(checkpoints) and any(n.startswith("step-") for n in os.listdir(checkpoints)):
            break
        time.sleep(0.05)
    assert killed.poll() is None, "the run finished before it could be killed"
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    assert not os.path.exists(tmp_path / "killed" / "final.weights.npz")

    resumed = subprocess.run(command(tmp_path / "killed", steps), check=True, env=env, capture_output=True, text=True)
    assert "Resuming from step" in resumed.stdout
    for a, b in zip(load_final_weights(tmp_path / "full"), load_final_weights(tmp_path / "killed")):
        np.testing.assert_array_equal(a, b)


def test_diverging_run_stops_naming_the_term_and_keeps_the_last_finite_checkpoint(tmp_path, capsys):
    code = main(["train", "--steps", "100", "--checkpoint-every", "1", "--run-dir", str(tmp_path),
                 "--lr", "1e3", *FAST])
    err = capsys.readouterr().err
    assert code == 1
    assert "became NaN or Inf" in err and "critic" in err
    step = int(re.search(r"training step (\d+)", err).group(1))
    kept = sorted(os.listdir(tmp_path / "checkpoints"))
    assert step >= 2 and kept[-1] == f"step-{step - 1:08d}"  # nothing non-finite was saved
    assert f"Last finite checkpoint: {tmp_path / 'checkpoints' / kept[-1]}" in err
    assert not os.path.exists(tmp_path / "final.weights.npz")


def test_bad_arguments_are_reported(tmp_path, capsys):
    assert main(["train", "--steps", "7", "--checkpoint-every", "5", "--run-dir", str(tmp_path), *FAST]) == 2
    assert "multiple of `checkpoint_every`" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--model", "wgan-xx"])


def test_jit_flag_keeps_xla_on(tmp_path):
    from tf_lipschitz.cli import build_parser
    from tf_lipschitz.train_command import build

    args = build_parser().parse_args(["train", "--jit", "--steps", "5", "--run-dir", str(tmp_path), *FAST])
    assert build(args).gan.jit_compile is True  # op determinism would make Keras drop XLA silently
