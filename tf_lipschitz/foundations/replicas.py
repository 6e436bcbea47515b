"""Per-replica helpers for a train step under `tf.distribute`: what a model needs to know about its strategy.

The models call these inside `compile`, `fit` and their steps; running a cluster (the strategy, the chief, worker
directories, sharding, local launchers) is `tf_lipschitz.training.distribute`.
"""

from __future__ import annotations

import tensorflow as tf

__all__ = ["is_multi_worker", "check_jit_compile", "multi_worker_logs", "first_batch_mean"]


def is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    """Whether `strategy` runs replicas in more than one process (a `MultiWorkerMirroredStrategy` with workers).

    Example:
        >>> is_multi_worker(tf.distribute.get_strategy())
        False
    """
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and (
        strategy.num_replicas_in_sync > len(strategy.extended.worker_devices)
    )


def check_jit_compile(strategy: tf.distribute.Strategy, jit_compile, *, name: str = "jit_compile") -> None:
    """Refuses XLA compilation where TensorFlow cannot compile the step: multi-worker training on CPUs.

    A multi-worker step all-reduces gradients with collective ops inside the compiled function, and XLA has
    no collectives for CPU devices ("Collectives are not yet implemented for CPU devices when compiling with
    XLA"; with ring communication "Only compiling NCCL/auto collective is supported"). The error would come
    from deep inside the first step; this check names the option instead. `jit_compile="auto"` is accepted
    (Keras then decides; it does not compile these steps).

    Args:
        strategy: The strategy the model is compiled under.
        jit_compile: The `jit_compile` option (True, False or "auto").
        name: How the option is named in the error (e.g. "--jit" for the command).

    Raises:
        ValueError: for `jit_compile=True` under a multi-worker strategy whose devices are CPUs.

    Example:
        >>> check_jit_compile(tf.distribute.get_strategy(), True)  # one process: nothing to refuse
    """
    if jit_compile is not True or not is_multi_worker(strategy):
        return
    devices = strategy.extended.worker_devices
    if all("CPU" in device.upper() for device in devices):
        raise ValueError(
            f"`{name}` cannot be used for multi-worker training on CPUs: XLA has no collective operations for CPU "
            f"devices, so TensorFlow cannot compile the step's all-reduce (devices: {', '.join(devices)}). "
            f"Train without `{name}`, or on GPUs. Received: {name}={jit_compile!r}"
        )


def multi_worker_logs(logs: dict) -> dict:
    """What a custom `train_step`/`test_step` returns so that Keras 3's `fit` can reduce it across workers.

    Under a `MultiWorkerMirroredStrategy` with more than one worker, Keras 3 averages each per-replica log
    with `strategy.reduce("MEAN", value, axis=0)`, which fails for the scalars a step returns ("Invalid
    reduction dimension 0 for input with 0 dimensions", tensorflow/tensorflow#72388). A leading axis of
    length 1 makes that reduction the mean over the replicas. Elsewhere the logs are returned unchanged.
    Call it in replica context (inside the step).

    Args:
        logs: The step's logs, a dict of tensors.

    Returns:
        The logs, each with a leading axis of length 1 in multi-worker training.

    Example:
        >>> multi_worker_logs({"loss": tf.constant(1.0)})["loss"].shape
        TensorShape([])
    """
    if not is_multi_worker(tf.distribute.get_strategy()):
        return logs
    return {key: tf.expand_dims(value, 0) for key, value in logs.items()}


def first_batch_mean(strategy: tf.distribute.Strategy, iterator) -> object:
    """The first batch of Keras' epoch iterator, averaged over the replicas one tensor at a time.

    Keras 3 builds a model before `fit` from this average, but takes it with one `strategy.reduce` call on the
    whole batch; under a multi-worker `MultiWorkerMirroredStrategy` that call rejects a structure such as an
    `(x, y)` tuple ("Attempt to convert a value (PerReplica...) ... to a Tensor"). Reducing each tensor on its
    own gives Keras the batch it meant to use. Only the shapes and dtypes of the result matter to Keras.

    Args:
        strategy: The model's strategy.
        iterator: The `EpochIterator` Keras passes to `Model._maybe_symbolic_build`.

    Returns:
        The first batch with every distributed tensor replaced by its mean over the replicas.

    Example:
        >>> from keras.src.trainers.epoch_iterator import EpochIterator  # what `fit` passes
        >>> iterator = EpochIterator(x=tf.ones((4, 2)), y=tf.ones((4, 1)), batch_size=4)
        >>> x, y = first_batch_mean(tf.distribute.get_strategy(), iterator)[:2]
        >>> tuple(x.shape), tuple(y.shape)
        ((4, 2), (4, 1))
    """
    for _, _, batches in iterator:  # TensorFlow's epoch iterator yields an iterator, the generic one a list
        batch = batches[0] if isinstance(batches, (list, tuple)) else next(batches)
        break
    else:
        raise ValueError("The training data are empty: Keras found no batch to build the model from.")

    def mean(value):
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.reduce("MEAN", value, axis=None)
        return value

    return tf.nest.map_structure(mean, batch)
