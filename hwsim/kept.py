"""Values derived from a frozen object, computed once and kept beside its fields.

Specs, traces and op tables are frozen dataclasses that are not changed after they are built
(`with_values` and `dataclasses.replace` build new ones), so what the engine derives from one (a machine
at a precision, buffer capacities, KV elements, row operations) is kept on the object itself and goes
with it. Each value sits in the object's `__dict__` under a slot name that is not one of its fields
(`Accelerator.__getstate__` pickles fields only, so a design sent to sweep workers carries none).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")

_MISSING = object()


def kept(obj: Any, slot: str, build: Callable[[], T], on: tuple = ()) -> T:
    """`build()`, kept in `obj`'s `slot` with the objects `on` it was computed from, which are held so that
    none can be replaced by another object at the same address: asked again with the same objects (by
    identity), it is not built again; asked with others, it is built for them and replaces the kept one."""
    got = obj.__dict__.get(slot)
    if got is None or len(got[0]) != len(on) or any(a is not b for a, b in zip(got[0], on)):
        got = (on, build())
        obj.__dict__[slot] = got
    return got[1]


def kept_by(obj: Any, slot: str, key: Hashable, build: Callable[[], T], limit: int = 64) -> T:
    """`build()`, kept in a table in `obj`'s `slot` under `key` (by value): one value per key, at most `limit`
    keys kept (an object meets a few). An unhashable key (arrays over design points) is built every call."""
    table = obj.__dict__.setdefault(slot, {})
    try:
        got = table.get(key, _MISSING)
    except TypeError:
        return build()
    if got is _MISSING:
        got = build()
        if len(table) < limit:
            table[key] = got
    return got
