"""Where the data of a running pipeline lives: each processor's SRAM, and the DRAM it spills to.

A processor keeps in SRAM (docs/machine.md, "Use by the discrete-event simulator"):
- the weights of every layer it holds a slice of (one copy per layer, `static`), placed in the
  order the processor first uses them while they fit; a layer that does not fit lives in
  DRAM: its slices read the weights they use from there, and its WG writes the update back;
- its buffers: every share of an item (`act`, `state`, `grad`) that has been sent to it or that
  it made for itself, from the moment the transfer is booked until its last reader on the
  processor has run: the intermediates a delay-stashed mini-batch keeps for its backward pass
  and the incoming buffers;
- stashed weight versions: a processor reading layer l's weights (FP, IG) holds every version
  from the oldest its next slices use (`b - 1 - D_l`) to the newest arrived; the oldest is the
  layer's static copy, every newer one a buffer of the bytes that arrived.

With a finite SRAM, a buffer that does not fit spills: the buffers that are used furthest in
the future go to DRAM first (Belady's MIN, which a compiler can apply since the step programs fix
every next use), the new buffer included; a buffer whose reader has started is pinned. Spilling
writes the bytes on the processor's DRAM channel once they are there; every slice that reads a
spilled buffer first reads its bytes back and waits for the read. Reads stream into the array
and take no SRAM. A channel (`DramChannel`) moves one access at a time for `Dram.cycles(bytes)`;
reads are served in the order they come, and writes are posted: a write starts only when the
channel has no read waiting (a memory controller's write buffer), and at the latest when a read
needs its bytes. With unbounded SRAM nothing spills and the DRAM is never used.
"""
from __future__ import annotations

import heapq
import itertools
import math
from collections import deque
from dataclasses import dataclass, field

from simulator.cost import TaskKind
from simulator.machine import Channels, Machine
from simulator.schedule import Schedule
from simulator.schedule.dataflow import Item, ItemKind
from workloads import ConfigError

from .machine import DRAM_END, Clock, Link, Processor, TransferRecord
from .steps import Programs, SliceStep


PINNED = -1
"""`Buffer.key` of a buffer whose reader has started: never spilled (its heap entries are stale)."""


@dataclass(slots=True)
class Buffer:
    """The shares of one item (an id) for one mini-batch (or one weight version) on one processor:
    how many have arrived and when the last one does, who has read it, and where its bytes are."""

    item: int
    batch: int
    slot: int  # its key among the simulation's buffers
    count: int = 0
    time: int = 0
    consumed: int = 0
    waiter: object = None  # the SimPy event its reader waits on for missing shares
    payloads: list | None = None  # functional mode: the shares' values, in arrival order
    sram: int = 0  # bytes held in SRAM
    dram: int = 0  # bytes spilled to DRAM
    written: int = 0  # cycle the last DRAM write of its bytes ends
    pending: int = 0  # its DRAM writes not started yet
    key: int = 0  # its next use on the processor, in program order (spill order)
    feeds: list | None = None  # traced runs: indices of the transfer records that delivered its shares


@dataclass(slots=True)
class DramChannel(Link):
    """A DRAM channel: a `Link` serving reads first come, first served, and posted writes
    `(issue, order, bytes, buffer, item, mini-batch, processor)` when no read waits."""

    writes: list = field(default_factory=list)


class Memory:
    """SRAM occupancy of every processor, spills (furthest next use first) and the DRAM channels.

    Items are known by their index in `items`. A write is posted on the processor's channel once
    its bytes are there; a read is booked when its reader starts.
    """

    def __init__(self, machine: Machine, schedule: Schedule, steps: Programs, procs: list[Processor],
                 items: tuple[Item, ...], minibatches: int, clock: Clock, trace: list | None) -> None:
        self.procs, self.clock, self.trace, self.dram = procs, clock, trace, machine.dram
        self.spills = any(p.capacity < math.inf for p in procs)
        self.delays = steps.delays
        ids = {item: i for i, item in enumerate(items)}
        self.names = [(item.kind.value, item.layer) for item in items]
        # a buffer of item i for batch b is first read by the slices of mini-batch b + shift[i]
        self.shift = [1 + steps.delays[item.layer] if item.kind is ItemKind.WEIGHTS else 0 for item in items]
        n = minibatches
        if self.dram is None:
            self.channels: list[DramChannel] = []
        elif self.dram.channels is Channels.SHARED:
            self.channels = [DramChannel("dram", busy_by_batch=[0] * n, bytes_by_batch=[0] * n)]
        else:
            self.channels = [DramChannel(f"dram p{p}", busy_by_batch=[0] * n, bytes_by_batch=[0] * n)
                             for p in range(len(procs))]
        self._order = itertools.count()
        self.channel = [self.channels[0 if len(self.channels) == 1 else p] if self.channels else None
                        for p in range(len(procs))]
        # spill candidates per processor: its buffers in SRAM by slot, and a min-heap of
        # `slot - (key << bits)` (the furthest next use first; one int, cheaper than a tuple) whose
        # stale entries (released, re-keyed, pinned) are skipped, and dropped when it grows
        self.resident: list[dict[int, Buffer]] = [{} for _ in procs]
        self.heaps: list[list[int]] = [[] for _ in procs]
        self.bits = (minibatches * len(items) * len(procs)).bit_length()  # slots are below 1 << bits
        self.durations: dict[int, int] = {}  # DRAM cycles by access size
        # next uses: per processor and item, the program positions (offset * width + index) of its readers
        self.uses: list[list[tuple[int, ...]]] = []
        self.width: list[int] = []
        for program in steps.programs:
            width = max(1, len(program))
            uses: list[list[int]] = [[] for _ in items]
            for i, st in enumerate(program):
                for item in st.needs + ((st.weights,) if st.weights is not None else ()):
                    uses[ids[item]].append(st.offset * width + i)
            self.uses.append([tuple(sorted(u)) for u in uses])
            self.width.append(width)
        # the weights each processor uses of a layer (all of them on the layer's home, the copied share elsewhere)
        self.full = full = steps.weight_bytes
        self.weight_share: list[dict[int, int]] = [{} for _ in procs]
        for p, per_slice in enumerate(schedule.flow.outputs):
            for outputs in per_slice:
                for out in outputs:
                    if out.item.kind is ItemKind.WEIGHTS:
                        if out.local:
                            self.weight_share[p][out.item.layer] = full[out.item.layer]
                        for q, nbytes in out.remote:
                            self.weight_share[q][out.item.layer] = nbytes
        # static weights: in the order of first use, in SRAM while they fit, else in DRAM
        self.dram_layers: list[frozenset[int]] = []
        for proc, program in zip(procs, steps.programs):
            resident, outside = 0, []
            for layer in dict.fromkeys(st.layer for st in program):
                if resident + full[layer] <= proc.capacity:
                    resident += full[layer]
                else:
                    outside.append(layer)
            if outside and self.dram is None:
                raise ConfigError(f"machine {machine.name}: processor p{proc.index} holds "
                                  f"{sum(full[l] for l in outside):,} bytes of weights beyond its {proc.capacity:,} "
                                  f"bytes of SRAM and the machine has no DRAM: add a [dram] section or raise "
                                  f"processors.sram_bytes")
            proc.sram = proc.peak_sram = resident
            self.dram_layers.append(frozenset(outside))
        # stashed weight versions per processor and layer it reads: unconsumed versions, oldest first
        # (None: the initial weights, used by mini-batches 0..D)
        self.stash = [{st.weights.layer: deque([None]) for st in program if st.weights is not None}
                      for program in steps.programs]
        self.initial_uses = [dict.fromkeys(s, 0) for s in self.stash]

    def dram_weights(self, st: SliceStep) -> int:
        """Bytes of weights slice `st` reads from DRAM because its layer's do not fit in its
        processor's SRAM: WG the whole master copy it updates; FP and IG the part they use (of the
        initial weights: later versions are buffers of their own); 0 if they fit."""
        if st.layer not in self.dram_layers[st.proc]:
            return 0
        return self.full[st.layer] if st.kind is TaskKind.WG else self.weight_share[st.proc][st.layer]

    # -- buffers -------------------------------------------------------------------------
    def new_buffer(self, p: int, item: int, batch: int, slot: int) -> Buffer:
        buf = Buffer(item, batch, slot)
        if self.spills:
            uses = self.uses[p][item]
            buf.key = (batch + self.shift[item]) * self.width[p] + (uses[0] if uses else 0)
        return buf

    def read_once(self, p: int, buf: Buffer) -> None:
        """One reader of `buf` has run but others remain: its next use is the next reader's."""
        if self.spills and buf.sram:
            buf.key = (buf.batch + self.shift[buf.item]) * self.width[p] + self.uses[p][buf.item][buf.consumed]
            self.resident[p][buf.slot] = buf
            heapq.heappush(self.heaps[p], buf.slot - (buf.key << self.bits))

    def place(self, p: int, buf: Buffer, nbytes: int, ready: int) -> None:
        """Hold `nbytes` more of `buf` (there from `ready`) on processor `p`: in SRAM, spilling
        what is used furthest in the future if they do not fit."""
        proc, heap = self.procs[p], self.heaps[p]
        if proc.sram + nbytes > proc.capacity:
            resident, now, bits = self.resident[p], self.clock._now, self.bits
            mask = (1 << bits) - 1
            while heap and proc.sram + nbytes > proc.capacity:
                entry = heap[0]
                victim = resident.get(entry & mask)
                if victim is None or victim.key != -(entry >> bits):  # released, re-keyed or pinned since
                    heapq.heappop(heap)
                    continue
                if victim.key <= buf.key:
                    break
                heapq.heappop(heap)
                self.spill(p, victim, victim.sram, victim.time if victim.time > now else now)
                self.release(p, victim)
            if proc.sram + nbytes > proc.capacity:
                self.spill(p, buf, nbytes, ready)
                return
        proc.sram += nbytes
        if proc.sram > proc.peak_sram:
            proc.peak_sram = proc.sram
        buf.sram += nbytes
        if self.spills:
            resident = self.resident[p]
            resident[buf.slot] = buf
            heapq.heappush(heap, buf.slot - (buf.key << self.bits))
            if len(heap) > 2 * len(resident) + 64:  # mostly stale entries: rebuild
                heap[:] = [slot - (b.key << self.bits) for slot, b in resident.items() if b.key != PINNED]
                heapq.heapify(heap)

    def release(self, p: int, buf: Buffer) -> None:
        """Free `buf`'s SRAM: its last reader on `p` has run (spilled bytes are dropped), or it was spilled."""
        if buf.sram:
            self.procs[p].sram -= buf.sram
            buf.sram = 0
            self.resident[p].pop(buf.slot, None)

    def spill(self, p: int, buf: Buffer | None, nbytes: int, ready: int, item: int = -1, batch: int = 0) -> None:
        """Post the write of `nbytes` of `buf` (there from `ready`) to p's DRAM channel (`buf`
        None: weights written back, of `item` and `batch`)."""
        if self.dram is None:
            raise ConfigError(f"machine: processor p{p} needs more than its {self.procs[p].capacity:,} bytes of "
                              f"SRAM and the machine has no DRAM to spill to: add a [dram] section or raise "
                              f"processors.sram_bytes")
        if buf is not None:
            buf.dram += nbytes
            buf.pending += 1
            item, batch = buf.item, buf.batch
        heapq.heappush(self.channel[p].writes, (ready, next(self._order), nbytes, buf, item, batch, p))

    # -- weights -------------------------------------------------------------------------
    def weights_arrived(self, p: int, layer: int, buf: Buffer, nbytes: int, ready: int) -> None:
        """A version of `layer`'s weights reached `p` (on the layer's home: its WG's update)."""
        if layer in self.dram_layers[p]:  # kept in DRAM (on the home: the update written back)
            self.spill(p, buf, nbytes, ready)
            return
        versions = self.stash[p][layer]  # weights are only sent to processors reading them
        versions.append(buf)
        if len(versions) > 1:  # older versions still in use: a stashed copy
            self.place(p, buf, nbytes, ready)

    def version_done(self, p: int, layer: int) -> None:
        """Every reader on `p` has used the oldest version of `layer`: the next one becomes the static copy."""
        if layer in self.dram_layers[p]:
            return
        versions = self.stash[p][layer]
        versions.popleft()
        if versions:
            self.release(p, versions[0])

    def initial_used(self, p: int, layer: int, readers: int) -> None:
        """A reader on `p` used the initial weights of `layer` (mini-batches 0..D use them)."""
        uses = self.initial_uses[p]
        uses[layer] += 1
        if uses[layer] == readers * (self.delays[layer] + 1):
            self.version_done(p, layer)

    # -- DRAM ----------------------------------------------------------------------------
    def read(self, p: int, nbytes: int, item: int, batch: int, buf: Buffer | None = None) -> int:
        """Read `nbytes` (of `buf`, after its writes) from DRAM for a slice of `batch` on `p`,
        requested now; the cycle the read ends."""
        channel, now = self.channel[p], self.clock._now
        writes = channel.writes
        while writes and (channel.free if channel.free > writes[0][0] else writes[0][0]) < now:
            self._commit(channel, heapq.heappop(writes))  # started while no read was waiting
        while buf is not None and buf.pending:
            self._commit(channel, heapq.heappop(writes))  # the read needs them
        return self._book(channel, now, nbytes, item, batch, DRAM_END, p)

    def flush(self) -> None:
        """Start the writes still posted at the end of the run."""
        for channel in self.channels:
            while channel.writes:
                self._commit(channel, heapq.heappop(channel.writes))

    def _commit(self, channel: DramChannel, write: tuple) -> None:
        ready, _, nbytes, buf, item, batch, p = write
        end = self._book(channel, ready, nbytes, item, batch, p, DRAM_END)
        if buf is not None:
            buf.pending -= 1
            if end > buf.written:
                buf.written = end

    def _book(self, channel: DramChannel, ready: int, nbytes: int, item: int, batch: int, src: int, dst: int) -> int:
        duration = self.durations.get(nbytes)
        if duration is None:
            duration = self.durations[nbytes] = self.dram.cycles(nbytes)
        channel.free = end = (channel.free if channel.free > ready else ready) + duration
        channel.busy += duration
        channel.nbytes += nbytes
        channel.transfers += 1
        channel.busy_by_batch[batch] += duration
        channel.bytes_by_batch[batch] += nbytes
        if self.trace is not None:
            self.trace.append(TransferRecord(channel.name, *self.names[item], batch, src, dst, end - duration, end,
                                             nbytes))
        return end
