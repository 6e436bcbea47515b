"""The shared building blocks of the examples (`tf_lipschitz.experiments`), without training."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from tf_lipschitz import experiments
from tf_lipschitz.models import WGANALP


def test_make_gan_builds_each_model_with_the_papers_defaults():
    gen, critic = experiments.toy_networks(8, 1)
    alp = experiments.make_gan("wgan-alp", gen, critic, latent_dim=2, alp_kwargs=experiments.TOY_ALP)
    assert isinstance(alp, WGANALP) and alp.penalty_weight == 100.0
    assert alp.penalty_kwargs["xi"] == 1.0 and alp.penalty_kwargs["epsilon"] == (0.01, 0.5)
    gp = experiments.make_gan("wgan-gp", gen, critic, latent_dim=2)
    assert (gp.penalty, gp.regularize, gp.penalty_weight) == ("gp", "interpolate", 10.0)
    sn_gen, sn_critic = experiments.toy_networks(8, 1, spectral_norm=True)
    sn = experiments.make_gan("sn", sn_gen, sn_critic, latent_dim=2, n_critic=1)
    assert sn.penalty is None and sn.gan_loss.name == "ns-gan" and sn.n_critic == 1
    with pytest.raises(ValueError, match="model"):
        experiments.make_gan("wgan", gen, critic, latent_dim=2)


def test_adam_decays_linearly_to_zero_for_both_networks_together():
    critic_opt, gen_opt = experiments.adam_optimizers(2e-4, 0.0, 0.9, decay_steps=100, n_critic=5)
    assert critic_opt.beta_1 == 0.0 and gen_opt.beta_2 == 0.9
    def rate_at(optimizer, iterations):
        optimizer.iterations.assign(iterations)
        return float(optimizer.learning_rate)

    # Halfway: 50 generator steps are 250 critic updates.
    assert rate_at(critic_opt, 250) == pytest.approx(1e-4) and rate_at(gen_opt, 50) == pytest.approx(1e-4)
    assert rate_at(critic_opt, 500) == 0.0 == rate_at(gen_opt, 100)
    constant, _ = experiments.adam_optimizers(1e-4, 0.5, 0.9)
    assert float(constant.learning_rate) == pytest.approx(1e-4)


def test_fit_schedule_rounds_steps_to_whole_intervals():
    assert experiments.fit_schedule(1000, 100) == (1000, 100)
    assert experiments.fit_schedule(7, 5) == (10, 5)
    assert experiments.fit_schedule(3, 100) == (3, 3)
    with pytest.raises(ValueError):
        experiments.fit_schedule(0, 5)


def test_load_image_data_reads_a_folder_and_center_crops(tmp_path):
    for i in range(3):
        Image.fromarray(np.full((12, 8, 3), i * 50, np.uint8)).save(tmp_path / f"{i}.png")
    images = experiments.load_image_data("cifar10", str(tmp_path))  # no cifar10/ inside: an image folder
    assert images.shape == (3, 8, 8, 3) and images.dtype == np.uint8
    assert experiments.center_crop(np.arange(6 * 4).reshape(1, 6, 4, 1))[0, :, :, 0].tolist()[0] == [4, 5, 6, 7]


def test_tables_plots_logs_and_results_round_trip(tmp_path):
    text = experiments.markdown_table(["loss", "FID"], [["wgan", 3.14159], ["ns", None]], precision=3)
    assert text.splitlines() == ["| loss | FID |", "|---|---|", "| wgan | 3.14 |", "| ns | – |"]
    (tmp_path / "log.csv").write_text("epoch,fid,val_fid\n0,2.5,NA\n1,1.5,NA\n")
    log = experiments.read_csv_log(str(tmp_path / "log.csv"))
    np.testing.assert_array_equal(log["fid"], [2.5, 1.5])
    assert np.isnan(log["val_fid"]).all() and experiments.read_csv_log(str(tmp_path / "none.csv")) == {}
    path = experiments.line_plot(str(tmp_path / "plots" / "fid.png"), {"wgan": ([1, 10], [3.0, np.nan])},
                                 xlabel="k", ylabel="FID", logx=True, hlines={"floor": 1.0})
    assert os.path.getsize(path) > 1000
    assert experiments.load_result(str(tmp_path)) is None
    experiments.save_result(str(tmp_path), {"fid": np.float32(1.5), "steps": 4})
    assert experiments.load_result(str(tmp_path)) == {"fid": 1.5, "steps": 4}


def test_write_rows_appends_under_one_header_and_write_summary_writes_three_files(tmp_path, capsys):
    path = str(tmp_path / "log.csv")
    experiments.write_rows(path, ["step", "loss"], [{"step": 1, "loss": 0.5, "extra": "dropped"}])
    experiments.write_rows(path, ["step", "loss"], [{"step": 2, "loss": 0.25}], mode="a")
    assert (tmp_path / "log.csv").read_text().splitlines() == ["step,loss", "1,0.5", "2,0.25"]
    experiments.write_rows(path, ["step"], [])
    assert (tmp_path / "log.csv").read_text().splitlines() == ["step"]

    table = experiments.markdown_table(["run", "acc", "steps"], [["—", 0.12345, 7]], formats=[None, ".2f", None])
    assert table.splitlines()[2] == "| — | 0.12 | 7 |"
    rows = [{"run": "a", "acc": 0.5, "seconds": 1.0}]
    experiments.write_summary(str(tmp_path), "Title", table, rows, ["run", "acc"])
    assert (tmp_path / "summary.md").read_text() == f"# Title\n\n{table}\n"
    assert (tmp_path / "summary.csv").read_text().splitlines() == ["run,acc", "a,0.5"]
    assert json.loads((tmp_path / "summary.json").read_text()) == rows
    assert capsys.readouterr().out == f"\nTitle\n\n{table}\n\nRun directory: {tmp_path}\n"
