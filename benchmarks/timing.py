"""Shared timing for the benchmarks: interleaved rounds, medians, ratios to a baseline, a Markdown table.

Absolute times on shared CPU machines are noise; ratios measured in the same run are the result.
Each round times every candidate once (round-robin), so slow drifts of the machine hit all alike.
"""

from __future__ import annotations

import statistics
import time
from typing import Callable, Mapping


def _sync(result) -> None:
    # Force pending work to finish (TF eager tensors are async on some devices).
    for value in result if isinstance(result, (list, tuple)) else [result]:
        if hasattr(value, "numpy"):
            value.numpy()


def median_times(candidates: Mapping[str, Callable[[], object]], *, steps: int = 10, rounds: int = 5,
                 warmup: int = 2) -> dict[str, float]:
    """Median seconds per call of each candidate, measured round-robin.

    Args:
        candidates: name → zero-argument callable (one step).
        steps: Calls per candidate per round.
        rounds: Number of rounds; the median over rounds is reported.
        warmup: Untimed calls per candidate first (tracing, XLA compilation).

    Returns:
        name → median seconds per call.
    """
    for fn in candidates.values():
        for _ in range(warmup):
            _sync(fn())
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, fn in candidates.items():
            start = time.perf_counter()
            for _ in range(steps):
                result = fn()
            _sync(result)
            samples[name].append((time.perf_counter() - start) / steps)
    return {name: statistics.median(values) for name, values in samples.items()}


def ratio_table(rows: list[tuple[str, Mapping[str, float]]], baseline: str, columns: list[str]) -> str:
    """A Markdown table of time ratios to `baseline`, one row per (label, times) pair.

    Args:
        rows: (row label, name → seconds) pairs.
        baseline: The name every time is divided by, within its row.
        columns: Names to show, in order.

    Returns:
        The table as a string.
    """
    lines = ["| | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for label, times in rows:
        base = times[baseline]
        lines.append(f"| {label} | " + " | ".join(f"{times[c] / base:.2f}" for c in columns) + " |")
    return "\n".join(lines)
