"""Per-layer delayed gradients (Section III-D, Table I): layer l's update at step t uses
the gradient computed at step t - D_l; during the first D_l steps the layer is not updated
(its pipeline is still filling)."""
from __future__ import annotations

from collections import deque
from typing import Sequence

import numpy as np

from workloads.errors import ConfigError


class DelayLine:
    """One FIFO of pending gradients per layer; `push` returns the gradients due now, or None."""

    def __init__(self, delays: Sequence[int]) -> None:
        for k, d in enumerate(delays):
            if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 0:
                raise ConfigError(f"delays: entry {k} must be a non-negative integer, got {d!r}")
        self.delays = tuple(int(d) for d in delays)
        self.queues: list[deque] = [deque() for _ in self.delays]

    def push(self, layer: int, grads: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...] | None:
        q = self.queues[layer]
        q.append(grads)
        return q.popleft() if len(q) > self.delays[layer] else None

    def state_arrays(self) -> dict[str, np.ndarray]:
        return {f"pending_{k}_{j}_{i}": a for k, q in enumerate(self.queues)
                for j, grads in enumerate(q) for i, a in enumerate(grads)}

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        for k, q in enumerate(self.queues):
            q.clear()
            j = 0
            while f"pending_{k}_{j}_0" in arrays:
                i, grads = 0, []
                while f"pending_{k}_{j}_{i}" in arrays:
                    grads.append(np.array(arrays[f"pending_{k}_{j}_{i}"]))
                    i += 1
                q.append(tuple(grads))
                j += 1
