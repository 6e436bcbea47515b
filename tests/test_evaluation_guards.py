"""Evaluation never prints a wrong number with exit 0: undefined statistics and KID refused, classifiers and real
sets identified by content in the statistics cache, commands that answer `--help` and argument errors without
TensorFlow, and `--limit`."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import scipy.linalg

from tf_lipschitz import evaluation
from tf_lipschitz.commands import cli
from tf_lipschitz.evaluation import images as images_lib
from tf_lipschitz.evaluation import metrics, statistics

SIZE = 8


def stats_of(features):
    return statistics.FeatureStatistics.from_features(features)


@pytest.fixture
def keras_classifier():
    inputs = keras.Input((SIZE, SIZE, 3))
    pool = keras.layers.Dense(6, name="pool")(keras.layers.Flatten()(inputs))
    logits = keras.layers.Dense(4, name="logits")(pool)
    return keras.Model(inputs, {"logits": logits, "pool": pool}, name="tiny")


def images(n, seed):
    return np.random.default_rng(seed).integers(0, 256, size=(n, SIZE, SIZE, 3), dtype=np.uint8)


# --- FID and KID refuse what they cannot compute -------------------------------------------------------------


def test_fid_refuses_nan_statistics(tmp_path):
    good = stats_of(np.random.default_rng(0).normal(size=(20, 3)))
    nan_mean = statistics.FeatureStatistics(np.array([0.0, np.nan, 0.0]), np.eye(3), 20)
    with pytest.raises(ValueError, match="statistics of real hold NaN"):
        metrics.frechet_distance(nan_mean, good)
    path = str(tmp_path / "nan_stats.npz")
    statistics.save_statistics(path, nan_mean, classifier="c")
    with pytest.raises(ValueError, match=f"statistics of {path} hold NaN"):
        statistics.load_statistics_file(path)


def test_fid_refuses_an_indefinite_covariance_that_would_give_a_negative_distance():
    # Σ2 = diag(-4, 1): Tr Σ1 + Tr Σ2 - 2 Tr((Σ1 Σ2)^½) = 2 - 3 - 2 = -3 with negative eigenvalues clipped.
    real = statistics.FeatureStatistics(np.zeros(2), np.eye(2), 10)
    indefinite = statistics.FeatureStatistics(np.zeros(2), np.diag([-4.0, 1.0]), 10)
    with pytest.raises(ValueError, match=r"generated have a covariance that is not positive semi-definite: .* -4"):
        metrics.frechet_distance(real, indefinite)
    asymmetric = statistics.FeatureStatistics(np.zeros(2), np.array([[1.0, 0.5], [0.0, 1.0]]), 10)
    with pytest.raises(ValueError, match="real have a covariance that is not symmetric"):
        metrics.frechet_distance(asymmetric, real)


def test_fid_is_never_negative_and_equals_scipy_on_rank_deficient_covariances():
    rng = np.random.default_rng(3)
    features = rng.normal(size=(5, 40)) * 1e3  # n < d: singular covariance, eigenvalues ±round-off
    same = stats_of(features)
    assert metrics.frechet_distance(same, same) == pytest.approx(0.0, abs=1e-6 * np.trace(same.covariance))
    assert metrics.frechet_distance(same, same) >= 0.0
    other = stats_of(rng.normal(size=(60, 40)))
    sqrt = scipy.linalg.sqrtm(same.covariance @ other.covariance).real
    reference = np.sum((same.mean - other.mean) ** 2) + np.trace(same.covariance + other.covariance - 2 * sqrt)
    assert metrics.frechet_distance(same, other) == pytest.approx(reference, rel=1e-7)


def test_kid_of_a_single_image_is_an_error_not_nan():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="KID needs at least 2 images per set.*Received: 1 real image"):
        metrics.kid_from_features(rng.normal(size=(1, 4)), rng.normal(size=(5, 4)))
    with pytest.raises(ValueError, match="Received: 1 generated image"):
        metrics.kid_from_features(rng.normal(size=(5, 4)), rng.normal(size=(1, 4)))
    features = rng.normal(size=(5, 4))
    features[2, 1] = np.nan
    with pytest.raises(ValueError, match="generated features hold NaN"):
        metrics.kid_from_features(rng.normal(size=(5, 4)), features)


# --- The statistics cache keys on what was measured ----------------------------------------------------------


def test_a_classifier_retrained_at_the_same_path_gets_fresh_statistics(tmp_path, keras_classifier):
    path = str(tmp_path / "classifier.keras")
    keras_classifier.save(path)
    real, fake = images(30, 1), images(30, 2)
    options = dict(dataset="toy", cache_dir=tmp_path / "cache", verbose=False)
    first = evaluation.frechet_inception_distance(real, fake, classifier_fn=path, **options)
    name = evaluation.load_classifier(path).name
    assert name.startswith("classifier.keras-") and name == evaluation.load_classifier(path).name
    keras_classifier.set_weights([w * 3 + 0.1 for w in keras_classifier.get_weights()])  # "retrained"
    keras_classifier.save(path)
    assert evaluation.load_classifier(path).name != name
    retrained = evaluation.frechet_inception_distance(real, fake, classifier_fn=path, **options)
    fresh = evaluation.frechet_inception_distance(real, fake, classifier_fn=path, verbose=False)  # no cache
    assert retrained == pytest.approx(fresh, rel=1e-9) and retrained != pytest.approx(first, rel=1e-3)
    assert len(os.listdir(tmp_path / "cache")) == 2


def test_a_keras_model_is_named_by_its_weights(keras_classifier):
    name = evaluation.load_classifier(keras_classifier).name
    assert name.startswith("tiny-") and evaluation.load_classifier(keras_classifier).name == name
    keras_classifier.set_weights([w + 1 for w in keras_classifier.get_weights()])
    assert evaluation.load_classifier(keras_classifier).name != name
    assert evaluation.load_classifier(keras_classifier, name="mine").name == "mine"


def test_dataset_cache_keys_on_the_real_images(tmp_path, keras_classifier):
    real_a, real_b, fake = images(30, 1), images(30, 3), images(30, 2)
    options = dict(classifier_fn=keras_classifier, dataset="toy", cache_dir=tmp_path, verbose=False)
    fid_a = evaluation.frechet_inception_distance(real_a, fake, **options)
    fid_b = evaluation.frechet_inception_distance(real_b, fake, **options)  # same name, other images
    assert fid_b == pytest.approx(evaluation.frechet_inception_distance(real_b, fake, **{**options, "dataset": None}))
    assert fid_a != pytest.approx(fid_b, rel=1e-3) and len(os.listdir(tmp_path)) == 2


def test_evaluate_dataset_cache_keys_on_the_real_file(tmp_path, keras_classifier, monkeypatch, capsys):
    classifier = str(tmp_path / "tiny.keras")
    keras_classifier.save(classifier)
    np.savez(tmp_path / "a.npz", images(30, 1))
    np.savez(tmp_path / "b.npz", images(30, 3))
    np.savez(tmp_path / "fake.npz", images(30, 2))
    common = ["evaluate", "--fake", str(tmp_path / "fake.npz"), "--classifier", classifier, "--metrics", "fid",
              "--quiet", "--dataset", "toy", "--cache-dir", str(tmp_path / "cache")]

    def fid(real):
        assert cli.main([*common, "--real", str(tmp_path / real)]) == 0
        return capsys.readouterr().out

    first_a, first_b = fid("a.npz"), fid("b.npz")
    assert first_a != first_b and len(os.listdir(tmp_path / "cache")) == 2
    load = images_lib.load_images
    monkeypatch.setattr(images_lib, "load_images", lambda p, k=None: load(p, k) if "fake" in str(p) else 1 / 0)
    assert fid("a.npz") == first_a  # cache hit: the real file is hashed, not decoded nor classified


# --- The commands -------------------------------------------------------------------------------------------


def test_evaluate_limit_uses_the_first_images_of_each_set(tmp_path, keras_classifier, capsys):
    real, fake = images(30, 1), images(25, 2)
    np.savez(tmp_path / "real.npz", real)
    np.savez(tmp_path / "fake.npz", fake)
    args = ["evaluate", "--real", str(tmp_path / "real.npz"), "--fake", str(tmp_path / "fake.npz"), "--classifier",
            str(tmp_path / "tiny.keras"), "--metrics", "fid,kid", "--quiet", "--limit", "10"]
    keras_classifier.save(tmp_path / "tiny.keras")
    assert cli.main(args) == 0
    printed = dict(line.split(": ") for line in capsys.readouterr().out.strip().splitlines())
    expected = evaluation.evaluate(real[:10], fake[:10], classifier_fn=keras_classifier, metrics=("fid", "kid"),
                                   verbose=False)
    assert float(printed["fid"]) == pytest.approx(expected["fid"], rel=1e-5)
    assert float(printed["kid"]) == pytest.approx(expected["kid"], rel=1e-4)


def test_evaluate_fid_against_a_nan_statistics_file_exits_2(tmp_path, keras_classifier, capsys):
    keras_classifier.save(tmp_path / "tiny.keras")
    np.savez(tmp_path / "fake.npz", images(10, 2))
    stats = statistics.FeatureStatistics(np.full(6, np.nan), np.eye(6), 10)
    name = evaluation.load_classifier(str(tmp_path / "tiny.keras")).name
    statistics.save_statistics(str(tmp_path / "stats.npz"), stats, classifier=name)
    code = cli.main(["evaluate", "--real", str(tmp_path / "stats.npz"), "--fake", str(tmp_path / "fake.npz"),
                     "--classifier", str(tmp_path / "tiny.keras"), "--quiet"])
    captured = capsys.readouterr()
    assert code == 2 and "fid:" not in captured.out and "hold NaN" in captured.err


@pytest.mark.parametrize(
    "argv, exit_code, message",
    [
        (["evaluate", "--help"], 0, "--limit LIMIT"),
        (["inception-stats", "--help"], 0, "--limit LIMIT"),
        (["evaluate", "--real", "r.npz"], 2, "the following arguments are required: --fake"),
        (["evaluate", "--fake", "f.npz", "--limit", "1"], 2, "argument --limit: must be >= 2, got 1"),
        (["evaluate", "--fake", "missing.npz"], 2, "--fake 'missing.npz' does not exist"),
        (["inception-stats", "--data", "missing.npz", "--out", "s.npz"], 2, "--data 'missing.npz' does not exist"),
    ],
)
def test_help_and_argument_errors_answer_without_tensorflow(tmp_path, argv, exit_code, message):
    program = (
        "import sys\n"
        "from tf_lipschitz.commands import cli\n"
        "try:\n"
        f"    code = cli.main({argv!r})\n"
        "except SystemExit as stop:\n"
        "    code = stop.code\n"
        "print('tensorflow imported:', 'tensorflow' in sys.modules, file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.dirname(evaluation.__file__)))})
    assert done.returncode == exit_code, done.stderr
    assert message in done.stdout + done.stderr
    assert "tensorflow imported: False" in done.stderr


def test_evaluate_shows_progress_per_set(tmp_path, keras_classifier, capsys):
    keras_classifier.save(tmp_path / "tiny.keras")
    np.savez(tmp_path / "real.npz", images(12, 1))
    np.savez(tmp_path / "fake.npz", images(12, 2))
    assert cli.main(["evaluate", "--real", str(tmp_path / "real.npz"), "--fake", str(tmp_path / "fake.npz"),
                     "--classifier", str(tmp_path / "tiny.keras"), "--metrics", "fid", "--batch-size", "4"]) == 0
    err = capsys.readouterr().err
    assert "loading TensorFlow and the classifier" in err
    assert "fake" in err and "real" in err and "12/12" in err  # a bar per set, ending at its size
