"""Atomic, verified checkpoints: round trip, corruption detection with fallback, NaN stop keeping the last finite."""

import os

import keras
import numpy as np
import pytest

from tf_lipschitz.training.checkpoints import CheckpointCallback, CheckpointCorruptedError, RunCheckpoints


def trained_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(0.1), "mse")
    return model


def fit(model, steps, callbacks=(), y_scale=1.0):
    x = np.random.default_rng(0).normal(size=(4 * steps, 3)).astype("float32")
    model.fit(x, y_scale * x[:, :1], batch_size=4, epochs=1, verbose=0, callbacks=list(callbacks))


def weights(model):
    return [w.copy() for w in model.get_weights()] + [np.array(v) for v in model.optimizer.variables]


def test_round_trip_restores_model_and_optimizer(tmp_path):
    model = trained_model()
    fit(model, 5)
    ckpts = RunCheckpoints(str(tmp_path), model=model)
    ckpts.save(5)
    saved = weights(model)
    fit(model, 5)
    assert ckpts.restore_latest() == 5
    for a, b in zip(saved, weights(model)):
        np.testing.assert_array_equal(a, b)


def test_keep_prunes_old_checkpoints_and_no_temp_folders_remain(tmp_path):
    model = trained_model()
    fit(model, 1)
    ckpts = RunCheckpoints(str(tmp_path), keep=2, model=model)
    for step in (1, 2, 3):
        ckpts.save(step)
    assert ckpts.steps() == [2, 3]
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".tmp")]


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete"])
def test_corrupted_checkpoint_is_detected_and_previous_one_used(tmp_path, damage):
    model = trained_model()
    fit(model, 2)
    ckpts = RunCheckpoints(str(tmp_path), model=model)
    ckpts.save(1)
    good = weights(model)
    fit(model, 2)
    ckpts.save(2)
    data = [n for n in os.listdir(ckpts.path(2)) if n.startswith("ckpt.data")][0]
    path = os.path.join(ckpts.path(2), data)
    if damage == "truncate":
        with open(path, "r+b") as handle:
            handle.truncate(os.path.getsize(path) // 2)
    elif damage == "flip":
        raw = bytearray(open(path, "rb").read())
        raw[len(raw) // 2] ^= 0xFF
        open(path, "wb").write(bytes(raw))
    else:
        os.remove(path)
    with pytest.raises(CheckpointCorruptedError, match="corrupted|missing"):
        ckpts.restore(2)
    assert ckpts.restore_latest() == 1
    for a, b in zip(good, weights(model)):
        np.testing.assert_array_equal(a, b)


def test_non_finite_logs_stop_training_and_keep_last_finite_checkpoint(tmp_path):
    model = trained_model()
    model.compile(keras.optimizers.SGD(10.0), "mse")  # diverges
    ckpts = RunCheckpoints(str(tmp_path), keep=100, model=model)
    callback = CheckpointCallback(ckpts, every_n_steps=1)
    fit(model, 200, [callback], y_scale=1e3)
    assert callback.stopped_reason is not None and "'loss'" in callback.stopped_reason
    assert f"step {callback.step}" in callback.stopped_reason
    last = ckpts.steps()[-1]
    assert last == callback.step - 1
    ckpts.restore(last)
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())


def test_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="keep"):
        RunCheckpoints(str(tmp_path), keep=0, model=trained_model())
    with pytest.raises(ValueError, match="at least one"):
        RunCheckpoints(str(tmp_path))
    with pytest.raises(ValueError, match="every_n_steps"):
        CheckpointCallback(RunCheckpoints(str(tmp_path), model=trained_model()), 0)
