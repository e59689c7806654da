"""Accelerator specs: YAML presets (archs/) loaded into typed, validated objects (the types themselves
live in hwsim.core and are re-exported here)."""

from hwsim.arch.loader import apply_overrides, build_arch, load_arch, parse_overrides
from hwsim.core.schema import MEMORY_ROLES, Field
from hwsim.core.spec import Accelerator, MemoryLevel, TechSpec

__all__ = [
    "Accelerator",
    "Field",
    "MemoryLevel",
    "MEMORY_ROLES",
    "TechSpec",
    "apply_overrides",
    "build_arch",
    "load_arch",
    "parse_overrides",
]
