"""Run-directory files are written through a temporary file and a rename: a planted symbolic link is replaced,
the file it points to is never written."""

import os

import numpy as np
import pytest

from tf_lipschitz import reporting
from tf_lipschitz.commands.cli import main
from tf_lipschitz.foundations.files import write_atomically


def plant_link(run_dir, name, outside):
    outside.write_text("outside, must stay\n")
    os.symlink(outside, run_dir / name)


def test_write_atomically_replaces_a_link_and_leaves_its_target(tmp_path):
    run_dir, outside = tmp_path / "run", tmp_path / "outside.txt"
    run_dir.mkdir()
    plant_link(run_dir, "summary.md", outside)
    write_atomically(run_dir / "summary.md", "# new\n")
    assert not os.path.islink(run_dir / "summary.md")
    assert (run_dir / "summary.md").read_text() == "# new\n"
    assert outside.read_text() == "outside, must stay\n"
    assert sorted(os.listdir(run_dir)) == ["summary.md"]  # no temporary file left


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "final.weights.npz"
    write_atomically(target, lambda handle: np.savez(handle, w=np.arange(3)))

    def fail(handle):
        handle.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomically(target, fail)
    with np.load(target) as data:
        np.testing.assert_array_equal(data["w"], np.arange(3))
    assert os.listdir(tmp_path) == ["final.weights.npz"]
    with pytest.raises(IsADirectoryError):
        write_atomically(tmp_path, b"x")


def test_write_summary_does_not_follow_links(tmp_path, capsys):
    outsides = {name: tmp_path / f"outside-{name}" for name in ("summary.md", "summary.csv", "summary.json")}
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    for name, outside in outsides.items():
        plant_link(run_dir, name, outside)
    reporting.write_summary(str(run_dir), "Toy", "| a |", [{"a": 1}], ["a"])
    for name, outside in outsides.items():
        assert not os.path.islink(run_dir / name) and outside.read_text() == "outside, must stay\n"
    assert (run_dir / "summary.csv").read_text().splitlines() == ["a", "1"]


def test_train_replaces_links_planted_at_final_weights_and_summary(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    outside_weights, outside_summary = tmp_path / "outside.npz", tmp_path / "outside.md"
    plant_link(run_dir, "final.weights.npz", outside_weights)
    plant_link(run_dir, "summary.md", outside_summary)
    code = main(["train", "--steps", "2", "--checkpoint-every", "2", "--run-dir", str(run_dir), "--batch-size", "16",
                 "--n-critic", "1", "--eval-samples", "32", "--verbose", "0"])
    assert code == 0
    assert outside_weights.read_text() == outside_summary.read_text() == "outside, must stay\n"
    assert not os.path.islink(run_dir / "final.weights.npz") and not os.path.islink(run_dir / "summary.md")
    assert "W1" in (run_dir / "summary.md").read_text()  # the run's own summary
    with np.load(run_dir / "final.weights.npz") as data:
        assert len(data.files) > 0


def test_statistics_files_do_not_follow_links(tmp_path):
    from tf_lipschitz.evaluation import statistics

    outside = tmp_path / "outside.txt"
    (tmp_path / "cache").mkdir()
    plant_link(tmp_path / "cache", "stats.npz", outside)
    stats = statistics.FeatureStatistics(np.zeros(2), np.eye(2), 5)
    statistics.save_statistics(str(tmp_path / "cache" / "stats.npz"), stats, classifier="c")
    assert outside.read_text() == "outside, must stay\n"
    assert statistics.load_statistics_file(str(tmp_path / "cache" / "stats.npz"))[1] == "c"
