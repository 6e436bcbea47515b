"""What a new user sees: an ETA without tracing time, TensorFlow's log lines hidden unless asked, nothing written
unasked, one exact W1 per step, and bounds of untrained normalized layers that say why they are large."""

import io
import os
import warnings

import keras
import numpy as np
import pytest

import tf_lipschitz as tl
from tf_lipschitz import losses as gan_losses
from tf_lipschitz import analysis, ops, training
from tf_lipschitz.callbacks import DomainRangeLogger
from tf_lipschitz.commands.cli import main
from tf_lipschitz.training import StepProgress, read_log


def test_the_first_progress_line_measures_the_pace_after_the_traced_first_batch(monkeypatch):
    # Read at: creation, train begin, the end of batch 1 (which traced: 100 s), the epoch's end (4 batches later).
    clock = iter([0.0, 0.0, 100.0, 104.0, 104.0])
    monkeypatch.setattr(training.run.time, "perf_counter", lambda: next(clock))
    stream = io.StringIO()
    progress = StepProgress(total=105, plain=True, stream=stream)
    progress.on_train_begin()
    for batch in range(5):
        progress.on_train_batch_end(batch, {})
    progress.on_epoch_end(0, {})
    line = stream.getvalue()
    assert "step 5/105" in line and "(1.00 s/step, 1m40s left)" in line, line  # not 20.80 s/step, 34m40s


def test_tensorflow_log_lines_are_hidden_unless_verbose_2_or_chosen(monkeypatch, tmp_path):
    bad = ["train", "--steps", "0", "--run-dir", str(tmp_path)]  # an argument error: returns before TensorFlow
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    assert main([*bad, "--verbose", "2"]) == 2 and "TF_CPP_MIN_LOG_LEVEL" not in os.environ
    assert main(bad) == 2 and os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "1")  # the user's choice stays
    assert main(bad) == 2 and os.environ["TF_CPP_MIN_LOG_LEVEL"] == "1"


def test_domain_range_logger_writes_nothing_unasked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    logger = DomainRangeLogger(1, real_data=np.ones((2, 3)))
    assert logger.plot_path is None and logger.table_path is None
    logger.history = {"step": [1], "omega_min": [0.0], "omega_max": [1.0]}
    logger.gan_loss = gan_losses.get(gan_losses.available()[0])
    logger.on_train_end()
    assert os.listdir(tmp_path) == []


def test_the_toy_summary_plot_and_log_give_one_exact_w1_for_the_last_step(tmp_path, capsys):
    assert main(["train", "--steps", "4", "--checkpoint-every", "2", "--run-dir", str(tmp_path), "--batch-size",
                 "32", "--n-critic", "2", "--eval-samples", "64", "--verbose", "0"]) == 0
    out = capsys.readouterr().out
    last = read_log(str(tmp_path / "log.csv"))[-1]
    assert last["step"] == 4
    assert f"Exact W1(generated, real) after step 4: {last['w1_exact']:.4f};" in out
    assert f"W1 {last['w1_exact']:.4g}" in out.split("Step 4 (losses averaged")[1]


def _tour_critic():
    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input((8, 8, 3)),
        tl.layers.SpectralNormConv2D(8, 3, padding="same", k_sn=1.0), keras.layers.LeakyReLU(0.2),
        keras.layers.Flatten(), tl.layers.SpectralNormDense(1),
    ])


def test_an_untrained_critic_bound_says_its_power_iteration_has_not_converged_until_converged():
    critic = _tour_critic()
    with pytest.warns(UserWarning, match="has not converged.*converge_power_iteration"):
        before = analysis.lipschitz_upper_bound(critic)
    tl.layers.converge_power_iteration(critic)
    for layer in tl.layers.lipschitz_layers(critic):  # the estimate is the exact σ of the kernel matrix (SVD)
        matrix = np.reshape(np.asarray(layer.kernel), (-1, layer.kernel.shape[-1]))
        sigma = np.linalg.svd(matrix, compute_uv=False)[0]
        normalized = np.reshape(np.asarray(layer.normalized_kernel()), matrix.shape)
        np.testing.assert_allclose(np.linalg.svd(normalized, compute_uv=False)[0], 1.0, rtol=1e-3)
        assert sigma > 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        after = analysis.lipschitz_upper_bound(critic)
    assert after < before
    dense = critic.layers[-1]
    assert dense.lipschitz_bound() == pytest.approx(1.0, rel=1e-3)  # exactly k_sn once converged


def test_the_train_command_turns_onednn_on_only_where_the_user_has_not_chosen(monkeypatch, tmp_path, capsys):
    from tf_lipschitz.foundations.run_lock import RunDirLock

    command = ["train", "--steps", "2", "--run-dir", str(tmp_path)]
    with RunDirLock(str(tmp_path)):  # refused right after the choice: no training needed to see it
        monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
        main(command)
        assert os.environ["TF_ENABLE_ONEDNN_OPTS"] == "0" and "oneDNN" not in capsys.readouterr().out
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS")
    (tmp_path / "args.json").write_text("[]")  # refused after the lock and the choice, before TensorFlow
    assert main(command) == 2
    out = capsys.readouterr().out
    assert os.environ["TF_ENABLE_ONEDNN_OPTS"] == "1" and out.count("oneDNN kernels are on") == 1
    assert "floating-point round-off" in out and "TF_ENABLE_ONEDNN_OPTS=0" in out
