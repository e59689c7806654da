"""The family registry: one explicit table, used by the loader, both engines, roofline and sweeps.

A family is a package hwsim/families/<name>/ exposing `FAMILY`, an instance of
hwsim.families.base.Family that carries its analytical model and its cycle-level model
(`simulate_op`). Built-in families are listed in BUILTIN and imported on first lookup (a CLI run
loads only the family it costs); code outside this package adds families with `register`.
See docs/engine.md ("Adding a family").
"""

from __future__ import annotations

import importlib

from hwsim.families.base import Family

#: name → package of every built-in family (adding a family adds one line here)
BUILTIN: dict[str, str] = {
    "bitserial": "hwsim.families.bitserial",
    "fpga": "hwsim.families.fpga",
    "gpu": "hwsim.families.gpu",
    "lut": "hwsim.families.lut",
    "pim": "hwsim.families.pim",
    "systolic": "hwsim.families.systolic",
}

_REGISTRY: dict[str, Family] = {}


def register(family: Family, *, replace: bool = False) -> Family:
    """Register a family instance under family.name (for families defined outside this package,
    e.g. in a test module). Registering a second family under a taken name is an error unless
    `replace` is true."""
    if not isinstance(family, Family):
        raise TypeError(f"expected a hwsim.families.base.Family, got {type(family).__name__}")
    name = family.name
    if not replace and name in family_names() and _REGISTRY.get(name) is not family:
        raise ValueError(f"a family named {name!r} is already registered")
    _REGISTRY[name] = family
    return family


def unregister(name: str) -> None:
    """Remove a family registered with `register` (built-ins load again on the next lookup)."""
    _REGISTRY.pop(name, None)


def get_family(name: str) -> Family:
    """The family registered under `name`; KeyError if none (the arch loader words the user error)."""
    fam = _REGISTRY.get(name)
    if fam is None:
        module = importlib.import_module(BUILTIN[name])  # KeyError for an unknown name
        fam = _REGISTRY.setdefault(name, module.FAMILY)
    return fam


def family_names() -> list[str]:
    return sorted({*BUILTIN, *_REGISTRY})


__all__ = ["BUILTIN", "Family", "family_names", "get_family", "register", "unregister"]
