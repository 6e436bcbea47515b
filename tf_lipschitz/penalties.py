"""Lipschitz penalties: Adversarial Lipschitz Regularization (ALP), gradient penalties, the explicit quotient
penalty and VAT's local distributional smoothness.

All penalties return a `PenaltyResult(penalty, ratio_mean, ratio_max, violation_fraction)`: the scalar to add
(times λ) to the loss, plus the diagnostics a training loop logs, computed in the same pass. `ratio` is the
per-sample Lipschitz estimate the penalty acts on: d_Y/d_X for ALP and the quotient penalty, ‖∇ₓf‖₂ for the
gradient penalties. Every function works eagerly, in `tf.function`, with `jit_compile=True`, under a mixed
precision policy (ratios are computed in float32) and per replica under a `tf.distribute` strategy.

This is the one module of the library that uses `tf.GradientTape` directly: the penalties differentiate with
respect to inputs, which `keras.ops` does not express.

Units: `xi` and `epsilon` are lengths in the units of the data. The paper's ε ~ U[0.1, 10], ξ = 10 suit
32×32×3 images in [-1, 1] (two such images are typically ≈ 40 apart). On 2-D data of unit scale they are far too
large, and the critic over-estimates W1: on two unit Gaussians 3 apart (W1 = 3) we measured +4-10 % at λ = 100
and +80 % at λ = 10 (a factor of 2.7 has been reported), against +1 % and +17 % with ε ~ U[0.01, 0.5], ξ = 1.
`RelativeEpsilon` draws ε as a fraction of the batch's typical pairwise distance instead;
`RelativeEpsilon(0.003, 0.2)` matches both settings.

Reference:
    Terjék, "Adversarial Lipschitz Regularization", ICLR 2020 (Eqs. 8-32; appendix A.2, A.3).
    Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017 (GP).
    Petzka, Fischer and Lukovnikov, "On the regularization of Wasserstein GANs", ICLR 2018 (LP).
    Mescheder, Geiger and Nowozin, "Which Training Methods for GANs do actually Converge?", ICML 2018 (R1).
    Miyato et al., "Virtual Adversarial Training", TPAMI 2018 (VAT).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence, Union

import keras
import tensorflow as tf

from tf_lipschitz.ops import check_power_iterations

__all__ = [
    "PenaltyResult",
    "VALID_D_X",
    "VALID_D_Y",
    "VALID_REDUCTIONS",
    "HalfNormalEpsilon",
    "RelativeEpsilon",
    "typical_pairwise_distance",
    "adversarial_perturbation",
    "adversarial_lipschitz_penalty",
    "gradient_penalty",
    "lipschitz_quotient_penalty",
    "virtual_adversarial_loss",
]

_TINY = 1e-12

Tensor = Any
Seed = Union[int, keras.random.SeedGenerator, None]
EpsilonSampler = Callable[[Tensor, Tensor], Tensor]
Epsilon = Union[float, Sequence[float], EpsilonSampler]


class PenaltyResult(NamedTuple):
    """A penalty and its diagnostics, all float32 scalars (per replica under a distribution strategy).

    Attributes:
        penalty: The batch mean to add, times λ, to the loss; differentiable with respect to f's weights.
        ratio_mean: Mean over the batch of the per-sample Lipschitz estimate (no gradient).
        ratio_max: Its maximum over the batch (no gradient).
        violation_fraction: Fraction of samples whose estimate exceeds the target K (no gradient).
    """

    penalty: Tensor
    ratio_mean: Tensor
    ratio_max: Tensor
    violation_fraction: Tensor

    def logs(self, prefix: str = "") -> dict[str, Tensor]:
        """The four values as a dict keyed `{prefix}penalty`, `{prefix}ratio_mean`, ... for `fit` logs."""
        return {f"{prefix}{name}": value for name, value in self._asdict().items()}


# ----------------------------------------------------------------------------------------------- metrics
def _flat(t: Tensor) -> Tensor:
    """(batch, ...) → float32 (batch, n)."""
    t = tf.cast(t, tf.float32)
    return tf.reshape(t, (tf.shape(t)[0], -1))


def _flat_outputs(y: Any) -> Tensor:
    """A model output (a tensor or a nest of them) as one float32 (batch, m) tensor."""
    parts = [_flat(t) for t in tf.nest.flatten(y)]
    return parts[0] if len(parts) == 1 else tf.concat(parts, axis=1)


def _safe_sqrt(s: Tensor) -> Tensor:
    """√s with a zero (not NaN) gradient at s = 0; a NaN stays NaN so that bad input is not hidden."""
    zero = tf.equal(s, 0.0)
    return tf.where(zero, 0.0, tf.sqrt(tf.where(zero, 1.0, s)))


def _safe_div(num: Tensor, den: Tensor) -> Tensor:
    """num / den, and 0 (with zero gradient) where den is 0: a sample that did not move carries no information."""
    zero = tf.equal(den, 0.0)
    return tf.where(zero, 0.0, num / tf.where(zero, 1.0, den))


def _d_abs(a: Tensor, b: Tensor) -> Tensor:
    return tf.reduce_sum(tf.abs(a - b), axis=1)


def _d_l2(a: Tensor, b: Tensor) -> Tensor:
    return _safe_sqrt(tf.reduce_sum(tf.square(a - b), axis=1))


def _d_kl(logits_p: Tensor, logits_q: Tensor) -> Tensor:
    log_p = tf.nn.log_softmax(logits_p, axis=1)
    return tf.reduce_sum(tf.exp(log_p) * (log_p - tf.nn.log_softmax(logits_q, axis=1)), axis=1)


def _d_mse_logits(a: Tensor, b: Tensor) -> Tensor:
    return tf.reduce_mean(tf.square(a - b), axis=1)


def _d_linf(d: Tensor) -> Tensor:
    return tf.reduce_max(tf.abs(d), axis=1)


def _d_trivial(d: Tensor) -> Tensor:
    return tf.cast(tf.reduce_any(tf.not_equal(d, 0.0), axis=1), tf.float32)


# d_Y(f(x), f(y)) on (batch, m) outputs; "abs" is the sum of absolute differences (|·| for a scalar critic).
_D_Y: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "abs": _d_abs,
    "l2": _d_l2,
    "kl": _d_kl,
    "mse_logits": _d_mse_logits,
}
# d_X(x, y) of the displacement y − x, flattened to (batch, n); "trivial" is Eq. (14) (VAT's view).
_D_X: dict[str, Callable[[Tensor], Tensor]] = {
    "l2": lambda d: _safe_sqrt(tf.reduce_sum(tf.square(d), axis=1)),
    "l1": lambda d: tf.reduce_sum(tf.abs(d), axis=1),
    "linf": _d_linf,
    "trivial": _d_trivial,
}
_REDUCTIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "squared": tf.square,
    "abs": lambda v: v,
    "squared+abs": lambda v: tf.square(v) + v,
}
VALID_D_Y = tuple(_D_Y)
VALID_D_X = tuple(_D_X)
VALID_REDUCTIONS = tuple(_REDUCTIONS)
_SAMPLES = ("interpolate", "real", "fake", "both")


def _lookup(table: dict, name: str, arg: str):
    if name not in table:
        raise ValueError(f"`{arg}` must be one of {tuple(table)}. Received: {arg}={name!r}")
    return table[name]


# ------------------------------------------------------------------------------------- validation, numerics
def _check_positive(value: float, name: str, allow_zero: bool = False) -> None:
    if isinstance(value, (int, float)) and (value < 0 or (value == 0 and not allow_zero)):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"`{name}` must be {bound}. Received: {name}={value!r}")


def _check_clip(clip: Sequence[float] | None) -> tuple[float, float] | None:
    if clip is None:
        return None
    if len(clip) != 2 or not clip[0] < clip[1]:
        raise ValueError(f"`clip` must be None or a pair (low, high) with low < high. Received: clip={clip!r}")
    return float(clip[0]), float(clip[1])


def _resolve_check(check_numerics: bool | None) -> bool:
    return tf.executing_eagerly() if check_numerics is None else bool(check_numerics)


def _checked(t: Tensor, name: str, check: bool) -> Tensor:
    """Raises `InvalidArgumentError` naming `name` if t has NaN or Inf; with `check` off adds no op at all."""
    if not check:
        return t
    return tf.nest.map_structure(
        lambda v: tf.debugging.check_numerics(v, f"Lipschitz penalty: `{name}` contains NaN or Inf"), t
    )


def _as_float_input(x: Tensor) -> Tensor:
    x = tf.convert_to_tensor(x)
    if not x.dtype.is_floating:
        x = tf.cast(x, keras.config.floatx())
    return x


def _per_sample(v: Tensor, like: Tensor) -> Tensor:
    """(batch,) → (batch, 1, ..., 1) broadcastable against `like`."""
    return tf.reshape(v, [-1] + [1] * (like.shape.rank - 1))


# ---------------------------------------------------------------------------------------------- randomness
# TF's stateless normal costs about one forward pass of a small critic on CPU, and its default algorithm is
# ~100× slower again under XLA on CPU (tens to hundreds of ms for one 64×32×32×3 batch). The power iteration only
# needs a generic random start, so the noise here is a counter-based hash (murmur3's 32-bit finalizer, keyed by
# the seed) of the element index: about one elementwise pass in graphs, fused under XLA, and the same numbers in
# eager mode, in graphs and under XLA.
_GOLDEN = 0x9E3779B1


def _fmix32(h: Tensor) -> Tensor:
    """murmur3's finalizer: a bijection of uint32 with full avalanche."""
    for shift, multiplier in ((16, 0x85EBCA6B), (13, 0xC2B2AE35)):
        h = tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, shift)) * tf.constant(multiplier, tf.uint32)
    return tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, 16))


def _random_bits(shape: Tensor, seed: Tensor, stream: int) -> Tensor:
    """uint32 noise of `shape` from a (2,) int32 seed; `stream` selects an independent sequence."""
    key = tf.bitcast(tf.cast(seed, tf.int32), tf.uint32)
    key0 = _fmix32(tf.bitwise.bitwise_xor(key[0], tf.constant((stream * _GOLDEN + 1) & 0xFFFFFFFF, tf.uint32)))
    key1 = _fmix32(key[1] + key0)
    h = tf.bitcast(tf.range(tf.reduce_prod(shape), dtype=tf.int32), tf.uint32) * tf.constant(_GOLDEN, tf.uint32)
    h = tf.bitwise.bitwise_xor(h + key0, tf.bitwise.right_shift(h + key0, 16)) * tf.constant(0x85EBCA6B, tf.uint32)
    # The second multiplier is keyed too (and kept odd, so the map stays a bijection).
    odd_key = tf.bitwise.bitwise_or(tf.bitwise.bitwise_xor(tf.constant(0xC2B2AE35, tf.uint32), key1), 1)
    h = tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, 13)) * odd_key
    return tf.reshape(tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, 16)), shape)


def _uniform(shape: Tensor, seed: Tensor, stream: int, low: float = 0.0, high: float = 1.0) -> Tensor:
    """float32 U(low, high) noise, never exactly at the ends (23 random mantissa bits)."""
    bits = tf.bitwise.bitwise_or(tf.bitwise.right_shift(_random_bits(shape, seed, stream), 9), 0x3F800000)
    unit = tf.bitcast(bits, tf.float32) - (1.0 - 2.0**-24)  # [1, 2) → (0, 1)
    return low + (high - low) * unit


def _normal(shape: Tensor, seed: Tensor, stream: int) -> Tensor:
    """float32 N(0, 1) noise by the inverse normal CDF."""
    return tf.math.ndtri(_uniform(shape, seed, stream))


def _seed_tensor(seed: Seed) -> Tensor:
    """A (2,) int32 seed: fixed for an int, fresh on every call for a SeedGenerator, and per replica.

    A Python int gives the same noise on every call (also inside `tf.function`, and the same numbers eagerly, in
    graphs and under XLA), which tests want and training loops must avoid: pass a `keras.random.SeedGenerator`
    (or None, Keras' global generator) there.
    """
    if isinstance(seed, bool) or not (seed is None or isinstance(seed, (int, keras.random.SeedGenerator))):
        raise ValueError(f"`seed` must be None, an int or a keras.random.SeedGenerator. Received: seed={seed!r}")
    if isinstance(seed, int):
        base = tf.bitcast(tf.constant([seed & 0xFFFFFFFF, 0], tf.uint32), tf.int32)
    elif isinstance(seed, keras.random.SeedGenerator):  # advances the generator's state variable
        base = tf.bitcast(tf.cast(seed.next(), tf.uint32), tf.int32)
    else:
        base = keras.random.randint((2,), 0, tf.int32.max, dtype="int32", seed=None)
    replica = tf.distribute.get_replica_context()
    if replica is not None and tf.distribute.has_strategy():
        replica_id = tf.cast(replica.replica_id_in_sync_group, tf.uint32)
        shifted = tf.bitcast(base, tf.uint32) + replica_id * tf.constant(0x3C6EF372, tf.uint32)
        base = tf.bitcast(_random_bits((2,), tf.bitcast(shifted, tf.int32), stream=0x7EB), tf.int32)
    return base


def typical_pairwise_distance(x: Tensor) -> Tensor:
    """Root-mean-square L2 distance between two distinct samples of the batch, √(2·n/(n−1)·mean‖xᵢ − x̄‖²).

    An O(n·d) scale of the data (no n×n matrix), used by `RelativeEpsilon`. No gradient flows through it.

    Args:
        x: A batch (n, ...).

    Returns:
        A float32 scalar (0 for a batch of one sample).

    Example:
        >>> round(float(typical_pairwise_distance([[0.0, 0.0], [3.0, 4.0]])), 4)
        5.0
    """
    x = _flat(tf.stop_gradient(tf.convert_to_tensor(x)))
    n = tf.cast(tf.shape(x)[0], tf.float32)
    spread = tf.reduce_mean(tf.reduce_sum(tf.square(x - tf.reduce_mean(x, axis=0)), axis=1))
    return tf.sqrt(2.0 * n / tf.maximum(n - 1.0, 1.0) * spread)


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class RelativeEpsilon:
    """P_ε = U[low, high] × the batch's typical pairwise distance: ε relative to the scale of the data.

    Lets one setting serve data of any scale: with ε ~ U[0.1, 10] on CIFAR-10 in [-1, 1] (typical distance
    ≈ 40) the fractions are ≈ [0.003, 0.25]; with ε ~ U[0.01, 0.5] on two unit 2-D Gaussians 3 apart (≈ 2 to
    2.9) they are ≈ [0.004, 0.2].

    Args:
        low: Smallest fraction, ≥ 0.
        high: Largest fraction, ≥ low.

    Example:
        >>> sampler = RelativeEpsilon(0.1, 0.1)
        >>> eps = sampler(tf.constant([[0.0, 0.0], [30.0, 40.0]]), tf.constant([1, 2]))
        >>> [round(float(e), 4) for e in eps]
        [5.0, 5.0]
    """

    def __init__(self, low: float = 0.003, high: float = 0.2):
        if not 0.0 <= low <= high:
            raise ValueError(f"RelativeEpsilon needs 0 <= low <= high. Received: low={low}, high={high}")
        self.low, self.high = float(low), float(high)

    def __call__(self, x: Tensor, seed: Tensor) -> Tensor:
        return _uniform(tf.shape(x)[:1], seed, 0, self.low, self.high) * typical_pairwise_distance(x)

    def get_config(self) -> dict:
        return {"low": self.low, "high": self.high}

    @classmethod
    def from_config(cls, config: dict) -> "RelativeEpsilon":
        return cls(**config)

    def __repr__(self) -> str:
        return f"RelativeEpsilon(low={self.low}, high={self.high})"


@keras.saving.register_keras_serializable(package="tf_lipschitz")
class HalfNormalEpsilon:
    """P_ε = min(|N(0, stddev²)| + offset, maximum): the clipped half-normal of the paper's toy experiment (§4.2).

    `HalfNormalEpsilon(1e-6, offset=1e-6, maximum=1e-5)` draws from [1e-6, 1e-5], denser near the low end.

    Args:
        stddev: Standard deviation of the normal, > 0.
        offset: Added to the absolute value, ≥ 0.
        maximum: Upper clip, or None.

    Example:
        >>> eps = HalfNormalEpsilon(1.0, offset=0.5, maximum=0.7)(tf.zeros((4, 2)), tf.constant([1, 2]))
        >>> bool(tf.reduce_all((eps >= 0.5) & (eps <= 0.7)))
        True
    """

    def __init__(self, stddev: float, offset: float = 0.0, maximum: float | None = None):
        if stddev <= 0 or offset < 0 or (maximum is not None and maximum <= offset):
            raise ValueError(
                "HalfNormalEpsilon needs stddev > 0, offset >= 0 and maximum > offset. "
                f"Received: stddev={stddev}, offset={offset}, maximum={maximum}"
            )
        self.stddev, self.offset, self.maximum = float(stddev), float(offset), maximum

    def __call__(self, x: Tensor, seed: Tensor) -> Tensor:
        eps = tf.abs(self.stddev * _normal(tf.shape(x)[:1], seed, 0)) + self.offset
        return eps if self.maximum is None else tf.minimum(eps, self.maximum)

    def get_config(self) -> dict:
        return {"stddev": self.stddev, "offset": self.offset, "maximum": self.maximum}

    @classmethod
    def from_config(cls, config: dict) -> "HalfNormalEpsilon":
        return cls(**config)

    def __repr__(self) -> str:
        return f"HalfNormalEpsilon(stddev={self.stddev}, offset={self.offset}, maximum={self.maximum})"


def _check_epsilon(epsilon: Epsilon) -> None:
    if callable(epsilon):
        return
    if isinstance(epsilon, (int, float)) and not isinstance(epsilon, bool):
        if epsilon <= 0:
            raise ValueError(f"A fixed `epsilon` must be > 0. Received: epsilon={epsilon!r}")
        return
    if isinstance(epsilon, (tuple, list)) and len(epsilon) == 2 and 0 <= epsilon[0] <= epsilon[1]:
        return
    raise ValueError(
        "`epsilon` must be a float > 0, a (low, high) range with 0 <= low <= high, or a callable "
        f"sampler(x, seed) -> (batch,). Received: epsilon={epsilon!r}"
    )


def _sample_epsilon(epsilon: Epsilon, x: Tensor, seed: Tensor) -> Tensor:
    """Per-sample ε ~ P_ε as a float32 (batch,) tensor."""
    batch = tf.shape(x)[0]
    if callable(epsilon):
        eps = tf.reshape(tf.cast(epsilon(x, seed), tf.float32), (-1,))
        return tf.broadcast_to(eps, (batch,))
    if isinstance(epsilon, (int, float)):
        return tf.fill((batch,), tf.constant(float(epsilon), tf.float32))
    low, high = float(epsilon[0]), float(epsilon[1])
    return _uniform(tf.shape(x)[:1], seed, 0, low, high)


# ----------------------------------------------------------------------------------------------------- ALP
def _unit_rows(v: Tensor) -> tuple[Tensor, Tensor]:
    """Per-sample L2 normalization of a float32 tensor over all non-batch axes; returns (v / ‖v‖, ‖v‖)."""
    norm = _safe_sqrt(tf.reduce_sum(tf.square(_flat(v)), axis=1))
    return v / _per_sample(tf.maximum(norm, _TINY), v), norm


def _power_step(f: Callable, x: Tensor, fx: Tensor, r: Tensor, xi: float, d_y: Callable) -> Tensor:
    """One step of Eq. (23): r ← ∇_r d_Y(f(x), f(x + ξr)) / ‖·‖, keeping r where that gradient vanishes."""
    # Only the input is watched: no weight gradients are computed, and none reach f's weights from here.
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        x_xi = x + tf.cast(xi * r, x.dtype)
        tape.watch(x_xi)
        distance = tf.reduce_sum(d_y(fx, _flat_outputs(f(x_xi))))
    grad = tape.gradient(distance, x_xi, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    direction, norm = _unit_rows(tf.cast(grad, tf.float32))
    # A zero (or non-finite) gradient would give a zero or NaN direction: keep the previous one instead.
    usable = tf.math.is_finite(norm) & (norm > _TINY)
    return tf.where(_per_sample(usable, r), direction, r)


def adversarial_perturbation(
    f: Callable,
    x: Tensor,
    *,
    xi: float = 10.0,
    epsilon: Epsilon = (0.1, 10.0),
    power_iterations: int = 1,
    d_y: str = "abs",
    seed: Seed = None,
    fx: Tensor | None = None,
    check_numerics: bool | None = None,
) -> Tensor:
    """Adversarial perturbation r_adv ≈ ε·r_k of ALR (Eqs. 21-23): the direction along which f changes most.

    r₀ is a random unit direction per sample (uniform noise in [-1, 1]ⁿ, normalized); each of the `power_iterations` steps sets
    r_{i+1} = ∇_r d_Y(f(x), f(x + r))|_{r=ξ rᵢ} / ‖·‖₂ (a finite-difference power iteration on the Hessian of
    r ↦ d_Y(f(x), f(x + r)), appendix A.1); finally r_adv = ε·r_k with a per-sample ε ~ P_ε. Norms are per
    sample over all non-batch axes. r_adv is a constant: no gradient flows from it into f's weights.

    ξ and ε are in the units of the data. The defaults (ξ = 10, ε ~ U[0.1, 10], the paper's CIFAR-10 values)
    suit 32×32×3 images in [-1, 1]; for 2-D data of unit scale use e.g. ξ = 1, ε ~ U[0.01, 0.5] (with the
    defaults a WGAN critic on two Gaussians over-estimates W1, see the module docstring), or
    `epsilon=RelativeEpsilon()`.

    Args:
        f: The model (any callable batch → outputs; nested outputs are concatenated).
        x: A float batch (n, ...).
        xi: Finite-difference step ξ > 0.
        epsilon: P_ε: a fixed float, a (low, high) uniform range, or a callable `sampler(x, seed) -> (n,)`
            such as `RelativeEpsilon` or `HalfNormalEpsilon` (seed is a (2,) int32 seed, usable with
            `tf.random.stateless_*`).
        power_iterations: k ≥ 0; with 0, r_adv is ε times the random direction. One is enough in practice.
        d_y: Output distance: "abs", "l2", "kl" (from logits) or "mse_logits".
        seed: An int (the same noise on every call, also inside `tf.function`: for tests), a
            `keras.random.SeedGenerator` (fresh noise each step: for training), or None (Keras' global one).
        fx: f(x) if already computed (it is not recomputed); treated as a constant.
        check_numerics: Raise on NaN/Inf in `x` or `f(x)`; None means on in eager mode, off in graphs.

    Returns:
        r_adv, a tensor with the shape and dtype of `x` and no gradient.

    Raises:
        ValueError: for an unknown `d_y`, a bad `epsilon`, negative `power_iterations` or ξ ≤ 0.
        tf.errors.InvalidArgumentError: with numerics checking on, naming `x` or `f(x)` if it has NaN or Inf.

    Example:
        >>> w = tf.constant([[3.0], [4.0]])
        >>> r = adversarial_perturbation(lambda x: x @ w, tf.ones((2, 2)), xi=1.0, epsilon=0.5, seed=0)
        >>> [round(float(v), 3) for v in tf.abs(r[0])]
        [0.3, 0.4]
    """
    d_y_fn = _lookup(_D_Y, d_y, "d_y")
    check_power_iterations(power_iterations, minimum=0)
    _check_positive(xi, "xi")
    _check_epsilon(epsilon)
    check = _resolve_check(check_numerics)
    x = _checked(_as_float_input(x), "x", check)
    if fx is None:
        fx = f(x)
    fx = _checked(tf.stop_gradient(_flat_outputs(fx)), "f(x)", check)
    base = _seed_tensor(seed)
    # Uniform in the cube rather than Gaussian: a generic start is all the power iteration needs, at a third of the cost.
    r, _ = _unit_rows(_uniform(tf.shape(x), base, stream=1, low=-1.0, high=1.0))
    for _ in range(power_iterations):
        r = _power_step(f, tf.stop_gradient(x), fx, r, xi, d_y_fn)
    eps = _sample_epsilon(epsilon, x, tf.bitcast(_random_bits((2,), base, stream=2), tf.int32))
    return tf.stop_gradient(tf.cast(_per_sample(eps, r) * r, x.dtype))


def _with_diagnostics(penalty: Tensor, ratio: Tensor, K: float) -> PenaltyResult:
    """Packs a penalty with the mean, max and fraction above K of a per-sample float32 ratio."""
    ratio = tf.stop_gradient(ratio)
    return PenaltyResult(
        penalty=penalty,
        ratio_mean=tf.reduce_mean(ratio),
        ratio_max=tf.reduce_max(ratio),
        violation_fraction=tf.reduce_mean(tf.cast(ratio > K, tf.float32)),
    )


def _result(ratio: Tensor, K: float, reduction: str) -> PenaltyResult:
    """Penalty mean(reduction((ratio − K)_+)) of a per-sample float32 ratio, with its diagnostics."""
    penalty = tf.reduce_mean(_REDUCTIONS[reduction](tf.nn.relu(ratio - K)))
    return _with_diagnostics(penalty, ratio, K)


def _quotient(fx: Tensor, fy: Tensor, x: Tensor, y: Tensor, d_x: Callable, d_y: Callable) -> Tensor:
    """d_Y(f(x), f(y)) / d_X(x, y) per sample in float32; 0 where x = y. The denominator is a constant."""
    distance_x = d_x(_flat(tf.stop_gradient(y)) - _flat(tf.stop_gradient(x)))
    return _safe_div(d_y(fx, fy), distance_x)


def adversarial_lipschitz_penalty(
    f: Callable,
    x: Tensor,
    *,
    K: float = 1.0,
    d_x: str = "l2",
    d_y: str = "abs",
    xi: float = 10.0,
    epsilon: Epsilon = (0.1, 10.0),
    power_iterations: int = 1,
    reduction: str = "squared",
    clip: Sequence[float] | None = None,
    fx: Tensor | None = None,
    seed: Seed = None,
    check_numerics: bool | None = None,
) -> PenaltyResult:
    """Adversarial Lipschitz Penalty, Eq. (20): mean over the batch of (d_Y(f(x), f(x̂)) / d_X(x, x̂) − K)_+^p.

    x̂ = x + r_adv with r_adv from `adversarial_perturbation`, optionally clipped to the data range; d_X is
    measured on the actual x̂ − x after clipping, and samples that did not move (x̂ = x) contribute 0. Gradients
    reach f's weights through both f(x) and f(x̂); r_adv is a constant. `reduction="squared"` is WGAN-ALP
    (Eq. 26), "abs" the plain violation, "squared+abs" the Progressive GAN variant (Eq. 32). The ratio is
    computed in float32 whatever f's compute dtype.

    Cost per regularized sample, with `fx` shared with the loss: one forward with an input gradient (k = 1) and
    one forward-backward, versus the double backward of a gradient penalty.

    ξ and ε are in the units of the data: the defaults (ξ = 10, ε ~ U[0.1, 10], K = 1, λ = 100 in the paper) suit
    32×32×3 images in [-1, 1]; on 2-D data of unit scale they make a WGAN critic over-estimate W1 (by up to
    80 % in our runs), while ξ = 1, ε ~ U[0.01, 0.5] works. `epsilon=RelativeEpsilon()` scales ε to the batch.

    Args:
        f: The model (callable); pass e.g. `lambda t: critic(t, training=True)` to choose the mode.
        x: A float batch (n, ...): real, generated, or both concatenated (one call is cheaper than two).
        K: The Lipschitz constant to enforce, ≥ 0.
        d_x: Input distance of the displacement: "l2", "l1", "linf" or "trivial" (Eq. 14).
        d_y: Output distance: "abs", "l2", "kl" (from logits) or "mse_logits".
        xi, epsilon, power_iterations, seed: As in `adversarial_perturbation`.
        reduction: "squared", "abs" or "squared+abs".
        clip: None or (low, high): clip x̂ to the data range, e.g. (-1, 1).
        fx: f(x) if the loss already computed it: the penalty then adds no forward pass on x.
        check_numerics: Raise on NaN/Inf in `x`, `f(x)` or `f(x + r_adv)`; None: on in eager, off in graphs.

    Returns:
        `PenaltyResult(penalty, ratio_mean, ratio_max, violation_fraction)` of float32 scalars; the ratio is
        d_Y/d_X and a violation is ratio > K.

    Raises:
        ValueError: for unknown `d_x`, `d_y` or `reduction`, a bad `epsilon` or `clip`, or K < 0.
        tf.errors.InvalidArgumentError: with numerics checking on, naming the tensor that has NaN or Inf.

    Example:
        >>> w = tf.constant([[0.0], [3.0]])  # f(x) = w·x with ‖w‖ = 3
        >>> result = adversarial_lipschitz_penalty(lambda x: x @ w, tf.ones((4, 2)), xi=1.0, epsilon=(0.1, 1.0))
        >>> round(float(result.ratio_mean), 4), round(float(result.penalty), 4)
        (3.0, 4.0)
    """
    d_x_fn = _lookup(_D_X, d_x, "d_x")
    d_y_fn = _lookup(_D_Y, d_y, "d_y")
    _lookup(_REDUCTIONS, reduction, "reduction")
    _check_positive(K, "K", allow_zero=True)
    clip = _check_clip(clip)
    check = _resolve_check(check_numerics)
    x = _checked(_as_float_input(x), "x", check)
    fx = _checked(_flat_outputs(f(x) if fx is None else fx), "f(x)", check)
    r_adv = adversarial_perturbation(
        f, x, xi=xi, epsilon=epsilon, power_iterations=power_iterations, d_y=d_y, seed=seed, fx=fx,
        check_numerics=False,
    )
    x_hat = x + r_adv
    if clip is not None:
        x_hat = tf.clip_by_value(x_hat, tf.cast(clip[0], x.dtype), tf.cast(clip[1], x.dtype))
    x_hat = tf.stop_gradient(x_hat)
    fx_hat = _checked(_flat_outputs(f(x_hat)), "f(x + r_adv)", check)
    return _result(_quotient(fx, fx_hat, x, x_hat, d_x_fn, d_y_fn), K, reduction)


# ------------------------------------------------------------------------------------- gradient penalties
def gradient_penalty(
    f: Callable,
    x_real: Tensor,
    x_fake: Tensor | None = None,
    *,
    target: float = 1.0,
    one_sided: bool = False,
    sample: str = "interpolate",
    seed: Seed = None,
    check_numerics: bool | None = None,
) -> PenaltyResult:
    """Gradient penalties on ‖∇ₓf(x̃)‖₂: WGAN-GP, the one-sided LP and zero-centered R1.

    penalty = mean over x̃ of (‖∇ₓf(x̃)‖₂ − target)², or of (‖∇ₓf(x̃)‖₂ − target)_+² when `one_sided`:
      * WGAN-GP, Eq. (7) (Gulrajani et al., 2017): target=1, sample="interpolate".
      * LP, Eq. (9) (Petzka et al., 2018): target=1, one_sided=True.
      * R1 (Mescheder et al., 2018): target=0, sample="real", giving mean ‖∇ₓf(x)‖² (scale by γ/2 yourself).
    Interpolates are x̃ = x_fake + α(x_real − x_fake) with α ~ U[0, 1] per sample. A vector-valued f is summed
    over its outputs. The penalty needs a double backward: f's weights get gradients through ∇ₓf.

    Args:
        f: The critic (callable), scalar output per sample.
        x_real: Real batch (n, ...).
        x_fake: Generated batch, same shape; unused (may be None) for sample="real".
        target: The gradient norm to enforce, ≥ 0.
        one_sided: Penalize only norms above `target`.
        sample: Where to evaluate: "interpolate", "real", "fake" or "both" (real and fake concatenated).
        seed: Seed of α (see `adversarial_perturbation`).
        check_numerics: Raise on NaN/Inf in the inputs or f; None: on in eager, off in graphs.

    Returns:
        `PenaltyResult`; the ratio is ‖∇ₓf(x̃)‖₂, and a violation is a norm above `target`.

    Raises:
        ValueError: for an unknown `sample`, a negative `target`, or a missing `x_fake`.
        tf.errors.InvalidArgumentError: with numerics checking on, naming the tensor that has NaN or Inf.

    Example:
        >>> w = tf.constant([[3.0], [4.0]])
        >>> result = gradient_penalty(lambda x: x @ w, tf.ones((4, 2)), tf.zeros((4, 2)))
        >>> round(float(result.penalty), 4)  # (5 - 1)²
        16.0
    """
    if sample not in _SAMPLES:
        raise ValueError(f"`sample` must be one of {_SAMPLES}. Received: sample={sample!r}")
    _check_positive(target, "target", allow_zero=True)
    if x_fake is None and sample != "real":
        raise ValueError(f"`x_fake` is required for sample={sample!r}")
    check = _resolve_check(check_numerics)
    x_real = _checked(_as_float_input(x_real), "x_real", check)
    if x_fake is not None:
        x_fake = _checked(tf.cast(x_fake, x_real.dtype), "x_fake", check)
    if sample == "interpolate":
        alpha = _uniform(tf.shape(x_real)[:1], _seed_tensor(seed), stream=3)
        alpha = tf.cast(_per_sample(alpha, x_real), x_real.dtype)
        x = x_fake + alpha * (x_real - x_fake)
    else:
        x = {"real": x_real, "fake": x_fake}.get(sample)
        if x is None:
            x = tf.concat([x_real, x_fake], axis=0)
    x = tf.stop_gradient(x)
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(x)
        y = _checked(_flat_outputs(f(x)), "f(x)", check)
        total = tf.reduce_sum(y)
    grad = _flat(tape.gradient(total, x, unconnected_gradients=tf.UnconnectedGradients.ZERO))
    squared_norm = tf.reduce_sum(tf.square(grad), axis=1)
    norm = _safe_sqrt(squared_norm)
    if target == 0:
        penalty = tf.reduce_mean(squared_norm)  # R1: no square root, so no kink at zero.
    else:
        gap = tf.nn.relu(norm - target) if one_sided else norm - target
        penalty = tf.reduce_mean(tf.square(gap))
    return _with_diagnostics(penalty, norm, target)


def lipschitz_quotient_penalty(
    f: Callable,
    x: Tensor,
    y: Tensor,
    *,
    K: float = 1.0,
    d_x: str = "l2",
    d_y: str = "abs",
    reduction: str = "squared",
    fx: Tensor | None = None,
    fy: Tensor | None = None,
    check_numerics: bool | None = None,
) -> PenaltyResult:
    """Explicit Lipschitz penalty on given pairs, Eq. (8): mean of (d_Y(f(x), f(y)) / d_X(x, y) − K)_+².

    Petzka et al. (2018) apply it to random pairs (e.g. real and generated samples); it is ALP without the
    adversarial search, kept for comparison. Pairs with x = y contribute 0.

    Args:
        f: The model (callable).
        x: A float batch (n, ...).
        y: The paired batch, same shape.
        K: The Lipschitz constant to enforce, ≥ 0.
        d_x, d_y, reduction: As in `adversarial_lipschitz_penalty`.
        fx, fy: f(x), f(y) if already computed (gradients flow through them).
        check_numerics: Raise on NaN/Inf in inputs or outputs; None: on in eager, off in graphs.

    Returns:
        `PenaltyResult` with ratio d_Y(f(x), f(y)) / d_X(x, y).

    Raises:
        ValueError: for unknown `d_x`, `d_y` or `reduction`, or K < 0.
        tf.errors.InvalidArgumentError: with numerics checking on, naming the tensor that has NaN or Inf.

    Example:
        >>> w = tf.constant([[3.0], [4.0]])
        >>> result = lipschitz_quotient_penalty(lambda x: x @ w, tf.ones((2, 2)), tf.zeros((2, 2)))
        >>> round(float(result.ratio_max), 4)  # |7| / √2
        4.9497
    """
    d_x_fn = _lookup(_D_X, d_x, "d_x")
    d_y_fn = _lookup(_D_Y, d_y, "d_y")
    _lookup(_REDUCTIONS, reduction, "reduction")
    _check_positive(K, "K", allow_zero=True)
    check = _resolve_check(check_numerics)
    x = _checked(_as_float_input(x), "x", check)
    y = _checked(tf.cast(y, x.dtype), "y", check)
    fx = _checked(_flat_outputs(f(x) if fx is None else fx), "f(x)", check)
    fy = _checked(_flat_outputs(f(y) if fy is None else fy), "f(y)", check)
    return _result(_quotient(fx, fy, x, y, d_x_fn, d_y_fn), K, reduction)


# --------------------------------------------------------------------------------------------------- VAT
def virtual_adversarial_loss(
    f: Callable,
    x: Tensor,
    *,
    epsilon: Epsilon = 8.0,
    xi: float = 1e-6,
    power_iterations: int = 1,
    d_y: str = "kl",
    d_x: str = "trivial",
    K: float = 0.0,
    entropy_weight: float = 0.0,
    fx: Tensor | None = None,
    seed: Seed = None,
    check_numerics: bool | None = None,
) -> PenaltyResult:
    """VAT's local distributional smoothness (Eqs. 10-13) and the semi-supervised ALR of appendix A.3.

    penalty = mean over x of (d_Y(f(x), f(x + r_adv)) / d_X(x, x + r_adv) − K)_+
              + entropy_weight · mean H(softmax(f(x))),
    with f(x) held fixed in the first term (no gradient through it), as VAT and appendix A.3 prescribe.
      * VAT: d_y="kl", d_x="trivial", K=0, fixed ε (the defaults; ε = 8 for ZCA-whitened CIFAR-10).
      * ALR, appendix A.3: d_y="mse_logits", d_x="l2", K=0, epsilon=(1.0, 10.0), entropy_weight=1.0
        (entropy minimization of Grandvalet and Bengio).
    f returns logits. It needs no labels, so apply it to labeled and unlabeled batches alike.

    Args:
        f: The classifier (callable returning logits).
        x: A float batch (n, ...).
        epsilon, xi, power_iterations, seed: As in `adversarial_perturbation` (units of the data).
        d_y: Output distance: "kl", "mse_logits", "l2" or "abs".
        d_x: "trivial" (Eq. 14: d_X = 1, the VAT view), "l2", "l1" or "linf".
        K: Lipschitz target, usually 0.
        entropy_weight: Weight of the conditional-entropy term, ≥ 0 (gradient flows through f(x)).
        fx: f(x) if already computed (the classification loss's forward pass).
        check_numerics: Raise on NaN/Inf in `x`, `f(x)` or `f(x + r_adv)`; None: on in eager, off in graphs.

    Returns:
        `PenaltyResult` with ratio d_Y/d_X; `penalty` includes the entropy term.

    Raises:
        ValueError: for unknown `d_x` or `d_y`, a bad `epsilon`, K < 0 or entropy_weight < 0.
        tf.errors.InvalidArgumentError: with numerics checking on, naming the tensor that has NaN or Inf.

    Example:
        >>> w = tf.constant([[1.0, -1.0], [0.5, 0.0]])
        >>> result = virtual_adversarial_loss(lambda x: x @ w, tf.ones((4, 2)), epsilon=0.1, seed=0)
        >>> bool(result.penalty > 0)
        True
    """
    d_x_fn = _lookup(_D_X, d_x, "d_x")
    d_y_fn = _lookup(_D_Y, d_y, "d_y")
    _check_positive(K, "K", allow_zero=True)
    _check_positive(entropy_weight, "entropy_weight", allow_zero=True)
    check = _resolve_check(check_numerics)
    x = _checked(_as_float_input(x), "x", check)
    logits = _checked(_flat_outputs(f(x) if fx is None else fx), "f(x)", check)
    r_adv = adversarial_perturbation(
        f, x, xi=xi, epsilon=epsilon, power_iterations=power_iterations, d_y=d_y, seed=seed, fx=logits,
        check_numerics=False,
    )
    x_hat = tf.stop_gradient(x + r_adv)
    fx_hat = _checked(_flat_outputs(f(x_hat)), "f(x + r_adv)", check)
    result = _result(_quotient(tf.stop_gradient(logits), fx_hat, x, x_hat, d_x_fn, d_y_fn), K, "abs")
    if entropy_weight:
        log_p = tf.nn.log_softmax(logits, axis=1)
        entropy = -tf.reduce_mean(tf.reduce_sum(tf.exp(log_p) * log_p, axis=1))
        result = result._replace(penalty=result.penalty + entropy_weight * entropy)
    return result
