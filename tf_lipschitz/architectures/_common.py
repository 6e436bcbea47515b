"""Choosing the linear layers of an architecture: plain Keras, spectral-normalized or Toeplitz-normalized.

Every builder in this package takes `conv_layer=` / `dense_layer=` and turns it into a factory with
`layer_factory`, so that one critic definition serves SN, Toeplitz, GP and ALP experiments alike.
"""

from __future__ import annotations

from typing import Callable, Union

import keras

from tf_lipschitz.layers import NormalizedKernelMixin, SpectralNormConv2D, SpectralNormDense, ToeplitzNormConv2D

__all__ = ["LayerSpec", "layer_factory"]

LayerSpec = Union[str, type, Callable[..., keras.layers.Layer]]

_ALIASES = {
    "conv": {"plain": keras.layers.Conv2D, "spectral_norm": SpectralNormConv2D, "toeplitz_norm": ToeplitzNormConv2D},
    "dense": {"plain": keras.layers.Dense, "spectral_norm": SpectralNormDense},
}


def layer_factory(
    layer: LayerSpec,
    kind: str = "conv",
    *,
    k_sn: float = 1.0,
    power_iterations: int = 1,
) -> Callable[..., keras.layers.Layer]:
    """Turns a layer specification into a factory `make(units_or_filters, *args, **kwargs)`.

    A name or one of our normalized Lipschitz classes receives the normalization options (`k_sn` and
    `power_iterations`); a plain Keras class or any other callable is called with the architecture's arguments
    only.

    Args:
        layer: "plain", "spectral_norm", "toeplitz_norm" (conv only), a layer class, or a callable with the
            signature of `keras.layers.Conv2D` / `keras.layers.Dense`.
        kind: "conv" or "dense": which aliases apply.
        k_sn: Target norm of each normalized layer (`SpectralNormConv2D`, `SpectralNormDense`,
            `ToeplitzNormConv2D`).
        power_iterations: Power-iteration steps per update of the normalized layers.

    Returns:
        A callable building one layer per call.

    Raises:
        ValueError: for an unknown name or kind, or a `layer` that is not callable.

    Example:
        >>> make = layer_factory("spectral_norm", "dense", k_sn=2.0)
        >>> make(4).k_sn
        2.0
    """
    if kind not in _ALIASES:
        raise ValueError(f"`kind` must be one of {sorted(_ALIASES)}. Received: kind={kind!r}")
    if isinstance(layer, str):
        if layer not in _ALIASES[kind]:
            raise ValueError(
                f"Unknown {kind} layer {layer!r}: expected one of {sorted(_ALIASES[kind])}, a layer class or a "
                f"factory. Received: {kind}_layer={layer!r}"
            )
        layer = _ALIASES[kind][layer]
    if not callable(layer):
        raise ValueError(f"`{kind}_layer` must be a name, a layer class or a callable. Received: {layer!r}")
    options = {}
    if isinstance(layer, type) and issubclass(layer, NormalizedKernelMixin):
        options = {"k_sn": k_sn, "power_iterations": power_iterations}

    def make(*args, **kwargs) -> keras.layers.Layer:
        return layer(*args, **options, **kwargs)

    return make

