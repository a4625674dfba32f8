"""Argument checks shared by the whole package: each error names the argument, what was expected and what came."""
from __future__ import annotations

import numbers


def check_int(name: str, value, lowest: int = 1, highest: int | None = None, hint: str = "") -> int:
    """Lesson 0: `value` as an int in lowest..highest (a bool is not an int here), else a ValueError naming `name`.

    `hint` is added to the message, e.g. " (cells are 9 px)".
    """
    if highest is not None:
        wanted = f"an integer in {lowest}..{highest}"
    else:
        wanted = {1: "a positive integer", 0: "a non-negative integer"}.get(lowest, f"an integer >= {lowest}")
    ok = not isinstance(value, bool) and isinstance(value, numbers.Integral)
    if not ok or value < lowest or (highest is not None and value > highest):
        # a ValueError for a wrong type too, so callers catch one kind of bad argument
        raise ValueError(f"{name} must be {wanted}{hint}, got {value!r}")
    return int(value)
