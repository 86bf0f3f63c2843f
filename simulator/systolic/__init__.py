"""Cycle-level emulation of the output-stationary systolic array and the mapping of tasks onto it."""
from .array import GemmRun, emulate_gemm
from .tasks import from_rows, operands, output_tensor, reference, to_rows

__all__ = ["GemmRun", "emulate_gemm", "from_rows", "operands", "output_tensor", "reference", "to_rows"]
