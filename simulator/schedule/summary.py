"""A schedule as one JSON-ready document: cycles, speedup and bound (eq. 30-33), delays,
communication, and every processor's load, idle share and slices."""
from __future__ import annotations

from .types import Schedule


def schedule_dict(s: Schedule) -> dict:
    """Everything `spikepipe schedule --json` prints about `s`."""
    cost = s.cost
    return {
        "scheduler": s.scheduler, "network": cost.network.name, "array": [cost.array.rows, cost.array.cols],
        "batch": cost.batch, "procs": s.procs, "procs_used": s.procs_used, "total_cycles": cost.total,
        "cycles_per_update": s.cycles_per_update, "speedup": s.speedup, "bound": s.bound,
        "delays": list(s.delays), "overhead_bytes": s.overhead_bytes,
        "weight_overhead_bytes": s.weight_overhead_bytes,
        "boundary_bytes": list(s.boundary_bytes), "boundary_overhead_bytes": list(s.boundary_overhead_bytes),
        "processors": [
            {"load": load, "idle_share": idle,
             "slices": [{"label": x.label, "layer": x.layer, "kind": x.kind.value, "tile_start": x.tile_start,
                         "tile_stop": x.tile_stop, "cycles": x.cycles} for x in slices]}
            for load, idle, slices in zip(s.loads, s.idle_share, s.processors)
        ],
    }
