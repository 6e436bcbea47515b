"""Smoke test of the MNIST quality comparison on a tiny synthetic .npz."""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
import mnist_quality  # noqa: E402


def test_quality_run_trains_scores_and_writes_the_table(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.arange(200) % 10
    images = np.zeros((200, 28, 28), np.uint8)
    for i, label in enumerate(labels):  # one bright column band per class, so the classifier can learn
        images[i, :, 2 * label + 4: 2 * label + 7] = 255
    images = np.clip(images + rng.integers(0, 30, images.shape), 0, 255).astype(np.uint8)
    path = tmp_path / "tiny.npz"
    np.savez(path, x_train=images, y_train=labels, x_test=images[:50], y_test=labels[:50])
    table = mnist_quality.main(["--data-file", str(path), "--out-dir", str(tmp_path / "out"), "--steps", "2",
                                "--checkpoint-every", "1", "--width", "4", "--batch-size", "8", "--eval-samples", "40",
                                "--classifier-epochs", "1", "--models", "wgan-alp", "--verbose", "0"])
    rows = [line for line in table.splitlines() if line.startswith("| wgan-alp")]
    assert len(rows) == 1
    assert all(np.isfinite(float(row.split("|")[5])) for row in rows)
    assert (tmp_path / "out" / "results.md").read_text().strip() == table
    assert os.listdir(tmp_path / "out" / "wgan-alp" / "samples")
