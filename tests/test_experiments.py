"""The presets (`tf_lipschitz.recipes`) and reports (`tf_lipschitz.reporting`) of the command and the examples."""

import json
import os

import numpy as np
import pytest
from PIL import Image

import keras

from tf_lipschitz import recipes, reporting
from tf_lipschitz.data import center_crop
from tf_lipschitz.models import LipschitzGAN, WGANALP


def test_make_gan_builds_each_model_with_the_papers_defaults():
    gen, critic = recipes.toy_networks(8, 1)
    alp = recipes.make_gan("wgan-alp", gen, critic, latent_dim=2, penalty_kwargs=recipes.TOY_ALP)
    assert isinstance(alp, WGANALP) and alp.penalty_weight == 100.0
    assert alp.penalty_kwargs["xi"] == 1.0 and alp.penalty_kwargs["epsilon"] == (0.01, 0.5)
    gp = recipes.make_gan("wgan-gp", gen, critic, latent_dim=2)
    assert (gp.penalty, gp.regularize, gp.penalty_weight) == ("gp", "interpolate", 10.0)
    sn_gen, sn_critic = recipes.toy_networks(8, 1, spectral_norm=True)
    sn = recipes.make_gan("sn", sn_gen, sn_critic, latent_dim=2, n_critic=1)
    assert sn.penalty is None and sn.gan_loss.name == "ns-gan" and sn.n_critic == 1
    with pytest.raises(ValueError, match="`model` must be one of.*Received: model='wgan'"):
        recipes.make_gan("wgan", gen, critic, latent_dim=2)


def test_adam_decays_linearly_to_zero_for_both_networks_together():
    critic_opt, gen_opt = recipes.adam_optimizers(2e-4, 0.0, 0.9, decay_steps=100, n_critic=5)
    assert critic_opt.beta_1 == 0.0 and gen_opt.beta_2 == 0.9
    def rate_at(optimizer, iterations):
        optimizer.iterations.assign(iterations)
        return float(optimizer.learning_rate)

    # Halfway: 50 generator steps are 250 critic updates.
    assert rate_at(critic_opt, 250) == pytest.approx(1e-4) and rate_at(gen_opt, 50) == pytest.approx(1e-4)
    assert rate_at(critic_opt, 500) == 0.0 == rate_at(gen_opt, 100)
    constant, _ = recipes.adam_optimizers(1e-4, 0.5, 0.9)
    assert float(constant.learning_rate) == pytest.approx(1e-4)


def test_fit_schedule_rounds_steps_to_whole_intervals():
    assert recipes.fit_schedule(1000, 100) == (1000, 100)
    assert recipes.fit_schedule(7, 5) == (10, 5)
    assert recipes.fit_schedule(3, 100) == (3, 3)
    with pytest.raises(ValueError, match="`steps` must be an integer >= 1. Received: steps=0"):
        recipes.fit_schedule(0, 5)


def test_load_image_data_reads_a_folder_and_center_crops(tmp_path):
    for i in range(3):
        Image.fromarray(np.full((12, 8, 3), i * 50, np.uint8)).save(tmp_path / f"{i}.png")
    images = recipes.load_image_data("cifar10", str(tmp_path))  # no cifar10/ inside: an image folder
    assert images.shape == (3, 8, 8, 3) and images.dtype == np.uint8
    assert center_crop(np.arange(6 * 4).reshape(1, 6, 4, 1))[0, :, :, 0].tolist()[0] == [4, 5, 6, 7]


def test_tables_plots_logs_and_results_round_trip(tmp_path):
    text = reporting.markdown_table(["loss", "FID"], [["wgan", 3.14159], ["ns", None]], precision=3)
    assert text.splitlines() == ["| loss | FID |", "|---|---|", "| wgan | 3.14 |", "| ns | – |"]
    (tmp_path / "log.csv").write_text("epoch,fid,val_fid\n0,2.5,NA\n1,1.5,NA\n")
    log = reporting.read_csv_log(str(tmp_path / "log.csv"))
    np.testing.assert_array_equal(log["fid"], [2.5, 1.5])
    assert np.isnan(log["val_fid"]).all() and reporting.read_csv_log(str(tmp_path / "none.csv")) == {}
    path = reporting.line_plot(str(tmp_path / "plots" / "fid.png"), {"wgan": ([1, 10], [3.0, np.nan])},
                                 xlabel="k", ylabel="FID", logx=True, hlines={"floor": 1.0})
    assert os.path.getsize(path) > 1000
    assert reporting.load_result(str(tmp_path)) is None
    reporting.save_result(str(tmp_path), {"fid": np.float32(1.5), "steps": 4})
    assert reporting.load_result(str(tmp_path)) == {"fid": 1.5, "steps": 4}


def test_write_rows_appends_under_one_header_and_write_summary_writes_three_files(tmp_path, capsys):
    path = str(tmp_path / "log.csv")
    reporting.write_rows(path, ["step", "loss"], [{"step": 1, "loss": 0.5, "extra": "dropped"}])
    reporting.write_rows(path, ["step", "loss"], [{"step": 2, "loss": 0.25}], mode="a")
    assert (tmp_path / "log.csv").read_text().splitlines() == ["step,loss", "1,0.5", "2,0.25"]
    reporting.write_rows(path, ["step"], [])
    assert (tmp_path / "log.csv").read_text().splitlines() == ["step"]

    table = reporting.markdown_table(["run", "acc", "steps"], [["—", 0.12345, 7]], formats=[None, ".2f", None])
    assert table.splitlines()[2] == "| — | 0.12 | 7 |"
    rows = [{"run": "a", "acc": 0.5, "seconds": 1.0}]
    reporting.write_summary(str(tmp_path), "Title", table, rows, ["run", "acc"])
    assert (tmp_path / "summary.md").read_text() == f"# Title\n\n{table}\n"
    assert (tmp_path / "summary.csv").read_text().splitlines() == ["run,acc", "a,0.5"]
    assert json.loads((tmp_path / "summary.json").read_text()) == rows
    assert capsys.readouterr().out == f"\nTitle\n\n{table}\n\nRun directory: {tmp_path}\n"


def test_progressive_wgan_alp_is_the_papers_eq_32_setup():
    from tf_lipschitz.architectures import progressive_gan

    config = progressive_gan(8, latent_dim=8, fmap_base=16, fmap_max=8)
    gan = recipes.progressive_wgan_alp(config, config.generator(0), config.critic(0), seed=3)
    assert isinstance(gan, LipschitzGAN) and gan.latent_dim == 8 and gan.seed == 3
    assert (gan.gan_loss.name, gan.penalty, gan.penalty_weight, gan.regularize, gan.n_critic, gan.drift) == (
        "wgan", "alp", 0.1, "both", 1, 0.001)
    # The author's fork: λ·(P_real + P_fake), generator batch = critic batch, generator EMA β = 0.999.
    assert (gan.both_reduction, gan.generator_batch_multiplier, gan.generator_ema) == ("sum", 1, 0.999)
    assert gan.penalty_kwargs == {"reduction": "squared+abs", "epsilon": (0.1, 100.0), "xi": 10.0,
                                  "power_iterations": 1, "K": 1.0}
    for optimizer in (gan.critic_optimizer, gan.generator_optimizer):
        assert isinstance(optimizer, keras.optimizers.Adam)
        assert (float(optimizer.learning_rate), optimizer.beta_1, optimizer.beta_2, optimizer.epsilon) == (
            pytest.approx(1e-3), 0.0, 0.99, 1e-8)
    assert gan.critic_optimizer is not gan.generator_optimizer
    assert float(recipes.progressive_wgan_alp(config, config.generator(0), config.critic(0), learning_rate=2e-3)
                 .critic_optimizer.learning_rate) == pytest.approx(2e-3)
    # Karras et al.'s one-GPU preset (the fork's config.py): minibatch and learning rate by resolution.
    assert [recipes.progressive_schedule(r) for r in (4, 32, 128, 512, 1024)] == [
        (128, 1e-3), (64, 1e-3), (16, 1e-3), (4, 1e-3), (4, 1.5e-3)]
    with pytest.raises(ValueError, match="resolution"):
        recipes.progressive_schedule(48)
    # The architecture's old attributes are views of the same preset.
    assert config.penalty_kwargs == gan.penalty_kwargs and config.optimizer_kwargs["beta_2"] == 0.99

