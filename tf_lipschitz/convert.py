"""Swap Lipschitz layers into an existing model, and bake them back into plain layers for deployment."""

from __future__ import annotations

from typing import Callable

import keras

from tf_lipschitz.layers import NormalizedKernelMixin, SpectralNormConv2D, SpectralNormDense, ToeplitzNormConv2D

__all__ = ["lipschitz_clone", "export_plain"]

_METHODS = ("spectral", "toeplitz")


def _clone(model, clone_function: Callable):
    if not isinstance(model, keras.Sequential) and type(model).__name__ != "Functional":
        raise ValueError(
            f"Only Sequential and functional models can be cloned; received a subclassed {type(model).__name__}"
        )
    return keras.models.clone_model(model, clone_function=clone_function, recursive=True)


def lipschitz_clone(
    model: keras.Model,
    method: str = "spectral",
    k_sn: float = 1.0,
    layer_filter: Callable[[keras.layers.Layer], bool] | None = None,
    power_iterations: int = 1,
) -> keras.Model:
    """Returns a copy of `model` whose Dense and Conv2D layers are Lipschitz-normalized, with the same weights.

    Sequential, functional and nested models are supported; the original model is untouched.
    `method="spectral"` uses `SpectralNormDense`/`SpectralNormConv2D` with `k_sn`; `method="toeplitz"` uses
    `SpectralNormDense` for Dense layers and `ToeplitzNormConv2D` (with `k=k_sn`) for convolutions, which need
    static input shapes. Only exact `Dense`/`Conv2D` instances are replaced (subclasses are kept).

    Args:
        model: A built Sequential or functional `keras.Model`.
        method: "spectral" or "toeplitz".
        k_sn: Target norm of every replaced layer (> 0).
        layer_filter: Optional predicate; only layers for which it returns True are replaced.
        power_iterations: Power-iteration steps per training update of the new layers.

    Returns:
        A new `keras.Model`.

    Raises:
        ValueError: for an unknown method, a subclassed model, or invalid k_sn/power_iterations.

    Example:
        >>> base = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
        ...                          keras.layers.Dense(1)])
        >>> lip = lipschitz_clone(base, k_sn=1.0)
        >>> type(lip.layers[0]).__name__
        'SpectralNormDense'
    """
    if method not in _METHODS:
        raise ValueError(f"`method` must be one of {_METHODS}. Received: method={method!r}")
    conv_class = SpectralNormConv2D if method == "spectral" else ToeplitzNormConv2D
    conv_scale = {"k_sn": k_sn} if method == "spectral" else {"k": k_sn}

    def clone_function(layer):
        wanted = layer_filter is None or layer_filter(layer)
        config = layer.get_config()
        config.pop("quantization_config", None)
        if wanted and type(layer) is keras.layers.Dense:
            new = SpectralNormDense(k_sn=k_sn, power_iterations=power_iterations, **config)
        elif wanted and type(layer) is keras.layers.Conv2D:
            new = conv_class(power_iterations=power_iterations, **conv_scale, **config)
        else:
            return layer.__class__.from_config(config)
        return new

    clone = _clone(model, clone_function)
    _transfer_weights(model, clone)
    return clone


def _transfer_weights(source_model, clone) -> None:
    """Copies weights layer by layer (nested models recursively); normalized layers get the raw kernel."""
    for src, dst in zip(source_model.layers, clone.layers):
        if isinstance(src, keras.Model) and isinstance(dst, keras.Model):
            _transfer_weights(src, dst)
        elif isinstance(dst, NormalizedKernelMixin) and not isinstance(src, NormalizedKernelMixin):
            dst._kernel.assign(src.kernel)
            if src.bias is not None:
                dst.bias.assign(src.bias)
        elif isinstance(src, NormalizedKernelMixin) and not isinstance(dst, NormalizedKernelMixin):
            dst.kernel.assign(src.normalized_kernel(training=False))
            if src.bias is not None:
                dst.bias.assign(src.bias)
        else:
            dst.set_weights(src.get_weights())


def export_plain(model: keras.Model) -> keras.Model:
    """Bakes every normalized kernel into a plain `Dense`/`Conv2D`, for deployment without power iteration.

    The result computes the same function as `model` in inference mode (the current power-iteration state
    is used, not advanced) and has no tf_lipschitz layers, so it loads anywhere Keras does.

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

    def clone_function(layer):
        config = layer.get_config()
        if isinstance(layer, NormalizedKernelMixin):
            for key in ("k_sn", "k", "power_iterations"):
                config.pop(key, None)
            plain = keras.layers.Dense if isinstance(layer, keras.layers.Dense) else keras.layers.Conv2D
            return plain.from_config(config)
        return layer.__class__.from_config(config)

    clone = _clone(model, clone_function)
    _transfer_weights(model, clone)
    return clone
