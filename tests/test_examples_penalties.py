"""Smoke tests of the penalty examples: `examples/toy_ring.py` (ALR §4.2) and `examples/semi_supervised_alr.py`
(ALR appendix A.3), each run in-process for a few steps on tiny settings, checking the run directory."""

import csv
import importlib.util
import json
import math
import os
import sys

import numpy as np
import pytest
import tensorflow as tf

from tf_lipschitz.toy import ring as toy_problems

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "examples")


def _load(name):
    if name not in sys.modules:  # dataclasses need the module registered while it executes
        spec = importlib.util.spec_from_file_location(name, os.path.join(EXAMPLES, f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _assert_png(path):
    with open(path, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize(path) > 2000


# ----------------------------------------------------------------------------------------------- toy ring
def test_toy_ring_configurations_cover_figure_1():
    toy = _load("toy_ring")
    names = [c.name for c in toy.configurations()]
    assert len(names) == 28 and len(set(names)) == 28  # (none + SN + 3 LP + 9 ALP) × with/without BN
    assert {"none", "sn", "lp_lambda0.1", "alp_lambda10_k5", "alp_lambda1_k0_bn", "sn_bn"} <= set(names)
    with pytest.raises(ValueError, match="methods"):
        toy.configurations(["gp"])


def test_toy_ring_tf_target_matches_eq24():
    toy = _load("toy_ring")
    # Random points: on a grid some radii are exactly 1 or 2, where float32 and float64 may round apart.
    points = np.random.default_rng(0).uniform(-4, 4, (5000, 2)).astype("float32")
    expected = toy_problems.ring_target(points)
    assert 0 < expected.mean() < 1
    np.testing.assert_array_equal(toy._ring_target_tf(tf.constant(points)).numpy()[:, 0], expected)


def test_toy_ring_smoke_run_writes_the_run_directory_and_resumes(tmp_path, capsys):
    toy = _load("toy_ring")
    run_dir = str(tmp_path / "toy")
    argv = ["--run-dir", run_dir, "--iterations", "4", "--methods", "none", "sn", "lp", "alp", "--lambdas", "1",
            "--power-iterations", "1", "--batch-norm", "off", "--reg-batch-size", "64", "--grid-resolution", "21",
            "--log-every", "2", "--checkpoint-every", "2", "--no-progress"]
    rows = toy.main(argv)
    out = capsys.readouterr().out
    assert "| configuration | max ‖∇f̂‖" in out and "| ALP λ=1 k=1 |" in out and "| f̂_opt (Eq. 25) |" in out

    assert [r["configuration"] for r in rows] == ["none", "sn", "lp_lambda1", "alp_lambda1_k1"]
    for row in rows:
        for key in ("max_grad_norm", "rmse_opt", "grad_norm_mae_opt", "rmse_target", "final_mse"):
            assert math.isfinite(row[key]), (row["configuration"], key)
        folder = os.path.join(run_dir, row["configuration"])
        log = _csv(os.path.join(folder, "log.csv"))
        assert [int(r["step"]) for r in log] == [2, 4]
        assert all(math.isfinite(float(r[k])) for r in log for k in ("loss", "mse", "penalty", "ratio_max"))
        assert sorted(os.listdir(os.path.join(folder, "checkpoints"))) == ["step-00000002", "step-00000004"]
        # The table's numbers are the grid metrics of the saved grid values.
        with np.load(os.path.join(folder, "grid.npz")) as npz:
            grid = toy_problems.evaluation_grid(21)
            recomputed = toy_problems.grid_metrics(grid, npz["values"], npz["gradient_norms"])
        assert recomputed["rmse_opt"] == pytest.approx(row["rmse_opt"])
        assert recomputed["max_grad_norm"] == pytest.approx(row["max_grad_norm"])
    alp_log = _csv(os.path.join(run_dir, "alp_lambda1_k1", "log.csv"))
    assert float(alp_log[-1]["ratio_mean"]) > 0  # the ALP diagnostics are really computed
    assert float(_csv(os.path.join(run_dir, "none", "log.csv"))[-1]["penalty"]) == 0.0

    for name in ("figure1_gradient_norms.png", "functions.png", "loss_curves.png"):
        _assert_png(os.path.join(run_dir, name))
    assert "| SN |" in (tmp_path / "toy" / "summary.md").read_text()
    assert len(_csv(os.path.join(run_dir, "summary.csv"))) == 4
    assert len(json.loads((tmp_path / "toy" / "summary.json").read_text())) == 4

    # Rerunning the same command reuses the finished configurations instead of training again.
    again = toy.main(argv)
    assert [r["rmse_opt"] for r in again] == [r["rmse_opt"] for r in rows]
    assert [r["seconds"] for r in again] == [r["seconds"] for r in rows]


# ------------------------------------------------------------------------------------------ semi-supervised
@pytest.fixture
def tiny_cifar(tmp_path):
    """A 10-class 32×32×3 .npz in the keras.datasets layout: 200 train and 50 test images."""
    rng = np.random.default_rng(0)
    y_train, y_test = np.repeat(np.arange(10), 20), np.repeat(np.arange(10), 5)
    # A class-dependent brightness makes the task learnable, not that a few steps will learn it.
    x_train = (rng.integers(0, 128, (200, 32, 32, 3)) + 12 * y_train[:, None, None, None]).astype(np.uint8)
    x_test = (rng.integers(0, 128, (50, 32, 32, 3)) + 12 * y_test[:, None, None, None]).astype(np.uint8)
    path = tmp_path / "tiny_cifar.npz"
    np.savez(path, x_train=x_train, y_train=y_train[:, None], x_test=x_test, y_test=y_test[:, None])
    return str(path)


def test_balanced_split_is_disjoint_and_balanced():
    ssl = _load("semi_supervised_alr")
    labels = np.repeat(np.arange(10), 50)
    labeled, val, unlabeled = ssl.balanced_split(labels, 40, 20, seed=3)
    assert len(labeled) == 40 and len(val) == 20 and len(unlabeled) == 440
    assert np.all(np.bincount(labels[labeled]) == 4) and np.all(np.bincount(labels[val]) == 2)
    assert not set(labeled) & set(val) and not set(labeled) & set(unlabeled) and not set(val) & set(unlabeled)
    _, _, limited = ssl.balanced_split(labels, 40, 20, 100, seed=3)
    assert np.all(np.bincount(labels[limited]) == 10)
    with pytest.raises(ValueError, match="Class"):
        ssl.balanced_split(labels, 400, 200)


def test_regularizer_options_are_appendix_a3():
    ssl = _load("semi_supervised_alr")
    args = ssl.parse_args(["--data-dir", "unused.npz"])
    vat, alr = ssl.regularizer_options("vat", args), ssl.regularizer_options("alr", args)
    assert (vat["d_x"], vat["d_y"], vat["epsilon"], vat["K"]) == ("trivial", "kl", 8.0, 0.0)
    assert (alr["d_x"], alr["d_y"], alr["epsilon"], alr["K"]) == ("l2", "mse_logits", (1.0, 10.0), 0.0)
    assert args.learning_rate == 3e-4 and args.labeled == 4000 and args.validation == 1000
    assert args.penalty_weight == 1.0 and vat["entropy_weight"] == alr["entropy_weight"] == 1.0


def _mean_abs_cos(a, b):
    a, b = (v.reshape(len(v), -1) for v in (a, b))
    return float(np.mean(np.abs(np.sum(a * b, 1)) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))))


def test_shared_mask_gives_one_dropout_mask_per_step_and_a_true_power_iteration():
    import keras

    from tf_lipschitz.penalties import adversarial_perturbation
    from tf_lipschitz.penalties.noise import seed_tensor, uniform

    ssl = _load("semi_supervised_alr")
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, activation="tanh"),
                              keras.layers.Dropout(0.5, seed=2), keras.layers.Dense(3)])
    x = np.random.default_rng(3).normal(size=(32, 64)).astype("float32")
    begin = ssl.shared_mask(model)
    f = begin()
    np.testing.assert_array_equal(f(x), f(x))  # same mask within a step
    assert not np.array_equal(f(x), begin()(x))  # a new one in the next step
    # Reference: one power-iteration step on the thinned network's Jacobian J (from autodiff, not differences):
    # r₁ ∝ JᵀJ r₀ with the function's own start r₀.
    r0 = uniform((32, 64), seed_tensor(5), stream=1, low=-1.0, high=1.0).numpy()
    kwargs = dict(xi=1e-3, epsilon=1.0, d_y="mse_logits", seed=5)
    cosines = {}
    for name, make_f in (("shared", begin), ("independent", lambda: lambda t: model(t, training=True))):
        values = []
        for _ in range(3):
            f = make_f()
            direction = adversarial_perturbation(f, x, **kwargs).numpy()
            x_t = tf.constant(x)
            with tf.GradientTape() as tape:
                tape.watch(x_t)
                y = f(x_t) if name == "shared" else model(x_t, training=False)
            jacobian = tape.batch_jacobian(y, x_t).numpy()  # (32, 3, 64)
            expected = np.einsum("nki,nkj,nj->ni", jacobian, jacobian, r0)
            values.append(_mean_abs_cos(direction, expected))
        cosines[name] = float(np.mean(values))
    # One mask: a true power iteration of one deterministic (thinned) network. Fresh masks: the finite
    # difference measures the masks' difference and the direction is far even from the whole network's.
    assert cosines["shared"] > 0.99 and cosines["independent"] < 0.9, cosines


def test_semi_supervised_step_with_direction_dropout_off_and_bad_mode():
    import keras

    ssl = _load("semi_supervised_alr")
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(8, activation="tanh"),
                              keras.layers.Dropout(0.5), keras.layers.Dense(3)])
    args = ssl.parse_args(["--data-dir", "unused.npz", "--direction-dropout", "off"])
    optimizer = keras.optimizers.Adam(1e-3)
    step = ssl.make_train_step(model, optimizer, ssl.regularizer_options("alr", args), 1.0,
                               keras.random.SeedGenerator(0), args.direction_dropout)
    rng = np.random.default_rng(0)
    logs = step(rng.normal(size=(4, 8)).astype("float32"), np.array([0, 1, 2, 0]),
                rng.normal(size=(6, 8)).astype("float32"))
    assert float(logs["penalty"]) >= float(logs["entropy"]) > 0
    with pytest.raises(ValueError, match="direction_dropout"):
        ssl.make_train_step(model, optimizer, {}, 1.0, keras.random.SeedGenerator(0), "independent")


def test_semi_supervised_smoke_run_writes_the_run_directory(tiny_cifar, tmp_path, capsys):
    ssl = _load("semi_supervised_alr")
    run_dir = str(tmp_path / "ssl")
    rows = ssl.main(["--data-dir", tiny_cifar, "--run-dir", run_dir, "--steps", "2", "--eval-every", "1",
                     "--checkpoint-every", "1", "--width", "2", "--labeled", "50", "--validation", "50",
                     "--batch-size", "10", "--unlabeled-batch-size", "16", "--preprocess", "scale",
                     "--no-progress"])
    out = capsys.readouterr().out
    assert "50 labeled, 100 unlabeled, 50 validation, 50 test images" in out
    assert "| VAT |" in out and "| ALR |" in out

    assert [r["method"] for r in rows] == ["vat", "alr"]
    for row in rows:
        for key in ("best_val_accuracy", "test_accuracy_at_best_val", "final_val_accuracy", "final_test_accuracy"):
            assert 0.0 <= row[key] <= 1.0, (row["method"], key)
        log = _csv(os.path.join(run_dir, row["method"], "log.csv"))
        assert [int(r["step"]) for r in log] == [1, 2]
        for r in log:
            for key in ("loss", "cross_entropy", "penalty", "entropy", "ratio_mean", "ratio_max"):
                assert math.isfinite(float(r[key])), (row["method"], key)
            # The penalty is the smoothness term plus the entropy (weight 1); both are positive.
            assert float(r["penalty"]) >= float(r["entropy"]) > 0
        checkpoints = os.listdir(os.path.join(run_dir, row["method"], "checkpoints"))
        assert sorted(checkpoints) == ["step-00000001", "step-00000002"]
    _assert_png(os.path.join(run_dir, "curves.png"))
    assert "| VAT |" in (tmp_path / "ssl" / "summary.md").read_text()
    assert len(_csv(os.path.join(run_dir, "summary.csv"))) == 2
