"""The analytical cost engine: Precision, CostTable, the shared memory model and sweeps."""
from hwsim.engine.cost import CostTable, evaluate
from hwsim.engine.ops import OpColumns, gemm_ops
from hwsim.engine.precision import OperandType, Precision, operand_type


def sweep_cost(arch, grid, trace, precision=None, *, product=True):
    """Vectorised cost over a grid (or, product=False, zipped columns) of design points (hwsim.engine.sweep).
    Imported lazily: the sweep module needs the arch loader, which imports the families, which import this."""
    from hwsim.engine.sweep import sweep_cost as _sweep

    return _sweep(arch, grid, trace, precision, product=product)


__all__ = ["CostTable", "OpColumns", "OperandType", "Precision", "evaluate", "gemm_ops", "operand_type", "sweep_cost"]
