"""Certified L2 robustness of a classifier from a proven Lipschitz bound of its logits.

If the logit map f is L-Lipschitz in L2, each logit difference f_i − f_j is √2·L-Lipschitz, so the prediction
c = argmax f(x) cannot change within

    r(x) = (f_c(x) − max_{j≠c} f_j(x)) / (√2·L)                     (several logits)
    r(x) = |f(x)| / L                                                (one logit, predicted class 1 where f > 0)

(Tsuzuku, Sato and Sugiyama, 2018). L is the model's proven upper bound (`tf_lipschitz.analysis.bounds.model_bound`, the
graph-following bound of exact and certified layer norms); a model with a layer whose bound cannot be proven is
refused, naming the layer.

``bound="pairwise"`` uses a tighter constant where the last layer is a Dense (plain or Lipschitz) with a linear
activation: with the kernel W (columns w_j) and L_prefix the proven bound of everything before it,
f_c − f_j is ‖w_c − w_j‖·L_prefix-Lipschitz, and

    r(x) = min_{j≠c} (f_c(x) − f_j(x)) / (‖w_c − w_j‖·L_prefix).

Since ‖w_c − w_j‖ ≤ √2·‖W‖ and L ≥ ‖W‖·L_prefix is what the global bound multiplies, the pairwise radius is never
smaller than the global one. Every function says which bound gave its numbers (`"global"` by default).

Reference:
    Tsuzuku, Sato and Sugiyama, "Lipschitz-Margin Training: Scalable Certification of Perturbation Invariance for
    Deep Neural Networks", NeurIPS 2018.
"""

from __future__ import annotations

import math
from typing import Sequence

import keras
import numpy as np

from tf_lipschitz.analysis import bounds
from tf_lipschitz.foundations.validation import check_choice, check_float, check_int
from tf_lipschitz.layers.base import LipschitzLayer
from tf_lipschitz.ops.layer_norms import as_float64

__all__ = [
    "BOUNDS",
    "model_lipschitz",
    "radius_from_logits",
    "pairwise_radius_from_logits",
    "predict_logits",
    "certified_radius",
    "certified_accuracy",
]

BOUNDS = ("global", "pairwise")


def model_lipschitz(model: keras.Model) -> float:
    """The model's proven L2 Lipschitz upper bound, or a `ValueError` naming the layer that prevents one.

    Args:
        model: A built Sequential or functional `keras.Model` mapping inputs to logits.

    Returns:
        A finite float > 0 (`tf_lipschitz.analysis.bounds.model_bound`, inference mode).

    Raises:
        ValueError: naming the layer with no known bound (an unconstrained model), for a subclassed model, or when
            the bound is not a finite positive number.

    Example:
        >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
        >>> _ = m.layers[0].kernel.assign([[3.0], [4.0]])
        >>> round(model_lipschitz(m), 6)
        5.0
    """
    try:
        value = bounds.model_bound(model)
    except ValueError as err:
        raise ValueError(
            f"A certificate needs a proven Lipschitz bound of the model, and none is known: {err}. Build the model "
            "from Lipschitz layers (tf_lipschitz.layers) or pass `lipschitz=` if you have proven one yourself."
        ) from err
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"The model's Lipschitz bound must be finite and > 0 for a certificate; got {value!r}")
    return float(value)


def _check_lipschitz(lipschitz) -> float:
    return check_float("lipschitz", lipschitz)


def radius_from_logits(logits, lipschitz: float) -> np.ndarray:
    """Certified L2 radii from logits and a Lipschitz bound L of the logit map (the global bound).

    Args:
        logits: (N, C) logits, or (N,)/(N, 1) for one logit.
        lipschitz: L > 0.

    Returns:
        float64 radii (N,): (top − runner-up)/(√2·L) for C ≥ 2, |f|/L for one logit.

    Raises:
        ValueError: for L ≤ 0 or non-finite logits.

    Example:
        >>> radius_from_logits(np.array([[3.0, 1.0, 0.0]]), 1.0).round(6)
        array([1.414214])
    """
    lipschitz = _check_lipschitz(lipschitz)
    logits = _as_logits(logits)
    if logits.shape[1] == 1:
        return np.abs(logits[:, 0]) / lipschitz
    top2 = np.sort(logits, axis=1)[:, -2:]
    return (top2[:, 1] - top2[:, 0]) / (math.sqrt(2.0) * lipschitz)


def pairwise_radius_from_logits(logits, kernel, prefix_lipschitz: float) -> np.ndarray:
    """Certified radii from the per-pair bound ‖w_c − w_j‖·L_prefix of a last Dense layer (see module docstring).

    Args:
        logits: (N, C) logits, C ≥ 2.
        kernel: The last Dense layer's kernel (d, C) as used at inference.
        prefix_lipschitz: L_prefix > 0, the bound of the map into that layer.

    Returns:
        float64 radii (N,).

    Raises:
        ValueError: for one logit, a kernel of the wrong width, or L_prefix ≤ 0.

    Example:
        >>> w = np.array([[1.0, 0.0], [0.0, 0.0]])        # f = (x₁, 0): f₁ − f₂ is 1-Lipschitz
        >>> pairwise_radius_from_logits(np.array([[2.0, 0.0]]), w, 1.0)
        array([2.])
    """
    prefix_lipschitz = check_float("prefix_lipschitz", prefix_lipschitz)
    logits = _as_logits(logits)
    kernel = np.asarray(kernel, dtype=np.float64)
    classes = logits.shape[1]
    if classes < 2 or kernel.ndim != 2 or kernel.shape[1] != classes:
        raise ValueError(f"The pairwise bound needs C ≥ 2 logits and a (d, C) kernel; got logits (N, {classes}) and "
                         f"kernel {kernel.shape}")
    diff = kernel[:, :, None] - kernel[:, None, :]
    pair_norm = np.sqrt(np.sum(diff * diff, axis=0))  # (C, C): ‖w_i − w_j‖
    predicted = np.argmax(logits, axis=1)
    gaps = logits[np.arange(len(logits)), predicted][:, None] - logits  # f_c − f_j
    norms = pair_norm[predicted] * prefix_lipschitz
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(norms > 0, gaps / np.where(norms > 0, norms, 1.0), np.inf)  # w_c = w_j: f_c − f_j constant
    ratios[np.arange(len(logits)), predicted] = np.inf
    # Two columns equal with the same bias tie forever: a gap of 0 over a norm of 0 certifies nothing.
    ties = (norms == 0) & (gaps <= 0)
    ties[np.arange(len(logits)), predicted] = False
    ratios[ties] = 0.0
    return np.min(ratios, axis=1)


def _as_logits(logits) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim == 1:
        logits = logits[:, None]
    if logits.ndim != 2:
        raise ValueError(f"Logits must be (N, C) or (N,); got shape {logits.shape}")
    if not np.all(np.isfinite(logits)):
        bad = int(np.sum(~np.all(np.isfinite(logits), axis=1)))
        raise ValueError(f"The model produced NaN or Inf logits for {bad} of {len(logits)} samples")
    return logits


def _check_inputs(x) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype.kind not in "fiu":
        raise ValueError(f"`x` must be a numeric array; received dtype {x.dtype}")
    if x.ndim < 2 or len(x) == 0:
        raise ValueError(f"`x` must be a non-empty batch (N, ...); received shape {x.shape}")
    finite = np.isfinite(x.reshape(len(x), -1)).all(axis=1)
    if not finite.all():
        raise ValueError(f"`x` holds NaN or Inf values in {int(np.sum(~finite))} of {len(x)} samples "
                         f"(first at index {int(np.argmin(finite))})")
    return x.astype(np.float32) if x.dtype.kind != "f" else x


def predict_logits(model, x, batch_size: int = 256) -> np.ndarray:
    """The model's logits in inference mode, `batch_size` samples at a time, as float64.

    Args:
        model: A callable Keras model.
        x: Inputs (N, ...).
        batch_size: Samples per call (≥ 1).

    Returns:
        (N, C) float64 logits ((N, 1) for one logit).

    Example:
        >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
        >>> predict_logits(m, np.zeros((5, 2), "float32")).shape
        (5, 3)
    """
    batch_size = check_int("batch_size", batch_size)
    parts = [np.asarray(keras.ops.convert_to_numpy(model(x[i:i + batch_size], training=False)), np.float64)
             for i in range(0, len(x), batch_size)]
    logits = np.concatenate(parts)
    return logits.reshape(len(x), -1)


def _last_dense(model: keras.Model):
    """(kernel, prefix bound) of a model ending in a Dense with linear activation, else a ValueError."""
    _, outputs = bounds.model_io(model)
    if len(outputs) != 1:
        raise ValueError(f"bound='pairwise' needs a model with one output; it has {len(outputs)}")
    layer = model.get_layer(outputs[0][0])
    plain = layer.export_plain() if isinstance(layer, LipschitzLayer) else layer
    if type(plain) is not keras.layers.Dense or keras.activations.serialize(plain.activation) != "linear":
        raise ValueError(
            f"bound='pairwise' needs the last layer to be a Dense (plain or Lipschitz) with a linear activation; "
            f"{layer.name!r} is a {type(layer).__name__}. Use bound='global'."
        )
    prefix = keras.Model(model.inputs, layer.input)
    return as_float64(plain.kernel), model_lipschitz(prefix)


def _radii(model, x, lipschitz, bound: str, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    check_choice("bound", bound, BOUNDS)
    x = _check_inputs(x)
    if bound == "pairwise":
        if lipschitz is not None:
            raise ValueError("bound='pairwise' computes its own per-pair constants; `lipschitz` must be None. "
                             f"Received: lipschitz={lipschitz!r}")
        kernel, prefix = _last_dense(model)
        logits = _as_logits(predict_logits(model, x, batch_size))
        return logits, pairwise_radius_from_logits(logits, kernel, prefix)
    lipschitz = model_lipschitz(model) if lipschitz is None else _check_lipschitz(lipschitz)
    logits = _as_logits(predict_logits(model, x, batch_size))
    return logits, radius_from_logits(logits, lipschitz)


def certified_radius(model: keras.Model, x, lipschitz: float | None = None, *, bound: str = "global",
                     batch_size: int = 256) -> np.ndarray:
    """Per-sample certified L2 radius: the prediction provably does not change within it.

    Args:
        model: A Sequential or functional model from inputs to logits (several, or one for a binary classifier).
        x: Inputs (N, ...), finite.
        lipschitz: A proven bound L of the logit map; None (default) uses the model's proven upper bound
            (`model_lipschitz`). Only with bound="global".
        bound: "global": (top − runner-up)/(√2·L), or |f|/L for one logit; "pairwise": the per-pair bound of a last
            Dense layer (module docstring), never smaller.
        batch_size: Samples per forward pass.

    Returns:
        float64 radii (N,), in the units of `x` (L2 norm).

    Raises:
        ValueError: for NaN/Inf inputs or logits, an empty batch, L ≤ 0, an unknown `bound`, a model whose bound
            cannot be proven (naming the layer), or bound="pairwise" without a last linear Dense layer.

    Example:
        >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
        >>> _ = m.layers[0].kernel.assign([[3.0], [4.0]])        # f(x) = 3x₁ + 4x₂, L = 5
        >>> certified_radius(m, np.array([[1.0, 1.0]], "float32")).round(6)
        array([1.4])
    """
    return _radii(model, x, lipschitz, bound, batch_size)[1]


def _labels(y, logits: np.ndarray) -> np.ndarray:
    """Integer class labels from int or one-hot `y`, checked against the number of logits."""
    y = np.asarray(y)
    n, classes = logits.shape
    if y.ndim == 2 and y.shape[1] == classes and classes > 1:
        y = np.argmax(y, axis=1)
    y = y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y
    if y.ndim != 1 or len(y) != n:
        raise ValueError(f"`y` must hold one label per sample ({n}); received shape {np.shape(y)}")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise ValueError("`y` must hold integer class labels (or one-hot rows); received non-integer values")
    elif y.dtype.kind not in "iub":
        raise ValueError(f"`y` must hold integer class labels; received dtype {y.dtype}")
    y = y.astype(np.int64)
    if classes == 1:
        values = set(np.unique(y).tolist())
        if not (values <= {0, 1} or values <= {-1, 1}):
            raise ValueError(f"A one-logit classifier needs labels in {{0, 1}} or {{-1, 1}}; received values "
                             f"{sorted(values)[:5]}")
        return (y > 0).astype(np.int64)
    bad = (y < 0) | (y >= classes)
    if bad.any():
        raise ValueError(f"Labels must be in [0, {classes}) for a model with {classes} logits; received "
                         f"{int(y[bad][0])} (and {int(bad.sum()) - 1} more out of range)")
    return y


def _predictions(logits: np.ndarray) -> np.ndarray:
    return (logits[:, 0] > 0).astype(np.int64) if logits.shape[1] == 1 else np.argmax(logits, axis=1)


def _epsilons(epsilon) -> tuple[list[float], bool]:
    many = isinstance(epsilon, (list, tuple, np.ndarray))
    values = list(np.asarray(epsilon, dtype=object).reshape(-1)) if many else [epsilon]
    if many and not values:
        raise ValueError("`epsilon` must hold at least one radius. Received: epsilon=[]")
    return [check_float("epsilon", v, inclusive=True) for v in values], many


def certified_accuracy(model: keras.Model, x, y, epsilon: float | Sequence[float], lipschitz: float | None = None,
                       *, bound: str = "global", batch_size: int = 256) -> float | list[float]:
    """The fraction of samples classified correctly with a certified radius > ε, for one ε or many in one pass.

    Args:
        model: A Sequential or functional model from inputs to logits.
        x: Inputs (N, ...), finite.
        y: Integer labels (N,) in [0, C), one-hot rows (N, C), or for one logit labels in {0, 1} or {−1, 1}.
        epsilon: ε ≥ 0 (L2, in the units of `x`), or a list of them.
        lipschitz: A proven bound of the logit map; None uses the model's (see `certified_radius`).
        bound: "global" or "pairwise" (see `certified_radius`).
        batch_size: Samples per forward pass.

    Returns:
        A float in [0, 1], or a list of floats (one per ε) when `epsilon` is a list.

    Raises:
        ValueError: for ε < 0, labels out of range or of the wrong shape, and every error of `certified_radius`.

    Example:
        >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
        >>> _ = m.layers[0].kernel.assign([[1.0], [0.0]])         # f(x) = x₁: radius |x₁|
        >>> x = np.array([[0.5, 0.0], [2.0, 0.0], [-1.0, 0.0]], "float32")
        >>> certified_accuracy(m, x, [1, 1, 1], [0.0, 1.0])
        [0.6666666666666666, 0.3333333333333333]
    """
    epsilons, many = _epsilons(epsilon)
    logits, radius = _radii(model, x, lipschitz, bound, batch_size)
    correct = _predictions(logits) == _labels(y, logits)
    values = [float(np.mean(correct & (radius > eps))) for eps in epsilons]
    return values if many else values[0]
