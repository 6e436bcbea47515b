"""Runs every benchmark, one process each, and prints their tables as one Markdown document.

    python benchmarks/run_all.py [--quick] [--out benchmarks/RESULTS.md]

`--quick` passes small settings to each benchmark (a smoke run of the whole suite in a few minutes).
Ratios are measured within one run of each benchmark; absolute times on shared CPUs are not results.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# (title, script, full arguments, quick arguments)
BENCHMARKS = (
    ("Layers: normalized Conv2D vs plain", "bench_layers.py", ["--jit"], ["--steps", "2", "--rounds", "2", "--width", "16"]),
    ("Penalties: critic step", "bench_penalties.py", [], ["--steps", "3", "--width", "8", "--batch", "16"]),
    ("GAN: full train_step", "bench_gan.py", [], ["--steps", "1", "--rounds", "1", "--width", "8", "--batch", "8"]),
    ("Scaling and memory: ALP vs GP", "bench_scaling.py", [],
     ["--batches", "8,16", "--sizes", "32", "--width", "8", "--resnet-width", "16", "--steps", "1", "--n-critic", "1"]),
    ("Multi-worker: one vs two workers", "bench_multiworker.py", [], ["--steps", "2", "--warmup", "1", "--width", "8"]),
)


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", help="also write the document to this file")
    args = parser.parse_args(argv)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    parts = [f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
             f"Python {platform.python_version()}. Command: `python benchmarks/run_all.py"
             f"{' --quick' if args.quick else ''}`.\n"]
    for title, script, full, quick in BENCHMARKS:
        print(f"running {script} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        result = subprocess.run([sys.executable, os.path.join(HERE, script), *(quick if args.quick else full)],
                                capture_output=True, text=True, env=env)
        if result.returncode:
            raise SystemExit(f"{script} failed:\n{result.stderr[-3000:]}")
        parts.append(f"## {title}\n\n{result.stdout.strip()}\n\n({time.perf_counter() - start:.0f} s)\n")
    document = "\n".join(parts)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(document)
    print(document)
    return document


if __name__ == "__main__":
    main()
