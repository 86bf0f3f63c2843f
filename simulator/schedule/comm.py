"""Bytes crossing each processor boundary per mini-batch, and the overhead splitting adds.

Model (byte figures from `simulator.cost`):
- Each layer has a *home*: the processor holding its weight gradient. Its
  weights are updated there, and its neuron state and gradient filter live
  there.
- Base traffic: between layer l and l+1 travel the spikes l sends and the
  gradient of those spikes (`NetworkCost.boundary_bytes()[l]`); they cross
  every processor boundary between home(l) and home(l+1).
- Overhead: every FP or IG slice away from its layer's home (a split task's
  moved part, or a whole task a scheme placed apart from its WG) costs extra
  crossings of the boundaries between its processor q and the home h:
  - the weights its tiles use (`weight_bytes`, times the share of column
    tiles it covers), copied from h each mini-batch;
  - its share of the task's input (`input_bytes` times its share of row
    tiles) where that input does not pass q anyway: an FP input arrives from
    the previous layer's home (left of h), so only q > h pays; an IG input
    (the layer's current gradient) is made at h, so q pays on either side;
  - its share of the task's output (`output_bytes` times its share of tiles)
    where it has to travel further than from h: FP outputs go on to the next
    layer (right of h), so only q < h pays; IG outputs go back to the previous
    layer (left of h), so only q > h pays.
  The weight copies alone are what the paper counts as overhead (Section
  V-D: splits cost "communicating appropriate weights"); they are reported
  separately for comparison with Table VII.
  Traffic a moved slice saves (an output produced nearer its consumer) is not
  subtracted. The dataset input of layer 0 comes from the host to whichever
  processor needs it and crosses no boundary.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from simulator.cost import TaskKind

if TYPE_CHECKING:
    from .types import Schedule, TaskSlice
    from simulator.cost import TaskCost


def _shares(s: TaskSlice, task: TaskCost) -> tuple[float, float, float]:
    """Shares of the task's columns (weights), rows (input) and tiles (output) a slice covers."""
    ct = task.col_tiles
    first_row, last_row = s.tile_start // ct, (s.tile_stop - 1) // ct
    if first_row == last_row:
        cols = (s.tile_stop - s.tile_start) / ct
    else:
        cols = 1.0
    rows = (last_row - first_row + 1) / task.row_tiles
    return cols, rows, s.tiles / task.tiles


def _moved_bytes(s: TaskSlice, task: TaskCost, q: int, h: int) -> tuple[int, int]:
    """(all extra bytes, weight bytes) per boundary crossed for a slice on q of a layer with home h."""
    cols, rows, tiles = _shares(s, task)
    weights = cols * task.weight_bytes
    extra = weights
    if task.kind is TaskKind.FP:
        if q > h and task.layer > 0:
            extra += rows * task.input_bytes
        if q < h:
            extra += tiles * task.output_bytes
    else:
        extra += rows * task.input_bytes
        if q > h:
            extra += tiles * task.output_bytes
    return round(extra), round(weights)


def boundary_traffic(schedule: Schedule) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """Per boundary p|p+1 and mini-batch: base bytes, overhead bytes, and the weights within the overhead."""
    cost = schedule.cost
    base = [0] * (schedule.procs - 1)
    extra = [0] * (schedule.procs - 1)
    weights = [0] * (schedule.procs - 1)
    homes = schedule.homes
    for layer, size in enumerate(cost.boundary_bytes()):
        for b in range(homes[layer], homes[layer + 1]):
            base[b] += size
    tasks = {(t.layer, t.kind): t for t in cost.tasks}
    for q, slices in enumerate(schedule.processors):
        for s in slices:
            h = homes[s.layer]
            if s.kind is TaskKind.WG or q == h:
                continue
            moved, copied = _moved_bytes(s, tasks[(s.layer, s.kind)], q, h)
            for b in range(min(q, h), max(q, h)):
                extra[b] += moved
                weights[b] += copied
    return tuple(base), tuple(extra), tuple(weights)
