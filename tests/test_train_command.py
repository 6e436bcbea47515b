"""The main command end to end: a toy run, any --steps, recorded arguments, kill -9 and resume equal to an
uninterrupted run, divergence; the log by step and the progress display."""

import os
import re
import signal
import subprocess
import sys
import time

import io
import json

import keras
import numpy as np
import tensorflow as tf

from tf_lipschitz.commands.cli import main
from tf_lipschitz.training import StepProgress, load_final_weights, read_log, train_run

FAST = ["--batch-size", "32", "--n-critic", "2", "--eval-samples", "64", "--verbose", "0"]


def command(run_dir, steps, *extra):
    return [sys.executable, "-m", "tf_lipschitz", "train", "--steps", str(steps), "--checkpoint-every", "5",
            "--run-dir", str(run_dir), *FAST, *extra]


def test_toy_run_writes_log_plot_checkpoints_and_reports_w1(tmp_path, capsys):
    assert main(["train", "--steps", "10", "--checkpoint-every", "5", "--run-dir", str(tmp_path), *FAST,
                 "--verbose", "1"]) == 0
    out = capsys.readouterr().out
    assert "Exact W1(generated, real) after step 10" in out and "noise floor" in out
    assert "Expected duration: about" in out
    # Not a terminal: plain progress lines with the key figures, no bar, no control codes, no Keras epochs.
    assert re.search(r"^step 5/10 .*s/step.* W1 \d.*W1 est .*critic .*gen .*penalty ", out, re.M)
    assert "\r" not in out and "\x1b" not in out and "Epoch" not in out
    assert os.path.getsize(tmp_path / "samples_and_critic.png") > 1000
    log = (tmp_path / "log.csv").read_text().splitlines()
    header = log[0].split(",")
    assert len(log) == 3 and header[0] == "step" and [row.split(",")[0] for row in log[1:]] == ["5", "10"]
    assert {"wasserstein_estimate", "critic_loss", "penalty", "w1_exact"} <= set(header)
    assert not any(name.startswith("val_") or name == "epoch" for name in header)
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["step-00000005", "step-00000010"]


def test_any_steps_work_and_the_run_directory_keeps_its_arguments(tmp_path, capsys):
    run = ["train", "--checkpoint-every", "5", "--run-dir", str(tmp_path), *FAST]
    assert main([*run, "--steps", "7"]) == 0  # not a multiple of --checkpoint-every: the last step is saved too
    first = capsys.readouterr().out
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["step-00000005", "step-00000007"]
    assert [line.split(",")[0] for line in (tmp_path / "log.csv").read_text().splitlines()[1:]] == ["5", "7"]
    assert json.loads((tmp_path / "args.json").read_text())["steps"] == 7
    weights = os.path.getmtime(tmp_path / "final.weights.npz")

    assert main([*run, "--steps", "7"]) == 0  # finished: says so, trains nothing, prints the summary again
    again = capsys.readouterr().out
    assert "holds a finished run" in again and first.split("\n# ")[1].strip() in again
    assert os.path.getmtime(tmp_path / "final.weights.npz") == weights

    assert main([*run, "--steps", "8", "--seed", "1"]) == 2  # other arguments: refused, with the ways on
    err = capsys.readouterr().err
    assert "--steps 7 there, 8 now" in err and "--seed 0 there, 1 now" in err
    assert all(flag in err for flag in ("--run-dir", "--resume-anyway", "--overwrite"))

    assert main([*run, "--steps", "8", "--resume-anyway"]) == 0
    assert "Resuming from step 7" in capsys.readouterr().out
    assert sorted(os.listdir(tmp_path / "checkpoints"))[-1] == "step-00000008"

    assert main([*run, "--steps", "3", "--overwrite"]) == 0  # starts over
    assert "Resuming" not in capsys.readouterr().out
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["step-00000003"]
    assert [line.split(",")[0] for line in (tmp_path / "log.csv").read_text().splitlines()[1:]] == ["3"]


def test_log_rows_average_the_model_metrics_over_their_interval(tmp_path):
    """A linear model that does not learn (lr 0): each batch's loss is known, so each row is a NumPy mean."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 4, 3)).astype("float32"), rng.normal(size=(7, 4, 1)).astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, kernel_initializer="ones", use_bias=False)])
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).repeat()
    result = train_run(model, dataset, run_dir=str(tmp_path), steps=7, checkpoint_every=3, verbose=0)
    losses = ((x.sum(-1, keepdims=True) - y) ** 2).mean(axis=(1, 2))
    rows = read_log(str(tmp_path / "log.csv"))
    assert [row["step"] for row in rows] == [3, 6, 7] == result["history"]["step"]
    np.testing.assert_allclose([row["loss"] for row in rows],
                               [losses[:3].mean(), losses[3:6].mean(), losses[6]], rtol=1e-5)
    assert list(rows[0]) == ["step", "loss"]  # only real columns


def test_progress_bar_on_a_terminal_redraws_one_line():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    progress = StepProgress(total=3, initial=1, stream=stream)
    for step in range(2):
        progress.on_train_batch_end(step, {"wasserstein_estimate": 0.5, "penalty": 0.25, "other": 1.0})
    text = stream.getvalue()
    assert text.startswith("\r[") and text.endswith("\n") and text.count("\n") == 1
    assert "step 3/3" in text and "W1 est 0.5" in text and "penalty 0.25" in text and "other" not in text


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


def test_jit_flag_keeps_xla_on(tmp_path):
    from tf_lipschitz.commands.cli import build_parser
    from tf_lipschitz.commands.train import settings
    from tf_lipschitz.commands.train_job import build

    args = build_parser().parse_args(["train", "--jit", "--steps", "5", "--run-dir", str(tmp_path), *FAST])
    assert build(args, settings(args)).gan.jit_compile is True  # op determinism would make Keras drop XLA silently
