"""Spectral gradient clamping as a callback: a thin convenience over `tf_lipschitz.optimizers.SpectralClampOptimizer`.

`SpectralGradientClamp` wraps the selected optimizer(s) of the model in a `SpectralClampOptimizer` for the
duration of `fit` and logs its statistics; the clamping lives in `tf_lipschitz.optimizers`, its math
(`spectral_clamp`) in `tf_lipschitz.ops.spectral_clamp`. To clamp without a callback (custom loops, or to save
the wrapper with the model), pass `SpectralClampOptimizer(inner, ratio=...)` to `compile` directly.

Reference:
    K. Sargent, "Lipschitz Constraints in Wasserstein GANs" (poster, "Spectral Gradient Clipping").
    Brock, Donahue and Simonyan, "Large Scale GAN Training for High Fidelity Natural Image
    Synthesis", arXiv:1809.11096, 2018 (spectral clamping of weights).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import keras

from tf_lipschitz import ops as lip_ops
from tf_lipschitz.foundations.validation import check_choice
from tf_lipschitz.ops.spectral_clamp import check_ratio
from tf_lipschitz.optimizers import CLAMP_MODES, SpectralClampOptimizer

__all__ = ["SpectralGradientClamp", "VALID_TARGETS"]

VALID_TARGETS = ("critic", "generator", "both")


@runtime_checkable
class AdversarialTrainer(Protocol):
    """What the clamp asks of a GAN (e.g. `LipschitzGAN`): its two networks and their two optimizers."""

    critic: Any
    generator: Any
    critic_optimizer: Any
    generator_optimizer: Any


class SpectralGradientClamp(keras.callbacks.Callback):
    """Clamps each kernel's step to top singular value `ratio`·σ1 during `fit`, and logs how often it did.

    A convenience over `tf_lipschitz.optimizers.SpectralClampOptimizer` (see it for the math and for the two
    modes): in `on_train_begin` the selected optimizer(s) of the model are replaced by a
    `SpectralClampOptimizer` wrapping them (their state and step count are kept: the wrapper delegates
    to them), and the train function is re-traced; `on_train_end` puts the original optimizer(s) back.
    By default (`mode="gradient"`) the **raw gradient** is clamped before the optimizer sees it, as in the
    poster; with Adam the applied update then differs from the clamped gradient by Adam's per-element
    rescaling. `mode="update"` clamps the optimizer's **update** instead, so every applied step has
    σ0/σ1 ≤ r. Biases, kernels with a single singular value and sparse gradients pass through.

    It works with any compiled `keras.Model` trained with `fit` (its `optimizer`) and with GAN models
    exposing `critic_optimizer` / `generator_optimizer` (chosen by `target`).

    Logs, per step into `fit`'s logs (batch and epoch), for each wrapped optimizer (keys prefixed by
    `critic_` / `generator_` for GANs): `spectral_clamp_fraction`, the fraction of clamped kernels,
    and `spectral_clamp_sigma_ratio`, the mean σ0/σ1 over the kernels (σ1 floored at 1e-6·σ0). When
    the optimizer is applied several times per step (n_critic > 1) the last application is reported.
    Put this callback before `CSVLogger` / `TensorBoard` in the callback list so they see the keys.

    Args:
        ratio: r > 1. `float("inf")` is an exact no-op on the updates (σ0/σ1 is still logged).
        target: For GANs, which optimizer(s) to clamp: "critic", "generator" or "both". For a plain
            model the model's own optimizer is clamped with "critic" or "both" (it has no generator).
        power_iterations: Steps of each power iteration (≥ 1), from a fresh random start every step.
        seed: Seed of the random start vectors.
        mode: "gradient" (clamp the raw gradient) or "update" (clamp the optimizer's update).

    Raises:
        ValueError: for `ratio` ≤ 1, an unknown `target` or `mode`, `power_iterations` < 1, and (at the
            start of training) a model without the optimizer(s) `target` asks for.

    Example:
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> clamp = SpectralGradientClamp(ratio=2.0)
        >>> history = model.fit(np.ones((8, 4)), np.zeros((8, 3)), callbacks=[clamp], verbose=0)
        >>> sorted(k for k in history.history if k.startswith("spectral"))
        ['spectral_clamp_fraction', 'spectral_clamp_sigma_ratio']

    Reference:
        K. Sargent, "Lipschitz Constraints in Wasserstein GANs" (poster); Brock, Donahue and Simonyan,
        "Large Scale GAN Training for High Fidelity Natural Image Synthesis", 2018.
    """

    def __init__(
        self,
        ratio: float,
        target: str = "critic",
        power_iterations: int = 20,
        *,
        seed: int | None = None,
        mode: str = "gradient",
    ):
        super().__init__()
        self.ratio = check_ratio(ratio)
        self.target = check_choice("target", target, VALID_TARGETS)
        self.mode = check_choice("mode", mode, CLAMP_MODES)
        self.power_iterations = lip_ops.check_power_iterations(power_iterations)
        self.seed = seed
        self._wrapped: list[tuple[str, str, Any, SpectralClampOptimizer]] = []

    def _selected(self) -> list[tuple[str, str, Any]]:
        """(log prefix, model attribute, variables) of the optimizers that `target` selects on `self.model`."""
        model = self.model
        if isinstance(model, AdversarialTrainer):
            wanted = ("critic", "generator") if self.target == "both" else (self.target,)
            optimizers = {"critic": model.critic_optimizer, "generator": model.generator_optimizer}
            for name in wanted:
                if optimizers[name] is None:
                    raise ValueError(
                        f"SpectralGradientClamp(target={self.target!r}) needs `model.{name}_optimizer`; "
                        f"{type(model).__name__} has none. Compile the GAN with {name}_optimizer=... first."
                    )
            networks = {"critic": model.critic, "generator": model.generator}
            return [(f"{name}_", f"{name}_optimizer", networks[name].trainable_variables) for name in wanted]
        if self.target == "generator":
            raise ValueError(
                f"SpectralGradientClamp(target='generator') needs a GAN with `generator_optimizer`; "
                f"{type(model).__name__} has none. Use target='critic' or 'both' to clamp a plain model's optimizer."
            )
        if model.optimizer is None:
            raise ValueError(
                f"SpectralGradientClamp needs a compiled model with an optimizer; {type(model).__name__} has none."
            )
        return [("", "optimizer", model.trainable_variables)]

    def on_train_begin(self, logs=None):
        if self._wrapped:
            return
        strategy = self.model.distribute_strategy
        for prefix, attribute, variables in self._selected():
            original = getattr(self.model, attribute)
            wrapper = SpectralClampOptimizer(
                original, self.ratio, self.mode, self.power_iterations, seed=self.seed
            )
            with strategy.scope():
                wrapper.build(variables)
            setattr(self.model, attribute, wrapper)
            self._wrapped.append((prefix, attribute, original, wrapper))
        # `fit` built its train function before on_train_begin; rebuild it so it traces the wrapper.
        self.model.make_train_function(force=True)

    def on_train_batch_end(self, batch, logs=None):
        if logs is not None:
            logs.update(self.logs())

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs.update(self.logs())

    def on_train_end(self, logs=None):
        for _, attribute, original, _ in reversed(self._wrapped):
            setattr(self.model, attribute, original)
        self._wrapped = []
        # The traced function contains the clamp; make the next `fit` trace a clean one.
        self.model.train_function = None

    def logs(self) -> dict[str, float]:
        """The current statistics: fraction of clamped kernels and mean σ0/σ1, per wrapped optimizer.

        Returns:
            A dict keyed `{prefix}spectral_clamp_fraction` and `{prefix}spectral_clamp_sigma_ratio`.
        """
        values: dict[str, float] = {}
        for prefix, _, _, wrapper in self._wrapped:
            values[f"{prefix}spectral_clamp_fraction"] = float(wrapper.clamp_fraction.numpy())
            values[f"{prefix}spectral_clamp_sigma_ratio"] = float(wrapper.sigma_ratio.numpy())
        return values

    def get_config(self) -> dict:
        return {"ratio": self.ratio, "target": self.target, "power_iterations": self.power_iterations,
                "seed": self.seed, "mode": self.mode}
