"""A SCALE-Sim convolution topology (CSV) as a network.

SCALE-Sim's topology files have one row per layer::

    Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,

(a first header line; rows end with a comma; columns after the strides are ignored). SCALE-Sim
itself pads nothing (ofmap = IFMAP - Filter + 1), and its bundled topologies list a layer's
*unpadded* input (e.g. ResNet-50's 3x3 layers at 56x56), so IFMAP is read that way here: it is
what the previous layer sends. The file names no padding and no pooling, so both are recovered
from the next row: a convolution's zero padding `p < K` and the max-pool `s` after it are the
ones for which `(IFMAP + 2p - K + 1) / s` is the next row's IFMAP (or, before a fully connected
row, whose product with the filters is its channels), taking the smallest pool `s` first.

A row with a 1x1 IFMAP and a 1x1 filter is fully connected (Channels inputs, Num Filter
outputs); the last row, which must be one, is the output layer. The number of timesteps T is
not in the file and must be given; the input is read as a constant current (`input_kind`
"current"), gradient delays are 0. Depth-wise rows (names containing 'DP') and strides other
than 1 are not supported yet.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError
from .network import Conv, Dense, LayerSpec, MaxPool, Network, Output


@dataclass(frozen=True)
class TopologyRow:
    """One layer row of a SCALE-Sim topology."""

    name: str
    ifmap_h: int
    ifmap_w: int
    filter_h: int
    filter_w: int
    channels: int
    filters: int
    stride: int

    @property
    def dense(self) -> bool:
        """A fully connected row: a 1x1 IFMAP and a 1x1 filter."""
        return (self.ifmap_h, self.ifmap_w, self.filter_h, self.filter_w) == (1, 1, 1, 1)


def read_topology(path: str | Path, timesteps: int | None) -> Network:
    """The network a SCALE-Sim convolution topology describes, run for `timesteps` steps."""
    where = f"SCALE-Sim topology {path}"
    if timesteps is None:
        raise ConfigError(f"{where}: SCALE-Sim topologies carry no number of timesteps: pass --timesteps T")
    rows = parse_rows(where, Path(path).read_text(errors="replace"))
    try:
        return Network(Path(path).stem, _input_shape(rows[0]), tuple(_specs(rows)), timesteps)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def parse_rows(where: str, text: str) -> list[TopologyRow]:
    """The layer rows of a topology file's text (header skipped, blank rows ignored)."""
    lines = [line for line in csv.reader(text.splitlines()) if any(cell.strip() for cell in line)]
    if not lines:
        raise ConfigError(f"{where}: empty file")
    header = [c.strip().lower() for c in lines[0] if c.strip()]
    if header[1:4] == ["m", "n", "k"]:
        raise ConfigError(f"{where}: a GEMM (M, N, K) topology lists matrix products, not layers; "
                          "give a convolution topology (Layer name, IFMAP Height, ...)")
    rows = []
    for line in lines[1:]:
        cells = [c.strip() for c in line]
        name = cells[0] or f"row{len(rows) + 1}"
        try:
            values = [int(c) for c in cells[1:8]]
        except ValueError:
            values = []
        if len(values) != 7:
            raise ConfigError(f"{where}: row '{name}': needs 7 integers (IFMAP height, width, filter height, "
                              f"width, channels, filters, stride), got {cells[1:8]}")
        if "DP" in name:
            raise ConfigError(f"{where}: row '{name}': depth-wise convolution is not supported")
        row = TopologyRow(name, *values)
        if min(values) < 1:
            raise ConfigError(f"{where}: row '{name}': every size must be a positive integer, got {values}")
        strides = [int(c) for c in cells[7:9] if c.isdigit()]
        if any(s != 1 for s in strides):
            raise ConfigError(f"{where}: row '{name}': stride {'x'.join(map(str, strides))} is not supported yet "
                              "(stride 1 only)")
        if row.filter_h != row.filter_w:
            raise ConfigError(f"{where}: row '{name}': a {row.filter_h}x{row.filter_w} filter is not supported "
                              "(square filters only)")
        rows.append(row)
    if not rows:
        raise ConfigError(f"{where}: no layer rows after the header")
    if not rows[-1].dense:
        raise ConfigError(f"{where}: row '{rows[-1].name}': the last row is the output layer and must be fully "
                          "connected (IFMAP 1x1, filter 1x1)")
    return rows


def _input_shape(row: TopologyRow) -> tuple[int, ...]:
    return (row.channels,) if row.dense else (row.ifmap_h, row.ifmap_w, row.channels)


def _specs(rows: list[TopologyRow]) -> list[LayerSpec]:
    specs: list[LayerSpec] = []
    for row, nxt in zip(rows, rows[1:] + [None]):
        if nxt is None:
            specs.append(Output(row.filters, name=row.name))
        elif row.dense:
            if not nxt.dense or nxt.channels != row.filters:
                raise ConfigError(f"row '{nxt.name}' must be fully connected with {row.filters} channels "
                                  f"to follow '{row.name}'")
            specs.append(Dense(row.filters, name=row.name))
        else:
            padding, pool = _padding_and_pool(row, nxt)
            specs.append(Conv(row.filters, kernel=row.filter_h, padding=padding, name=row.name))
            if pool > 1:
                specs.append(MaxPool(pool))
    return specs


def _padding_and_pool(row: TopologyRow, nxt: TopologyRow) -> tuple[int, int]:
    """The (padding, pool) that turn `row`'s input into `nxt`'s, smallest pool first."""
    k = row.filter_h
    found = []
    for pad in range(k):
        oh, ow = row.ifmap_h + 2 * pad - k + 1, row.ifmap_w + 2 * pad - k + 1
        if oh < 1 or ow < 1:
            continue
        for pool in range(1, min(oh, ow) + 1):
            if oh % pool or ow % pool:
                continue
            sent = (oh // pool, ow // pool)
            fits = (nxt.channels == sent[0] * sent[1] * row.filters if nxt.dense
                    else nxt.channels == row.filters and sent == (nxt.ifmap_h, nxt.ifmap_w))
            if fits:
                found.append((pool, pad))
    if not found:
        wants = f"{nxt.channels} inputs" if nxt.dense else f"a {nxt.ifmap_h}x{nxt.ifmap_w}x{nxt.channels} input"
        raise ConfigError(f"row '{nxt.name}' reads {wants}, which no padding < {k} and max-pool of "
                          f"'{row.name}' ({row.ifmap_h}x{row.ifmap_w}x{row.channels}, {k}x{k}, "
                          f"{row.filters} filters) gives")
    pool, pad = min(found)
    return pad, pool
