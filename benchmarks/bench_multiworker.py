"""Multi-worker benchmark: training samples per second of one vs two `MultiWorkerMirroredStrategy` workers
(TF_CONFIG, ring all-reduce over 127.0.0.1) at the same global batch, for the toy and DCGAN set-ups.

    python benchmarks/bench_multiworker.py [--steps 20] [--warmup 3] [--setups toy,dcgan] [--width 16]

Both workers run on this machine, so with 2 CPU cores they share the cores one process already uses: the ratio
shows the overhead of the multi-worker machinery (gradient all-reduce, per-step collectives), not a speed-up.
On a cluster each worker has its own machine. A sample is one real sample seen by a critic update, so one
step is n_critic × the global critic batch samples. Each worker times `fit` after an untimed warm-up (tracing).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tf_lipschitz.training import distribute  # noqa: E402

# set-up → (critic batch, n_critic): the command's toy defaults; the DCGAN at the critic batch of bench_gan.
SETUPS = {"toy": (256, 5), "dcgan": (32, 5)}
MARK = "RESULT "


def _build(setup: str, width: int):
    from tf_lipschitz.architectures import dcgan_critic, dcgan_generator
    from tf_lipschitz.recipes import TOY_ALP, make_gan, toy_networks

    n_critic = SETUPS[setup][1]
    if setup == "toy":
        generator, critic = toy_networks(256, 3)
        return make_gan("wgan-alp", generator, critic, latent_dim=2, n_critic=n_critic, penalty_kwargs=TOY_ALP), (2,)
    generator = dcgan_generator(32, 100, 3, width=width)
    critic = dcgan_critic(32, channels=3, width=width)
    return make_gan("wgan-alp", generator, critic, latent_dim=100, n_critic=n_critic), (32, 32, 3)


def worker(setup: str, steps: int, warmup: int, width: int) -> None:
    """Runs in each worker process: trains, then prints the measured rate on the chief."""
    strategy = distribute.make_strategy("auto")
    import keras
    import numpy as np
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    batch, n_critic = SETUPS[setup]
    with strategy.scope():
        gan, shape = _build(setup, width)
        gan.compile()
    element = np.random.default_rng(0).uniform(-1, 1, (n_critic * batch, *shape)).astype("float32")
    data = distribute.shard_by_worker(tf.data.Dataset.from_tensor_slices(element).batch(n_critic * batch).repeat())
    gan.fit(data, steps_per_epoch=warmup, epochs=1, verbose=0)
    start = time.perf_counter()
    gan.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
    seconds = time.perf_counter() - start
    if distribute.is_chief(strategy):
        print(MARK + json.dumps({"samples_per_s": steps * n_critic * batch / seconds, "seconds": seconds}), flush=True)


def _measure(setup: str, n_workers: int, args) -> dict:
    argv = [os.path.abspath(__file__), "--worker", setup, "--steps", str(args.steps), "--warmup", str(args.warmup),
            "--width", str(args.width)]
    procs = distribute.start_local_workers(argv, distribute.local_cluster(n_workers))
    results = distribute.wait_workers(procs, timeout=args.timeout)
    for i, result in enumerate(results):
        if result.returncode:
            raise SystemExit(f"{setup}, {n_workers} worker(s): worker {i} failed:\n{result.stderr[-3000:]}")
    line = next(x for x in results[0].stdout.splitlines() if x.startswith(MARK))
    return json.loads(line[len(MARK):])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed generator steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (tracing)")
    parser.add_argument("--setups", default="toy,dcgan")
    parser.add_argument("--width", type=int, default=16, help="DCGAN width (64 in the paper)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per launch before killing workers")
    parser.add_argument("--worker", choices=tuple(SETUPS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.steps, args.warmup, args.width)
        return
    rows = ["| set-up | global critic batch × n_critic | 1 worker (samples/s) | 2 workers (samples/s) | 2 workers / 1 |",
            "|---|---|---:|---:|---:|"]
    for setup in args.setups.split(","):
        one, two = _measure(setup, 1, args), _measure(setup, 2, args)
        batch, n_critic = SETUPS[setup]
        rows.append(f"| {setup} | {batch} × {n_critic} | {one['samples_per_s']:.0f} | {two['samples_per_s']:.0f} | "
                    f"{two['samples_per_s'] / one['samples_per_s']:.2f} |")
    print(f"WGAN-ALP training throughput, one vs two MultiWorkerMirroredStrategy workers (TF_CONFIG) on this machine "
          f"({os.cpu_count()} CPU cores shared by both workers), {args.steps} timed steps after {args.warmup} "
          f"warm-up steps; DCGAN width {args.width}, 32×32×3:\n")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
