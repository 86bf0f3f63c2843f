"""Functional co-simulation: the discrete-event model executes a schedule and every slice computes
its real values with the `models` kernels, so one run yields the cycles and the trained network."""
from .emulate import EmulationRecord
from .executor import WEIGHT_POLICIES, PipelineExecutor
from .training import FunctionalConfig, FunctionalResult, run_functional, run_ideal, subset

__all__ = ["EmulationRecord", "FunctionalConfig", "FunctionalResult", "PipelineExecutor", "WEIGHT_POLICIES",
           "run_functional", "run_ideal", "subset"]
