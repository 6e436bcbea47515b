"""`python -m tf_lipschitz train` on two worker processes (TF_CONFIG): one run directory, and resume after SIGKILL.

Pinned: the chief alone writes the run directory (one CSV row per interval, verified checkpoints), the other
worker writes into a temporary folder that is gone at the end; after worker 1 is killed with SIGKILL mid-run and
both workers are restarted with the same command and TF_CONFIG, both resume from the newest checkpoint and the
final weights equal those of an uninterrupted two-worker run (same collectives, same ops: to float round-off).
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import time

import numpy as np
import pytest
import tensorflow as tf

from tf_lipschitz.training import distribute
from tf_lipschitz.training import load_final_weights
from tf_lipschitz.training.checkpoints import RunCheckpoints

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS, EVERY = 20, 5
TIMEOUT = 180.0  # seconds for one launch of both workers; a hung worker fails the test after it


def _argv(run_dir: str) -> list[str]:
    return ["-m", "tf_lipschitz", "train", "--steps", str(STEPS), "--checkpoint-every", str(EVERY),
            "--batch-size", "16", "--n-critic", "2", "--eval-samples", "64", "--verbose", "0",
            "--run-dir", run_dir]


def _env(tmp: str) -> dict:
    # TMPDIR: where the non-chief worker's temporary folder goes, so the test can see it is removed.
    return {**os.environ, "PYTHONPATH": REPO, "TF_CPP_MIN_LOG_LEVEL": "2", "TMPDIR": tmp}


def _check(results: list[subprocess.CompletedProcess]) -> None:
    for i, result in enumerate(results):
        assert result.returncode == 0, f"worker {i} exited with {result.returncode}:\n{result.stderr[-3000:]}"


def _wait(procs, timeout=TIMEOUT):
    try:
        return distribute.wait_workers(procs, timeout=timeout)
    except distribute.WorkerTimeoutError as err:
        pytest.fail(str(err))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """An uninterrupted two-worker run: (run_dir, worker temp root, [CompletedProcess, ...])."""
    root = tmp_path_factory.mktemp("uninterrupted")
    run_dir, tmp = str(root / "run"), str(root / "tmp")
    os.makedirs(tmp)
    results = _wait(distribute.start_local_workers(_argv(run_dir), distribute.local_cluster(2), env=_env(tmp)))
    _check(results)
    return run_dir, tmp, results


def _checkpoints(run_dir: str) -> RunCheckpoints:
    return RunCheckpoints(os.path.join(run_dir, "checkpoints"), placeholder=tf.Variable(0))  # only to list, verify


@pytest.mark.slow
def test_only_the_chief_writes_the_run_directory(uninterrupted):
    run_dir, tmp, results = uninterrupted
    locks = sorted(name for name in os.listdir(run_dir) if name.startswith(".lock"))
    assert locks == [".lock-worker-0", ".lock-worker-1"]  # each task's lock on the run directory (run_lock)
    assert sorted(set(os.listdir(run_dir)) - set(locks)) == [
        "args.json", "checkpoints", "final.weights.npz", "log.csv", "samples_and_critic.png", "summary.md"]
    with open(os.path.join(run_dir, "log.csv")) as handle:
        steps = [row["step"] for row in csv.DictReader(handle)]
    assert steps == [str(i) for i in range(EVERY, STEPS + 1, EVERY)]  # one writer: one row per interval
    checkpoints = _checkpoints(run_dir)
    assert checkpoints.steps() == [10, 15, 20]
    for step in checkpoints.steps():
        checkpoints.verify(step)
    # Worker 1 announced its temporary folder, under TMPDIR, and removed it at the end; the chief made none.
    assert "temporary folder" not in results[0].stdout
    announced = [line for line in results[1].stdout.splitlines() if "temporary folder" in line]
    assert len(announced) == 1 and tmp in announced[0], results[1].stdout
    assert os.listdir(tmp) == []
    assert f"done: the chief wrote {run_dir}" in results[1].stdout  # the chief alone writes and prints the summary
    with open(os.path.join(run_dir, "summary.md")) as handle:
        assert handle.read().strip() in results[0].stdout


def _wait_for_checkpoint(run_dir: str, procs, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    folder = os.path.join(run_dir, "checkpoints")
    while time.monotonic() < deadline:
        if os.path.isdir(folder) and any(n.startswith("step-") for n in os.listdir(folder)):
            return
        if any(p.poll() is not None for p in procs):
            break
        time.sleep(0.05)
    for proc in procs:
        proc.kill()
    details = "\n".join(f"--- worker {i} (exit {p.wait()}) ---\n{p.stderr.read()[-2000:]}" for i, p in enumerate(procs))
    pytest.fail(f"No checkpoint appeared in {folder} within {timeout:g} s, or a worker exited early.\n{details}")


@pytest.mark.slow
def test_resume_after_a_worker_is_killed(uninterrupted, tmp_path):
    run_dir, tmp = str(tmp_path / "run"), str(tmp_path / "tmp")
    os.makedirs(tmp)
    cluster = distribute.local_cluster(2)
    procs = distribute.start_local_workers(_argv(run_dir), cluster, env=_env(tmp))
    _wait_for_checkpoint(run_dir, procs, TIMEOUT)
    procs[1].send_signal(signal.SIGKILL)
    try:  # the chief loses its peer: it fails or hangs in a collective; a cluster manager restarts it too
        procs[0].wait(timeout=3)
    except subprocess.TimeoutExpired:  # (what it does on this machine: it waits in the collective)
        procs[0].kill()
    for proc in procs:
        proc.communicate()
    assert procs[1].returncode == -signal.SIGKILL
    assert not os.path.exists(os.path.join(run_dir, "final.weights.npz")), "the run finished before the kill"
    saved = _checkpoints(run_dir).steps()
    assert saved and saved[-1] < STEPS

    results = _wait(distribute.start_local_workers(_argv(run_dir), cluster, env=_env(tmp)))  # same command
    _check(results)
    for result in results:
        assert f"Resuming from step {saved[-1]} " in result.stdout, result.stdout
    for got, want in zip(load_final_weights(run_dir), load_final_weights(uninterrupted[0])):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
