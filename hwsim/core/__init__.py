"""The bottom layer of the simulator: the shared vocabulary every other package speaks.

- `spec`: Accelerator, MemoryLevel, TechSpec — pure data (how a machine is costed lives above:
  hwsim.engine.evaluate, hwsim.families.get_family(arch.family));
- `schema`: Field (one description of a spec field for loading, --set and sweeps), the top-level,
  memory-level and tech schemas, MEMORY_ROLES (operand roles a memory level holds);
- `precision`: OperandType, Precision, ResolvedPrecision (formats as the datapath sees them);
- `ops`: OpColumns (a trace's ops as numpy columns), op KINDS, operand bytes.

It imports only hwsim.errors, hwsim.units and hwsim.formats (tests/test_import_graph.py checks the layers).
"""

from hwsim.core.ops import KINDS, OpColumns, gemm_ops, operand_bytes
from hwsim.core.precision import OPERANDS, OperandType, Precision, ResolvedPrecision, operand_type, resolve_precision
from hwsim.core.schema import MEMORY_ROLES, Field
from hwsim.core.spec import Accelerator, MemoryLevel, TechSpec

__all__ = [
    "Accelerator",
    "Field",
    "KINDS",
    "MEMORY_ROLES",
    "MemoryLevel",
    "OPERANDS",
    "OpColumns",
    "OperandType",
    "Precision",
    "ResolvedPrecision",
    "TechSpec",
    "gemm_ops",
    "operand_bytes",
    "operand_type",
    "resolve_precision",
]
