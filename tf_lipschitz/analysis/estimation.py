"""Estimating a network's Lipschitz constant from below and from above: one entry point, `estimate_lipschitz`.

Computing ‖f‖_L exactly is NP-hard even for ReLU networks (Virmaux and Scaman, 2018), so three estimates bracket it:

* "lower": a lower bound, the largest local constant σ_max(J_f(x)) found by a search over inputs. At each point a
  power iteration on the Jacobian (J v by forward mode, Jᵀu by reverse mode) gives σ_max(J(x)); the points climb
  by gradient ascent on ‖J(x) v‖ where it has a gradient, and by random steps kept only when they improve (for
  piecewise-linear networks, ReLU or GroupSort, J is piecewise constant and its gradient is zero). Every value
  found is ‖J(x) v‖ ≤ ‖f‖_L for a unit v, so the result is a true lower bound.
* "lipsdp": LipSDP-Neuron (Fazlyab et al., 2019), an upper bound for fully connected networks whose activations
  are slope-restricted in [α, β] ([0, 1] for ReLU and tanh, [a, 1] for LeakyReLU(a), [0, ¼] for sigmoid; linear
  maps between them are multiplied out): the smallest ρ
  such that a linear matrix inequality with one multiplier per neuron holds; √ρ bounds ‖f‖_L. It needs cvxpy
  (`pip install "tf-lipschitz[sdp]"`).
* "upper": the layer-wise bound, the product of the layers' constants (`tf_lipschitz.analysis.bounds.lipschitz_upper_bound`).

For every network lower ≤ ‖f‖_L ≤ lipsdp and lower ≤ ‖f‖_L ≤ upper; on every network we tried LipSDP was also
below the layer-wise product, often several times (examples/lipschitz_estimation.py prints the table).

Reference:
    Fazlyab, Robey, Hassani, Morari and Pappas, "Efficient and Accurate Estimation of Lipschitz Constants for
    Deep Neural Networks", NeurIPS 2019.
    Virmaux and Scaman, "Lipschitz regularity of deep neural networks: analysis and efficient estimation",
    NeurIPS 2018.
"""

from __future__ import annotations

import dataclasses
import math

import keras
import numpy as np
import tensorflow as tf

from tf_lipschitz.analysis.bounds import lipschitz_upper_bound
from tf_lipschitz.foundations.optional import require
from tf_lipschitz.foundations.validation import check_choice, check_float, check_int
from tf_lipschitz.layers.base import LipschitzLayer

__all__ = [
    "METHODS",
    "empirical_lipschitz",
    "estimate_lipschitz",
    "lipschitz_lower_bound",
    "lipsdp",
    "lipsdp_bound",
    "SlopeRestrictedNetwork",
    "slope_restricted_network",
]

METHODS = ("lower", "lipsdp", "upper", "all")
_RANDOM_STEPS = 3  # random candidates per point and ascent step: they find the regions a gradient cannot see


# ------------------------------------------------------------------------------------------------ lower bound
def empirical_lipschitz(model, x, *, training: bool = False) -> float:
    """Empirical lower bound of a model's Lipschitz constant: the largest Jacobian norm over a batch.

    For a scalar output this is max‖∇ₓf(x)‖₂; for vector outputs the top singular value of each sample's
    Jacobian. The GradientTape lives here so layers stay backend-agnostic.

    Args:
        model: A callable Keras model or layer.
        x: A batch of inputs.
        training: Passed to the model.

    Returns:
        A float lower bound of ‖f‖_L (L2 norms).

    Raises:
        ValueError: for an empty batch, a non-float batch, or NaN/Inf values (with the count of bad samples).

    Example:
        >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
        >>> _ = m.layers[0].kernel.assign([[3.0], [4.0]])
        >>> round(empirical_lipschitz(m, np.zeros((4, 2), "float32")), 4)
        5.0
    """
    x = tf.convert_to_tensor(x)
    if x.shape.rank is None or x.shape.rank < 1 or x.shape[0] == 0:
        raise ValueError(f"`x` must be a non-empty batch. Received: x with shape {tuple(x.shape)}")
    if not x.dtype.is_floating:
        raise ValueError(f"`x` must be a floating-point batch (a Jacobian needs real inputs). Received: dtype={x.dtype.name}")
    finite = tf.reduce_all(tf.math.is_finite(tf.reshape(x, (tf.shape(x)[0], -1))), axis=1)
    if not bool(tf.reduce_all(finite)):
        bad = int(tf.reduce_sum(tf.cast(~finite, tf.int32)))
        raise ValueError(
            f"`x` contains NaN or Inf values in {bad} of its {int(x.shape[0])} samples; the empirical Lipschitz "
            "constant is only defined on finite inputs"
        )
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = model(x, training=training)
        y = tf.reshape(tf.cast(y, tf.float32), (tf.shape(y)[0], -1))
    try:
        jac = tape.batch_jacobian(y, x)
    except tf.errors.InvalidArgumentError:
        # The vectorized Jacobian needs batched kernels that some CPUs lack (without TensorFlow's oneDNN
        # kernels a grouped convolution's input gradient has none): the same Jacobian, one output at a time.
        jac = tape.batch_jacobian(y, x, experimental_use_pfor=False)
    del tape
    jac = tf.reshape(jac, (tf.shape(jac)[0], tf.shape(jac)[1], -1))
    return float(tf.reduce_max(tf.linalg.svd(jac, compute_uv=False)))


def _unit_rows(v):
    return v / tf.maximum(tf.norm(v, axis=1, keepdims=True), 1e-12)


def _flatten(y):
    y = tf.cast(y, tf.float32)
    return tf.reshape(y, (tf.shape(y)[0], -1))


def _local_step(model, x, v):
    """One power-iteration step of JᵀJ at every point: returns (‖J v‖, normalized Jᵀ J v) per sample."""
    shape = tf.shape(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        with tf.autodiff.ForwardAccumulator(x, tf.reshape(v, shape)) as acc:
            y = _flatten(model(x, training=False))
        jv = acc.jvp(y)
    jtjv = tape.gradient(y, x, output_gradients=tf.stop_gradient(jv))
    return tf.norm(jv, axis=1), _unit_rows(tf.reshape(jtjv, (shape[0], -1)))


def _local_sigma(model, x, v, power_iterations: int):
    """`power_iterations` steps from v; returns (‖J v‖ of the final unit v, that v): a lower bound of σ_max(J(x))."""
    v = tf.while_loop(lambda i, v: i < power_iterations, lambda i, v: (i + 1, _local_step(model, x, v)[1]),
                      (tf.constant(0), v))[1]
    sigma, _ = _local_step(model, x, v)
    return sigma, v


def _ascent_direction(model, x, v):
    """∇ₓ‖J(x) v‖ per sample, normalized (zero where the local constant has no gradient)."""
    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.autodiff.ForwardAccumulator(x, tf.reshape(v, tf.shape(x))) as acc:
            y = _flatten(model(x, training=False))
        objective = tf.reduce_sum(tf.norm(acc.jvp(y), axis=1))
    grad = outer.gradient(objective, x)
    grad = tf.zeros_like(x) if grad is None else grad
    flat = tf.reshape(grad, (tf.shape(x)[0], -1))
    return tf.reshape(_unit_rows(flat), tf.shape(x))


def lipschitz_lower_bound(
    model,
    x,
    *,
    steps: int = 100,
    restarts: int = 4,
    power_iterations: int = 3,
    final_power_iterations: int = 50,
    step_size: float | None = None,
    seed: int = 0,
) -> float:
    """A lower bound of ‖f‖_L (L2 norms): the largest σ_max(J_f(x)) found by ascent from the points `x`.

    The search starts at `x` and, for each further restart, at `x` plus Gaussian noise of scale `step_size`.
    At every step each point tries a step of length s along the gradient of ‖J(x) v‖ and three random steps of
    lengths log-uniform in [s/10, 10 s], keeps the best of the five (current included) and continues the power
    iteration there; s
    decays geometrically from `step_size` to `step_size`/100. The best points then get `final_power_iterations`
    more power-iteration steps. Deterministic for a given `seed`.

    Args:
        model: A callable Keras model or layer (run in inference mode); any output shape.
        x: A batch of starting points (N, ...).
        steps: Ascent steps (≥ 0).
        restarts: Copies of the batch searched in parallel (≥ 1); the first starts exactly at `x`.
        power_iterations: Power-iteration steps at each candidate point (≥ 1).
        final_power_iterations: Power-iteration steps at the best points at the end (≥ 1).
        step_size: Initial step length in data units; defaults to the mean per-coordinate std of `x` times √d
            (the batch's typical radius), or 1 for a single point.
        seed: Seed of the start vectors, restart noise and random steps.

    Returns:
        A float ≤ ‖f‖_L.

    Raises:
        ValueError: for an empty batch, NaN or Inf in `x` (with the count of bad samples, as
            `analysis.empirical_lipschitz`), a non-finite Jacobian norm (NaN weights), or invalid counts.

    Example:
        >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
        >>> _ = m.layers[0].kernel.assign([[3.0], [4.0]])
        >>> round(lipschitz_lower_bound(m, np.zeros((2, 2), "float32"), steps=2), 4)
        5.0
    """
    steps = check_int("steps", steps, minimum=0)
    restarts = check_int("restarts", restarts)
    power_iterations = check_int("power_iterations", power_iterations)
    final_power_iterations = check_int("final_power_iterations", final_power_iterations)
    x = np.asarray(x, np.float32)
    if x.ndim < 2 or len(x) == 0:
        raise ValueError(f"`x` must be a non-empty batch of inputs. Received shape {x.shape}")
    finite = np.isfinite(x.reshape(len(x), -1)).all(axis=1)
    if not finite.all():
        raise ValueError(
            f"`x` contains NaN or Inf values in {int(np.sum(~finite))} of its {len(x)} samples; the Lipschitz lower "
            "bound is only defined on finite inputs"
        )
    dim = int(np.prod(x.shape[1:]))
    if step_size is None:
        spread = float(np.mean(np.std(x.reshape(len(x), -1), axis=0))) if len(x) > 1 else 0.0
        step_size = spread * math.sqrt(dim) if spread > 0 else 1.0
    step_size = check_float("step_size", step_size)

    rng = np.random.default_rng(seed)
    noise = rng.normal(size=(restarts - 1,) + x.shape).astype(np.float32) * step_size / math.sqrt(dim)
    points = np.concatenate([x[None], x[None] + noise]).reshape((-1,) + x.shape[1:])
    points = tf.constant(points)
    batch = points.shape[0]
    v = _unit_rows(tf.constant(rng.normal(size=(batch, dim)).astype(np.float32)))
    measure = tf.function(lambda points, v, n: _local_sigma(model, points, v, n))
    sigma, v = measure(points, v, power_iterations)
    decay = 0.01 ** (1.0 / max(steps - 1, 1))

    @tf.function
    def ascend(points, v, sigma, length, directions):
        candidates = [points + length * _ascent_direction(model, points, v)]
        candidates += [points + length * tf.reshape(d, tf.shape(points)) for d in tf.unstack(directions)]
        for candidate in candidates:
            cand_sigma, cand_v = _local_sigma(model, candidate, v, power_iterations)
            better = cand_sigma > sigma
            sigma = tf.where(better, cand_sigma, sigma)
            v = tf.where(better[:, None], cand_v, v)
            points = tf.where(tf.reshape(better, (-1,) + (1,) * (len(points.shape) - 1)), candidate, points)
        return points, v, sigma

    for step in range(steps):
        directions = rng.normal(size=(_RANDOM_STEPS, batch, dim))
        directions /= np.maximum(np.linalg.norm(directions, axis=-1, keepdims=True), 1e-12)
        directions *= 10.0 ** rng.uniform(-1, 1, size=(_RANDOM_STEPS, batch, 1))  # several scales at once
        directions = directions.astype(np.float32)
        points, v, sigma = ascend(points, v, sigma, tf.constant(step_size * decay**step, tf.float32), directions)
    final, _ = measure(points, v, final_power_iterations)
    bound = float(tf.reduce_max(tf.maximum(final, sigma)))
    if not math.isfinite(bound):
        raise ValueError(
            f"The model's Jacobian norm is {bound} at the search points: its outputs or weights are not finite "
            "(a model with NaN or Inf weights has no Lipschitz bound)"
        )
    return bound


# ----------------------------------------------------------------------------------------------------- LipSDP
@dataclasses.dataclass(frozen=True)
class SlopeRestrictedNetwork:
    """A fully connected network x → W_L φ(W_{L-1} … φ(W_0 x + b_0) …) + b_L in LipSDP's terms.

    Attributes:
        weights: The matrices W_0, …, W_L as (out, in) NumPy arrays (consecutive linear maps multiplied out).
        alpha: Per hidden layer k < L, the lower slope bound of its activation (one float per layer).
        beta: The upper slope bounds, likewise.
    """

    weights: tuple
    alpha: tuple
    beta: tuple


def _activation_slopes(activation_name: str, negative_slope: float = 0.0):
    """(α, β) of an elementwise activation, or None for the identity; ValueError for one LipSDP cannot take."""
    if activation_name in ("linear", None):
        return None
    if activation_name in ("relu", "tanh"):
        return (0.0, 1.0)
    if activation_name == "sigmoid":
        return (0.0, 0.25)
    if activation_name == "leaky_relu":
        a = float(negative_slope)
        if not 0.0 <= a <= 1.0:
            raise ValueError(f"LipSDP supports LeakyReLU slopes in [0, 1]. Received: negative_slope={a}")
        return (a, 1.0)
    raise ValueError("LipSDP supports relu, leaky_relu, tanh, sigmoid and linear activations. "
                     f"Received: {activation_name!r}")


def _layer_activation(layer):
    """(α, β) slopes of the nonlinearity a layer applies after its linear part (None: none)."""
    if isinstance(layer, keras.layers.LeakyReLU):
        return _activation_slopes("leaky_relu", layer.negative_slope)
    if isinstance(layer, keras.layers.ReLU):
        if layer.max_value is not None or layer.threshold != 0:
            raise ValueError(f"LipSDP supports plain ReLU layers; {layer.name!r} has a max_value or threshold")
        return _activation_slopes("leaky_relu", layer.negative_slope)
    activation = getattr(layer, "activation", None)
    if activation is None:
        return None
    name = keras.activations.serialize(activation)
    if isinstance(name, dict):
        name = name.get("config", {}).get("name", name.get("class_name"))
    slope = 0.2 if name == "leaky_relu" else 0.0  # keras.activations.leaky_relu's default slope
    return _activation_slopes(name, slope)


def slope_restricted_network(model) -> SlopeRestrictedNetwork:
    """Reads a chain of Dense layers and ReLU/LeakyReLU/tanh/sigmoid/linear activations into LipSDP's form.

    Lipschitz layers (e.g. `SpectralNormDense`, `OrthonormalDense`) are read through their `export_plain()`.
    Input, Dropout and Flatten (of 2-D inputs) layers are skipped; biases do not matter.

    Args:
        model: A built Sequential or chain-functional model.

    Returns:
        A `SlopeRestrictedNetwork`.

    Raises:
        ValueError: for any other layer or activation.

    Example:
        >>> m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu"),
        ...                       keras.layers.Dense(1)])
        >>> net = slope_restricted_network(m)
        >>> [w.shape for w in net.weights], net.alpha, net.beta
        ([(4, 3), (1, 4)], (0.0,), (1.0,))
    """
    weights, alpha, beta = [], [], []
    current = None  # the linear map accumulated since the last nonlinearity, (out, in)
    dim = None
    for layer in model.layers:
        if isinstance(layer, LipschitzLayer):
            layer = layer.export_plain()
        if isinstance(layer, (keras.layers.InputLayer, keras.layers.Dropout, keras.layers.Flatten)):
            continue
        if isinstance(layer, keras.layers.Dense):
            matrix = np.asarray(keras.ops.convert_to_numpy(layer.kernel), np.float64).T
            current = matrix if current is None else matrix @ current
            dim = matrix.shape[0]
        elif not isinstance(layer, (keras.layers.Activation, keras.layers.ReLU, keras.layers.LeakyReLU)):
            raise ValueError(f"LipSDP supports Dense and ReLU/LeakyReLU layers; {layer.name!r} is a "
                             f"{type(layer).__name__}")
        slopes = _layer_activation(layer)
        if slopes is None:
            continue
        if dim is None:
            raise ValueError("LipSDP needs the network to start with a Dense layer")
        weights.append(current if current is not None else np.eye(dim))
        alpha.append(slopes[0])
        beta.append(slopes[1])
        current = None
    if dim is None:
        raise ValueError("LipSDP needs at least one Dense layer")
    weights.append(current if current is not None else np.eye(dim))
    return SlopeRestrictedNetwork(tuple(weights), tuple(alpha), tuple(beta))


def lipsdp_bound(network: SlopeRestrictedNetwork, *, solver: str = "CLARABEL") -> float:
    """LipSDP-Neuron: √ρ for the smallest ρ with M(ρ, T) ⪯ 0, T = diag(t) ≥ 0 (one multiplier per neuron).

    With z = (x_0, x_1, …, x_L) stacking the input and the post-activations, A z the pre-activations
    (W_0 x_0, …, W_{L-1} x_{L-1}) and B z = (x_1, …, x_L), slope restriction gives for each neuron and two
    inputs the quadratic constraint (Δx − α Δp)(β Δp − Δx) ≥ 0 (Δp: change of its pre-activation, Δx: of its
    output). Summed with weights t ≥ 0 it gives `[A; B]ᵀ [[−2αβT, (α+β)T], [(α+β)T, −2T]] [A; B]`, and
        `M(ρ, T) = that + diag(−ρ I, 0, …, 0, W_Lᵀ W_L) ⪯ 0  ⇒  ‖W_L x_L − W_L x_L'‖² ≤ ρ ‖x_0 − x_0'‖²`.

    Args:
        network: The network in LipSDP's form (`slope_restricted_network`).
        solver: A cvxpy SDP solver that ships with cvxpy: "CLARABEL" (interior point, accurate) or "SCS".

    Returns:
        The bound √ρ (a float ≥ ‖f‖_L, up to the solver's tolerance).

    Raises:
        ImportError: without cvxpy, naming `pip install "tf-lipschitz[sdp]"`.
        ValueError: for an unknown solver.
        RuntimeError: if the solver fails.

    Example:
        >>> net = SlopeRestrictedNetwork((np.diag([3.0, 1.0]),), (), ())
        >>> round(lipsdp_bound(net), 3)
        3.0
    """
    cp = require("cvxpy", extra="sdp")
    solver = check_choice("solver", solver, ("CLARABEL", "SCS"))
    hidden = network.weights[:-1]
    n0 = hidden[0].shape[1] if hidden else network.weights[0].shape[1]
    sizes = [w.shape[0] for w in hidden]
    n_hidden = sum(sizes)
    n = n0 + n_hidden
    rho = cp.Variable(nonneg=True)
    final = network.weights[-1]
    corner = np.zeros((n, n))
    corner[n - final.shape[1]:, n - final.shape[1]:] = final.T @ final
    first = np.zeros((n, n))
    first[:n0, :n0] = np.eye(n0)
    constraints = []
    matrix = corner - rho * first
    if n_hidden:
        t = cp.Variable(n_hidden, nonneg=True)
        a = np.zeros((n_hidden, n))
        row, col = 0, 0
        for w in hidden:  # A: block-diagonal W_k acting on x_k, shifted one block right of B
            a[row:row + w.shape[0], col:col + w.shape[1]] = w
            row, col = row + w.shape[0], col + w.shape[1]
        b = np.hstack([np.zeros((n_hidden, n0)), np.eye(n_hidden)])
        alpha = np.concatenate([np.full(s, al) for s, al in zip(sizes, network.alpha)])
        beta = np.concatenate([np.full(s, be) for s, be in zip(sizes, network.beta)])
        t_ab = cp.multiply(alpha * beta, t)
        t_sum = cp.multiply(alpha + beta, t)
        cross = a.T @ cp.diag(t_sum) @ b
        matrix = matrix - 2 * a.T @ cp.diag(t_ab) @ a + cross + cross.T - 2 * b.T @ cp.diag(t) @ b
    constraints.append((matrix + matrix.T) / 2 << 0)
    problem = cp.Problem(cp.Minimize(rho), constraints)
    problem.solve(solver=solver)
    if problem.status not in ("optimal", "optimal_inaccurate") or rho.value is None:
        raise RuntimeError(f"LipSDP: the {solver} solver ended with status {problem.status!r}")
    return math.sqrt(max(float(rho.value), 0.0))


def lipsdp(model, *, solver: str = "CLARABEL") -> float:
    """LipSDP-Neuron upper bound of a small fully connected ReLU / LeakyReLU network (see `lipsdp_bound`).

    Args:
        model: A built chain of Dense layers with ReLU, LeakyReLU, tanh, sigmoid or linear activations.
        solver: "CLARABEL" or "SCS".

    Returns:
        A float ≥ ‖f‖_L (up to solver tolerance).

    Raises:
        ImportError: without cvxpy.
        ValueError: for an unsupported layer or activation.

    Example:
        >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, activation="relu", use_bias=False)])
        >>> _ = m.layers[0].kernel.assign(np.diag([2.0, 0.5]).astype("float32"))
        >>> round(lipsdp(m), 3)
        2.0
    """
    return lipsdp_bound(slope_restricted_network(model), solver=solver)


# ----------------------------------------------------------------------------------------------- entry point
def estimate_lipschitz(model, x=None, method: str = "all", *, seed: int = 0, lower_options: dict | None = None,
                       solver: str = "CLARABEL", power_iterations: int = 50):
    """Estimates ‖f‖_L (L2 norms) by one method, or brackets it with all three.

    Args:
        model: A built Keras model.
        x: Starting points of the lower-bound search (needed for "lower" and "all").
        method: "lower" (`lipschitz_lower_bound`), "lipsdp" (`lipsdp`), "upper"
            (`analysis.lipschitz_upper_bound`, the layer-wise product) or "all".
        seed: Seed of the lower-bound search.
        lower_options: Further keyword arguments of `lipschitz_lower_bound` (steps, restarts, …).
        solver: The LipSDP solver, "CLARABEL" or "SCS".
        power_iterations: Power-iteration steps per layer of the layer-wise bound.

    Returns:
        A float for one method; for "all" a dict {"lower": …, "lipsdp": …, "upper": …}.

    Raises:
        ValueError: for an unknown method, a missing `x`, or a model a method cannot handle.
        ImportError: for "lipsdp"/"all" without cvxpy.

    Example:
        >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
        >>> _ = m.layers[0].kernel.assign([[3.0], [4.0]])
        >>> round(estimate_lipschitz(m, method="upper"), 4)
        5.0
    """
    method = check_choice("method", method, METHODS)
    if method in ("lower", "all") and x is None:
        raise ValueError(f"method={method!r} needs the starting points `x`. Received: x=None")
    estimators = {
        "lower": lambda: lipschitz_lower_bound(model, x, seed=seed, **(lower_options or {})),
        "lipsdp": lambda: lipsdp(model, solver=solver),
        "upper": lambda: float(lipschitz_upper_bound(model, power_iterations=power_iterations)),
    }
    if method != "all":
        return estimators[method]()
    return {name: estimate() for name, estimate in estimators.items()}
