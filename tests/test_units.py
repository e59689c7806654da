"""Unit strings in YAML → SI floats, and one-line errors for wrong dimensions."""

import pytest

from hwsim.errors import HwsimError
from hwsim.units import parse_quantity as q


@pytest.mark.parametrize(
    "text,kind,expected",
    [
        ("1 GHz", "frequency", 1e9),
        ("1.41GHz", "frequency", 1.41e9),
        ("512 KiB", "bytes", 524288),
        ("8 GB", "bytes", 8e9),
        ("3.35 TB/s", "bandwidth", 3.35e12),
        ("256 bit/cycle", "bytes_per_cycle", 32),
        ("1200 pJ/64bit", "energy_per_byte", 1200e-12 / 8),
        ("8 pJ/bit", "energy_per_byte", 64e-12),
        ("0.56 mW", "power", 0.56e-3),
        ("1507.7 um2", "area", 1507.7e-12),
        ("1 mm2", "area", 1e-6),
        ("989 TFLOPS", "ops_per_s", 989e12),
        ("10 us", "time", 1e-5),
        (2.5e9, "frequency", 2.5e9),
    ],
)
def test_parse(text, kind, expected):
    assert q(text, kind) == pytest.approx(expected, rel=1e-12)


def test_wrong_dimension_names_file_and_field():
    with pytest.raises(HwsimError) as err:
        q("1 GB", "frequency", file="archs/x.yaml", field="clock")
    assert str(err.value).startswith("archs/x.yaml: clock: '1 GB' is not a frequency")
    with pytest.raises(HwsimError, match="unknown unit"):
        q("3 furlongs", "bytes")
    with pytest.raises(HwsimError, match="expected a size in bytes such as '512 KiB', got 'lots'"):
        q("lots", "bytes")
    # the kind is named with its article ('is not a bytes', 'not a energy per byte', 'not a area' read before)
    for text, kind, noun in [
        ("5 ms", "bytes", "a size in bytes"),
        ("5 ms", "energy_per_byte", "an energy per byte"),
        ("5 ms", "area", "an area"),
        ("4 bit", "dimensionless", "a plain number"),
    ]:
        with pytest.raises(HwsimError, match=f"'{text}' is not {noun}; expected something like"):
            q(text, kind)
    with pytest.raises(HwsimError):
        q(True, "bytes")
