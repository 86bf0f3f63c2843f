"""What one training step needs in memory at the least, and the refusal when the machine has less.

A network and batch that cannot fit stop with one line before anything is allocated, rather
than in a MemoryError (or the kernel's OOM killer) minutes into a run.
"""
from __future__ import annotations

import os

from workloads.errors import ConfigError
from workloads.network import Network

FLOAT32 = 4


def step_bytes(net: Network, batch: int) -> int:
    """A lower bound on the bytes of one BPTT step (eq. 14-17) at `batch`: the one-byte state of
    every layer's neurons for all T timesteps (kept for the backward pass), two float32 gradient
    tensors of the largest layer (dL/ds in and out while it is filtered) and four float32 copies
    of the weights (the weights, their gradient and Adam's two moments)."""
    layers = net.compute_layers()
    per_sample = net.timesteps * batch
    state = sum(layer.out_size for layer in layers) * per_sample
    gradients = 2 * FLOAT32 * max(layer.out_size for layer in layers) * per_sample
    weights = 4 * FLOAT32 * net.params
    return state + gradients + weights


def physical_memory() -> int | None:
    """This machine's physical memory in bytes (None where the OS does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def check_memory(net: Network, batch: int, where: str) -> None:
    """ConfigError if one training step of `net` at `batch` needs more than the physical memory."""
    need, have = step_bytes(net, batch), physical_memory()
    if have is not None and need > have:
        raise ConfigError(f"{where}: network {net.name} at batch {batch} needs at least {need / 2**30:,.1f} GiB for "
                          f"one training step, more than this machine's {have / 2**30:,.1f} GiB; "
                          f"use a smaller --batch or network")
