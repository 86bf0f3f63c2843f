"""The paper's published numbers (SpikePipe, IEEE TCASAI 2024): the one place every comparison reads.

Cycle figures are for the MNIST network of Table I on a 32 x 32 array at batch 1 unless said.
Where a published figure is known to disagree with its own table (Table I's DVS128 output
parameter count), the note beside it says so; `docs/` explains how each is reproduced.
"""
from __future__ import annotations

# Table VI: cycles per task (FP, WG, IG) of the MNIST network, 32 x 32 array, batch 1.
TABLE_VI: dict[str, tuple[int, int, int]] = {
    "conv1": (13_916, 6_334, 26_264),
    "conv2": (6_566, 4_890, 6_566),
    "fc1": (1_816, 3_640, 2_470),
    "output": (190, 280, 288),
}
TABLE_VI_TOTAL = 46_956  # N_total: every task but conv1's input gradient (Section V)

# Section V, MNIST: speedup bounds (eq. 30, 31, 33) and cycles per update of worked examples.
BOUNDS_MNIST = {"layerwise": 2.32, "pipedream": 3.37, "finegrained": 7.41}
LAYERWISE_P2_CYCLES = 26_706
PIPEDREAM_P4_CYCLES = 13_916
FINEGRAINED_P4_CYCLES = 11_900  # 3.95x; the ideal N_total / 4 is 11,739

# Table VII: means over these batch sizes and square array sizes, at these processor counts.
TABLE_VII_BATCHES = (1, 2, 4, 8, 16, 32, 64, 128)
TABLE_VII_ARRAYS = (16, 32, 64, 128, 256)
TABLE_VII_PROCS = (1, 2, 4, 6, 8, 10, 12, 14, 16)
# (network, P): (PipeDream speedup, fine-grained speedup, overhead KB), as published.
TABLE_VII: dict[tuple[str, int], tuple[float, float, float]] = {
    ("mnist", 1): (1.00, 1.00, 0.00), ("mnist", 2): (1.81, 1.97, 0.73), ("mnist", 4): (2.67, 3.78, 2.62),
    ("mnist", 6): (2.67, 5.04, 9.83), ("mnist", 8): (2.67, 5.49, 10.40), ("mnist", 10): (2.67, 5.57, 16.86),
    ("mnist", 12): (2.67, 5.57, 16.86),
    ("nmnist", 1): (1.00, 1.00, 0.00), ("nmnist", 2): (1.83, 2.00, 0.56), ("nmnist", 4): (2.49, 3.67, 2.08),
    ("nmnist", 6): (2.52, 5.00, 4.03), ("nmnist", 8): (2.52, 4.81, 3.92), ("nmnist", 10): (2.52, 4.81, 3.92),
    ("nmnist", 12): (2.52, 4.81, 3.92),
    ("dvs128", 1): (1.00, 1.00, 0.00), ("dvs128", 2): (1.76, 1.99, 9.00), ("dvs128", 4): (3.26, 3.93, 54.60),
    ("dvs128", 6): (4.04, 5.33, 96.64), ("dvs128", 8): (4.29, 6.89, 133.95), ("dvs128", 10): (4.29, 8.35, 194.10),
    ("dvs128", 12): (4.29, 8.56, 260.18), ("dvs128", 14): (4.29, 9.04, 252.56),
    ("dvs128", 16): (4.29, 9.87, 254.70),
}
TABLE_VII_COLUMN = {"pipedream": 0, "finegrained": 1}  # which published column a scheduler matches

# Section IV-D: communication per weight update (mean over batch sizes 1..128) and memory for the
# backward-pass intermediates at batch 32 on one processor, in MB.
COMMUNICATION_MB = {"mnist": 3.22, "dvs128": 982.98}
MEMORY_MB = {"mnist": 11.568, "nmnist": 44.217, "dvs128": 2092.0}

# Table II: (network, optimizer, delays) -> (mean, std) test accuracy in %, over 10 seeds.
TABLE_II: dict[tuple[str, str, str], tuple[float, float]] = {
    ("mnist", "sgd", "none"): (96.37, 0.32), ("mnist", "sgd", "table"): (96.38, 0.25),
    ("mnist", "adam", "none"): (98.64, 0.13), ("mnist", "adam", "table"): (98.59, 0.05),
    ("nmnist", "sgd", "none"): (96.54, 0.32), ("nmnist", "sgd", "table"): (96.34, 0.52),
    ("nmnist", "adam", "none"): (98.17, 0.15), ("nmnist", "adam", "table"): (98.13, 0.12),
    ("dvs128", "sgd", "none"): (79.03, 5.71), ("dvs128", "sgd", "table"): (73.35, 2.71),
    ("dvs128", "adam", "none"): (85.42, 2.47), ("dvs128", "adam", "table"): (76.39, 3.52),
}
TABLE_II_EPOCHS = {"mnist": 100, "nmnist": 100, "dvs128": 300}
