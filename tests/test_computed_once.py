"""No cost is computed twice per call (issue 12, item 2): every entry point — the analytical engine,
the cycle engine, roofline, `explain` (--explain), a small sweep and one allocation cost evaluation —
configures the machine once and runs each step of the costing pipeline (the family's compute_parts,
compute_cycles, startup_parts and energy_terms, its own compute helpers, and the shared op_traffic)
at most once per (call, precision, design point), on every registered family.

How it counts: each step is wrapped (monkeypatch, restored after the test) by a counter keyed on the
precision it runs at. Results are cached per Trace (hwsim.engine.cost.per_trace) and resolved
precisions per format, so every call gets a fresh Trace: the counts are real computations, not cache
hits. The configured machine (hwsim.engine.machine.configure) and the steps that depend on the design and
precision only (fpga's resource_use) are kept beside the design: each call gets a fresh copy of its preset
(fresh_design), so they too count once per call; test_machine_kept_per_design checks the reuse.
A sweep of a few design points is one vectorised configure (its points are array columns), so
once per sweep chunk is once per design point. Roofline's compute roofs probe the family's compute
cycles on synthetic single-op probes (hwsim.roofline.analysis._probe), which are not the trace's ops:
those calls are not counted; nor are the cycle engine's tile sub-problems (hwsim.sim.models.sub_ops,
named "tile": one vectorised call per simulated op, on its tile grid). Counts are per op of the trace
(its name), so the cycle engine, which costs one op at a time, is held to the same rule: no op's
step runs twice."""

from __future__ import annotations

import dataclasses
import importlib
import sys
from collections import Counter

import numpy as np
import pytest

from hwsim import cycle
from hwsim.allocate.costs import hardware_costs
from hwsim.allocate.units import weight_units
from hwsim.arch import load_arch
from hwsim.core.precision import resolve_precision
from hwsim.engine import Precision, evaluate, sweep_cost
from hwsim.engine import machine as machine_mod
from hwsim.engine.explain import explain
from hwsim.families import BUILTIN, family_names, get_family
from hwsim.families.base import Family
from hwsim.roofline import roofline
from hwsim.workload import load_model, trace

INT4 = Precision(weights="int4_g128")
# family → (preset, precision, a swept field with three values): one preset per family, and each pim mode
CASES = {
    "systolic": [("tpu-like", Precision(), ("compute.rows", [32, 64, 128]))],
    "bitserial": [("bitmod", Precision(weights=3.0625), ("compute.rows", [16, 32, 64]))],
    "gpu": [("h100-sxm", Precision(), ("compute.sms", [66, 132, 100]))],
    "lut": [
        ("lut-tensor-core", INT4, ("compute.lut_units", [1, 2, 4])),
        ("tmac-m2-ultra", INT4, ("compute.cores", [8, 16, 12])),
    ],
    "pim": [("sail-n1", INT4, ("compute.arrays", [4, 8, 16])), ("neural-cache", INT4, ("compute.slices", [8, 14, 28]))],
    "fpga": [
        ("flightllm-u280", Precision(weights="int4_g128", activations="int8"), ("compute.hbm_channels", [8, 16, 32]))
    ],
}
# a family's module-level compute steps (fpga: the device resources a design uses, behind its utilisation)
MODULE_STEPS = {"fpga": (("hwsim.families.fpga.resources", "resource_use"),)}
ENTRY_POINTS = ("evaluate", "cycle", "roofline", "explain", "sweep", "allocate")
PARAMS = [pytest.param(fam, *case, id=f"{fam}-{case[0]}") for fam, cases in CASES.items() for case in cases]
FAMILY_STEPS = ("configure", "compute_parts", "compute_cycles", "startup_parts", "energy_terms", "resident")
# a family's own compute helpers, counted where it has them (pim: its array cycles and row operations)
OWN_STEPS = ("pim_cycles", "bitserial_rowops", "lut_cycles", "utilisation")


def fresh_trace():
    """Llama-2-7B decode at 256 cached tokens (every op kind), a new Trace each time."""
    return trace(load_model("llama-2-7b"), "decode", context=256)


def fresh_design(preset: str):
    """A new copy of a preset's spec (equal fields, nothing kept beside them yet)."""
    return dataclasses.replace(load_arch(preset))


def _key(prec) -> tuple:
    p = resolve_precision(prec)
    return tuple(getattr(getattr(p, o), "name", getattr(p, o)) for o in ("weights", "activations", "kv"))


NOT_TRACE_OPS = {"probe", "tile"}  # roofline's probes, the cycle engine's tile sub-problems


def _op_names(ops) -> set[str]:
    """The trace ops a step runs on (none for a probe or a tile grid)."""
    return {str(n) for n in np.unique(np.asarray(ops.name))} - NOT_TRACE_OPS


class Counts:
    def __init__(self) -> None:
        self.calls: Counter = Counter()  # (step, precision key, op name) → calls
        self.units: Counter = Counter()  # precision key → costings the entry point was asked for

    def wrap_method(self, monkeypatch, cls, step: str) -> None:
        inner = getattr(cls, step)

        def counted(fam, arch, *args, **kw):
            if step == "configure":
                self.calls[step, _key(args[0]), "*"] += 1
            else:
                for name in _op_names(args[0]):
                    self.calls[step, _key(args[1]), name] += 1
            return inner(fam, arch, *args, **kw)

        monkeypatch.setattr(cls, step, counted)

    def wrap_module_function(self, monkeypatch, module, name: str) -> None:
        """A family's module-level step f(arch, prec), once per design and precision."""
        inner = getattr(module, name)

        def counted(arch, prec, *args, **kw):
            self.calls[f"{module.__name__}.{name}", _key(prec), "*"] += 1
            return inner(arch, prec, *args, **kw)

        monkeypatch.setattr(module, name, counted)

    def wrap_function(self, monkeypatch, name: str, keys_of) -> None:
        inner = getattr(machine_mod, name)

        def counted(*args, **kw):
            for key in keys_of(*args):
                self.calls[(f"machine.{name}", *key)] += 1
            return inner(*args, **kw)

        for mod in list(sys.modules.values()):  # every module that imported it by name
            if getattr(mod, "__name__", "").startswith("hwsim") and getattr(mod, name, None) is inner:
                monkeypatch.setattr(mod, name, counted)


@pytest.fixture
def counting(monkeypatch):
    def start(family: str) -> Counts:
        c = Counts()
        cls = type(get_family(family))
        for step in FAMILY_STEPS + tuple(s for s in OWN_STEPS if hasattr(cls, s)):
            c.wrap_method(monkeypatch, cls, step)
        for module, step in MODULE_STEPS.get(family, ()):
            c.wrap_module_function(monkeypatch, importlib.import_module(module), step)
        c.wrap_function(monkeypatch, "configure", lambda arch, precision=None: [(_key(precision), "*")])
        c.wrap_function(monkeypatch, "op_traffic", lambda m, ops: [(_key(m.asked), n) for n in _op_names(ops)])
        return c

    return start


def run_entry(entry: str, preset: str, prec: Precision, swept: tuple, counts: Counts) -> None:
    """One call of `entry`; counts.units says how many costings at each precision it was asked for."""
    arch, tr = fresh_design(preset), fresh_trace()
    if entry == "evaluate":
        evaluate(arch, tr, prec)
    elif entry == "cycle":
        cycle.evaluate(arch, tr, prec)
    elif entry == "roofline":
        roofline(arch, tr, prec)
    elif entry == "explain":
        explain(arch, tr, prec)
    elif entry == "sweep":
        path, values = swept
        out = sweep_cost(arch, {path: values}, tr, prec)
        assert len(out) == len(values)
    if entry != "allocate":
        counts.units[_key(prec)] += 1
        return
    # one allocation cost evaluation: the base precision and one candidate weight format for every unit
    import hwsim.allocate.costs as costs

    inner = costs._per_op

    def per_op(arch, ops, precision, names, own=None, model=None):
        counts.units[_key(precision)] += 1
        return inner(arch, ops, precision, names, own, model)

    costs._per_op = per_op
    try:
        units = weight_units(tr)
        fmt = prec.weights
        hardware_costs(
            arch,
            tr,
            units,
            (fmt,),
            np.ones((len(units), 1), dtype=bool),
            activations=prec.activations,
            kv=prec.kv,
            fixed_weights=fmt,
        )
    finally:
        costs._per_op = inner


def test_every_family_has_a_case():
    assert set(BUILTIN) <= set(CASES) and set(BUILTIN) <= set(family_names())


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("family, preset, prec, swept", PARAMS)
def test_each_cost_computed_once(counting, entry, family, preset, prec, swept):
    counts = counting(family)
    run_entry(entry, preset, prec, swept, counts)
    steps = {step for step, *_ in counts.calls}
    assert {"configure", "machine.configure", "machine.op_traffic"} <= steps, steps  # the counters are wired
    assert steps & {"compute_parts", "compute_cycles", "pim_cycles", "bitserial_rowops"}, steps
    twice: dict = {}  # step at precision → (ops it ran more than once on, most runs of one op)
    for (step, key, _name), n in counts.calls.items():
        if n > counts.units[key]:
            label = f"{step} at {'/'.join(map(str, key))}"
            ops, most = twice.get(label, (0, 0))
            twice[label] = (ops + 1, max(most, n))
    assert not twice, f"{entry} on {preset}: computed more than once per costing: {twice}"


@pytest.mark.parametrize("family, preset, prec, swept", PARAMS)
def test_explain_prices_the_area_once(monkeypatch, family, preset, prec, swept):
    """--explain's area lines are the terms the total was summed from (Machine.area_terms / area_mm2): the
    area method the family defines runs once; the base class derives the other from it."""
    cls, calls = type(get_family(family)), Counter()
    for step in ("area_terms", "area_mm2"):  # the one a family defines itself (the base derives the other)
        inner = next((c.__dict__[step] for c in cls.__mro__ if step in c.__dict__), None)
        if inner is None or step not in cls.__dict__ and inner is getattr(Family, step):
            continue

        def counted(fam, arch, p, _inner=inner, _step=step):
            calls[_step] += 1
            return _inner(fam, arch, p)

        monkeypatch.setattr(cls, step, counted)
    out = explain(fresh_design(preset), fresh_trace(), prec)
    assert calls["area_terms"] + calls["area_mm2"] == 1, dict(calls)
    total = out.table.totals["area_mm2"]
    if np.isnan(total):  # a family that prices no area (FPGA boards) shows no area lines
        assert out.area.empty
    else:
        assert out.area["area_mm2"].sum() == pytest.approx(total, rel=1e-12)


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_lut_spill_bytes_once(monkeypatch, counting, entry):
    """The lut family's spill_bytes (its tables through DRAM with precompute: separate) runs once per costing:
    in the shared memory model (op_traffic), whose value the start-up work (compute_parts → startup_parts →
    table_io: the tables' DRAM time) and the cycle model (SimContext.spill) take. It used to run again in
    table_io, and in the cycle model twice more (2 to 3 runs per op)."""
    counts = counting("lut")
    counts.wrap_method(monkeypatch, type(get_family("lut")), "spill_bytes")
    run_entry(entry, "tmac-m2-ultra", INT4, ("compute.cores", [8, 16, 12]), counts)
    spill = {(key, name): n for (step, key, name), n in counts.calls.items() if step == "spill_bytes"}
    assert spill, "spill_bytes was never asked: the counter is not wired"  # tmac-m2-ultra: precompute separate
    twice = {name: n for (key, name), n in spill.items() if n > counts.units[key]}
    assert not twice, f"{entry}: spill_bytes ran more than once per costing on {len(twice)} ops: {twice}"


@pytest.mark.parametrize("family, preset, prec, swept", PARAMS)
def test_machine_kept_per_design(monkeypatch, counting, family, preset, prec, swept):
    """configure runs once per (design, precision), across calls: a second call on the same design reuses
    its machine, an equal precision given anew included; another precision or another design configures."""
    counts = counting(family)
    arch = fresh_design(preset)
    for p in (prec, dataclasses.replace(prec), prec):
        evaluate(arch, fresh_trace(), p)
    assert counts.calls["configure", _key(prec), "*"] == 1
    evaluate(arch, fresh_trace(), Precision(weights="int8"))
    evaluate(fresh_design(preset), fresh_trace(), prec)
    assert counts.calls["configure", _key(Precision(weights="int8")), "*"] == 1
    assert counts.calls["configure", _key(prec), "*"] == 2


def test_fpga_operand_pairs_priced_once_per_design(monkeypatch):
    """An FPGA design's operand-pair costs (DSP packing, LUT MAC, accumulator: fpga.resources.pair_cost) and
    its priced energy parts depend on the design and precision only: one costing prices each pair once per
    spec it runs on (the design as given and as configured), and a second costing of the design none."""
    import hwsim.families.fpga.resources as fr

    calls = Counter()
    inner = fr.pair_cost

    def counted(arch, a, b):
        calls[id(arch), a.name, b.name] += 1
        return inner(arch, a, b)

    monkeypatch.setattr(fr, "pair_cost", counted)
    arch = fresh_design("flightllm-u280")
    prec = Precision(weights="int4_g128", activations="int8")
    evaluate(arch, fresh_trace(), prec)
    assert calls and max(calls.values()) == 1, calls
    first = sum(calls.values())
    evaluate(arch, fresh_trace(), prec)
    assert sum(calls.values()) == first
