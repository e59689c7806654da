"""Family `gpu`: analytical model (model.py), cycle-level model (cycle.py). GPUs: SMs with tensor cores, L2 and HBM, as one kernel per op."""
from hwsim.families.gpu.model import Gpu

FAMILY = Gpu()

__all__ = ["FAMILY", "Gpu"]
