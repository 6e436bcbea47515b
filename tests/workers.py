"""Runs a test file as two local worker processes (MultiWorkerMirroredStrategy on 127.0.0.1) and reads their results.

A worker script saves its results as `<out_dir>/worker<task id>.npz`; `run_two_workers` starts it twice with
its own `TF_CONFIG` on free ports, fails the test with the workers' output when one exits non-zero or when they
do not finish within `timeout` seconds (a hung collective never blocks the suite), and returns the two result dicts.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from tf_lipschitz.training import distribute

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_two_workers(script: str, out_dir: str, timeout: float) -> list[dict[str, np.ndarray]]:
    """Runs `python script out_dir` as workers 0 and 1; returns their `worker<i>.npz` contents in task order."""
    env = {**os.environ, "PYTHONPATH": REPO, "TF_CPP_MIN_LOG_LEVEL": "2"}
    procs = distribute.start_local_workers([os.path.abspath(script), out_dir], distribute.local_cluster(2), env=env)
    try:
        results = distribute.wait_workers(procs, timeout=timeout)
    except distribute.WorkerTimeoutError as err:
        pytest.fail(str(err))
    for i, result in enumerate(results):
        assert result.returncode == 0, f"worker {i} exited with {result.returncode}:\n{result.stderr[-3000:]}"
    outputs = []
    for i in range(2):
        with np.load(os.path.join(out_dir, f"worker{i}.npz")) as npz:
            outputs.append({key: npz[key] for key in npz.files})
    return outputs
