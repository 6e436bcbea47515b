"""Smoke test of the equal-budget study (examples/equal_budget_study.py) on a tiny synthetic .npz."""

import csv
import json
import os
import sys

import numpy as np
import pytest
import tensorflow as tf

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
import equal_budget_study as study  # noqa: E402


def _tiny_npz(path):
    """200 training and 60 test 'digits': one bright column band per class, so a classifier can learn them."""
    rng = np.random.default_rng(0)
    labels = np.arange(260) % 10
    images = np.zeros((260, 28, 28), np.uint8)
    for i, label in enumerate(labels):
        images[i, :, 2 * label + 4: 2 * label + 7] = 255
    images = np.clip(images + rng.integers(0, 30, images.shape), 0, 255).astype(np.uint8)
    np.savez(path, x_train=images[:200], y_train=labels[:200], x_test=images[200:], y_test=labels[200:])


def _pooled(x):
    """Stand-in for the Inception network: 8×8 average pooling, 4×4×3 = 48 features per 32×32 image."""
    return tf.reshape(tf.nn.avg_pool2d(x, 8, 8, "VALID"), (tf.shape(x)[0], -1))


def _frechet(a, b):
    """|μa − μb|² + Tr Σa + Tr Σb − 2 Tr (Σa^½ Σb Σa^½)^½, from eigendecompositions."""
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(sa)
    root = v @ np.diag(np.sqrt(np.clip(w, 0, None))) @ v.T
    middle = np.sqrt(np.clip(np.linalg.eigvalsh(root @ sb @ root), 0, None)).sum()
    return float(np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(sa) + np.trace(sb) - 2 * middle)


def test_time_budget_steps_give_every_model_the_reference_wall_clock():
    pace = {"wgan-alp": 0.30, "wgan-gp": 0.20, "sn": 0.07}
    assert study.time_budget_steps(100, pace, "wgan-gp") == 150  # 100 × 0.30 / 0.20
    assert study.time_budget_steps(100, pace, "sn") == 429  # 428.57 rounded
    assert study.time_budget_steps(100, pace, "wgan-alp") == 100
    assert study.time_budget_steps(100, {"wgan-alp": 0.1, "sn": 0.2}, "sn") == 100  # never fewer than the steps run


def test_study_trains_scores_resumes_and_writes_the_tables(tmp_path, capsys):
    """Fashion-MNIST's path (the MNIST one runs the same code with another --dataset)."""
    data = tmp_path / "tiny.npz"
    _tiny_npz(data)
    out = tmp_path / "out"
    argv = ["--dataset", "fashion_mnist", "--data-file", str(data), "--out-dir", str(out), "--models", "wgan-alp,sn",
            "--seeds", "0", "--steps", "2", "--checkpoint-every", "2", "--width", "4", "--batch-size", "4",
            "--fid-samples", "40", "--classifier-epochs", "1", "--timing-steps", "1", "--timing-rounds", "1",
            "--verbose", "0"]
    # A stored timing pass fixes the plan: SN costs 2/5 of ALP per step, so its time run gets 5 steps.
    out.mkdir()
    (out / "timing.json").write_text(json.dumps({"seconds_per_step": {"wgan-alp": 0.25, "sn": 0.1}}))
    table = study.main(argv, fid_classifier=_pooled)
    assert "Expected duration" in capsys.readouterr().out
    with open(out / "results.csv") as handle:
        rows = list(csv.DictReader(handle))
    got = {(r["model"], r["budget"]): r for r in rows}
    assert set(got) == {("wgan-alp", "steps"), ("sn", "steps"), ("wgan-alp", "time"), ("sn", "time"),
                        ("real train vs test", "")}
    assert got["sn", "time"]["steps"] == "5" and got["sn", "steps"]["steps"] == "2"
    # WGAN-ALP's time run is its steps run: one directory, one result.
    assert got["wgan-alp", "time"]["run_dir"] == got["wgan-alp", "steps"]["run_dir"]
    assert sorted(os.listdir(out)) == sorted(["timing.json", "classifier.keras", "statistics", "wgan-alp-steps-seed0",
                                              "sn-steps-seed0", "sn-time-seed0", "results.csv", "results.md",
                                              "floor.json"])
    # The time run continued the steps run: its log and grids start with the steps run's step 2, end at step 5.
    with open(out / "sn-time-seed0" / "log.csv") as handle:
        assert [int(float(r["step"])) for r in csv.DictReader(handle)] == [2, 4, 5]
    assert sorted(os.listdir(out / "sn-time-seed0" / "samples")) == [f"step_{s:06d}.png" for s in (2, 4, 5)]
    assert got["sn", "time"]["grid"].endswith("step_000005.png")

    from tf_lipschitz.reporting import load_result

    result = load_result(str(out / "sn-steps-seed0"))
    assert result["fid_samples"] == 40 and result["steps"] == 2
    assert float(got["sn", "steps"]["fid"]) == result["fid"]
    # The floor row's FID: the stand-in's features of 40 training vs the first 40 test images (both resized to
    # 32×32, grayscale repeated to RGB), Fréchet distance recomputed in NumPy.
    with np.load(data) as npz:
        train = npz["x_train"][np.random.default_rng(0).permutation(200)[:40]]
        test = npz["x_test"][:40]
    features = [_pooled(tf.repeat(tf.image.resize(x[..., None] / 127.5 - 1.0, (32, 32)), 3, -1)).numpy()
                for x in (train, test)]
    assert np.isclose(float(got["real train vs test", ""]["fid"]), _frechet(*features), rtol=1e-4)
    assert (out / "results.md").read_text().strip() == table.strip()

    # A rerun trains nothing and reproduces the table.
    again = study.main(argv, fid_classifier=_pooled)
    printed = capsys.readouterr().out
    assert "--- " not in printed and again == table


@pytest.mark.slow
def test_alp_sweep_changes_one_setting_per_variant_and_reads_the_study_rows(tmp_path, capsys):
    import alp_sweep

    from tf_lipschitz.penalties import RelativeEpsilon

    data = tmp_path / "tiny.npz"
    _tiny_npz(data)
    out = tmp_path / "out"
    common = ["--data-file", str(data), "--out-dir", str(out), "--steps", "2", "--checkpoint-every", "2", "--width", "4",
              "--batch-size", "4", "--fid-samples", "40", "--classifier-epochs", "1", "--verbose", "0"]
    args = alp_sweep.parse_args(common)
    paper, _, _, paper_n_critic = alp_sweep.build(args, "xi-1", str(tmp_path / "b"))
    assert paper_n_critic == 5 and paper.penalty_weight == 100.0
    from tf_lipschitz.layers import lipschitz_layers

    assert lipschitz_layers(paper.critic) == []  # a plain critic, as the study's WGAN-ALP (not spectral-normalized)
    assert paper.resolved_penalty.kwargs["xi"] == 1.0 and paper.resolved_penalty.kwargs["epsilon"] == (0.1, 10.0)
    changed = {}
    for variant in ("relative-epsilon", "lambda-10", "clip", "n-critic-2", "lr-1e-4", "xi-0"):
        gan, _, _, n_critic = alp_sweep.build(args, variant, str(tmp_path / variant))
        changed[variant] = (gan, n_critic)
    assert isinstance(changed["relative-epsilon"][0].resolved_penalty.kwargs["epsilon"], RelativeEpsilon)
    assert changed["relative-epsilon"][0].resolved_penalty.kwargs["xi"] == 10.0
    assert changed["lambda-10"][0].penalty_weight == 10.0
    assert changed["xi-0"][0].resolved_penalty.kwargs["xi"] == 0.0
    clip = changed["clip"][0].resolved_penalty.kwargs
    assert clip["clip"] == (-1.0, 1.0) and clip["clip_probe"] is True
    assert changed["n-critic-2"][1] == 2 and changed["n-critic-2"][0].n_critic == 2
    assert np.isclose(float(changed["lr-1e-4"][0].critic_optimizer.learning_rate), 1e-4)
    assert np.isclose(float(changed["clip"][0].critic_optimizer.learning_rate), 2e-4)
    combined, _, _, combined_n_critic = alp_sweep.build(args, "xi-1+lambda-10+n-critic-2", str(tmp_path / "c"))
    assert combined.resolved_penalty.kwargs["xi"] == 1.0 and combined.penalty_weight == 10.0
    assert combined_n_critic == 2 and combined.resolved_penalty.kwargs["epsilon"] == (0.1, 10.0)
    with pytest.raises(SystemExit):
        alp_sweep.parse_args(common + ["--variants", "xi-1+xi-2"])
    assert "--variants=xi-1+xi-2" in capsys.readouterr().err

    table = alp_sweep.main(common + ["--variants", "lambda-10", "--timing", "--timing-steps", "1", "--timing-rounds",
                                     "2"], fid_classifier=_pooled)
    with open(out / "sweep" / "timing.json") as handle:
        timing = json.load(handle)
    assert sorted(timing["rounds"]) == ["WGAN-GP", "lambda-10", "paper"]
    assert all(len(r) == 2 and min(r) == timing["seconds_per_step"][name] for name, r in timing["rounds"].items())
    assert "| lambda-10 |" in (out / "sweep" / "timing.md").read_text()
    with open(out / "sweep" / "results.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["variant"] for r in rows] == ["lambda-10"] and rows[0]["steps"] == "2"
    assert (out / "sweep" / "lambda-10-seed0" / "result.json").exists() and "lambda-10" in table


def test_critic_probe_measures_a_linear_critic_exactly():
    """f(x) = w·x: the slope is ‖w‖ everywhere and both ALP quotients equal ‖w‖ (closed form)."""
    import keras

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scripts"))
    import critic_probe

    from tf_lipschitz.models import LipschitzGAN

    generator = keras.Sequential([keras.Input((100,)), keras.layers.Dense(32 * 32), keras.layers.Reshape((32, 32, 1))])
    dense = keras.layers.Dense(1, use_bias=True)
    critic = keras.Sequential([keras.Input((32, 32, 1)), keras.layers.Flatten(), dense])
    w = np.random.default_rng(0).normal(size=(1024, 1)).astype("float32") * 0.05
    dense.set_weights([w, np.ones(1, "float32")])
    gan = LipschitzGAN(generator, critic, latent_dim=100)
    real = np.random.default_rng(1).uniform(-1, 1, (8, 32, 32, 1)).astype("float32")
    values = critic_probe.probe(gan, real, 8)
    norm = float(np.linalg.norm(w))
    for key, value in values.items():
        if "slope" in key or "local" in key:
            assert np.isclose(value, norm, rtol=1e-3), (key, value, norm)
    assert values["ALP quotient paper max"] <= norm * (1 + 1e-4)  # one iteration from random: at most ‖w‖


def test_wall_clock_records_each_epoch_so_a_killed_run_keeps_its_time(tmp_path):
    """A fake clock: 3 s per epoch after 10 s from an earlier segment; the file holds the total after every epoch."""
    ticks = iter([100.0, 103.0, 106.0])
    callback = study.wall_clock(str(tmp_path), 10.0, clock=lambda: next(ticks))
    callback.on_train_begin()
    seen = []
    for epoch in range(2):
        callback.on_epoch_end(epoch)
        seen.append(study._read_seconds(str(tmp_path)))
    assert seen == [13.0, 16.0] and callback.seconds == 16.0
