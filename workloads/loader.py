"""Load a network by built-in name or from a TOML / JSON file, with validation.

File format (TOML shown; JSON has the same keys)::

    name = "mynet"
    timesteps = 8
    input = [28, 28, 1]        # [H, W, C] or [Q]
    input_kind = "current"     # or "spikes" (optional, default "current")

    [neuron]                   # optional; defaults c = 4, lam = 0.25, threshold = 0.5,
    c = 4.0                    # alpha = 0.5 (surrogate width, eq. 22); see `Neuron`

    [[layers]]
    type = "conv"              # conv | maxpool | sumpool | avgpool | dense | output
    filters = 8
    kernel = 3                 # optional, default 3
    padding = 1                # optional, default 1; 0 <= padding < kernel
    stride = 1                 # optional, default 1; H_out = (H + 2 padding - kernel) // stride + 1
    delay = 6                  # optional gradient delay, default 0

    [[layers]]
    type = "maxpool"           # or "sumpool" (window spike counts), "avgpool" (counts / size^2)
    size = 2                   # optional, default 2: non-overlapping size x size windows

    [[layers]]
    type = "output"
    units = 10

Every error names the file, the layer and the field.

Two interchange formats load by suffix as well: `.nir` (a NIR graph, `workloads.nir_io`,
needs the timestep `dt` and the number of timesteps unless its metadata holds them) and
`.csv` (a SCALE-Sim convolution topology, `workloads.scalesim`, needs the number of timesteps).
"""
from __future__ import annotations

import json
import tomllib
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from .builtin import BUILTIN
from .errors import ConfigError, path_error
from .network import MAX_LAYERS, POOL_SPECS, Conv, Dense, InputKind, LayerSpec, Network, Neuron, Output

_LAYER_TYPES: dict[str, tuple[type, tuple[str, ...], tuple[str, ...]]] = {
    # type: (class, required fields, optional fields)
    "conv": (Conv, ("filters",), ("kernel", "padding", "stride", "name", "delay")),
    **{f"{kind}pool": (cls, (), ("size", "name")) for kind, cls in POOL_SPECS.items()},
    "dense": (Dense, ("units",), ("name", "delay")),
    "output": (Output, ("units",), ("name", "delay")),
}
_TOP_FIELDS = {"name", "timesteps", "input", "input_kind", "neuron", "layers"}
_NEURON_FIELDS = tuple(f.name for f in fields(Neuron))


def load_network(name_or_path: str | Path, *, timesteps: int | None = None, dt: float | None = None) -> Network:
    """A built-in network by name (`mnist`, `nmnist`, `dvs128`) or one read from a file
    (.toml, .json, .nir or a SCALE-Sim .csv topology).

    `timesteps` replaces the network's T (a SCALE-Sim topology, and a NIR file without
    it in its metadata, need it); `dt` (seconds) discretises a NIR file's neurons."""
    key = str(name_or_path)
    suffix = Path(key).suffix.lower()
    if dt is not None and suffix != ".nir":
        raise ConfigError(f"network {key}: --dt applies to .nir networks only")
    if timesteps is not None and (isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 1):
        raise ConfigError(f"--timesteps must be a positive integer, got {timesteps!r}")
    if suffix in (".nir", ".csv"):
        if not Path(key).is_file():
            raise ConfigError(f"network file {key}: not found")
        if suffix == ".nir":
            from .nir_io import read_nir
            return read_nir(key, dt=dt, timesteps=timesteps)
        from .scalesim import read_topology
        return read_topology(key, timesteps)
    net = _load_named_or_file(key)
    return net if timesteps is None else replace(net, timesteps=timesteps)


def _load_named_or_file(key: str) -> Network:
    if key.lower() in BUILTIN:
        return BUILTIN[key.lower()]
    path = Path(key)
    if path.suffix.lower() not in (".toml", ".json"):
        raise ConfigError(
            f"unknown network {key!r}: use one of {', '.join(BUILTIN)} or a .toml/.json/.nir/.csv file"
        )
    if path.is_dir():
        raise ConfigError(f"network file {key}: is a directory; give a .toml or .json file")
    if not path.exists():
        raise ConfigError(f"network file {key}: not found")
    try:
        text = path.read_text()
    except UnicodeDecodeError as exc:
        raise ConfigError(f"network file {key}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise path_error(exc, "read", key) from None
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except RecursionError:
        raise ConfigError(f"network file {key}: nested too deeply to be a network") from None
    except ValueError as exc:  # TOMLDecodeError, JSONDecodeError, an integer of thousands of digits
        raise ConfigError(f"network file {key}: not valid {path.suffix[1:].upper()}: {exc}") from None
    try:
        return network_from_dict(data, default_name=path.stem)
    except ConfigError as exc:
        raise ConfigError(f"network file {key}: {exc}") from None


def network_from_dict(data: Any, default_name: str = "custom") -> Network:
    """Build and validate a `Network` from parsed TOML/JSON data."""
    if not isinstance(data, dict):
        raise ConfigError("the top level must be a table/object")
    unknown = set(data) - _TOP_FIELDS
    if unknown:
        raise ConfigError(f"unknown field(s) {sorted(unknown)}; allowed: {sorted(_TOP_FIELDS)}")
    for required in ("timesteps", "input", "layers"):
        if required not in data:
            raise ConfigError(f"missing field '{required}'")
    if not isinstance(data["input"], list) or not all(isinstance(v, int) for v in data["input"]):
        raise ConfigError(f"field 'input' must be a list of integers [H, W, C] or [Q], got {data['input']!r}")
    if not isinstance(data["layers"], list) or not data["layers"]:
        raise ConfigError("field 'layers' must be a non-empty list of tables")
    if len(data["layers"]) > MAX_LAYERS:
        raise ConfigError(f"field 'layers' holds {len(data['layers'])} layers, at most {MAX_LAYERS:,} are allowed")
    neuron_data = data.get("neuron", {})
    if not isinstance(neuron_data, dict) or set(neuron_data) - set(_NEURON_FIELDS):
        raise ConfigError(f"field 'neuron' may only hold {', '.join(repr(f) for f in _NEURON_FIELDS)}")
    name = data.get("name", default_name)
    if not isinstance(name, str):
        raise ConfigError(f"field 'name' must be a string, got {name!r}")
    layers = tuple(_layer(pos, item) for pos, item in enumerate(data["layers"]))
    return Network(
        name=name,
        input_shape=tuple(data["input"]),
        layers=layers,
        timesteps=data["timesteps"],
        neuron=Neuron(**neuron_data),
        input_kind=data.get("input_kind", InputKind.CURRENT),
    )


def _layer(pos: int, item: Any) -> LayerSpec:
    if not isinstance(item, dict):
        raise ConfigError(f"layer {pos}: must be a table/object, got {item!r}")
    kind = item.get("type")
    label = f"layer {pos}" + (f" ({item['name']})" if isinstance(item.get("name"), str) else "")
    if kind is None:
        raise ConfigError(f"{label}: missing field 'type'")
    if not isinstance(kind, str) or kind not in _LAYER_TYPES:
        raise ConfigError(f"{label}: unknown layer type {kind!r}; allowed: {', '.join(_LAYER_TYPES)}")
    cls, required, optional = _LAYER_TYPES[kind]
    for name in required:
        if name not in item:
            raise ConfigError(f"{label}: missing field '{name}' for a {kind} layer")
    extra = set(item) - set(required) - set(optional) - {"type"}
    if extra:
        raise ConfigError(f"{label}: unknown field(s) {sorted(extra)} for a {kind} layer")
    for name, value in item.items():
        if name == "name" and not isinstance(value, str):
            raise ConfigError(f"{label}: field 'name' must be a string, got {value!r}")
        if name not in ("type", "name") and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(f"{label}: field '{name}' must be an integer, got {value!r}")
    return cls(**{k: v for k, v in item.items() if k != "type"})
