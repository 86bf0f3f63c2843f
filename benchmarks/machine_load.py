"""How busy the machine is while a benchmark runs (it may be shared): CPU time used by this
process and by the whole machine, from /proc/stat and os.times()."""
from __future__ import annotations

import os


def busy_jiffies() -> int:
    """Clock ticks all CPUs have spent busy since boot."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:8]]
    return sum(v) - v[3] - v[4]


def own_jiffies() -> float:
    """Clock ticks this process has used."""
    t = os.times()
    return (t.user + t.system) * os.sysconf("SC_CLK_TCK")


def foreign_load(busy0: int, own0: float, seconds: float) -> float:
    """Share of all CPUs other processes used since `busy_jiffies()`, `own_jiffies()` were
    `busy0`, `own0`, `seconds` ago."""
    hz, ncpu = os.sysconf("SC_CLK_TCK"), os.cpu_count() or 1
    return max(0.0, (busy_jiffies() - busy0) - (own_jiffies() - own0)) / hz / (ncpu * seconds)
