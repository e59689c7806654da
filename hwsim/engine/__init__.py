"""The analytical cost engine: evaluate (one trace on one machine), sweep_cost (a grid of design
points), CostTable, and re-exports of the core vocabulary (Precision, OperandType, OpColumns)."""

from hwsim.core.ops import OpColumns, gemm_ops
from hwsim.core.precision import OperandType, Precision, operand_type
from hwsim.engine.cost import CostTable, evaluate
from hwsim.engine.sweep import sweep_cost

__all__ = ["CostTable", "OpColumns", "OperandType", "Precision", "evaluate", "gemm_ops", "operand_type", "sweep_cost"]
