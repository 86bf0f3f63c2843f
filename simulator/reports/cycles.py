"""What `spikepipe cycles` sets beside Table VI: the communication per weight update averaged
over the paper's batch sizes, and the memory for backward-pass intermediates at batch 32, with
the values Section VI publishes."""
from __future__ import annotations

from simulator.cost import ArrayConfig, network_cost
from simulator.paper import TABLE_VII_BATCHES
from workloads import Network

MEMORY_BATCH = 32


def mean_communication_bytes(net: Network, array: ArrayConfig) -> float:
    """Bytes communicated per weight update, averaged over batch sizes 1, 2, ..., 128 (Section VI)."""
    return sum(network_cost(net, array, b).communication_bytes for b in TABLE_VII_BATCHES) / len(TABLE_VII_BATCHES)
