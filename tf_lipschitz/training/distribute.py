"""Training on several machines with `tf.distribute`: the strategy, who writes the run directory, data sharding.

A cluster manager (or you) starts the same command once per worker, each with its own `TF_CONFIG`:

    {"cluster": {"worker": ["host0:12345", "host1:12345"]}, "task": {"type": "worker", "index": 0}}

`make_strategy("auto")` then builds a `tf.distribute.MultiWorkerMirroredStrategy` (one replica per worker on
CPU, all-reduce by ring collectives); without `TF_CONFIG` it is TensorFlow's default (single-device) strategy.
Every worker runs every step; the chief (task "chief", or worker 0 when the cluster has no chief) writes the
run directory, and the other workers write the same files into temporary folders that are deleted at the end,
as Keras' multi-worker guide prescribes (saving may need collective ops, so every worker must take part).
All workers resume from the chief's checkpoints, so the run directory must be on a file system they share.

What stays identical on every worker, and why (see `tf_lipschitz.models.LipschitzGAN`):
- Weights and optimizer slots: initial values are broadcast from worker 0 when the variables are created;
  after that every worker applies the same all-reduced gradients.
- Power-iteration vectors (`aggregation="only_first_replica"`) and the GAN's `step_counter`: each worker
  advances its own copy (the "first replica" of that aggregation is the first *local* one), from identical
  inputs (the same kernel, the same previous vector) with the same ops, so the copies stay bit-identical.
- Noise: `StepSeeds` folds the *global* replica id (`replica_id_in_sync_group`) into the seed, so replicas
  draw different noise, a given replica draws the same noise in any process layout (2 workers × 1 replica
  equals 1 process × 2 `MirroredStrategy` replicas), and a resumed run repeats an uninterrupted one.

What a model's train step needs under a strategy (`check_jit_compile`, `multi_worker_logs`, `first_batch_mean`) is
in `tf_lipschitz.foundations.replicas`, below the models.

The local launchers (`local_cluster`, `start_local_workers`, `wait_workers`) run a cluster of processes on
one machine, for tests and benchmarks.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from typing import Mapping, Sequence

import tensorflow as tf

from tf_lipschitz.foundations.defaults import STRATEGIES
from tf_lipschitz.foundations.validation import check_choice, check_float, check_int

__all__ = [
    "STRATEGIES",
    "WorkerTimeoutError",
    "PeersUnreachableError",
    "wait_for_peers",
    "make_strategy",
    "is_chief",
    "worker_dir",
    "remove_worker_dir",
    "shard_by_worker",
    "local_cluster",
    "start_local_workers",
    "wait_workers",
]


class PeersUnreachableError(TimeoutError):
    """Some workers of `TF_CONFIG` did not answer within the connection timeout; the message names them."""


class WorkerTimeoutError(TimeoutError):
    """Local worker processes did not finish in time; they were killed and their output is in the message."""


def _tf_config() -> dict | None:
    text = os.environ.get("TF_CONFIG", "").strip()
    if not text:
        return None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"`TF_CONFIG` must be JSON. Received: TF_CONFIG={text!r} ({err})") from err
    if not isinstance(config, dict) or not isinstance(config.get("cluster"), dict):
        raise ValueError(f'`TF_CONFIG` must hold a "cluster" object. Received: TF_CONFIG={text!r}')
    return config


def make_strategy(name: str = "auto", *, connect_timeout: float | None = None) -> tf.distribute.Strategy:
    """The distribution strategy of a training run.

    Call it first, before any other TensorFlow op runs: the multi-worker strategy sets up the process's
    collective runtime, which TensorFlow only allows at start-up.

    Args:
        name: "auto" (multi-worker when `TF_CONFIG` is set, else the default strategy), "default" (one
            device), "mirrored" (`MirroredStrategy` over this machine's devices) or "multi-worker"
            (`MultiWorkerMirroredStrategy` from `TF_CONFIG`, ring all-reduce, which also runs on CPUs).
        connect_timeout: Multi-worker only: seconds to wait for every peer of `TF_CONFIG` to answer
            (`wait_for_peers`) before TensorFlow connects; None: no such wait (TensorFlow then waits for the
            peers inside its own start-up, where the process does not react to SIGTERM).

    Returns:
        A `tf.distribute.Strategy`; build and compile the model under its `scope()`.

    Raises:
        ValueError: for an unknown `name` or a `TF_CONFIG` that is not JSON with a "cluster".
        PeersUnreachableError: when a peer does not answer within `connect_timeout`.

    Example:
        >>> make_strategy("default").num_replicas_in_sync
        1
    """
    name = check_choice("strategy", name, STRATEGIES)
    if name == "auto":
        name = "multi-worker" if _tf_config() is not None else "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    config = _tf_config()  # a malformed TF_CONFIG fails here with a clear message
    if config is not None and connect_timeout is not None:
        wait_for_peers(config, connect_timeout)
    options = tf.distribute.experimental.CommunicationOptions(
        implementation=tf.distribute.experimental.CommunicationImplementation.RING
    )
    return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)


def _split_address(address: str) -> tuple[str, int]:
    host, _, port = str(address).rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


def wait_for_peers(config: Mapping, timeout: float, *, poll: float = 0.25) -> None:
    """Waits, in Python, until every other chief/worker address of a `TF_CONFIG` accepts a TCP connection.

    Meanwhile this task listens on its own address, so that the peers' waits end too; it closes that socket
    before returning, and TensorFlow's server then binds the port. Waiting here rather than inside
    TensorFlow's start-up keeps the process responsive: SIGTERM and Ctrl-C end it at once.

    Args:
        config: The `TF_CONFIG` dict ("cluster" and "task").
        timeout: Seconds to wait (> 0).
        poll: Seconds between attempts.

    Raises:
        PeersUnreachableError: naming the addresses that did not answer and the timeout.

    Example:
        >>> wait_for_peers(local_cluster(1)[0], timeout=1.0)  # no peers: returns at once
    """
    timeout = check_float("connect_timeout", timeout)
    task = config.get("task") or {}
    cluster = config.get("cluster") or {}
    mine = None
    if task.get("type") in cluster:
        mine = cluster[task["type"]][int(task.get("index", 0))]
    peers = [address for kind in ("chief", "worker") for address in cluster.get(kind, []) if address != mine]
    listener = None
    if mine is not None:
        try:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("", _split_address(mine)[1]))
            listener.listen(16)
            listener.setblocking(False)
        except OSError:  # the port is taken (TensorFlow's server already runs, or another process): only poll
            listener.close()
            listener = None
    deadline = time.monotonic() + timeout
    waiting = list(peers)
    try:
        while True:
            if listener is not None:
                try:
                    while True:
                        listener.accept()[0].close()
                except OSError:
                    pass
            waiting = [address for address in waiting if not _answers(address)]
            if not waiting:
                return
            if time.monotonic() >= deadline:
                raise PeersUnreachableError(
                    f"{task.get('type', 'this task')} {task.get('index', '')} could not reach "
                    f"{', '.join(waiting)} (of TF_CONFIG's cluster) within the connection timeout of {timeout:g} s; "
                    "giving up. Start every worker of the cluster (or raise the timeout).")
            time.sleep(poll)
    finally:
        if listener is not None:
            listener.close()


def _answers(address: str) -> bool:
    try:
        with socket.create_connection(_split_address(address), timeout=1.0):
            return True
    except OSError:
        return False


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run directory (always true outside multi-worker training).

    Args:
        strategy: The run's strategy.

    Returns:
        True for the chief (task "chief", or worker 0 when there is none) and for single-process strategies.

    Example:
        >>> is_chief(tf.distribute.get_strategy())
        True
    """
    return bool(strategy.extended.should_checkpoint)


def worker_dir(run_dir: str, strategy: tf.distribute.Strategy) -> str:
    """The folder this process writes its checkpoints, logs and plots into.

    Args:
        run_dir: The run directory.
        strategy: The run's strategy.

    Returns:
        `run_dir` on the chief; a new temporary folder (named after the task) on the other workers, which
        print where they write (a line containing "temporary folder").

    Example:
        >>> worker_dir("runs/toy", tf.distribute.get_strategy())
        'runs/toy'
    """
    if is_chief(strategy):
        return run_dir
    resolver = strategy.cluster_resolver
    task = f"{resolver.task_type}{resolver.task_id}" if resolver is not None else "worker"
    path = tempfile.mkdtemp(prefix=f"tf_lipschitz-{task}-")
    print(f"{task} is not the chief: it writes into the temporary folder {path} (the chief writes {run_dir})")
    return path


def remove_worker_dir(path: str, run_dir: str) -> None:
    """Deletes a non-chief worker's temporary folder from `worker_dir` (never the run directory itself).

    Args:
        path: What `worker_dir` returned.
        run_dir: The run directory.

    Example:
        >>> remove_worker_dir("runs/toy", "runs/toy")  # the chief's: kept
    """
    if os.path.abspath(path) != os.path.abspath(run_dir):
        shutil.rmtree(path, ignore_errors=True)


def shard_by_worker(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """Marks a dataset to be sharded by data, not by file, across workers.

    Each worker builds the whole pipeline of global batches; the strategy splits every global batch and each
    replica keeps its own slice, as `MirroredStrategy` does on one machine. This suits the generated and
    in-memory datasets of `tf_lipschitz.data` (TensorFlow's default, sharding by file, would fall back to this
    with a warning for them).

    Args:
        dataset: A `tf.data.Dataset` of global batches.

    Returns:
        The same dataset with the sharding option set (options carry over to `skip`, `take`, ...).

    Example:
        >>> ds = shard_by_worker(tf.data.Dataset.range(4))
        >>> ds.options().experimental_distribute.auto_shard_policy == tf.data.experimental.AutoShardPolicy.DATA
        True
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


# ------------------------------------------------------------------------------ local clusters (tests, benchmarks)
def _free_port(host: str) -> int:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            return sock.getsockname()[1]
    except OSError as err:
        raise RuntimeError(f"Cannot get a free TCP port on {host} for a local worker: {err}") from err


def local_cluster(n_workers: int, host: str = "127.0.0.1") -> list[dict]:
    """`TF_CONFIG` dictionaries of a cluster of `n_workers` processes on this machine, on free ports.

    Args:
        n_workers: Number of workers (≥ 1); worker 0 is the chief.
        host: Address the workers listen on.

    Returns:
        One `TF_CONFIG` dict per worker, in task order.

    Raises:
        ValueError: if `n_workers` < 1.
        RuntimeError: if no free port can be bound.

    Example:
        >>> configs = local_cluster(2)
        >>> [c["task"] for c in configs]
        [{'type': 'worker', 'index': 0}, {'type': 'worker', 'index': 1}]
    """
    n_workers = check_int("n_workers", n_workers, minimum=1)
    addresses = [f"{host}:{_free_port(host)}" for _ in range(n_workers)]
    return [{"cluster": {"worker": addresses}, "task": {"type": "worker", "index": i}} for i in range(n_workers)]


def start_local_workers(
    argv: Sequence[str],
    tf_configs: Sequence[Mapping],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> list[subprocess.Popen]:
    """Starts `python argv...` once per `TF_CONFIG`, each process with its own configuration.

    Args:
        argv: Arguments after the Python interpreter (`sys.executable`), e.g. `["-m", "tf_lipschitz", "train"]`.
        tf_configs: One `TF_CONFIG` dict per worker (`local_cluster`).
        env: Environment of the workers (default: this process's); `TF_CONFIG` is set per worker.
        cwd: Working directory of the workers.

    Returns:
        The `subprocess.Popen` objects, in task order; stdout and stderr are pipes read by `wait_workers`.

    Example:
        >>> procs = start_local_workers(["-c", "print('hi')"], local_cluster(2))
        >>> [r.stdout for r in wait_workers(procs, timeout=60)]
        ['hi\\n', 'hi\\n']
    """
    base = dict(os.environ if env is None else env)
    procs = []
    for config in tf_configs:
        worker_env = {**base, "TF_CONFIG": json.dumps(config)}
        procs.append(subprocess.Popen([sys.executable, *argv], env=worker_env, cwd=cwd, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    return procs


def wait_workers(procs: Sequence[subprocess.Popen], *, timeout: float) -> list[subprocess.CompletedProcess]:
    """Waits for all worker processes; kills every one of them if they are not done within `timeout` seconds.

    Args:
        procs: From `start_local_workers`.
        timeout: Seconds for all of them together (> 0).

    Returns:
        One `subprocess.CompletedProcess` per worker (return code, stdout, stderr), in task order.

    Raises:
        WorkerTimeoutError: when the time is up, with the tail of every worker's output.

    Example:
        >>> wait_workers(start_local_workers(["-c", "pass"], local_cluster(1)), timeout=60)[0].returncode
        0
    """
    timeout = check_float("timeout", timeout)
    deadline = time.monotonic() + timeout
    results = []
    for i, proc in enumerate(procs):
        try:
            out, err = proc.communicate(timeout=max(deadline - time.monotonic(), 0.01))
        except subprocess.TimeoutExpired:
            for other in procs:
                other.kill()
            tails = []
            for j, other in enumerate(procs):
                out, err = other.communicate()
                tails.append(f"--- worker {j} (exit {other.returncode}) ---\n{(out or '')[-1500:]}{(err or '')[-3000:]}")
            raise WorkerTimeoutError(
                f"Worker {i} of {len(procs)} did not finish within {timeout:g} s (a hung collective or a worker "
                "that could not start); all workers were killed.\n" + "\n".join(tails)
            ) from None
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results
