"""An exponential moving average of a network's trainable weights (Progressive GAN's generator average).

Reference:
    Karras et al., "Progressive Growing of GANs", ICLR 2018 (the generator's moving average, β = 0.999).
"""

from __future__ import annotations

import contextlib
import warnings

import keras
import numpy as np
import tensorflow as tf

from tf_lipschitz.foundations.validation import check_float

__all__ = ["WeightAverage"]


class WeightAverage:
    """ema ← β·ema + (1 − β)·w for every trainable weight w of `network`, in variables owned by `owner`.

    The averages start from the network's weights at construction. They are created with `owner.add_weight`
    (named `generator_ema_{i}`, aggregated from the first replica: replicas hold equal weights after each
    update), so a Keras model saves them with its own state.

    Args:
        owner: The Keras model that owns the average variables.
        network: The network whose trainable weights are averaged.
        beta: β in [0, 1).

    Raises:
        ValueError: for β outside [0, 1).

    Example:
        >>> net = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")])
        >>> average = WeightAverage(keras.Model(), net, beta=0.5)
        >>> net.set_weights([np.array([[2.0]], "float32")]); average.update()
        >>> float(average.variables[0][0, 0])  # 0.5·0 + 0.5·2
        1.0
    """

    def __init__(self, owner: keras.Model, network: keras.Model, beta: float):
        beta = check_float("generator_ema", beta, 0.0, inclusive=True, maximum=1.0)
        if beta == 1.0:
            raise ValueError(f"`generator_ema` must be None or in [0, 1). Received: generator_ema={beta!r}")
        self.beta = beta
        self.network = network
        self.variables = []
        for i, variable in enumerate(network.trainable_variables):
            average = owner.add_weight(name=f"generator_ema_{i}", shape=tuple(variable.shape), dtype=variable.dtype,
                                       initializer="zeros", trainable=False, aggregation="only_first_replica")
            average.assign(variable)
            self.variables.append(average)

    def update(self) -> None:
        """One step of the average towards the network's current weights."""
        for average, variable in zip(self.variables, self.network.trainable_variables):
            average.assign(self.beta * average + (1.0 - self.beta) * tf.cast(variable, average.dtype))

    @contextlib.contextmanager
    def swapped_in(self):
        """Context in which the network computes with the averaged weights; the live ones are restored on exit.

        Yields:
            The network.
        """
        variables = self.network.trainable_variables
        live = [keras.ops.convert_to_numpy(v) for v in variables]
        for variable, average in zip(variables, self.variables):
            variable.assign(average)
        try:
            yield self.network
        finally:
            for variable, value in zip(variables, live):
                variable.assign(value)

    def save(self, store) -> None:
        """Writes the averages into a Keras variable store (`save_own_variables`)."""
        for average in self.variables:
            store[average.name] = keras.ops.convert_to_numpy(average)

    def load(self, store, owner_name: str) -> None:
        """Reads the averages from a Keras variable store, warning about any that is missing."""
        for average in self.variables:
            if average.name in store:
                average.assign(np.asarray(store[average.name]))
            else:
                warnings.warn(f"{owner_name}: no `{average.name}` in the saved state; the generator average "
                              "keeps its initial value.")
