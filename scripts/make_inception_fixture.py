"""Writes tests/fixtures/inception_2015.npz: the TorchScript network's view of the FID Inception archive.

Run once by a developer after `tf-lipschitz fetch-inception` (torch is needed here only, never by the
library or its tests):

    pip install torch==2.13.0
    python scripts/make_inception_fixture.py [--archive PATH] [--out tests/fixtures/inception_2015.npz]

The fixture holds
- `images`: 8 uint8 RGB images, 32×32, from a fixed seed (4 of uniform noise, 4 smooth);
- `pool_3`: the 2048 features the TorchScript network gives for them, after the library's preprocessing
  (`to_model_input` then `preprocess_inception`, computed here with TensorFlow and fed to torch as NCHW);
- for every tensor of the archive as torch loads it (`torch.jit.load(...).state_dict()`, plus attributes
  read from the module tree): `tensor_names`, `tensor_shapes` (padded with -1), `tensor_sums` and
  `tensor_abs_sums` (float64), and `parameter_count`, `archive_sha1`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

NUM_IMAGES = 8
SEED = 20151205


def fixture_images(seed: int = SEED) -> np.ndarray:
    """8 uint8 images 32×32×3: 4 uniform noise, 4 smooth (4×4 noise upsampled by repetition)."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, size=(4, 32, 32, 3), dtype=np.uint8)
    coarse = rng.integers(0, 256, size=(4, 4, 4, 3), dtype=np.uint8)
    smooth = np.repeat(np.repeat(coarse, 8, axis=1), 8, axis=2)
    return np.concatenate([noise, smooth])


def main(argv=None) -> int:
    import tensorflow as tf
    import torch

    from tf_lipschitz.evaluation.inception_fetch import inception_archive_path
    from tf_lipschitz.evaluation.images import to_model_input
    from tf_lipschitz.evaluation.inception import preprocess_inception

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", default=None, help="default_1.pt (default: the prepared cache copy).")
    parser.add_argument(
        "--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "inception_2015.npz")
    )
    args = parser.parse_args(argv)
    archive = args.archive or inception_archive_path()
    with open(archive, "rb") as handle:
        sha1 = hashlib.sha1(handle.read()).hexdigest()

    network = torch.jit.load(archive, map_location="cpu").eval()
    state = network.state_dict()
    names = list(state)
    shapes = np.full((len(names), 4), -1, np.int64)
    for row, name in enumerate(names):
        shapes[row, : state[name].dim()] = tuple(state[name].shape)
    sums = np.array([state[n].double().sum().item() for n in names])
    abs_sums = np.array([state[n].double().abs().sum().item() for n in names])

    images = fixture_images()
    inputs = preprocess_inception(to_model_input(images, image_size=None, channels=3)).numpy()
    with torch.no_grad():
        features = network(torch.from_numpy(np.ascontiguousarray(inputs.transpose(0, 3, 1, 2)))).numpy()
    np.savez_compressed(
        args.out,
        images=images,
        pool_3=features.astype(np.float32),
        tensor_names=np.array(names),
        tensor_shapes=shapes,
        tensor_sums=sums,
        tensor_abs_sums=abs_sums,
        parameter_count=np.int64(sum(t.numel() for t in state.values())),
        archive_sha1=np.array(sha1),
        torch_version=np.array(torch.__version__),
        tensorflow_version=np.array(tf.__version__),
    )
    print(f"wrote {args.out}: {len(names)} tensors, features {features.shape}, {os.path.getsize(args.out)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
