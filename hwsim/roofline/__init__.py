"""Roofline analysis: per-op intensity against every memory level, compute roofs per precision and
family, phase bounds and the decode tokens/s ceiling, beside the cost model's attained point."""

from hwsim.roofline.analysis import Roofline, Roofs, machine_roofs, op_work, roofline

__all__ = ["Roofline", "Roofs", "machine_roofs", "op_work", "roofline"]
