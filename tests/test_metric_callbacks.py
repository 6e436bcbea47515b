"""`callbacks.FrechetInceptionDistance` and `InceptionScore` inside `fit`: schedule, log keys, values."""

import csv
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_lipschitz import callbacks, evaluation

SIZE = 8


def linear_classifier():
    rng = np.random.default_rng(0)
    w_logits = tf.constant(rng.normal(size=(SIZE * SIZE * 3, 5)) * 0.3, tf.float32)
    w_pool = tf.constant(rng.normal(size=(SIZE * SIZE * 3, 6)) * 0.3, tf.float32)

    def fn(x):
        flat = tf.reshape(x, (tf.shape(x)[0], -1))
        return flat @ w_logits, flat @ w_pool

    return evaluation.load_classifier(fn, image_size=(SIZE, SIZE), name="linear")


class TinyGenerator(keras.Model):
    """A stand-in for the GAN models: a `train_step` and `generate(n, batch_size=None)` in [-1, 1]."""

    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(SIZE * SIZE)
        self.generate_calls = []

    def call(self, z):
        return keras.ops.reshape(keras.ops.tanh(self.dense(z)), (-1, SIZE, SIZE))

    def generate(self, n, batch_size=None):
        self.generate_calls.append((n, batch_size))
        return self(keras.random.normal((n, 4))).numpy()

    def train_step(self, data):
        with tf.GradientTape() as tape:
            loss = keras.ops.mean(keras.ops.square(self(data)))
        self.optimizer.apply(tape.gradient(loss, self.trainable_variables), self.trainable_variables)
        return {"loss": loss}


def real_images(n=40):
    return np.random.default_rng(1).integers(0, 256, size=(n, SIZE, SIZE, 3), dtype=np.uint8)


def fit(model, metric_callbacks, *, epochs=2, steps=3, extra=()):
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    z = np.random.default_rng(2).normal(size=(steps * 4, 4)).astype("float32")
    return model.fit(z, epochs=epochs, batch_size=4, verbose=0, callbacks=[*metric_callbacks, *extra])


def test_epoch_end_logs_reach_history_and_csv_logger(tmp_path):
    classifier = linear_classifier()
    model = TinyGenerator()
    fid = callbacks.FrechetInceptionDistance(real_images(), num_samples=20, classifier_fn=classifier, batch_size=8)
    score = callbacks.InceptionScore(num_samples=20, num_splits=2, classifier_fn=classifier, batch_size=8)
    log = tmp_path / "log.csv"
    history = fit(model, [fid, score], extra=[keras.callbacks.CSVLogger(str(log))])
    for key in ("fid", "inception_score", "inception_score_std"):
        assert len(history.history[key]) == 2 and all(np.isfinite(history.history[key])), key
    assert model.generate_calls == [(20, 8)] * 4  # each callback, each epoch
    rows = list(csv.DictReader(log.open()))
    assert len(rows) == 2 and float(rows[1]["fid"]) == pytest.approx(history.history["fid"][1])
    assert float(rows[0]["inception_score"]) > 1.0


def test_every_n_steps_counts_batches_across_epochs():
    classifier = linear_classifier()
    samples = np.random.default_rng(3).uniform(-1, 1, size=(20, SIZE, SIZE)).astype("float32")
    calls = []

    def generator_fn(n):
        calls.append(n)
        return samples[:n]

    batch_logs = []
    recorder = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: batch_logs.append(dict(logs)))
    fid = callbacks.FrechetInceptionDistance(
        real_images, num_samples=20, every_n_steps=2, generator_fn=generator_fn, classifier_fn=classifier
    )
    history = fit(TinyGenerator(), [fid, recorder], epochs=2, steps=5)
    assert calls == [20] * 5  # 10 batches, every 2nd
    assert [i for i, logs in enumerate(batch_logs) if "fid" in logs] == [1, 3, 5, 7, 9]
    expected = evaluation.frechet_inception_distance(real_images(), samples, classifier_fn=classifier, verbose=False)
    assert history.history["fid"] == [pytest.approx(expected, rel=1e-6)] * 2
    assert batch_logs[1]["fid"] == pytest.approx(expected, rel=1e-6)


def test_epoch_logs_hold_nan_before_the_first_step_evaluation():
    score = callbacks.InceptionScore(
        num_samples=10, num_splits=2, every_n_steps=5, generator_fn=real_images, classifier_fn=linear_classifier()
    )
    history = fit(TinyGenerator(), [score], epochs=2, steps=3)  # evaluates only at batch 5 (epoch 2)
    assert math.isnan(history.history["inception_score"][0])
    assert history.history["inception_score"][1] > 1.0


def test_plain_model_with_generator_fn_and_cached_reference(tmp_path):
    classifier = linear_classifier()
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    samples = real_images(30)
    fid = callbacks.FrechetInceptionDistance(
        real_images, num_samples=30, generator_fn=lambda n: samples[:n], classifier_fn=classifier,
        dataset="toy", cache_dir=tmp_path, log_key="fid_linear",
    )
    history = model.fit(np.zeros((8, 4)), np.zeros((8, 1)), epochs=1, verbose=0, callbacks=[fid])
    assert (tmp_path / "toy__linear.npz").exists()
    expected = evaluation.frechet_inception_distance(real_images(), samples, classifier_fn=classifier, verbose=False)
    assert history.history["fid_linear"][0] == pytest.approx(expected, rel=1e-6)


def test_model_without_generate_needs_generator_fn():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    score = callbacks.InceptionScore(num_samples=4, num_splits=2, classifier_fn=linear_classifier())
    with pytest.raises(ValueError, match="generator_fn"):
        model.fit(np.zeros((4, 4)), np.zeros((4, 1)), epochs=1, verbose=0, callbacks=[score])


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: callbacks.InceptionScore(num_samples=1), "num_samples"),
        (lambda: callbacks.InceptionScore(num_samples=5, num_splits=10), "num_splits"),
        (lambda: callbacks.FrechetInceptionDistance(None, every_n_steps=0), "every_n_steps"),
        (lambda: callbacks.FrechetInceptionDistance(None, batch_size=0), "batch_size"),
    ],
)
def test_arguments_are_validated(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_default_batch_size_matches_the_evaluation_default():
    from tf_lipschitz.callbacks import metrics

    assert metrics.DEFAULT_BATCH_SIZE == evaluation.metrics.DEFAULT_BATCH_SIZE  # apart: callbacks need no [eval]
