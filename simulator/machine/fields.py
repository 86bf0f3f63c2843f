"""Checks shared by the machine records: each names the field and raises one `ConfigError` line.

Messages start with `machine: field '<section.key>'`; `load_machine` puts the file or preset
name in place of `machine:` so the user sees where the culprit is.
"""
from __future__ import annotations

import math
from enum import Enum
from typing import NoReturn, TypeVar

from workloads import ConfigError

PREFIX = "machine: "

E = TypeVar("E", bound=Enum)


def fail(path: str, expected: str, value: object) -> NoReturn:
    raise ConfigError(f"{PREFIX}field '{path}' must be {expected}, got {value!r}")


def number(path: str, value: object, *, positive: bool = True, allow_inf: bool = False) -> float:
    """A real number, > 0 (or >= 0 with `positive=False`); finite unless `allow_inf`."""
    bound = "> 0" if positive else ">= 0"
    expected = f"a number {bound}" + (" or inf" if allow_inf else "")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        fail(path, expected, value)
    try:
        value = float(value)
    except OverflowError:  # an integer beyond float range
        fail(path, expected, value)
    if math.isnan(value):
        fail(path, expected, value)
    if math.isinf(value) and not (allow_inf and value > 0):
        fail(path, expected, value)
    if value < 0 or (positive and value == 0):
        fail(path, expected, value)
    return value


def integer(path: str, value: object, *, minimum: int) -> int:
    """An integer >= `minimum` (an integral float such as 4e6 is accepted)."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        fail(path, f"an integer >= {minimum}", value)
    return value


def bytes_or_inf(path: str, value: object) -> int | float:
    """A positive whole number of bytes, or `math.inf` for unbounded."""
    if isinstance(value, float) and math.isinf(value) and value > 0:
        return math.inf
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        fail(path, "a positive integer number of bytes or inf", value)
    return value


def choice(path: str, value: object, enum: type[E]) -> E:
    """One of the enum's values (given as the enum member or its string)."""
    try:
        return enum(value)
    except (ValueError, TypeError):
        fail(path, "one of " + ", ".join(repr(m.value) for m in enum), value)
