"""Issue 12, "one pipeline, computed once": every entry point configures the machine once and builds the
shared memory model once per call (per design point in sweeps), on every registered family.

Calls are counted by wrapping the Family methods each step runs exactly once when it runs: `configure`
(hwsim.engine.machine.configure), `resident`, `array_reads` and `spill_bytes` (hwsim.engine.machine.op_traffic),
`compute_parts` (the analytical compute and start-up work), `point_totals`, the datapath energy
(`energy_terms` / `compute_energy`: one calls the other, so each at most once) and the area (`area_terms` /
`area_mm2`, likewise). Each call gets a fresh trace
and a freshly loaded spec, so no cache kept beside a Trace or a spec answers for it. The cycle engine
simulates op by op: its per-op model may ask the family for that op's compute (`compute_cycles`,
`startup_parts`, `spill_bytes`), at most once per op. Roofline also prices one-op probes (its roofs); only compute on the
trace's ops is counted against the rule.`--explain` prints the same energy terms and
area terms the totals were summed from (hwsim.engine.cost.cost_columns' `itemised`, Machine.area_terms)."""
from __future__ import annotations

import collections
import functools
import json

import pytest
import yaml

from hwsim import cycle
from hwsim.allocate import resolve_trace
from hwsim.arch import load_arch
from hwsim.engine import Precision, evaluate, sweep_cost
from hwsim.engine.attention import as_run
from hwsim.engine.explain import explain
from hwsim.families import family_names, get_family
from hwsim.roofline import roofline
from tests.test_family_conformance import ARCHS

PREC = Precision(weights="int4_g128", activations="int8", kv="int8")
ONCE = ("configure", "resident", "array_reads", "spill_bytes", "point_totals", "energy_terms", "compute_energy",
        "area_terms", "area_mm2")
PER_OP = ("compute_cycles", "startup_parts")


def presets() -> dict[str, str]:
    """One preset per family with presets in archs/ (the first by name)."""
    out: dict[str, str] = {}
    for path in sorted(ARCHS.glob("*.yaml")):
        out.setdefault(yaml.safe_load(path.read_text())["family"], path.stem)
    return out


@pytest.fixture
def counts(monkeypatch):
    """Calls per Family method name, over every registered family's class hierarchy."""
    seen: collections.Counter = collections.Counter()
    wrapped = set()
    for name in family_names():
        for cls in type(get_family(name)).__mro__:
            for meth in (*ONCE, "compute_parts", *PER_OP):  # methods a family itself defines (its own or inherited)
                f = cls.__dict__.get(meth)
                if f is None or (cls, meth) in wrapped or isinstance(f, (staticmethod, classmethod)):
                    continue
                wrapped.add((cls, meth))

                def counted(self, *a, _f=f, _meth=meth, **k):
                    seen[_meth] += 1
                    if _meth == "compute_parts" and len(a[1]) > 1:  # (arch, ops, prec): not a roofline probe
                        seen["compute_parts on the trace"] += 1
                    return _f(self, *a, **k)

                monkeypatch.setattr(cls, meth, functools.wraps(f)(counted))
    return seen


@pytest.fixture(scope="module")
def config_path(tmp_path_factory):
    cfg = {"model_type": "llama", "hidden_size": 128, "intermediate_size": 256, "num_attention_heads": 4,
           "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 256, "max_position_embeddings": 512}
    path = tmp_path_factory.mktemp("tiny") / "config.json"
    path.write_text(json.dumps(cfg))
    return str(path)


ENTRY_POINTS = {
    "evaluate": lambda arch, tr: evaluate(arch, tr, PREC),
    "explain": lambda arch, tr: explain(arch, tr, PREC),
    "roofline": lambda arch, tr: roofline(arch, tr, PREC).summary,
    "cycle": lambda arch, tr: cycle.evaluate(arch, tr, PREC),
}


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
@pytest.mark.parametrize("family", sorted(presets()))
def test_one_call_configures_and_models_memory_once(family, entry, counts, config_path):
    arch, tr = load_arch(presets()[family]), resolve_trace(config_path, "decode", context=64)
    n_ops = len(as_run(arch, tr).ops)
    counts.clear()
    ENTRY_POINTS[entry](arch, tr)
    for meth in ONCE:
        if entry == "cycle" and meth == "spill_bytes":
            continue  # the LUT cycle model prices its tables' spill per op (below)
        assert counts[meth] <= 1, f"{entry} on {family}: {meth} ran {counts[meth]} times"
    assert counts["configure"] == 1 and counts["resident"] == 1  # the counting itself works
    if entry == "cycle":
        assert all(counts[m] <= n_ops for m in PER_OP), (entry, family, dict(counts))
        assert counts["spill_bytes"] <= 1 + n_ops, (entry, family, dict(counts))
    else:
        assert counts["compute_parts on the trace"] == 1, (entry, family, dict(counts))


@pytest.mark.parametrize("family", sorted(presets()))
def test_a_sweep_configures_and_models_memory_once_per_call(family, counts, config_path):
    """sweep_cost costs every design point in one vectorised pass: one configure, one memory model, one
    compute for all three clocks."""
    arch, tr = load_arch(presets()[family]), resolve_trace(config_path, "decode", context=64)
    counts.clear()
    table = sweep_cost(arch, {"clock": ["0.5 GHz", "0.7 GHz", "1 GHz"]}, tr, PREC)
    assert len(table) == 3
    assert counts["configure"] == counts["resident"] == counts["array_reads"] == 1, dict(counts)
    assert counts["compute_parts on the trace"] == 1, dict(counts)
