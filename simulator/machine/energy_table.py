"""The energy table: picojoules per operation and per byte moved, milliwatts of static power.

Defaults and their sources (full discussion in docs/machine.md). Values are float32, as
`simulator.cost` stores weights, currents and gradients:

- [H14] M. Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014,
  45 nm, 0.9 V: 32-bit float add 0.9 pJ, 32-bit float multiply 3.7 pJ, 64-bit access to a
  32 KB SRAM 20 pJ, 64-bit DRAM access 1.3-2.6 nJ.
- [P13] J. Poulton et al., "A 0.54 pJ/b 20 Gb/s ground-referenced single-ended short-reach
  serial link in 28 nm CMOS for advanced packaging applications", JSSC 2013: 0.54 pJ/bit
  die to die over 4.5 mm of organic package.
- [C7] CACTI 7.0 as run by SATA_Sim (R. Yin et al., "SATA: sparsity-aware training
  accelerator for spiking neural networks", IEEE TCAD 2023; github.com/RuokaiYin/SATA_Sim,
  cacti/sram-config/SATA-inference-sram-configs/sram-config-GLB-weight.log): a 144 KiB
  scratchpad SRAM in 2 banks, 28 nm, itrs-lop cells, 360 K: 24.9086 mW leakage per bank.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

from .fields import number

FP32_ADD_PJ = 0.9  # [H14] 45 nm, 32-bit float add
FP32_MUL_PJ = 3.7  # [H14] 45 nm, 32-bit float multiply
SRAM_32KB_64BIT_PJ = 20.0  # [H14] 45 nm, one 64-bit access to a 32 KB SRAM bank
DRAM_64BIT_PJ = 1300.0  # [H14] 64-bit DRAM access, lower end of 1.3-2.6 nJ (long sequential bursts)
LINK_PJ_PER_BIT = 0.54  # [P13] 28 nm die-to-die link, per bit
SRAM_LEAK_MW_PER_KIB = 2 * 24.9086 / 144  # [C7] 28 nm, 360 K: two 72 KiB banks, 24.9086 mW each
REFERENCE_SRAM_KIB = 4096  # the `realistic` preset's 4 MiB SRAM per processor


@dataclass(frozen=True)
class EnergyTable:
    """Energy per operation (pJ), per byte (pJ/byte) and static power per processor (mW)."""

    accumulate_pj: float = FP32_ADD_PJ
    """A spike-gated accumulate (FP, WG): a binary spike times a weight is one float32 add."""
    mac_pj: float = round(FP32_MUL_PJ + FP32_ADD_PJ, 6)
    """A multiply-accumulate of two reals (IG; FP and WG of a layer fed with input currents)."""
    iir_forward_pj: float = round(2 * FP32_MUL_PJ + 3 * FP32_ADD_PJ, 6)
    """One LIF filter step (eq. 4-5): (c - lambda) * d, + i_in, * 1/(c + lambda), + d, compare
    with V_th (a subtraction); the reset is a select."""
    iir_backward_pj: float = round(3 * FP32_MUL_PJ + 2 * FP32_ADD_PJ, 6)
    """One gradient filter step (eq. 23 then 17): dL/dv_sp * phi', dL/dv_m[n+1] * (c - lambda)/(c +
    lambda), their sum, + the gated dL/dv_m[n+1], * 1/(c + lambda); gating by the spike is a select."""
    sram_read_pj_per_byte: float = SRAM_32KB_64BIT_PJ / 8
    """SRAM read per byte: [H14]'s 32 KB bank (a multi-MB SRAM is built of such banks)."""
    sram_write_pj_per_byte: float = SRAM_32KB_64BIT_PJ / 8
    """SRAM write per byte: [H14] gives one figure per access; used for writes too."""
    dram_pj_per_byte: float = DRAM_64BIT_PJ / 8
    """DRAM per byte moved."""
    link_pj_per_byte: float = round(LINK_PJ_PER_BIT * 8, 6)
    """Per byte per link crossed."""
    static_mw: float = round(SRAM_LEAK_MW_PER_KIB * REFERENCE_SRAM_KIB, 1)
    """Static power per processor: SRAM leakage of a 4 MiB SRAM at [C7]'s rate; array leakage not
    counted."""

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, number(f"energy.{f.name}", getattr(self, f.name), positive=False))
