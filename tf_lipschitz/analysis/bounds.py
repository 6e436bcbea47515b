"""True upper bounds of Lipschitz constants (L2 norms) of Keras layers and of whole functional graphs.

A Lipschitz layer (`tf_lipschitz.layers.LipschitzLayer`) states its own bound. A plain Keras layer gets one from
the table of `tf_lipschitz.ops.layer_norms` (listed in its docstring: Dense and convolutions, BatchNormalization,
activations, shape-only layers, pooling), each a true upper bound in inference mode.

A graph combines them: along a path the bounds multiply; Add/Subtract add the bounds of their inputs,
Average adds and divides by the number of inputs, Concatenate/Maximum/Minimum take √(Σ Lᵢ²); several model inputs
each count 1 (a slice of the joint input) and several outputs combine like a concatenation. Multiply and Dot are
not Lipschitz on an unbounded domain and raise, as does any layer not in the table (named in the error).
"""

from __future__ import annotations

import math
import warnings
from typing import Callable

import keras
import numpy as np

from tf_lipschitz.layers.base import LipschitzLayer, lipschitz_layers, power_iteration_gap
from tf_lipschitz.ops.layer_norms import plain_layer_bound
from tf_lipschitz.ops.power_iteration import check_power_iterations

__all__ = ["layer_bound", "model_bound", "is_merge", "graph_nodes", "model_io", "layer_lipschitz_bound",
           "lipschitz_upper_bound"]

L = keras.layers


# How merge layers combine the bounds of their inputs.
_MERGES: dict[type, Callable[[list], float]] = {
    L.Add: sum,
    L.Subtract: sum,
    L.Average: lambda bounds: sum(bounds) / len(bounds),
    L.Concatenate: lambda bounds: math.sqrt(sum(b * b for b in bounds)),
    L.Maximum: lambda bounds: math.sqrt(sum(b * b for b in bounds)),
    L.Minimum: lambda bounds: math.sqrt(sum(b * b for b in bounds)),
}


def is_merge(layer) -> bool:
    """Whether `layer` is a merge layer whose bound combines its inputs' bounds (Add, Concatenate, …).

    Args:
        layer: A Keras layer.

    Returns:
        True for the merge layers of the module docstring.

    Example:
        >>> is_merge(keras.layers.Add()), is_merge(keras.layers.Multiply())
        (True, False)
    """
    return type(layer) in _MERGES


def layer_bound(layer, input_shape=None) -> float:
    """An upper bound of one layer's Lipschitz constant (L2 norms, inference mode), activation included.

    Args:
        layer: A built Keras layer: a `LipschitzLayer` (which answers itself), a nested model, or a layer of the table
            of `tf_lipschitz.ops.layer_norms`.
        input_shape: The shape the layer is applied to (with batch axis); needed for convolutions and pooling.

    Returns:
        A float upper bound.

    Raises:
        ValueError: naming the layer, if no bound is known for it (merge layers included: they are handled by
            `model_bound`) or its input shape is not static.

    Example:
        >>> layer = keras.layers.Dense(2, use_bias=False); layer.build((None, 2))
        >>> _ = layer.kernel.assign(np.diag([3.0, 1.0]).astype("float32"))
        >>> layer_bound(layer)
        3.0
    """
    if isinstance(layer, LipschitzLayer):
        return float(layer.lipschitz_bound())
    if isinstance(layer, keras.Model):
        return model_bound(layer)
    return plain_layer_bound(layer, input_shape)


def _keras_tensors(value) -> list[dict]:
    """The configs of every Keras tensor in a serialized call argument (with `keras_history` and `shape`)."""
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            return [value["config"]]
        return [tensor for v in value.values() for tensor in _keras_tensors(v)]
    if isinstance(value, (list, tuple)):
        return [tensor for v in value for tensor in _keras_tensors(v)]
    return []


def _as_refs(entry) -> list[tuple]:
    """`input_layers`/`output_layers` of a functional config: one [name, node, tensor] or a list of them."""
    if isinstance(entry, dict):
        return [tuple(ref) for ref in entry.values()]
    if entry and isinstance(entry[0], str):
        return [tuple(entry)]
    return [tuple(ref) for ref in entry]


def graph_nodes(model: keras.Model) -> list[dict]:
    """The calls of a Sequential or functional model, in order, read from public API only.

    Args:
        model: A built Sequential or functional `keras.Model`.

    Returns:
        One dict per call: `layer` (the layer object), `name`, `node` (its call index), `inputs` (list of
        (layer name, node index, tensor index) it reads), `input_shapes`; model-level `__inputs__`/`__outputs__`
        entries are omitted (see `model_io`).

    Example:
        >>> m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
        >>> [(n["name"], n["inputs"]) for n in graph_nodes(m)]
        [('d', [('input', 0, 0)])]
    """
    if isinstance(model, keras.Sequential):
        shape = tuple(model.inputs[0].shape)
        nodes, previous = [], ("input", 0, 0)
        for layer in model.layers:
            nodes.append({"layer": layer, "name": layer.name, "node": 0, "inputs": [previous],
                          "input_shapes": [shape]})
            shape, previous = tuple(layer.compute_output_shape(shape)), (layer.name, 0, 0)
        return nodes
    nodes = []
    for layer_config in model.get_config()["layers"]:
        for index, call in enumerate(layer_config.get("inbound_nodes", [])):
            tensors = _keras_tensors(call)
            nodes.append({"layer": model.get_layer(layer_config["name"]), "name": layer_config["name"],
                          "node": index, "inputs": [tuple(t["keras_history"]) for t in tensors],
                          "input_shapes": [tuple(t["shape"]) for t in tensors]})
    return nodes


def model_io(model: keras.Model) -> tuple[list[tuple], list[tuple]]:
    """The (layer name, node, tensor) references of a model's inputs and outputs (see `graph_nodes`).

    Args:
        model: A built Sequential or functional `keras.Model`.

    Returns:
        `(inputs, outputs)`, two lists of references.

    Example:
        >>> model_io(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")]))
        ([('input', 0, 0)], [('d', 0, 0)])
    """
    if isinstance(model, keras.Sequential):
        return [("input", 0, 0)], [(model.layers[-1].name, 0, 0)]
    config = model.get_config()
    return _as_refs(config["input_layers"]), _as_refs(config["output_layers"])


def _check_model(model) -> None:
    if not isinstance(model, keras.Model) or not (isinstance(model, keras.Sequential) or model.get_config().get(
            "layers") is not None):
        raise ValueError(
            f"Needs a built Sequential or functional keras.Model; received {type(model).__name__} (a subclassed "
            "model's graph is not known)"
        )


def model_bound(model: keras.Model) -> float:
    """Upper bound of a Sequential or functional model's Lipschitz constant, following its graph.

    Each tensor gets a bound relative to the model's input: a layer multiplies its input's bound by its own,
    merges combine their inputs' bounds (module docstring). Shared layers are bounded at each call.

    Args:
        model: A built Sequential or functional model (nested models are bounded recursively).

    Returns:
        A float upper bound (L2 norms, inference mode).

    Raises:
        ValueError: naming a layer with no known bound, a non-Lipschitz merge, or a subclassed model.

    Example:
        >>> x = keras.Input((2,)); d = keras.layers.Dense(2, use_bias=False)
        >>> m = keras.Model(x, keras.layers.Add()([x, d(x)]))
        >>> _ = d.kernel.assign(np.eye(2, dtype="float32"))
        >>> model_bound(m)
        2.0
    """
    _check_model(model)
    inputs, outputs = model_io(model)
    bounds = {ref[:2]: 1.0 for ref in inputs}  # keyed by (layer name, call index): all outputs of a call alike
    pending = [node for node in graph_nodes(model) if not isinstance(node["layer"], L.InputLayer)]
    while pending:  # calls in dependency order (a shared layer's calls may sit at different depths)
        ready = [node for node in pending if all(ref[:2] in bounds for ref in node["inputs"])]
        if not ready:
            raise ValueError(f"Layer {pending[0]['name']!r} reads a tensor that is never computed")
        for node in ready:
            bounds[(node["name"], node["node"])] = _call_bound(node, [bounds[ref[:2]] for ref in node["inputs"]])
        pending = [node for node in pending if (node["name"], node["node"]) not in bounds]
    return math.sqrt(sum(bounds[ref[:2]] ** 2 for ref in outputs))


def _call_bound(node: dict, incoming: list[float]) -> float:
    layer = node["layer"]
    if type(layer) in _MERGES:
        return _MERGES[type(layer)](incoming)
    if len(incoming) != 1:
        raise ValueError(
            f"No Lipschitz bound is known for layer {node['name']!r} of type {type(layer).__name__} with "
            f"{len(incoming)} inputs (Multiply and Dot are not Lipschitz)"
        )
    return incoming[0] * layer_bound(layer, node["input_shapes"][0])


def layer_lipschitz_bound(layer, *, power_iterations: int = 50, input_shape=None) -> float:
    """A true upper bound of one layer's Lipschitz constant (L2 norm, inference mode), activation included.

    Lipschitz layers answer with their own guarantee (`layer.lipschitz_bound()`); plain layers get an exact or
    certified bound from the table of `tf_lipschitz.ops.layer_norms` (SVD for Dense, the Fourier bound for convolutions,
    known constants for activations and pooling).

    Args:
        layer: A built Keras layer.
        power_iterations: Kept for compatibility and validated; no longer used, since the bounds of plain layers
            are exact or certified instead of power-iteration estimates (which approach σ from below).
        input_shape: The shape the layer is applied to; defaults to the shape it was built on.

    Returns:
        A float bound.

    Raises:
        ValueError: naming the layer, for a layer of unknown kind or without a static input shape.

    Example:
        >>> layer = keras.layers.Dense(2, use_bias=False); layer.build((None, 2))
        >>> _ = layer.kernel.assign(np.diag([3.0, 1.0]).astype("float32"))
        >>> round(layer_lipschitz_bound(layer), 3)
        3.0
    """
    check_power_iterations(power_iterations)
    if input_shape is None and not isinstance(layer, keras.Model):
        input_shape = (layer.get_build_config() or {}).get("input_shape")
        if input_shape is None and layer.built and not isinstance(layer.input, (list, tuple)):
            input_shape = tuple(layer.input.shape)  # parameter-free layers keep no build config
    return layer_bound(layer, input_shape)


def lipschitz_upper_bound(model, *, power_iterations: int = 50, warn_unconverged: bool = True) -> float:
    """A true upper bound of a Sequential or functional model's Lipschitz constant (L2 norms, inference mode).

    Follows the graph: the bound of a path is the product of its layers' bounds, residual additions add the
    bounds of their branches, concatenations take the root of the sum of squares, pooling and activations
    contribute their known constants (listed in `tf_lipschitz.ops.layer_norms`). It warns when a normalized
    layer's power iteration has not converged (an untrained model): its kernel is then normalized to more than
    its target norm; `tf_lipschitz.layers.converge_power_iteration(model)` converges it first.

    Args:
        model: A built Sequential or functional `keras.Model` (nested models included).
        power_iterations: Kept for compatibility (see `layer_lipschitz_bound`).
        warn_unconverged: Warn when a normalized layer's power iteration has not converged (monitors that
            bound a model during training turn this off).

    Returns:
        A float upper bound of ‖f‖_L with respect to the L2 norm.

    Raises:
        ValueError: naming the layer with no known bound, or for a subclassed model.

    Example:
        >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
        >>> _ = m.layers[0].kernel.assign([[3.0], [4.0]])
        >>> round(lipschitz_upper_bound(m), 4)
        5.0
    """
    check_power_iterations(power_iterations)
    behind = [(layer.name, gap) for layer in (lipschitz_layers(model) if warn_unconverged else [])
              if layer.built and (gap := power_iteration_gap(layer, steps=5)) > 1e-3]
    if behind:
        warnings.warn(
            f"lipschitz_upper_bound: the power iteration of {len(behind)} normalized layer(s) has not converged ("
            + ", ".join(f"'{name}': 5 more steps raise its σ estimate by {gap:.2%}" for name, gap in behind)
            + "), so their kernels are normalized to more than their target norm and the bound, true for the "
            "model as it is, is larger than after training. For the bound of converged layers, call "
            "tf_lipschitz.layers.converge_power_iteration(model) first.", stacklevel=2)
    return model_bound(model)
