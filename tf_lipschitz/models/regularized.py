"""Adversarial Lipschitz Regularization for any Keras model trained with `fit`.

`LipschitzRegularizedModel(model, penalty_weight=λ, **alp_kwargs)` wraps a classifier, regressor or critic and
adds λ·ALP (Eq. 20 of the paper) on the training inputs to the compiled loss. The penalty reuses the forward
pass of the loss (`fx=`), so it costs one input-gradient pass and one forward-backward per sample.

Reference:
    Terjék, "Adversarial Lipschitz Regularization", ICLR 2020.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from tf_lipschitz.layers.base import advance_power_iteration, power_iteration_frozen

from tf_lipschitz import penalties
from tf_lipschitz.ops import check_power_iterations
from tf_lipschitz.penalties import RelativeEpsilon, adversarial_lipschitz_penalty

__all__ = ["LipschitzRegularizedModel"]

_ALP_KWARGS = ("K", "d_x", "d_y", "xi", "epsilon", "power_iterations", "reduction", "clip", "check_numerics")
_DIAGNOSTICS = ("penalty", "ratio_mean", "ratio_max", "violation_fraction")


def _validate_alp_kwargs(alp_kwargs: dict) -> None:
    unknown = sorted(set(alp_kwargs) - set(_ALP_KWARGS))
    if unknown:
        raise ValueError(f"Unknown ALP arguments {unknown}; valid ones are {list(_ALP_KWARGS)}")
    if "d_x" in alp_kwargs:
        penalties._lookup(penalties._D_X, alp_kwargs["d_x"], "d_x")
    if "d_y" in alp_kwargs:
        penalties._lookup(penalties._D_Y, alp_kwargs["d_y"], "d_y")
    if "reduction" in alp_kwargs:
        penalties._lookup(penalties._REDUCTIONS, alp_kwargs["reduction"], "reduction")
    if "epsilon" in alp_kwargs:
        penalties._check_epsilon(alp_kwargs["epsilon"])
    if "power_iterations" in alp_kwargs:
        check_power_iterations(alp_kwargs["power_iterations"], minimum=0)
    penalties._check_positive(alp_kwargs.get("xi", 1.0), "xi")
    penalties._check_positive(alp_kwargs.get("K", 1.0), "K", allow_zero=True)
    penalties._check_clip(alp_kwargs.get("clip"))


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class LipschitzRegularizedModel(keras.Model):
    """Wraps a Keras model so that `fit` minimizes loss + λ·ALP on the inputs: ALR in one line.

    The wrapper's `compute_loss` adds `penalty_weight` times `adversarial_lipschitz_penalty` of the inner model
    at the batch's inputs, reusing the predictions of the loss as f(x). `fit` and `evaluate` logs then contain
    the total `loss` and `alp_penalty`, `alp_ratio_mean`, `alp_ratio_max`, `alp_violation_fraction` (the
    per-sample Lipschitz estimate d_Y/d_X at the adversarial pairs and the fraction above K).

    Because a wrapper cannot know the scale of your data, its defaults are scale-free: ε is drawn relative to
    the batch's typical pairwise distance (`RelativeEpsilon()`), ξ = 1, and d_Y = "l2" (|·| for a scalar
    output). Pass `epsilon=(low, high)` and `xi` in data units to override (see `adversarial_perturbation`).
    The input must be a single tensor. Models with dropout see different masks in f(x) and f(x̂), which
    inflates the ratio; batch normalization in training mode also sees the perturbed batch. Normalized layers
    (`tf_lipschitz.layers`) inside the model advance their power iteration once per training step, and f(x)
    and f(x̂) use the same σ (see `train_step`).

    Args:
        model: The Keras model to regularize; `wrapper.model` is it, and can be saved on its own.
        penalty_weight: λ ≥ 0.
        seed: Seed of the wrapper's `keras.random.SeedGenerator` (fresh noise every step).
        **alp_kwargs: Options of `adversarial_lipschitz_penalty`: K, d_x, d_y, xi, epsilon,
            power_iterations, reduction, clip, check_numerics. Remaining Model arguments (`name`) are accepted.

    Raises:
        ValueError: for an unknown ALP option or an invalid value, or a negative `penalty_weight`.

    Example:
        >>> inner = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> model = LipschitzRegularizedModel(inner, penalty_weight=10.0, K=1.0, epsilon=(0.01, 0.5))
        >>> model.compile("adam", "mse")
        >>> history = model.fit(tf.ones((8, 2)), tf.ones((8, 1)), epochs=1, verbose=0)
        >>> sorted(history.history)
        ['alp_penalty', 'alp_ratio_max', 'alp_ratio_mean', 'alp_violation_fraction', 'loss']

    Reference:
        Terjék, "Adversarial Lipschitz Regularization", ICLR 2020.
    """

    def __init__(
        self,
        model: keras.Model,
        penalty_weight: float = 1.0,
        *,
        seed: int | None = None,
        name: str | None = None,
        trainable: bool = True,
        **alp_kwargs: Any,
    ):
        _validate_alp_kwargs(alp_kwargs)
        if not penalty_weight >= 0:
            raise ValueError(f"`penalty_weight` must be >= 0. Received: penalty_weight={penalty_weight}")
        super().__init__(name=name, trainable=trainable)
        self.model = model
        self.penalty_weight = float(penalty_weight)
        self.seed = seed
        self.alp_kwargs = {"d_y": "l2", "xi": 1.0, "epsilon": RelativeEpsilon(), **alp_kwargs}
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.alp_trackers = [keras.metrics.Mean(name=f"alp_{name}") for name in _DIAGNOSTICS]

    def call(self, inputs, training=None):
        return self.model(inputs, training=training)

    def train_step(self, data):
        """Keras' training step with the power iteration of normalized layers advanced once, before it.

        Every call of the inner model in the step (the loss's f(x), the power-iteration step of ALP and
        f(x̂)) then runs inside `power_iteration_frozen(self.model)`, so it uses one σ per layer.
        """
        advance_power_iteration(self.model)
        with power_iteration_frozen(self.model):
            return super().train_step(data)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The compiled loss plus λ·ALP at `x`, scaled per replica like Keras scales the loss."""
        loss = super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training)
        if x is None or self.penalty_weight == 0:
            return loss
        if isinstance(x, (dict, list, tuple)):
            raise ValueError(f"LipschitzRegularizedModel needs a single input tensor; received a {type(x).__name__}")
        result = adversarial_lipschitz_penalty(
            lambda t: self.model(t, training=training), x, fx=y_pred, seed=self.seed_generator, **self.alp_kwargs
        )
        for tracker, value in zip(self.alp_trackers, result):
            tracker.update_state(value)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        penalty = self.penalty_weight * result.penalty / replicas
        return loss + tf.cast(penalty, loss.dtype)

    def get_config(self) -> dict:
        alp_kwargs = dict(self.alp_kwargs)
        if callable(alp_kwargs["epsilon"]):
            alp_kwargs["epsilon"] = keras.saving.serialize_keras_object(alp_kwargs["epsilon"])
        return {
            "name": self.name,
            "trainable": self.trainable,
            "model": keras.saving.serialize_keras_object(self.model),
            "penalty_weight": self.penalty_weight,
            "seed": self.seed,
            **alp_kwargs,
        }

    @classmethod
    def from_config(cls, config: dict, custom_objects=None) -> "LipschitzRegularizedModel":
        config = dict(config)
        model = keras.saving.deserialize_keras_object(config.pop("model"), custom_objects=custom_objects)
        epsilon = config.get("epsilon")
        if isinstance(epsilon, dict):
            config["epsilon"] = keras.saving.deserialize_keras_object(epsilon, custom_objects=custom_objects)
        elif isinstance(epsilon, list):
            config["epsilon"] = tuple(epsilon)
        return cls(model, **config)
