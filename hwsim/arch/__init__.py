"""Accelerator specs: YAML presets (archs/) loaded into typed, validated objects."""
from hwsim.arch.loader import apply_overrides, build_arch, load_arch, parse_overrides
from hwsim.arch.schema import MEMORY_ROLES, Field
from hwsim.arch.spec import Accelerator, MemoryLevel, TechSpec

__all__ = ["Accelerator", "Field", "MemoryLevel", "MEMORY_ROLES", "TechSpec", "apply_overrides", "build_arch",
           "load_arch", "parse_overrides"]
