"""Datapath cost per format pair (hwsim.tech), checked against Horowitz ISSCC 2014 (45 nm)."""

import pytest

from hwsim.engine import operand_type as o
from hwsim.tech import accumulator_bits, mac_cost, scale_area, scale_energy
from hwsim.tech.datapath import multiplier


def test_fits_pass_through_horowitz_points():
    assert multiplier(o(8), o(8)) == pytest.approx(0.2) and multiplier(o("fp16"), o("fp16")) == pytest.approx(1.1)
    assert multiplier(o("fp32"), o("fp32")) == pytest.approx(3.7)
    assert multiplier(o("fp16"), o("fp16"), "um2") == pytest.approx(1640)


def test_int8_mac_near_accelergy():
    # Accelergy 45 nm reference: 8-bit int MAC 0.315 pJ (REFERENCES.md)
    assert mac_cost(o(8), o(8)).energy_pj == pytest.approx(0.315, rel=0.1)


def test_accumulator_widths():
    assert accumulator_bits(o(8), o(8), 4096) == (8 + 8 + 12 + 1, False)
    assert accumulator_bits(o("fp6_e2m3"), o("fp6_e2m3"), 4608) == (26, False)  # REFERENCES.md example
    assert accumulator_bits(o("fp16"), o("fp16"), 4096) == (32, True)


def test_ordering_and_node_scaling():
    e = {f: mac_cost(o(f), o(f)).energy_pj for f in ("fp32", "fp16", "fp8_e4m3", "int8", "int4")}
    assert e["fp32"] > e["fp16"] > e["fp8_e4m3"] > e["int8"] > e["int4"]
    assert mac_cost(o(8), o(8), 22.5).energy_pj == pytest.approx(mac_cost(o(8), o(8)).energy_pj / 2)
    assert scale_area(100.0, 45, 22.5) == pytest.approx(25.0) and scale_energy(1.0, 45, 90) == 2.0
