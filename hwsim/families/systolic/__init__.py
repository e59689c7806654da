"""Family `systolic`: analytical model (model.py), cycle-level model (cycle.py). MAC systolic arrays (SCALE-Sim's model): H×W MACs, dataflow os | ws | is, double-buffered SRAMs."""

from hwsim.families.systolic.model import Systolic, stall_free_cycles

FAMILY = Systolic()

__all__ = ["FAMILY", "Systolic", "stall_free_cycles"]
