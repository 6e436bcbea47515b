"""The exact Wasserstein-1 distance between two equally sized samples, by optimal assignment (needs SciPy)."""

from __future__ import annotations

import numpy as np

from tf_lipschitz.foundations.optional import require

__all__ = ["exact_w1"]


def exact_w1(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Wasserstein-1 distance between two equally sized empirical distributions (optimal assignment).

    Args:
        a: (n, d) samples.
        b: (n, d) samples.

    Returns:
        min over permutations π of mean ‖a_i − b_π(i)‖₂, by `scipy.optimize.linear_sum_assignment`.

    Raises:
        ValueError: for samples of different shapes.
        ImportError: when SciPy is not installed (`pip install "tf-lipschitz[toy]"`).

    Example:
        >>> round(exact_w1(np.zeros((3, 2)), np.ones((3, 2))), 4)
        1.4142
    """
    linear_sum_assignment = require("scipy.optimize", extra="toy").linear_sum_assignment
    cdist = require("scipy.spatial.distance", extra="toy").cdist

    a = np.asarray(a, np.float64).reshape(len(a), -1)
    b = np.asarray(b, np.float64).reshape(len(b), -1)
    if a.shape != b.shape:
        raise ValueError(f"exact_w1 needs samples of equal shape; got {a.shape} and {b.shape}")
    cost = cdist(a, b)
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())
