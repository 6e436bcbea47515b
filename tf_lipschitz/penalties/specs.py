"""Penalties by name: the one place that declares each penalty's function, aliases, defaults and options.

`get("alp", xi=1.0)` returns a `Penalty`: the function with validated keyword options (checked one by one and
in combination when it is made), the penalty's usual weight λ, how a training loop calls it (`PenaltyCall`:
on which points, whether it reuses f(x), how a real and a generated half combine) and (de)serialization.
`LipschitzGAN(penalty=...)` takes a name or such a configured penalty, like `optimizer=` in Keras; the models
and estimators resolve, validate and save their `penalty_kwargs` through it.

    name  aliases                  function                          fixed options       usual λ
    alp   alr, adversarial         adversarial_lipschitz_penalty     -                   100
    gp    wgan-gp, wgangp          gradient_penalty                  -                   10
    lp    -                        gradient_penalty                  one_sided=True      10
    r1    -                        gradient_penalty                  target=0            5 (γ/2, γ = 10)
    unconstrained  unconstrained-wgan  unconstrained_wgan_penalty    -                   1 (the objective's own)

"unconstrained" is the price (α − 1)·α^{α/(1−α)}·‖f‖_L^{α/(α−1)} of the unconstrained WGAN (option `alpha` > 1,
`statistic`, and the adversarial direction's `xi`, `epsilon`, `power_iterations`); with the WGAN loss and weight 1
the critic maximizes E_µ f − E_ν f − price, whose supremum is W^α (`penalties.unconstrained`).

For the gradient penalties `K` is accepted as a synonym of `target` (the gradient norm to enforce).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import keras
import tensorflow as tf

from tf_lipschitz.penalties._core import PenaltyResult
from tf_lipschitz.penalties.adversarial import adversarial_lipschitz_penalty
from tf_lipschitz.penalties.gradient import gradient_penalty
from tf_lipschitz.penalties import options
from tf_lipschitz.penalties.unconstrained import unconstrained_wgan_penalty
from tf_lipschitz.foundations.validation import check_choice

__all__ = [
    "PenaltyCall", "PenaltySpec", "Penalty", "get", "resolve", "available", "deserialize_kwargs", "join_halves",
    "MODEL_OWNED", "BOTH_REDUCTIONS",
    "POINTS", "HALVES",
]

# Arguments a training loop passes itself (the model, the batches, the seed, where to apply it).
MODEL_OWNED = frozenset({"f", "x", "y", "x_real", "x_fake", "fx", "fy", "seed", "sample"})
BOTH_REDUCTIONS = ("mean", "sum")
POINTS = ("batch", "pair")
HALVES = ("apart", "together")


def join_halves(real: PenaltyResult, fake: PenaltyResult, *, reduction: str = "mean") -> PenaltyResult:
    """Joins the `PenaltyResult`s of a real and a generated batch of equal size into that of both batches.

    The diagnostics are those of the joined batch (mean, max, fraction). The penalty is one mean over the
    joined batch, (P_real + P_fake)/2, for `reduction="mean"`; the sum P_real + P_fake (ALR Eq. 32) for "sum".

    Args:
        real: The penalty on the real batch.
        fake: The penalty on the generated batch (same size).
        reduction: "mean" or "sum".

    Returns:
        A `PenaltyResult`.

    Example:
        >>> a = PenaltyResult(1.0, 2.0, 3.0, 0.5)
        >>> b = PenaltyResult(3.0, 4.0, 5.0, 1.0)
        >>> [float(v) for v in join_halves(a, b)], float(join_halves(a, b, reduction="sum").penalty)
        ([2.0, 3.0, 5.0, 0.75], 4.0)
    """
    check_choice("reduction", reduction, BOTH_REDUCTIONS)
    total = real.penalty + fake.penalty
    return PenaltyResult(
        penalty=total if reduction == "sum" else 0.5 * total,
        ratio_mean=0.5 * (real.ratio_mean + fake.ratio_mean),
        ratio_max=tf.maximum(real.ratio_max, fake.ratio_max),
        violation_fraction=0.5 * (real.violation_fraction + fake.violation_fraction),
    )


@dataclass(frozen=True)
class PenaltyCall:
    """How a training loop calls a penalty function: the declaration a model reads instead of probing.

    Attributes:
        points: "batch": the function regularizes the batch `x` it is given (the loop chooses real, generated
            or interpolated samples); "pair": it takes `(x_real, x_fake)` and a `sample=` and draws its points
            itself (the gradient penalties).
        reuses_fx: It accepts `fx=f(x)` from the loss's forward pass, so that pass is not repeated.
        compares_calls: It compares outputs of separate calls of f (f(x) and f(x + r)): a model that draws
            noise in every call (dropout in training mode) then misleads it.
        halves: How a real and a generated half are regularized together (`regularize="both"`). "apart": each
            half in a call of its own, the two `PenaltyResult`s then joined by `combine` (a penalty that is a
            batch mean of per-sample terms). "together": one call with `x=(x_real, x_fake)` (and
            `fx=(f_real, f_fake)` when it `reuses_fx`); the function evaluates each half in its own forward pass
            and joins them itself before its statistic, priced once (the unconstrained WGAN's max L over both
            halves: the price of a batch is not the mean of its halves' prices). Only "batch" points.
        combine: For `halves="apart"`, how the penalties on the real and on the generated half join:
            `combine(real, fake, reduction=...)` → `PenaltyResult`; None for "together".
    """

    points: str = "batch"
    reuses_fx: bool = True
    compares_calls: bool = True
    halves: str = "apart"
    combine: Callable[..., PenaltyResult] | None = join_halves

    def __post_init__(self):
        check_choice("points", self.points, POINTS)
        check_choice("halves", self.halves, HALVES)
        if self.halves == "together" and (self.points != "batch" or self.combine is not None):
            raise ValueError("`halves='together'` needs points='batch' and combine=None: the function joins the "
                             f"halves itself. Received: points={self.points!r}, combine={self.combine!r}")
        if self.halves == "apart" and self.combine is None:
            raise ValueError("`halves='apart'` needs a `combine` of the halves' results. Received: combine=None")

    @property
    def reductions(self) -> tuple:
        """The `both_reduction`s that apply: "mean" and "sum" of the halves' penalties when priced apart; only
        "mean" (one price of the joined batch) when priced together, where a sum of one price means nothing."""
        return BOTH_REDUCTIONS if self.halves == "apart" else ("mean",)

    @property
    def own_forward(self) -> bool:
        """Whether the function runs its own forward pass on the points it regularizes (no `fx` to reuse)."""
        return not self.reuses_fx


@dataclass(frozen=True)
class PenaltySpec:
    """The declaration of one penalty: its function, how it is called, its usual weight, aliases and options.

    Attributes:
        name: Canonical name ("alp", "gp", "lp", "r1", "unconstrained").
        function: The penalty function of `tf_lipschitz.penalties`, or one of your own decorated with
            `penalties.options.validated` (a configured `Penalty` calls its `.unchecked` core).
        penalty_weight: The usual λ.
        call: How a training loop calls it (`PenaltyCall`).
        fixed: Keyword arguments this penalty always passes (e.g. `one_sided=True` for LP).
        aliases: Other accepted names.
        synonyms: Option names accepted for others ({"K": "target"} for the gradient penalties).
        paper_defaults: Names of the options whose function defaults are the paper's setup; `defaults`
            reads their values from the function's signature.
    """

    name: str
    function: Callable
    penalty_weight: float
    call: PenaltyCall = PenaltyCall()
    fixed: Mapping[str, Any] = field(default_factory=dict)
    aliases: tuple = ()
    synonyms: Mapping[str, str] = field(default_factory=dict)
    paper_defaults: tuple = ()

    @property
    def options(self) -> tuple:
        """The keyword options a user may set (the function's, minus fixed and model-owned ones)."""
        parameters = inspect.signature(self.function).parameters
        return tuple(p for p in parameters if p not in MODEL_OWNED and p not in self.fixed)

    @property
    def defaults(self) -> dict:
        """The paper's setting of this penalty's main options, read from the function's signature."""
        parameters = inspect.signature(self.function).parameters
        return {key: parameters[key].default for key in self.paper_defaults}

    def validate(self, kwargs: Mapping[str, Any] | None) -> dict:
        """Checks keyword options (synonyms renamed), alone and combined with the others; returns them as a new dict.

        The combinations are checked on the options as the function will see them: its defaults, the fixed
        options and `kwargs` (`penalties.options`).

        Raises:
            ValueError: for an unknown option (naming the allowed ones), an option given under two names, an
                invalid value or an invalid combination (`clip_probe` without `clip`, `xi=0` with a `d_y` that
                has no gradient limit).
        """
        kwargs = dict(kwargs or {})
        for key, canonical in self.synonyms.items():
            if key in kwargs and canonical in kwargs:
                raise ValueError(f"`{key}` and `{canonical}` name the same option of penalty {self.name!r}: pass one. "
                                 f"Received: {key}={kwargs[key]!r}, {canonical}={kwargs[canonical]!r}")
        kwargs = {self.synonyms.get(key, key): value for key, value in kwargs.items()}
        unknown = sorted(set(kwargs) - set(self.options))
        if unknown:
            raise ValueError(
                f"Unknown arguments of penalty {self.name!r}: {unknown}. Allowed: {sorted(self.options)} "
                "(the training loop passes the model, the samples and the seed itself)."
            )
        parameters = inspect.signature(self.function).parameters
        defaults = {key: parameters[key].default for key in self.options}
        options.check_options({**defaults, **self.fixed, **kwargs})
        return kwargs


# The gradient penalties differentiate f at points they choose (`sample=`), in a forward pass of their own.
_SAMPLES_ITSELF = PenaltyCall(points="pair", reuses_fx=False, compares_calls=False)
# The unconstrained WGAN prices one statistic (max L) of both halves, joined inside the function (issue 25 §6).
_PRICES_BOTH_HALVES_ONCE = PenaltyCall(halves="together", combine=None)
_SPECS = {
    spec.name: spec
    for spec in (
        PenaltySpec("alp", adversarial_lipschitz_penalty, 100.0, aliases=("alr", "adversarial"),
                    paper_defaults=("K", "xi", "epsilon", "power_iterations")),
        PenaltySpec("gp", gradient_penalty, 10.0, call=_SAMPLES_ITSELF, aliases=("wgan-gp", "wgangp"),
                    synonyms={"K": "target"}),
        PenaltySpec("lp", gradient_penalty, 10.0, call=_SAMPLES_ITSELF, fixed={"one_sided": True},
                    synonyms={"K": "target"}),
        PenaltySpec("r1", gradient_penalty, 5.0, call=_SAMPLES_ITSELF, fixed={"target": 0.0}),
        PenaltySpec("unconstrained", unconstrained_wgan_penalty, 1.0, call=_PRICES_BOTH_HALVES_ONCE,
                    aliases=("unconstrained-wgan",)),
    )
}
_ALIASES = {alias: spec.name for spec in _SPECS.values() for alias in (spec.name, *spec.aliases)}


def available() -> tuple:
    """Canonical penalty names accepted by `get`.

    Returns:
        ('alp', 'gp', 'lp', 'r1', 'unconstrained').

    Example:
        >>> available()
        ('alp', 'gp', 'lp', 'r1', 'unconstrained')
    """
    return tuple(_SPECS)


def _serialize(value):
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    if isinstance(value, (tuple, list)) and all(isinstance(v, (int, float)) for v in value):
        return list(value)
    return keras.saving.serialize_keras_object(value)


def _deserialize(value, custom_objects=None):
    if isinstance(value, dict) and "class_name" in value:
        return keras.saving.deserialize_keras_object(value, custom_objects=custom_objects)
    return tuple(value) if isinstance(value, list) else value


class Penalty:
    """A penalty resolved by name, with validated keyword options: call it like its function.

    Args:
        spec: The `PenaltySpec`.
        kwargs: The validated options (as returned by `spec.validate`).

    Attributes:
        name, function, penalty_weight: Those of the spec.
        kwargs: The options set on this penalty (not the fixed ones).

    Example:
        >>> lp = get("lp", K=1.0)
        >>> lp.kwargs, lp.penalty_weight
        ({'target': 1.0}, 10.0)
        >>> w = tf.constant([[0.3], [0.4]])  # ‖w‖ = 0.5 < 1: the one-sided penalty is 0
        >>> float(lp(lambda x: x @ w, tf.ones((2, 2)), tf.zeros((2, 2)), seed=0).penalty)
        0.0
    """

    def __init__(self, spec: PenaltySpec, kwargs: Mapping[str, Any]):
        self.spec = spec
        self.kwargs = dict(kwargs)

    name = property(lambda self: self.spec.name)
    function = property(lambda self: self.spec.function)
    penalty_weight = property(lambda self: self.spec.penalty_weight)

    @property
    def call(self) -> PenaltyCall:
        """How a training loop calls this penalty (the spec's `PenaltyCall`)."""
        return self.spec.call

    def __call__(self, *args, **kwargs):
        """Calls the function with the fixed options, this penalty's options and `kwargs` (which win).

        The options were checked when the penalty was made; `kwargs` are the loop's own arguments (batches,
        `fx`, `seed`, `sample`, `check_numerics`) and are not checked again.
        """
        return self.spec.function.unchecked(*args, **{**self.spec.fixed, **self.kwargs, **kwargs})

    def with_defaults(self, defaults: Mapping[str, Any]) -> "Penalty":
        """This penalty with `defaults` filled in under its own options (which win), checked again."""
        return Penalty(self.spec, self.spec.validate({**defaults, **self.kwargs}))

    def serialized_kwargs(self) -> dict:
        """`kwargs` as JSON-friendly values (ranges as lists, ε samplers as Keras configs)."""
        return {key: _serialize(value) for key, value in self.kwargs.items()}

    def get_config(self) -> dict:
        """`{"name": ..., **serialized options}`; `Penalty.from_config` (or `get(**config)`) rebuilds it."""
        return {"name": self.name, **self.serialized_kwargs()}

    @classmethod
    def from_config(cls, config: Mapping[str, Any], custom_objects=None) -> "Penalty":
        """Rebuilds a `Penalty` from `get_config()`."""
        config = dict(config)
        name = config.pop("name")
        return get(name, **deserialize_kwargs(config, custom_objects))

    def __repr__(self) -> str:
        options = ", ".join(f"{key}={value!r}" for key, value in self.kwargs.items())
        return f"Penalty({self.name!r}{', ' if options else ''}{options})"


def deserialize_kwargs(config: Mapping[str, Any] | None, custom_objects=None) -> dict:
    """Inverse of `Penalty.serialized_kwargs`: lists back to tuples, Keras configs back to objects.

    Args:
        config: Serialized options.
        custom_objects: Passed to `keras.saving.deserialize_keras_object`.

    Returns:
        A dict of options.

    Example:
        >>> deserialize_kwargs({"epsilon": [0.1, 1.0], "xi": 1.0})
        {'epsilon': (0.1, 1.0), 'xi': 1.0}
    """
    return {key: _deserialize(value, custom_objects) for key, value in dict(config or {}).items()}


def get(identifier: str | Penalty | Mapping[str, Any], **kwargs: Any) -> Penalty:
    """Resolves a penalty name, alias, configured `Penalty` or config dict, and validates its keyword options.

    Like `keras.optimizers.get`: a `Penalty` is returned as it is; a dict is `Penalty.get_config()`'s output.
    The options are checked one by one and combined (`PenaltySpec.validate`) here, when the penalty is made.

    Args:
        identifier: "alp" (aliases "alr", "adversarial"), "gp" ("wgan-gp", "wgangp"), "lp", "r1" or
            "unconstrained" ("unconstrained-wgan"), case and surrounding spaces ignored; or a `Penalty`; or a
            config dict `{"name": ..., **options}`.
        **kwargs: Options of the penalty function (for ALP e.g. `xi`, `epsilon`, `K`; for GP/LP `target`,
            or `K` as its synonym). Not allowed with a `Penalty`, which carries its options.

    Returns:
        A `Penalty`.

    Raises:
        ValueError: for an unknown name, an unknown option, an invalid value or combination of values, or
            options given with a configured `Penalty`.

    Example:
        >>> get("ALR", xi=1.0)
        Penalty('alp', xi=1.0)
        >>> get(get("gp", K=2.0))
        Penalty('gp', target=2.0)
        >>> get("alp").spec.defaults
        {'K': 1.0, 'xi': 10.0, 'epsilon': (0.1, 10.0), 'power_iterations': 1}
    """
    if isinstance(identifier, Penalty):
        if kwargs:
            raise ValueError(f"A configured penalty carries its own options; pass them to `penalties.get` when making "
                             f"it. Received: penalty={identifier!r} and options {kwargs!r}")
        return identifier
    if isinstance(identifier, Mapping):
        config = dict(identifier)
        return get(config.pop("name", None), **deserialize_kwargs(config), **kwargs)
    key = identifier.strip().lower() if isinstance(identifier, str) else None
    if key not in _ALIASES:
        raise ValueError(
            f"Unknown `penalty`. Expected one of {available()} (or an alias: "
            f"{sorted(a for a in _ALIASES if a not in _SPECS)}), or a configured penalty "
            f"(`tf_lipschitz.penalties.get`). Received: penalty={identifier!r}"
        )
    spec = _SPECS[_ALIASES[key]]
    return Penalty(spec, spec.validate(kwargs))


def resolve(penalty: str | Penalty | Mapping[str, Any] | None, penalty_kwargs: Mapping[str, Any] | None = None
            ) -> Penalty | None:
    """A model's `penalty=` and `penalty_kwargs=` arguments as one configured `Penalty`, or None for no penalty.

    Args:
        penalty: None (or "none"), a name or alias, a configured `Penalty`, or its config.
        penalty_kwargs: The options for a name; a configured penalty carries its own.

    Returns:
        `get(penalty, **penalty_kwargs)`, or None.

    Raises:
        ValueError: as `get`, and for `penalty_kwargs` without a penalty or with a configured one.

    Example:
        >>> resolve("gp", {"K": 2.0}), resolve(None)
        (Penalty('gp', target=2.0), None)
    """
    if penalty is None or (isinstance(penalty, str) and penalty.strip().lower() == "none"):
        if penalty_kwargs:
            raise ValueError(f"`penalty_kwargs` given without a penalty. Received: penalty_kwargs={penalty_kwargs!r}")
        return None
    if isinstance(penalty, Penalty) and penalty_kwargs:
        raise ValueError(f"`penalty_kwargs` given with a configured penalty, which carries its own options: pass "
                         f"them to `penalties.get`. Received: penalty={penalty!r}, penalty_kwargs={penalty_kwargs!r}")
    return get(penalty, **dict(penalty_kwargs or {}))
