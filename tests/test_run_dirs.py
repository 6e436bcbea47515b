"""Run directories that cannot mix or lie: one process per run directory, arguments recorded first, damaged
manifests, logs and argument files reported with what happens next, and Ctrl-C/SIGTERM saving the step."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_lipschitz.training import distribute
from tf_lipschitz.training.checkpoints import CheckpointMismatchError, RunCheckpoints
from tf_lipschitz.commands.cli import build_parser, main
from tf_lipschitz.foundations.run_lock import RunDirLock
from tf_lipschitz.commands.train import prepare_run_dir, settings
from tf_lipschitz.training import read_log, train_run

_ABSL_PREAMBLE = re.compile(r"^(WARNING: All log messages before absl::InitializeLog|I\d{4} .*cudart_stub)")
FAST = ["--batch-size", "32", "--n-critic", "2", "--eval-samples", "64", "--verbose", "0"]


def _command(run_dir, steps, *extra):
    return ["train", "--steps", str(steps), "--checkpoint-every", "2", "--run-dir", str(run_dir), *FAST, *extra]


def _config(run_dir, *extra):
    return settings(build_parser(["train"]).parse_args(["train", "--run-dir", str(run_dir), *extra]))


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_second_process_is_refused_naming_the_holder_and_a_dead_holder_is_taken_over(tmp_path, capsys):
    with RunDirLock(str(tmp_path)):  # another process's lock (flock conflicts between two opens)
        assert main(_command(tmp_path, 2)) == 2
    err = capsys.readouterr().err
    assert f"in use by another training process (PID {os.getpid()}" in err and "--run-dir" in err
    assert not (tmp_path / "args.json").exists()  # refused before anything was written

    dead = _dead_pid()
    (tmp_path / ".lock").write_text(f"{dead}\n")  # left by a killed run: the OS released its flock
    assert main(_command(tmp_path, 2)) == 0
    assert f"named PID {dead}, which no longer runs" in capsys.readouterr().out


def test_arguments_are_recorded_first_and_another_run_is_refused_before_any_checkpoint(tmp_path):
    assert prepare_run_dir(_config(tmp_path, "--steps", "5")) == "new"
    assert json.loads((tmp_path / "args.json").read_text())["steps"] == 5  # before any TensorFlow work
    with pytest.raises(ValueError, match="--steps 5 there, 6 now"):
        prepare_run_dir(_config(tmp_path, "--steps", "6"))  # no checkpoint yet, still another run
    assert prepare_run_dir(_config(tmp_path, "--steps", "5")) == "resume"


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", "\xff\xfe"])
def test_malformed_args_json_names_the_file_and_the_ways_on(tmp_path, content):
    (tmp_path / "args.json").write_bytes(content.encode("latin-1"))
    with pytest.raises(ValueError, match=r"args\.json.*--resume-anyway.*--overwrite"):
        prepare_run_dir(_config(tmp_path))
    assert prepare_run_dir(_config(tmp_path), resume_anyway=True) == "resume"  # recorded anew
    assert json.loads((tmp_path / "args.json").read_text())["steps"] == 1000


def test_resume_anyway_refuses_other_networks_with_a_message(tmp_path, capsys):
    prepare_run_dir(_config(tmp_path))
    for flags, named in ((["--model", "sn"], "--model 'wgan-alp' there, 'sn' now"),
                         (["--width", "8"], "--width 16 there, 8 now")):
        assert main(["train", "--run-dir", str(tmp_path), "--resume-anyway", *flags]) == 2
        err = capsys.readouterr().err
        assert named in err and "cannot be loaded" in err and "Traceback" not in err


def _small_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    return model


def test_a_checkpoint_of_another_model_raises_a_named_error(tmp_path):
    RunCheckpoints(str(tmp_path), model=_small_model()).save(1)
    other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(2)])
    with pytest.raises(CheckpointMismatchError, match="step-00000001.*other networks"):
        RunCheckpoints(str(tmp_path), model=other).restore_latest()


def test_resume_anyway_applies_the_new_learning_rate_to_the_restored_optimizers(tmp_path, capsys):
    assert main(_command(tmp_path, 2)) == 0
    assert main(_command(tmp_path, 3, "--resume-anyway", "--lr", "0.5")) == 0
    assert "learning rate 0.0001 (restored) replaced by 0.5" in capsys.readouterr().out
    reader = tf.train.load_checkpoint(str(tmp_path / "checkpoints" / "step-00000003" / "ckpt"))
    rates = [reader.get_tensor(name) for name in reader.get_variable_to_shape_map() if "learning_rate" in name]
    assert len(rates) == 2 and np.allclose(rates, 0.5)  # read back from disk, not from the live objects


@pytest.mark.parametrize("manifest", [{"files": {}}, [], {"files": []}, {"files": {"../x": "0"}}])
def test_a_malformed_manifest_falls_back_to_the_previous_checkpoint(tmp_path, capsys, manifest):
    checkpoints = RunCheckpoints(str(tmp_path), model=_small_model())
    checkpoints.save(1)
    checkpoints.save(2)
    (tmp_path / "step-00000002" / "manifest.json").write_text(json.dumps(manifest))
    assert checkpoints.restore_latest() == 1
    err = capsys.readouterr().err
    assert "step-00000002/manifest.json is malformed" in err and "falling back to step 1" in err


def test_no_usable_checkpoint_says_it_starts_from_step_0_and_partial_saves_are_removed(tmp_path, capsys):
    x = tf.data.Dataset.from_tensors((tf.ones((4, 3)), tf.ones((4, 2)))).repeat()
    train_run(_small_model(), x, run_dir=str(tmp_path), steps=2, checkpoint_every=1, verbose=0)
    for step in (1, 2):
        os.remove(tmp_path / "checkpoints" / f"step-0000000{step}" / "manifest.json")
    partial = tmp_path / "checkpoints" / ".tmp-killed"
    partial.mkdir()
    (partial / "ckpt.index").write_bytes(b"half")
    capsys.readouterr()
    result = train_run(_small_model(), x, run_dir=str(tmp_path), steps=2, checkpoint_every=1, verbose=0)
    captured = capsys.readouterr()
    assert result["start_step"] == 0
    assert "no older checkpoint: starting from step 0" in captured.err
    assert "None of the 2 checkpoints" in captured.out and "training starts from step 0" in captured.out
    assert f"Removed 1 unfinished checkpoint folder(s) left by an interrupted save: {partial}" in captured.out
    assert not partial.exists()


def test_the_log_row_is_written_before_its_checkpoint(tmp_path, monkeypatch):
    """A run killed while saving step 2 already has row 2; the rerun redoes the interval without a gap."""
    x = tf.data.Dataset.from_tensors((tf.ones((4, 3)), tf.ones((4, 2)))).repeat()
    save = RunCheckpoints.save

    def killed_at_2(self, step):
        if step == 2:
            raise KeyboardInterrupt  # the kill, after the row and before the checkpoint exists
        return save(self, step)

    monkeypatch.setattr(RunCheckpoints, "save", killed_at_2)
    with pytest.raises(KeyboardInterrupt):
        train_run(_small_model(), x, run_dir=str(tmp_path), steps=3, checkpoint_every=1, verbose=0)
    assert [row["step"] for row in read_log(str(tmp_path / "log.csv"))] == [1, 2]
    monkeypatch.setattr(RunCheckpoints, "save", save)
    assert train_run(_small_model(), x, run_dir=str(tmp_path), steps=3, checkpoint_every=1, verbose=0)[
        "start_step"] == 1
    assert [row["step"] for row in read_log(str(tmp_path / "log.csv"))] == [1, 2, 3]


def test_a_malformed_log_is_moved_aside_with_a_message(tmp_path, capsys):
    (tmp_path / "log.csv").write_text("step,loss\n1,abc\n")
    x = tf.data.Dataset.from_tensors((tf.ones((4, 3)), tf.ones((4, 2)))).repeat()
    train_run(_small_model(), x, run_dir=str(tmp_path), steps=1, checkpoint_every=1, verbose=0)
    out = capsys.readouterr().out
    assert f"{tmp_path / 'log.csv'} is not a log written by tf_lipschitz" in out
    assert "moved it to" in out and "starting a new log at step 0" in out
    assert (tmp_path / "log.csv.unreadable").read_text() == "step,loss\n1,abc\n"
    assert [row["step"] for row in read_log(str(tmp_path / "log.csv"))] == [1]


def test_an_unwritable_run_dir_names_the_path_and_what_next(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    assert main(_command(tmp_path / "file" / "run", 2)) == 2
    err = capsys.readouterr().err
    assert f"cannot write {tmp_path / 'file' / 'run'}" in err and "rerun the same command" in err
    assert "Traceback" not in err


def _wait_for(predicate, process, seconds=180):
    deadline = time.time() + seconds
    while time.time() < deadline and process.poll() is None and not predicate():
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before the signal"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_saves_the_step_and_says_how_to_resume(tmp_path, signum):
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}  # the default
    command = [sys.executable, "-m", "tf_lipschitz", *_command(tmp_path, 10_000)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: (tmp_path / "log.csv").exists(), process)  # training runs: steps 1-2 done
    start = time.time()
    process.send_signal(signum)
    out, err = process.communicate(timeout=120)
    elapsed = time.time() - start
    assert process.returncode == 128 + signum, err
    step = int(err.split("interrupted at step ")[1].split(";")[0])
    assert f"interrupted at step {step}; rerun the same command to resume" in err
    assert "Traceback" not in err and "cuInit" not in err and "FAILED_PRECONDITION" not in err
    # What remains is absl's notice and CUDA's probe, printed before TensorFlow reads its log level.
    assert [line for line in err.strip().splitlines() if not _ABSL_PREAMBLE.match(line)] == [
        f"tf-lipschitz train: interrupted at step {step}; rerun the same command to resume"]
    assert sorted(os.listdir(tmp_path / "checkpoints"))[-1] == f"step-{step:08d}"
    assert read_log(str(tmp_path / "log.csv"))[-1]["step"] == step
    assert elapsed < 60, f"took {elapsed:.1f} s to stop"
    if signum == signal.SIGTERM:  # resumes from there (one more step, not 10 000)
        resumed = subprocess.run([*command[:5], str(step + 1), *command[6:], "--resume-anyway"], env=env,
                                 capture_output=True, text=True, timeout=300)
        assert resumed.returncode == 0 and f"Resuming from step {step}" in resumed.stdout, resumed.stderr


def test_waiting_for_peers_gives_up_after_the_timeout_naming_them():
    config = distribute.local_cluster(2)[0]
    start = time.monotonic()
    with pytest.raises(distribute.PeersUnreachableError, match=r"could not reach 127\.0\.0\.1:\d+ .* 0\.5 s"):
        distribute.wait_for_peers(config, 0.5)
    assert time.monotonic() - start < 5


def test_a_worker_whose_peers_never_come_exits_on_its_timeout_and_on_sigterm(tmp_path):
    env = {**os.environ, "TF_CONFIG": json.dumps(distribute.local_cluster(2)[0])}
    command = [sys.executable, "-m", "tf_lipschitz", *_command(tmp_path, 2)]
    gave_up = subprocess.run([*command, "--connect-timeout", "2"], env=env, capture_output=True, text=True,
                             timeout=120)
    assert gave_up.returncode == 1 and "within the connection timeout of 2 s; giving up" in gave_up.stderr

    waiting = subprocess.Popen([*command, "--connect-timeout", "600"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    own = json.loads(env["TF_CONFIG"])["cluster"]["worker"][0]
    _wait_for(lambda: distribute._answers(own), waiting)  # listening for its peers
    start = time.time()
    waiting.send_signal(signal.SIGTERM)
    _, err = waiting.communicate(timeout=30)
    assert waiting.returncode == 143 and "interrupted before training" in err
    assert time.time() - start < 30  # TensorFlow's own wait ignored SIGTERM for over 12 minutes
