"""Family `gpu`: analytical model (model.py), cycle-level model (cycle.py). GPUs: SMs with tensor cores, L2 and HBM, as the kernels a serving stack launches (kernels.py)."""

from hwsim.families.gpu.model import FITTED, Gpu

FAMILY = Gpu()

__all__ = ["FAMILY", "FITTED", "Gpu"]
