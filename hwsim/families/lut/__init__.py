"""Family `lut`: analytical model (model.py), cycle-level model (cycle.py). LUT-based mixed-precision GEMM: LUT Tensor Core (ISCA 2025) as an accelerator and T-MAC"""

from hwsim.families.lut.model import Lut, unit_vs_mac

FAMILY = Lut()

__all__ = ["FAMILY", "Lut", "unit_vs_mac"]
