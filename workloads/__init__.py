"""Workloads: what is trained (networks) and on what (datasets). Knows nothing of hardware."""
from .builtin import BUILTIN, DVS128, MNIST, NMNIST
from .errors import ConfigError
from .loader import load_network, network_from_dict
from .network import (AvgPool, ComputeLayer, Conv, Dense, InputKind, LayerKind, MaxPool, Network, Neuron, Output,
                      Pool, PoolKind, SumPool)

__all__ = [
    "BUILTIN", "DVS128", "MNIST", "NMNIST", "ConfigError", "load_network", "network_from_dict",
    "AvgPool", "ComputeLayer", "Conv", "Dense", "InputKind", "LayerKind", "MaxPool", "Network", "Neuron", "Output",
    "Pool", "PoolKind", "SumPool",
]
