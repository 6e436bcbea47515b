"""Penalties by name: the one place that declares each penalty's function, aliases, defaults and options.

`get("alp", xi=1.0)` returns a `Penalty`: the function with validated keyword options, the penalty's usual
weight λ and (de)serialization. `LipschitzGAN`, `WGANALP` and `LipschitzRegularizedModel` resolve, validate
and save their penalty options through it.

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

from tf_lipschitz.ops import check_power_iterations
from tf_lipschitz.penalties._core import D_X, D_Y, REDUCTIONS, check_clip, check_positive, lookup
from tf_lipschitz.penalties.adversarial import adversarial_lipschitz_penalty
from tf_lipschitz.penalties.epsilon import check_epsilon
from tf_lipschitz.penalties.gradient import gradient_penalty
from tf_lipschitz.penalties.unconstrained import STATISTICS, unconstrained_wgan_penalty
from tf_lipschitz.foundations.validation import check_choice, check_float

__all__ = ["PenaltySpec", "Penalty", "get", "available", "deserialize_kwargs", "MODEL_OWNED"]

# Arguments a training loop passes itself (the model, the batches, the seed, where to apply it).
MODEL_OWNED = frozenset({"f", "x", "y", "x_real", "x_fake", "fx", "fy", "seed", "sample"})

def _check_bool(name: str, value, allow_none: bool = False):
    if not (isinstance(value, bool) or (allow_none and value is None)):
        allowed = "True, False or None" if allow_none else "True or False"
        raise ValueError(f"`{name}` must be {allowed}. Received: {name}={value!r}")
    return value


# One validator per option name, shared by every penalty that has the option.
_VALIDATORS: dict[str, Callable[[Any], Any]] = {
    "K": lambda v: check_positive(v, "K", allow_zero=True),
    "target": lambda v: check_positive(v, "target", allow_zero=True),
    "xi": lambda v: check_positive(v, "xi", allow_zero=True),  # 0: the limit ξ → 0 (adversarial_perturbation)
    "epsilon": check_epsilon,
    "power_iterations": lambda v: check_power_iterations(v, minimum=0),
    "d_x": lambda v: lookup(D_X, v, "d_x"),
    "d_y": lambda v: lookup(D_Y, v, "d_y"),
    "reduction": lambda v: lookup(REDUCTIONS, v, "reduction"),
    "clip": check_clip,
    "one_sided": lambda v: _check_bool("one_sided", v),
    "clip_probe": lambda v: _check_bool("clip_probe", v),
    "check_numerics": lambda v: _check_bool("check_numerics", v, allow_none=True),
    "alpha": lambda v: check_float("alpha", v, 1.0),
    "statistic": lambda v: check_choice("statistic", v, STATISTICS),
}


@dataclass(frozen=True)
class PenaltySpec:
    """The declaration of one penalty: its function, the options it fixes, its usual weight and aliases.

    Attributes:
        name: Canonical name ("alp", "gp", "lp", "r1", "unconstrained").
        function: The penalty function of `tf_lipschitz.penalties`.
        penalty_weight: The usual λ.
        fixed: Keyword arguments this penalty always passes (e.g. `one_sided=True` for LP).
        aliases: Other accepted names.
        synonyms: Option names accepted for others ({"K": "target"} for the gradient penalties).
        paper_defaults: Names of the options whose function defaults are the paper's setup; `defaults`
            reads their values from the function's signature.
    """

    name: str
    function: Callable
    penalty_weight: float
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
        """Checks keyword options (synonyms renamed) and returns them as a new dict.

        Raises:
            ValueError: for an unknown option (naming the allowed ones) or an invalid value.
        """
        kwargs = {self.synonyms.get(key, key): value for key, value in dict(kwargs or {}).items()}
        unknown = sorted(set(kwargs) - set(self.options))
        if unknown:
            raise ValueError(
                f"Unknown arguments of penalty {self.name!r}: {unknown}. Allowed: {sorted(self.options)} "
                "(the training loop passes the model, the samples and the seed itself)."
            )
        for key, value in kwargs.items():
            validator = _VALIDATORS.get(key)
            if validator is not None:
                validator(value)
        return kwargs


_SPECS = {
    spec.name: spec
    for spec in (
        PenaltySpec("alp", adversarial_lipschitz_penalty, 100.0, aliases=("alr", "adversarial"),
                    paper_defaults=("K", "xi", "epsilon", "power_iterations")),
        PenaltySpec("gp", gradient_penalty, 10.0, aliases=("wgan-gp", "wgangp"), synonyms={"K": "target"}),
        PenaltySpec("lp", gradient_penalty, 10.0, fixed={"one_sided": True}, synonyms={"K": "target"}),
        PenaltySpec("r1", gradient_penalty, 5.0, fixed={"target": 0.0}),
        PenaltySpec("unconstrained", unconstrained_wgan_penalty, 1.0, aliases=("unconstrained-wgan",)),
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

    def __call__(self, *args, **kwargs):
        """Calls the function with the fixed options, this penalty's options and `kwargs` (which win)."""
        return self.spec.function(*args, **{**self.spec.fixed, **self.kwargs, **kwargs})

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


def get(name: str, **kwargs: Any) -> Penalty:
    """Resolves a penalty name or alias and validates its keyword options.

    Args:
        name: "alp" (aliases "alr", "adversarial"), "gp" ("wgan-gp", "wgangp"), "lp", "r1" or "unconstrained"
            ("unconstrained-wgan"); case and surrounding spaces are ignored.
        **kwargs: Options of the penalty function (for ALP e.g. `xi`, `epsilon`, `K`; for GP/LP `target`,
            or `K` as its synonym).

    Returns:
        A `Penalty`.

    Raises:
        ValueError: for an unknown name, an unknown option or an invalid value.

    Example:
        >>> get("ALR", xi=1.0)
        Penalty('alp', xi=1.0)
        >>> get("alp").spec.defaults
        {'K': 1.0, 'xi': 10.0, 'epsilon': (0.1, 10.0), 'power_iterations': 1}
    """
    key = name.strip().lower() if isinstance(name, str) else None
    if key not in _ALIASES:
        raise ValueError(
            f"Unknown `penalty`. Expected one of {available()} (or an alias: "
            f"{sorted(a for a in _ALIASES if a not in _SPECS)}). Received: penalty={name!r}"
        )
    spec = _SPECS[_ALIASES[key]]
    return Penalty(spec, spec.validate(kwargs))
