"""The point kinds: name -> pure point function, given as an import path.

A point function takes its parameters as keyword arguments (each with a default unless
a grid must give it), plus `seed` if it draws random numbers, and returns a flat record:
a dict of field name -> str, int, float, bool or None, no field named like a parameter.
Only the kind's name and the point's parameters travel to a worker, which imports the
function by its path; so a kind lives in an importable module, and registering one is
one line::

    register("functional", "simulator.functional.points:functional_point")

`warmup`, also an import path, names a function run once per worker process before
its first point (numba compilation, say), not once per point.
"""
from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable

from workloads import ConfigError


def resolve(target: str) -> Callable[..., Any]:
    """The object an import path `'package.module:function'` names."""
    module, _, name = target.partition(":")
    obj: Any = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


@dataclass(frozen=True)
class PointKind:
    """A registered point function and what its signature says about its parameters."""

    name: str
    target: str
    warmup: str | None = None

    @cached_property
    def _signature(self) -> inspect.Signature:
        return inspect.signature(resolve(self.target))

    @property
    def parameters(self) -> tuple[str, ...]:
        """The names a grid may set (`seed` excluded: each point gets its own)."""
        return tuple(n for n in self._signature.parameters if n != "seed")

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(n for n, p in self._signature.parameters.items()
                     if n != "seed" and p.default is inspect.Parameter.empty)

    @property
    def defaults(self) -> dict[str, Any]:
        return {n: p.default for n, p in self._signature.parameters.items()
                if n != "seed" and p.default is not inspect.Parameter.empty}

    @property
    def takes_seed(self) -> bool:
        return "seed" in self._signature.parameters


KINDS: dict[str, PointKind] = {}


def register(name: str, target: str, warmup: str | None = None) -> PointKind:
    """Register (or replace) point kind `name`; `target` and `warmup` are 'module:function' paths."""
    for what, path in (("target", target), ("warmup", warmup)):
        if path is not None and (not isinstance(path, str) or ":" not in path):
            raise ConfigError(f"point kind {name!r}: {what} must be 'module:function', got {path!r}")
    KINDS[name] = kind = PointKind(name, target, warmup)
    return kind


def point_kind(name: str, where: str = "experiment") -> PointKind:
    """The registered kind `name`; an unknown name is a ConfigError naming the known ones."""
    if not isinstance(name, str) or name not in KINDS:
        raise ConfigError(f"{where}: field 'kind' must be one of {', '.join(KINDS)}, got {name!r}")
    return KINDS[name]


register("schedule", "simulator.experiments.points:schedule_point")
register("des", "simulator.experiments.points:des_point")
register("train", "simulator.experiments.training:train_point", warmup="simulator.experiments.training:warm_up")
