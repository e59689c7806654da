"""Energy and area explained by component (hwsim.engine.explain, `hwsim simulate --explain`): the lines are
the engine's own terms, so they must add up to its totals, and each carries a source."""

import json
import math

import numpy as np
import pytest

from hwsim.arch import load_arch
from hwsim.cli import main
from hwsim.core.precision import operand_type
from hwsim.engine import evaluate
from hwsim.engine.explain import explain
from hwsim.tech import components as C
from hwsim.workload import load_model, trace

# one preset per family and mode: bit-serial, systolic, LUT accelerator and CPU, PIM lut / bit-serial /
# host, FPGA, GPU
CASES = [
    ("bitmod", "int4_g128"),
    ("tpu-like", "int8"),
    ("lut-tensor-core", "int2"),
    ("tmac-orin", "int4"),
    ("sail-n1", "int4"),
    ("neural-cache", "int8"),
    ("cpu-n1", "int4"),
    ("flightllm-u280", "int4"),
    ("a100-sxm", "fp16"),
]


@pytest.fixture(scope="module")
def small():
    return trace(load_model("gpt-2"), "decode", batch=2, context=64)


@pytest.mark.parametrize("arch,weights", CASES)
def test_lines_sum_to_the_engine_totals(small, arch, weights):
    e = explain(arch, small, weights)
    t = evaluate(arch, small, weights).totals
    assert math.isclose(e.energy["energy_j"].sum(), t["energy_j"], rel_tol=1e-12)
    for part, joules in e.part_sums().items():
        assert math.isclose(joules, t[f"energy_{part}_j"], rel_tol=1e-12, abs_tol=1e-300), part
    if np.isnan(t["area_mm2"]):  # an FPGA without a die area prices none
        assert e.area.empty
    else:
        assert math.isclose(e.area["area_mm2"].sum(), t["area_mm2"], rel_tol=1e-12)
    assert (e.energy["count"] >= 0).all() and (e.energy["energy_j"] >= 0).all()
    assert e.energy["source"].str.len().gt(0).all() and e.area["source"].str.len().gt(0).all()
    fixed = e.energy["per_action_j"].notna()  # per-action constant: the line is exactly per x count
    np.testing.assert_allclose(
        e.energy.loc[fixed, "per_action_j"] * e.energy.loc[fixed, "count"], e.energy.loc[fixed, "energy_j"], rtol=1e-12
    )


@pytest.mark.parametrize("arch,weights", CASES[:4])
def test_reads_and_writes_per_level_are_the_engine_bytes(small, arch, weights):
    e = explain(arch, small, weights)
    t = e.table.totals
    for level in load_arch(arch).memory:
        moved = e.energy[e.energy["part"] == level.name]["count"].sum()
        assert moved == pytest.approx(t[f"bytes_{level.name}"], rel=1e-12)


def test_systolic_mac_line_by_hand(small):
    """tpu-like: the weight-MAC line counts every linear MAC once, at the tech table's int8 MAC × pe_overhead."""
    arch = load_arch("tpu-like")
    e = explain(arch, small, "int8")
    ops = small.ops
    line = e.energy.iloc[0]
    assert line["count"] == float((ops["m"] * ops["n"] * ops["k"] * ops["count"])[ops["kind"] == "linear"].sum())
    mac = C.mac(operand_type(16), operand_type("int8"), arch.tech.node_nm)
    assert line["per_action_j"] == pytest.approx(mac.energy_j * arch.compute["pe_overhead"], rel=1e-12)
    assert "Horowitz" in line["source"]


def test_voltage_scales_datapath_energy_quadratically(small):
    base = explain("tpu-like", small, "int8").part_sums()
    half = explain(load_arch("tpu-like", {"tech.voltage": "0.45"}), small, "int8").part_sums()
    ref = explain(load_arch("tpu-like", {"tech.voltage": "0.9"}), small, "int8").part_sums()
    assert half["compute"] == pytest.approx(base["compute"] / 4, rel=1e-12)
    assert ref["compute"] == pytest.approx(base["compute"], rel=1e-12)
    assert half["dram"] == base["dram"]  # memory energies are the preset's own, not voltage-scaled


def test_cli_explain_text_and_json(capsys):
    argv = ["simulate", "--arch", "lut-tensor-core", "--gemm", "2,4096,4096", "--phase", "decode", "--weights", "int2"]
    assert main([*argv, "--explain"]) == 0
    out = capsys.readouterr().out
    assert "table mux" in out and "sources:" in out and "engine total" in out
    assert main([*argv, "--explain", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["explain"]["sums"]["energy_j"] == pytest.approx(doc["totals"]["energy_j"], rel=1e-12)
    assert {r["part"] for r in doc["explain"]["energy"]} == {"compute", "hbm", "l2", "static"}


def test_cli_explain_refuses_the_cycle_engine(capsys):
    rc = main(
        ["simulate", "--arch", "bitmod", "--gemm", "16,64,64", "--phase", "prefill", "--explain", "--engine", "cycle"]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "--explain" in err and len(err.strip().splitlines()) == 1


def test_cli_explain_refuses_mixed_checkpoint_formats(capsys):
    """A GPTQ checkpoint keeps lm_head at fp16: one explanation needs one weight format (--weights)."""
    rc = main(["simulate", "--arch", "bitmod", "--model", "llama-2-7b-gptq", "--phase", "decode", "--explain"])
    err = capsys.readouterr().err
    assert rc == 2 and "--weights" in err and len(err.strip().splitlines()) == 1
    rc = main(
        [
            "simulate",
            "--arch",
            "bitmod",
            "--model",
            "llama-2-7b-gptq",
            "--phase",
            "decode",
            "--explain",
            "--weights",
            "int4_g128",
        ]
    )
    assert rc == 0 and "sources:" in capsys.readouterr().out
