"""The cycle-level emulator of one processor: an output-stationary systolic array (`array`), the
operand mapping of every task onto it (`tasks`, Tables IV-V), the IIR filter bank at its column
outputs (`iir_bank`, Fig. 11), and one training step run through them (`step`)."""
from .array import GemmRun, emulate_gemm, float32_bound
from .iir_bank import BankTiming, bank_backward, bank_forward
from .step import BankCheck, StepCheck, TaskCheck, emulate_step
from .tasks import from_rows, operands, output_tensor, reference, to_rows

__all__ = ["BankCheck", "BankTiming", "GemmRun", "StepCheck", "TaskCheck", "bank_backward", "bank_forward",
           "emulate_gemm", "emulate_step", "float32_bound", "from_rows", "operands", "output_tensor",
           "reference", "to_rows"]
