"""Family `gpu`: analytical model (model.py), cycle-level model (cycle.py). GPUs: SMs with tensor cores, L2 and off-chip DRAM (HBM or GDDR), as the kernels a serving stack launches (kernels.py)."""

from hwsim.families.gpu.model import FITTED, Gpu, fitted_path

FAMILY = Gpu()

__all__ = ["FAMILY", "FITTED", "Gpu", "fitted_path"]
