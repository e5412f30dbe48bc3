"""Argument checks shared by every public constructor.

Each check raises ``ValueError`` naming the argument, the value it got and the allowed
values, so a bad configuration fails before any work starts (OBP's ``check_scalar``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any


def check_int(name: str, value: Any, *, min_value: int | None = None, max_value: int | None = None) -> int:
    """Return ``value`` as an int, or raise ``ValueError`` naming ``name`` and the allowed range."""
    if isinstance(value, bool) or not isinstance(value, (int,)) and not _is_integral(value):
        raise ValueError(f"{name} must be an integer{_range(min_value, max_value)}, got {value!r}")
    value = int(value)
    if (min_value is not None and value < min_value) or (max_value is not None and value > max_value):
        raise ValueError(f"{name} must be an integer{_range(min_value, max_value)}, got {value}")
    return value


def check_float(
    name: str,
    value: Any,
    *,
    min_value: float | None = None,
    max_value: float | None = None,
    min_inclusive: bool = True,
    max_inclusive: bool = True,
) -> float:
    """Return ``value`` as a finite float inside the bounds, or raise ``ValueError``."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    lo_ok = min_value is None or (out >= min_value if min_inclusive else out > min_value)
    hi_ok = max_value is None or (out <= max_value if max_inclusive else out < max_value)
    if not math.isfinite(out) or not lo_ok or not hi_ok:
        lo = "" if min_value is None else f"{'>=' if min_inclusive else '>'} {min_value}"
        hi = "" if max_value is None else f"{'<=' if max_inclusive else '<'} {max_value}"
        bounds = " and ".join(b for b in (lo, hi) if b)
        raise ValueError(f"{name} must be a finite number{' ' + bounds if bounds else ''}, got {value!r}")
    return out


def check_choice(name: str, value: Any, allowed: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``allowed``, else raise ``ValueError`` listing them."""
    allowed = list(allowed)
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; allowed values: {', '.join(map(str, allowed))}")
    return str(value)


def check_seed(name: str, value: Any) -> int:
    """Return a non-negative integer seed, or raise ``ValueError``."""
    return check_int(name, value, min_value=0)


def _is_integral(value: Any) -> bool:
    try:
        import numpy as np

        return isinstance(value, np.integer)
    except ImportError:  # pragma: no cover
        return False


def _range(lo: int | None, hi: int | None) -> str:
    if lo is not None and hi is not None:
        return f" in [{lo}, {hi}]"
    if lo is not None:
        return f" >= {lo}"
    if hi is not None:
        return f" <= {hi}"
    return ""


def split_kwargs(
    owner: str,
    kwargs: dict[str, Any],
    groups: dict[str, Iterable[str]],
    *,
    also_allowed: Iterable[str] = (),
) -> dict[str, dict[str, Any]]:
    """Split flat keyword arguments between the configs that own them.

    Args:
        owner: what the arguments are for, named in the error (e.g. ``"Synthetic-v0"``).
        kwargs: the flat arguments.
        groups: group name -> the argument names it takes (disjoint).
        also_allowed: names accepted elsewhere (listed in the error, never returned).

    Returns:
        group name -> the arguments of ``kwargs`` that belong to it.

    Raises:
        ValueError: an argument no group takes, naming it and listing the allowed ones.
    """
    owned = {name: group for group, names in groups.items() for name in names}
    unknown = sorted(set(kwargs) - set(owned))
    if unknown:
        allowed = ", ".join(sorted(set(owned) | set(also_allowed)))
        raise ValueError(f"unknown {owner} argument(s) {unknown}; allowed: {allowed}")
    out: dict[str, dict[str, Any]] = {group: {} for group in groups}
    for name, value in kwargs.items():
        out[owned[name]][name] = value
    return out
