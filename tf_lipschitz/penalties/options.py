"""The penalties' keyword options: one validator per option name and the checks of option combinations.

Every option is checked once, where it enters: by `penalties.get` (and so by a model's constructor) for a
configured penalty, or by `validated`, the decorator of each public penalty function, for a direct call. The
functions then call each other through `.unchecked` and check nothing twice.

Combinations checked here (they raise `ValueError` naming the arguments and values):
    * `clip_probe=True` needs a `clip` range;
    * `xi=0` (the limit ξ → 0) needs `d_y` in ("abs", "l2"): for other distances the limit is not a gradient.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Mapping

from tf_lipschitz.ops import check_power_iterations
from tf_lipschitz.penalties._core import D_X, D_Y, REDUCTIONS, SAMPLES, STATISTICS, check_clip, check_positive, lookup
from tf_lipschitz.penalties.epsilon import check_epsilon
from tf_lipschitz.foundations.validation import check_choice, check_float

__all__ = ["VALIDATORS", "LIMIT_D_Y", "is_limit", "check_options", "validated"]

# Output distances whose ξ → 0 limit of ALR's Eq. (23) is the input gradient (for one output per sample).
LIMIT_D_Y = ("abs", "l2")


def _check_bool(name: str, value, allow_none: bool = False):
    if not (isinstance(value, bool) or (allow_none and value is None)):
        allowed = "True, False or None" if allow_none else "True or False"
        raise ValueError(f"`{name}` must be {allowed}. Received: {name}={value!r}")
    return value


def _check_callable(name: str, value):
    if value is not None and not callable(value):
        raise ValueError(f"`{name}` must be None or callable. Received: {name}={value!r}")
    return value


# One validator per option name, shared by every penalty function that has the option.
VALIDATORS: dict[str, Callable[[Any], Any]] = {
    "K": lambda v: check_positive(v, "K", allow_zero=True),
    "target": lambda v: check_positive(v, "target", allow_zero=True),
    "xi": lambda v: check_positive(v, "xi", allow_zero=True),  # 0: the limit ξ → 0
    "epsilon": check_epsilon,
    "power_iterations": lambda v: check_power_iterations(v, minimum=0),
    "d_x": lambda v: lookup(D_X, v, "d_x"),
    "d_y": lambda v: lookup(D_Y, v, "d_y"),
    "reduction": lambda v: lookup(REDUCTIONS, v, "reduction"),
    "sample": lambda v: lookup(dict.fromkeys(SAMPLES), v, "sample"),
    "clip": check_clip,
    "one_sided": lambda v: _check_bool("one_sided", v),
    "clip_probe": lambda v: _check_bool("clip_probe", v),
    "check_numerics": lambda v: _check_bool("check_numerics", v, allow_none=True),
    "alpha": lambda v: check_float("alpha", v, 1.0),
    "statistic": lambda v: check_choice("statistic", v, STATISTICS),
    "entropy_weight": lambda v: check_positive(v, "entropy_weight", allow_zero=True),
    "f_direction": lambda v: _check_callable("f_direction", v),
}


def is_limit(xi) -> bool:
    """True for ξ = 0 given as a Python number: the limit ξ → 0 of the power iteration (`adversarial_perturbation`)."""
    return isinstance(xi, (int, float)) and not isinstance(xi, bool) and xi == 0


def _clip_probe_needs_clip(options: Mapping[str, Any]) -> None:
    if options.get("clip_probe") and options.get("clip") is None:
        raise ValueError(
            f"`clip_probe=True` needs a `clip` range. Received: clip=None, clip_probe={options['clip_probe']!r}"
        )


def _limit_needs_a_gradient_d_y(options: Mapping[str, Any]) -> None:
    if "xi" in options and is_limit(options["xi"]) and options.get("d_y", "abs") not in LIMIT_D_Y:
        raise ValueError(f"`xi=0` (the limit ξ → 0) needs `d_y` in {LIMIT_D_Y}: for other distances the limit is not "
                         f"a gradient. Received: xi=0, d_y={options['d_y']!r}")


COMBINATIONS: tuple[Callable[[Mapping[str, Any]], None], ...] = (_clip_probe_needs_clip, _limit_needs_a_gradient_d_y)


def check_options(options: Mapping[str, Any]) -> None:
    """Checks each option with its validator, then the combinations (options absent from both pass).

    Args:
        options: The options, with the function's defaults filled in for the combination checks.

    Raises:
        ValueError: naming the argument and the received value.

    Example:
        >>> check_options({"xi": 0.0, "d_y": "kl"})
        Traceback (most recent call last):
        ...
        ValueError: `xi=0` (the limit ξ → 0) needs `d_y` in ('abs', 'l2'): for other distances the limit is not a gradient. Received: xi=0, d_y='kl'
    """
    for key, value in options.items():
        validator = VALIDATORS.get(key)
        if validator is not None:
            validator(value)
    for check in COMBINATIONS:
        check(options)


def validated(function: Callable) -> Callable:
    """Decorates a public penalty function: its options are checked (`check_options`) before every direct call.

    The undecorated function stays reachable as `.unchecked`, for callers that checked the options already (a
    configured `Penalty`, or another penalty function passing on its own checked options).
    """
    signature = inspect.signature(function)

    @functools.wraps(function)
    def checked(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        check_options(bound.arguments)
        return function(*args, **kwargs)

    checked.unchecked = function
    return checked
