"""`tf_lipschitz.training.distribute` without a cluster: argument checks, directories, sharding and the local launchers."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest
import tensorflow as tf

from tf_lipschitz.foundations import replicas
from tf_lipschitz.training import distribute


def test_make_strategy_checks_its_arguments(monkeypatch):
    with pytest.raises(ValueError, match="`strategy` must be one of .* Received: strategy='tpu'"):
        distribute.make_strategy("tpu")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="`TF_CONFIG` must be JSON"):
        distribute.make_strategy("auto")
    monkeypatch.setenv("TF_CONFIG", json.dumps({"task": {"type": "worker", "index": 0}}))
    with pytest.raises(ValueError, match='must hold a "cluster"'):
        distribute.make_strategy("multi-worker")
    monkeypatch.delenv("TF_CONFIG")
    assert distribute.make_strategy("auto") is tf.distribute.get_strategy()  # no TF_CONFIG: the default strategy


def test_the_single_process_chief_writes_the_run_dir(tmp_path):
    strategy = tf.distribute.get_strategy()
    run_dir = str(tmp_path / "run")
    assert distribute.is_chief(strategy)
    assert distribute.worker_dir(run_dir, strategy) == run_dir
    os.makedirs(run_dir)
    distribute.remove_worker_dir(run_dir, run_dir)
    assert os.path.isdir(run_dir)  # never deletes the run directory
    other = tmp_path / "worker-temp"
    other.mkdir()
    distribute.remove_worker_dir(str(other), run_dir)
    assert not other.exists()


def test_shard_by_worker_keeps_the_data_and_sets_data_sharding():
    data = tf.data.Dataset.range(6).batch(3)
    sharded = distribute.shard_by_worker(data).skip(1)  # the option survives later transformations
    policy = sharded.options().experimental_distribute.auto_shard_policy
    assert policy == tf.data.experimental.AutoShardPolicy.DATA
    np.testing.assert_array_equal(np.concatenate(list(sharded.as_numpy_iterator())), [3, 4, 5])


def test_multi_worker_logs_leave_single_process_logs_alone():
    logs = {"loss": tf.constant(2.0)}
    assert replicas.multi_worker_logs(logs) is logs


def test_local_cluster_gives_each_worker_its_task_and_distinct_ports():
    configs = distribute.local_cluster(3)
    addresses = configs[0]["cluster"]["worker"]
    assert all(c["cluster"]["worker"] == addresses for c in configs)
    assert [c["task"] for c in configs] == [{"type": "worker", "index": i} for i in range(3)]
    assert len({a.rsplit(":", 1)[1] for a in addresses}) == 3 and all(a.startswith("127.0.0.1:") for a in addresses)
    with pytest.raises(ValueError, match="n_workers"):
        distribute.local_cluster(0)


def test_workers_get_their_own_tf_config():
    code = "import json, os; print(json.loads(os.environ['TF_CONFIG'])['task']['index'])"
    results = distribute.wait_workers(distribute.start_local_workers(["-c", code], distribute.local_cluster(2)),
                                      timeout=60)
    assert [r.stdout.strip() for r in results] == ["0", "1"] and [r.returncode for r in results] == [0, 0]


def test_hung_workers_are_killed_and_named_after_the_timeout():
    code = "import sys, time; print('started', flush=True); sys.argv[-1] == '1' and time.sleep(600)"
    procs = distribute.start_local_workers(["-c", code, "x"], distribute.local_cluster(1))
    procs += distribute.start_local_workers(["-c", code, "1"], distribute.local_cluster(1))
    with pytest.raises(distribute.WorkerTimeoutError, match=r"(?s)Worker 1 of 2 did not finish within 3 s.*started"):
        distribute.wait_workers(procs, timeout=3)
    assert all(p.returncode is not None for p in procs)  # nobody left running
    assert sys.executable == procs[0].args[0]
