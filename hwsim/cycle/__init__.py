"""The cycle-level engine (docs/cycle.md): tile loops (numba) for array families, simpy pipelines
where stages overlap and compete, SCALE-Sim's systolic timing, a utilisation timeline."""

from hwsim.cycle.engine import CycleTable, evaluate
from hwsim.cycle.recheck import recheck
from hwsim.cycle.scalesim import scalesim_cycles
from hwsim.cycle.timeline import plot_timeline, utilisation

__all__ = ["CycleTable", "evaluate", "plot_timeline", "recheck", "scalesim_cycles", "utilisation"]
