"""Argument validation: the one place where public arguments are checked.

Every check raises a `ValueError` that names the argument and the received value, in Keras' style:
"`k_sn` must be > 0. Received: k_sn=-1". Callers pass the argument's public name, so a command-line wrapper can
pass its flag (`--checkpoint-every`) instead of the Python parameter.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

__all__ = ["check_int", "check_float", "check_choice"]


def _is_int(value) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def check_int(name: str, value, minimum: int = 1, maximum: int | None = None) -> int:
    """Checks an integer argument and returns it as a Python int.

    Args:
        name: The argument's public name, used in the message.
        value: The received value; bools and non-integers are refused, NumPy integers accepted.
        minimum: Smallest allowed value (inclusive).
        maximum: Largest allowed value (inclusive), or None for no upper limit.

    Returns:
        `value` as an `int`.

    Raises:
        ValueError: if `value` is not an integer in [minimum, maximum].

    Example:
        >>> check_int("n_critic", 5)
        5
        >>> check_int("n_critic", 0)
        Traceback (most recent call last):
        ...
        ValueError: `n_critic` must be an integer >= 1. Received: n_critic=0
    """
    if not _is_int(value) or value < minimum or (maximum is not None and value > maximum):
        bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise ValueError(f"`{name}` must be an integer {bound}. Received: {name}={value!r}")
    return int(value)


def check_float(name: str, value, minimum: float = 0.0, inclusive: bool = False,
                maximum: float | None = None) -> float:
    """Checks a finite real argument against a lower (and optional upper) bound; returns it as a float.

    Args:
        name: The argument's public name, used in the message.
        value: The received value; bools, NaN and infinities are refused.
        minimum: The lower bound.
        inclusive: Whether `value == minimum` is allowed (`>=`) or not (`>`).
        maximum: An inclusive upper bound, or None.

    Returns:
        `value` as a `float`.

    Raises:
        ValueError: if `value` is not a finite real within the bounds.

    Example:
        >>> check_float("k_sn", 2)
        2.0
        >>> check_float("k_sn", -1)
        Traceback (most recent call last):
        ...
        ValueError: `k_sn` must be a finite number > 0.0. Received: k_sn=-1
    """
    ok = _is_real(value) and math.isfinite(float(value))
    if ok:
        ok = float(value) >= minimum if inclusive else float(value) > minimum
        ok = ok and (maximum is None or float(value) <= maximum)
    if not ok:
        bound = f"{'>=' if inclusive else '>'} {minimum}" + ("" if maximum is None else f" and <= {maximum}")
        raise ValueError(f"`{name}` must be a finite number {bound}. Received: {name}={value!r}")
    return float(value)


def check_choice(name: str, value, choices) -> str:
    """Checks that a string argument is one of `choices`.

    Args:
        name: The argument's public name.
        value: The received value.
        choices: The allowed values.

    Returns:
        `value`.

    Raises:
        ValueError: naming the allowed values.

    Example:
        >>> check_choice("sample", "both", ("real", "fake", "both"))
        'both'
    """
    if value not in tuple(choices):
        raise ValueError(f"`{name}` must be one of {sorted(choices)}. Received: {name}={value!r}")
    return value
