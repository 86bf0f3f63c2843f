"""Shared test fixtures and strategies."""
from __future__ import annotations

import os

from hypothesis import settings
from hypothesis import strategies as st

from workloads import AvgPool, Conv, Dense, MaxPool, Network, Output, SumPool

# CI (which sets CI=true) replays the same examples every run; local runs keep exploring new ones.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@st.composite
def random_networks(draw: st.DrawFn, max_convs: int = 3, max_dense: int = 2) -> Network:
    """Small valid networks: convolutions (some strided, some pooled: max, sum or average), dense layers,
    an output layer."""
    size = draw(st.integers(4, 20))
    channels = draw(st.integers(1, 4))
    layers: list = []
    h = size
    for _ in range(draw(st.integers(0, max_convs))):
        kernel = draw(st.sampled_from([1, 3, 5]))
        padding = draw(st.integers(0, kernel // 2))
        stride = draw(st.sampled_from([1, 1, 1, 2, 3]))
        out = (h + 2 * padding - kernel) // stride + 1
        if out < 1:
            break
        layers.append(Conv(draw(st.integers(1, 40)), kernel=kernel, padding=padding,
                           delay=draw(st.integers(0, 6)), stride=stride))
        h = out
        if h >= 2 and h % 2 == 0 and draw(st.booleans()):
            layers.append(draw(st.sampled_from([MaxPool, MaxPool, SumPool, AvgPool]))())
            h //= 2
    for _ in range(draw(st.integers(0, max_dense))):
        layers.append(Dense(draw(st.integers(1, 300)), delay=draw(st.integers(0, 6))))
    layers.append(Output(draw(st.integers(1, 20))))
    return Network("random", (size, size, channels), tuple(layers), draw(st.integers(1, 12)))
