"""Swap Lipschitz layers into an existing model, and bake them back into plain layers for deployment.

`lipschitz_clone` replaces every linear layer it knows by its normalized counterpart, folds batch normalization
into the linear layer before it, and reports per layer what it did and with what bound; `export_plain` asks each
Lipschitz layer for its plain equivalent (`LipschitzLayer.export_plain`), so neither switches on Lipschitz layer
types.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from tf_lipschitz.analysis import bounds
from tf_lipschitz.foundations.validation import check_choice, check_float, check_int
from tf_lipschitz.layers import (
    LipschitzLayer,
    NormalizedKernelMixin,
    SpectralNormConv2D,
    SpectralNormDense,
    ToeplitzNormConv1D,
    ToeplitzNormConv2D,
    ToeplitzNormConv2DTranspose,
    ToeplitzNormConv3D,
    ToeplitzNormDepthwiseConv2D,
    ToeplitzNormSeparableConv2D,
)
from tf_lipschitz.ops.layer_norms import as_float64

__all__ = ["lipschitz_clone", "export_plain", "ConversionReport", "LayerReport"]

_METHODS = ("spectral", "toeplitz")
L = keras.layers

# Plain class → (normalized class for method="spectral", for method="toeplitz"). The reshaped-kernel norm bounds
# only Dense exactly, and Conv2D within √n; every other convolution is normalized by its operator norm.
_REPLACEMENTS: dict[type, tuple[type, type]] = {
    L.Dense: (SpectralNormDense, SpectralNormDense),
    L.Conv2D: (SpectralNormConv2D, ToeplitzNormConv2D),
    L.Conv1D: (ToeplitzNormConv1D, ToeplitzNormConv1D),
    L.Conv3D: (ToeplitzNormConv3D, ToeplitzNormConv3D),
    L.DepthwiseConv2D: (ToeplitzNormDepthwiseConv2D, ToeplitzNormDepthwiseConv2D),
    L.SeparableConv2D: (ToeplitzNormSeparableConv2D, ToeplitzNormSeparableConv2D),
    L.Conv2DTranspose: (ToeplitzNormConv2DTranspose, ToeplitzNormConv2DTranspose),
}


@dataclasses.dataclass(frozen=True)
class LayerReport:
    """What `lipschitz_clone` did with one layer.

    Attributes:
        name: The layer's name (nested models as "outer/inner").
        original: The original layer's class name.
        action: "replaced", "folded" (a batch norm merged into the linear layer before it, and removed) or "kept".
        replacement: The new layer's class name, or None when folded or kept.
        bound: The new or kept layer's Lipschitz bound, or None if none is known.
        constrained: Whether the layer's Lipschitz constant is bounded by construction (normalized, folded, or a
            parameter-free layer with a known constant).
        reason: Why, in a few words.
    """

    name: str
    original: str
    action: str
    replacement: str | None
    bound: float | None
    constrained: bool
    reason: str


@dataclasses.dataclass(frozen=True)
class ConversionReport:
    """The per-layer report of `lipschitz_clone`; `str(report)` is a table.

    Attributes:
        layers: One `LayerReport` per layer, in graph order.
        output_scale: The factor c with clone(x) = c · model(x) at inference, as cloned (before any training): the
            product of k_sn/σ over the normalized layers on every path; None when a layer breaks the proportion
            (see `nonhomogeneous`) or the outputs have different factors.
        nonhomogeneous: Names of the layers through which the clone is not proportional to the original, each with
            why ("name: reason").
    """

    layers: tuple
    output_scale: float | None = None
    nonhomogeneous: tuple = ()

    @property
    def replaced(self) -> list:
        """Names of the replaced layers."""
        return [row.name for row in self.layers if row.action == "replaced"]

    @property
    def folded(self) -> list:
        """Names of the batch norms folded into the linear layer before them."""
        return [row.name for row in self.layers if row.action == "folded"]

    @property
    def unconstrained(self) -> list:
        """Names of the layers left with an unbounded or trainable Lipschitz constant."""
        return [row.name for row in self.layers if not row.constrained]

    def __str__(self) -> str:
        lines = [f"{'layer':32s} {'was':22s} {'action':9s} {'now':30s} {'bound':>9s}  reason"]
        for row in self.layers:
            bound = "-" if row.bound is None else f"{row.bound:9.4g}"
            lines.append(f"{row.name:32s} {row.original:22s} {row.action:9s} {row.replacement or '-':30s} "
                         f"{bound:>9s}  {row.reason}")
        lines.append(f"{len(self.replaced)} replaced, {len(self.folded)} folded, "
                     f"{len(self.layers) - len(self.replaced) - len(self.folded)} kept, "
                     f"{len(self.unconstrained)} unconstrained")
        if self.output_scale is not None:
            lines.append(f"clone(x) = {self.output_scale:.4g} · original(x) at inference (biases scaled with the norms)")
        else:
            lines.append("clone(x) is not proportional to original(x): " + "; ".join(self.nonhomogeneous))
        return "\n".join(lines)


def _check_model(model) -> None:
    if not isinstance(model, keras.Sequential) and type(model).__name__ != "Functional":
        raise ValueError(
            f"Only Sequential and functional models can be cloned; received a subclassed {type(model).__name__}"
        )


def _is_identity_activation(layer) -> bool:
    return layer.activation is None or keras.activations.serialize(layer.activation) == "linear"


def _channel_axis(layer) -> int:
    return -1 if getattr(layer, "data_format", "channels_last") == "channels_last" else 1


def _fold_plan(model, wanted: Callable) -> list:
    """(batch norm, linear layer) pairs: batch norms that can be folded into the linear layer feeding only them."""
    nodes = bounds.graph_nodes(model)
    _, outputs = bounds.model_io(model)
    readers: dict = {}
    for node in nodes:
        for ref in node["inputs"]:
            readers.setdefault(ref[0], []).append(node)
    calls: dict = {}
    for node in nodes:
        calls[node["name"]] = calls.get(node["name"], 0) + 1
    plan = []
    for node in nodes:
        bn = node["layer"]
        if type(bn) is not L.BatchNormalization or len(node["inputs"]) != 1 or calls[node["name"]] != 1:
            continue
        source = node["inputs"][0][0]
        if source == "input" or calls.get(source) != 1 or len(readers.get(source, [])) != 1:
            continue
        if any(ref[0] == source for ref in outputs):
            continue
        linear = model.get_layer(source)
        axis = bn.axis if isinstance(bn.axis, int) else (bn.axis[0] if len(bn.axis) == 1 else None)
        rank = len(node["input_shapes"][0])
        if (type(linear) in _REPLACEMENTS and wanted(linear) and _is_identity_activation(linear)
                and axis is not None and axis % rank == _channel_axis(linear) % rank):
            plan.append((bn, linear))
    return plan


def _folded_weights(linear, bn) -> dict:
    """The linear layer's weights with the batch norm's inference affine map a·y + b merged in, by name."""
    variance = as_float64(bn.moving_variance)
    a = (as_float64(bn.gamma) if bn.scale else 1.0) / np.sqrt(variance + bn.epsilon)
    b = (as_float64(bn.beta) if bn.center else 0.0) - a * as_float64(bn.moving_mean)
    name = "pointwise_kernel" if type(linear) is L.SeparableConv2D else "kernel"
    kernel = as_float64(getattr(linear, name))
    if type(linear) is L.DepthwiseConv2D:
        kernel = kernel * a.reshape(kernel.shape[-2:])
    elif type(linear) is L.Conv2DTranspose:
        kernel = kernel * a[:, None]
    else:
        kernel = kernel * a
    bias = as_float64(linear.bias) if linear.use_bias else 0.0
    weights = {name: kernel, "bias": a * bias + b}
    if name == "pointwise_kernel":
        weights["depthwise_kernel"] = as_float64(linear.depthwise_kernel)
    return weights


def _all_levels(model):
    yield model
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _all_levels(layer)


def lipschitz_clone(
    model: keras.Model,
    method: str = "spectral",
    k_sn: float = 1.0,
    layer_filter: Callable[[keras.layers.Layer], bool] | None = None,
    power_iterations: int = 1,
    *,
    strict: bool = False,
    return_report: bool = False,
    initial_power_iterations: int = 100,
):
    """Returns a copy of `model` whose linear layers are Lipschitz-normalized, with the same weights.

    Sequential, functional and nested models are supported; the original model is untouched. Exact instances of
    the plain classes are replaced (subclasses are kept):

    * Dense → `SpectralNormDense(k_sn)` (its reshaped-kernel norm is its operator norm);
    * Conv2D → `SpectralNormConv2D(k_sn)` (method="spectral", bound k_sn·√n) or `ToeplitzNormConv2D(k_sn)`
      (method="toeplitz");
    * Conv1D, Conv3D, DepthwiseConv2D, SeparableConv2D, Conv2DTranspose → their Toeplitz-normalized counterparts
      (`tf_lipschitz.layers.operator_norm`, same k_sn) with either method: there the reshaped-kernel norm gives no
      useful operator bound.

    Batch normalization is folded into the linear layer that feeds it (and only it): at inference a batch norm is
    the per-channel affine map a·y + b, so the linear layer gets kernel·a and bias a·bias + b, is normalized as a
    whole, and the batch norm is removed from the graph. Folding, rather than a separately bounded batch norm, keeps
    the clone's inference function equal to the original's up to the normalization, and bounds the product
    "linear then batch norm" by one k instead of multiplying two bounds; batch statistics in training are not a
    per-sample function and have no Lipschitz constant. The clone therefore trains without batch norm. A batch
    norm with no foldable predecessor is kept and reported as unconstrained.

    Biases are scaled with the norms, so that the clone computes the original function divided by the product of
    the norms: a normalized layer computes (k_sn/σ)·W, and its bias is multiplied by the product of k_sn/σ over
    itself and every normalized layer before it (a kept linear layer's bias by the product before it). Then
    clone(x) = c · model(x) at inference with c = ∏ k_sn/σᵢ (`ConversionReport.output_scale`), and the clone's
    predictions, hence its clean accuracy, are the original's, exactly where every layer commutes with positive
    scaling (f(c·x) = c·f(x), c > 0): Dense/convolutions (bias scaled), folded batch norms, ReLU (no threshold or
    cap), LeakyReLU, PReLU, linear, GroupSort and `InvertibleDownSampling`, max/average/global pooling, Flatten,
    Reshape, Permute, padding, cropping, up-sampling, Dropout and the noise layers (identity at inference),
    Rescaling without offset, and merges of inputs with equal factors (Add, Concatenate, …). Anything else breaks
    the proportion and is named in `ConversionReport.nonhomogeneous`: tanh, sigmoid, GELU, SiLU, ELU, softplus,
    ReLU6 and softmax (they see their original input divided by c, a different point of their curve); a batch
    norm that is not folded (its shift is not scaled); L2-norm pooling (its ε); a merge of branches with different
    factors, as in a residual block whose branch is normalized and whose shortcut is not; a shared layer called at
    different factors. Past such a layer the biases keep being divided by the running product (at a merge, the
    largest of its inputs'), so every layer still sees its bias in the proportion the original had. With a positive
    factor c the argmax is unchanged: a ReLU/max-pooling CNN keeps its clean accuracy through `lipschitz_clone`,
    and its certified radius (which divides the margin c·m by the bound ≈ 1 of the clone) is the plain network's.

    New layers start from a converged power iteration (`initial_power_iterations` updates), so their reported
    bounds are already ≈ k_sn. Layers left unconstrained (trainable weights or no known bound) raise a
    `UserWarning` naming them, or a `ValueError` with `strict=True`.

    Args:
        model: A built Sequential or functional `keras.Model`.
        method: "spectral" or "toeplitz".
        k_sn: Target norm of every replaced layer (> 0).
        layer_filter: Optional predicate; only layers for which it returns True are replaced.
        power_iterations: Power-iteration steps per training update of the new layers.
        strict: Raise instead of warning when a layer is left unconstrained.
        return_report: Also return the `ConversionReport`.
        initial_power_iterations: Updates of the new layers' power iteration before returning (≥ 0).

    Returns:
        The new `keras.Model`, or `(model, report)` with `return_report=True`.

    Raises:
        ValueError: for an unknown method, a subclassed model, invalid k_sn/power_iterations, or (strict) a layer
            left unconstrained.

    Example:
        >>> base = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu", name="hidden"),
        ...                          keras.layers.Dense(1, name="out")])
        >>> lip, report = lipschitz_clone(base, k_sn=1.0, return_report=True)
        >>> type(lip.layers[0]).__name__, report.replaced
        ('SpectralNormDense', ['hidden', 'out'])
    """
    check_choice("method", method, _METHODS)
    check_float("k_sn", k_sn)
    check_int("power_iterations", power_iterations)
    check_int("initial_power_iterations", initial_power_iterations, minimum=0)
    _check_model(model)
    column = _METHODS.index(method)

    def wanted(layer) -> bool:
        return layer_filter is None or bool(layer_filter(layer))

    pairs = [pair for level in _all_levels(model) for pair in _fold_plan(level, wanted)]
    plan = {id(bn): linear for bn, linear in pairs}
    folded_into = {id(linear): bn for bn, linear in pairs}

    def replacement(layer):
        config = layer.get_config()
        config.pop("quantization_config", None)
        if id(layer) in folded_into:
            config["use_bias"] = True
        new_class = _REPLACEMENTS[type(layer)][column]
        return new_class(power_iterations=power_iterations, k_sn=k_sn, **config)

    serialized = keras.saving.serialize_keras_object(model)
    serialized["config"] = _rewrite_config(
        serialized["config"], model, lambda layer: type(layer) in _REPLACEMENTS and wanted(layer), replacement, plan
    )
    clone = keras.saving.deserialize_keras_object(serialized)
    new_layers = _transfer_weights(model, clone, folded_into)
    _converge(new_layers, initial_power_iterations)
    output_scale, nonhomogeneous = _scale_biases(clone, new_layers)
    report = ConversionReport(tuple(_report_rows(model, clone, plan, wanted)), output_scale, tuple(nonhomogeneous))
    if report.unconstrained:
        message = (f"lipschitz_clone left {len(report.unconstrained)} layer(s) unconstrained: "
                   f"{', '.join(report.unconstrained)}")
        if strict:
            raise ValueError(message + f"\n{report}")
        warnings.warn(message, UserWarning, stacklevel=2)
    return (clone, report) if return_report else clone


def _renamed(value, renames: dict):
    """`value` (a serialized call or output list) with tensors of the renamed layers read from their sources."""
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__" and value["config"]["keras_history"][0] in renames:
            history = [renames[value["config"]["keras_history"][0]], 0, 0]
            return {**value, "config": {**value["config"], "keras_history": history}}
        return {key: _renamed(v, renames) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        if len(value) == 3 and isinstance(value[0], str) and value[0] in renames:  # an output_layers entry
            return [renames[value[0]], 0, 0]
        return [_renamed(v, renames) for v in value]
    return value


def _rewrite_config(config: dict, model, replace: Callable, replacement: Callable, plan: dict) -> dict:
    """A Sequential/functional config with layers replaced and folded batch norms cut out (their readers
    read the linear layer instead); nested models are rewritten recursively."""
    entries, renames = [], {}
    for entry in config["layers"]:
        if entry["class_name"] == "InputLayer":
            entries.append(entry)
            continue
        layer = model.get_layer(entry["config"]["name"])
        if id(layer) in plan:
            renames[layer.name] = plan[id(layer)].name
            continue
        if isinstance(layer, keras.Model):
            entry = {**entry, "config": _rewrite_config(entry["config"], layer, replace, replacement, plan)}
        elif replace(layer):
            new_entry = keras.saving.serialize_keras_object(replacement(layer))
            entry = {**new_entry, **{key: entry[key] for key in ("name", "inbound_nodes") if key in entry}}
        entries.append(entry)
    config = {**config, "layers": entries}
    return _renamed(config, renames) if renames else config


def _transfer_weights(source_model, clone, folded_into: dict) -> list:
    """Copies weights by layer name (nested models recursively); returns the new Lipschitz layers."""
    new_layers = []
    for src in source_model.layers:
        if type(src) is L.BatchNormalization and src.name not in _layer_names(clone):
            continue  # folded
        dst = clone.get_layer(src.name)
        if isinstance(src, keras.Model):
            new_layers += _transfer_weights(src, dst, folded_into)
        elif isinstance(dst, LipschitzLayer) and not isinstance(src, LipschitzLayer):
            if id(src) in folded_into:
                weights = _folded_weights(src, folded_into[id(src)])
            else:
                weights = {variable.name: variable for variable in src.weights}
            for variable in dst.weights:
                if variable.name in weights:
                    variable.assign(keras.ops.cast(weights[variable.name], variable.dtype))
            new_layers.append(dst)
        elif dst.weights:
            dst.set_weights(src.get_weights())
    return new_layers


def _layer_names(model) -> set:
    return {layer.name for layer in model.layers}


def _converge(layers: list, steps: int) -> None:
    if not layers or not steps:
        return

    @tf.function
    def iterate():
        for _ in tf.range(steps):
            for layer in layers:
                layer.advance_power_iteration()

    iterate()


# Parameter-free Keras layers that commute with positive scaling, f(c·x) = c·f(x) for c > 0 (at inference).
_HOMOGENEOUS = (
    L.InputLayer, L.Identity, L.Flatten, L.Reshape, L.Permute, L.RepeatVector,
    L.ZeroPadding1D, L.ZeroPadding2D, L.ZeroPadding3D, L.Cropping1D, L.Cropping2D, L.Cropping3D,
    L.UpSampling1D, L.UpSampling2D, L.UpSampling3D,
    L.Dropout, L.SpatialDropout1D, L.SpatialDropout2D, L.SpatialDropout3D, L.GaussianNoise, L.GaussianDropout,
    L.AlphaDropout, L.ActivityRegularization,
    L.MaxPooling1D, L.MaxPooling2D, L.MaxPooling3D, L.AveragePooling1D, L.AveragePooling2D, L.AveragePooling3D,
    L.GlobalMaxPooling1D, L.GlobalMaxPooling2D, L.GlobalMaxPooling3D,
    L.GlobalAveragePooling1D, L.GlobalAveragePooling2D, L.GlobalAveragePooling3D,
    L.LeakyReLU, L.PReLU,
)
_HOMOGENEOUS_ACTIVATIONS = ("linear", "relu", "leaky_relu")


def _homogeneous_activation(activation) -> bool:
    return activation is None or keras.activations.serialize(activation) in _HOMOGENEOUS_ACTIVATIONS


def _why_not_homogeneous(layer) -> str | None:
    """None if the layer (its bias scaled) commutes with positive scaling, else the reason."""
    if type(layer) in _REPLACEMENTS or isinstance(layer, NormalizedKernelMixin):
        if _homogeneous_activation(layer.activation):
            return None
        return f"activation {keras.activations.serialize(layer.activation)!r}"
    if (type(layer) in _HOMOGENEOUS or bounds.is_merge(layer)  # a merge: when its inputs' factors agree
            or (isinstance(layer, LipschitzLayer) and layer.positively_homogeneous)):
        return None
    if type(layer) is L.ReLU:
        return None if layer.threshold == 0 and layer.max_value is None else "ReLU with a threshold or a cap"
    if type(layer) is L.Activation:
        return None if _homogeneous_activation(layer.activation) else (
            f"activation {keras.activations.serialize(layer.activation)!r}")
    if type(layer) is L.Rescaling:
        return None if np.all(np.asarray(layer.offset) == 0) else "Rescaling with an offset"
    if type(layer) is L.BatchNormalization:
        return "batch norm not folded (its shift is not scaled)"
    return f"{type(layer).__name__} does not commute with positive scaling"


def _scale_biases(clone, new_layers: list) -> tuple[float | None, list]:
    """Scales the clone's biases so that clone(x) = c · original(x); returns (c or None, nonhomogeneous layers).

    Each tensor of the clone carries the factor by which it is the original's tensor; a normalized layer
    multiplies it by its k/σ, and every bias is multiplied by the factor of its layer's output.
    """
    gains = {id(layer): float(layer.k_sn) / max(float(layer.operator_norm()), 1e-12) for layer in new_layers}
    state = {"gains": gains, "biases": {}, "broken": []}
    factors = _propagate(clone, [1.0] * len(bounds.model_io(clone)[0]), state, prefix="")
    exact = not state["broken"] and all(math.isclose(f, factors[0], rel_tol=1e-9) for f in factors)
    if not exact and not state["broken"]:
        state["broken"].append("the outputs have different factors")
    return (factors[0] if exact else None), state["broken"]


def _propagate(model, incoming: list, state: dict, prefix: str) -> list:
    """The factors of `model`'s outputs given its inputs' factors, scaling the biases on the way."""
    inputs, outputs = bounds.model_io(model)
    factors = {ref[:2]: factor for ref, factor in zip(inputs, incoming)}
    pending = [node for node in bounds.graph_nodes(model) if not isinstance(node["layer"], L.InputLayer)]
    while pending:  # calls in dependency order, as in `bounds.model_bound`
        ready = [node for node in pending if all(ref[:2] in factors for ref in node["inputs"])]
        if not ready:
            raise ValueError(f"Layer {pending[0]['name']!r} reads a tensor that is never computed")
        for node in ready:
            factors[(node["name"], node["node"])] = _call_factor(node, [factors[r[:2]] for r in node["inputs"]],
                                                                 state, prefix)
        pending = [node for node in pending if (node["name"], node["node"]) not in factors]
    return [factors[ref[:2]] for ref in outputs]


def _call_factor(node: dict, incoming: list, state: dict, prefix: str) -> float:
    layer, name = node["layer"], prefix + node["name"]
    if isinstance(layer, keras.Model):
        outputs = _propagate(layer, incoming, state, prefix=name + "/")
        if len(set(outputs)) > 1:
            state["broken"].append(f"{name}: outputs with different factors")
        return min(outputs)
    factor = min(incoming)  # the largest divisor: see the docstring of lipschitz_clone
    if len(incoming) > 1 and not all(math.isclose(f, factor, rel_tol=1e-9) for f in incoming):
        state["broken"].append(f"{name}: merges inputs with different factors "
                               f"({', '.join(f'{f:.3g}' for f in incoming)})")
    factor *= state["gains"].get(id(layer), 1.0)
    why = _why_not_homogeneous(layer)
    if why is not None:
        state["broken"].append(f"{name}: {why}")
    bias = getattr(layer, "bias", None) if (type(layer) in _REPLACEMENTS
                                            or isinstance(layer, NormalizedKernelMixin)) else None
    if bias is not None:
        done = state["biases"].get(id(layer))
        if done is None:
            bias.assign(keras.ops.cast(as_float64(bias) * factor, bias.dtype))
            state["biases"][id(layer)] = factor
        elif not math.isclose(done, factor, rel_tol=1e-9):
            state["broken"].append(f"{name}: a shared layer called at different factors")
    return factor


def _report_rows(model, clone, plan: dict, wanted: Callable, prefix: str = ""):
    shapes = {node["name"]: node["input_shapes"][0] for node in reversed(bounds.graph_nodes(model))
              if node["input_shapes"]}
    for src in model.layers:
        name, original = prefix + src.name, type(src).__name__
        if id(src) in plan:
            yield LayerReport(name, original, "folded", None, None, True,
                              f"removed; its inference affine map is folded into {plan[id(src)].name!r}")
            continue
        dst = clone.get_layer(src.name)
        if isinstance(src, keras.Model):
            yield from _report_rows(src, dst, plan, wanted, prefix=name + "/")
        elif isinstance(dst, LipschitzLayer) and not isinstance(src, LipschitzLayer):
            yield LayerReport(name, original, "replaced", type(dst).__name__, dst.lipschitz_bound(), True,
                              "normalized linear operator")
        else:
            yield _kept_row(name, src, shapes.get(src.name), wanted)


def _kept_row(name: str, layer, shape, wanted: Callable) -> LayerReport:
    original = type(layer).__name__
    if isinstance(layer, LipschitzLayer):
        return LayerReport(name, original, "kept", None, layer.lipschitz_bound(), True, "already a Lipschitz layer")
    if bounds.is_merge(layer):
        return LayerReport(name, original, "kept", None, None, True, "merge: combines its inputs' bounds")
    try:
        bound = bounds.layer_bound(layer, shape)
    except ValueError as err:
        return LayerReport(name, original, "kept", None, None, False, f"no known bound ({err})")
    if not layer.weights:
        return LayerReport(name, original, "kept", None, bound, True, "parameter-free, known constant")
    if type(layer) in _REPLACEMENTS and not wanted(layer):
        reason = "excluded by layer_filter; its bound changes in training"
    elif type(layer) is L.BatchNormalization:
        reason = "batch norm not fed by a foldable linear layer; its bound changes in training"
    else:
        reason = "has weights and no normalized replacement; its bound changes in training"
    return LayerReport(name, original, "kept", None, bound, False, reason)


def export_plain(model: keras.Model) -> keras.Model:
    """Bakes every Lipschitz layer into its plain Keras equivalent, for deployment without power iteration.

    Each Lipschitz layer provides its own export (`LipschitzLayer.export_plain`). The result computes the same
    function as `model` in inference mode (the current power-iteration state is used, not advanced) and has no
    tf_lipschitz layers, so it loads anywhere Keras does.

    Args:
        model: A built Sequential or functional model containing Lipschitz layers.

    Returns:
        A new `keras.Model` of plain layers.

    Raises:
        ValueError: for a subclassed model.

    Example:
        >>> lip = keras.Sequential([keras.Input((4,)), SpectralNormDense(2)])
        >>> type(export_plain(lip).layers[0]).__name__
        'Dense'
    """
    _check_model(model)

    def clone_function(layer):
        if isinstance(layer, LipschitzLayer):
            return layer.export_plain()
        return layer.__class__.from_config(layer.get_config())

    clone = keras.models.clone_model(model, clone_function=clone_function, recursive=True)
    _copy_plain_weights(model, clone)
    return clone


def _copy_plain_weights(source_model, clone) -> None:
    for src in source_model.layers:
        if not src.weights:  # e.g. an unnamed Input, which clone_model renames
            continue
        dst = clone.get_layer(src.name)
        if isinstance(src, keras.Model):
            _copy_plain_weights(src, dst)
        elif not isinstance(src, LipschitzLayer) and dst.weights:
            dst.set_weights(src.get_weights())
