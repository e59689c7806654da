"""The component library (hwsim.tech.components): its reference points and scaling rules."""

import pytest
from hypothesis import given, settings, strategies as st

from hwsim.core.precision import operand_type
from hwsim.tech import components as C


def test_reference_points():
    # Horowitz ISSCC 2014 at 45 nm, 0.9 V
    assert C.int_adder(8).energy_j == pytest.approx(0.03e-12)
    assert C.fp_adder(32).energy_j == pytest.approx(0.9e-12)
    assert C.multiplier(operand_type(16), operand_type(16)).energy_j == pytest.approx(1.1e-12)
    for kib, pj in ((8, 10.0), (32, 20.0), (1024, 100.0)):  # 64-bit cache reads
        assert C.sram_read(kib * 1024).energy_j == pytest.approx(pj * 1e-12)
    assert C.sram_bit().energy_j * 64 == pytest.approx(10e-12)
    # Keckler et al. 2011: 256 bits over 10 mm at 40 nm = 310 pJ
    assert C.wire(40.0).energy_j * 256 * 10 == pytest.approx(310e-12)
    assert C.dram_bit("hbm2").energy_j == pytest.approx(3.9e-12)
    assert C.dram_bit("ddr").energy_j * 64 == pytest.approx(1950e-12)
    with pytest.raises(ValueError):
        C.dram_bit("sdram")


@settings(max_examples=30, deadline=None)
@given(node=st.floats(3, 180), volts=st.floats(0.3, 1.5))
def test_scaling_rules(node, volts):
    a, b = operand_type(16), operand_type("int4")
    ref = C.mac(a, b)
    at = C.mac(a, b, node, volts)
    assert at.energy_j == pytest.approx(ref.energy_j * node / 45 * (volts / 0.9) ** 2, rel=1e-12)
    assert at.area_m2 == pytest.approx(ref.area_m2 * (node / 45) ** 2, rel=1e-12)
    assert "scaled to" in at.source and "Horowitz" in at.source


@settings(max_examples=30, deadline=None)
@given(small=st.integers(1, 1 << 24), factor=st.floats(1.01, 64))
def test_sram_read_energy_grows_with_capacity(small, factor):
    assert C.sram_read(small * factor).energy_j > C.sram_read(small).energy_j
    assert C.sram_read(small, 128).energy_j == pytest.approx(2 * C.sram_read(small, 64).energy_j)


def test_terms_and_times():
    reg = C.register_bit(28)
    t = C.Term(reg.times(2.0, "two copies"), 10)
    assert t.energy_j == pytest.approx(20 * reg.energy_j) and t.area_m2 == pytest.approx(20 * reg.area_m2)
    assert "two copies" in t.component.source and "assumed" in t.component.source
