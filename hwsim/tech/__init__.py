"""Technology tables with sources, the node-scaling rule, and datapath cost per format pair."""

from hwsim.tech.datapath import MacCost, accumulator_bits, mac_cost
from hwsim.tech.scaling import RULE, scale_area, scale_energy
from hwsim.tech.tables import BITMOD_28NM_PE, HOROWITZ_45NM

__all__ = [
    "BITMOD_28NM_PE",
    "HOROWITZ_45NM",
    "MacCost",
    "RULE",
    "accumulator_bits",
    "mac_cost",
    "scale_area",
    "scale_energy",
]
