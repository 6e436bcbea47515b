"""Smoke tests of the GAN examples: each runs in-process for a few steps on tiny data made here.

Each checks the run directory (CSV log, PNGs, checkpoints, the final table) and that the numbers are finite.
"""

import importlib.util
import json
import os

import keras
import numpy as np
import pytest
from PIL import Image

from tf_lipschitz.reporting import read_csv_log

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "examples")


def load_example(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", os.path.join(EXAMPLES, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_run_dir(run_dir, steps, columns=("critic_loss", "generator_loss")):
    log = read_csv_log(os.path.join(run_dir, "log.csv"))
    for column in columns:
        assert np.isfinite(log[column]).all(), (column, log[column])
    assert sorted(os.listdir(os.path.join(run_dir, "checkpoints")))[-1] == f"step-{steps:08d}"
    assert os.path.exists(os.path.join(run_dir, "final.weights.npz"))
    return log


def assert_png(path):
    assert os.path.getsize(path) > 100, path
    with Image.open(path) as image:
        assert image.format == "PNG"


@pytest.mark.parametrize("name", ["toy_wgan", "cifar10_wgan_alp", "lipschitz_sweep", "progressive_gan_alp"])
def test_help(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_example(name).main(["--help"])
    assert exit_info.value.code == 0
    assert "usage" in capsys.readouterr().out


def test_toy_wgan_three_models_exact_w1_table_and_plot(tmp_path, capsys):
    toy = load_example("toy_wgan")
    argv = ["--toys", "8gaussians", "--steps", "2", "--checkpoint-every", "1", "--width", "8", "--depth", "1",
            "--batch-size", "8", "--n-critic", "2", "--eval-samples", "32", "--verbose", "0",
            "--run-dir", str(tmp_path)]
    assert toy.main(argv) == 0
    for model in ("wgan-alp", "wgan-gp", "sn"):
        run_dir = tmp_path / "8gaussians" / model
        log = assert_run_dir(run_dir, 2, ("critic_loss", "w1_exact", "wasserstein_estimate"))
        assert len(log["w1_exact"]) == 2
        result = json.loads((run_dir / "result.json").read_text())
        assert np.isfinite(result["w1"]) and 0 < result["noise_floor"] < result["w1"]
        assert_png(run_dir / "samples_and_critic.png")
    assert_png(tmp_path / "w1_8gaussians.png")
    table = (tmp_path / "results.md").read_text()
    assert table.count("| 8gaussians |") == 6 and "wall clock" in table
    assert "exact W1(generated, real)" in capsys.readouterr().out
    # A finished sweep is read back, not retrained.
    assert toy.main(argv) == 0
    assert "8gaussians / sn: 2 steps" not in capsys.readouterr().out


def test_cifar10_wgan_alp_with_local_classifier_metrics(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "cifar.npz", x_train=rng.integers(0, 256, (24, 32, 32, 3), dtype=np.uint8))
    inputs = keras.Input((32, 32, 3))
    pool = keras.layers.GlobalAveragePooling2D(name="pool")(keras.layers.Conv2D(4, 3, strides=4)(inputs))
    keras.Model(inputs, {"logits": keras.layers.Dense(10, name="logits")(pool), "pool": pool}).save(
        tmp_path / "classifier.keras")
    run_dir = tmp_path / "run"
    code = load_example("cifar10_wgan_alp").main([
        "--data-dir", str(tmp_path / "cifar.npz"), "--steps", "2", "--checkpoint-every", "1", "--width", "4",
        "--latent-dim", "8", "--batch-size", "4", "--n-critic", "1", "--eval-every", "2", "--eval-samples", "8",
        "--classifier", str(tmp_path / "classifier.keras"), "--grid-samples", "4", "--verbose", "0",
        "--run-dir", str(run_dir)])
    assert code == 0
    log = assert_run_dir(str(run_dir), 2, ("critic_loss", "penalty", "wasserstein_estimate"))
    assert np.isfinite(log["fid"][-1]) and log["inception_score"][-1] >= 1.0 - 1e-6
    result = json.loads((run_dir / "result.json").read_text())
    assert np.isfinite(result["fid"]) and result["steps"] == 2
    assert_png(run_dir / "samples" / "step_000002.png")
    assert_png(run_dir / "losses.png")
    assert_png(run_dir / "metrics.png")


def test_cifar10_wgan_alp_missing_data_is_a_usage_error(tmp_path, capsys):
    code = load_example("cifar10_wgan_alp").main(["--data-dir", str(tmp_path / "none.npz"), "--eval-every", "0"])
    assert code == 2 and "No such file" in capsys.readouterr().err


def test_lipschitz_sweep_mnist_fid_table_and_plot(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "mnist.npz", x_train=rng.integers(0, 256, (32, 28, 28), dtype=np.uint8),
             y_train=rng.integers(0, 10, 32))
    run_dir = tmp_path / "run"
    code = load_example("lipschitz_sweep").main([
        "--data-dir", str(tmp_path / "mnist.npz"), "--sweep", "alpha", "--losses", "ls-gan#",
        "--alphas", "1e-9", "1e-1", "--steps", "1", "--width", "2", "--latent-dim", "4", "--batch-size", "4",
        "--fid-samples", "12", "--classifier-epochs", "1", "--grid-samples", "4", "--verbose", "0",
        "--run-dir", str(run_dir)])
    assert code == 0
    assert os.path.exists(run_dir / "mnist_classifier.keras")
    for point in ("ls-gansharp_ksn50_alpha1e-09", "ls-gansharp_ksn50_alpha0.1"):
        assert_run_dir(str(run_dir / point), 1)
        assert np.isfinite(json.loads((run_dir / point / "result.json").read_text())["fid"])
        assert_png(run_dir / point / "samples" / "step_000001.png")
    table = (run_dir / "fid.md").read_text()
    assert "| loss | α = 1e-09 | α = 0.1 |" in table and "| ls-gan# |" in table and "nan" not in table
    assert_png(run_dir / "fid.png")


def test_progressive_gan_alp_grows_with_fade_in_on_a_png_folder(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "faces"
    folder.mkdir()
    for i in range(8):
        Image.fromarray(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    run_dir = tmp_path / "run"
    code = load_example("progressive_gan_alp").main([
        "--data-dir", str(folder), "--max-resolution", "8", "--fmap-base", "8", "--fmap-max", "4",
        "--batch-size", "4", "--training-images", "4", "--transition-images", "8", "--checkpoint-every", "1",
        "--grid-samples", "4", "--verbose", "0", "--run-dir", str(run_dir)])
    assert code == 0
    assert_run_dir(str(run_dir / "level0-4x4"), 1)
    log = assert_run_dir(str(run_dir / "level1-8x8"), 3, ("critic_loss", "penalty", "wasserstein_estimate"))
    # 8 transition images = 2 steps of 4 (α = 0, 0.5), then stabilization at α = 1.
    np.testing.assert_allclose(log["fade_in_alpha"], [0.0, 0.5, 1.0])
    assert_png(run_dir / "samples" / "4x4_step_000001.png")
    assert_png(run_dir / "samples" / "8x8_step_000003.png")
    assert_png(run_dir / "samples" / "8x8_ema.png")  # the final grid of the generator EMA
    assert_png(run_dir / "training.png")


def test_progressive_gan_alp_carries_the_generator_ema_to_the_next_level():
    from tf_lipschitz.architectures import progressive_gan
    from tf_lipschitz.recipes import progressive_wgan_alp

    example = load_example("progressive_gan_alp")
    config = progressive_gan(8, latent_dim=4, fmap_base=8, fmap_max=4)
    previous = progressive_wgan_alp(config, config.generator(0), config.critic(0))
    for average in previous.ema_variables:  # an average that differs from the live weights
        average.assign(average + 0.5)
    generator, critic = config.grow(previous.generator, previous.critic)
    gan = progressive_wgan_alp(config, generator, critic)
    example.carry_generator_ema(config, 1, previous, gan)
    old = {v.path: np.asarray(a) for v, a in zip(previous.generator.trainable_variables, previous.ema_variables)}
    carried = fresh = 0
    for variable, average in zip(gan.generator.trainable_variables, gan.ema_variables):
        key = variable.path  # layer/variable, the same names at both levels (what `transfer_weights` matches)
        if key in old:  # a block of level 0: its average
            np.testing.assert_array_equal(np.asarray(average), old[key])
            carried += 1
        else:  # a new block: the live weights
            np.testing.assert_array_equal(np.asarray(average), np.asarray(variable))
            fresh += 1
    assert carried and fresh


def test_cifar10_wgan_alp_clips_like_the_authors_code_unless_told_not_to():
    example = load_example("cifar10_wgan_alp")
    parser = example.build_parser()
    clipped = example.build_gan(parser.parse_args(["--width", "4", "--latent-dim", "8"])).resolved_penalty.kwargs
    assert clipped["clip"] == (-1.0, 1.0) and clipped["clip_probe"] is True
    assert clipped["xi"] == 10.0 and clipped["epsilon"] == (0.1, 10.0)
    plain = example.build_gan(parser.parse_args(["--width", "4", "--latent-dim", "8", "--no-clip"])).resolved_penalty
    assert plain.kwargs.get("clip") is None and not plain.kwargs.get("clip_probe")
