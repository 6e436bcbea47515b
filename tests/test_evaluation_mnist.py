"""The MNIST domain classifier end to end on a slice of the real MNIST (../shared/data/mnist/mnist.npz)."""

import numpy as np
import pytest

from tf_lipschitz import evaluation


@pytest.mark.real_data
def test_mnist_classifier_scores_real_digits_and_noise_apart(mnist_path, tmp_path):
    with np.load(mnist_path) as data:
        x_train, y_train = data["x_train"][:3000], data["y_train"][:3000]
        x_test, y_test = data["x_test"][:1000], data["y_test"][:1000]
    path = tmp_path / "mnist_classifier.keras"
    classifier = evaluation.train_mnist_classifier(x_train, y_train, epochs=3, save_path=path)

    logits, _ = evaluation.compute_activations(x_test, classifier_fn=classifier, batch_size=256, verbose=False)
    accuracy = float(np.mean(logits.argmax(axis=1) == y_test))
    assert accuracy > 0.8

    noise = np.random.default_rng(0).uniform(-1, 1, size=(1000, 28, 28)).astype(np.float32)
    score_real, _ = evaluation.mnist_score(x_test, str(path))  # the saved file scores like the model
    score_noise, _ = evaluation.mnist_score(noise, classifier)
    assert score_real > 4.0 and score_noise < 2.0

    fid_real = evaluation.mnist_frechet_distance(x_train[:1000], x_test, classifier)
    fid_noise = evaluation.mnist_frechet_distance(x_train[:1000], noise, classifier)
    assert fid_real < 0.1 * fid_noise
    assert evaluation.mnist_frechet_distance(x_train[:1000], x_test, str(path)) == pytest.approx(fid_real, rel=1e-4)
    print(f"accuracy={accuracy:.3f} score_real={score_real:.3f} score_noise={score_noise:.3f} "
          f"fid_test_vs_train={fid_real:.3f} fid_noise={fid_noise:.3f}")
