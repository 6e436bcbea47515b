"""TF-GAN's classifier_metrics loads on TF 2.21 without `import tensorflow_gan` (which fails there)."""

import os
import sys

import numpy as np
import pytest
import tensorflow as tf

from tf_lipschitz.evaluation import tfgan_compat


def test_loads_the_installed_file_without_the_package_init():
    module = tfgan_compat.load_classifier_metrics()
    assert module.__file__ == os.path.join(tfgan_compat.tfgan_eval_dir(), "classifier_metrics.py")
    assert module.__name__.startswith("tf_lipschitz.evaluation.tfgan_compat._tfgan")
    # Neither TF-GAN's package nor the placeholders used while loading are left registered.
    assert not [name for name in sys.modules if name.split(".")[0] == "tensorflow_gan"]
    assert tfgan_compat.load_classifier_metrics() is module  # loaded once


def test_loads_while_importing_tensorflow_gan_is_impossible(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_gan", None)  # any `import tensorflow_gan` now raises
    with pytest.raises(ImportError):
        __import__("tensorflow_gan")
    module = tfgan_compat.load_classifier_metrics.__wrapped__()  # a fresh load, bypassing the cache
    assert float(module.classifier_score_from_logits(tf.zeros((4, 3), tf.float64))) == pytest.approx(1.0)
    assert sys.modules["tensorflow_gan"] is None
    assert "tensorflow_gan.python.eval" not in sys.modules


def test_placeholders_restore_existing_modules():
    sentinel = type(sys)("tensorflow_gan.python.eval")
    sentinel.eval_utils = "previous"
    names = ("tensorflow_gan", "tensorflow_gan.python")
    saved = {name: sys.modules.get(name) for name in (*names, tfgan_compat.TFGAN_EVAL_PACKAGE)}
    sys.modules[tfgan_compat.TFGAN_EVAL_PACKAGE] = sentinel
    try:
        with tfgan_compat._placeholder_parents("loaded"):
            assert sys.modules[tfgan_compat.TFGAN_EVAL_PACKAGE].eval_utils == "loaded"
            assert all(name in sys.modules for name in names)
        assert sentinel.eval_utils == "previous"
        assert sys.modules[tfgan_compat.TFGAN_EVAL_PACKAGE] is sentinel
        assert not any(name in sys.modules for name in names)
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def test_functions_run_on_this_tensorflow():
    assert tf.__version__.startswith("2.")
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(40, 3)), rng.normal(size=(40, 3)) + 1.0
    uniform = tfgan_compat.classifier_score_from_logits(tf.zeros((8, 5), tf.float64))
    assert float(uniform) == pytest.approx(1.0)  # identical predictions: KL = 0
    fid = tfgan_compat.frechet_classifier_distance_from_activations(a, b)
    assert float(fid) > 2.0  # mean gap alone is ~3
    kid, std = tfgan_compat.kernel_classifier_distance_and_std_from_activations(
        tf.constant(a), tf.constant(b), max_block_size=20, dtype=tf.float64
    )
    assert float(kid) > 0 and float(std) > 0
    eye = tf.eye(3, dtype=tf.float64)
    assert float(tfgan_compat.trace_sqrt_product(4 * eye, eye)) == pytest.approx(6.0)  # Tr(sqrt(4 I)) = 3 * 2
