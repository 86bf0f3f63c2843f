"""Per-layer gradient delays of a training run (Section III-D) from their text form.

`table` is the network's own (Table I), `none` no delays, `6,4,2,0` one per compute layer,
and `schedule:NAME:P` the delays scheduler NAME gives on P processors (`Schedule.delays`,
`2 (P - 1 - p)` for the processor `p` holding the layer's WG), scheduled on a 32 x 32 array.
"""
from __future__ import annotations

from simulator.cost import ArrayConfig, network_cost
from workloads import ConfigError, Network

from . import make_schedule

SCHEDULE_ARRAY = ArrayConfig(32, 32)


def resolve_delays(spec: str, net: Network, batch: int) -> tuple[int, ...] | None:
    """`table|none|LIST|schedule:NAME:P` -> per compute layer delays, or None for no delays."""
    n = len(net.compute_layers())
    if spec == "none":
        return None
    if spec == "table":
        return net.delays
    if spec.startswith("schedule:"):
        parts = spec.split(":")
        if len(parts) != 3 or not parts[2].isdigit():
            raise ConfigError(f"--delays: expected schedule:NAME:P, got {spec!r}")
        return tuple(make_schedule(parts[1], network_cost(net, SCHEDULE_ARRAY, batch), int(parts[2])).delays)
    try:
        delays = tuple(int(v) for v in spec.split(","))
    except ValueError:
        raise ConfigError(f"--delays: expected table, none, a list of integers or schedule:NAME:P, "
                          f"got {spec!r}") from None
    if len(delays) != n or any(d < 0 for d in delays):
        raise ConfigError(f"--delays: {net.name} needs {n} non-negative delays, got {spec!r}")
    return delays
