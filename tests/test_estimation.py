"""Lipschitz estimation: the lower-bound search, LipSDP-Neuron and the layer-wise bound, checked against the SVD of
the explicit matrix (linear networks), a dense grid of gradient norms (2-D inputs) and each other
(lower ≤ LipSDP ≤ layer-wise). cvxpy is in the `test` extra, so the LipSDP tests run in CI."""

import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_lipschitz import analysis
from tf_lipschitz.analysis import estimation
from tf_lipschitz.layers import GroupSort, OrthonormalDense

cvxpy = pytest.importorskip("cvxpy", reason="cvxpy is absent: LipSDP tests need `pip install tf-lipschitz[sdp]`")


def _mlp(sizes, activation, seed, input_dim=2, bias=True):
    keras.utils.set_random_seed(seed)
    layers = [keras.Input((input_dim,))]
    for units in sizes[:-1]:
        layers.append(keras.layers.Dense(units, activation=activation, use_bias=bias,
                                         bias_initializer="random_normal" if bias else "zeros"))
    layers.append(keras.layers.Dense(sizes[-1], use_bias=bias))
    return keras.Sequential(layers)


def _explicit_matrix(model):
    matrix = np.eye(model.inputs[0].shape[-1])
    for layer in model.layers:
        matrix = matrix @ layer.kernel.numpy().astype(np.float64)
    return matrix


def _grid_gradient_max(model, limit, resolution):
    axis = np.linspace(-limit, limit, resolution, dtype="float32")
    points = tf.constant(np.stack(np.meshgrid(axis, axis), -1).reshape(-1, 2))
    with tf.GradientTape() as tape:
        tape.watch(points)
        y = model(points)
    return float(np.linalg.norm(tape.gradient(y, points).numpy(), axis=1).max())


def test_single_linear_layer_every_method_equals_the_svd():
    model = _mlp([3], None, seed=0, input_dim=5)
    sigma = np.linalg.svd(_explicit_matrix(model), compute_uv=False)[0]
    x = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
    result = estimation.estimate_lipschitz(model, x, "all", lower_options={"steps": 3})
    assert set(result) == {"lower", "lipsdp", "upper"}
    for method, value in result.items():
        assert value == pytest.approx(sigma, rel=1e-4), method


def test_deep_linear_network_lower_and_lipsdp_equal_the_svd_of_the_product():
    model = _mlp([6, 5, 3], None, seed=1, input_dim=4)
    sigma = np.linalg.svd(_explicit_matrix(model), compute_uv=False)[0]
    x = np.random.default_rng(1).normal(size=(4, 4)).astype("float32")
    assert estimation.estimate_lipschitz(model, x, "lower", lower_options={"steps": 3}) == pytest.approx(sigma, rel=1e-4)
    assert estimation.estimate_lipschitz(model, method="lipsdp") == pytest.approx(sigma, rel=1e-4)
    # The layer-wise bound multiplies the layers' norms: ≥ σ of the product, equal only for one layer.
    assert estimation.estimate_lipschitz(model, method="upper") > sigma * 1.05


@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
@pytest.mark.parametrize("seed", [0, 1])
def test_random_networks_are_bracketed_and_lipsdp_is_strictly_tighter(activation, seed):
    model = _mlp([10, 10, 2], activation, seed=seed, input_dim=3)
    x = np.random.default_rng(seed).normal(size=(16, 3)).astype("float32")
    result = estimation.estimate_lipschitz(model, x, "all", lower_options={"steps": 30})
    assert 0 < result["lower"] <= result["lipsdp"] * (1 + 1e-5)
    assert result["lipsdp"] < 0.8 * result["upper"]  # strictly tighter than the product of the layers' norms


def test_lipsdp_solvers_agree():
    model = _mlp([8, 8, 1], "relu", seed=3)
    assert estimation.lipsdp(model, solver="SCS") == pytest.approx(estimation.lipsdp(model), rel=2e-3)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_lower_bound_reaches_the_max_of_a_dense_grid_of_gradient_norms(activation):
    model = _mlp([8, 8, 1], activation, seed=2)
    x = np.random.default_rng(2).normal(size=(32, 2)).astype("float32")
    lower = estimation.lipschitz_lower_bound(model, x, steps=40, restarts=2)
    grid = _grid_gradient_max(model, limit=6.0, resolution=401)
    assert lower >= 0.99 * grid
    if activation == "tanh":  # smooth: the grid's max is within its resolution of the true one
        assert lower <= grid * (1 + 1e-3)
    assert lower <= estimation.lipsdp(model) * (1 + 1e-5)  # tanh is slope-restricted in [0, 1] like ReLU


def test_lower_bound_is_deterministic_and_at_least_the_jacobian_svd_at_the_data_for_vector_outputs():
    model = _mlp([6, 4], "tanh", seed=4, input_dim=3)
    x = np.random.default_rng(4).normal(size=(8, 3)).astype("float32")
    first = estimation.lipschitz_lower_bound(model, x, steps=5, seed=7)
    assert first == estimation.lipschitz_lower_bound(model, x, steps=5, seed=7)
    # The search starts at the data: it ends at or above the largest Jacobian singular value there (tf.linalg.svd).
    assert first >= analysis.empirical_lipschitz(model, x) * (1 - 1e-5)


def test_gnp_network_lipsdp_reads_orthonormal_layers_and_refuses_groupsort():
    keras.utils.set_random_seed(5)
    model = keras.Sequential([keras.Input((4,)), OrthonormalDense(4, activation="relu"), OrthonormalDense(1)])
    bound = estimation.lipsdp(model)
    assert bound <= 1.0 + 1e-4 and bound <= estimation.estimate_lipschitz(model, method="upper") + 1e-4
    with pytest.raises(ValueError, match="GroupSort"):
        estimation.lipsdp(keras.Sequential([keras.Input((4,)), keras.layers.Dense(4), GroupSort(2),
                                            keras.layers.Dense(1)]))


def test_arguments_are_checked():
    model = _mlp([2], None, seed=0)
    with pytest.raises(ValueError, match="method='exact'"):
        estimation.estimate_lipschitz(model, np.zeros((1, 2)), "exact")
    with pytest.raises(ValueError, match="x=None"):
        estimation.estimate_lipschitz(model, method="lower")
    with pytest.raises(ValueError, match="restarts=0"):
        estimation.lipschitz_lower_bound(model, np.zeros((1, 2)), restarts=0)
    with pytest.raises(ValueError, match="solver='MOSEK'"):
        estimation.lipsdp(model, solver="MOSEK")


def test_missing_cvxpy_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "cvxpy", None)  # makes `import cvxpy` raise ImportError
    with pytest.raises(ImportError, match=r'pip install "tf-lipschitz\[sdp\]"'):
        estimation.lipsdp(_mlp([2], None, seed=0))


def test_lower_bound_refuses_nan_like_empirical_lipschitz():
    # Before: estimate_lipschitz(method="lower") returned NaN where analysis.empirical_lipschitz raised.
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    x = np.zeros((4, 2), "float32")
    x[1, 0] = np.nan
    for estimate in (lambda: estimation.estimate_lipschitz(model, x, method="lower"),
                     lambda: analysis.empirical_lipschitz(model, x)):
        with pytest.raises(ValueError, match="NaN or Inf values in 1 of its 4 samples"):
            estimate()
    model.layers[0].kernel.assign(np.full((2, 1), np.nan, "float32"))
    with pytest.raises(ValueError, match="not finite"):
        estimation.estimate_lipschitz(model, np.zeros((4, 2), "float32"), method="lower", lower_options={"steps": 2})
