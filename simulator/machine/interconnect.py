"""The interconnect: topology, links, routes, and what a transfer costs in cycles.

Processors sit on the nodes of a topology (`placement[p]` is processor p's node; by default
processor p on node p, the pipeline order). On a chain or ring the placement is a permutation of
the processors; on a mesh it may list more nodes than there are processors (the first P are used). Links are directed and full duplex: between two
adjacent nodes a and b there are two channels, `a -> b` and `b -> a`, each with the full
bandwidth, as `simulator.des.machine.Fabric` books them. A transfer crosses the links of its route; on
each it costs `ceil(bytes / bandwidth) + latency` cycles (`transfer_cycles`).

Routes are deterministic and minimal:
- `chain`: nodes 0..n-1 in a line (Fig. 11: links between adjacent processors only);
- `ring`: a chain closed from n-1 to 0; the shorter way round, ties (n even, half way) go
  up the ring (0 -> 1 -> ...);
- `mesh2d`: `mesh_rows x mesh_cols` nodes, node r * mesh_cols + c at row r, column c;
  dimension-ordered XY routing: along the row (X) to the destination's column first, then
  along the column (Y);
- `shared`: one bus, `BUS`, carries every transfer (all contend).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import NamedTuple

from .fields import choice, fail, integer, number


class Topology(str, Enum):
    """How the nodes are joined (routes in the module docstring)."""

    CHAIN = "chain"
    RING = "ring"
    MESH2D = "mesh2d"
    SHARED = "shared"


class LinkId(NamedTuple):
    """The directed channel from node `src` to the adjacent node `dst`; `BUS` is the shared bus."""

    src: int
    dst: int

    @property
    def name(self) -> str:
        return "bus" if self == BUS else f"n{self.src}->n{self.dst}"


BUS = LinkId(-1, -1)


def transfer_cycles(nbytes: int, bandwidth: float, latency: int) -> int:
    """Cycles a channel is busy carrying `nbytes`: ceil(bytes / bandwidth) + latency."""
    return (0 if math.isinf(bandwidth) else math.ceil(nbytes / bandwidth)) + latency


@dataclass(frozen=True)
class Interconnect:
    """Topology, per-link bandwidth (bytes per cycle, `math.inf`: free) and latency (cycles)."""

    topology: Topology = Topology.CHAIN
    bandwidth: float = math.inf
    latency: int = 0
    mesh_rows: int | None = None
    mesh_cols: int | None = None
    placement: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "topology", choice("interconnect.topology", self.topology, Topology))
        object.__setattr__(self, "bandwidth", number("interconnect.bandwidth", self.bandwidth, allow_inf=True))
        object.__setattr__(self, "latency", integer("interconnect.latency", self.latency, minimum=0))
        mesh = self.topology is Topology.MESH2D
        for key in ("mesh_rows", "mesh_cols"):
            value = getattr(self, key)
            if mesh:
                if value is None:
                    fail(f"interconnect.{key}", "set for topology 'mesh2d' (an integer >= 1)", value)
                object.__setattr__(self, key, integer(f"interconnect.{key}", value, minimum=1))
            elif value is not None:
                fail(f"interconnect.{key}", f"absent for topology {self.topology.value!r} (mesh2d only)", value)
        if self.placement is not None:
            if self.topology is Topology.SHARED:
                fail("interconnect.placement", "absent for topology 'shared' (one bus has no places)",
                     self.placement)
            if not isinstance(self.placement, (list, tuple)):
                fail("interconnect.placement", "a list of node numbers, one per processor", self.placement)
            nodes = tuple(integer("interconnect.placement", n, minimum=0) for n in self.placement)
            if not nodes or len(set(nodes)) != len(nodes):
                fail("interconnect.placement", "a non-empty list of distinct node numbers", list(self.placement))
            if mesh and max(nodes) >= self.mesh_rows * self.mesh_cols:
                fail("interconnect.placement", f"node numbers < mesh_rows * mesh_cols = "
                     f"{self.mesh_rows * self.mesh_cols}", list(nodes))
            object.__setattr__(self, "placement", nodes)

    @property
    def free(self) -> bool:
        """Infinite bandwidth and no latency: transfers take no time (the paper's assumption)."""
        return math.isinf(self.bandwidth) and self.latency == 0

    def check_count(self, count: int | None) -> None:
        """The topology must have room for `count` processors and a placement must name each once."""
        if count is None:
            return
        if self.topology is Topology.MESH2D and count > self.mesh_rows * self.mesh_cols:
            fail("interconnect.mesh_rows", f"such that mesh_rows * mesh_cols >= processors.count = {count}",
                 f"{self.mesh_rows}x{self.mesh_cols}")
        if self.placement is None:
            return
        if self.topology is Topology.MESH2D:
            if len(self.placement) < count:
                fail("interconnect.placement", f"a node for each of the {count} processors", list(self.placement))
        elif sorted(self.placement) != list(range(count)):
            fail("interconnect.placement", f"a permutation of 0..{count - 1} on a {self.topology.value}",
                 list(self.placement))

    def nodes(self, count: int) -> int:
        """Nodes of the topology holding `count` processors."""
        return self.mesh_rows * self.mesh_cols if self.topology is Topology.MESH2D else count

    def node(self, proc: int) -> int:
        return proc if self.placement is None else self.placement[proc]

    def links(self, count: int) -> tuple[LinkId, ...]:
        """Every channel of the topology holding `count` processors, in a fixed order."""
        n = self.nodes(count)
        if self.topology is Topology.SHARED:
            return (BUS,) if n > 1 else ()
        if self.topology is Topology.MESH2D:
            rows, cols = self.mesh_rows, self.mesh_cols
            pairs = [(r * cols + c, r * cols + c + 1) for r in range(rows) for c in range(cols - 1)]
            pairs += [(r * cols + c, (r + 1) * cols + c) for r in range(rows - 1) for c in range(cols)]
        else:
            pairs = [(a, a + 1) for a in range(n - 1)]
            if self.topology is Topology.RING and n > 2:
                pairs.append((n - 1, 0))
        return tuple(link for a, b in pairs for link in (LinkId(a, b), LinkId(b, a)))

    def route(self, src: int, dst: int, count: int) -> tuple[LinkId, ...]:
        """The channels a transfer from processor `src` to processor `dst` crosses, in order."""
        for p in (src, dst):
            if isinstance(p, bool) or not isinstance(p, int) or not 0 <= p < count:
                raise IndexError(f"route: processor {p!r} not in 0..{count - 1}")
        if src == dst:
            return ()
        if self.topology is Topology.SHARED:
            return (BUS,)
        a, b = self.node(src), self.node(dst)
        if self.topology is Topology.MESH2D:
            return _mesh_route(a, b, self.mesh_cols)
        if self.topology is Topology.RING:
            return _ring_route(a, b, count)
        return _walk([*range(a, b, 1 if b > a else -1), b])


def _walk(nodes: list[int]) -> tuple[LinkId, ...]:
    return tuple(LinkId(x, y) for x, y in zip(nodes, nodes[1:]))


def _ring_route(a: int, b: int, n: int) -> tuple[LinkId, ...]:
    up = (b - a) % n
    step = 1 if up <= n - up else -1
    return _walk([(a + step * i) % n for i in range(min(up, n - up) + 1)])


def _mesh_route(a: int, b: int, cols: int) -> tuple[LinkId, ...]:
    (ra, ca), (rb, cb) = divmod(a, cols), divmod(b, cols)
    xs = [ra * cols + c for c in range(ca, cb, 1 if cb > ca else -1)]
    ys = [r * cols + cb for r in range(ra, rb, 1 if rb > ra else -1)]
    return _walk(xs + ys + [b])
