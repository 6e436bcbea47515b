"""FID Inception throughput: the Keras port (with and without XLA) vs the TorchScript network, same process.

    python benchmarks/bench_inception.py [--batch 16] [--steps 2] [--rounds 3] [--torch-threads N]

Needs `tf-lipschitz fetch-inception` first, and torch (`pip install torch==2.13.0`; only this script uses
it). Every candidate maps the same uint8 MNIST-sized batch to pool_3 features: the port through the
library's `Classifier` (range check, preprocessing and network in one `tf.function`), torch through the
same preprocessing (TensorFlow, not timed) and the TorchScript module under `torch.no_grad()`. Reports
images/s and the ratio to TorchScript (> 1: the port is faster).
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from timing import median_times  # noqa: E402

from tf_lipschitz.evaluation.images import to_model_input  # noqa: E402
from tf_lipschitz.evaluation.inception import preprocess_inception  # noqa: E402
from tf_lipschitz.evaluation.inception_fetch import fid_inception, inception_archive_path  # noqa: E402


def main(argv=None) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=3, help="Untimed calls (TorchScript optimizes on its 2nd).")
    parser.add_argument("--torch-threads", type=int, help="torch.set_num_threads (default: torch's choice).")
    args = parser.parse_args(argv)
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)

    images = np.random.default_rng(0).integers(0, 256, size=(args.batch, 28, 28), dtype=np.uint8)
    port, port_xla = fid_inception(), fid_inception(jit_compile=True)
    network = torch.jit.load(inception_archive_path(), map_location="cpu").eval()
    inputs = preprocess_inception(to_model_input(images, image_size=None, channels=3)).numpy()
    torch_inputs = torch.from_numpy(np.ascontiguousarray(inputs.transpose(0, 3, 1, 2)))

    def run_torch():
        with torch.no_grad():
            return network(torch_inputs).numpy()

    times = median_times(
        {
            "keras port": lambda: port(images)[1],
            "keras port (XLA)": lambda: port_xla(images)[1],
            "torchscript": run_torch,
        },
        steps=args.steps,
        rounds=args.rounds,
        warmup=args.warmup,
    )
    print(f"batch {args.batch}, torch {torch.__version__} ({torch.get_num_threads()} threads)")
    print("| | images/s | ratio to TorchScript |\n|---|---|---|")
    for name, seconds in times.items():
        print(f"| {name} | {args.batch / seconds:.2f} | {times['torchscript'] / seconds:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
