"""The three networks of Table I (MNIST, N-MNIST, DVS128 Gesture).

Delays are Table I's 'Delay' column. Table I lists 2,827 parameters for the
DVS128 output layer, which would need 256 inputs; FC1 has 128 outputs, so the
output layer here has 128 x 11 + 11 = 1,419 parameters (a typo in the table).
"""
from __future__ import annotations

from .network import Conv, Dense, InputKind, MaxPool, Network, Output

MNIST = Network(
    name="mnist",
    input_shape=(28, 28, 1),
    timesteps=8,
    input_kind=InputKind.CURRENT,
    layers=(
        Conv(8, name="conv1", delay=6), MaxPool(),
        Conv(8, name="conv2", delay=4), MaxPool(),
        Dense(128, name="fc1", delay=2),
        Output(10, name="output", delay=0),
    ),
)

NMNIST = Network(
    name="nmnist",
    input_shape=(34, 34, 2),
    timesteps=30,
    input_kind=InputKind.SPIKES,
    layers=(
        Conv(8, padding=0, name="conv1", delay=6), MaxPool(),
        Conv(8, name="conv2", delay=4), MaxPool(),
        Dense(32, name="fc1", delay=2),
        Output(10, name="output", delay=0),
    ),
)

DVS128 = Network(
    name="dvs128",
    input_shape=(64, 64, 2),
    timesteps=40,
    input_kind=InputKind.SPIKES,
    layers=(
        Conv(32, name="conv1", delay=14), MaxPool(),
        Conv(64, name="conv2", delay=14), MaxPool(),
        Conv(128, name="conv3", delay=12),
        Conv(128, name="conv4", delay=8), MaxPool(),
        Conv(256, name="conv5", delay=4),
        Conv(256, name="conv6", delay=2), MaxPool(),
        Dense(128, name="fc1", delay=0),
        Output(11, name="output", delay=0),
    ),
)

BUILTIN: dict[str, Network] = {net.name: net for net in (MNIST, NMNIST, DVS128)}
