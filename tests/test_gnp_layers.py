"""Gradient-norm-preserving layers (Anil et al. 2019): GroupSort and the Björck-orthonormal Dense.

References: NumPy SVD of the orthonormalized kernel, a NumPy per-group sort, the input gradient's norm (which is
exactly 1 for a square GroupSort + orthogonal network), and the exported plain Dense."""

import os
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_lipschitz import analysis
from tf_lipschitz.analysis import convert
from tf_lipschitz.layers import GroupSort, OrthonormalDense, bjorck_orthonormalize, group_sort
from tf_lipschitz.layers.orthonormal import orthonormality_error, sigma_max_bound


def _singular_values(matrix):
    return np.linalg.svd(np.asarray(matrix, np.float64), compute_uv=False)


# ------------------------------------------------------------------------------------------------ GroupSort
@pytest.mark.parametrize("group_size", [1, 2, 3, 6])
def test_group_sort_matches_a_numpy_sort_within_each_group(group_size):
    x = np.random.default_rng(0).normal(size=(5, 4, 6)).astype("float32")
    expected = np.sort(x.reshape(5, 4, 6 // group_size, group_size), axis=-1).reshape(x.shape)
    np.testing.assert_array_equal(np.asarray(GroupSort(group_size)(x)), expected)
    # A permutation within each group: the multiset of every group is unchanged.
    got = np.asarray(group_sort(x, group_size)).reshape(5, 4, -1, group_size)
    np.testing.assert_array_equal(np.sort(got, -1), np.sort(x.reshape(got.shape), -1))


@pytest.mark.parametrize("group_size", [2, 4])
def test_group_sort_jacobian_is_a_permutation_matrix(group_size):
    x = tf.constant(np.random.default_rng(1).normal(size=(3, 8)).astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = GroupSort(group_size)(x)
    jac = tape.batch_jacobian(y, x).numpy()
    for j in jac:
        assert set(np.unique(j)) == {0.0, 1.0}
        np.testing.assert_array_equal(j.sum(0), 1.0)
        np.testing.assert_array_equal(j.sum(1), 1.0)


def test_max_min_path_equals_the_sort_path_values_and_gradients():
    # group_size=2 runs as elementwise min/max; the reference is the general ops.sort path on the same input.
    from tf_lipschitz.layers.groupsort import _max_min, _sorted_groups

    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 5, 5, 8)).astype("float32")
    x[0, 0, 0, :2] = 0.5  # a tie: both paths return the same values
    x = tf.constant(x)
    weights = tf.constant(rng.normal(size=x.shape).astype("float32"))
    results = []
    for path in (lambda t: _max_min(t, 8), lambda t: _sorted_groups(t, 8, 2)):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = path(x)
            loss = tf.reduce_sum(y * weights)
        results.append((y.numpy(), tape.gradient(loss, x).numpy()))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(np.asarray(group_sort(x, 2)), results[1][0])
    untied = np.ones(x.shape, bool)
    untied[0, 0, 0, :2] = False  # at a tie the two paths may route the gradient to different entries of the pair
    np.testing.assert_array_equal(results[0][1][untied], results[1][1][untied])
    np.testing.assert_array_equal(results[0][1][~untied].sum(), results[1][1][~untied].sum())


def test_group_sort_validates_and_round_trips(tmp_path):
    with pytest.raises(ValueError, match="group_size=0"):
        GroupSort(0)
    with pytest.raises(ValueError, match="channels=5, group_size=2"):
        GroupSort(2)(np.ones((1, 5), "float32"))
    layer = GroupSort(3, name="gs")
    assert GroupSort.from_config(layer.get_config()).group_size == 3
    assert layer.lipschitz_bound() == 1.0
    assert isinstance(layer.export_plain(), GroupSort) and layer.export_plain().group_size == 3


# ------------------------------------------------------------------------------------------ Björck / Dense
@pytest.mark.parametrize("shape", [(6, 6), (9, 4), (4, 9)])
@pytest.mark.parametrize("order", [1, 2])
def test_bjorck_makes_every_singular_value_one(shape, order):
    w = np.random.default_rng(2).normal(size=shape).astype("float32")
    q = np.asarray(bjorck_orthonormalize(w, iterations=40, order=order))
    np.testing.assert_allclose(_singular_values(q), 1.0, atol=1e-3)
    # The singular vectors are kept: q is the polar factor U Vᵀ of w.
    u, _, vt = np.linalg.svd(w.astype(np.float64), full_matrices=False)
    np.testing.assert_allclose(q, u @ vt, atol=1e-3)


def test_sigma_max_bound_is_an_upper_bound():
    for seed in range(5):
        w = np.random.default_rng(seed).normal(size=(7, 3)) * (seed + 1)
        assert float(sigma_max_bound(w)) >= _singular_values(w)[0] * (1 - 1e-6)


def test_orthonormal_dense_kernel_singular_values_after_training_steps():
    layer = OrthonormalDense(5, iterations=30)
    model = keras.Sequential([keras.Input((8,)), layer])
    model.compile(keras.optimizers.SGD(0.5), "mse")
    x = np.random.default_rng(3).normal(size=(32, 8)).astype("float32")
    model.fit(x, x[:, :5] * 3.0, epochs=3, verbose=0)
    raw = layer.kernel.numpy()
    assert _singular_values(raw).std() > 1e-3  # the trainable kernel itself moved away from orthonormal ...
    np.testing.assert_allclose(_singular_values(layer.orthonormal_kernel()), 1.0, atol=1e-3)  # ... its use did not
    assert abs(layer.lipschitz_bound() - 1.0) < 1e-3


def test_square_groupsort_orthonormal_network_preserves_gradient_norm():
    dims = 6
    model = keras.Sequential([keras.Input((dims,))])
    for _ in range(3):
        model.add(OrthonormalDense(dims, iterations=30, kernel_initializer="random_normal"))
        model.add(GroupSort(2))
    model.add(OrthonormalDense(1, iterations=30, kernel_initializer="random_normal"))
    x = tf.constant(np.random.default_rng(4).normal(size=(64, dims)).astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = model(x)
    norms = np.linalg.norm(tape.gradient(y, x).numpy(), axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-3)
    assert analysis.lipschitz_upper_bound(model) == pytest.approx(1.0, abs=1e-3)


def test_gradient_flows_through_the_iterations_to_the_kernel():
    # The result depends on the kernel only through its singular vectors, so compare with finite differences.
    w = tf.Variable(np.random.default_rng(5).normal(size=(4, 3)).astype("float64"))
    c = tf.constant(np.random.default_rng(6).normal(size=(4, 3)))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(bjorck_orthonormalize(w, iterations=40, tolerance=1e-12) * c)
    grad = tape.gradient(loss, w).numpy()
    assert np.abs(grad).max() > 1e-3
    h, numeric = 1e-6, np.zeros_like(grad)
    for i in np.ndindex(grad.shape):
        e = np.zeros_like(grad)
        e[i] = h
        f = lambda d: float(tf.reduce_sum(  # noqa: E731
            bjorck_orthonormalize(w.numpy() + d, iterations=40, tolerance=1e-12) * c))
        numeric[i] = (f(e) - f(-e)) / (2 * h)
    np.testing.assert_allclose(grad, numeric, atol=1e-5)


def _gaussian_kernel():
    # Keras' RandomNormal(seed=0) 64×64 kernel: 20 fixed Björck steps (the former default) left σ_min = 0.343.
    return keras.initializers.RandomNormal(seed=0)((64, 64)).numpy()


def test_orthonormal_dense_converges_on_a_gaussian_64x64_kernel():
    layer = OrthonormalDense(64, kernel_initializer=keras.initializers.Constant(_gaussian_kernel()))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # converged: no warning
        y = layer(np.ones((2, 64), "float32"))
    singular_values = _singular_values(np.asarray(layer.orthonormal_kernel()))
    np.testing.assert_allclose(singular_values, 1.0, atol=1e-4)  # was σ_min = 0.343
    # The isometry the layer promises: ‖Wx‖ = ‖x‖ (and so gradient norms are kept).
    assert float(tf.norm(y[0] - layer.bias)) == pytest.approx(8.0, rel=1e-4)


def test_bjorck_stops_at_the_tolerance_in_graph_and_xla_with_gradients():
    w = tf.Variable(_gaussian_kernel())
    reference = np.asarray(bjorck_orthonormalize(w, iterations=80, tolerance=1e-6))

    @tf.function(jit_compile=True)
    def orthonormalize_and_gradient():
        with tf.GradientTape() as tape:
            q = bjorck_orthonormalize(w)
            loss = tf.reduce_sum(q[:, 0])
        return q, tape.gradient(loss, w)

    q, grad = orthonormalize_and_gradient()
    np.testing.assert_allclose(_singular_values(q.numpy()), 1.0, atol=1e-4)
    np.testing.assert_allclose(q.numpy(), reference, atol=1e-4)
    assert np.all(np.isfinite(grad.numpy())) and np.abs(grad.numpy()).max() > 0
    assert float(orthonormality_error(q)) <= 1e-4


def test_bjorck_warns_when_the_maximum_is_reached_before_the_tolerance():
    with pytest.warns(RuntimeWarning, match=r"did not converge in iterations=20 steps"):
        q = bjorck_orthonormalize(_gaussian_kernel(), iterations=20)
    assert _singular_values(np.asarray(q))[-1] < 0.5  # the silent failure the warning reports


def test_orthonormal_dense_validates_arguments():
    with pytest.raises(ValueError, match="iterations=0"):
        OrthonormalDense(3, iterations=0)
    with pytest.raises(ValueError, match="order=1.5"):
        OrthonormalDense(3, order=1.5)


def test_keras_round_trip_and_export_plain(tmp_path):
    model = keras.Sequential([
        keras.Input((4,)), OrthonormalDense(4, iterations=25, order=2, kernel_initializer="random_normal",
                                            bias_initializer="random_normal"),
        GroupSort(2), OrthonormalDense(2, activation="tanh"),
    ])
    x = np.random.default_rng(7).normal(size=(10, 4)).astype("float32")
    path = os.path.join(tmp_path, "gnp.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.layers[0].iterations == 25 and loaded.layers[0].order == 2
    np.testing.assert_allclose(loaded(x), model(x), atol=1e-6)
    plain = keras.Sequential([keras.Input((4,))] + [layer.export_plain() for layer in model.layers])
    assert type(plain.layers[0]) is keras.layers.Dense
    np.testing.assert_allclose(plain(x), model(x), atol=1e-5)
    exported = convert.export_plain(model)  # the model-level export asks each layer
    assert [type(layer).__name__ for layer in exported.layers] == ["Dense", "GroupSort", "Dense"]
    np.testing.assert_allclose(exported(x), model(x), atol=1e-5)


def test_orthonormal_dense_under_xla_and_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_float16")
    layer = OrthonormalDense(3)
    model = keras.Sequential([keras.Input((3,)), layer, GroupSort(3), keras.layers.Dense(1, dtype="float32")])
    model.compile("adam", "mse", jit_compile=True)
    x = np.random.default_rng(8).normal(size=(16, 3)).astype("float32")
    history = model.fit(x, x.sum(1, keepdims=True), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert layer.kernel.dtype == "float32" and model(x).dtype == "float32"
    np.testing.assert_allclose(_singular_values(layer.orthonormal_kernel()), 1.0, atol=1e-3)
