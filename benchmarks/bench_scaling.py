"""Scaling of WGAN-ALP vs WGAN-GP: step time over batch size and image size, and the ResNet pair's full
train_step with peak memory.

    python benchmarks/bench_scaling.py [--batches 32,64,128,256] [--sizes 32,64] [--resnet-width 128]

Each (model, setting) trains in its own process, so that its peak resident memory (ru_maxrss) is its own;
times are medians of the timed steps after warm-up, reported as the ALP/GP ratio per setting.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

MODELS = ("wgan-alp", "wgan-gp")


def child(model: str, net: str, batch: int, size: int, width: int, steps: int, n_critic: int) -> dict:
    """Times `steps` train steps of one GAN in this process; returns median seconds and peak RSS (MiB)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np
    import tensorflow as tf

    from tf_lipschitz.architectures import dcgan_critic, dcgan_generator, resnet_critic, resnet_generator
    from tf_lipschitz.recipes import make_gan, seed_everything

    seed_everything(0)
    if net == "resnet":
        generator, critic, latent = resnet_generator(width=width), resnet_critic(width=width), 128
    else:
        generator = dcgan_generator(size, 100, 3, width=width)
        critic = dcgan_critic(size, channels=3, spectral_norm=False, width=width)
        latent = 100
    gan = make_gan(model, generator, critic, latent_dim=latent, n_critic=n_critic)
    gan.compile()
    data = tf.constant(np.random.default_rng(0).uniform(-1, 1, (n_critic * batch, size, size, 3)), tf.float32)
    gan.make_train_function()
    times = []
    for i in range(steps + 1):  # the first step traces
        start = time.perf_counter()
        logs = gan.train_function(iter([data]))
        float(logs["critic_loss"])
        if i:
            times.append(time.perf_counter() - start)
    return {"seconds": statistics.median(times), "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def measure(model: str, net: str, batch: int, size: int, width: int, steps: int, n_critic: int) -> dict:
    command = [sys.executable, __file__, "--child", json.dumps([model, net, batch, size, width, steps, n_critic])]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="32,64,128,256")
    parser.add_argument("--sizes", default="32,64")
    parser.add_argument("--width", type=int, default=16, help="DCGAN width for the scaling rows")
    parser.add_argument("--resnet-width", type=int, default=128, help="0 skips the ResNet rows")
    parser.add_argument("--n-critic", type=int, default=5)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(*json.loads(args.child))))
        return ""

    rows = []
    settings = [("dcgan", b, 32, args.width) for b in map(int, args.batches.split(","))]
    settings += [("dcgan", 64, s, args.width) for s in map(int, args.sizes.split(",")) if s != 32]
    if args.resnet_width:
        settings.append(("resnet", 64, 32, args.resnet_width))
    for net, batch, size, width in settings:
        result = {m: measure(m, net, batch, size, width, args.steps, args.n_critic) for m in MODELS}
        alp, gp = result["wgan-alp"], result["wgan-gp"]
        rows.append(f"| {net} w{width} | {batch} | {size}x{size} | {alp['seconds'] / gp['seconds']:.2f} | "
                    f"{alp['peak_mib']:.0f} | {gp['peak_mib']:.0f} |")
        print(rows[-1], file=sys.stderr)
    table = "\n".join([
        f"WGAN-ALP vs WGAN-GP, one train_step (n_critic {args.n_critic}), {os.cpu_count()} CPU cores:\n",
        "| nets | critic batch | image | step time ALP / GP | peak RSS ALP (MiB) | peak RSS GP (MiB) |",
        "|---|---|---|---|---|---|",
        *rows,
    ])
    print(table)
    return table


if __name__ == "__main__":
    main()
