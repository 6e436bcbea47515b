"""Lipschitz-regularized GANs as Keras models: `LipschitzGAN` (the paper setups `WGANALP` and `WGANGP` are in `wgan`).

One `fit` step is one generator iteration, as in the papers: **each dataset element holds `n_critic` critic
batches**, one per critic update (`LipschitzGAN.fit`, "Data").

Sign convention (see `tf_lipschitz.losses`): the critic scores real samples high. For WGAN the critic
minimizes E f(g(z)) − E f(x) (+ λ·penalty + ε_drift·E f(x)²) and the logged `wasserstein_estimate`
is E f(x) − E f(g(z)).

The model holds the configuration, the state and the Keras plumbing; its step lives in `gan_step`, its data
intake in `intake` (`GANIntake`), its logs and NaN guard in `diagnostics`, and its generator average in
`averaging` (`WeightAverage`).

Reference:
    Terjék, "Adversarial Lipschitz Regularization", ICLR 2020, §5 (WGAN-ALP, Eq. 26).
    Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017 (WGAN-GP).
    Karras et al., "Progressive Growing of GANs", ICLR 2018 (ε_drift).
    "How does Lipschitz regularization influence GAN training?" (losses and domain scaling α).
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
import tensorflow as tf

from tf_lipschitz import losses as gan_losses
from tf_lipschitz import penalties
from tf_lipschitz.foundations.defaults import N_CRITIC
from tf_lipschitz.foundations.replicas import check_jit_compile
from tf_lipschitz.models import gan_step
from tf_lipschitz.models.averaging import WeightAverage
from tf_lipschitz.models.diagnostics import GAN_LOGS, NonFiniteGuard
from tf_lipschitz.models.intake import GANIntake, resolve_data_range, sample_shape
from tf_lipschitz.models.sampling import GeneratorSampling
from tf_lipschitz.foundations.validation import check_choice, check_float, check_int
from tf_lipschitz.penalties.specs import BOTH_REDUCTIONS

__all__ = ["LipschitzGAN", "REGULARIZE", "BOTH_REDUCTIONS"]

REGULARIZE = ("real", "fake", "both", "interpolate")


def _default_optimizer():
    # ALP paper §5, following Gulrajani et al.: Adam(2e-4, β1 = 0, β2 = 0.9).
    return keras.optimizers.Adam(2e-4, beta_1=0.0, beta_2=0.9)


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class LipschitzGAN(GeneratorSampling, keras.Model):
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

    Data: `fit(array, batch_size=b)` uses critic batches of b samples, as a Keras user expects; `fit(dataset)`
    takes each element as one step of n_critic critic batches (see `fit`).

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
            `penalties.unconstrained`), an alias, or a configured penalty, `penalties.get("alp", xi=0)`, as
            Keras takes `optimizer=`. Resolved by `penalties.get` into `resolved_penalty` (`penalty` keeps
            the canonical name); its options are checked, alone and combined, here.
        penalty_weight: λ ≥ 0; None takes the penalty's usual value (ALP 100, GP 10, LP 10, R1 5,
            unconstrained 1).
        penalty_kwargs: Keyword options of the penalty function (with a name as `penalty`; a configured
            penalty carries its own), e.g. for ALP `xi`, `epsilon`, `K`,
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
            "sum" requires regularize="both". "unconstrained" is priced once on both halves (the price of
            the max L over them, `penalties.unconstrained_wgan_penalty`; its declaration is
            `PenaltyCall(halves="together")`) and refuses "sum".
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
        ValueError: naming the argument and value, for an unknown loss or penalty, unknown penalty options or
            invalid combinations of them (`clip_probe` without `clip`, `xi=0` with a `d_y` other than "abs" or
            "l2", `K` with `target`), `penalty_kwargs` with a configured penalty or without a penalty, negative
            penalty_weight or drift, n_critic < 1, an unknown `regularize` or `both_reduction`,
            `both_reduction="sum"` without regularize="both", a `generator_ema` outside [0, 1), or a
            generator output shape that differs from the critic's input shape.

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


    def __init__(self, generator, critic, *, latent_dim: int, loss="wgan", alpha: float | None = None,
                 penalty=None, penalty_weight: float | None = None, penalty_kwargs: dict | None = None,
                 regularize: str = "both", n_critic: int = N_CRITIC, generator_batch_multiplier: int = 2,
                 drift: float = 0.0, data_range="auto", seed: int | None = None,
                 include_constant: bool | None = None, both_reduction: str = "mean",
                 generator_ema: float | None = None, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.latent_dim = check_int("latent_dim", latent_dim)
        self.gan_loss = gan_losses.get(loss, alpha, include_constant=include_constant)
        self.resolved_penalty = penalties.resolve(penalty, penalty_kwargs)
        self.penalty = self.resolved_penalty.name if self.resolved_penalty else None
        self.penalty_kwargs = self.resolved_penalty.kwargs if self.resolved_penalty else {}
        if penalty_weight is None:
            penalty_weight = self.resolved_penalty.penalty_weight if self.resolved_penalty else 0.0
        self.penalty_weight = check_float("penalty_weight", penalty_weight, inclusive=True)
        self.regularize = check_choice("regularize", regularize, REGULARIZE)
        self.both_reduction = check_choice("both_reduction", both_reduction, BOTH_REDUCTIONS)
        if self.both_reduction == "sum" and self.regularize != "both":
            raise ValueError(f"`both_reduction='sum'` needs regularize='both'. Received: regularize={regularize!r}")
        if self.resolved_penalty and self.both_reduction not in self.resolved_penalty.call.reductions:
            raise ValueError(
                f"`both_reduction={self.both_reduction!r}` does not apply to penalty {self.penalty!r}: it prices one "
                "statistic of both halves together (the unconstrained WGAN's max L), not a mean per sample "
                f"(`PenaltyCall.halves={self.resolved_penalty.call.halves!r}`). "
                f"Allowed: {self.resolved_penalty.call.reductions}. Received: both_reduction={self.both_reduction!r}"
            )
        self.n_critic = check_int("n_critic", n_critic)
        self.generator_batch_multiplier = check_int("generator_batch_multiplier", generator_batch_multiplier)
        self.drift = check_float("drift", drift, inclusive=True)
        self.seed = int(np.random.randint(0, 2**31 - 1)) if seed is None else int(seed)
        self.sample_shape = sample_shape(generator, critic, self.latent_dim)
        self.generator, self.critic = generator, critic
        self.data_range = resolve_data_range(data_range, generator)
        self.intake = GANIntake(self.name, self.sample_shape, self.n_critic, self.data_range, self.seed)
        self.step_counter = self.add_weight(name="step_counter", shape=(), dtype="int64", initializer="zeros",
                                            trainable=False, aggregation="only_first_replica")
        self.generator_average = None if generator_ema is None else WeightAverage(self, generator, generator_ema)
        self.ema_variables = self.generator_average.variables if self.generator_average else []  # saved state
        self.trackers = {key: keras.metrics.Mean(name=key) for key in GAN_LOGS}
        self.nonfinite_labels: tuple = ()  # the terms of the last traced step, named for `NonFiniteGuard`
        self.critic_optimizer = self.generator_optimizer = None
        self.built = True

    generator_ema = property(lambda self: self.generator_average.beta if self.generator_average else None,
                             doc="β of the generator's moving average, or None when the model keeps none.")

    def compile(self, critic_optimizer=None, generator_optimizer=None, *, run_eagerly: bool = False,
                steps_per_execution: int = 1, jit_compile="auto"):
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
                on CPUs (XLA has no CPU collectives; `distribute.check_jit_compile`).
        """
        check_jit_compile(self.distribute_strategy, jit_compile)
        super().compile(optimizer=None, run_eagerly=run_eagerly, steps_per_execution=steps_per_execution,
                        jit_compile=jit_compile)
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
            "steps_per_execution": steps_per_execution, "jit_compile": jit_compile,
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

    def critic_in_training(self, x):
        """The critic's forward pass in training mode, as the step's losses and penalties call it."""
        return self.critic(x, training=True)

    def update_generator_average(self) -> None:
        """Moves the generator's moving average (if any) towards its weights; the step calls it after each update."""
        if self.generator_average is not None:
            self.generator_average.update()

    # All control flow of the steps is Python, unrolled at trace time: keep AutoGraph out (Keras does too).
    @tf.autograph.experimental.do_not_convert
    def train_step(self, data):
        """`n_critic` critic updates, one per chunk of the element `data`, then one generator update (`gan_step`)."""
        return gan_step.train_step(self, data)

    @tf.autograph.experimental.do_not_convert
    def test_step(self, data):
        """Critic and generator losses and the Wasserstein estimate on real data, without any update."""
        return gan_step.evaluation_step(self, data)

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, **kwargs):
        """`keras.Model.fit` on real samples, after checking them (`GANIntake.prepare`) and with a NaN guard.

        Data: `x` is an array (NumPy or tensor) or a `tf.data.Dataset` (anything else `keras.Model.fit` takes
        is passed on unchecked). For an array, `batch_size` (default 32) is the **critic** batch: each step
        takes n_critic·b rows, an epoch has len(x) // (n_critic·b) steps, rows are reshuffled every epoch
        (leftover rows unused in that epoch), the whole array is checked, and `validation_split` takes the
        last rows as `validation_data`. A dataset's elements are steps of n_critic critic batches; its batch
        size must be a multiple of `n_critic` (the element spec and the first batch are checked). A dataset
        batched without `drop_remainder=True` may end an epoch with a partial batch, whose critic batches
        are ⌊size / n_critic⌋ samples. Labels (`y`, or the second item of dataset elements) are ignored with
        a warning; a critic with dropout-like layers under a penalty that compares separate calls of it
        (`PenaltyCall.compares_calls`: "alp", "unconstrained") gets one too (class docstring, "Stochastic
        critics"). A `NonFiniteGuard` is put first among the callbacks: a NaN or Inf raises
        `FloatingPointError` naming the term it started in.

        Raises:
            ValueError: for data of the wrong shape or dtype, NaN/Inf or out-of-range values, an empty
                array, an array with fewer rows than one step, a dataset batch size that is not a multiple
                of `n_critic`, or `sample_weight`/`class_weight` (a GAN has no per-sample weights).
        """
        compares = self.resolved_penalty is not None and self.resolved_penalty.call.compares_calls
        x, batch_size, kwargs = self.intake.prepare(x, y, batch_size, kwargs, self.penalty if compares else None,
                                                    self.critic)
        callbacks = list(callbacks or [])
        if not any(isinstance(cb, NonFiniteGuard) for cb in callbacks):
            callbacks.insert(0, NonFiniteGuard())
        return super().fit(x, None, batch_size=batch_size, epochs=epochs, verbose=verbose, callbacks=callbacks,
                           **kwargs)

    def get_config(self):
        return {
            "name": self.name, "trainable": self.trainable,
            "generator": keras.saving.serialize_keras_object(self.generator),
            "critic": keras.saving.serialize_keras_object(self.critic),
            "latent_dim": self.latent_dim, "loss": self.gan_loss.name, "alpha": self.gan_loss.alpha,
            "include_constant": self.gan_loss.include_constant, "penalty": self.penalty,
            "penalty_weight": self.penalty_weight,
            "penalty_kwargs": self.resolved_penalty.serialized_kwargs() if self.resolved_penalty else {},
            "regularize": self.regularize, "both_reduction": self.both_reduction,
            "generator_ema": self.generator_ema, "n_critic": self.n_critic,
            "generator_batch_multiplier": self.generator_batch_multiplier, "drift": self.drift,
            "data_range": list(self.data_range) if self.data_range else None, "seed": self.seed,
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
        if self.generator_average:
            self.generator_average.save(store)

    def load_own_variables(self, store):
        if self.generator_average:
            self.generator_average.load(store, self.name)
        if "step_counter" in store:
            self.step_counter.assign(np.asarray(store["step_counter"]).astype("int64"))
        else:
            warnings.warn(f"{self.name}: no `step_counter` in the saved state; training noise restarts from step 0.")
