"""Where the data of a running pipeline lives: each processor's SRAM and what it spills to DRAM,
decided before the run from the step programs (docs/machine.md, "Use by the discrete-event
simulator" and "Why time is monotone in every resource").

Residency is counted on each processor's program timeline, not in cycles: position
`pos = (step - first step) * W + index` (W slices per step), each with two points, `2 pos`
while the slice runs and `2 pos + 1` once it has released the inputs it was the last to read.
A processor holds:
- one copy of the weights of every layer it reads or updates (the share the flow sends it; all
  of them on the layer's home), the `static` part;
- its buffers: every share of an item (`act`, `state`, `grad`) from the start of the step in
  which it is sent (its credit: the transfer may not arrive earlier) or from the end of the slice
  that made it for itself, until its last reader on the processor has run;
- stashed weight versions: version v arrives one step before its first reader on the processor
  needs it (just in time; on the home: when its WG made it) and is held until its last reader
  has run, and on the home until the end of the step in which it is sent; every version held
  beyond the current copy is an extra buffer.
None of this depends on timing, so neither does what spills. The static copies fill the SRAM in
the order the processor first uses the layers; the part that does not fit stays in DRAM, read
by every slice that uses it (and written back by the WG updating it, and written as each new
version arrives). The buffers share the room left, C' = max(0, C - static), as a stack: at every
point the live buffers are ranked by their release (the soonest released first, then the
earliest held), and a buffer keeps in SRAM only what fits below C' after the buffers ranked
before it, at the fullest point of its life (H, the bytes ranked before it there). The rest,
min(size, max(0, H + size - C')), is written to DRAM when it arrives (posted) and read back by
each of its readers before it starts; nothing is brought back early. No point then holds more
than C' of buffers, and as H does not depend on C, the bytes of every access never grow with C.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from simulator.cost import TaskKind
from simulator.machine import Machine
from simulator.schedule.dataflow import Item, ItemKind
from workloads import ConfigError

from .machine import Processor
from .steps import Programs

WG = TaskKind.WG
BACKWARD_KEPT = (ItemKind.ACT, ItemKind.STATE)
"""Items made in the forward pass that backward slices read: one mini-batch's intermediates."""


@dataclass(slots=True)
class Access:
    """The DRAM traffic of one position of a processor's timeline: bytes written before its slice
    (posted) and read before it starts (it waits for them); the item the write is labelled with
    in traces (an index of the simulation's items, -1: none)."""

    write: int = 0
    read: int = 0
    write_item: int = -1


def _at(access: dict[int, Access], position: int) -> Access:
    a = access.get(position)
    if a is None:
        a = access[position] = Access()
    return a


@njit(cache=True)
def _stack(starts: np.ndarray, ends: np.ndarray, sizes: np.ndarray, room: int, points: int) -> np.ndarray:
    """The bytes of each buffer (points `starts[k]` through `ends[k]`, in rank order) that do not
    fit below `room` after the buffers ranked before it, at the fullest point of its life."""
    ranked = np.zeros(points, dtype=np.int64)  # bytes of the buffers ranked so far, per point
    outs = np.zeros(len(sizes), dtype=np.int64)
    for k in range(len(sizes)):
        start, end, size = starts[k], ends[k], sizes[k]
        held = ranked[start]
        for x in range(start + 1, end + 1):
            held = max(held, ranked[x])
        outs[k] = min(size, max(0, held + size - room))
        for x in range(start, end + 1):
            ranked[x] += size
    return outs


class Plan:
    """The static residency of every processor over the run and the DRAM accesses it implies.

    `access[p][pos]` (positions with traffic only), `peak[p]` (bytes resident at most, never
    above the capacity), `occupancy(p, point)` for traced runs, `send_step` (the step, for
    version 0, in which each weight version leaves its maker for each reader), and per processor
    `kept`, the bytes of one mini-batch's intermediates its backward slices keep (the paper's
    per-processor memory of Section IV-D)."""

    def __init__(self, steps: Programs, procs: list[Processor], items: tuple[Item, ...],
                 minibatches: int, machine: Machine) -> None:
        n = minibatches
        ids = {item: i for i, item in enumerate(items)}
        programs = steps.programs
        offsets = [st.offset for program in programs for st in program]
        self.first = first = min(offsets, default=0)
        self.steps = nsteps = max(offsets, default=0) + n - first
        self.width = width = [max(1, len(program)) for program in programs]
        points = [2 * w * nsteps for w in width]
        buffers: list[list[tuple]] = [[] for _ in programs]  # (end, start, bytes, item, base, readers, layer)

        def pos(p: int, step: int, index: int) -> int:
            return (step - first) * width[p] + index

        def hold(p: int, start: int, end: int, nbytes: int, item: int, base: int, reads: tuple[int, ...],
                 layer: int = -1) -> None:
            """A buffer of `nbytes` on p from point `start` through point `end` (clipped to the run;
            none if empty, but a weight version, of `layer`, is kept to read its part in DRAM),
            read by the slices at positions `base + r` for r in `reads`."""
            if start < 0 <= layer:  # the initial weights: there from the start, never written
                buffers[p].append((-1, 0, nbytes, item, base, reads, layer))
                return
            start, end = max(0, start), min(points[p] - 1, end)
            if nbytes and (end >= start or layer >= 0) and start < points[p]:
                buffers[p].append((end, start, nbytes, item, base, reads, layer))

        def hold_batches(p: int, nbytes: int, item: int, offset: int, index: int, reads: tuple[int, ...]) -> None:
            """`hold`, for a share of a data item every mini-batch b makes for p: from the position of
            slice `index` in step b + `offset` through its last reader (positions `base + r`)."""
            if not nbytes:
                return
            w, last, held = width[p], max(reads), buffers[p]
            for b in range(n):
                base = (b - first) * w
                start, end = max(0, 2 * (base + offset * w + index)), min(points[p] - 1, 2 * (base + last))
                if end >= start:
                    held.append((end, start, nbytes, item, base, reads, -1))

        # readers per processor and item: (offset, index) of every slice reading it (same mini-batch)
        readers: list[dict[Item, list[tuple[int, int]]]] = [{} for _ in programs]
        weight_readers: list[dict[int, list[tuple[int, int, int]]]] = [{} for _ in programs]  # layer -> (offset, index, lag)
        for p, program in enumerate(programs):
            for i, st in enumerate(program):
                for item in st.needs:
                    readers[p].setdefault(item, []).append((st.offset, i))
                if st.weights is not None:  # FP, IG: version b - 1 - D
                    weight_readers[p].setdefault(st.layer, []).append((st.offset, i, 1 + steps.delays[st.layer]))
                elif st.kind is WG:  # the master copy it updates: version b - 1
                    weight_readers[p].setdefault(st.layer, []).append((st.offset, i, 1))

        relative = [{item: tuple(off * width[p] + i for off, i in r) for item, r in per.items()}
                    for p, per in enumerate(readers)]  # reader positions of mini-batch `first`

        self.kept = [0] * len(programs)
        # versions: per (processor, layer) its bytes per version, and where each part of a version comes from
        version_bytes: dict[tuple[int, int], int] = {}
        makers: dict[int, list[tuple[int, int, object]]] = {}  # layer -> (proc, index, output) of its WG slices
        for p, program in enumerate(programs):
            for i, st in enumerate(program):
                for o in st.outputs:
                    item = ids[o.item]
                    if o.item.kind is ItemKind.WEIGHTS:
                        makers.setdefault(o.item.layer, []).append((p, i, o))
                        if o.local:
                            version_bytes[p, o.item.layer] = version_bytes.get((p, o.item.layer), 0) + o.nbytes
                        for q, share in o.remote:
                            version_bytes[q, o.item.layer] = version_bytes.get((q, o.item.layer), 0) + share
                        continue
                    backward = o.item.kind in BACKWARD_KEPT
                    if o.local:
                        if backward and any(program[j].kind is not TaskKind.FP for _, j in readers[p][o.item]):
                            self.kept[p] += o.nbytes
                        hold_batches(p, o.nbytes, item, st.offset, i + 1, relative[p][o.item])
                    for q, share in o.remote:
                        if backward and any(programs[q][j].kind is not TaskKind.FP for _, j in readers[q][o.item]):
                            self.kept[q] += share
                        hold_batches(q, share, item, st.offset, 0, relative[q][o.item])
        # weight versions: the step each remote part is sent in (one before its first reader there
        # needs it, never before its WG made it), then per holder the points each version arrives and is released
        self.send_step: dict[tuple[int, int, int], int] = {}  # (maker, reader, layer) -> step offset of the send
        for layer, parts in makers.items():
            for h, i, o in parts:
                for q, _ in o.remote:
                    first_read = min(off + lag for off, _, lag in weight_readers[q][layer])
                    self.send_step[h, q, layer] = max(programs[h][i].offset, first_read - 1)
        for (p, layer), vb in version_bytes.items():
            wid = ids[Item(ItemKind.WEIGHTS, layer)]
            reads = weight_readers[p].get(layer, [])
            arrive = [(programs[h][i].offset, i + 1) for h, i, o in makers[layer] if h == p and o.local]
            arrive += [(self.send_step[h, p, layer], 0) for h, _, o in makers[layer] if p in dict(o.remote)]
            sends = [self.send_step[p, q, layer] for h, _, o in makers[layer] if h == p for q, _ in o.remote]

            def arrival(v: int) -> int:
                return max(2 * pos(p, v + s, i) for s, i in arrive)

            def release(v: int) -> int:
                """After its last reader (mini-batch v + lag), its sends (the end of their step), the next's arrival."""
                used = [2 * pos(p, v + lag + off, i) for off, i, lag in reads]
                sent = [2 * pos(p, v + s + 1, 0) - 1 for s in sends] if v >= 0 else []
                return max(used + sent + [arrival(v + 1) - 1 if v + 1 < n else points[p] - 1])  # the last stays

            # version v is a buffer beyond the current copy from its arrival while v - 1 is still held;
            # what of it spills stays in DRAM, where its readers read it
            w = width[p]
            hold(p, -1, -1, vb, wid, -first * w, tuple((b + off) * w + i for off, i, lag in reads for b in range(lag)),
                 layer)
            relative_version = tuple((lag + off) * w + i for off, i, lag in reads)
            released = [release(v) for v in range(-1, n)]  # released[v + 1]: version v's
            for v in range(n):
                hold(p, arrival(v), min(released[v + 1], released[v]), vb, wid, (v - first) * w, relative_version,
                     layer)
        # static weights: in the order of first use, the part beyond the capacity stays in DRAM
        self.dram = machine.dram
        self.outside: list[dict[int, int]] = []  # per processor: layer -> bytes of its copy kept in DRAM
        self.static: list[int] = []  # bytes of weight copies resident in SRAM
        self.access: list[dict[int, Access]] = []  # per processor: position -> its DRAM traffic
        self.resident: list[np.ndarray] = []  # per processor and point: bytes of buffers in SRAM
        self.peak: list[int] = []
        for p, (proc, program) in enumerate(zip(procs, programs)):
            resident, outside = 0, {}
            for layer in dict.fromkeys(st.layer for st in program):
                vb = version_bytes.get((p, layer), 0)
                fits = int(max(0, min(vb, proc.capacity - resident)))
                outside[layer] = vb - fits
                resident += fits
            self.outside.append(outside)
            self.static.append(resident)
            access: dict[int, Access] = {}
            self.access.append(access)
            spilled = self._spill(buffers[p], points[p], proc.capacity - resident, outside, access)
            if (spilled or any(outside.values())) and self.dram is None:
                raise ConfigError(f"machine {machine.name}: processor p{p} needs more than its {proc.capacity:,} "
                                  f"bytes of SRAM and the machine has no DRAM to spill to: add a [dram] section or "
                                  f"raise processors.sram_bytes")
            self.peak.append(resident + int(self.resident[p].max(initial=0)))

    def _spill(self, buffers: list, points: int, room: float, outside: dict[int, int],
               access: dict[int, Access]) -> bool:
        """Rank `buffers` (end, start, bytes, item, readers' base and positions, layer of a weight version or -1) as a
        stack in `room` bytes (module docstring), record their DRAM accesses in `access` and their
        resident bytes per point; whether anything goes to DRAM. A weight version puts in DRAM at
        least the part of its layer's copy that lives there (`outside`)."""
        ordered = sorted(buffers, key=lambda b: (b[0] - b[1], b[0]))  # the stack's ranking
        live = np.array([b[:3] for b in ordered if b[0] >= b[1]], dtype=np.int64).reshape(-1, 3)
        ends, starts, sizes = live[:, 0], live[:, 1], live[:, 2]
        held = np.zeros(points + 1, dtype=np.int64)  # difference array of the buffers' bytes
        np.add.at(held, starts, sizes)
        np.add.at(held, ends + 1, -sizes)
        need = np.cumsum(held[:-1])
        fits = math.isinf(room) or need.max(initial=0) <= room
        if fits and not any(outside.values()):
            self.resident.append(need)
            return False
        outs = np.zeros(len(live), dtype=np.int64) if fits else _stack(starts, ends, sizes, int(room), points)
        np.add.at(held, starts, -outs)  # what stays in SRAM
        np.add.at(held, ends + 1, outs)
        self.resident.append(np.cumsum(held[:-1]))
        outs, k = outs.tolist(), 0
        for end, start, nbytes, item, base, reads, layer in ordered:
            out = 0
            if end >= start:
                out, k = outs[k], k + 1
            if layer >= 0:
                out = max(out, outside.get(layer, 0))
            if out:
                if end >= 0:  # not the initial weights: written as it arrives (posted)
                    a = _at(access, start // 2)
                    a.write += out
                    a.write_item = item
                for r in reads:
                    _at(access, base + r).read += out
        return True

    def position(self, p: int, step: int, index: int) -> int:
        """Position of slice `index` of step `step` on p's timeline."""
        return (step - self.first) * self.width[p] + index

    def occupancy(self, p: int, point: int) -> int:
        """Bytes in p's SRAM at `point` of its timeline."""
        return self.static[p] + int(self.resident[p][point])
