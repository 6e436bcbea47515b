"""FID between the training and test images of an MNIST-layout `.npz` (a sanity value for the FID network).

    python scripts/fid_real_splits.py --data ../shared/data/mnist/mnist.npz --sizes 1000,5000 --features /tmp/mnist

Computes the pool_3 features of `x_train[:N]` and `x_test[:N]` for the largest N (with the prepared FID
Inception, `tf-lipschitz fetch-inception`), saves them to `<features>_{train,test}.npy` (reused when
present, so a run can be resumed), and prints the FID of the first N of each for every N in `--sizes`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def _features(classifier, images: np.ndarray, path: str, batch_size: int) -> np.ndarray:
    done = np.load(path) if os.path.exists(path) else np.zeros((0, 2048), np.float32)
    start = time.time()
    parts = [done]
    for first in range(len(done), len(images), batch_size):
        parts.append(classifier(images[first : first + batch_size])[1])
        count = first + len(parts[-1])
        if count % 1000 < batch_size or count == len(images):
            np.save(path, np.concatenate(parts))
            rate = (count - len(done)) / (time.time() - start)
            print(f"  {os.path.basename(path)}: {count}/{len(images)} images, {rate:.2f} img/s", flush=True)
    return np.concatenate(parts)


def main(argv=None) -> int:
    from tf_lipschitz.evaluation.inception_fetch import fid_inception
    from tf_lipschitz.evaluation.metrics import frechet_distance
    from tf_lipschitz.evaluation.statistics import FeatureStatistics

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--sizes", default="1000,5000")
    parser.add_argument("--features", required=True, help="Prefix of the saved feature files.")
    parser.add_argument("--batch-size", type=int, default=50)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    classifier = fid_inception()
    with np.load(args.data) as data:
        splits = {name: data[f"x_{name}"][: max(sizes)] for name in ("train", "test")}
    features = {
        name: _features(classifier, images, f"{args.features}_{name}.npy", args.batch_size)
        for name, images in splits.items()
    }
    for size in sizes:
        train, test = (FeatureStatistics.from_features(features[name][:size]) for name in ("train", "test"))
        print(f"FID(train[:{size}], test[:{size}]) = {frechet_distance(train, test):.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
