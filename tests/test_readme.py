"""Runs every ```python block of README.md verbatim, in order, in one namespace, so the API tour cannot drift.

The blocks use names the reader is assumed to have (`my_model`, `images`, `fake`, …); `placeholders()` binds each
to a tiny stand-in. Data, weights and compute that are not available on a test machine are stand-ins too: the
Inception SavedModel the evaluation block names is a tiny exported classifier on 8×8 images; the reference
ResNets are built at width 16; and `fit` of the GAN models runs one step, eagerly (tracing the unrolled
n_critic = 5 step takes minutes), whatever `steps_per_epoch` the README shows. A block that uses a new name fails with a NameError naming the block: add a
stand-in here.
"""

import functools
import os
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_lipschitz import architectures
from tf_lipschitz.models import LipschitzGAN

README = os.path.join(os.path.dirname(__file__), "..", "README.md")


def python_blocks(text: str) -> list[tuple[int, str]]:
    """(first line number, source) of every ```python fenced block."""
    blocks = []
    for match in re.finditer(r"^```python\n(.*?)^```", text, flags=re.S | re.M):
        blocks.append((text.count("\n", 0, match.start()) + 2, match.group(1)))
    return blocks


def tiny_classifier_savedmodel(path: str) -> None:
    """An Inception stand-in: a dict-output (`logits`, `pool`) classifier on 8×8×3 images, as a SavedModel."""
    inputs = keras.Input((8, 8, 3))
    pool = keras.layers.Dense(6, activation="tanh", name="pool")(keras.layers.Flatten()(inputs))
    logits = keras.layers.Dense(5, name="logits")(pool)
    keras.Model(inputs, {"logits": logits, "pool": pool}).export(path, verbose=False)


def placeholders() -> dict:
    rng = np.random.default_rng(0)

    def uniform(*shape):
        return rng.uniform(-1, 1, shape).astype("float32")

    def digits(n):
        return rng.integers(0, 256, (n, 28, 28, 1), dtype=np.uint8)

    return {
        # API tour
        "my_model": keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(4, 3, strides=2, padding="same"),
                                      keras.layers.ReLU(), keras.layers.Flatten(), keras.layers.Dense(1)]),
        "kernel": rng.normal(size=(4, 4, 3, 8)).astype("float32"),
        "x_real": uniform(4, 32, 32, 3),
        "x_fake": uniform(4, 32, 32, 3),
        "classifier": keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(10)]),
        # ALR wrapper
        "my_classifier": keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(),
                                           keras.layers.Dense(10)]),  # logits, as the README says
        "y": rng.integers(0, 10, 16),
        # GANs
        "images": tf.data.Dataset.from_tensor_slices(uniform(10, 32, 32, 3)),  # 5 critic batches of 2
        "gen": keras.Sequential([keras.Input((100,)), keras.layers.Dense(32 * 32 * 3, activation="tanh"),
                                 keras.layers.Reshape((32, 32, 3))]),
        "sn_critic": keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(),
                                       keras.layers.Dense(1)]),
        "x_held": uniform(8, 32, 32, 3),
        # Evaluation
        "real": rng.integers(0, 256, (20, 8, 8, 3), dtype=np.uint8),
        "fake": rng.integers(0, 128, (20, 8, 8, 3), dtype=np.uint8),
        "x_train": digits(64),
        "y_train": np.arange(64) % 10,
        "x_test": digits(20),
    }


def test_readme_python_blocks_run(tmp_path, monkeypatch):
    blocks = python_blocks(open(README, encoding="utf-8").read())
    assert len(blocks) >= 7
    monkeypatch.chdir(tmp_path)  # the blocks write omega.png, samples/, stats/ …
    tiny_classifier_savedmodel("inception_savedmodel")
    fit, compile_ = LipschitzGAN.fit, LipschitzGAN.compile
    monkeypatch.setattr(LipschitzGAN, "fit", lambda self, *a, **k: fit(self, *a, **{**k, "steps_per_epoch": 1}))
    monkeypatch.setattr(LipschitzGAN, "compile", lambda self, *a, **k: compile_(self, *a, **{**k, "run_eagerly": True}))
    for name in ("resnet_generator", "resnet_critic"):
        monkeypatch.setattr(architectures, name, functools.partial(getattr(architectures, name), width=16))
    namespace = placeholders()
    for line, source in blocks:
        code = compile(source, f"README.md, python block at line {line}", "exec")
        exec(code, namespace)  # noqa: S102 - the README's own code
    # The last blocks ran to the end: their results exist.
    assert np.isfinite(namespace["result"].penalty)
    assert namespace["samples"].shape == (64, 32, 32, 3)
    assert len(namespace["callbacks"]) == 4


def test_python_blocks_are_found_with_their_line_numbers():
    text = "intro\n```python\na = 1\n```\n```bash\nls\n```\n```python\nb = 2\nc = 3\n```\n"
    assert python_blocks(text) == [(3, "a = 1\n"), (9, "b = 2\nc = 3\n")]


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__, "-q"])
