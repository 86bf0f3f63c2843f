"""Every training task of a network as SCALE-Sim GEMM topologies, so SCALE-Sim can run the same work.

SCALE-Sim (v2 and v3, `-i gemm`) reads a GEMM topology, one matrix product per row::

    Layer Name, M, N, K,
    FP0_conv1, 6272, 8, 9,

and maps each row onto its output-stationary array (`Dataflow : os`) as M output rows
(ArrayHeight = SR), N output columns (ArrayWidth = SC) and K MACs per output. A task's
`Gemm(rows, cols, macs)` (Tables IV and V) is exactly that M, N, K. SCALE-Sim's OS model folds
the product into ceil(M/SR) * ceil(N/SC) tiles of K + SR + SC - 2 cycles each (eq. 26-28, with
the operand skew and the output drain), and reports the index of the last cycle, one less than
`simulator.cost` (SCALE-Sim issue #125): `scalesim_cycles`.
"""
from __future__ import annotations

from simulator.cost import ArrayConfig, NetworkCost, TaskCost
from workloads import ConfigError

GEMM_HEADER = "Layer Name, M, N, K,"
LAYOUT_HEADER = "Layer name, IFMAP Height Intraline Factor, IFMAP Width Intraline Factor,\n"
"""SCALE-Sim v3 reads a layout file (`-l`) even when no custom layout is on; a header alone declares none."""


def task_row_name(task: TaskCost) -> str:
    """`FP0_conv1`: the task label and its layer's name (SCALE-Sim names cannot hold commas)."""
    name = f"{task.label}_{task.name}"
    if "," in name or "\n" in name:
        raise ConfigError(f"layer '{task.name}': a SCALE-Sim layer name cannot contain a comma or a newline")
    return name


def gemm_topology(cost: NetworkCost) -> str:
    """The GEMM topology of every task in `cost.tasks` (one row each, trailing commas as SCALE-Sim wants)."""
    rows = [GEMM_HEADER] + [f"{task_row_name(t)}, {t.gemm.rows}, {t.gemm.cols}, {t.gemm.macs},"
                            for t in cost.tasks]
    return "\n".join(rows) + "\n"


def scalesim_cycles(task: TaskCost) -> int:
    """The compute cycles SCALE-Sim reports for the task's GEMM on the same array: eq. 28 minus one."""
    return task.cycles - 1


def scale_config(array: ArrayConfig, run_name: str) -> str:
    """A `scale.cfg` for an output-stationary SR x SC array that SCALE-Sim v2 and v3 both read.

    Bandwidth is computed (`InterfaceBandwidth: CALC`), so memory never stalls the array and the
    compute cycles are the array's alone, as in the cost model. The [layout] and [sparsity]
    sections and the request buffers are the ones v3 requires; v2 ignores them."""
    return f"""[general]
run_name = {run_name}

[architecture_presets]
ArrayHeight:    {array.rows}
ArrayWidth:     {array.cols}
IfmapSramSzkB:   1024
FilterSramSzkB:  1024
OfmapSramSzkB:   1024
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Bandwidth : 10
Dataflow : os
MemoryBanks:   1
ReadRequestBuffer: 512
WriteRequestBuffer: 512

[layout]
IfmapCustomLayout: False
FilterCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""
