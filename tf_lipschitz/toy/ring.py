"""The ring toy problem of the ALR paper (section 4.2): the target f of Eq. (24), its optimal 1-Lipschitz
approximation f̂_opt of Eq. (25), and the grid metrics that compare a learned f̂ with f̂_opt.

f is 0 on the ring 1 ≤ ‖x‖ ≤ 2 and 1 elsewhere on [-4, 4]²; f̂_opt follows f wherever a slope of 1 allows:
it equals f for ‖x‖ ≤ 0.5, at ‖x‖ = 1.5 and for ‖x‖ ≥ 2.5, and falls (rises) with slope exactly 1 in the
transition bands 0.5 < ‖x‖ < 1.5 (1.5 < ‖x‖ < 2.5) in between, so ‖∇f̂_opt‖ is 1 there and 0 elsewhere.

Reference:
    Terjék, "Adversarial Lipschitz Regularization", ICLR 2020, section 4.2, Eqs. (24)-(25) and Figure 1.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import tensorflow as tf

from tf_lipschitz.foundations.validation import check_float, check_int

__all__ = [
    "RING_LIMIT",
    "ring_target",
    "ring_optimal",
    "ring_optimal_gradient_norm",
    "evaluation_grid",
    "value_and_gradient_norm",
    "grid_metrics",
]

RING_LIMIT = 4.0  # the problem lives on [-RING_LIMIT, RING_LIMIT]²


def _radius(points: np.ndarray) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"`points` must have shape (n, 2). Received: shape={points.shape}")
    return np.hypot(points[:, 0], points[:, 1])


def ring_target(points: np.ndarray) -> np.ndarray:
    """The target f of Eq. (24): 0 if 1 ≤ ‖x‖₂ ≤ 2, else 1.

    Args:
        points: An (n, 2) array.

    Returns:
        A float64 (n,) array of 0s and 1s.

    Raises:
        ValueError: if `points` is not (n, 2).

    Example:
        >>> ring_target(np.array([[0.0, 0.0], [1.5, 0.0], [3.0, 0.0]])).tolist()
        [1.0, 0.0, 1.0]
    """
    r = _radius(points)
    return np.where((r >= 1.0) & (r <= 2.0), 0.0, 1.0)


def ring_optimal(points: np.ndarray) -> np.ndarray:
    """The optimal 1-Lipschitz approximation f̂_opt of Eq. (25): min(1, |‖x‖₂ − 1.5|) clipped at 1 inside 0.5.

    Piecewise: 1 for ‖x‖ ≤ 0.5, 1.5 − ‖x‖ for 0.5 < ‖x‖ ≤ 1.5, ‖x‖ − 1.5 for 1.5 < ‖x‖ ≤ 2.5, 1 otherwise.

    Args:
        points: An (n, 2) array.

    Returns:
        A float64 (n,) array in [0, 1].

    Raises:
        ValueError: if `points` is not (n, 2).

    Example:
        >>> ring_optimal(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [3.0, 0.0]])).tolist()
        [1.0, 0.5, 0.5, 1.0]
    """
    return np.minimum(1.0, np.abs(_radius(points) - 1.5))


def ring_optimal_gradient_norm(points: np.ndarray) -> np.ndarray:
    """‖∇f̂_opt‖₂: 1 in the transition bands 0.5 < ‖x‖ < 2.5 (except the kink ‖x‖ = 1.5), 0 elsewhere.

    Args:
        points: An (n, 2) array.

    Returns:
        A float64 (n,) array of 0s and 1s (0 on the kinks, where f̂_opt is not differentiable).

    Example:
        >>> ring_optimal_gradient_norm(np.array([[0.0, 0.0], [1.0, 0.0], [1.5, 0.0]])).tolist()
        [0.0, 1.0, 0.0]
    """
    r = _radius(points)
    return np.where((r > 0.5) & (r < 2.5) & (r != 1.5), 1.0, 0.0)


def evaluation_grid(resolution: int = 201, limit: float = RING_LIMIT) -> np.ndarray:
    """A resolution × resolution grid of [-limit, limit]², row-major with y varying slowest (image order).

    Args:
        resolution: Points per axis, ≥ 2.
        limit: Half-width of the square.

    Returns:
        A float32 (resolution², 2) array; reshape values to (resolution, resolution) for an image whose row 0
        is y = -limit (plot with `origin="lower"`).

    Raises:
        ValueError: if resolution < 2 or limit ≤ 0.

    Example:
        >>> evaluation_grid(3, 1.0)[:4].tolist()
        [[-1.0, -1.0], [0.0, -1.0], [1.0, -1.0], [-1.0, 0.0]]
    """
    resolution = check_int("resolution", resolution, minimum=2)
    limit = check_float("limit", limit)
    axis = np.linspace(-limit, limit, resolution)
    xx, yy = np.meshgrid(axis, axis)
    return np.stack([xx.ravel(), yy.ravel()], axis=1).astype("float32")


def value_and_gradient_norm(
    f: Callable, points: np.ndarray, *, batch_size: int = 8192
) -> tuple[np.ndarray, np.ndarray]:
    """f and ‖∇ₓf‖₂ of a scalar-output model at `points`, in batches.

    Args:
        f: A callable (n, 2) → (n, 1) or (n,), e.g. `lambda t: model(t, training=False)`.
        points: An (n, 2) array.
        batch_size: Points per forward pass.

    Returns:
        `(values, gradient_norms)`, two float64 (n,) arrays.

    Example:
        >>> values, norms = value_and_gradient_norm(lambda t: t @ tf.constant([[3.0], [4.0]]), np.ones((2, 2)))
        >>> values.tolist(), norms.tolist()
        ([7.0, 7.0], [5.0, 5.0])
    """
    values, norms = [], []
    for start in range(0, len(points), batch_size):
        x = tf.convert_to_tensor(np.asarray(points[start:start + batch_size], dtype="float32"))
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reshape(tf.cast(f(x), tf.float32), (-1,))
        grad = tape.gradient(y, x)
        values.append(y.numpy())
        norms.append(tf.norm(grad, axis=1).numpy())
    return np.concatenate(values).astype(np.float64), np.concatenate(norms).astype(np.float64)


def grid_metrics(points: np.ndarray, values: np.ndarray, gradient_norms: np.ndarray) -> dict[str, float]:
    """Compares a learned f̂ on a grid with f̂_opt (Eq. 25) and the target f (Eq. 24).

    Args:
        points: The (n, 2) grid.
        values: f̂ at the points, (n,).
        gradient_norms: ‖∇f̂‖₂ at the points, (n,).

    Returns:
        A dict of floats:

            * `max_grad_norm`: max ‖∇f̂‖ over the grid (f̂ is at least this Lipschitz; f̂_opt has 1).
            * `mean_grad_norm`: mean ‖∇f̂‖.
            * `rmse_opt`: root-mean-square of f̂ − f̂_opt (the "error against f̂_opt").
            * `max_abs_error_opt`: max |f̂ − f̂_opt|.
            * `grad_norm_mae_opt`: mean |‖∇f̂‖ − ‖∇f̂_opt‖|, how closely the gradient-norm heatmaps match.
            * `rmse_target`: root-mean-square of f̂ − f (f̂_opt itself has ≈ 0.157 on [-4, 4]²).

    Raises:
        ValueError: if the shapes disagree.

    Example:
        >>> grid = evaluation_grid(5)
        >>> m = grid_metrics(grid, ring_optimal(grid), ring_optimal_gradient_norm(grid))
        >>> m["rmse_opt"], m["max_grad_norm"]
        (0.0, 1.0)
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    gradient_norms = np.asarray(gradient_norms, dtype=np.float64).reshape(-1)
    if not len(points) == len(values) == len(gradient_norms):
        raise ValueError(
            f"`points`, `values` and `gradient_norms` must have the same length. Received: {len(points)}, "
            f"{len(values)}, {len(gradient_norms)}"
        )
    error = values - ring_optimal(points)
    return {
        "max_grad_norm": float(np.max(gradient_norms)),
        "mean_grad_norm": float(np.mean(gradient_norms)),
        "rmse_opt": float(np.sqrt(np.mean(np.square(error)))),
        "max_abs_error_opt": float(np.max(np.abs(error))),
        "grad_norm_mae_opt": float(np.mean(np.abs(gradient_norms - ring_optimal_gradient_norm(points)))),
        "rmse_target": float(np.sqrt(np.mean(np.square(values - ring_target(points))))),
    }
