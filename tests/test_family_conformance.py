"""Every registered family through every consumer: both engines, roofline, a sweep and allocation —
and a family defined here, in a test module, registered and costed by both engines (the worked
example of docs/engine.md, "Adding a family")."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from hwsim import cycle
from hwsim.engine.attention import as_run
from hwsim.allocate import allocate, resolve_trace
from hwsim.arch import build_arch, load_arch
from hwsim.core.schema import Field
from hwsim.engine import Precision, evaluate, gemm_ops, sweep_cost
from hwsim.families import BUILTIN, family_names, get_family, register, unregister
from hwsim.families.base import Family
from hwsim.families.common import array_fold_reads, cdiv, vector_cycles
from hwsim.roofline import roofline
from hwsim.sim.models import simulate_tiles

ARCHS = Path(__file__).resolve().parents[1] / "archs"
PREC = Precision(weights="int4_g128", activations="int8", kv="int8")


def preset_of(family: str) -> str:
    """The first preset (by name) of a family."""
    import yaml

    for path in sorted(ARCHS.glob("*.yaml")):
        if yaml.safe_load(path.read_text()).get("family") == family:
            return path.stem
    raise AssertionError(f"family {family!r} has no preset in archs/")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A 2-layer Llama-style decode step (GQA) small enough to cost everywhere quickly."""
    cfg = {
        "model_type": "llama",
        "hidden_size": 128,
        "intermediate_size": 256,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "num_hidden_layers": 2,
        "vocab_size": 256,
        "max_position_embeddings": 512,
    }
    path = tmp_path_factory.mktemp("tiny") / "config.json"
    path.write_text(json.dumps(cfg))
    return resolve_trace(str(path), "decode", context=64)


def check_engines(arch, tr, prec):
    """Both engines cost every op with finite, positive cycles and give the same total keys."""
    ana, cyc = evaluate(arch, tr, prec), cycle.evaluate(arch, tr, prec)
    for table in (ana, cyc):
        assert len(table.ops) == len(as_run(arch, tr).ops)  # attention fused or not, as the family runs it
        assert (table.ops["cycles"] > 0).all() and np.isfinite(table.ops["seconds"]).all()
        assert math.isfinite(table.totals["energy_j"]) and table.totals["energy_j"] > 0
    assert set(cyc.totals) == set(ana.totals)
    assert cyc.totals["cycles"] == pytest.approx(ana.totals["cycles"], rel=0.5)  # same op, same order of size
    return ana


@pytest.mark.parametrize("family", sorted(BUILTIN))
def test_every_family_through_every_consumer(family, tiny):
    arch = load_arch(preset_of(family))
    ana = check_engines(arch, tiny, PREC)
    roof = roofline(arch, tiny, PREC)
    assert len(roof.summary) == 1 and (roof.ops["attained_s"] > 0).all()
    grid = sweep_cost(arch, {"clock": [float(arch.clock_hz), 2 * float(arch.clock_hz)]}, tiny, PREC)
    assert grid["cycles"].iloc[0] == pytest.approx(ana.totals["cycles"], rel=1e-9)
    assert grid["seconds"].iloc[1] <= grid["seconds"].iloc[0]
    sol = allocate(
        arch,
        tiny,
        "int4_g128,int8",
        "seconds",
        {"avg_bits": 8.5},
        proxy="uniform",
        activations="int8",
        kv="int8",
        fixed_weights="int8",
    )
    assert sol.totals["seconds"] > 0


def test_every_registered_family_has_a_preset_and_a_cycle_model():
    for name in family_names():
        fam = get_family(name)
        assert fam.name == name and fam.cycle_model or type(fam).simulate_op is not Family.simulate_op


# --- a throw-away family, registered from this module ---------------------------------------------


class DotArray(Family):
    """`rows` dot-product units of `width` terms each; one MAC per term per cycle (assumed: a test family)."""

    name = "test-dotarray"
    params = {"rows": Field("int"), "width": Field("int"), "pe_power": Field("power"), "pe_area": Field("area")}

    def compute_cycles(self, arch, ops, prec):
        c = arch.compute
        gemm = ops.m * cdiv(ops.n, c["rows"]) * cdiv(ops.k, c["width"]) * ops.count
        return np.where(ops.gemm, gemm, 0.0) + vector_cycles(ops, c["rows"])

    def peak_macs_per_cycle(self, arch, prec):
        return arch.compute["rows"] * arch.compute["width"]

    def compute_energy(self, arch, ops, prec, compute_cycles):
        return compute_cycles * arch.compute["rows"] * arch.compute["pe_power"] / arch.clock_hz

    def area_mm2(self, arch, prec):
        return arch.compute["rows"] * arch.compute["pe_area"] * 1e6

    def array_reads(self, arch, ops):
        return array_fold_reads(ops, 1, arch.compute["rows"])

    def simulate_op(self, ctx, i):
        return simulate_tiles(ctx, i, 1, ctx.arch.compute["rows"])


SPEC = {
    "name": "dot-small",
    "family": "test-dotarray",
    "clock": {"value": "1 GHz", "source": "assumed: test"},
    "compute": {"source": "assumed: test", "rows": 16, "width": 8, "pe_power": "1 mW", "pe_area": "100 um2"},
    "memory": {
        "dram": {
            "source": "assumed: test",
            "holds": ["weights", "activations", "kv", "outputs"],
            "bandwidth": "16 B/cycle",
            "energy": "100 pJ/8bit",
        },
        "sram": {"source": "assumed: test", "holds": ["weights", "activations", "outputs"], "capacity": "64 KiB"},
    },
}


@pytest.fixture
def dotarray():
    fam = register(DotArray())
    yield build_arch(SPEC)
    unregister(fam.name)


def test_a_family_registered_in_a_test_module_is_costed_by_both_engines(dotarray, tiny):
    assert "test-dotarray" in family_names()
    ana = check_engines(dotarray, tiny, Precision())
    op = evaluate(dotarray, gemm_ops([("g", 4, 64, 64)])).ops.iloc[0]
    assert op["compute_cycles"] == 4 * 4 * 8  # m · ceil(n/rows) · ceil(k/width)
    assert ana.totals["area_mm2"] == pytest.approx(16 * 100e-12 * 1e6)


def test_register_refuses_a_taken_name():
    with pytest.raises(ValueError, match="already registered"):
        register(type("Other", (DotArray,), {"name": "systolic"})())


# --- element bits drive datapaths, storage bits drive bytes (issue 12) ----------------------------


@pytest.mark.parametrize("family", sorted(BUILTIN))
@pytest.mark.parametrize("fmts", [("int4_g16", "int4_g128"), ("int8_g32", "int8"), ("e2m1_g16", "e2m1_g128")])
def test_group_scales_change_bytes_not_datapath_cycles(family, fmts):
    """Formats that differ only in their group scales (storage bits) run the same datapath: equal compute
    cycles in every family, more bytes for the smaller group. Before, bit-serial took floor(storage
    bits) as its datapath width: int4_g16 (5.0 bits) cost 1.5× int4_g128 in compute cycles."""
    arch = load_arch(preset_of(family))
    ops = gemm_ops([("g", 16, 512, 1024)])
    prec = [Precision(weights=f, activations="int8", kv="int8") for f in fmts]
    try:
        small, large = (evaluate(arch, ops, p).totals for p in prec)
    except Exception as exc:  # a family that refuses the element type refuses both formats
        with pytest.raises(type(exc)):
            evaluate(arch, ops, prec[1])
        return
    assert small["compute_cycles"] == large["compute_cycles"]
    backing = arch.backing.name
    assert small[f"bytes_{backing}"] >= large[f"bytes_{backing}"]
