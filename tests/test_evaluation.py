"""IS, FID and KID against NumPy/SciPy re-derivations, on the activations of a small linear classifier."""

import math

import numpy as np
import pytest
import scipy.linalg
import scipy.special
import tensorflow as tf

from tf_lipschitz import evaluation
from tf_lipschitz.evaluation import images as images_lib
from tf_lipschitz.evaluation import metrics, statistics, tfgan_compat

SIZE = 8
N = 120


def linear_classifier(num_classes=10, features=12, seed=0):
    """A fixed random linear map of 8×8×3 images to logits and (linear) pool features."""
    rng = np.random.default_rng(seed)
    w_logits = tf.constant(rng.normal(size=(SIZE * SIZE * 3, num_classes)) * 0.1, tf.float32)
    w_pool = tf.constant(rng.normal(size=(SIZE * SIZE * 3, features)) * 0.1, tf.float32)

    def fn(x):
        flat = tf.reshape(x, (tf.shape(x)[0], -1))
        return {"logits": flat @ w_logits, "pool": flat @ w_pool}

    clf = evaluation.load_classifier(fn, image_size=(SIZE, SIZE), name="linear")
    return clf, w_pool.numpy()


@pytest.fixture
def classifier():
    return linear_classifier()[0]


def uint8_images(n=N, seed=1, channels=3):
    shape = (n, SIZE, SIZE) if channels == 1 else (n, SIZE, SIZE, channels)
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def numpy_inception_score(logits, num_splits):
    scores = []
    for part in np.array_split(logits, num_splits):  # equal sizes here, so the same splits as split_bounds
        p = scipy.special.softmax(part.astype(np.float64), axis=1)
        q = p.mean(axis=0, keepdims=True)
        scores.append(np.exp(np.mean(np.sum(p * (np.log(p) - np.log(q)), axis=1))))
    return np.mean(scores), np.std(scores)


def numpy_fid(a, b):
    mu_a, mu_b = a.mean(0), b.mean(0)
    sigma_a, sigma_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(sigma_a @ sigma_b).real
    return np.sum((mu_a - mu_b) ** 2) + np.trace(sigma_a + sigma_b - 2 * covmean)


def numpy_mmd2(a, b):
    """Unbiased MMD² with k(x, y) = (x·y / d + 1)³."""
    d = a.shape[1]
    k = lambda x, y: (x @ y.T / d + 1) ** 3  # noqa: E731
    m, n = len(a), len(b)
    k_aa, k_bb = k(a, a), k(b, b)
    return (
        (k_aa.sum() - np.trace(k_aa)) / (m * (m - 1))
        + (k_bb.sum() - np.trace(k_bb)) / (n * (n - 1))
        - 2 * k(a, b).mean()
    )


def test_inception_score_matches_numpy_kl_formula(classifier):
    x = uint8_images()
    logits, _ = evaluation.compute_activations(x, classifier_fn=classifier, verbose=False)
    mean, std = evaluation.inception_score(x, classifier_fn=classifier, num_splits=4, verbose=False)
    np.testing.assert_allclose((mean, std), numpy_inception_score(logits, 4), rtol=1e-6)
    assert mean > 1.0


def test_fid_matches_scipy_sqrtm_and_tfgan(classifier):
    real, fake = uint8_images(seed=1), uint8_images(seed=2) // 2
    _, a = evaluation.compute_activations(real, classifier_fn=classifier, verbose=False)
    _, b = evaluation.compute_activations(fake, classifier_fn=classifier, verbose=False)
    fid = evaluation.frechet_inception_distance(real, fake, classifier_fn=classifier, verbose=False)
    expected = numpy_fid(a.astype(np.float64), b.astype(np.float64))
    assert fid == pytest.approx(expected, rel=1e-5)
    tfgan = tfgan_compat.frechet_classifier_distance_from_activations(a.astype(np.float64), b.astype(np.float64))
    assert fid == pytest.approx(float(tfgan), rel=1e-6)


def test_kid_matches_numpy_unbiased_mmd(classifier):
    real, fake = uint8_images(seed=1), uint8_images(seed=2) // 2
    _, a = evaluation.compute_activations(real, classifier_fn=classifier, verbose=False)
    _, b = evaluation.compute_activations(fake, classifier_fn=classifier, verbose=False)
    a, b = a.astype(np.float64), b.astype(np.float64)
    kid, std = evaluation.kernel_inception_distance(real, fake, classifier_fn=classifier, verbose=False)
    assert kid == pytest.approx(numpy_mmd2(a, b), rel=1e-6)
    assert math.isnan(std)  # one block: no standard error
    # Three blocks of 40: the mean and standard error of the per-block estimates.
    kid3, std3 = evaluation.kid_from_features(a, b, max_block_size=40)
    blocks = [numpy_mmd2(a[i : i + 40], b[i : i + 40]) for i in range(0, N, 40)]
    assert kid3 == pytest.approx(np.mean(blocks), rel=1e-6)
    assert std3 == pytest.approx(np.std(blocks, ddof=1) / np.sqrt(3), rel=1e-6)


def test_fid_of_a_set_with_itself_is_zero(classifier):
    x = uint8_images()
    assert abs(evaluation.frechet_inception_distance(x, x, classifier_fn=classifier, verbose=False)) < 1e-6


def test_fid_grows_with_mean_shift_as_the_formula_says():
    clf, w_pool = linear_classifier()
    x = np.random.default_rng(3).uniform(-0.5, 0.5, size=(N, SIZE, SIZE, 3)).astype(np.float32)
    direction = w_pool.sum(axis=0)  # a constant image shift s moves the linear features by s * sum of rows
    fids = []
    for shift in (0.1, 0.2, 0.4):
        fid = evaluation.frechet_inception_distance(x, x + shift, classifier_fn=clf, verbose=False)
        assert fid == pytest.approx(shift**2 * np.sum(direction**2), rel=1e-4)
        fids.append(fid)
    assert fids[0] < fids[1] < fids[2]


def test_frechet_distance_of_statistics_is_squared_mean_gap_for_equal_covariances():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(200, 5))
    delta = np.array([1.0, -2.0, 0.5, 0.0, 3.0])
    a = evaluation.FeatureStatistics.from_features(features)
    b = evaluation.FeatureStatistics.from_features(features + delta)
    assert evaluation.frechet_distance(a, b) == pytest.approx(np.sum(delta**2), rel=1e-6)


def test_batch_size_does_not_change_results(classifier):
    real, fake = uint8_images(seed=1), uint8_images(seed=2, channels=1)
    options = dict(classifier_fn=classifier, metrics=evaluation.EVALUATE_METRICS, num_splits=3, verbose=False)
    small = evaluation.evaluate(real, fake, batch_size=7, **options)
    large = evaluation.evaluate(real, fake, batch_size=64, **options)
    assert small.keys() == large.keys() >= {"inception_score", "inception_score_real", "fid", "kid"}
    # float32 features depend on how the CPU blocks a batch: equal to float32 precision, not bit for bit.
    for key in small:
        np.testing.assert_allclose(small[key], large[key], rtol=1e-5, atol=1e-6, err_msg=key)
    # The one-metric functions agree with the one-pass `evaluate`.
    assert evaluation.inception_score(fake, classifier_fn=classifier, num_splits=3, batch_size=9, verbose=False) == (
        pytest.approx(small["inception_score"], rel=1e-5, abs=1e-6),
        pytest.approx(small["inception_score_std"], rel=1e-5, abs=1e-6),
    )


def test_streams_generators_and_datasets_like_arrays(classifier):
    x = uint8_images()
    expected = evaluation.inception_score(x, classifier_fn=classifier, num_splits=4, verbose=False)
    from_generator = evaluation.inception_score(
        (x[i : i + 25] for i in range(0, N, 25)), classifier_fn=classifier, num_splits=4, verbose=False
    )
    dataset = tf.data.Dataset.from_tensor_slices(x).batch(16)
    from_dataset = evaluation.inception_score(dataset, classifier_fn=classifier, num_splits=4, verbose=False)
    np.testing.assert_allclose(from_generator, expected, rtol=1e-5, atol=1e-6)  # float32: not bit for bit
    np.testing.assert_allclose(from_dataset, expected, rtol=1e-5, atol=1e-6)


class _SliceRecorder:
    """A sized image set that records how many images each read asks for."""

    def __init__(self, images):
        self.images, self.reads = images, []

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        chunk = self.images[index]
        self.reads.append(len(chunk))
        return chunk


def test_memory_is_bounded_by_the_batch(classifier):
    source = _SliceRecorder(uint8_images())
    splits = metrics._SplitScores(len(source), num_splits=4)
    metrics._scan(source, classifier, [splits], batch_size=16, verbose=False, desc="")
    assert max(source.reads) == 16  # images are read one batch at a time
    assert len(splits.scores) == 4 and sum(len(p) for p in splits.pending) == 0  # logits dropped once scored


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.full((4, SIZE, SIZE), 255.0, np.float32), r"\[0, 255\].*images / 127.5 - 1"),
        (np.full((4, SIZE, SIZE), -1.5, np.float64), r"\[-1, 1\]"),
        (np.full((4, SIZE, SIZE), np.nan, np.float32), r"\[-1, 1\]"),
        (np.zeros((4, SIZE, SIZE), np.int32), r"dtype=int32"),
        (np.zeros((4, SIZE, SIZE), bool), r"uint8 in \[0, 255\] or float in \[-1, 1\]"),
    ],
)
def test_value_range_check_rejects_bad_inputs(classifier, bad, message):
    with pytest.raises(ValueError, match=message):
        evaluation.inception_score(bad, classifier_fn=classifier, num_splits=2, verbose=False)


def test_value_range_detection_and_mixed_batches(classifier):
    assert evaluation.detect_value_range(np.zeros((1, 2, 2), np.uint8)) == images_lib.UINT8_RANGE
    assert evaluation.detect_value_range(np.full((1, 2, 2), -1.0, np.float16)) == images_lib.SYMMETRIC_RANGE
    mixed = iter([uint8_images(8), np.zeros((8, SIZE, SIZE, 3), np.float32)])
    with pytest.raises(ValueError, match="mix value ranges"):
        evaluation.inception_score(mixed, classifier_fn=classifier, num_splits=2, verbose=False)


def test_model_input_expands_grayscale_resizes_and_rescales():
    x = images_lib.to_model_input(np.full((2, 4, 4), 255, np.uint8), image_size=(6, 6), channels=3)
    assert x.shape == (2, 6, 6, 3) and x.dtype == tf.float32
    np.testing.assert_allclose(x.numpy(), 1.0)
    gray = images_lib.to_model_input(np.zeros((2, 4, 4, 3), np.float32), channels=1)
    assert gray.shape == (2, 4, 4, 1)
    with pytest.raises(ValueError, match="shape"):
        images_lib.to_model_input(np.zeros((2, 4, 4, 2), np.uint8))


def test_inception_score_needs_as_many_images_as_splits(classifier):
    with pytest.raises(ValueError, match="num_splits"):
        evaluation.inception_score(uint8_images(3), classifier_fn=classifier, num_splits=4, verbose=False)


def test_running_moments_equal_two_pass_statistics():
    features = np.random.default_rng(0).normal(loc=1e3, size=(101, 7))  # a large offset tests stability
    moments = statistics.RunningMoments()
    for chunk in np.array_split(features, 9):
        moments.update(chunk)
    stats, exact = moments.result(), evaluation.FeatureStatistics.from_features(features)
    np.testing.assert_allclose(stats.mean, exact.mean, rtol=1e-12)
    np.testing.assert_allclose(stats.covariance, exact.covariance, rtol=1e-9, atol=1e-12)
    assert stats.count == 101


def test_reference_statistics_are_cached_by_dataset_and_classifier(tmp_path, classifier):
    x = uint8_images()
    calls = []

    def load_real():
        calls.append(1)
        return x

    def reference(clf):
        return evaluation.reference_statistics(
            load_real, dataset="toy/train", classifier_fn=clf, cache_dir=tmp_path, verbose=False
        )

    first, second = reference(classifier), reference(classifier)
    assert len(calls) == 1  # the cache hit never loads the data set
    assert (tmp_path / "toy-train__linear.npz").exists()
    np.testing.assert_array_equal(first.covariance, second.covariance)
    fid = evaluation.frechet_inception_distance(
        x, x, classifier_fn=classifier, dataset="toy/train", cache_dir=tmp_path, verbose=False
    )
    assert abs(fid) < 1e-6 and len(calls) == 1
    other = linear_classifier(seed=5)[0]
    reference(other)
    assert len(calls) == 1  # same name "linear": the key is the classifier's name
    renamed = evaluation.load_classifier(other, name="linear-5")
    reference(renamed)
    assert len(calls) == 2


def test_classifier_from_keras_model_savedmodel_and_keras_file(tmp_path):
    import keras

    inputs = keras.Input((SIZE, SIZE, 1))
    pool = keras.layers.Dense(5, name="pool")(keras.layers.Flatten()(inputs))
    logits = keras.layers.Dense(3, name="logits")(pool)
    model = keras.Model(inputs, {"logits": logits, "pool": pool}, name="tiny")
    x = uint8_images(6, channels=3)  # RGB in, the model takes grayscale: converted
    expected = evaluation.load_classifier(model)(x)
    assert evaluation.load_classifier(model).name.startswith("tiny-")  # and the hash of its weights
    assert [a.shape for a in expected] == [(6, 3), (6, 5)]
    model.export(str(tmp_path / "exported"), verbose=False)
    model.save(tmp_path / "tiny.keras")
    for path in (tmp_path / "exported", tmp_path / "tiny.keras"):
        clf = evaluation.load_classifier(str(path))
        assert (clf.image_size, clf.channels) == ((SIZE, SIZE), 1)
        for got, want in zip(clf(x), expected):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_default_inception_offline_says_how_to_pass_a_local_model(monkeypatch):
    from tf_lipschitz.evaluation import classifiers

    monkeypatch.setattr(classifiers, "INCEPTION_TFHUB", "https://tfhub.invalid/tensorflow/tfgan/eval/inception/1")
    with pytest.raises(RuntimeError, match="classifier_fn=.*--classifier"):
        evaluation.inception_score(uint8_images(4), num_splits=2, verbose=False)


def test_evaluate_accepts_precomputed_real_statistics_for_fid(classifier):
    real, fake = uint8_images(seed=1), uint8_images(seed=2)
    stats = evaluation.compute_statistics(real, classifier_fn=classifier, verbose=False)
    options = dict(classifier_fn=classifier, num_splits=2, verbose=False)
    from_stats = evaluation.evaluate(stats, fake, metrics=("inception_score", "fid"), **options)
    from_images = evaluation.evaluate(real, fake, metrics=("inception_score", "fid"), **options)
    assert from_stats == pytest.approx(from_images, rel=1e-9)
    with pytest.raises(ValueError, match="only serve FID"):
        evaluation.evaluate(stats, fake, metrics=("kid",), **options)
    with pytest.raises(ValueError, match="Unknown metrics"):
        evaluation.evaluate(real, fake, metrics=("lpips",), **options)
