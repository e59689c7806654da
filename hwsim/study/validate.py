"""Typed reads of parsed YAML that fail with HwsimError naming the file and the key path."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hwsim.errors import HwsimError, closest


@dataclass(frozen=True)
class At:
    """A value inside a YAML document and where it sits: file + key path like `architectures[0].sweep`."""

    value: Any
    file: str
    path: str = ""

    def error(self, message: str) -> HwsimError:
        return HwsimError(message, file=self.file, field=self.path or None)

    def child(self, key: str | int, value: Any) -> "At":
        if isinstance(key, int):
            path = f"{self.path}[{key}]"
        else:
            path = f"{self.path}.{key}" if self.path else str(key)
        return At(value, self.file, path)

    # --- shapes ------------------------------------------------------------------------------
    def mapping(self, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> dict[str, "At"]:
        """The value as a mapping with known keys only; returns key → At for the keys present."""
        if not isinstance(self.value, dict):
            raise self.error(f"expected a mapping with keys {', '.join(allowed)}, got {_kind(self.value)}")
        out = {}
        for key, val in self.value.items():
            if not isinstance(key, str) or key not in allowed:
                hint = closest(str(key), allowed) or " (allowed: " + ", ".join(allowed) + ")"
                raise self.child(str(key), val).error(f"unknown key{hint}")
            out[key] = self.child(key, val)
        for key in required:
            if key not in out:
                raise self.error(f"missing required key {key!r}")
        return out

    def items(self) -> list[tuple[str, "At"]]:
        """A mapping with free-form string keys (e.g. dotted parameter paths)."""
        if not isinstance(self.value, dict):
            raise self.error(f"expected a mapping, got {_kind(self.value)}")
        out = []
        for key, val in self.value.items():
            if not isinstance(key, str) or not key:
                raise self.error(f"keys must be non-empty strings, got {key!r}")
            out.append((key, self.child(key, val)))
        return out

    def list(self, *, allow_scalar: bool = False, nonempty: bool = True) -> list["At"]:
        """A list (or, when allowed, one scalar taken as a one-element list)."""
        val = self.value
        if not isinstance(val, list):
            if allow_scalar and not isinstance(val, dict) and val is not None:
                val = [val]
            else:
                raise self.error(f"expected a list, got {_kind(val)}")
        if nonempty and not val:
            raise self.error("must not be empty")
        return [self.child(i, v) for i, v in enumerate(val)]

    # --- scalars -----------------------------------------------------------------------------
    def str(self, choices: tuple[str, ...] | None = None) -> str:
        if not isinstance(self.value, str) or not self.value.strip():
            raise self.error(f"expected a non-empty string, got {_kind(self.value)}")
        if choices is not None and self.value not in choices:
            raise self.error(f"must be one of {', '.join(choices)}, got {self.value!r}")
        return self.value

    def int(self, minimum: int | None = None) -> int:
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            raise self.error(f"expected an integer, got {_kind(self.value)}")
        if minimum is not None and self.value < minimum:
            raise self.error(f"must be >= {minimum}, got {self.value}")
        return int(self.value)

    def bool(self) -> bool:
        if not isinstance(self.value, bool):
            raise self.error(f"expected true or false, got {_kind(self.value)}")
        return self.value

    def number(self) -> float:
        if isinstance(self.value, bool) or not isinstance(self.value, (int, float)):
            raise self.error(f"expected a number, got {_kind(self.value)}")
        if self.value != self.value:  # NaN compares false with everything: as a bound it would reject every row
            raise self.error("expected a number, got NaN")
        return float(self.value)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"a boolean ({value})"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"a string ({value!r})"
    return f"{type(value).__name__} ({value!r})"
