"""`tf-lipschitz evaluate` in-process, on small .npz files and an image folder, with a test-built classifier."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_lipschitz import evaluation
from tf_lipschitz.commands import cli

SIZE = 8


@pytest.fixture
def classifier_path(tmp_path):
    """A tiny dict-output classifier, exported as a SavedModel folder and saved as a .keras file."""
    inputs = keras.Input((SIZE, SIZE, 3))
    pool = keras.layers.Dense(6, activation="tanh", name="pool")(keras.layers.Flatten()(inputs))
    logits = keras.layers.Dense(4, name="logits")(pool)
    model = keras.Model(inputs, {"logits": logits, "pool": pool}, name="tiny")
    model.export(str(tmp_path / "savedmodel"), verbose=False)
    model.save(tmp_path / "tiny.keras")
    return tmp_path


@pytest.fixture
def image_sets(tmp_path):
    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, size=(40, SIZE, SIZE, 3), dtype=np.uint8)
    fake = rng.integers(0, 128, size=(30, SIZE, SIZE), dtype=np.uint8)  # grayscale, darker
    np.savez(tmp_path / "real.npz", x_train=real, y_train=np.zeros(40))
    np.savez(tmp_path / "fake.npz", fake)
    folder = tmp_path / "fake_png"
    folder.mkdir()
    for i, image in enumerate(fake):
        tf.io.write_file(str(folder / f"{i:03d}.png"), tf.io.encode_png(image[..., None]))
    return real, fake


def test_evaluate_npz_and_folder_with_savedmodel(tmp_path, classifier_path, image_sets, capsys):
    real, fake = image_sets
    args = ["evaluate", "--real", str(tmp_path / "real.npz"), "--classifier", str(classifier_path / "savedmodel")]
    options = ["--num-splits", "3", "--batch-size", "16", "--quiet"]
    assert cli.main([*args, "--fake", str(tmp_path / "fake.npz"), *options, "--json", str(tmp_path / "a.json")]) == 0
    printed = capsys.readouterr().out
    assert "fid:" in printed and "kid:" in printed and "inception_score:" in printed
    assert cli.main([*args, "--fake", str(tmp_path / "fake_png"), *options, "--json", str(tmp_path / "b.json")]) == 0
    from_npz = json.loads((tmp_path / "a.json").read_text())
    from_folder = json.loads((tmp_path / "b.json").read_text())
    assert from_npz.keys() == from_folder.keys()
    assert from_npz["kid_std"] is None  # one KID block: NaN, written as null
    for key in from_npz.keys() - {"kid_std"}:  # PNG round-trips uint8 exactly
        assert from_folder[key] == pytest.approx(from_npz[key], rel=1e-9), key
    expected = evaluation.evaluate(
        real, fake, classifier_fn=str(classifier_path / "tiny.keras"), num_splits=3, verbose=False
    )
    for key in ("fid", "kid", "inception_score"):
        assert from_npz[key] == pytest.approx(expected[key], rel=1e-5), key
    assert from_npz["fid"] > 0


def test_evaluate_inception_score_only_without_real(tmp_path, classifier_path, image_sets, capsys):
    code = cli.main(
        ["evaluate", "--fake", str(tmp_path / "fake.npz"), "--classifier", str(classifier_path / "tiny.keras"),
         "--num-splits", "2", "--quiet"]
    )
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["inception_score", "inception_score_std"]
    assert cli.main(["evaluate", "--fake", str(tmp_path / "fake.npz"), "--metrics", "fid", "--quiet"]) == 2


def test_evaluate_rejects_out_of_range_images(tmp_path, classifier_path, capsys):
    np.savez(tmp_path / "bad.npz", images=np.full((4, SIZE, SIZE), 200.0, np.float32))
    classifier = str(classifier_path / "tiny.keras")
    code = cli.main(
        ["evaluate", "--fake", str(tmp_path / "bad.npz"), "--classifier", classifier, "--num-splits", "2", "--quiet"]
    )
    assert code == 2
    assert "images / 127.5 - 1" in capsys.readouterr().err


def test_dataset_statistics_are_cached_and_the_real_set_not_read_again(tmp_path, classifier_path, image_sets, capsys):
    classifier = str(classifier_path / "tiny.keras")
    common = ["--fake", str(tmp_path / "fake.npz"), "--classifier", classifier, "--metrics", "fid", "--quiet",
              "--dataset", "toy/real", "--cache-dir", str(tmp_path / "cache")]
    assert cli.main(["evaluate", "--real", str(tmp_path / "real.npz"), *common]) == 0
    first = capsys.readouterr().out
    name = evaluation.load_classifier(classifier).name
    assert [path.name[: -len("0123456789abcdef.npz")] for path in (tmp_path / "cache").iterdir()] == [
        f"toy-real__{name}__"
    ]  # the name, the classifier's content and the real file's content
    assert cli.main(["evaluate", "--real", str(tmp_path / "real.npz"), *common]) == 0  # cache hit
    assert capsys.readouterr().out == first
    assert cli.main(["evaluate", "--real", str(tmp_path / "missing.npz"), *common]) == 2
    assert "missing.npz' does not exist" in capsys.readouterr().err
