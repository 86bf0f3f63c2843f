"""The analytic cycle model against Table VI and eq. 26-29."""
from __future__ import annotations

from math import ceil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.cost import FLOAT32_BYTES, ArrayConfig, TaskKind, TileGrid, network_cost
from simulator.paper import TABLE_VI, TABLE_VI_TOTAL
from tests.conftest import random_networks
from workloads import MNIST, AvgPool, ConfigError, Conv, MaxPool, Network, Output, SumPool

FP, WG, IG = TaskKind.FP, TaskKind.WG, TaskKind.IG

def test_table_6_to_the_cycle() -> None:
    cost = network_cost(MNIST, ArrayConfig(32, 32), batch=1)
    got = {layer.name: tuple(tasks[k].cycles for k in (FP, WG, IG)) for layer, tasks in cost.layer_rows()}
    assert got == TABLE_VI
    assert cost.total == TABLE_VI_TOTAL
    assert network_cost(MNIST, ArrayConfig(32, 32), 1, include_first_ig=True).total == 46_956 + 26_264


def independent_macs(layer, kind, t: int, b: int) -> tuple[int, int, int]:
    """Rows, cols, MACs per output straight from Tables IV and V."""
    if layer.kind == "conv":
        (h, w, c), (ho, wo, f), k = layer.in_shape, layer.out_shape, layer.kernel
        return {FP: (ho * wo * t * b, f, k * k * c), WG: (k * k * c, f, ho * wo * t * b),
                IG: (h * w * t * b, c, k * k * f)}[kind]
    qi, qo = layer.in_size, layer.out_size
    return {FP: (t * b, qo, qi), WG: (qi, qo, t * b), IG: (t * b, qi, qo)}[kind]


arrays = st.builds(ArrayConfig, st.integers(1, 300), st.integers(1, 300))


@settings(max_examples=300, deadline=None)
@given(random_networks(), arrays, st.integers(1, 64))
def test_tiles_and_cycles_follow_eq_26_27(net, array, batch) -> None:
    cost = network_cost(net, array, batch, include_first_ig=True)
    for task in cost.tasks:
        layer = net.compute_layers()[task.layer]
        rows, cols, macs = independent_macs(layer, task.kind, net.timesteps, batch)
        assert task.tiles == ceil(rows / array.rows) * ceil(cols / array.cols)  # eq. 26
        assert task.cycles_per_tile == macs + array.rows - 1 + array.cols - 1  # eq. 27
        assert task.cycles == task.tiles * task.cycles_per_tile  # eq. 28-29
    assert cost.total == sum(t.cycles for t in cost.tasks)


@settings(max_examples=200, deadline=None)
@given(random_networks(), arrays, st.integers(1, 64), st.integers(1, 64))
def test_cycles_never_decrease_as_the_batch_grows(net, array, b1, b2) -> None:
    small, large = sorted((b1, b2))
    a, b = network_cost(net, array, small), network_cost(net, array, large)
    assert all(x.cycles <= y.cycles for x, y in zip(a.tasks, b.tasks))
    assert a.total <= b.total
    assert a.communication_bytes <= b.communication_bytes and a.memory_bytes <= b.memory_bytes


@settings(max_examples=200, deadline=None)
@given(random_networks(), st.integers(1, 16))
def test_one_by_one_array_is_plain_mac_counting(net, batch) -> None:
    cost = network_cost(net, ArrayConfig(1, 1), batch, include_first_ig=True)
    for task in cost.tasks:
        rows, cols, macs = independent_macs(net.compute_layers()[task.layer], task.kind, net.timesteps, batch)
        assert task.cycles == rows * cols * macs  # no skew, one MAC per cycle


def test_non_square_arrays() -> None:
    cost = network_cost(MNIST, ArrayConfig(16, 64), 1)
    fp0 = cost.task(0, FP)  # rows 6272, cols 8, MACs 9
    assert (fp0.row_tiles, fp0.col_tiles, fp0.cycles_per_tile) == (392, 1, 9 + 15 + 63)
    assert ArrayConfig.parse("16x64") == ArrayConfig(16, 64) and ArrayConfig.parse("32") == ArrayConfig(32, 32)


def test_bytes_of_the_mnist_tasks() -> None:
    cost = network_cost(MNIST, ArrayConfig(32, 32), batch=2)
    conv2 = cost.task(1, FP)
    # input: 14x14x8 spikes x T=8 x B=2 bits; weights 584 float32; output: 7x7x8 pooled spikes
    assert (conv2.input_bytes, conv2.weight_bytes, conv2.output_bytes) == (1568 * 16 // 8, 584 * 4, 392 * 16 // 8)
    first = cost.task(0, FP)
    assert first.input_bytes == 784 * 2 * 4  # constant input current, stored once per sample
    ig = cost.task(2, IG)  # fc1: reads dL/di (128 x 16 float32) and weights, writes dL/dv_sp of 392 x 16
    assert (ig.input_bytes, ig.weight_bytes, ig.output_bytes) == (128 * 16 * 4, 392 * 128 * 4, 392 * 16 * 4)
    # boundaries: spikes forward (1 bit) + float32 gradient back, per element and timestep
    assert cost.boundary_bytes() == tuple(n * 16 // 8 + n * 16 * 4 for n in (1568, 392, 128))
    assert network_cost(MNIST, ArrayConfig(32, 32), 32, bytes_model=FLOAT32_BYTES).memory_bytes > \
        network_cost(MNIST, ArrayConfig(32, 32), 32).memory_bytes


def test_strided_convolution_gemms() -> None:
    """Stride 2 (Table IV generalised): FP and WG over the 14x14 output positions; IG one output per
    input position and channel with all K*K*F taps (the dense transposed convolution over dL/di
    dilated by the stride, docs/cost-model.md)."""
    net = Network("s", (28, 28, 3), (Conv(8, stride=2), Conv(4, kernel=5, padding=2, stride=3), Output(10)), 8)
    cost = network_cost(net, ArrayConfig(16, 16), batch=2, include_first_ig=True)
    tb = 8 * 2
    gemms = [(t.gemm.rows, t.gemm.cols, t.gemm.macs) for t in cost.tasks[:6]]
    assert gemms == [(14 * 14 * tb, 8, 9 * 3), (9 * 3, 8, 14 * 14 * tb), (28 * 28 * tb, 3, 9 * 8),
                     (5 * 5 * tb, 4, 25 * 8), (25 * 8, 4, 5 * 5 * tb), (14 * 14 * tb, 8, 25 * 4)]
    # stride 1 is Table VI's: the paper's networks keep their cycles (test_table_6_to_the_cycle)
    assert network_cost(MNIST, ArrayConfig(32, 32)).task(1, IG).gemm.macs == 9 * 8


@pytest.mark.parametrize("pool, bits", [(MaxPool(2), 1), (SumPool(2), 3), (AvgPool(2), 3), (AvgPool(4), 5),
                                        (SumPool(3), 4)])
def test_pooled_counts_are_stored_in_enough_bits(pool, bits: int) -> None:
    """What a sum or average pool sends is each window's spike count, 0..size^2: (size^2).bit_length() bits
    per element and timestep (1 for a max-pool's spikes), in FP's output, the next layer's input (FP and WG),
    the boundary and the memory; float32 in the software layout."""
    net = Network("p", (12, 12, 2), (Conv(3), pool, Output(5)), 4)
    conv, out = net.compute_layers()
    tb, n = 4 * 2, conv.sent_size
    cost = network_cost(net, ArrayConfig(8, 8), batch=2)
    sent = ceil(n * tb * bits / 8)
    assert cost.task(0, FP).output_bytes == sent
    assert cost.task(1, FP).input_bytes == sent
    assert cost.task(1, WG).input_bytes == sent + out.out_size * tb * 4
    assert cost.boundary_bytes() == (sent + n * tb * 4,)
    assert cost.memory_bytes == 12 * 12 * 2 * 2 * 4 + ceil(conv.out_size * tb * 2 / 8) + sent + out.out_size * 2 * 4
    f32 = network_cost(net, ArrayConfig(8, 8), batch=2, bytes_model=FLOAT32_BYTES)
    assert f32.task(0, FP).output_bytes == n * tb * 4


@pytest.mark.parametrize("text", ["0x0", "0x32", "-1x4", "axb", "1x2x3", ""])
def test_bad_arrays_are_rejected(text: str) -> None:
    with pytest.raises(ConfigError, match="array"):
        ArrayConfig.parse(text)


@pytest.mark.parametrize("batch", [0, -3, 1.5])
def test_bad_batches_are_rejected(batch) -> None:
    with pytest.raises(ConfigError, match="batch"):
        network_cost(MNIST, ArrayConfig(32, 32), batch)


def test_public_functions_take_an_array_config_or_its_text() -> None:
    assert network_cost(MNIST, "32x32").total == network_cost(MNIST, ArrayConfig(32, 32)).total == TABLE_VI_TOTAL
    assert ArrayConfig.of(32) == ArrayConfig.of((32, 32)) == ArrayConfig.of("32") == ArrayConfig(32, 32)
    for bad in (None, 3.5, [32, 32], "32y32", "0x4"):
        with pytest.raises(ConfigError, match="array"):
            network_cost(MNIST, bad)


@given(st.integers(1, 300), st.integers(1, 300), st.integers(1, 40), st.integers(1, 40), st.data())
def test_tile_grid_numbers_every_element_once(rows, cols, sr, sc, data) -> None:
    grid = TileGrid(rows, cols, sr, sc)
    r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    tiles = grid.tile_of(r, c)
    assert set(np.unique(tiles)) == set(range(grid.count))  # every tile holds an element, partial edges too
    start = data.draw(st.integers(0, grid.count - 1))
    stop = data.draw(st.integers(start + 1, grid.count))
    owned = (tiles >= start) & (tiles < stop)
    r0, r1 = grid.row_span(start, stop)
    assert owned.any(axis=1).nonzero()[0].min() >= r0 and owned.any(axis=1).nonzero()[0].max() < r1
    assert grid.first_tile_of_row(r0) == (start // grid.col_tiles) * grid.col_tiles
    assert owned.any(axis=0).sum() / cols <= grid.column_share(start, stop) + 1 / grid.col_tiles
