"""Family `pim`: analytical model (model.py), cycle-level model (cycle.py). SRAM processing-in-memory next to CPU caches: bit-serial compute in the cache arrays (Neural"""

from hwsim.families.pim.model import Pim

FAMILY = Pim()

__all__ = ["FAMILY", "Pim"]
