"""Lipschitz-regularized GANs as Keras models: `LipschitzGAN`, and the paper setups `WGANALP` and `WGANGP`.

`model.fit(dataset)` trains on a `tf.data` pipeline of real samples. **Each dataset element holds
`n_critic` critic batches**: `train_step` splits it into `n_critic` equal chunks, runs one critic
update per chunk, then one generator update on `generator_batch_multiplier` × chunk noise vectors. So
batch the data by `n_critic * critic_batch_size` (`fit` refuses a batch size that is not a multiple of
`n_critic`); one `fit` step is one generator iteration, as in the papers, and every critic update sees
fresh real samples. `model.fit(array, batch_size=64)` does the batching itself: 64 is the critic batch,
and each step takes `n_critic × 64` rows.

Sign convention (see `tf_lipschitz.losses`): the critic scores real samples high. For WGAN the critic
minimizes E f(g(z)) − E f(x) (+ λ·penalty + ε_drift·E f(x)²) and the logged `wasserstein_estimate`
is E f(x) − E f(g(z)).

Normalized layers (`tf_lipschitz.layers`) advance their power iteration once per update: before each
critic update `advance_power_iteration(critic)` runs once, and every call of that update (real, fake,
perturbed and interpolated batches) happens inside `power_iteration_frozen(critic, generator)`. The
generator is advanced once per generator update, likewise; it is not advanced by critic updates, nor
the critic by generator updates.

Reference:
    Terjék, "Adversarial Lipschitz Regularization", ICLR 2020, §5 (WGAN-ALP, Eq. 26).
    Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017 (WGAN-GP).
    Karras et al., "Progressive Growing of GANs", ICLR 2018 (ε_drift).
    "How does Lipschitz regularization influence GAN training?" (losses and domain scaling α).
"""

from __future__ import annotations

import contextlib
import warnings

import keras
import numpy as np
import tensorflow as tf

from tf_lipschitz import losses as gan_losses
from tf_lipschitz import penalties
from tf_lipschitz.foundations.replicas import check_jit_compile, multi_worker_logs
from tf_lipschitz.layers import advance_power_iteration, power_iteration_frozen
from tf_lipschitz.models import gan_support
from tf_lipschitz.models.gan_support import StepSeeds
from tf_lipschitz.foundations.validation import check_choice, check_float, check_int

__all__ = ["LipschitzGAN", "WGANALP", "WGANGP", "PENALTIES", "REGULARIZE", "BOTH_REDUCTIONS", "join_halves"]

# name → (penalty function, fixed keyword arguments, default λ): a read-only view of `penalties.get`'s table.
PENALTIES = {
    name: (spec.function, dict(spec.fixed), spec.penalty_weight)
    for name, spec in ((name, penalties.get(name).spec) for name in penalties.available())
}
REGULARIZE = ("real", "fake", "both", "interpolate")
BOTH_REDUCTIONS = ("mean", "sum")
METRICS = (
    "critic_loss", "generator_loss", "wasserstein_estimate", "penalty",
    "ratio_mean", "ratio_max", "violation_fraction",
)


def _resolve_penalty(penalty, penalty_kwargs) -> penalties.Penalty | None:
    """The `Penalty` of a name or alias with its validated options; None for no penalty."""
    if penalty is None or (isinstance(penalty, str) and penalty.strip().lower() == "none"):
        if penalty_kwargs:
            raise ValueError(f"`penalty_kwargs` given without a penalty. Received: penalty_kwargs={penalty_kwargs!r}")
        return None
    return penalties.get(penalty, **dict(penalty_kwargs or {}))


def join_halves(real: penalties.PenaltyResult, fake: penalties.PenaltyResult, *,
                reduction: str = "mean") -> penalties.PenaltyResult:
    """Joins the `PenaltyResult`s of a real and a generated batch of equal size into that of regularize="both".

    The diagnostics are those of the joined batch (mean, max, fraction). The penalty is one mean over the
    joined batch, (P_real + P_fake)/2, for `reduction="mean"`; the sum P_real + P_fake (ALR Eq. 32) for "sum".

    Args:
        real: The penalty on the real batch.
        fake: The penalty on the generated batch (same size).
        reduction: "mean" or "sum".

    Returns:
        A `PenaltyResult`.

    Example:
        >>> a = penalties.PenaltyResult(1.0, 2.0, 3.0, 0.5)
        >>> b = penalties.PenaltyResult(3.0, 4.0, 5.0, 1.0)
        >>> [float(v) for v in join_halves(a, b)], float(join_halves(a, b, reduction="sum").penalty)
        ([2.0, 3.0, 5.0, 0.75], 4.0)
    """
    check_choice("reduction", reduction, BOTH_REDUCTIONS)
    total = real.penalty + fake.penalty
    return penalties.PenaltyResult(
        penalty=total if reduction == "sum" else 0.5 * total,
        ratio_mean=0.5 * (real.ratio_mean + fake.ratio_mean),
        ratio_max=tf.maximum(real.ratio_max, fake.ratio_max),
        violation_fraction=0.5 * (real.violation_fraction + fake.violation_fraction),
    )


def _default_optimizer():
    # ALP paper §5, following Gulrajani et al.: Adam(2e-4, β1 = 0, β2 = 0.9).
    return keras.optimizers.Adam(2e-4, beta_1=0.0, beta_2=0.9)


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class LipschitzGAN(keras.Model):
    """A GAN whose `train_step` runs `n_critic` critic updates and one generator update.

    The critic minimizes the discriminator loss of `loss` (domain-scaled by `alpha`, Eq. 11 of "How does
    Lipschitz regularization influence GAN training?") + `penalty_weight` × penalty + `drift` × E f(x)²;
    the generator minimizes the generator loss. Each dataset element is split into `n_critic` critic
    batches (module docstring); the generator batch is `generator_batch_multiplier` × the critic batch.

    Logs (in `fit`'s history): `critic_loss` (the full critic objective), `generator_loss`,
    `wasserstein_estimate` (E f(x) − E f(g(z))), `penalty` (before λ), `ratio_mean`, `ratio_max`
    (per-step maximum, averaged) and `violation_fraction` of the penalty's Lipschitz estimate: d_Y/d_X at
    the adversarial points for ALP, ‖∇f‖ for the gradient penalties, and, without a penalty, the
    quotient |f(x) − f(g(z))| / ‖x − g(z)‖ over the critic batch's (real, fake) pairs (no extra cost).
    Critic terms are averaged over the step's critic updates.

    Data: `fit(array, batch_size=b)` (NumPy or tensor) uses critic batches of b samples, as a Keras user
    expects: each step takes n_critic·b rows, an epoch has len(array) // (n_critic·b) steps, and the rows
    are reshuffled every epoch (leftover rows are not used in that epoch). `fit(dataset)` takes each
    element as one step of n_critic critic batches; its batch size must be a multiple of `n_critic`
    (checked on the element spec and the first batch: a ValueError otherwise). A dataset batched without
    `drop_remainder=True` may end an epoch with a partial batch: that step's critic batches are
    ⌊size / n_critic⌋ samples (the remainder unused), so batch with `drop_remainder=True` (or repeat
    before batching) to keep every critic batch full. Labels (`y`, or the second item of dataset
    elements) are ignored with a warning.

    Stochastic critics: a critic with Dropout (or SpatialDropout, GaussianNoise, GaussianDropout,
    AlphaDropout) draws new noise in every call in training mode. The adversarial penalties ("alp",
    "unconstrained") compare f(x) with f(x + r) from separate calls, and find r by power iteration on
    the change of f: with noise, both the direction r and the ratio |f(x) − f(x + r)| / ‖r‖ then follow
    the difference between two dropout masks, not the critic's slope (the ratio stays large even for a
    flat critic, and its gradient pushes on the noise). `fit` warns when it finds such layers; remove
    them from the critic, or use a gradient penalty, which differentiates one call.

    Randomness (noise, ε, r₀, interpolation) is stateless: a function of `seed`, the step counter
    `step_counter` (a saved variable) and the replica, so a resumed run repeats an uninterrupted one.

    Args:
        generator: Keras model z ↦ sample; z has shape (batch, latent_dim).
        critic: Keras model sample ↦ score, output (batch,) or (batch, 1); its input shape must equal
            the generator's output shape.
        latent_dim: Size of z ~ N(0, I).
        loss: A name of `tf_lipschitz.losses.available()` ("wgan", "ns-gan", "ls-gan", "ls-gan#",
            "cos-gan", "exp-gan") or a `GANLoss`.
        alpha: Domain scaling α > 0 of the loss; None keeps the α of a `GANLoss` passed as `loss` (1 for a
            name). A given α overrides the `GANLoss`'s own.
        include_constant: Add back the loss's constant L(0)/α (see `tf_lipschitz.losses`); None keeps the
            `GANLoss`'s own setting (False for a name).
        penalty: None, "alp" (Adversarial Lipschitz Penalty), "gp" (gradient penalty), "lp" (one-sided
            gradient penalty), "r1" (zero-centered ‖∇f‖², with regularize="real" for R1 proper) or
            "unconstrained" (the unconstrained WGAN's price of ‖f‖_L, option `alpha` > 1: with loss="wgan"
            and weight 1 the critic maximizes E f(x) − E f(g(z)) − price, whose supremum is W^α; see
            `penalties.unconstrained`), or an alias; resolved by `penalties.get` into `resolved_penalty`
            (`penalty` keeps the canonical name).
        penalty_weight: λ ≥ 0; None takes the penalty's usual value (ALP 100, GP 10, LP 10, R1 5,
            unconstrained 1).
        penalty_kwargs: Keyword options of the penalty function, e.g. for ALP `xi`, `epsilon`, `K`,
            `power_iterations`, `d_x`, `d_y`, `reduction`, `clip`, `clip_probe`; for GP/LP `target` (or
            `K`), `one_sided`; for "unconstrained" `alpha`, `statistic`, `xi`, `epsilon`, `power_iterations`.
            ALP clips nothing by default (as the author's Progressive GAN code);
            `{"clip": gan.data_range, "clip_probe": True}` clips the probe x + ξr and x̂ to the data
            range, as the author's CIFAR-10 code does.
        regularize: Samples the penalty is applied to: "real", "fake", "both" (real and generated
            batches, the ALP paper's choice) or "interpolate" (random points between them, WGAN-GP's).
            With "both" the penalty runs on the real batch and on the generated batch in separate passes
            (f(x), the probe f(x + ξr) and f(x̂) of reals alone, then of fakes alone), as the author's
            Progressive GAN code does: a critic that couples the samples of a batch (minibatch stddev,
            batch normalization in training mode) then compares f(x) and f(x̂) computed in the same batch
            composition. For a critic without such coupling this gives the numbers of one joined pass.
        both_reduction: How "both" adds its two halves, i.e. what λ multiplies: "mean" (default) is one
            mean over the joined real + generated batch, λ·(P_real + P_fake)/2, as in the author's CIFAR-10
            WGAN-ALP code; "sum" is λ·(P_real + P_fake), the ALR paper's Eq. (32) and its Progressive GAN
            code, twice the strength of "mean" at the same λ. P_real, P_fake are the penalty's batch means.
            "sum" requires regularize="both".
        n_critic: Critic updates per step, ≥ 1.
        generator_batch_multiplier: Generator batch / critic batch, integer ≥ 1.
        drift: ε_drift ≥ 0 of Progressive GAN: adds ε_drift·E[f(x)²] to the critic loss.
        data_range: (low, high) that real samples must lie in, checked on the first batch by `fit`;
            "auto" takes (-1, 1) for a generator ending in tanh, (0, 1) for sigmoid, else no check;
            None disables the check.
        seed: Base seed of all the training noise; None draws one (from NumPy's global generator,
            so `keras.utils.set_random_seed` makes it reproducible).
        generator_ema: None, or β in [0, 1): keep an exponential moving average of the generator's
            trainable weights, ema ← β·ema + (1 − β)·w after every generator update (Progressive GAN uses
            β = 0.999), starting from the generator's weights at construction. It is saved with the model
            (`.keras`, weights); sample from it with `generate(..., ema=True)`,
            `fixed_noise_sampler(..., ema=True)` or `with gan.ema_weights(): ...`.
        name: Model name.

    Raises:
        ValueError: for an unknown loss or penalty, unknown penalty options, negative penalty_weight or
            drift, n_critic < 1, an unknown `regularize` or `both_reduction`, a `generator_ema` outside
            [0, 1), or a generator output shape that differs from the critic's input shape.

    Example:
        >>> gen = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
        >>> critic = keras.Sequential([keras.Input((2,)), keras.layers.Dense(8, "relu"), keras.layers.Dense(1)])
        >>> gan = LipschitzGAN(gen, critic, latent_dim=2, penalty="alp", n_critic=2,
        ...                    penalty_kwargs={"xi": 1.0, "epsilon": (0.01, 0.5)})
        >>> gan.compile()
        >>> data = tf.data.Dataset.from_tensor_slices(np.random.randn(256, 2).astype("float32")).batch(64)
        >>> history = gan.fit(data, epochs=1, verbose=0)
        >>> sorted(history.history)[:3]
        ['critic_loss', 'generator_loss', 'penalty']
    """

    def __init__(
        self,
        generator,
        critic,
        *,
        latent_dim: int,
        loss="wgan",
        alpha: float | None = None,
        penalty=None,
        penalty_weight: float | None = None,
        penalty_kwargs: dict | None = None,
        regularize: str = "both",
        n_critic: int = 5,
        generator_batch_multiplier: int = 2,
        drift: float = 0.0,
        data_range="auto",
        seed: int | None = None,
        include_constant: bool | None = None,
        both_reduction: str = "mean",
        generator_ema: float | None = None,
        name: str | None = None,
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        for model, arg in ((generator, "generator"), (critic, "critic")):
            if not isinstance(model, keras.layers.Layer):
                raise ValueError(f"`{arg}` must be a Keras model or layer. Received: {arg}={model!r}")
        self.latent_dim = check_int("latent_dim", latent_dim)
        self.gan_loss = gan_losses.get(loss, alpha, include_constant=include_constant)
        self.resolved_penalty = _resolve_penalty(penalty, penalty_kwargs)
        self.penalty = self.resolved_penalty.name if self.resolved_penalty else None
        self.penalty_kwargs = self.resolved_penalty.kwargs if self.resolved_penalty else {}
        if penalty_weight is None:
            penalty_weight = self.resolved_penalty.penalty_weight if self.resolved_penalty else 0.0
        self.penalty_weight = check_float("penalty_weight", penalty_weight, inclusive=True)
        self.regularize = check_choice("regularize", regularize, REGULARIZE)
        self.both_reduction = check_choice("both_reduction", both_reduction, BOTH_REDUCTIONS)
        if self.both_reduction == "sum" and self.regularize != "both":
            raise ValueError(
                f"`both_reduction='sum'` needs regularize='both'. Received: regularize={regularize!r}"
            )
        self.generator_ema = None if generator_ema is None else check_float(
            "generator_ema", generator_ema, 0.0, inclusive=True, maximum=1.0)
        if self.generator_ema == 1.0:
            raise ValueError(f"`generator_ema` must be None or in [0, 1). Received: generator_ema={generator_ema!r}")
        self.n_critic = check_int("n_critic", n_critic)
        self.generator_batch_multiplier = check_int("generator_batch_multiplier", generator_batch_multiplier)
        self.drift = check_float("drift", drift, inclusive=True)
        self.seed = int(np.random.randint(0, 2**31 - 1)) if seed is None else int(seed)
        self.generator = generator
        self.critic = critic
        self.sample_shape = self._build_and_check_shapes()
        self.data_range = self._resolve_data_range(data_range)
        self.step_counter = self.add_weight(
            name="step_counter", shape=(), dtype="int64", initializer="zeros", trainable=False,
            aggregation="only_first_replica",
        )
        self.ema_variables = self._make_ema_variables() if self.generator_ema is not None else []
        self.trackers = {key: keras.metrics.Mean(name=key) for key in METRICS}
        self._nonfinite_labels = []
        self.critic_optimizer = None
        self.generator_optimizer = None
        self.built = True

    # ----------------------------------------------------------------------------------- construction
    def _build_and_check_shapes(self) -> tuple:
        z = keras.KerasTensor((None, self.latent_dim))
        fake = self.generator(z)
        critic_inputs = getattr(self.critic, "inputs", None) if isinstance(self.critic, keras.Model) else None
        expected = tuple(critic_inputs[0].shape) if critic_inputs else tuple(fake.shape)
        got = tuple(fake.shape)
        if len(got) != len(expected) or any(a is not None and b is not None and a != b for a, b in zip(got[1:], expected[1:])):
            raise ValueError(
                f"The generator's output shape {got} must equal the critic's input shape {expected} "
                "(batch axis excluded)."
            )
        score = self.critic(fake)
        if not (len(score.shape) == 1 or (len(score.shape) == 2 and score.shape[1] == 1)):
            raise ValueError(
                f"The critic must output one score per sample, shape (batch,) or (batch, 1). "
                f"Received output shape {tuple(score.shape)}."
            )
        return tuple(d if d is not None else e for d, e in zip(got[1:], expected[1:]))

    def _resolve_data_range(self, data_range):
        if data_range is None:
            return None
        if isinstance(data_range, str):
            if data_range != "auto":
                raise ValueError(f"`data_range` must be None, 'auto' or (low, high). Received: data_range={data_range!r}")
            last = self.generator.layers[-1] if getattr(self.generator, "layers", None) else self.generator
            name = getattr(getattr(last, "activation", None), "__name__", "")
            return {"tanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0)}.get(name)
        low, high = (float(v) for v in data_range)
        if not low < high:
            raise ValueError(f"`data_range` must be (low, high) with low < high. Received: data_range={data_range!r}")
        return (low, high)

    def compile(
        self,
        critic_optimizer=None,
        generator_optimizer=None,
        *,
        run_eagerly: bool = False,
        steps_per_execution: int = 1,
        jit_compile="auto",
    ):
        """Configures the two optimizers (built immediately, so call this under the strategy's scope).

        Args:
            critic_optimizer: Optimizer (instance, name or config) of the critic; None: the ALP paper's
                Adam(2e-4, β1 = 0, β2 = 0.9).
            generator_optimizer: Same for the generator.
            run_eagerly: Run `train_step` eagerly (debugging).
            steps_per_execution: Steps per `tf.function` call.
            jit_compile: XLA-compile the training step (True/False/"auto").

        Raises:
            ValueError: for two identical optimizer objects, or `jit_compile=True` in multi-worker training
                on CPUs (XLA has no CPU collectives; `replicas.check_jit_compile`).
        """
        check_jit_compile(self.distribute_strategy, jit_compile)
        super().compile(
            optimizer=None, run_eagerly=run_eagerly, steps_per_execution=steps_per_execution, jit_compile=jit_compile
        )
        self.critic_optimizer = keras.optimizers.get(critic_optimizer) if critic_optimizer else _default_optimizer()
        self.generator_optimizer = (
            keras.optimizers.get(generator_optimizer) if generator_optimizer else _default_optimizer()
        )
        if self.critic_optimizer is self.generator_optimizer:
            raise ValueError("`critic_optimizer` and `generator_optimizer` must be two different optimizer objects.")
        self.critic_optimizer.build(self.critic.trainable_variables)
        self.generator_optimizer.build(self.generator.trainable_variables)
        self._gan_compile_config = {
            "critic_optimizer": keras.saving.serialize_keras_object(self.critic_optimizer),
            "generator_optimizer": keras.saving.serialize_keras_object(self.generator_optimizer),
            "steps_per_execution": steps_per_execution,
            "jit_compile": jit_compile,
        }

    def get_compile_config(self):
        return getattr(self, "_gan_compile_config", None)

    def compile_from_config(self, config):
        config = dict(config)
        for key in ("critic_optimizer", "generator_optimizer"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        self.compile(**config)

    @property
    def metrics(self):
        return list(self.trackers.values())

    def call(self, z, training=False):
        """Generates samples from latent vectors z: the generator's forward pass."""
        return self.generator(z, training=training)

    # ------------------------------------------------------------------------------------ generator EMA
    def _make_ema_variables(self) -> list:
        # Replicas hold equal generator weights after each update: the first replica's average is everyone's.
        ema = []
        for i, variable in enumerate(self.generator.trainable_variables):
            average = self.add_weight(name=f"generator_ema_{i}", shape=tuple(variable.shape), dtype=variable.dtype,
                                      initializer="zeros", trainable=False, aggregation="only_first_replica")
            average.assign(variable)
            ema.append(average)
        return ema

    def _update_ema(self):
        beta = self.generator_ema
        if beta is None:
            return
        for average, variable in zip(self.ema_variables, self.generator.trainable_variables):
            average.assign(beta * average + (1.0 - beta) * tf.cast(variable, average.dtype))

    @contextlib.contextmanager
    def ema_weights(self):
        """Context in which the generator holds the moving average of its weights (`generator_ema`).

        Inside, `gan.generator` (and `generate`, samplers, evaluations) computes with the averaged trainable
        weights; its non-trainable state (power-iteration vectors, batch-norm statistics) stays the live
        one. The live weights are restored on exit, also after an exception.

        Yields:
            The generator.

        Raises:
            ValueError: if the model keeps no moving average (`generator_ema=None`).

        Example:
            >>> gen = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
            >>> critic = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
            >>> gan = LipschitzGAN(gen, critic, latent_dim=2, generator_ema=0.999)
            >>> with gan.ema_weights() as g:
            ...     g is gan.generator
            True
        """
        if self.generator_ema is None:
            raise ValueError("This model keeps no generator moving average: construct it with `generator_ema=β`.")
        variables = self.generator.trainable_variables
        live = [keras.ops.convert_to_numpy(v) for v in variables]
        for variable, average in zip(variables, self.ema_variables):
            variable.assign(average)
        try:
            yield self.generator
        finally:
            for variable, value in zip(variables, live):
                variable.assign(value)

    # -------------------------------------------------------------------------------- the training step
    def _critic_fn(self, x):
        return self.critic(x, training=True)

    def _scores(self, x):
        return tf.reshape(tf.cast(self._critic_fn(x), tf.float32), (-1,))

    def _penalty(self, real, fake, f_real, f_fake, seeds):
        """The penalty's `PenaltyResult` on the samples chosen by `regularize` (see `both_reduction`)."""
        if self.penalty is None:  # Diagnostics only, from the forward passes already made.
            return penalties.lipschitz_quotient_penalty(
                self._critic_fn, real, fake, fx=tf.stop_gradient(f_real), fy=tf.stop_gradient(f_fake),
                check_numerics=False,
            )
        if self.regularize != "both":
            return self._penalty_on(self.regularize, real, fake, f_real, f_fake, seeds)
        # Reals and fakes in separate passes: f(x̂) sees the batch composition f(x) was computed in.
        halves = [self._penalty_on(sample, real, fake, f_real, f_fake, seeds) for sample in ("real", "fake")]
        return join_halves(*halves, reduction=self.both_reduction)

    def _penalty_on(self, sample, real, fake, f_real, f_fake, seeds):
        penalty = self.resolved_penalty
        kwargs = {"seed": seeds, "check_numerics": False}
        if penalty.function is penalties.gradient_penalty:  # it samples the points itself
            return penalty(self._critic_fn, real, fake, sample=sample, **kwargs)
        if sample == "interpolate":
            u = tf.cast(seeds.uniform((tf.shape(real)[0],) + (1,) * (len(real.shape) - 1)), real.dtype)
            return penalty(self._critic_fn, fake + u * (real - fake), **kwargs)
        x, fx = (real, f_real) if sample == "real" else (fake, f_fake)
        return penalty(self._critic_fn, x, fx=fx, **kwargs)

    def _critic_update(self, real, seeds, scale, checks, labels, index):
        """One critic update on the real chunk `real`; returns its logs (unscaled, per replica)."""
        prefix = f"critic update {index + 1}/{self.n_critic}: "
        advance_power_iteration(self.critic)
        with power_iteration_frozen(self.critic, self.generator):
            fake = tf.stop_gradient(
                tf.cast(self.generator(seeds.normal((tf.shape(real)[0], self.latent_dim)), training=True), real.dtype)
            )
            with tf.GradientTape() as tape:
                f_real, f_fake = self._scores(real), self._scores(fake)
                gan_loss = self.gan_loss.discriminator_loss(f_real, f_fake)
                result = self._penalty(real, fake, f_real, f_fake, seeds)
                drift = tf.reduce_mean(tf.square(f_real))
                total = gan_loss + self.drift * drift
                if self.penalty is not None:
                    total = total + self.penalty_weight * result.penalty
                scaled = total * scale
            variables = self.critic.trainable_variables
            grads = tape.gradient(scaled, variables)
        self.critic_optimizer.apply_gradients(zip(grads, variables))
        for label, values in (
            ("critic output on real samples", f_real), ("critic output on generated samples", f_fake),
            ("GAN loss", gan_loss), (f"penalty ({self.penalty})" if self.penalty else "Lipschitz ratio", result),
            ("drift term", drift), ("critic gradients", grads),
        ):
            labels.append(prefix + label)
            checks.append(gan_support.all_finite(values))
        return {
            "critic_loss": total,
            "wasserstein_estimate": gan_losses.wasserstein_estimate(f_real, f_fake),
            "penalty": result.penalty if self.penalty is not None else tf.zeros(()),
            "ratio_mean": result.ratio_mean,
            "ratio_max": result.ratio_max,
            "violation_fraction": result.violation_fraction,
        }

    def _generator_update(self, batch_size, seeds, scale, checks, labels):
        advance_power_iteration(self.generator)
        with power_iteration_frozen(self.generator, self.critic):
            z = seeds.normal((batch_size, self.latent_dim))
            with tf.GradientTape() as tape:
                fake = self.generator(z, training=True)
                f_fake = self._scores(fake)
                loss = self.gan_loss.generator_loss(f_fake)
                scaled = loss * scale
            variables = self.generator.trainable_variables
            grads = tape.gradient(scaled, variables)
        self.generator_optimizer.apply_gradients(zip(grads, variables))
        self._update_ema()
        for label, values in (
            ("generator output", fake), ("critic output on the generator batch", f_fake),
            ("generator loss", loss), ("generator gradients", grads),
        ):
            labels.append("generator update: " + label)
            checks.append(gan_support.all_finite(values))
        return loss

    def _real_batch(self, data, n_chunks):
        """The real samples of a dataset element (labels, if any, are ignored), statically checked."""
        x = data[0] if isinstance(data, (tuple, list)) else data
        x = tf.convert_to_tensor(x)
        gan_support.check_real_spec(x.shape, x.dtype, self.sample_shape, n_chunks, where="training data")
        return x

    def _chunks(self, x):
        size = x.shape[0]
        if size is not None:
            chunk = size // self.n_critic
            return [x[i * chunk:(i + 1) * chunk] for i in range(self.n_critic)], chunk
        chunk = tf.shape(x)[0] // self.n_critic
        return [x[i * chunk:(i + 1) * chunk] for i in range(self.n_critic)], chunk

    # All control flow here is Python, unrolled at trace time: keep AutoGraph out (Keras does too).
    @tf.autograph.experimental.do_not_convert
    def train_step(self, data):
        """`n_critic` critic updates, one per chunk of the element `data`, then one generator update."""
        if self.critic_optimizer is None:
            raise RuntimeError("Call `compile()` before `fit()`.")
        real = self._real_batch(data, self.n_critic)
        chunks, chunk = self._chunks(real)
        scale = 1.0 / tf.distribute.get_strategy().num_replicas_in_sync
        seeds = StepSeeds(self.seed, self.step_counter)
        checks, labels = [], []
        for i, x in enumerate(chunks):
            logs = self._critic_update(x, seeds, scale, checks, labels, i)
            for key, value in logs.items():
                self.trackers[key].update_state(value)
        g_loss = self._generator_update(chunk * self.generator_batch_multiplier, seeds, scale, checks, labels)
        self.trackers["generator_loss"].update_state(g_loss)
        self.step_counter.assign_add(1)
        self._nonfinite_labels = labels
        results = {key: tracker.result() for key, tracker in self.trackers.items()}
        results[gan_support.NonFiniteGuard.KEY] = gan_support.first_nonfinite(checks)
        return multi_worker_logs(results)

    @tf.autograph.experimental.do_not_convert
    def test_step(self, data):
        """Critic and generator losses and the Wasserstein estimate on real data, without any update."""
        real = self._real_batch(data, 1)  # evaluation does not split the batch
        seeds = StepSeeds(self.seed ^ 0x5EED, self.step_counter)
        fake = self.generator(seeds.normal((tf.shape(real)[0], self.latent_dim)), training=False)
        f_real = tf.reshape(tf.cast(self.critic(real, training=False), tf.float32), (-1,))
        f_fake = tf.reshape(tf.cast(self.critic(fake, training=False), tf.float32), (-1,))
        self.trackers["critic_loss"].update_state(self.gan_loss.discriminator_loss(f_real, f_fake))
        self.trackers["generator_loss"].update_state(self.gan_loss.generator_loss(f_fake))
        self.trackers["wasserstein_estimate"].update_state(gan_losses.wasserstein_estimate(f_real, f_fake))
        return multi_worker_logs(
            {key: self.trackers[key].result() for key in ("critic_loss", "generator_loss", "wasserstein_estimate")}
        )

    # ------------------------------------------------------------------------------------------ fitting
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, **kwargs):
        """`keras.Model.fit` on real samples, after checking them and with a NaN guard.

        `x` is an array (NumPy or tensor) or a `tf.data.Dataset` (or anything else `keras.Model.fit` takes,
        passed on unchecked); see "Data" in the class docstring for how each is batched.

        * Array: `batch_size` (default 32) is the **critic** batch. Each step takes `n_critic × batch_size`
          rows (one critic batch per critic update), so an epoch has `len(x) // (n_critic × batch_size)`
          steps; rows are reshuffled every epoch (`shuffle=True`, Keras' default), and the rows left over
          after the last full step are not used in that epoch. The whole array is checked (shape, dtype,
          NaN/Inf, `data_range`); `validation_split` takes the last rows as `validation_data`.
        * Dataset: each element is one step of `n_critic` critic batches, as is. The element spec and the
          first batch are checked (shape, dtype, NaN/Inf, `data_range`), and a batch size that is not a
          multiple of `n_critic` is refused.

        Labels (`y`, or the second item of dataset elements) are ignored, with a warning. A `NonFiniteGuard`
        is put first among the callbacks: a NaN or Inf raises `FloatingPointError` naming the term it
        started in. A critic with dropout-like layers under a penalty that follows the adversarial direction
        ("alp", "unconstrained") gets a warning (class docstring, "Stochastic critics").

        Raises:
            ValueError: for data of the wrong shape or dtype, NaN/Inf or out-of-range values, an empty
                array, an array with fewer rows than one step, a dataset batch size that is not a multiple
                of `n_critic`, or `sample_weight`/`class_weight` (a GAN has no per-sample weights).
        """
        for key in ("sample_weight", "class_weight"):
            if kwargs.get(key) is not None:
                raise ValueError(f"`LipschitzGAN.fit` does not take `{key}`. Received: {key}={kwargs[key]!r}")
        self._warn_if_labels(x, y)
        self._warn_if_stochastic_critic()
        if isinstance(x, (np.ndarray, tf.Tensor)):
            x, kwargs = self._array_dataset(x, batch_size, kwargs)
        elif isinstance(x, tf.data.Dataset):
            self._check_first_batch(x)
        if isinstance(x, tf.data.Dataset):
            kwargs.setdefault("shuffle", False)  # a dataset is shuffled by its pipeline; silences Keras' warning
            batch_size = None
        callbacks = list(callbacks or [])
        if not any(isinstance(cb, gan_support.NonFiniteGuard) for cb in callbacks):
            callbacks.insert(0, gan_support.NonFiniteGuard())
        return super().fit(x, None, batch_size=batch_size, epochs=epochs, verbose=verbose, callbacks=callbacks,
                           **kwargs)

    def _warn_if_labels(self, x, y) -> None:
        spec = x.element_spec if isinstance(x, tf.data.Dataset) else None
        if y is not None or (isinstance(spec, (tuple, list)) and len(spec) > 1):
            where = "`y`" if y is not None else "the dataset's elements after their first item"
            warnings.warn(
                f"{self.name}: a GAN trains on real samples only; the labels passed as {where} are ignored.",
                stacklevel=3,
            )

    def _warn_if_stochastic_critic(self) -> None:
        if self.penalty not in ("alp", "unconstrained"):
            return
        names = gan_support.stochastic_layers(self.critic)
        if names:
            warnings.warn(
                f"{self.name}: the critic has layers that draw noise in training mode ({', '.join(names)}) and the "
                f"penalty {self.penalty!r} follows the adversarial direction: f(x) and f(x + r) then see different "
                "noise, so the direction and the ratio d_Y/d_X follow the noise rather than the critic's slope. "
                "See 'Stochastic critics' in the LipschitzGAN docstring.",
                stacklevel=3,
            )

    def _array_dataset(self, x, batch_size, kwargs):
        """The dataset of steps of `n_critic` critic batches of `batch_size` rows of the checked array `x`."""
        kwargs = dict(kwargs)
        if len(x) == 0:
            raise ValueError(f"The training array is empty: shape {tuple(x.shape)}.")
        gan_support.check_real_spec(x.shape, x.dtype, self.sample_shape, 1, where="array")
        gan_support.check_real_values(x, self.data_range, where="array")
        batch_size = check_int("batch_size", 32 if batch_size is None else batch_size)
        split = kwargs.pop("validation_split", 0.0) or 0.0
        if split:
            n_val = int(len(x) * check_float("validation_split", split, maximum=1.0))
            kwargs.setdefault("validation_data", x[len(x) - n_val:])
            kwargs.setdefault("validation_batch_size", batch_size)
            x = x[:len(x) - n_val]
        shuffle = kwargs.pop("shuffle", True)
        return gan_support.array_dataset(x, batch_size, self.n_critic, shuffle=shuffle, seed=self.seed), kwargs

    def _check_first_batch(self, x):
        spec = x.element_spec
        spec = spec[0] if isinstance(spec, (tuple, list)) else spec
        if not isinstance(spec, tf.TensorSpec):
            return
        gan_support.check_real_spec(spec.shape, spec.dtype, self.sample_shape, self.n_critic)
        for element in x.take(1):
            batch = element[0] if isinstance(element, (tuple, list)) else element
            gan_support.check_split(int(batch.shape[0]), self.n_critic)
            gan_support.check_real_values(batch.numpy(), self.data_range)
            break
        else:
            raise ValueError("The training dataset is empty: it yielded no batch of real samples.")

    # ---------------------------------------------------------------------------------------- sampling
    def latent_noise(self, n: int, seed: int | None = None) -> np.ndarray:
        """n latent vectors z ~ N(0, I) as a float32 array; the same for the same `seed`."""
        rng = np.random.default_rng(seed)
        return rng.standard_normal((int(n), self.latent_dim)).astype("float32")

    def generate(self, n: int, batch_size: int = 256, *, seed: int | None = None, z=None,
                 ema: bool = False) -> np.ndarray:
        """Generates n samples (inference mode) as a NumPy array, `batch_size` at a time.

        Args:
            n: Number of samples.
            batch_size: Generator batch size.
            seed: Seed of the latent noise (None: fresh noise).
            z: Latent vectors to use instead of random ones, shape (n, latent_dim).
            ema: Sample with the moving average of the generator's weights (`generator_ema`).

        Returns:
            An array (n, *sample_shape).

        Raises:
            ValueError: for `ema=True` on a model without `generator_ema`.
        """
        if ema:
            with self.ema_weights():
                return self.generate(n, batch_size, seed=seed, z=z)
        z = self.latent_noise(n, seed) if z is None else np.asarray(z, "float32")
        outputs = [
            keras.ops.convert_to_numpy(self._generate_batch(tf.constant(z[i:i + batch_size])))
            for i in range(0, len(z), batch_size)
        ]
        return np.concatenate(outputs, 0) if outputs else np.zeros((0,) + self.sample_shape, "float32")

    @tf.function(reduce_retracing=True)
    def _generate_batch(self, z):
        return self.generator(z, training=False)

    def fixed_noise_sampler(self, n: int = 64, seed: int = 0, *, ema: bool = False):
        """A `FixedNoiseSampler` drawing the same n latent vectors every time (for image grids over training).

        With `ema=True` it samples with the generator's moving average (`generator_ema`).
        """
        from tf_lipschitz.models.sampling import FixedNoiseSampler

        if ema and self.generator_ema is None:
            raise ValueError("`ema=True` needs a model with a generator moving average (`generator_ema=β`).")
        return FixedNoiseSampler(self, n=n, seed=seed, ema=ema)

    # ------------------------------------------------------------------------------------ serialization
    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "generator": keras.saving.serialize_keras_object(self.generator),
            "critic": keras.saving.serialize_keras_object(self.critic),
            "latent_dim": self.latent_dim,
            "loss": self.gan_loss.name,
            "alpha": self.gan_loss.alpha,
            "include_constant": self.gan_loss.include_constant,
            "penalty": self.penalty,
            "penalty_weight": self.penalty_weight,
            "penalty_kwargs": self.resolved_penalty.serialized_kwargs() if self.resolved_penalty else {},
            "regularize": self.regularize,
            "both_reduction": self.both_reduction,
            "generator_ema": self.generator_ema,
            "n_critic": self.n_critic,
            "generator_batch_multiplier": self.generator_batch_multiplier,
            "drift": self.drift,
            "data_range": list(self.data_range) if self.data_range else None,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        trainable = config.pop("trainable", True)
        for key in ("generator", "critic"):
            config[key] = keras.saving.deserialize_keras_object(config[key], custom_objects=custom_objects)
        config["penalty_kwargs"] = penalties.specs.deserialize_kwargs(config.get("penalty_kwargs"), custom_objects)
        model = cls(**config)
        model.trainable = trainable
        return model

    def save_own_variables(self, store):
        # The step counter drives all training noise: saving it makes resumed runs repeat uninterrupted ones.
        store["step_counter"] = keras.ops.convert_to_numpy(self.step_counter)
        for average in self.ema_variables:
            store[average.name] = keras.ops.convert_to_numpy(average)

    def load_own_variables(self, store):
        for average in self.ema_variables:
            if average.name in store:
                average.assign(np.asarray(store[average.name]))
            else:
                warnings.warn(f"{self.name}: no `{average.name}` in the saved state; the generator average "
                              "keeps its initial value.")
        if "step_counter" in store:
            self.step_counter.assign(np.asarray(store["step_counter"]).astype("int64"))
        else:
            warnings.warn(f"{self.name}: no `step_counter` in the saved state; training noise restarts from step 0.")


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class WGANALP(LipschitzGAN):
    """WGAN-ALP with the ALP paper's setup (§5, Eq. 26) as defaults.

    WGAN loss, Adversarial Lipschitz Penalty with λ = 100, K = 1, ξ = 10, ε ~ U[0.1, 10], k = 1 power
    iteration, d_X = l2, d_Y = |·|, squared violation, applied to both the real and the generated
    batches with λ times one mean over the joined batch (`both_reduction="mean"`, the author's CIFAR-10
    code); n_critic = 5 and a generator batch twice the critic batch. That code also clips the probe and
    x̂ to [-1, 1]; pass `penalty_kwargs={"clip": (-1, 1), "clip_probe": True}` for it (default: no clip). ξ and ε are in the units of the
    data and suit 32×32×3 images in [-1, 1]; for 2-D data of unit scale pass
    `penalty_kwargs={"xi": 1.0, "epsilon": (0.01, 0.5)}`. `penalty_kwargs={"xi": 0.0}` takes the limit ξ → 0
    (the direction ±∇f(x)/‖∇f(x)‖ from the critic-loss pass; cheaper, and better FID on MNIST in the README's
    sweep). Other arguments as `LipschitzGAN`.

    Example:
        >>> gan = WGANALP(gen, critic, latent_dim=2, penalty_kwargs={"xi": 1.0, "epsilon": (0.01, 0.5)})  # doctest: +SKIP
    """

    ALP_DEFAULTS = penalties.get("alp").spec.defaults  # K, xi, epsilon, power_iterations of the paper

    def __init__(self, generator, critic, *, latent_dim, loss="wgan", penalty="alp", penalty_weight=100.0,
                 penalty_kwargs=None, regularize="both", n_critic=5, generator_batch_multiplier=2, **kwargs):
        spec = _resolve_penalty(penalty, None)
        if spec is not None:  # the paper's setting of the penalty, declared once in `penalties.get`
            penalty_kwargs = {**spec.spec.defaults, **(penalty_kwargs or {})}
        super().__init__(
            generator, critic, latent_dim=latent_dim, loss=loss, penalty=penalty, penalty_weight=penalty_weight,
            penalty_kwargs=penalty_kwargs, regularize=regularize, n_critic=n_critic,
            generator_batch_multiplier=generator_batch_multiplier, **kwargs,
        )


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class WGANGP(LipschitzGAN):
    """WGAN-GP (Gulrajani et al., 2017) for side-by-side comparison with `WGANALP`.

    WGAN loss with the two-sided gradient penalty λ·E(‖∇f(x̃)‖₂ − 1)² at random interpolates x̃ between
    real and generated samples, λ = 10, n_critic = 5, generator batch twice the critic batch. Other
    arguments as `LipschitzGAN`.
    """

    def __init__(self, generator, critic, *, latent_dim, loss="wgan", penalty="gp", penalty_weight=10.0,
                 regularize="interpolate", n_critic=5, generator_batch_multiplier=2, **kwargs):
        super().__init__(
            generator, critic, latent_dim=latent_dim, loss=loss, penalty=penalty, penalty_weight=penalty_weight,
            regularize=regularize, n_critic=n_critic, generator_batch_multiplier=generator_batch_multiplier,
            **kwargs,
        )
