"""`callbacks.WeightSpectrumMonitor`: the logged singular values equal NumPy's SVD of each applied kernel."""

import csv
import os

import keras
import numpy as np
import pytest

from tf_lipschitz.callbacks import WeightSpectrumMonitor
from tf_lipschitz.layers import OrthonormalDense, SpectralNormDense


def _model():
    return keras.Sequential([
        keras.Input((4, 4, 2)), keras.layers.Conv2D(3, 3, name="conv"), keras.layers.Flatten(),
        SpectralNormDense(5, k_sn=2.0, name="sn"), OrthonormalDense(4, name="ortho"), keras.layers.Dense(1, name="out"),
    ])


def test_logged_values_match_numpy_svd_of_the_applied_kernels(tmp_path):
    model = _model()
    model.compile(keras.optimizers.SGD(0.05), "mse")
    monitor = WeightSpectrumMonitor(every_n_steps=2, top_k=2, plot_path=os.path.join(tmp_path, "spectrum.png"))
    log = os.path.join(tmp_path, "log.csv")
    x = np.random.default_rng(0).normal(size=(16, 4, 4, 2)).astype("float32")
    history = model.fit(x, x[:, :1, 0, 0], batch_size=4, epochs=2, verbose=0,
                        callbacks=[monitor, keras.callbacks.CSVLogger(log)])
    assert monitor.history["step"] == [2, 4, 6, 8]
    svd = lambda m: np.linalg.svd(np.asarray(m, np.float64), compute_uv=False)  # noqa: E731
    conv = svd(model.get_layer("conv").kernel.numpy().reshape(-1, 3))
    assert monitor.history["conv/sigma0"][-1] == pytest.approx(conv[0], rel=1e-5)
    assert monitor.history["conv/sigma1"][-1] == pytest.approx(conv[1], rel=1e-5)
    assert monitor.history["conv/sigma_ratio"][-1] == pytest.approx(conv[0] / conv[1], rel=1e-5)
    # The normalized layers report the kernel they apply: σ0 = k_sn for SN, all σ = 1 for the orthonormal layer.
    assert monitor.history["sn/sigma0"][-1] == pytest.approx(2.0, rel=1e-2)
    assert monitor.history["ortho/sigma1"][-1] == pytest.approx(1.0, abs=1e-3)
    assert "out/sigma1" not in monitor.history and "out/sigma_ratio" not in monitor.history  # one singular value
    assert history.history["conv/sigma0"][-1] == monitor.history["conv/sigma0"][-1]
    with open(log, newline="") as handle:
        assert "conv/sigma0" in next(csv.DictReader(handle))
    with open(os.path.join(tmp_path, "spectrum.png"), "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"


def test_spectrum_of_a_gan_like_model_with_nested_networks_and_errors():
    inner = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3, name="g")], name="generator")
    outer = keras.Sequential([keras.Input((3,)), inner, keras.layers.Dense(2, name="c")], name="gan")
    monitor = WeightSpectrumMonitor(top_k=5)
    monitor.set_model(outer)
    values = monitor.measure()
    expected = np.linalg.svd(outer.get_layer("generator").get_layer("g").kernel.numpy(), compute_uv=False)
    np.testing.assert_allclose([values[f"generator/g/sigma{i}"] for i in range(3)], expected, rtol=1e-5)
    assert "generator/g/sigma3" not in values and "c/sigma1" in values
    with pytest.raises(ValueError, match="top_k=0"):
        WeightSpectrumMonitor(top_k=0)
    with pytest.raises(ValueError, match="nothing measured"):
        WeightSpectrumMonitor().plot("x.png")


def test_nan_kernel_is_reported_by_layer_and_step():
    # Before: np.linalg.svd raised LinAlgError ("SVD did not converge") from inside the callback.
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="dense"),
                              keras.layers.Dense(1, name="out")])
    model.compile(keras.optimizers.SGD(1e-3), "mse")
    model.layers[0].kernel.assign(np.full((4, 3), np.nan, "float32"))
    monitor = WeightSpectrumMonitor(every_n_steps=1)
    with pytest.raises(FloatingPointError, match=r"kernel of layer 'dense' has 12 NaN or Inf entries of 12 at "
                                                  r"training step 1"):
        model.fit(np.ones((8, 4), "float32"), np.zeros((8, 1), "float32"), batch_size=4, callbacks=[monitor],
                  verbose=0)
