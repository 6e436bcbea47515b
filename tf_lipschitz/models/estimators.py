"""Critic-based estimators trained with `fit`: KL / D_λ divergences, mutual information (MINE) and the
unconstrained Wasserstein critic.

Each wraps a critic network (a batch → (n, 1) Keras model) and maximizes an objective of two batches:

* `DivergenceEstimator`: the Donsker–Varadhan bound of D(µ‖ν) on batches (x_µ, x_ν), or with `lam` the
  Moreau–Yosida regularized KL D_λ(µ‖ν) (ALP at K = λ keeps the critic λ-Lipschitz).
* `MutualInformationEstimator`: the same between the joint (x, y) and the product of marginals (x paired
  with another sample's y), i.e. MINE, and with `lam` the Lipschitz-critic variant of Ozair et al.
* `UnconstrainedWassersteinCritic`: E_µ f − E_ν f − (α − 1)·α^{α/(1−α)}·‖f‖_L^{α/(α−1)}, whose maximum is
  W(µ, ν)^α.

A critic made of normalized layers whose bounds multiply to λ (e.g. `SpectralNormDense(k_sn=λ)` then
`k_sn=1` layers with 1-Lipschitz activations) is the other way to get D_λ: pass it with `lam=None`. The power
iteration of such layers advances once per update, as in `LipschitzGAN`.

`fit` takes the two batches as (x, y) of a dataset or of arrays and logs the running (epoch-mean) estimate;
`estimate(...)` evaluates the trained critic on large samples at once. Nothing non-finite passes silently:
`fit` refuses arrays with NaN or Inf and stops with a `FloatingPointError` naming the step where a logged
value first becomes NaN or Inf (a NaN batch from a dataset, a diverging critic); `estimate` raises instead
of returning NaN. Under a distribution strategy each
replica computes the objective on its share of the batch (the log-mean-exp is not additive, so this is the
average of per-replica estimates, not the estimate of the global batch) and the gradients are averaged.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tf_lipschitz import divergences, penalties
from tf_lipschitz.foundations.validation import check_float
from tf_lipschitz.models.two_sample import TwoSampleCritic, check_finite_array
from tf_lipschitz.penalties import RelativeEpsilon
from tf_lipschitz.penalties import unconstrained as unconstrained_wgan

__all__ = ["DivergenceEstimator", "MutualInformationEstimator", "UnconstrainedWassersteinCritic"]

_PENALTY_LOGS = ("penalty", "ratio_mean", "ratio_max", "violation_fraction")
# Options of the unconstrained WGAN's price that `UnconstrainedWassersteinCritic` takes as its own arguments.
_PRICE_OPTIONS = ("alpha", "statistic", "xi", "epsilon", "power_iterations")


def _alp_for_estimator(penalty_kwargs: dict) -> penalties.Penalty:
    """ALP with the estimator's scale-free defaults and the user's options, checked by `penalties.get`.

    K is not among the options: the Lipschitz bound of D_λ is the estimator's `lam`.
    """
    allowed = [key for key in penalties.get("alp").spec.options if key != "K"]
    unknown = sorted(set(penalty_kwargs) - set(allowed))
    if unknown:
        raise ValueError(f"Unknown ALP options {unknown}; valid ones are {allowed} (the Lipschitz bound K is `lam`).")
    return penalties.get("alp", **{"xi": 1.0, "epsilon": RelativeEpsilon(), **penalty_kwargs})


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class DivergenceEstimator(TwoSampleCritic):
    """Estimates D(µ‖ν) by the Donsker–Varadhan bound, or D_λ(µ‖ν) with a λ-Lipschitz critic, with `fit`.

    Each step maximizes E_µ f − log E_ν e^f on a batch of each (− `penalty_weight`·ALP at K = λ when `lam` is
    set, on both batches). `fit` logs `divergence` (the epoch mean of the batch estimates), `loss` and, with
    `lam`, ALP's `penalty`, `ratio_mean`, `ratio_max`, `violation_fraction`. With `bias_correction` (a decay,
    MINE uses 0.99), the gradient of log E_ν e^f divides by a moving average of E_ν e^f over batches instead of
    the batch mean, removing the bias of small batches (`divergences.donsker_varadhan`).

    ALP's defaults are scale-free as in `LipschitzRegularizedModel`: ξ = 1, ε relative to the batch's spread.

    Args:
        critic: A Keras model mapping a batch (n, ...) to (n, 1); `estimator.critic` is it.
        lam: λ > 0 for D_λ (ALP at K = λ), or None for the KL divergence (or a critic made λ-Lipschitz by its
            layers).
        penalty_weight: Weight of ALP, ≥ 0 (used with `lam`).
        bias_correction: None, or the moving-average decay in [0, 1).
        seed: Seed of the noise (ALP, shuffles).
        **penalty_kwargs: `adversarial_lipschitz_penalty` options (all but K, which is `lam`): d_x, d_y, xi,
            epsilon, power_iterations, reduction, clip, clip_probe, check_numerics; checked by `penalties.get`.

    Attributes:
        penalty_kwargs: The ALP options, the defaults (ξ = 1, `RelativeEpsilon()`) included.

    Raises:
        ValueError: for an invalid `lam`, `penalty_weight`, `bias_correction`, ALP option or combination of them.

    Example:
        >>> keras.utils.set_random_seed(0)
        >>> critic = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        >>> estimator = DivergenceEstimator(critic, lam=1.0, seed=0)
        >>> estimator.compile(keras.optimizers.Adam(0.05))
        >>> x_mu = np.random.default_rng(0).normal(2.0, 1.0, (2048, 1)).astype("float32")
        >>> x_nu = np.random.default_rng(1).normal(0.0, 1.0, (2048, 1)).astype("float32")
        >>> history = estimator.fit(x_mu, x_nu, batch_size=256, epochs=10, verbose=0)
        >>> sorted(history.history)[:2], abs(estimator.estimate(x_mu, x_nu) - 1.5) < 0.2  # D_1 = 2 - 1/2
        (['divergence', 'loss'], True)

    Reference:
        Belghazi et al., "Mutual Information Neural Estimation", ICML 2018.
        Terjék, "Moreau-Yosida f-divergences", ICML 2021.
    """

    estimate_name = "divergence"

    def __init__(self, critic: keras.Model, lam: float | None = None, penalty_weight: float = 100.0, *,
                 bias_correction: float | None = None, seed: int | None = None, name: str | None = None,
                 trainable: bool = True, **penalty_kwargs: Any):
        self.lam = None if lam is None else check_float("lam", lam)
        self.penalty_weight = check_float("penalty_weight", penalty_weight, inclusive=True)
        if bias_correction is not None:
            bias_correction = check_float("bias_correction", bias_correction, inclusive=True, maximum=1.0)
            if bias_correction == 1.0:
                raise ValueError(f"`bias_correction` must be < 1. Received: bias_correction={bias_correction}")
        self.bias_correction = bias_correction
        self.resolved_penalty = _alp_for_estimator(penalty_kwargs)
        self.penalty_kwargs = self.resolved_penalty.kwargs
        logs = (self.estimate_name,) + (_PENALTY_LOGS if self.lam is not None else ())
        super().__init__(critic, log_names=logs, seed=seed, name=name, trainable=trainable)
        self.log_moving_average = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                                  name="log_moving_average")
        self.moving_average_steps = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                                    name="moving_average_steps")

    def _moving_average(self, log_mean_exp_nu):
        steps = self.moving_average_steps + 1.0
        value = divergences.update_log_moving_average(self.log_moving_average, log_mean_exp_nu, steps,
                                                      self.bias_correction)
        self.log_moving_average.assign(value)
        self.moving_average_steps.assign(steps)
        return value

    def _objective(self, first, second, training: bool) -> tuple:
        correct = training and self.bias_correction is not None
        result = divergences.lipschitz_donsker_varadhan(
            lambda t: self.critic(t, training=training), first, second, lam=self.lam,
            moving_average=self._moving_average if correct else None, seed=self.seed_generator,
            **self.penalty_kwargs,
        )
        logs = {self.estimate_name: result.estimate}
        if result.penalty is None:
            return result.estimate, logs
        logs.update(zip(_PENALTY_LOGS, result.penalty))
        return result.estimate - self.penalty_weight * result.penalty.penalty, logs

    def estimate(self, x_mu, x_nu) -> float:
        """The Donsker–Varadhan value of the current critic on the given samples (one pass, no training).

        Args:
            x_mu: Samples of µ (n, ...); large samples give a low-variance estimate.
            x_nu: Samples of ν (m, ...).

        Returns:
            E_µ f − log E_ν e^f as a float.

        Raises:
            ValueError: for samples with NaN or Inf, or a non-finite value (the critic's outputs are not
                finite, e.g. NaN weights after a diverged `fit`).
        """
        check_finite_array("x_mu", x_mu)
        check_finite_array("x_nu", x_nu)
        value = float(divergences.donsker_varadhan(self.critic(x_mu), self.critic(x_nu)))
        if not math.isfinite(value):
            raise ValueError(
                f"{type(self).__name__}.estimate is {value}: the critic's outputs on the given samples are not "
                "finite (are its weights NaN after a diverged fit?)"
            )
        return value

    def get_config(self) -> dict:
        return {**super().get_config(), "lam": self.lam, "penalty_weight": self.penalty_weight,
                "bias_correction": self.bias_correction, **self.resolved_penalty.serialized_kwargs()}


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class MutualInformationEstimator(DivergenceEstimator):
    """MINE: I(X; Y) = D(µ_XY ‖ µ_X × µ_Y) by the Donsker–Varadhan bound, optionally with a λ-Lipschitz critic.

    `fit` takes paired samples (x, y), each (n, d_x) and (n, d_y); the critic sees [x, y] concatenated, (n,
    d_x + d_y). The product of marginals pairs each x with the y of another sample of the batch (a roll by a
    random shift, `divergences.product_of_marginals`). Logs `mutual_information` instead of `divergence`;
    everything else is as in `DivergenceEstimator`.

    Args:
        critic: A Keras model mapping (n, d_x + d_y) to (n, 1).
        lam, penalty_weight, bias_correction, seed, **penalty_kwargs: As in `DivergenceEstimator`.

    Raises:
        ValueError: as `DivergenceEstimator`.

    Example:
        >>> critic = keras.Sequential([keras.Input((2,)), keras.layers.Dense(8, activation="relu"),
        ...                            keras.layers.Dense(1)])
        >>> estimator = MutualInformationEstimator(critic, bias_correction=0.99)
        >>> estimator.compile("adam")
        >>> x = np.random.default_rng(0).normal(size=(64, 1)).astype("float32")
        >>> history = estimator.fit(x, x, batch_size=32, verbose=0)
        >>> sorted(history.history)
        ['loss', 'mutual_information']

    Reference:
        Belghazi et al., "Mutual Information Neural Estimation", ICML 2018.
        Ozair et al., "Wasserstein Dependency Measure for Representation Learning", NeurIPS 2019.
    """

    estimate_name = "mutual_information"

    def fit(self, x=None, y=None, *args, **kwargs):
        """`DivergenceEstimator.fit`, refusing batches of fewer than 2 pairs first (see `_check_pairs`).

        Raises:
            ValueError: for arrays whose `batch_size` or last batch holds fewer than 2 pairs; a dataset batch
                of 1 pair stops `fit` with `tf.errors.InvalidArgumentError` carrying the same message.
        """
        if isinstance(x, (np.ndarray, tf.Tensor)):
            batch_size = kwargs.get("batch_size", args[0] if args else None) or 32
            n = int(x.shape[0])
            _check_pairs(min(n, batch_size), "batch_size")
            if n % batch_size == 1:
                raise ValueError(
                    f"The last batch of {n} pairs in batches of {batch_size} would hold 1 pair; "
                    f"{_ONE_PAIR} Pass another `batch_size`. Received: batch_size={batch_size}"
                )
        return super().fit(x, y, *args, **kwargs)

    def _batches(self, data) -> tuple:
        x, y = super()._batches(data)
        n = tf.shape(x)[0]
        if x.shape[0] is not None:
            _check_pairs(int(x.shape[0]), "batch")
        else:
            with tf.control_dependencies([tf.debugging.assert_greater_equal(n, 2, message=_ONE_PAIR)]):
                n = tf.identity(n)
        shift = keras.random.randint((), 1, tf.maximum(n, 2), seed=self.seed_generator)
        return self._pairs(x, y, shift)

    @staticmethod
    def _pairs(x, y, shift) -> tuple:
        joint = tf.concat([x, tf.cast(y, x.dtype)], axis=-1)
        x, y_other = divergences.product_of_marginals(x, y, shift)
        return joint, tf.concat([x, tf.cast(y_other, x.dtype)], axis=-1)

    def estimate(self, x, y) -> float:
        """The Donsker–Varadhan value of the current critic on paired samples (product by a roll of one).

        Args:
            x: Samples of X (n, d_x).
            y: The paired samples of Y (n, d_y).

        Returns:
            The estimate of I(X; Y) in nats, a float.

        Raises:
            ValueError: for fewer than 2 pairs, or as `DivergenceEstimator.estimate`.
        """
        x, y = tf.convert_to_tensor(x), tf.convert_to_tensor(y)
        _check_pairs(int(x.shape[0]), "x")
        return super().estimate(*self._pairs(x, y, 1))


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class UnconstrainedWassersteinCritic(TwoSampleCritic):
    """Trains a critic alone on the unconstrained WGAN objective, whose maximum is W(µ, ν)^α.

    Each step maximizes E_µ f − E_ν f − (α − 1)·α^{α/(1−α)}·L^{α/(α−1)} with L the max (or mean) of the
    adversarial ratios on both batches (`tf_lipschitz.penalties.unconstrained`). `fit` takes (x_µ, x_ν) batches and
    logs `objective` (→ W^α), `difference` (E_µ f − E_ν f), `lipschitz_estimate` (L, → α·W^{α−1}) and
    `wasserstein_estimate` = difference / L (a lower bound of W for a critic with ‖f‖_L = L, → W).

    Args:
        critic: A Keras model mapping a batch (n, ...) to (n, 1).
        alpha: α > 1.
        statistic: "max" or "mean" of the ratios; see `tf_lipschitz.penalties.unconstrained`.
        xi, epsilon, power_iterations: The adversarial direction's options (data units).
        seed: Seed of the noise.

    Attributes:
        penalty_kwargs: `alpha`, `statistic`, `xi`, `epsilon`, `power_iterations`: the options of the
            "unconstrained" penalty (`penalties.get`), which checks them with the same rules.

    Raises:
        ValueError: for α ≤ 1, an unknown statistic, or an invalid ξ, ε or power_iterations.

    Example:
        >>> critic = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> model = UnconstrainedWassersteinCritic(critic, alpha=2.0)
        >>> model.compile("adam")
        >>> x = np.zeros((8, 2), "float32")
        >>> sorted(model.fit(x + [3.0, 0.0], x, batch_size=4, verbose=0).history)
        ['difference', 'lipschitz_estimate', 'loss', 'objective', 'wasserstein_estimate']
    """

    def __init__(self, critic: keras.Model, alpha: float = 2.0, *, statistic: str = "max", xi: float = 1.0,
                 epsilon: Any = (0.001, 0.05), power_iterations: int = 1, seed: int | None = None,
                 name: str | None = None, trainable: bool = True):
        self.resolved_penalty = penalties.get("unconstrained", alpha=alpha, statistic=statistic, xi=xi,
                                              epsilon=epsilon, power_iterations=power_iterations)
        self.penalty_kwargs = self.resolved_penalty.kwargs
        self.alpha, self.statistic, self.xi, self.epsilon, self.power_iterations = (
            self.penalty_kwargs[key] for key in _PRICE_OPTIONS)
        logs = ("objective", "difference", "lipschitz_estimate", "wasserstein_estimate")
        super().__init__(critic, log_names=logs, seed=seed, name=name, trainable=trainable)

    def _objective(self, first, second, training: bool) -> tuple:
        f = lambda t: self.critic(t, training=training)  # noqa: E731
        first = tf.convert_to_tensor(first)
        x = tf.concat([first, tf.cast(second, first.dtype)], axis=0)
        fx = f(x)
        n = tf.shape(first)[0]
        ratios = unconstrained_wgan.adversarial_lipschitz_ratios.unchecked(
            f, x, xi=self.xi, epsilon=self.epsilon, power_iterations=self.power_iterations,
            seed=self.seed_generator, fx=fx,
        )
        lipschitz = unconstrained_wgan.lipschitz_estimate.unchecked(ratios, self.statistic)
        objective = unconstrained_wgan.unconstrained_wgan_objective.unchecked(fx[:n], fx[n:], lipschitz, self.alpha)
        difference = tf.reduce_mean(tf.cast(fx[:n], tf.float32)) - tf.reduce_mean(tf.cast(fx[n:], tf.float32))
        return objective, {"objective": objective, "difference": difference, "lipschitz_estimate": lipschitz,
                           "wasserstein_estimate": difference / tf.maximum(lipschitz, 1e-12)}

    def get_config(self) -> dict:
        return {**super().get_config(), **self.resolved_penalty.serialized_kwargs()}


_ONE_PAIR = ("MINE needs at least 2 pairs per batch: with 1, the product of marginals pairs the sample with "
             "itself, so the joint and the product are the same batch and the estimate is exactly 0.")


def _check_pairs(n: int, name: str) -> None:
    if n < 2:
        raise ValueError(f"{_ONE_PAIR} Received: {name} of {n} pair(s)")
