"""The promise of a normalized layer, derived from its plain export: `export_plain` and `lipschitz_bound`.

A normalized layer computes a plain Keras layer's function with its kernel scaled (k_sn · W / σ). Exporting that plain
layer with the scaled kernel baked in gives both halves of the `LipschitzLayer` contract at once: the export
itself, and the layer's bound as the exact or certified bound of the export (`tf_lipschitz.analysis.bounds`), which holds
whatever state the power iteration is in.
"""

from __future__ import annotations

import keras

from tf_lipschitz.ops.layer_norms import plain_layer_bound

__all__ = ["PlainExportMixin"]

# Keys of a normalized layer's config that the plain layer does not take.
_NORMALIZATION_KEYS = ("k_sn", "power_iterations")


class PlainExportMixin:
    """`export_plain` and `lipschitz_bound` for layers whose normalized weights replace a plain layer's weights.

    Subclasses set `plain_class` (the Keras class they normalize) and may extend `plain_weights()`.

    Example:
        >>> from tf_lipschitz.layers import SpectralNormDense
        >>> layer = SpectralNormDense(3); _ = layer(np.ones((1, 2), "float32"))
        >>> type(layer.export_plain()).__name__
        'Dense'
    """

    plain_class: type = keras.layers.Layer

    def plain_weights(self) -> dict:
        """The weights of the plain equivalent by variable name: the normalized kernel (inference state) and bias.

        Returns:
            A dict from weight name to array.
        """
        weights = {"kernel": self.normalized_kernel(training=False)}
        if self.bias is not None:
            weights["bias"] = self.bias
        return weights

    def built_input_shape(self) -> tuple:
        """The input shape the layer was built on.

        Returns:
            A tuple with the batch axis.

        Raises:
            ValueError: if the layer is not built.
        """
        if not self.built:
            raise ValueError(f"Layer {self.name!r} is not built; call it on an input first")
        return tuple(self.get_build_config()["input_shape"])

    def export_plain(self) -> keras.layers.Layer:
        """A built `plain_class` layer with the normalized weights of the current (inference) state baked in.

        Returns:
            A plain Keras layer with the same name and configuration.

        Raises:
            ValueError: if the layer is not built.
        """
        shape = self.built_input_shape()
        config = {key: value for key, value in self.get_config().items() if key not in _NORMALIZATION_KEYS}
        plain = self.plain_class.from_config(config)
        plain.build(shape)
        weights = self.plain_weights()
        for variable in plain.weights:
            variable.assign(keras.ops.cast(weights[variable.name], variable.dtype))
        return plain

    def lipschitz_bound(self) -> float:
        """The exact or certified bound of the plain export (inference state, activation included).

        Returns:
            A float, a true upper bound however far the power iteration has converged.
        """
        return plain_layer_bound(self.export_plain(), self.built_input_shape())
