"""Penalty declarations: options checked once, alone and combined, when a penalty is made; how a loop calls it."""

from unittest import mock

import numpy as np
import pytest
import tensorflow as tf

from tf_lipschitz import penalties
from tf_lipschitz.penalties import PenaltyResult, adversarial_lipschitz_penalty, options
from tf_lipschitz.penalties.noise import StepSeeds, per_replica, seed_tensor

W = tf.constant([[0.0], [3.0]])  # f(x) = w·x, ‖w‖ = 3


def f(x):
    return x @ W


@pytest.mark.parametrize(
    "name, kwargs, match",
    [
        ("alp", {"clip_probe": True}, r"`clip_probe=True` needs a `clip` range. Received: clip=None, clip_probe=True"),
        ("alp", {"xi": 0, "d_y": "kl"}, r"`xi=0`.*needs `d_y` in \('abs', 'l2'\).*Received: xi=0, d_y='kl'"),
        ("alp", {"xi": 0.0, "d_y": "mse_logits"}, r"Received: xi=0, d_y='mse_logits'"),
        ("gp", {"K": 1.0, "target": 2.0}, r"`K` and `target` name the same option.*Received: K=1.0, target=2.0"),
        ("lp", {"K": 1.0, "target": 1.0}, r"`K` and `target`"),
        ("alp", {"eps": 1.0}, r"Unknown arguments of penalty 'alp': \['eps'\]"),
    ],
)
def test_combinations_are_refused_when_the_penalty_is_made(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        penalties.get(name, **kwargs)


def test_good_combinations_pass():
    assert penalties.get("alp", xi=0, d_y="l2").kwargs == {"xi": 0, "d_y": "l2"}
    assert penalties.get("alp", clip=(-1, 1), clip_probe=True).kwargs["clip_probe"] is True
    assert penalties.get("unconstrained", xi=0).kwargs == {"xi": 0}  # its d_y is |·|: the limit exists


def test_get_takes_a_configured_penalty_or_its_config_like_keras():
    alp = penalties.get("alp", xi=1.0, epsilon=(0.1, 1.0))
    assert penalties.get(alp) is alp
    assert penalties.get(alp.get_config()).kwargs == alp.kwargs
    with pytest.raises(ValueError, match=r"carries its own options.*Received: penalty=Penalty\('alp'"):
        penalties.get(alp, xi=2.0)
    with pytest.raises(ValueError, match=r"Unknown `penalty`.*Received: penalty=3"):
        penalties.get(3)


def test_each_option_is_checked_once_per_call_path():
    """A configured penalty is not checked again when called; a direct call checks its options once."""
    x = tf.ones((4, 2))
    with mock.patch.object(options, "check_options", wraps=options.check_options) as spy:
        alp = penalties.get("alp", xi=1.0, epsilon=(0.1, 1.0))
        assert spy.call_count == 1  # when it is made
        configured = alp(f, x, seed=0)
        assert spy.call_count == 1  # not again: not by ALP, not by its perturbation
        direct = adversarial_lipschitz_penalty(f, x, xi=1.0, epsilon=(0.1, 1.0), seed=0)
        assert spy.call_count == 2  # once, at the entry of the public function
        penalties.unconstrained_wgan_penalty(f, x, alpha=2.0, seed=0)
        assert spy.call_count == 3  # not again by the ratios, the statistic or the price it calls
    np.testing.assert_allclose([float(v) for v in configured], [float(v) for v in direct], rtol=1e-6)
    np.testing.assert_allclose(float(direct.ratio_mean), 3.0, rtol=1e-5)  # the closed form at a linear f


def test_the_declaration_says_how_a_loop_calls_each_penalty():
    for name in ("gp", "lp", "r1"):
        call = penalties.get(name).call
        assert (call.points, call.reuses_fx, call.own_forward, call.compares_calls) == ("pair", False, True, False)
    for name in ("alp", "unconstrained"):
        call = penalties.get(name).call
        assert (call.points, call.reuses_fx, call.own_forward, call.compares_calls) == ("batch", True, False, True)
    for name in ("alp", "gp", "lp", "r1"):  # batch means of per-sample terms: priced per half, then joined
        call = penalties.get(name).call
        assert (call.halves, call.combine, call.reductions) == ("apart", penalties.join_halves, ("mean", "sum"))
    call = penalties.get("unconstrained").call  # one price of the max L over both halves (issue 25 §6)
    assert (call.halves, call.combine, call.reductions) == ("together", None, ("mean",))
    with pytest.raises(ValueError, match="halves='together'"):
        penalties.PenaltyCall(points="pair", halves="together", combine=None)


def test_join_halves_matches_one_pass_over_the_joined_batch():
    real = penalties.get("alp", xi=1.0, epsilon=0.5)(f, tf.ones((4, 2)), seed=0)
    fake = penalties.get("alp", xi=1.0, epsilon=0.5)(f, -tf.ones((4, 2)), seed=1)
    joined = penalties.join_halves(real, fake)
    both = penalties.get("alp", xi=1.0, epsilon=0.5)(f, tf.concat([tf.ones((4, 2)), -tf.ones((4, 2))], 0), seed=0)
    np.testing.assert_allclose([float(v) for v in joined], [float(v) for v in both], rtol=1e-6)  # (3 − 1)² = 4
    assert float(penalties.join_halves(real, fake, reduction="sum").penalty) == pytest.approx(8.0, rel=1e-5)
    with pytest.raises(ValueError, match="reduction"):
        penalties.join_halves(real, fake, reduction="max")


def test_replica_is_folded_into_every_seed_exactly_once():
    step = tf.constant(3, tf.int64)
    # Outside a strategy nothing is folded: a penalty's seed from the step's seeds is the step's own seed.
    np.testing.assert_array_equal(seed_tensor(StepSeeds(7, step)), StepSeeds(7, step).next())
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])

    @tf.function
    def per_replica_seeds():
        def replica_fn():
            seeds = StepSeeds(7, step)
            penalty_seed = seed_tensor(seeds)  # call 1
            latent = seeds.normal((3,))  # call 2
            unfolded = StepSeeds(7, step)
            expected_penalty = per_replica(unfolded.next())
            expected_latent = tf.random.stateless_normal((3,), per_replica(unfolded.next()), alg="philox")
            return penalty_seed, expected_penalty, latent, expected_latent

        return strategy.run(replica_fn)

    results = [[np.asarray(t) for t in strategy.experimental_local_results(v)] for v in per_replica_seeds()]
    penalty_seed, expected_penalty, latent, expected_latent = results
    for r in range(2):
        np.testing.assert_array_equal(penalty_seed[r], expected_penalty[r])
        np.testing.assert_array_equal(latent[r], expected_latent[r])
    assert not np.array_equal(penalty_seed[0], penalty_seed[1]) and not np.allclose(latent[0], latent[1])
    # Replica 0 of the strategy is folded too (it is not the single-device stream).
    assert not np.array_equal(penalty_seed[0], StepSeeds(7, step).next())


def test_penalty_result_fields_are_the_logged_diagnostics():
    result = PenaltyResult(1.0, 2.0, 3.0, 0.5)
    assert result.logs("alp_") == {"alp_penalty": 1.0, "alp_ratio_mean": 2.0, "alp_ratio_max": 3.0,
                                   "alp_violation_fraction": 0.5}
