"""What `spikepipe cycles` sets beside Table VI: the communication per weight update averaged
over the paper's batch sizes, and the memory for backward-pass intermediates at batch 32, with
the values Section VI publishes."""
from __future__ import annotations

from simulator.cost import ArrayConfig, network_cost
from workloads import Network

from .sweep import PAPER_BATCHES

PAPER_COMMUNICATION_MB = {"mnist": 3.22, "dvs128": 982.98}  # averaged over batch sizes 1..128
PAPER_MEMORY_MB = {"mnist": 11.568, "nmnist": 44.217, "dvs128": 2092.0}  # one processor, batch 32
MEMORY_BATCH = 32


def mean_communication_bytes(net: Network, array: ArrayConfig) -> float:
    """Bytes communicated per weight update, averaged over batch sizes 1, 2, ..., 128 (Section VI)."""
    return sum(network_cost(net, array, b).communication_bytes for b in PAPER_BATCHES) / len(PAPER_BATCHES)
