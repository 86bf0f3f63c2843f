"""Spike activity of a network on a batch, and `activity.json`, the file that hands it to the energy model.

`SpikeActivity` holds, for one forward pass, the density of the input spikes (None for a
real-valued input current), the firing rate of every spiking layer (the share of ones among
its spikes over timesteps, samples and neurons, before pooling, eq. 5) and the density of
what it sends on (after its max-pool). The trainer measures it on its probe batch
(`models.train`); a run folder writes the last measurement as `activity.json`:

    {"format": "spikepipe-activity", "version": 1, "network": "dvs128", "source": "...",
     "layers": [{"layer": "conv1", "reads": "spikes", "density": 0.1}, ...]}

one entry per compute layer: the density of the spikes that layer reads (layer 0: its input
events; layer l > 0: what layer l - 1 sends after pooling), or `"reads": "current"` and
`"density": null` for a layer fed with real values. `load_activity` reads it back as the
`(densities, source)` that `simulator.energy.Activity` takes (a real-valued input becomes 1.0,
which the energy model ignores: it prices that layer's products as real MACs).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import numpy as np

from workloads.errors import ConfigError, path_error
from workloads.network import Network

from . import snn

ACTIVITY_FILE = "activity.json"
FORMAT, VERSION = "spikepipe-activity", 1


def density(spikes: np.ndarray) -> float:
    """Share of ones in a 0/1 spike array."""
    return int(np.count_nonzero(spikes)) / spikes.size


class SpikeActivity(NamedTuple):
    """One forward pass's activity: the input's spike density (None: real-valued current), and per
    spiking layer the firing rate before pooling and the density of what it sends after pooling."""

    input_density: float | None
    firing: tuple[float, ...]
    sent: tuple[float, ...]

    @property
    def reads(self) -> tuple[float | None, ...]:
        """Per compute layer: the density of the spikes it reads (None: real-valued input)."""
        return (self.input_density,) + self.sent

    def metrics(self, prefix: str = "") -> dict:
        """As metrics fields (rounded to 6 digits): `input_density`, `firing_rates` and `sent_rates`,
        each name after `prefix`; `from_metrics` reads them back."""
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 6)

        return {f"{prefix}input_density": r(self.input_density), f"{prefix}firing_rates": [r(v) for v in self.firing],
                f"{prefix}sent_rates": [r(v) for v in self.sent]}

    @classmethod
    def from_metrics(cls, row: dict, prefix: str = "") -> SpikeActivity:
        """The activity recorded in a metrics row by `metrics`."""
        return cls(row[f"{prefix}input_density"], tuple(row[f"{prefix}firing_rates"]),
                   tuple(row[f"{prefix}sent_rates"]))

    def line(self) -> str:
        """A compact line: 'input 0.100 | fired 0.100 0.098 ... | sent 0.31 ...' (input 'current' if real)."""
        inp = "current" if self.input_density is None else f"{self.input_density:.3f}"
        return (f"input {inp} | fired " + " ".join(f"{r:.3f}" for r in self.firing)
                + " | sent " + " ".join(f"{r:.3f}" for r in self.sent))


def activity_of(x: np.ndarray, static: bool, states: list[snn.LayerState]) -> SpikeActivity:
    """The activity of a forward pass (`snn.forward`) of input `x` from its layer states."""
    spiking = states[:-1]  # the output layer accumulates potentials, it does not spike (eq. 18)
    return SpikeActivity(None if static else density(x), tuple(density(s.spikes) for s in spiking),
                         tuple(density(s.sent) for s in spiking))


def measure_activity(net: Network, params: snn.Params, x: np.ndarray, static: bool) -> SpikeActivity:
    """Run the forward pass of `x` and return its activity."""
    _, states = snn.forward(net, params, x, static)
    return activity_of(x, static, states)


def activity_json(net: Network, activity: SpikeActivity, source: str) -> str:
    """The `activity.json` document of `activity` measured on `net`."""
    layers = [{"layer": layer.name, "reads": "current" if d is None else "spikes", "density": d}
              for layer, d in zip(net.compute_layers(), activity.reads)]
    return json.dumps({"format": FORMAT, "version": VERSION, "network": net.name, "source": source,
                       "layers": layers}, indent=2)


class MeasuredActivity(NamedTuple):
    """What `activity.json` gives the energy model: `simulator.energy.Activity(*measured)`."""

    densities: tuple[float, ...]
    source: str


def load_activity(path: str | Path, net: Network | None = None) -> MeasuredActivity:
    """Read an `activity.json`; with `net`, check it was measured on a network with the same compute
    layers. ConfigError naming the file and the field if it is not one."""
    path = Path(path)

    def bad(why: str) -> ConfigError:
        return ConfigError(f"activity file {path}: {why}; write it with `spikepipe train` (activity.json in the "
                           "run folder)")

    try:
        doc = json.loads(path.read_text())
    except OSError as exc:
        raise path_error(exc, "read", path) from None
    except ValueError as exc:
        raise bad(f"not JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("version") != VERSION:
        raise bad(f"field 'format' must be {FORMAT!r} with 'version' {VERSION}")
    layers, source = doc.get("layers"), doc.get("source")
    if not isinstance(source, str) or not isinstance(layers, list) or not layers:
        raise bad("fields 'source' (text) and 'layers' (a non-empty list) are required")
    densities = []
    for i, entry in enumerate(layers):
        d = entry.get("density") if isinstance(entry, dict) else None
        reads = entry.get("reads") if isinstance(entry, dict) else None
        if reads == "current" and d is None:
            densities.append(1.0)  # real-valued input: the energy model prices real MACs, not the density
        elif reads == "spikes" and isinstance(d, (int, float)) and not isinstance(d, bool) and 0.0 <= d <= 1.0:
            densities.append(float(d))
        else:
            raise bad(f"layer {i} must have 'reads' 'spikes' with a 'density' in [0, 1], or 'reads' 'current' "
                      f"with 'density' null, got {entry!r}")
    if net is not None:
        names = [layer.name for layer in net.compute_layers()]
        got = [entry.get("layer") for entry in layers]
        if got != names:
            raise bad(f"measured on the layers {got} of {doc.get('network')!r}, not on {names} of {net.name!r}")
    return MeasuredActivity(tuple(densities), source)
