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
from typing import NamedTuple

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


class _Held(NamedTuple):
    """Buffers of one item on one processor, one per mini-batch or weight version: each from point
    `starts[k]` through point `ends[k]` (-1 through 0: initial weights, there from the start and
    never written), of `nbytes`, read by the slices at positions `bases[k] + r` for r in `reads`;
    `layer` that of a weight version (-1: a data item)."""

    ends: np.ndarray
    starts: np.ndarray
    nbytes: int
    item: int
    bases: np.ndarray
    reads: tuple[int, ...]
    layer: int


def _parts(buffers: list[_Held]) -> list[slice]:
    """Where each of `buffers` lies in their concatenation."""
    stops = np.cumsum([len(b.ends) for b in buffers]).tolist()
    return [slice(a, b) for a, b in zip([0] + stops, stops)]


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
        buffers: list[list[_Held]] = [[] for _ in programs]  # per processor, in the order they are made
        batches = np.arange(n, dtype=np.int64)

        def hold_batches(p: int, nbytes: int, item: int, offset: int, index: int, reads: tuple[int, ...]) -> None:
            """A share of `nbytes` of a data item every mini-batch b makes for p: held from the position
            of slice `index` in step b + `offset` through its last reader (positions `base + r` for r
            in `reads`), clipped to the run; none if empty."""
            if not nbytes:
                return
            w, last = width[p], max(reads)
            bases = (batches - first) * w
            starts = np.maximum(0, 2 * (bases + offset * w + index))
            ends = np.minimum(points[p] - 1, 2 * (bases + last))
            kept = ends >= starts
            buffers[p].append(_Held(ends[kept], starts[kept], nbytes, item, bases[kept], reads, -1))

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

            # every point below is 2 w v + a constant for version v: an arrival or release of v
            # is the latest of such terms, so one constant each
            w = width[p]
            arrival = max(2 * ((s - first) * w + i) for s, i in arrive)  # version v's: 2 w v + arrival
            # released[v + 1], version v's (v = -1: the initial weights): after its last reader
            # (mini-batch v + lag), its sends (the end of their step), the next version's arrival;
            # the last version stays to the end
            versions = np.arange(-1, n, dtype=np.int64)
            released = 2 * w * (versions + 1) + arrival - 1
            released[-1] = points[p] - 1
            for off, i, lag in reads:
                released = np.maximum(released, 2 * ((versions + lag + off - first) * w + i))
            for s in sends:
                released[1:] = np.maximum(released[1:], 2 * ((versions[1:] + s + 1 - first) * w) - 1)
            # the initial weights are there from the start, never written; version v is a buffer
            # beyond the current copy from its arrival while v - 1 is still held (clipped to the
            # run), kept even if empty to read its part in DRAM, where its readers read it
            buffers[p].append(_Held(np.array([-1]), np.array([0]), vb, wid, np.array([-first * w]),
                                    tuple((b + off) * w + i for off, i, lag in reads for b in range(lag)), layer))
            starts = 2 * w * batches + arrival
            initial = starts < 0
            ends = np.where(initial, -1, np.minimum(points[p] - 1, np.minimum(released[1:], released[:-1])))
            kept = initial | (starts < points[p]) if vb else initial
            buffers[p].append(_Held(ends[kept], np.where(initial, 0, starts)[kept], vb, wid,
                                    ((batches - first) * w)[kept], tuple((lag + off) * w + i for off, i, lag in reads),
                                    layer))
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

    def _spill(self, buffers: list[_Held], points: int, room: float, outside: dict[int, int],
               access: dict[int, Access]) -> bool:
        """Rank `buffers` as a stack in `room` bytes (module docstring), record their DRAM accesses in
        `access` and their resident bytes per point; whether anything goes to DRAM. A weight version
        puts in DRAM at least the part of its layer's copy that lives there (`outside`)."""
        if not buffers:
            self.resident.append(np.zeros(points, dtype=np.int64))
            return any(outside.values())
        ends, starts = np.concatenate([b.ends for b in buffers]), np.concatenate([b.starts for b in buffers])
        sizes = np.concatenate([np.full(len(b.ends), b.nbytes, dtype=np.int64) for b in buffers])
        ordered = np.lexsort((ends, ends - starts))  # the stack's ranking (stable: then the earliest made)
        live = ordered[ends[ordered] >= starts[ordered]]
        held = np.zeros(points + 1, dtype=np.int64)  # difference array of the buffers' bytes
        np.add.at(held, starts[live], sizes[live])
        np.add.at(held, ends[live] + 1, -sizes[live])
        need = np.cumsum(held[:-1])
        fits = math.isinf(room) or need.max(initial=0) <= room
        if fits and not any(outside.values()):
            self.resident.append(need)
            return False
        outs = np.zeros(len(live), dtype=np.int64) if fits else \
            _stack(starts[live], ends[live], sizes[live], int(room), points)
        np.add.at(held, starts[live], -outs)  # what stays in SRAM
        np.add.at(held, ends[live] + 1, outs)
        self.resident.append(np.cumsum(held[:-1]))
        out = np.zeros(len(ends), dtype=np.int64)  # bytes in DRAM per buffer, in the order made
        out[live] = outs
        parts = _parts(buffers)
        for b, part in zip(buffers, parts):
            if b.layer >= 0:
                out[part] = np.maximum(out[part], outside.get(b.layer, 0))
        # each buffer's DRAM part is written as it arrives (posted; a position's write is labelled
        # with the item of the last ranked), and read back by each of its readers
        writes = (out > 0) & (ends >= 0)
        where = starts[writes] // 2
        reads = [(b.bases[out[part] > 0][:, None] + np.array(b.reads, dtype=np.int64)).ravel()
                 for b, part in zip(buffers, parts) if b.reads]
        amounts = [np.repeat(out[part][out[part] > 0], len(b.reads)) for b, part in zip(buffers, parts) if b.reads]
        read_at = np.concatenate(reads) if reads else where[:0]
        size = 1 + max(where.max(initial=-1), read_at.max(initial=-1))
        write, read, last = np.zeros(size, dtype=np.int64), np.zeros(size, dtype=np.int64), np.full(size, -1)
        np.add.at(write, where, out[writes])
        np.add.at(read, read_at, np.concatenate(amounts) if amounts else read_at)
        rank = np.empty(len(ends), dtype=np.int64)
        rank[ordered] = np.arange(len(ends))
        np.maximum.at(last, where, rank[writes])
        items = np.concatenate([np.full(len(b.ends), b.item, dtype=np.int64) for b in buffers])
        label = np.where(last >= 0, items[ordered[last]], -1)
        for k in np.flatnonzero(write | read).tolist():
            access[k] = Access(int(write[k]), int(read[k]), int(label[k]))
        return True

    def occupancy(self, p: int, point: int) -> int:
        """Bytes in p's SRAM at `point` of its timeline."""
        return self.static[p] + int(self.resident[p][point])
