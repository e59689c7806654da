import pytest

from hwsim.engine import Precision, operand_type
from hwsim.errors import HwsimError


def test_bits():
    t = operand_type(4.0625)
    assert (t.bits, t.element_bits, t.is_float) == (4.0625, 4, False)
    assert operand_type(16).name == "fp16" and operand_type("16").is_float
    assert operand_type(32).mantissa_bits == 23


def test_format_names():
    t = operand_type("fp16")
    assert t.bits == 16 and t.is_float and t.exponent_bits == 5
    p = Precision(weights="int4_g128").resolve()
    assert p.weights.element_bits == 4 and p.weights.bits > 4 and p.kv.bits == 16


@pytest.mark.parametrize("bad", [0, -3, 100, True, "int4_nonsense_format"])
def test_bad(bad):
    with pytest.raises(HwsimError):
        operand_type(bad, "--weights")
