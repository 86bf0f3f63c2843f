"""`TaskSlice`: tiles of one training task, the unit every schedule is made of."""
from __future__ import annotations

from dataclasses import dataclass

from simulator.cost import TaskCost, TaskKind
from workloads import ConfigError


@dataclass(frozen=True)
class TaskSlice:
    """Tiles `[tile_start, tile_stop)` of task `kind` of compute layer `layer`.

    Tiles are numbered row-major: row tile outer, column tile inner.
    `task_tiles` is the whole task's tile count, so a slice knows if it is whole.
    """

    layer: int
    kind: TaskKind
    tile_start: int
    tile_stop: int
    cycles: int
    task_tiles: int

    def __post_init__(self) -> None:
        if not 0 <= self.tile_start < self.tile_stop <= self.task_tiles:
            raise ConfigError(f"slice {self.kind.value}{self.layer}: tiles [{self.tile_start}:{self.tile_stop}] "
                              f"not within [0:{self.task_tiles}]")

    @property
    def tiles(self) -> int:
        return self.tile_stop - self.tile_start

    @property
    def whole(self) -> bool:
        """True if the slice covers its whole task."""
        return self.tile_start == 0 and self.tile_stop == self.task_tiles

    @property
    def task_label(self) -> str:
        return f"{self.kind.value}{self.layer}"

    @property
    def label(self) -> str:
        """'FP0' for a whole task, 'FP0[0:98]' for part of one."""
        return self.task_label if self.whole else f"{self.task_label}[{self.tile_start}:{self.tile_stop}]"

    @classmethod
    def of(cls, task: TaskCost, start: int = 0, stop: int | None = None) -> TaskSlice:
        """The slice of `task` covering tiles `[start, stop)` (all of it by default)."""
        stop = task.tiles if stop is None else stop
        return cls(task.layer, task.kind, start, stop, (stop - start) * task.cycles_per_tile, task.tiles)
