"""The training and evaluation step of `LipschitzGAN`: `n_critic` critic updates, then one generator update.

One `train_step` takes a dataset element, splits it into `n_critic` critic batches (`GANIntake.split`), runs one
critic update per batch, then one generator update on `generator_batch_multiplier` × the critic batch. Where the
penalty is applied follows `regularize`, and how it is called follows its declaration (`penalties.PenaltyCall`):
a penalty on "pair" points draws them itself from (real, fake); a "batch" penalty gets the chosen batch and, when
it `reuses_fx`, the critic outputs the loss computed; with `regularize="both"` the two halves are penalized
apart and joined by the declaration's `combine`, or, for `halves="together"` (the unconstrained WGAN's price of
the max L over both halves), passed together to one call that joins them before its statistic.

Each update returns its logs and its named terms; the step records the terms' finiteness (`TermChecks`), so
that `NonFiniteGuard` can name the first that became NaN or Inf.

Normalized layers advance their power iteration once per update (`advance_power_iteration`), and every call
inside the update runs in `power_iteration_frozen`, so one update uses one σ per layer.
"""

from __future__ import annotations

import tensorflow as tf

from tf_lipschitz import losses as gan_losses
from tf_lipschitz import penalties
from tf_lipschitz.foundations.replicas import multi_worker_logs
from tf_lipschitz.layers import advance_power_iteration, power_iteration_frozen
from tf_lipschitz.models.diagnostics import EVALUATION_LOGS, NonFiniteGuard, TermChecks
from tf_lipschitz.penalties.noise import StepSeeds

__all__ = ["train_step", "evaluation_step", "penalty_at"]


def penalty_at(penalty: penalties.Penalty, f, sample: str, real, fake, f_real, f_fake,
               seeds: StepSeeds) -> penalties.PenaltyResult:
    """The `PenaltyResult` of `penalty` at the points `sample` ("real", "fake" or "interpolate") of a critic batch.

    Args:
        penalty: The configured penalty; its `call` declaration says how it is called.
        f: The critic in training mode.
        sample: Where to apply it.
        real, fake: The critic batch's real and generated samples.
        f_real, f_fake: The critic's outputs on them (reused when the penalty declares `reuses_fx`).
        seeds: The step's seeds.

    Returns:
        The penalty and its diagnostics.
    """
    options = {"seed": seeds, "check_numerics": False}
    if penalty.call.points == "pair":  # it draws its points from (real, fake) itself
        return penalty(f, real, fake, sample=sample, **options)
    if sample == "interpolate":
        u = tf.cast(seeds.uniform((tf.shape(real)[0],) + (1,) * (len(real.shape) - 1)), real.dtype)
        return penalty(f, fake + u * (real - fake), **options)
    x, fx = (real, f_real) if sample == "real" else (fake, f_fake)
    if penalty.call.reuses_fx:
        options["fx"] = fx
    return penalty(f, x, **options)


def _penalty(gan, real, fake, f_real, f_fake, seeds) -> penalties.PenaltyResult:
    """The penalty's `PenaltyResult` on the samples chosen by `regularize` (see `both_reduction`)."""
    f = gan.critic_in_training
    penalty = gan.resolved_penalty
    if penalty is None:  # Diagnostics only, from the forward passes already made.
        return penalties.lipschitz_quotient_penalty.unchecked(
            f, real, fake, fx=tf.stop_gradient(f_real), fy=tf.stop_gradient(f_fake), check_numerics=False,
        )
    if gan.regularize != "both":
        return penalty_at(penalty, f, gan.regularize, real, fake, f_real, f_fake, seeds)
    # Reals and fakes in separate passes: f(x̂) sees the batch composition f(x) was computed in.
    if penalty.call.halves == "together":  # one statistic of both halves (the unconstrained max L), priced once
        options = {"fx": (f_real, f_fake)} if penalty.call.reuses_fx else {}
        return penalty(f, (real, fake), seed=seeds, check_numerics=False, **options)
    halves = [penalty_at(penalty, f, sample, real, fake, f_real, f_fake, seeds) for sample in ("real", "fake")]
    return penalty.call.combine(*halves, reduction=gan.both_reduction)


def _scores(f, x):
    return tf.reshape(tf.cast(f(x), tf.float32), (-1,))


def _critic_update(gan, real, seeds, scale, index: int) -> tuple[dict, list]:
    """One critic update on the real batch `real`: (its logs, unscaled and per replica; its named terms)."""
    advance_power_iteration(gan.critic)
    with power_iteration_frozen(gan.critic, gan.generator):
        z = seeds.normal((tf.shape(real)[0], gan.latent_dim))
        fake = tf.stop_gradient(tf.cast(gan.generator(z, training=True), real.dtype))
        with tf.GradientTape() as tape:
            f_real, f_fake = _scores(gan.critic_in_training, real), _scores(gan.critic_in_training, fake)
            gan_loss = gan.gan_loss.discriminator_loss(f_real, f_fake)
            result = _penalty(gan, real, fake, f_real, f_fake, seeds)
            drift = tf.reduce_mean(tf.square(f_real))
            total = gan_loss + gan.drift * drift
            if gan.penalty is not None:
                total = total + gan.penalty_weight * result.penalty
            scaled = total * scale
        variables = gan.critic.trainable_variables
        grads = tape.gradient(scaled, variables)
    gan.critic_optimizer.apply_gradients(zip(grads, variables))
    prefix = f"critic update {index + 1}/{gan.n_critic}: "
    terms = [
        ("critic output on real samples", f_real), ("critic output on generated samples", f_fake),
        ("GAN loss", gan_loss), (f"penalty ({gan.penalty})" if gan.penalty else "Lipschitz ratio", result),
        ("drift term", drift), ("critic gradients", grads),
    ]
    logs = {
        "critic_loss": total,
        "wasserstein_estimate": gan_losses.wasserstein_estimate(f_real, f_fake),
        "penalty": result.penalty if gan.penalty is not None else tf.zeros(()),
        "ratio_mean": result.ratio_mean,
        "ratio_max": result.ratio_max,
        "violation_fraction": result.violation_fraction,
    }
    return logs, [(prefix + label, values) for label, values in terms]


def _generator_update(gan, batch_size, seeds, scale) -> tuple:
    """One generator update on `batch_size` latent vectors: (its loss, its named terms)."""
    advance_power_iteration(gan.generator)
    with power_iteration_frozen(gan.generator, gan.critic):
        z = seeds.normal((batch_size, gan.latent_dim))
        with tf.GradientTape() as tape:
            fake = gan.generator(z, training=True)
            f_fake = _scores(gan.critic_in_training, fake)
            loss = gan.gan_loss.generator_loss(f_fake)
            scaled = loss * scale
        variables = gan.generator.trainable_variables
        grads = tape.gradient(scaled, variables)
    gan.generator_optimizer.apply_gradients(zip(grads, variables))
    gan.update_generator_average()
    terms = [
        ("generator output", fake), ("critic output on the generator batch", f_fake),
        ("generator loss", loss), ("generator gradients", grads),
    ]
    return loss, [("generator update: " + label, values) for label, values in terms]


def train_step(gan, data) -> dict:
    """`n_critic` critic updates, one per critic batch of the element `data`, then one generator update.

    Returns:
        The tracked logs (running means), plus `NonFiniteGuard.KEY`: the one-hot flags of the first non-finite
        term; the terms' labels are left in `gan.nonfinite_labels`.
    """
    if gan.critic_optimizer is None:
        raise RuntimeError("Call `compile()` before `fit()`.")
    chunks, chunk = gan.intake.split(gan.intake.real_batch(data, gan.n_critic))
    scale = 1.0 / tf.distribute.get_strategy().num_replicas_in_sync
    seeds = StepSeeds(gan.seed, gan.step_counter)
    checks = TermChecks()
    for i, x in enumerate(chunks):
        logs, terms = _critic_update(gan, x, seeds, scale, i)
        for label, values in terms:
            checks.record(label, values)
        for key, value in logs.items():
            gan.trackers[key].update_state(value)
    g_loss, terms = _generator_update(gan, chunk * gan.generator_batch_multiplier, seeds, scale)
    for label, values in terms:
        checks.record(label, values)
    gan.trackers["generator_loss"].update_state(g_loss)
    gan.step_counter.assign_add(1)
    gan.nonfinite_labels = tuple(checks.labels)
    results = {key: tracker.result() for key, tracker in gan.trackers.items()}
    results[NonFiniteGuard.KEY] = checks.flags()
    return multi_worker_logs(results)


def evaluation_step(gan, data) -> dict:
    """Critic and generator losses and the Wasserstein estimate on real data, without any update."""
    real = gan.intake.real_batch(data, 1)  # evaluation does not split the batch
    seeds = StepSeeds(gan.seed ^ 0x5EED, gan.step_counter)
    fake = gan.generator(seeds.normal((tf.shape(real)[0], gan.latent_dim)), training=False)
    f_real = _scores(lambda t: gan.critic(t, training=False), real)
    f_fake = _scores(lambda t: gan.critic(t, training=False), fake)
    gan.trackers["critic_loss"].update_state(gan.gan_loss.discriminator_loss(f_real, f_fake))
    gan.trackers["generator_loss"].update_state(gan.gan_loss.generator_loss(f_fake))
    gan.trackers["wasserstein_estimate"].update_state(gan_losses.wasserstein_estimate(f_real, f_fake))
    return multi_worker_logs({key: gan.trackers[key].result() for key in EVALUATION_LOGS})
