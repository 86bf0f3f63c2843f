"""Machine files: load a preset or a TOML file, and write a machine back as TOML.

File format (every section optional; units in the key or below)::

    name = "mymachine"
    description = "what it is"
    clock_ghz = 1.0

    [processors]
    count = 4                  # optional: default is the schedule's number of processors
    array = "32x32"            # SR x SC of every processor
    sram_bytes = 4194304       # per processor; inf = unbounded
    zero_skip = false          # arrays skip zero spikes in FP and WG (cycles shrink with the density)

    [[processors.override]]    # a processor that differs (heterogeneous machines)
    index = 2
    array = "16x64"
    sram_bytes = 1048576

    [dram]                     # absent: no DRAM, everything stays in SRAM
    bandwidth = 25.6           # bytes per cycle
    latency = 100              # cycles
    channels = "shared"        # or "per_processor"

    [interconnect]
    topology = "chain"         # chain | ring | mesh2d | shared
    bandwidth = 16.0           # bytes per cycle per link; inf = free
    latency = 20               # cycles per link
    mesh_rows = 2              # mesh2d only
    mesh_cols = 2
    placement = [0, 1, 2, 3]   # node of each processor; default processor p on node p

    [energy]                   # pJ, pJ per byte, mW; defaults in energy_table.py
    mac_pj = 4.6

Every error is one line naming the file and the field.
"""
from __future__ import annotations

import json
import math
import tomllib
from dataclasses import fields
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from simulator.cost import ArrayConfig
from workloads import ConfigError

from .description import Machine
from .energy_table import EnergyTable
from .fields import PREFIX, fail
from .interconnect import Interconnect
from .memory import Dram
from .processors import ProcessorOverride, Processors

_PRESET_DIR = resources.files(__package__) / "presets"
PRESETS: tuple[str, ...] = tuple(sorted(p.name[:-5] for p in _PRESET_DIR.iterdir() if p.name.endswith(".toml")))
"""Names of the built-in machines (the TOML files in `presets/`)."""

DEFAULT_MACHINE = "realistic"
"""The preset used when none is named."""

_KEYS: dict[str, tuple[str, ...]] = {
    "": ("name", "description", "clock_ghz", "processors", "dram", "interconnect", "energy"),
    "processors": ("count", "array", "sram_bytes", "zero_skip", "override"),
    "processors.override": ("index", "array", "sram_bytes"),
    "dram": ("bandwidth", "latency", "channels"),
    "interconnect": ("topology", "bandwidth", "latency", "mesh_rows", "mesh_cols", "placement"),
    "energy": tuple(f.name for f in fields(EnergyTable)),
}


def load_machine(name_or_path: str | Path) -> Machine:
    """A preset by name (`PRESETS`) or a machine read from a TOML file."""
    key = str(name_or_path)
    if key.lower() in PRESETS:
        return _preset(key.lower())
    path = Path(key)
    if path.suffix.lower() != ".toml" and not path.is_file():
        raise ConfigError(f"unknown machine {key!r}: use one of {', '.join(PRESETS)} or a .toml file")
    try:
        text = path.read_bytes().decode()
    except OSError as exc:
        raise ConfigError(f"machine file {key}: cannot read it: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"machine file {key}: not valid TOML: {exc}") from None
    return _parse(text, f"file {key}", path.stem)


@lru_cache(maxsize=None)
def _preset(name: str) -> Machine:
    return _parse((_PRESET_DIR / f"{name}.toml").read_text(), f"preset {name}", name)


def _parse(text: str, where: str, default_name: str) -> Machine:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"machine {where}: not valid TOML: {exc}") from None
    try:
        return machine_from_dict(data, default_name)
    except ConfigError as exc:
        message = str(exc)
        raise ConfigError(f"machine {where}: {message.removeprefix(PREFIX)}") from None


def machine_from_dict(data: Any, default_name: str = "custom") -> Machine:
    """Build and validate a `Machine` from parsed TOML (or JSON: "inf" may be a string)."""
    table = _table("", data)
    proc = _table("processors", table.get("processors", {}))
    overrides = proc.get("override", [])
    if not isinstance(overrides, list):
        fail("processors.override", "a list of tables ([[processors.override]])", overrides)
    processors = Processors(
        array=_array("processors.array", proc.get("array", "32x32")),
        sram_bytes=_inf(proc.get("sram_bytes", math.inf)),
        count=proc.get("count"),
        overrides=tuple(_override(item) for item in overrides),
        zero_skip=proc.get("zero_skip", False),
    )
    dram = None
    if "dram" in table:
        d = _table("dram", table["dram"])
        for required in ("bandwidth", "latency"):
            if required not in d:
                raise ConfigError(f"{PREFIX}field 'dram.{required}' is missing (a DRAM needs bandwidth "
                                  f"in bytes per cycle and latency in cycles; omit [dram] for none)")
        dram = Dram(d["bandwidth"], d["latency"], d.get("channels", "shared"))
    ic = _table("interconnect", table.get("interconnect", {}))
    interconnect = Interconnect(
        topology=ic.get("topology", "chain"), bandwidth=_inf(ic.get("bandwidth", math.inf)),
        latency=ic.get("latency", 0), mesh_rows=ic.get("mesh_rows"), mesh_cols=ic.get("mesh_cols"),
        placement=ic.get("placement"))
    energy = EnergyTable(**_table("energy", table.get("energy", {})))
    return Machine(name=table.get("name", default_name), description=table.get("description", ""),
                   clock_ghz=table.get("clock_ghz", 1.0), processors=processors, dram=dram,
                   interconnect=interconnect, energy=energy)


def _table(section: str, value: Any) -> dict:
    """A TOML table with only the known keys of `section`."""
    if not isinstance(value, dict):
        fail(section or "(top level)", "a table", value)
    allowed = _KEYS[section]
    for key in value:
        if key not in allowed:
            path = f"{section}.{key}" if section else str(key)
            raise ConfigError(f"{PREFIX}unknown field {path!r}; allowed: {', '.join(allowed)}")
    return value


def _override(item: Any) -> ProcessorOverride:
    o = _table("processors.override", item)
    if "index" not in o:
        raise ConfigError(f"{PREFIX}field 'processors.override.index' is missing (the processor it overrides)")
    where = f"processors.override[index={o['index']!r}]"
    array = _array(f"{where}.array", o["array"]) if "array" in o else None
    return ProcessorOverride(o["index"], array, _inf(o.get("sram_bytes")))


def _array(path: str, value: Any) -> ArrayConfig:
    if not isinstance(value, str):
        fail(path, "a string ROWSxCOLS like '32x32'", value)
    try:
        return ArrayConfig.parse(value)
    except ConfigError:
        fail(path, "ROWSxCOLS with positive integers, like '32x32'", value)


def _inf(value: Any) -> Any:
    """'inf' (JSON has no infinity) as `math.inf`; anything else unchanged for validation."""
    if isinstance(value, str) and value.strip().lower() in ("inf", "+inf", "infinity"):
        return math.inf
    return value


def machine_to_dict(m: Machine) -> dict[str, Any]:
    """The machine in the file's layout (infinities as `math.inf`)."""
    proc: dict[str, Any] = {"array": str(m.processors.array), "sram_bytes": m.processors.sram_bytes}
    if m.count is not None:
        proc["count"] = m.count
    if m.processors.zero_skip:
        proc["zero_skip"] = True
    if m.processors.overrides:
        proc["override"] = [{"index": o.index, **({"array": str(o.array)} if o.array else {}),
                             **({} if o.sram_bytes is None else {"sram_bytes": o.sram_bytes})}
                            for o in m.processors.overrides]
    ic = m.interconnect
    inter: dict[str, Any] = {"topology": ic.topology.value, "bandwidth": ic.bandwidth, "latency": ic.latency}
    if ic.mesh_rows is not None:
        inter.update(mesh_rows=ic.mesh_rows, mesh_cols=ic.mesh_cols)
    if ic.placement is not None:
        inter["placement"] = list(ic.placement)
    out: dict[str, Any] = {"name": m.name, "description": m.description, "clock_ghz": m.clock_ghz,
                           "processors": proc}
    if m.dram is not None:
        out["dram"] = {"bandwidth": m.dram.bandwidth, "latency": m.dram.latency, "channels": m.dram.channels.value}
    out["interconnect"] = inter
    out["energy"] = {f.name: getattr(m.energy, f.name) for f in fields(EnergyTable)}
    return out


def machine_to_toml(m: Machine) -> str:
    """The machine as a TOML file `load_machine` reads back to an equal machine."""
    d = machine_to_dict(m)
    lines = [f"{k} = {_toml(v)}" for k, v in d.items() if not isinstance(v, dict)]
    for section, body in ((k, v) for k, v in d.items() if isinstance(v, dict)):
        lines += ["", f"[{section}]"] + [f"{k} = {_toml(v)}" for k, v in body.items() if k != "override"]
        for item in body.get("override", []):
            lines += ["", f"[[{section}.override]]"] + [f"{k} = {_toml(v)}" for k, v in item.items()]
    return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")  # a TOML basic string
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "inf" if math.isinf(value) else repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)
