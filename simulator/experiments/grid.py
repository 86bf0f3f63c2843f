"""An experiment: a named, seeded grid of points for one point kind.

A grid file (TOML or JSON) or dict holds::

    name = "bus"            # names the experiment (and its results)
    seed = 0                # every point's seed derives from it
    kind = "des"            # the point function (see `kinds`)
    [fixed]                 # parameters every point shares
    network = "mnist"
    [vary]                  # parameter lists; the grid is their Cartesian product
    procs = [2, 4]
    bandwidth = ["inf", 8.0]

Points come in a stable order: the product of the `vary` lists as written, the first
list outermost. Each point's parameters are the kind's defaults, overridden by `fixed`,
then by its `vary` values. Its key is a short hash of the canonical JSON of the
experiment name, seed, kind and those parameters, so it does not depend on the order
of any mapping; its seed is a hash of the experiment seed and the key.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Union

from workloads import ConfigError

from .kinds import point_kind

Scalar = Union[str, int, float, bool]
FIELDS = ("name", "seed", "kind", "description", "fixed", "vary")


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, finite numbers only: the same value always gives the same text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def point_key(name: str, seed: int, kind: str, params: Mapping[str, Scalar]) -> str:
    """16 hex digits identifying one point of one experiment."""
    text = canonical_json({"experiment": name, "seed": seed, "kind": kind, "params": dict(params)})
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def point_seed(seed: int, key: str) -> int:
    """A 63-bit seed for the point with `key`, from the experiment seed."""
    digest = hashlib.sha256(f"{seed}/{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


@dataclass(frozen=True)
class Point:
    """One point of the grid: its place in grid order, key, seed and full parameters."""

    index: int
    key: str
    seed: int
    params: dict[str, Scalar]


@dataclass(frozen=True)
class Experiment:
    """A validated grid; `points()` expands it."""

    name: str
    seed: int
    kind: str
    fixed: dict[str, Scalar]
    vary: dict[str, tuple[Scalar, ...]]
    description: str = ""

    def __post_init__(self) -> None:
        where = f"experiment {self.name!r}" if isinstance(self.name, str) else "experiment"
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError(f"{where}: field 'name' must be a non-empty string, got {self.name!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"{where}: field 'seed' must be a non-negative integer, got {self.seed!r}")
        if not isinstance(self.description, str):
            raise ConfigError(f"{where}: field 'description' must be a string, got {self.description!r}")
        kind = point_kind(self.kind, where)
        for section in ("fixed", "vary"):
            if not isinstance(getattr(self, section), Mapping):
                raise ConfigError(f"{where}: field '{section}' must be a table of parameters")
        object.__setattr__(self, "fixed", dict(self.fixed))
        object.__setattr__(self, "vary", {k: tuple(v) if isinstance(v, (list, tuple)) else v
                                          for k, v in self.vary.items()})
        for name, value in self.fixed.items():
            _check_scalar(value, f"{where}: fixed parameter '{name}'")
        for name, values in self.vary.items():
            if not isinstance(values, tuple) or not values:
                raise ConfigError(f"{where}: vary parameter '{name}' must be a non-empty list, got {values!r}")
            for value in values:
                _check_scalar(value, f"{where}: vary parameter '{name}'")
            if len(set(map(canonical_json, values))) != len(values):
                raise ConfigError(f"{where}: vary parameter '{name}' lists a value twice: {list(values)}")
        both = sorted(set(self.fixed) & set(self.vary))
        if both:
            raise ConfigError(f"{where}: parameter '{both[0]}' is both fixed and varied; keep one")
        for name in itertools.chain(self.fixed, self.vary):
            if name not in kind.parameters:
                raise ConfigError(f"{where}: kind '{self.kind}' has no parameter '{name}'; "
                                  f"it takes {', '.join(kind.parameters)}")
        missing = [n for n in kind.required if n not in self.fixed and n not in self.vary]
        if missing:
            raise ConfigError(f"{where}: kind '{self.kind}' needs parameter '{missing[0]}' in fixed or vary")

    def points(self) -> list[Point]:
        """Every point, in grid order."""
        base = {**point_kind(self.kind).defaults, **self.fixed}
        names = list(self.vary)
        points = []
        for index, values in enumerate(itertools.product(*self.vary.values())):
            params = {**base, **dict(zip(names, values))}
            key = point_key(self.name, self.seed, self.kind, params)
            points.append(Point(index, key, point_seed(self.seed, key), params))
        return points

    def as_dict(self) -> dict[str, Any]:
        """The grid as written (the form `experiment_from_dict` reads)."""
        return {"name": self.name, "seed": self.seed, "kind": self.kind, "description": self.description,
                "fixed": dict(self.fixed), "vary": {k: list(v) for k, v in self.vary.items()}}


def _check_scalar(value: Any, where: str) -> None:
    if not isinstance(value, (str, int, float, bool)):
        raise ConfigError(f"{where} must be a string, number or boolean, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where} must be finite, got {value!r} (write infinity as the string \"inf\")")


def experiment_from_dict(data: Mapping[str, Any], where: str = "experiment") -> Experiment:
    """Validate a grid given as a dict; unknown fields are errors."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: must be a table with fields {', '.join(FIELDS)}")
    unknown = [k for k in data if k not in FIELDS]
    if unknown:
        raise ConfigError(f"{where}: unknown field '{unknown[0]}'; fields are {', '.join(FIELDS)}")
    for field in ("name", "seed", "kind"):
        if field not in data:
            raise ConfigError(f"{where}: field '{field}' is missing")
    return Experiment(data["name"], data["seed"], data["kind"], data.get("fixed", {}), data.get("vary", {}),
                      data.get("description", ""))


def load_experiment(source: str | Path | Mapping[str, Any]) -> Experiment:
    """An experiment from a .toml or .json grid file, or from a dict."""
    if isinstance(source, Mapping):
        return experiment_from_dict(source)
    path = Path(source)
    if path.suffix.lower() not in (".toml", ".json"):
        raise ConfigError(f"grid file {path}: must be .toml or .json")
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"grid file {path}: cannot be read ({exc.strerror})") from None
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"grid file {path}: {' '.join(str(exc).split())}") from None
    where = f"grid file {path}"
    try:
        return experiment_from_dict(data, where)
    except ConfigError as exc:
        if str(exc).startswith(where):
            raise
        raise ConfigError(f"{where}: {exc}") from None
