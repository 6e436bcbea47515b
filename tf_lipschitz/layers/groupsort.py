"""GroupSort activation: sort the channels within groups of a fixed size (MaxMin is group size 2).

Sorting is a permutation of each group's entries, chosen piecewise, so GroupSort is 1-Lipschitz in L2 and its
Jacobian is a permutation matrix wherever it is differentiable: it preserves the norm of the gradient that flows
through it. With orthonormal weight matrices this gives the gradient-norm-preserving networks of Anil et al.

Reference:
    Anil, Lucas and Grosse, "Sorting out Lipschitz function approximation", ICML 2019.
"""

from __future__ import annotations

import keras
from keras import ops

from tf_lipschitz.foundations.validation import check_int
from tf_lipschitz.layers.base import LipschitzLayer

__all__ = ["GroupSort", "group_sort"]


def _check_groups(channels, group_size: int) -> int:
    if channels is None or channels % group_size:
        raise ValueError(
            f"The number of channels must be a multiple of `group_size`. Received: channels={channels}, "
            f"group_size={group_size}"
        )
    return int(channels)


def group_sort(x, group_size: int = 2):
    """Sorts the last axis of `x` in ascending order within consecutive groups of `group_size` entries.

    Args:
        x: A tensor whose last axis (the channels) is a multiple of `group_size`.
        group_size: Entries per group (≥ 1); 2 is MaxMin, the number of channels is FullSort.

    Returns:
        A tensor of the shape of `x`.

    Raises:
        ValueError: if the number of channels is not a multiple of `group_size`.

    Example:
        >>> np.asarray(group_sort(np.array([[3.0, 1.0, -2.0, 5.0]], "float32"), 2))
        array([[ 1.,  3., -2.,  5.]], dtype=float32)
    """
    group_size = check_int("group_size", group_size)
    x = ops.convert_to_tensor(x)
    channels = _check_groups(x.shape[-1], group_size)
    if group_size == 1:
        return x
    if group_size == 2:
        return _max_min(x, channels)
    return _sorted_groups(x, channels, group_size)


def _sorted_groups(x, channels: int, group_size: int):
    groups = ops.reshape(x, (-1, channels // group_size, group_size))
    return ops.reshape(ops.sort(groups, axis=-1), ops.shape(x))


def _max_min(x, channels: int):
    # Group size 2 by elementwise min/max: the same values as sorting each pair (exactly, ties included), about
    # twice as fast as `ops.sort` forward and backward on CPU (benchmarks/bench_classifier_layers.py --groupsort).
    pairs = ops.reshape(x, (-1, channels // 2, 2))
    low, high = pairs[..., 0], pairs[..., 1]
    return ops.reshape(ops.stack([ops.minimum(low, high), ops.maximum(low, high)], axis=-1), ops.shape(x))


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class GroupSort(LipschitzLayer, keras.layers.Layer):
    """GroupSort activation over the last (channel) axis; `group_size=2` is MaxMin.

    A 1-Lipschitz, gradient-norm-preserving activation: within every group of `group_size` consecutive
    channels the outputs are the inputs sorted in ascending order.

    Args:
        group_size: Channels per group (≥ 1); the channel count must be a multiple of it.
        **kwargs: Any `keras.layers.Layer` argument (name, dtype, …).

    Raises:
        ValueError: if `group_size` is not an integer ≥ 1, or (when called) the channels are not a multiple of it.

    Example:
        >>> layer = GroupSort(2)
        >>> np.asarray(layer(np.array([[0.5, -1.0, 2.0, 3.0]], "float32")))
        array([[-1. ,  0.5,  2. ,  3. ]], dtype=float32)

    Reference:
        Anil, Lucas and Grosse, "Sorting out Lipschitz function approximation", ICML 2019.
    """

    positively_homogeneous = True  # sorting (a permutation) commutes with positive scaling

    def __init__(self, group_size: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.group_size = check_int("group_size", group_size)

    def build(self, input_shape):
        _check_groups(input_shape[-1], self.group_size)
        super().build(input_shape)

    def call(self, inputs):
        return group_sort(inputs, self.group_size)

    def compute_output_shape(self, input_shape):
        return input_shape

    def lipschitz_bound(self) -> float:
        """1.0: on each linear piece the layer is a permutation of its input."""
        return 1.0

    def export_plain(self) -> keras.layers.Layer:
        """A fresh GroupSort with the same group size (the layer has no weights to bake in).

        Keras has no sorting layer, so an exported GroupSort network still needs tf_lipschitz to load.

        Returns:
            A new, unbuilt `GroupSort`.
        """
        return GroupSort(self.group_size, name=self.name, dtype=self.dtype_policy)

    def get_config(self) -> dict:
        return {**super().get_config(), "group_size": self.group_size}
