"""SNN numerics: the LIF IIR neuron, per-layer FP / WG / IG tasks, optimisers and the delayed-gradient trainer."""
import os

# numba's OpenMP workers spin while they wait; on a shared machine the spinning takes the
# cores the working threads need (measured: 4x slower training on two busy cores). Wait
# passively unless the user chose otherwise. Read when the first parallel kernel runs.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
