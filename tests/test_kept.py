"""hwsim.kept: values derived from a frozen object, kept beside its fields."""

from dataclasses import dataclass

import numpy as np

from hwsim.kept import kept, kept_by


@dataclass(frozen=True)
class Frozen:
    x: int


def counter():
    calls = []

    def build(value="v"):
        calls.append(value)
        return len(calls)

    return calls, build


def test_kept_builds_once_per_identity_of_what_it_was_computed_on():
    obj, a, b = Frozen(1), object(), object()
    calls, build = counter()
    assert kept(obj, "_v", build, on=(a,)) == 1
    assert kept(obj, "_v", build, on=(a,)) == 1  # the same object: kept
    assert kept(obj, "_v", build, on=(b,)) == 2  # another object (even an equal one would be): built again
    assert kept(obj, "_v", build, on=(a,)) == 3  # one slot: the newest replaces the kept one
    assert kept(obj, "_w", build) == 4 and kept(obj, "_w", build) == 4  # nothing to compute on: built once
    assert len(calls) == 4 and obj == Frozen(1)  # fields untouched: the slots are not fields


def test_kept_by_keeps_one_value_per_key_up_to_a_limit():
    obj = Frozen(1)
    calls, build = counter()
    assert [kept_by(obj, "_t", k, build, limit=2) for k in ("a", "b", "a", "b")] == [1, 2, 1, 2]
    assert kept_by(obj, "_t", "c", build, limit=2) == 3 and kept_by(obj, "_t", "c", build, limit=2) == 4  # full
    assert kept_by(obj, "_t", ("a",), build, limit=2) == 5  # a new key when full: built, not kept
    unhashable = np.arange(3)  # arrays over design points: built every call
    assert kept_by(obj, "_u", (unhashable,), build) == 6 and kept_by(obj, "_u", (unhashable,), build) == 7
    assert obj.__dict__["_t"] == {"a": 1, "b": 2} and obj.__dict__["_u"] == {}
