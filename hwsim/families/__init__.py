"""Registry of accelerator families.

A family is a module in this package exposing `FAMILY`, an instance of
hwsim.families.base.Family. Modules are discovered on first lookup, so adding a family means
adding one file here — no list to edit. See docs/engine.md.
"""
from __future__ import annotations

import importlib
import pkgutil

_REGISTRY: dict = {}
_SCANNED = False
_HELPERS = {"base", "common"}  # shared modules that are not families


def register(family) -> None:
    """Register a family instance under family.name (also usable by code outside this package)."""
    _REGISTRY[family.name] = family


def _scan() -> None:
    global _SCANNED
    if _SCANNED:
        return
    _SCANNED = True
    for mod in pkgutil.iter_modules(__path__):
        if mod.name.startswith("_") or mod.name in _HELPERS:
            continue
        module = importlib.import_module(f"{__name__}.{mod.name}")
        fam = getattr(module, "FAMILY", None)
        if fam is not None and fam.name not in _REGISTRY:
            register(fam)


def get_family(name: str):
    """The family registered under `name`; KeyError if none (the arch loader words the user error)."""
    if name not in _REGISTRY:
        _scan()
    return _REGISTRY[name]


def family_names() -> list[str]:
    _scan()
    return sorted(_REGISTRY)
