"""Family `fpga`: analytical model (model.py), cycle-level model (cycle.py). FPGA accelerators (FlightLLM-like): MACs on DSP48E2/DSP58 cascade chains with operand packing,"""

from hwsim.families.fpga.model import Fpga, sparse_speedup, sparsity

FAMILY = Fpga()

__all__ = ["FAMILY", "Fpga", "sparse_speedup", "sparsity"]
