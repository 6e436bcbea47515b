"""What every normalized Lipschitz layer shares: the power-iteration state and when it advances.

A normalized layer keeps a unit vector `v` (a non-trainable float32 weight) and divides its kernel by
σ = ‖A v‖, where A is the layer's linear operator (the reshaped kernel for spectral normalization,
the convolution itself for Toeplitz normalization). Gradients flow through σ with `v` held constant.

When does `v` advance? By default in every call with `training=True`, like Miyato et al.'s layer.
A WGAN-ALP critic, however, is called several times in one update (real, fake and perturbed
batches); it should advance once per update. For that:

    advance_power_iteration(critic)          # once per update
    with power_iteration_frozen(critic):     # calls of critic's layers inside use the advanced state
        loss = ...critic(x_real, training=True)...critic(x_fake, training=True)...

Freezing is scoped to the layers of the models named: it sets a flag on each of their normalized
layers for the duration of the `with` block, and the layers read it when they are called (so when a
`tf.function` is traced). Other models, traced meanwhile in this or another thread, are unaffected.
`tf_lipschitz.models.LipschitzGAN` and `LipschitzRegularizedModel` do this for you.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import warnings
from typing import Iterator

import keras
import numpy as np
from keras import ops

from tf_lipschitz import ops as lip_ops
from tf_lipschitz.ops.layer_norms import activation_bound

__all__ = [
    "LipschitzLayer",
    "NormalizedKernelMixin",
    "power_iteration_frozen",
    "advance_power_iteration",
    "lipschitz_layers",
    "add_bias_and_activate",
]

# Guards the per-layer freeze counters: MirroredStrategy traces each replica in its own thread, and
# replicas enter and leave `power_iteration_frozen(model)` on the same layer objects concurrently.
_counter_lock = threading.Lock()
# The deprecated no-argument form: scoped to the current thread/context (never process-wide).
_context_frozen = contextvars.ContextVar("tf_lipschitz_power_iteration_frozen", default=0)


@contextlib.contextmanager
def power_iteration_frozen(*models) -> Iterator[None]:
    """Context manager: calls of the normalized layers of `models` use their state without advancing it.

    Sets a freeze flag (a counter, so the block nests) on every normalized layer inside the given
    models for the duration of the block. Layers read it when they are called, so it acts when a
    function is traced (as `tf.function` reads Python state): put it inside the traced `train_step`,
    around the calls that should share one power-iteration state. Under `MirroredStrategy`, enter it
    inside the replica function (as `train_step` runs); only the layers of `models` are affected.

    Calling it without a model is deprecated: it then freezes every normalized layer called in the
    current thread (not in replica threads started inside the block). Pass the model(s) instead.

    Args:
        *models: The Keras models or layers whose normalized layers are frozen.

    Yields:
        Nothing.

    Example:
        >>> from tf_lipschitz.layers import SpectralNormDense
        >>> layer = SpectralNormDense(2)
        >>> x = np.ones((1, 3), "float32")
        >>> _ = layer(x, training=True)
        >>> before = layer.power_iteration_vector.numpy()
        >>> with power_iteration_frozen(layer):
        ...     _ = layer(x, training=True)  # v is not advanced
        >>> bool(np.array_equal(before, layer.power_iteration_vector.numpy()))
        True
    """
    if not models:
        warnings.warn(
            "power_iteration_frozen() without a model is deprecated and only acts in the current thread; "
            "pass the model(s) to freeze: power_iteration_frozen(critic).",
            DeprecationWarning,
            stacklevel=3,
        )
        token = _context_frozen.set(_context_frozen.get() + 1)
        try:
            yield
        finally:
            _context_frozen.reset(token)
        return
    layers = [layer for model in models for layer in lipschitz_layers(model)]
    with _counter_lock:
        for layer in layers:
            layer._power_iteration_freezes += 1
    try:
        yield
    finally:
        with _counter_lock:
            for layer in layers:
                layer._power_iteration_freezes -= 1


class LipschitzLayer:
    """Mixin of layers that state their own promise: a Lipschitz bound and a plain-Keras equivalent.

    `tf_lipschitz.analysis.lipschitz_upper_bound` and `tf_lipschitz.analysis.export_plain` ask these two methods
    and never switch on layer types, so a new Lipschitz layer works with both by implementing them.

    A parameter-free layer that commutes with positive scaling (f(c·x) = c·f(x) for c > 0: GroupSort, a
    permutation of the entries) sets the class attribute `positively_homogeneous = True`; `lipschitz_clone` reads it
    to keep a clone proportional to the original network.
    """

    positively_homogeneous: bool = False

    def lipschitz_bound(self) -> float:
        """A true upper bound of the layer's L2 Lipschitz constant in inference mode, activation included.

        Returns:
            A float.
        """
        raise NotImplementedError

    def export_plain(self) -> keras.layers.Layer:
        """A plain Keras layer computing the same function in inference mode, normalized weights baked in.

        Parameter-free layers may return a fresh plain equivalent.

        Returns:
            A built `keras.layers.Layer` with no tf_lipschitz dependency.
        """
        raise NotImplementedError


def lipschitz_layers(model) -> list:
    """All normalized Lipschitz layers inside a layer or model, nested models included.

    Args:
        model: A Keras layer or model.

    Returns:
        A list of the `NormalizedKernelMixin` layers, in traversal order.

    Example:
        >>> lipschitz_layers(keras.Sequential([keras.layers.Dense(2)]))
        []
    """
    found = []
    stack = [model]
    seen = set()
    while stack:
        layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        if isinstance(layer, NormalizedKernelMixin):
            found.append(layer)
        stack.extend(reversed(getattr(layer, "_layers", None) or []))
    return found


def advance_power_iteration(model) -> None:
    """Advances the power iteration of every normalized layer inside `model` once.

    Call it once per training update (before the forward passes) and run those passes inside
    `power_iteration_frozen(model)`. It works eagerly and inside `tf.function`/XLA/replica functions.
    Layers not built yet are skipped.

    Args:
        model: A Keras layer or model.

    Example:
        >>> advance_power_iteration(keras.Sequential([keras.layers.Dense(2)]))
    """
    for layer in lipschitz_layers(model):
        if layer.built:
            layer.advance_power_iteration()


def power_iteration_gap(layer: "NormalizedKernelMixin", steps: int = 20) -> float:
    """How far a layer's stored power-iteration estimate σ is from converged: (σ after `steps` more) / σ − 1.

    The state is not changed. A layer whose σ is still an underestimate normalizes its kernel to more than
    its target norm (`k_sn`, `k`), which a true bound then reports.

    Args:
        layer: A built normalized layer.
        steps: Further power-iteration steps to compare with.

    Returns:
        The relative gap, ≥ 0 up to round-off (0 for a converged state).

    Example:
        >>> from tf_lipschitz.layers import SpectralNormDense
        >>> layer = SpectralNormDense(4); layer.build((None, 8))
        >>> converge_power_iteration(layer) > 0 and power_iteration_gap(layer) < 1e-5
        True
    """
    kernel = ops.stop_gradient(layer._kernel_float32())
    operator, adjoint = layer._operators(kernel)
    now = float(lip_ops.power_iteration(operator, adjoint, layer.power_iteration_vector, 0)[0])
    later = float(lip_ops.power_iteration(operator, adjoint, layer.power_iteration_vector, steps)[0])
    return later / max(now, 1e-30) - 1.0


def converge_power_iteration(model, *, tol: float = 1e-4, max_steps: int = 2000) -> int:
    """Runs the power iteration of every normalized layer inside `model` until its σ estimate settles.

    Training advances it a step per update; a freshly built layer has had none, so its kernel is not yet
    normalized to its target norm. Call this before measuring or bounding an untrained model.

    Args:
        model: A Keras layer or model (layers not built yet are skipped).
        tol: Stop when σ changes by less than this, relatively, over 10 steps.
        max_steps: At most this many steps per layer.

    Returns:
        The most steps a layer needed.

    Raises:
        RuntimeError: naming a layer that did not converge within `max_steps` (e.g. two equal top singular
            values).

    Example:
        >>> from tf_lipschitz.layers import SpectralNormDense
        >>> model = keras.Sequential([keras.Input((8,)), SpectralNormDense(4)])
        >>> converge_power_iteration(model) > 0
        True
    """
    most = 0
    for layer in lipschitz_layers(model):
        if not layer.built:
            continue
        kernel = ops.stop_gradient(layer._kernel_float32())
        operator, adjoint = layer._operators(kernel)
        v = layer.power_iteration_vector
        sigma = float(lip_ops.power_iteration(operator, adjoint, v, 0)[0])
        steps = 0
        while True:
            new, _, v = lip_ops.power_iteration(operator, adjoint, v, 10)
            steps += 10
            new = float(new)
            if abs(new - sigma) <= tol * max(new, 1e-30):
                break
            sigma = new
            if steps >= max_steps:
                raise RuntimeError(f"The power iteration of layer '{layer.name}' did not converge in {max_steps} "
                                   f"steps (σ estimate {new:.6g}).")
        layer.power_iteration_vector.assign(v)
        most = max(most, steps)
    return most


class NormalizedKernelMixin(LipschitzLayer):
    """Divides a Dense/Conv kernel by an operator norm estimated with a persistent power iteration.

    Every normalized layer names its target constant `k_sn`, after the k_SN of the papers (Miyato et al.'s
    spectral normalization scales the kernel to W·k_SN/σ(W); "How does Lipschitz regularization influence GAN
    training?" studies k_SN): the kernel used is k_sn · W / σ, with σ the norm of the layer's own operator (the
    reshaped kernel for the SN layers, the convolution itself for the Toeplitz layers), so the linear map has norm
    k_sn once the power iteration has converged.

    Subclasses define `_operators(kernel)` returning the (A, Aᵀ) callables and `_vector_shape(input_shape)`,
    and call `_init_normalization(k_sn, power_iterations)` in `__init__`. The host class must keep its kernel in
    `self._kernel`.
    """

    # How many `power_iteration_frozen(...)` blocks currently hold this layer (read at trace time).
    _power_iteration_freezes = 0

    @property
    def power_iteration_is_frozen(self) -> bool:
        """Whether calls with `training=True` currently use the stored state without advancing it."""
        return self._power_iteration_freezes > 0 or _context_frozen.get() > 0

    def _init_normalization(self, k_sn: float, power_iterations: int) -> None:
        if not isinstance(k_sn, (int, float, np.floating, np.integer)) or not k_sn > 0:
            raise ValueError(f"`k_sn` must be > 0. Received: k_sn={k_sn}")
        self.k_sn = float(k_sn)
        self.power_iterations = lip_ops.check_power_iterations(power_iterations)

    def _normalization_config(self) -> dict:
        return {"k_sn": self.k_sn, "power_iterations": self.power_iterations}

    def add_weight(self, *args, **kwargs):
        # The kernel is read in float32 for the power iteration even under mixed precision; the
        # normalized kernel is cast to the compute dtype afterwards.
        if kwargs.get("name") == "kernel":
            kwargs["autocast"] = False
        return super().add_weight(*args, **kwargs)

    def _build_power_iteration(self, input_shape) -> None:
        self.power_iteration_vector = self.add_weight(
            name="power_iteration_vector",
            shape=self._vector_shape(input_shape),
            initializer=keras.initializers.RandomNormal(stddev=1.0),
            trainable=False,
            dtype="float32",
            autocast=False,
            # A replica may update it: every replica computes the same vector from the same kernel.
            aggregation="only_first_replica",
        )

    def _kernel_float32(self):
        return ops.cast(self._kernel, "float32")

    def advance_power_iteration(self):
        """Runs `power_iterations` steps from the stored state, stores and returns the new unit vector."""
        kernel = ops.stop_gradient(self._kernel_float32())
        operator, adjoint = self._operators(kernel)
        _, _, v = lip_ops.power_iteration(operator, adjoint, self.power_iteration_vector, self.power_iterations)
        self.power_iteration_vector.assign(v)
        return v

    def operator_norm(self, training: bool = False):
        """Current estimate σ of the un-normalized kernel's operator norm (advances the state when training).

        Args:
            training: Whether to advance the power iteration first (skipped while frozen, see
                `power_iteration_frozen`).

        Returns:
            A float32 scalar tensor; gradients flow into the kernel with the state held constant.
        """
        kernel = self._kernel_float32()
        if training and not self.power_iteration_is_frozen:
            v = self.advance_power_iteration()
        else:
            v = lip_ops.l2_normalize(ops.convert_to_tensor(self.power_iteration_vector))
        operator, _ = self._operators(kernel)
        av = operator(ops.stop_gradient(v))
        return ops.sqrt(ops.sum(ops.square(av)))

    def normalized_kernel(self, training: bool = False):
        """The kernel actually used: scale · W / σ(W), in the layer's compute dtype.

        Args:
            training: Whether to advance the power iteration first.

        Returns:
            A tensor shaped like the kernel.
        """
        sigma = ops.maximum(self.operator_norm(training), 1e-12)
        kernel = self._kernel_float32() * (self.k_sn / sigma)
        return ops.cast(kernel, self.compute_dtype)

    def _add_bias_and_activate(self, outputs):
        return add_bias_and_activate(outputs, self.bias, self.activation, getattr(self, "data_format", None))

    def _activation_bound(self) -> float:
        return activation_bound(self.activation)

    # Keras' Dense/Conv serialize only kernel and bias; the power-iteration state must persist too.
    def save_own_variables(self, store):
        keras.layers.Layer.save_own_variables(self, store)

    def load_own_variables(self, store):
        keras.layers.Layer.load_own_variables(self, store)


def add_bias_and_activate(outputs, bias, activation, data_format: str | None = None):
    """outputs + bias (on the channel axis of `data_format`), then the activation; either may be None.

    Args:
        outputs: The layer's linear outputs.
        bias: A bias vector, or None.
        activation: A callable, or None.
        data_format: "channels_first" puts the bias on axis 1; anything else on the last axis.

    Returns:
        A tensor shaped like `outputs`.

    Example:
        >>> y = add_bias_and_activate(ops.zeros((1, 2, 3)), ops.ones((2,)), None, "channels_first")
        >>> ops.convert_to_numpy(y)[0, :, 0].tolist()
        [1.0, 1.0]
    """
    if bias is not None:
        if data_format == "channels_first":
            bias = ops.reshape(bias, (1, -1) + (1,) * (len(outputs.shape) - 2))
        outputs = ops.add(outputs, bias)
    return outputs if activation is None else activation(outputs)
