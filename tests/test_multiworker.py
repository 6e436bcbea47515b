"""`MultiWorkerMirroredStrategy` across two processes: a WGAN-ALP with a spectral-normalized critic.

The test starts two worker processes (this file run as a script) on 127.0.0.1 with their own `TF_CONFIG`. The
reference is the same training in this process under `MirroredStrategy` on two logical CPUs: the same replica
structure (2 replicas, global replica ids 0 and 1, each global batch split in two halves), so the same data and
noise reach each replica. (A 1-replica run would differ twice over: it draws other noise, the replica id is not
folded in, and it splits each global batch into critic chunks differently.)

Workers always run as separate processes: collective ops of two strategies in one process would clash.
"""

from __future__ import annotations

import os
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if __name__ == "__main__":  # run as a worker: this repository first on the path
    sys.path.insert(0, REPO)

from tf_lipschitz.training import distribute  # noqa: E402
from workers import run_two_workers  # noqa: E402
from tf_lipschitz.layers import SpectralNormDense, lipschitz_layers  # noqa: E402
from tf_lipschitz.models import WGANALP  # noqa: E402
from tf_lipschitz.penalties.noise import StepSeeds  # noqa: E402

STEPS, N_CRITIC, REPLICA_BATCH, SEED = 3, 1, 8, 7
GLOBAL_BATCH = N_CRITIC * 2 * REPLICA_BATCH  # one dataset element: n_critic critic batches for 2 replicas
TIMEOUT = 180.0  # seconds for both workers, start-up included; a hung collective fails the test after it


def _train(strategy: tf.distribute.Strategy) -> dict[str, np.ndarray]:
    """Trains the small WGAN-ALP for STEPS steps; returns this process's copy of every variable, and the noise."""
    keras.utils.set_random_seed(0)
    with strategy.scope():
        generator = keras.Sequential([keras.Input((2,)), keras.layers.Dense(16, "relu"), keras.layers.Dense(2)])
        critic = keras.Sequential([keras.Input((2,)), SpectralNormDense(16, activation="relu"), SpectralNormDense(1)])
        gan = WGANALP(generator, critic, latent_dim=2, n_critic=N_CRITIC, seed=SEED, data_range=None,
                      penalty_kwargs={"xi": 1.0, "epsilon": (0.01, 0.5)})
        gan.compile(keras.optimizers.Adam(1e-2, beta_1=0.5), keras.optimizers.Adam(1e-2, beta_1=0.5))
    initial = [np.array(layer.power_iteration_vector) for layer in lipschitz_layers(critic)]
    x = np.random.default_rng(1).normal(size=(STEPS * GLOBAL_BATCH, 2)).astype("float32")
    data = distribute.shard_by_worker(tf.data.Dataset.from_tensor_slices(x).batch(GLOBAL_BATCH, drop_remainder=True))
    gan.fit(data, steps_per_epoch=STEPS, epochs=1, verbose=0)
    out = {f"var:{v.path}": np.array(v) for v in gan.weights}
    for i, layer in enumerate(lipschitz_layers(critic)):
        out[f"pi_initial:{i}"] = initial[i]
        out[f"pi:{i}"] = np.array(layer.power_iteration_vector)

    @tf.function
    def noise():
        return strategy.run(lambda: StepSeeds(SEED, tf.constant(3, tf.int64)).normal((5,)))

    out["noise"] = np.stack([np.array(t) for t in strategy.experimental_local_results(noise())])
    return out


def _worker_main(out_dir: str) -> None:
    strategy = distribute.make_strategy("auto")  # first: the collective runtime is set up at start-up
    assert isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy), type(strategy)
    result = _train(strategy)
    np.savez(os.path.join(out_dir, f"worker{strategy.cluster_resolver.task_id}.npz"), **result)


@pytest.mark.slow
def test_two_workers_train_identically_and_match_two_mirrored_replicas(tmp_path):
    worker0, worker1 = run_two_workers(__file__, str(tmp_path), TIMEOUT)
    # Reduction to one device: no collective ops in this (pytest) process.
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"], cross_device_ops=tf.distribute.ReductionToOneDevice())
    reference = _train(mirrored)

    weights = sorted(k for k in reference if k.startswith("var:"))
    assert sorted(k for k in worker0 if k.startswith("var:")) == weights
    assert any("power_iteration_vector" in k for k in weights) and any("step_counter" in k for k in weights)
    for key in weights + ["pi:0", "pi:1"]:
        np.testing.assert_array_equal(worker0[key], worker1[key], err_msg=f"{key} differs between the workers")
        np.testing.assert_allclose(worker0[key], reference[key], rtol=2e-5, atol=2e-6,
                                   err_msg=f"{key}: two workers vs two mirrored replicas")
    assert int(worker0[next(k for k in weights if "step_counter" in k)]) == STEPS
    # Training moved the state: the power-iteration vectors advanced from their (broadcast) initial values.
    for i in range(2):
        np.testing.assert_array_equal(worker0[f"pi_initial:{i}"], worker1[f"pi_initial:{i}"])
        assert not np.allclose(worker0[f"pi_initial:{i}"], worker0[f"pi:{i}"])

    # Noise: replica r draws the same numbers in both layouts, and the two replicas draw different numbers.
    assert worker0["noise"].shape == worker1["noise"].shape == (1, 5) and reference["noise"].shape == (2, 5)
    np.testing.assert_array_equal(np.concatenate([worker0["noise"], worker1["noise"]]), reference["noise"])
    assert not np.allclose(reference["noise"][0], reference["noise"][1])


if __name__ == "__main__":
    _worker_main(sys.argv[1])
