"""`MultiWorkerMirroredStrategy` across two processes for the rest of the training side.

Two worker processes (this file run as a script, on 127.0.0.1 with their own `TF_CONFIG`) train
- a `LipschitzRegularizedModel` (spectral-normalized inner model, ALP active) with Keras' own loss and metrics;
- a WGAN-ALP whose critic steps go through `SpectralGradientClamp`.
The reference is the same training in this process under `MirroredStrategy` on two logical CPUs (the same
replica structure: 2 replicas, each global batch split in two halves; see tests/test_multiworker.py).
XLA cannot compile a multi-worker step on CPUs (no CPU collectives in XLA): the workers also check that
`jit_compile=True` is refused up front with an error naming the option, not deep inside the first step.
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

from tf_lipschitz.foundations import replicas  # noqa: E402
from tf_lipschitz.training import distribute  # noqa: E402
from workers import run_two_workers  # noqa: E402
from tf_lipschitz.callbacks import SpectralGradientClamp  # noqa: E402
from tf_lipschitz.layers import SpectralNormDense, lipschitz_layers  # noqa: E402
from tf_lipschitz.models import WGANALP  # noqa: E402
from tf_lipschitz.models.regularized import LipschitzRegularizedModel  # noqa: E402

STEPS, GLOBAL_BATCH = 3, 16
TIMEOUT = 240.0  # seconds for both workers, start-up included; a hung collective fails the test after it


def _data(n: int) -> np.ndarray:
    return np.random.default_rng(1).normal(size=(n, 2)).astype("float32")


def _regularized(strategy: tf.distribute.Strategy) -> dict[str, np.ndarray]:
    """LipschitzRegularizedModel, K = 0.2 so that the penalty is active, Keras' MSE and MAE metric."""
    keras.utils.set_random_seed(0)
    with strategy.scope():
        inner = keras.Sequential([keras.Input((2,)), SpectralNormDense(8, activation="tanh"), keras.layers.Dense(1)])
        model = LipschitzRegularizedModel(inner, penalty_weight=5.0, seed=3, K=0.2, epsilon=(0.05, 0.5), xi=0.5)
        model.compile(keras.optimizers.SGD(0.1), "mse", metrics=["mae"])
    x = _data(STEPS * GLOBAL_BATCH)
    y = np.sin(3 * x[:, :1]) + x[:, 1:]
    data = distribute.shard_by_worker(tf.data.Dataset.from_tensor_slices((x, y)).batch(GLOBAL_BATCH, drop_remainder=True))
    history = model.fit(data, epochs=1, verbose=0)
    out = {f"reg:{v.path}": np.array(v) for v in inner.weights}
    out["reg:pi"] = np.array(lipschitz_layers(inner)[0].power_iteration_vector)
    for key, values in history.history.items():
        out[f"reg_log:{key}"] = np.array(values[-1])
    evaluation = model.evaluate(data, verbose=0, return_dict=True)
    for key, value in evaluation.items():
        out[f"reg_eval:{key}"] = np.array(value)
    return out


def _clamped_gan(strategy: tf.distribute.Strategy) -> dict[str, np.ndarray]:
    """WGAN-ALP with a spectral-normalized critic, the critic's updates clamped to σ0/σ1 ≤ 1.5."""
    keras.utils.set_random_seed(0)
    with strategy.scope():
        generator = keras.Sequential([keras.Input((2,)), keras.layers.Dense(8, "relu"), keras.layers.Dense(2)])
        critic = keras.Sequential([keras.Input((2,)), SpectralNormDense(8, activation="relu"), SpectralNormDense(1)])
        gan = WGANALP(generator, critic, latent_dim=2, n_critic=1, seed=5, data_range=None,
                      penalty_kwargs={"xi": 1.0, "epsilon": (0.01, 0.5)})
        gan.compile(keras.optimizers.Adam(1e-2, beta_1=0.5), keras.optimizers.Adam(1e-2, beta_1=0.5))
    data = distribute.shard_by_worker(
        tf.data.Dataset.from_tensor_slices(_data(STEPS * GLOBAL_BATCH)).batch(GLOBAL_BATCH, drop_remainder=True))
    clamp = SpectralGradientClamp(ratio=1.5, target="critic", mode="update", power_iterations=30, seed=2)
    history = gan.fit(data, steps_per_epoch=STEPS, epochs=1, verbose=0, callbacks=[clamp])
    out = {f"gan:{v.path}": np.array(v) for v in gan.generator.weights + gan.critic.weights}
    out["gan_log:critic_spectral_clamp_fraction"] = np.array(history.history["critic_spectral_clamp_fraction"][-1])
    return out


def _train(strategy: tf.distribute.Strategy) -> dict[str, np.ndarray]:
    return {**_regularized(strategy), **_clamped_gan(strategy)}


def _compiled(model: keras.Model, **kwargs) -> keras.Model:
    model.compile("sgd", "mse", **kwargs)
    return model


def _jit_refusals(strategy: tf.distribute.Strategy) -> dict[str, np.ndarray]:
    """The messages with which compiling with XLA is refused under this (multi-worker, CPU) strategy."""
    messages = {}
    with strategy.scope():
        critic = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        attempts = {
            "gan": lambda: WGANALP(keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)]), critic,
                                   latent_dim=2).compile(jit_compile=True),
            "regularized": lambda: _compiled(LipschitzRegularizedModel(critic), jit_compile=True).fit(
                np.ones((4, 2), "float32"), np.ones((4, 1), "float32"), verbose=0),
            "command": lambda: replicas.check_jit_compile(strategy, True, name="--jit"),
        }
        for key, attempt in attempts.items():
            try:
                attempt()
                messages[f"jit:{key}"] = np.array("accepted")
            except ValueError as err:
                messages[f"jit:{key}"] = np.array(str(err))
    return messages


def _worker_main(out_dir: str) -> None:
    strategy = distribute.make_strategy("auto")  # first: the collective runtime is set up at start-up
    assert isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy), type(strategy)
    result = {**_train(strategy), **_jit_refusals(strategy)}
    np.savez(os.path.join(out_dir, f"worker{strategy.cluster_resolver.task_id}.npz"), **result)


@pytest.mark.slow
def test_regularized_model_and_clamped_gan_train_across_two_workers(tmp_path):
    worker0, worker1 = run_two_workers(__file__, str(tmp_path), TIMEOUT)
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"], cross_device_ops=tf.distribute.ReductionToOneDevice())
    reference = _train(mirrored)

    for key, option in [("jit:gan", "jit_compile"), ("jit:regularized", "jit_compile"), ("jit:command", "--jit")]:
        for message in (str(worker0.pop(key)), str(worker1.pop(key))):
            assert f"`{option}` cannot be used for multi-worker training on CPUs" in message, message
            assert message.endswith(f"Received: {option}=True"), message
    assert sorted(worker0) == sorted(worker1) == sorted(reference)
    weights = [key for key in reference if not key.startswith(("reg_log:", "reg_eval:", "gan_log:"))]
    for key in weights:
        np.testing.assert_allclose(worker0[key], worker1[key], rtol=1e-6, atol=1e-7,
                                   err_msg=f"{key} differs between the workers")
        np.testing.assert_allclose(worker0[key], reference[key], rtol=1e-4, atol=1e-5,
                                   err_msg=f"{key}: two workers vs two mirrored replicas")
    # The logs are global means (both workers report the same), equal to the single-process run's.
    for key in [k for k in reference if k.startswith(("reg_log:", "reg_eval:", "gan_log:"))]:
        np.testing.assert_allclose(worker0[key], worker1[key], rtol=1e-6, err_msg=key)
        np.testing.assert_allclose(worker0[key], reference[key], rtol=1e-4, atol=1e-6, err_msg=key)
    # The penalty was active and the clamp acted, so both code paths were exercised, not bypassed.
    assert reference["reg_log:alp_penalty"] > 0 and reference["reg_log:alp_violation_fraction"] > 0
    assert reference["gan_log:critic_spectral_clamp_fraction"] > 0


if __name__ == "__main__":
    _worker_main(sys.argv[1])
