"""Optimizer wrappers: `SpectralClampOptimizer` caps the top singular value of each kernel step at r·σ1.

`SpectralClampOptimizer(inner, ratio=r, mode=...)` wraps any Keras optimizer, as Keras' `LossScaleOptimizer`
does: `apply`/`apply_gradients` clamp, then the inner optimizer updates. It works in `fit`, custom loops,
`tf.function` and XLA, and for both optimizers of a `LipschitzGAN` (pass it to `compile`). The math is
`tf_lipschitz.ops.spectral_clamp.spectral_clamp` (one matrix).

Reference:
    K. Sargent, "Lipschitz Constraints in Wasserstein GANs" (poster, "Spectral Gradient Clipping").
    Brock, Donahue and Simonyan, "Large Scale GAN Training for High Fidelity Natural Image
    Synthesis", arXiv:1809.11096, 2018 (spectral clamping of weights).
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import ops

from tf_lipschitz import ops as lip_ops
from tf_lipschitz.foundations.validation import check_choice
from tf_lipschitz.ops.spectral_clamp import check_ratio, clampable, spectral_clamp

__all__ = ["SpectralClampOptimizer", "CLAMP_MODES"]

CLAMP_MODES = ("gradient", "update")

# σ0/σ1 is logged with σ1 floored at this fraction of σ0, so a rank-1 gradient logs 1e6, not inf.
_RATIO_CAP = 1e6


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class SpectralClampOptimizer(keras.optimizers.Optimizer):
    """Wraps an optimizer so that each kernel's step has top singular value at most `ratio`·σ1.

    For every trainable variable of rank ≥ 2 whose (kh·kw·c_in, c_out) matrix has two singular values, the
    step S is replaced by S − max(0, σ0 − r·σ1)·u0·v0ᵀ (`spectral_clamp`): its top singular value drops to
    r·σ1 and every other singular direction is untouched. Biases, kernels with one singular value and
    sparse gradients pass through. What S is depends on `mode`:

    * `mode="gradient"` clamps the **raw gradient** before the inner optimizer sees it (the poster's
      "spectral gradient clipping"). With SGD the weight update is −lr × the clamped gradient, so the
      update has σ0/σ1 ≤ r; with Adam or RMSprop the inner optimizer then rescales each element, so
      the update itself is generally not clamped.
    * `mode="update"` lets the inner optimizer compute its update Δ = w_new − w_old (Adam's rescaled
      step, momentum, weight decay included) and clamps **Δ** itself, so every applied update has
      σ0/σ1 ≤ r whatever the optimizer. The inner optimizer's state (moments) still sees raw gradients.

    The power iterations start from fresh random vectors at every step (`power_iterations` matrix-vector
    products per singular value). Under a multi-replica `tf.distribute` strategy, "gradient" clamps each
    replica's gradient before the inner optimizer aggregates them, and "update" clamps the aggregated step. `iterations`, `learning_rate` and the
    state belong to the inner optimizer; saving and loading include it.

    Statistics of the last application, as variables: `clamp_fraction` (fraction of clamped kernels) and
    `sigma_ratio` (mean σ0/σ1 over the kernels, σ1 floored at 1e-6·σ0).

    Args:
        inner_optimizer: The `keras.optimizers.Optimizer` to wrap (an instance, a name or a config).
        ratio: r > 1; `float("inf")` leaves every step untouched, bit for bit (statistics are still computed).
        mode: "gradient" (clamp the raw gradient) or "update" (clamp the optimizer's update).
        power_iterations: Steps of each of the two power iterations, ≥ 1.
        seed: Seed of the random start vectors.
        name: Optimizer name.

    Raises:
        ValueError: for `ratio` ≤ 1, an unknown `mode` or `power_iterations` < 1.

    Example:
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        >>> optimizer = SpectralClampOptimizer(keras.optimizers.Adam(0.1), ratio=1.5, mode="update",
        ...                                    power_iterations=60, seed=0)
        >>> model.compile(optimizer=optimizer, loss="mse")
        >>> before = model.layers[0].kernel.numpy()
        >>> x, y = np.random.default_rng(0).normal(size=(2, 8, 4))
        >>> history = model.fit(x, y[:, :3], batch_size=8, verbose=0)
        >>> s = np.linalg.svd(model.layers[0].kernel.numpy() - before, compute_uv=False)
        >>> bool(s[0] <= 1.5 * s[1] * 1.001)
        True

    Reference:
        K. Sargent, "Lipschitz Constraints in Wasserstein GANs" (poster); Brock et al., 2018.
    """

    def __init__(
        self,
        inner_optimizer,
        ratio: float,
        mode: str = "gradient",
        power_iterations: int = 20,
        *,
        seed: int | None = None,
        name: str | None = None,
    ):
        check_ratio(ratio)
        super().__init__(learning_rate=0.0, name=name)
        self.inner_optimizer = keras.optimizers.get(inner_optimizer)
        self.ratio = float(ratio)
        self.mode = check_choice("mode", mode, CLAMP_MODES)
        self.power_iterations = lip_ops.check_power_iterations(power_iterations)
        self.seed = seed

    def build(self, var_list):
        if not self.inner_optimizer.built:
            self.inner_optimizer.build(var_list)
        # Only the first replica's statistics are kept: one replica's steps are representative.
        self.clamp_fraction = self.add_variable(
            shape=(), initializer="zeros", dtype="float32", aggregation="only_first_replica", name="clamp_fraction"
        )
        self.sigma_ratio = self.add_variable(
            shape=(), initializer="zeros", dtype="float32", aggregation="only_first_replica", name="sigma_ratio"
        )
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        self._clamped_variables = list(var_list)
        super().build(var_list)

    @property
    def variables(self):
        return super().variables + self.inner_optimizer.variables

    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate):
        # The base class sets a learning rate of its own in __init__, before `inner_optimizer` exists.
        if "inner_optimizer" in self.__dict__:
            self.inner_optimizer.learning_rate = learning_rate

    @property
    def iterations(self):
        return self.inner_optimizer.iterations

    def _clamp(self, steps: list) -> list:
        """Clamps every clampable tensor of `steps` and records the statistics."""
        steps = list(steps)
        flags, ratios = [], []
        for i, step in enumerate(steps):
            if not clampable(step):
                continue
            steps[i], sigma0, sigma1 = spectral_clamp(
                step, self.ratio, power_iterations=self.power_iterations, seed=self.seed_generator
            )
            # σ0 = 0 (a zero step) is neither clamped nor counted in the mean ratio.
            flags.append(ops.cast(sigma0 > self.ratio * sigma1, "float32"))
            ratios.append(sigma0 / ops.maximum(sigma1, sigma0 / _RATIO_CAP + 1e-30))
        if ratios:
            self.clamp_fraction.assign(ops.mean(ops.stack(flags)))
            self.sigma_ratio.assign(ops.mean(ops.stack(ratios)))
        return steps

    def apply(self, grads, trainable_variables=None):
        """Clamps the gradients (mode "gradient") or the inner optimizer's updates (mode "update")."""
        if not self.built:
            self.build(trainable_variables)
            self.built = True
        grads = list(grads)
        if self.mode == "gradient":
            self.inner_optimizer.apply(self._clamp(grads), trainable_variables)
            return
        variables = self._clamped_variables if trainable_variables is None else list(trainable_variables)
        before = [tf.identity(v.value) if clampable(g) else None for g, v in zip(grads, variables)]
        self.inner_optimizer.apply(grads, trainable_variables)
        chosen = [i for i, old in enumerate(before) if old is not None]
        deltas = self._clamp([variables[i].value - before[i] for i in chosen])
        if not math.isinf(self.ratio):
            for i, delta in zip(chosen, deltas):
                variables[i].assign(before[i] + delta)

    def scale_loss(self, loss):
        """The inner optimizer's loss scaling (so a wrapped `LossScaleOptimizer` keeps working)."""
        return self.inner_optimizer.scale_loss(loss)

    def finalize_variable_values(self, var_list):
        self.inner_optimizer.finalize_variable_values(var_list)

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "inner_optimizer": keras.saving.serialize_keras_object(self.inner_optimizer),
            "ratio": self.ratio,
            "mode": self.mode,
            "power_iterations": self.power_iterations,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config: dict, custom_objects=None) -> "SpectralClampOptimizer":
        config = dict(config)
        inner = keras.saving.deserialize_keras_object(config.pop("inner_optimizer"), custom_objects=custom_objects)
        return cls(inner, **config)
