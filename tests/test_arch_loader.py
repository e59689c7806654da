"""Arch specs: presets load with sources; overrides; every kind of bad input names file and field."""

import math

import pytest
import yaml

from hwsim.arch import load_arch
from hwsim.errors import HwsimError

BITMOD = {
    "name": "t",
    "family": "bitserial",
    "clock": {"value": "1 GHz", "source": "test"},
    "compute": {"source": "test", "rows": 4, "cols": 4, "pe_area": "100 um2", "pe_power": "1 mW"},
    "memory": {
        "dram": {
            "holds": ["weights", "activations", "kv", "outputs"],
            "bandwidth": {"value": "256 bit/cycle", "source": "test"},
        }
    },
}


def write(tmp_path, spec, name="a.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(spec))
    return p


def test_preset_units_and_sources():
    a = load_arch("bitmod")
    assert a.clock_hz == 1e9
    assert a.compute["rows"] == 32 and a.compute["dot_width"] == 4
    assert a.compute["pe_area"] == pytest.approx(1507.7e-12)
    assert a.compute["pe_power"] == pytest.approx(0.56e-3)
    assert a.backing.bytes_per_cycle(a.clock_hz) == 32.0
    assert a.backing.energy == pytest.approx(1200e-12 / 8)
    assert a.buffer_capacity("activations") == 512 * 1024
    assert a.buffer_capacity("weights") == 512 * 1024  # weights and kv share a level but never an op
    assert "BitMoD" in a.sources["compute.rows"]
    assert "DRAM energy" in a.sources["memory.dram.energy"]


def test_overrides_change_value_and_source():
    a = load_arch("bitmod", {"compute.rows": "64", "clock": "500 MHz", "memory.dram.bandwidth": "3.35 TB/s"})
    assert a.compute["rows"] == 64 and a.clock_hz == 5e8
    assert a.sources["compute.rows"] == "--set override"
    assert a.backing.bytes_per_cycle(a.clock_hz) == pytest.approx(3.35e12 / 5e8)


def test_optional_field_can_be_set(tmp_path):
    a = load_arch(write(tmp_path, BITMOD), {"static_power": "2 W"})
    assert a.static_power_w == 2.0 and a.backing.capacity == math.inf


@pytest.mark.parametrize(
    "overrides, match",
    [
        (
            {"compute.rowz": 3},
            r"compute.rowz: unknown field 'rowz' \(did you mean rows\?\); valid keys under 'compute': rows, cols",
        ),
        ({"memory.hbm.bandwidth": 3}, r"memory.hbm.bandwidth: unknown field 'hbm'; valid keys under 'memory': dram"),
        ({"memory.dram.speed": 3}, r"valid keys under 'memory.dram': capacity, bandwidth, energy, efficiency, holds"),
        ({"colck": "1 GHz"}, r"colck: unknown field 'colck' \(did you mean clock\?\)"),
        ({"clock.value": 3}, r"'clock' is a single value"),
        ({"compute.rows": -4}, r"compute.rows: must be > 0, got -4"),
        ({"compute.rows": 2.5}, r"compute.rows: expected an integer"),
        ({"clock": "1 GB"}, r"clock: '1 GB' is not a frequency"),
        ({"memory.dram.bandwidth": "1 GHz"}, r"memory.dram.bandwidth: '1 GHz' is not a bandwidth"),
        ({"memory.dram.holds": ["weights", "bias"]}, r"memory.dram.holds: must be a list of weights, activations"),
        ({"family": "tpu"}, r"family: unknown family 'tpu'"),
        (
            {"memory.dram.efficiency": 1.2},
            r"memory.dram.efficiency: must be in \(0, 1\] \(achievable fraction of the "
            r"peak bandwidth\), got 1.2",
        ),
        ({"memory.dram.efficiency": 0}, r"memory.dram.efficiency: must be in \(0, 1\]"),
        ({"memory.dram.efficiency": -0.5}, r"memory.dram.efficiency: must be in \(0, 1\]"),
    ],
)
def test_bad_overrides(tmp_path, overrides, match):
    with pytest.raises(HwsimError, match=match) as exc:
        load_arch(write(tmp_path, BITMOD), overrides)
    assert "a.yaml" in str(exc.value)


def test_missing_field_and_missing_source(tmp_path):
    spec = {k: v for k, v in BITMOD.items() if k != "clock"}
    with pytest.raises(HwsimError, match=r"a.yaml: clock: missing field"):
        load_arch(write(tmp_path, spec))
    spec = dict(BITMOD, compute={"rows": 4, "cols": 4, "pe_area": "1 um2", "pe_power": "1 mW"})
    with pytest.raises(HwsimError, match=r"compute.rows: constant has no source"):
        load_arch(write(tmp_path, spec))


def test_unknown_keys_and_bad_yaml(tmp_path):
    with pytest.raises(HwsimError, match=r"compute.rowz: unknown field"):
        load_arch(write(tmp_path, dict(BITMOD, compute={**BITMOD["compute"], "rowz": 1})))
    p = tmp_path / "bad.yaml"
    p.write_text("name: [unclosed\n")
    with pytest.raises(HwsimError, match=r"bad.yaml: invalid YAML at line"):
        load_arch(p)
    with pytest.raises(HwsimError, match=r"unknown arch 'bitmd' \(did you mean bitmod"):
        load_arch("bitmd")


def test_every_preset_loads():
    from hwsim.paths import preset_names

    for name in preset_names("archs"):
        a = load_arch(name)
        assert a.sources and all(a.sources.values())


def test_efficiency_bound_inclusive_and_checked_in_sweeps():
    from hwsim.arch.loader import parse_values

    assert load_arch("h100-sxm", {"memory.hbm.efficiency": 1}).memory[0].efficiency == 1.0
    vals, _ = parse_values(load_arch("h100-sxm"), "memory.hbm.efficiency", [0.5, 1.0])
    assert list(vals) == [0.5, 1.0]
    with pytest.raises(HwsimError, match=r"h100-sxm.yaml: memory.hbm.efficiency: must be in \(0, 1\]"):
        parse_values(load_arch("h100-sxm"), "memory.hbm.efficiency", [0.5, 1.5])


def test_tech_table_is_retired():
    # one datapath table (Horowitz 45 nm, node-scaled) prices every family: naming a table only misled
    for overrides in ({"tech.table": "horowitz-45nm"}, {"tech.table": "bitmod-28nm"}):
        with pytest.raises(HwsimError, match=r"tpu-like.yaml: tech.table: field removed: .*scaled to tech.node"):
            load_arch("tpu-like", overrides)
    assert load_arch("tpu-like").tech.node_nm == 28


@pytest.mark.parametrize(
    "path, match",
    [
        ("compute.rowz", r"compute\.rowz: unknown field 'rowz' \(did you mean rows\?\); valid keys under 'compute'"),
        (
            "memory.weight_fifo.bandwith",
            r"unknown field 'bandwith' \(did you mean bandwidth\?\); valid keys under 'memory\.weight_fifo'",
        ),
        ("memory.hbm.capacity", r"unknown field 'hbm'; valid keys under 'memory': dram, unified_buffer, weight_fifo"),
        ("clock.hz", r"'clock' is a single value, it has no field 'hz'"),
        ("compute.rows.x", r"'compute\.rows' is a single value, it has no field 'x'"),
        ("clok", r"unknown field 'clok' \(did you mean clock, link\?\)"),
    ],
)
def test_one_dotted_path_walker_for_overrides_and_design_points(path, match):
    """--set overrides (on the YAML tree) and design points (Accelerator.with_values) walk a dotted path
    with one function (hwsim.core.schema.spec_path), so both refuse a bad path with the same message."""
    arch = load_arch("tpu-like")
    assert [lv.name for lv in arch.memory] == ["dram", "unified_buffer", "weight_fifo"]
    with pytest.raises(HwsimError, match=match) as loaded:
        load_arch("tpu-like", {path: "1"})
    with pytest.raises(HwsimError, match=match) as pointed:
        arch.with_values({path: 1.0})
    assert str(loaded.value) == str(pointed.value)


def test_design_point_sets_every_section():
    arch = load_arch("tpu-like").with_values(
        {"compute.rows": 8, "memory.unified_buffer.capacity": 1024.0, "clock": 5e8, "tech.node": 7.0}
    )
    assert arch.compute["rows"] == 8 and arch.level("unified_buffer").capacity == 1024.0
    assert arch.clock_hz == 5e8 and arch.tech is not None and arch.tech.node_nm == 7.0


@pytest.mark.parametrize("key", ["bandwidth", "capacity"])
@pytest.mark.parametrize("blank", [None, "", {"value": None, "source": "test"}])
def test_blank_limit_is_refused_not_unbounded(tmp_path, key, blank):
    """docs/engine.md: an omitted capacity/bandwidth is unbounded; a key left empty (`bandwidth:` in YAML)
    used to count as omitted, and cpu-n1 with its DRAM bandwidth blanked ran 25x faster with no word."""
    spec = yaml.safe_load(yaml.safe_dump(BITMOD))
    spec["memory"]["dram"][key] = blank
    with pytest.raises(HwsimError, match=rf"a\.yaml: memory\.dram\.{key}: empty value") as err:
        load_arch(write(tmp_path, spec))
    assert "\n" not in str(err.value)
    if not isinstance(blank, dict):  # --set memory.dram.bandwidth= on a preset
        with pytest.raises(HwsimError, match=rf"memory\.dram\.{key}: empty value"):
            load_arch("cpu-n1", {f"memory.dram.{key}": blank})


def test_blank_truly_optional_field_takes_its_default(tmp_path):
    """static_power, price, link, tech left empty stay documented as omitted (docs/engine.md)."""
    spec = dict(BITMOD, static_power=None, price=None, link=None, tech=None)
    a = load_arch(write(tmp_path, spec))
    assert a.static_power_w == 0.0 and a.price_usd is None and a.link is None and a.tech is None


def test_link_name_is_checked_when_the_arch_loads(tmp_path):
    """Only multi-device runs read `link:` (docs/engine.md); a misspelt one passed every single-device run.
    A shipped preset's name and a link YAML path still load."""
    with pytest.raises(HwsimError, match=r"a\.yaml: link: unknown link 'nvlnk4' \(did you mean nvlink4"):
        load_arch(write(tmp_path, dict(BITMOD, link="nvlnk4")))
    with pytest.raises(HwsimError, match=r"a\.yaml: link: no such file \(.*gone\.yaml\)"):
        load_arch(write(tmp_path, dict(BITMOD, link=str(tmp_path / "gone.yaml"))))
    assert load_arch(write(tmp_path, dict(BITMOD, link="nvlink4"))).link == "nvlink4"
    assert load_arch("h100-sxm", {"link": "pcie4-x16"}).link == "pcie4-x16"
