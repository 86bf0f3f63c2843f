"""Energy and array utilisation of each task, beside the cost model that counts its work.

Counts come from `simulator.cost` (useful MACs, IIR filter steps, bytes read and written) and
prices from a machine's `EnergyTable`. A task's dynamic energy has three parts:

- `compute`: FP and WG multiply a binary spike by a value, so each of their MACs is a
  spike-gated accumulate (an add, done only for a 1): MACs x density x `accumulate_pj`, with
  the density of the spikes the layer reads (dense, 1.0, unless an `Activity` is given).
  A layer fed with input currents (layer 0 on images) or with the window counts of a sum or
  average pool, and every IG (dL/di_in x weight), multiply two reals: MACs x `mac_pj`. Idle
  PEs of partial tiles and skew cycles do no operation (they cost static power only).
- `iir`: filter steps x `iir_forward_pj` (FP, eq. 4-5, 18) or `iir_backward_pj` (WG's
  gradient filter, eq. 17, 23, 19).
- `sram`: every byte the task reads (inputs, weights) or writes (outputs), as
  `simulator.cost` counts them, plus the filter bank's own traffic
  (`NetworkCost.filter_bytes`), each byte once: operands are reused inside the array.

Whoever executes a schedule adds what depends on where data goes and how long things take:
`link_energy`, `dram_energy` and `static_energy`.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from simulator.cost import ArrayConfig, NetworkCost, TaskCost, TaskKind, TileGrid, cycles_per_tile
from simulator.machine import EnergyTable
from workloads import ConfigError, InputKind


@dataclass(frozen=True)
class Activity:
    """Measured spike densities: per compute layer, the fraction of ones among the spikes it
    reads (layer 0: its input events; layer l > 0: what layer l - 1 sends, after pooling)."""

    densities: tuple[float, ...]
    source: str = "measured"

    def __post_init__(self) -> None:
        object.__setattr__(self, "densities", tuple(self.densities))
        for i, d in enumerate(self.densities):
            if isinstance(d, bool) or not isinstance(d, (int, float)) or not 0.0 <= d <= 1.0:
                raise ConfigError(f"activity: density of layer {i} must be a number in [0, 1], got {d!r}")
        if not isinstance(self.source, str):
            raise ConfigError(f"activity: field 'source' must be a string, got {self.source!r}")

    @classmethod
    def from_dict(cls, data: object, where: str = "activity") -> Activity:
        """The file format `{"densities": [d_0, ...], "source": "..."}` (what `spikepipe train`
        writes as activity.json): one density per compute layer; null (a layer fed with real
        values, e.g. layer 0 on images) is dense, 1.0."""
        if not isinstance(data, dict) or not isinstance(data.get("densities"), list):
            raise ConfigError(f"{where}: must be a JSON object with a list 'densities' (one per compute layer) "
                              f"and a string 'source', got {str(data)[:80]}")
        unknown = set(data) - {"densities", "source"}
        if unknown:
            raise ConfigError(f"{where}: unknown field {sorted(unknown)[0]!r}; allowed: densities, source")
        try:
            return cls(tuple(1.0 if d is None else d for d in data["densities"]), data.get("source", "measured"))
        except ConfigError as exc:
            raise ConfigError(f"{where}: {str(exc).removeprefix('activity: ')}") from None

    def check(self, cost: NetworkCost) -> None:
        """Refuse densities that are not one per compute layer of `cost`'s network."""
        layers = cost.network.compute_layers()
        if len(self.densities) != len(layers):
            raise ConfigError(f"activity: {len(self.densities)} densities for the "
                              f"{len(layers)} compute layers of network {cost.network.name!r}")


@dataclass(frozen=True)
class TaskEnergy:
    """Dynamic energy of one task for one mini-batch, in pJ, and how compute was priced."""

    layer: int
    kind: TaskKind
    tiles: int
    compute_pj: float
    iir_pj: float
    sram_pj: float
    gated: bool  # compute is spike-gated accumulates (else real MACs)
    density: float  # spike density applied to the gated accumulates (1.0 when not gated)

    @property
    def total_pj(self) -> float:
        return self.compute_pj + self.iir_pj + self.sram_pj

    def share(self, tiles: int) -> TaskEnergy:
        """The part of a task slice of `tiles` of its tiles (in proportion, as its outputs)."""
        if isinstance(tiles, bool) or not isinstance(tiles, int) or not 0 < tiles <= self.tiles:
            raise ConfigError(f"energy share: tiles must be in 1..{self.tiles}, got {tiles!r}")
        f = tiles / self.tiles
        return replace(self, tiles=tiles, compute_pj=self.compute_pj * f, iir_pj=self.iir_pj * f,
                       sram_pj=self.sram_pj * f)


def task_energy(cost: NetworkCost, task: TaskCost, table: EnergyTable,
                activity: Activity | None = None) -> TaskEnergy:
    """Dynamic energy of `task` (one of `cost`'s) for one mini-batch."""
    gated = spike_gated(cost, task)
    density = task_density(cost, task, activity)
    compute = task.macs * (density * table.accumulate_pj if gated else table.mac_pj)
    per_step = table.iir_forward_pj if task.kind is TaskKind.FP else table.iir_backward_pj
    iir = cost.filter_steps(task.layer, task.kind) * per_step
    filter_read, filter_written = cost.filter_bytes(task.layer, task.kind)
    sram = ((task.input_bytes + task.weight_bytes + filter_read) * table.sram_read_pj_per_byte
            + (task.output_bytes + filter_written) * table.sram_write_pj_per_byte)
    return TaskEnergy(task.layer, task.kind, task.tiles, compute, iir, sram, gated, float(density))


def spike_gated(cost: NetworkCost, task: TaskCost) -> bool:
    """Whether `task` multiplies binary spikes (FP, WG of a layer fed with spikes), so that a zero
    spike does no work: not IG, nor a layer fed with currents (layer 0 on images) or pool counts."""
    layers = cost.network.compute_layers()
    real_input = (layers[task.layer - 1].sends_counts if task.layer
                  else cost.network.input_kind is InputKind.CURRENT)
    return task.kind is not TaskKind.IG and not real_input


def task_density(cost: NetworkCost, task: TaskCost, activity: Activity | None) -> float:
    """The share of `task`'s MACs that meet a non-zero spike: the measured density of the spikes
    its layer reads if it is spike-gated and `activity` is given, else 1.0 (dense)."""
    if activity is None:
        return 1.0
    activity.check(cost)
    if not spike_gated(cost, task):
        return 1.0
    return float(activity.densities[task.layer])


def network_energy(cost: NetworkCost, table: EnergyTable,
                   activity: Activity | None = None) -> tuple[TaskEnergy, ...]:
    """`task_energy` of every task of `cost.tasks`, in order."""
    return tuple(task_energy(cost, t, table, activity) for t in cost.tasks)


def link_energy(nbytes: int, hops: int, table: EnergyTable) -> float:
    """pJ to move `nbytes` across `hops` links."""
    return nbytes * hops * table.link_pj_per_byte


def dram_energy(nbytes: int, table: EnergyTable) -> float:
    """pJ to move `nbytes` to or from DRAM."""
    return nbytes * table.dram_pj_per_byte


def static_energy(seconds: float, procs: int, table: EnergyTable) -> float:
    """pJ that `procs` processors leak in `seconds` (mW x s = 1e9 pJ)."""
    return table.static_mw * seconds * procs * 1e9


def _check_array(task: TaskCost, array: ArrayConfig) -> None:
    if task.grid != TileGrid.of(task.gemm, array) or \
            task.cycles_per_tile != cycles_per_tile(task.gemm, array):
        raise ConfigError(f"utilization: task {task.label} was not costed on a {array} array")


def mapping_efficiency(task: TaskCost, array: ArrayConfig) -> float:
    """Share of the PEs the task's tiles use: N_rows * N_cols / (tiles * SR * SC); 1 when every
    tile is full (SCALE-Sim's mapping efficiency)."""
    _check_array(task, array)
    return task.gemm.rows * task.gemm.cols / (task.tiles * array.rows * array.cols)


def utilization(task: TaskCost, array: ArrayConfig) -> float:
    """Useful MACs over PE-cycles: MACs / (SR * SC * cycles), the mapping efficiency times
    N_MAC / (N_MAC + SR + SC - 2) for the skew of eq. 27 (SCALE-Sim's compute utilisation)."""
    _check_array(task, array)
    return task.macs / (array.rows * array.cols * task.cycles)

