"""Study constraints on metrics a design leaves undefined (NaN) fail loudly instead of marking
every point infeasible; with the metric provided the same study runs."""

import textwrap
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from hwsim.errors import HwsimError, HwsimWarning
from hwsim.study import load_study
from hwsim.study.schema import Constraint
from hwsim.sweep import run_sweep
from hwsim.sweep.evaluate import feasibility

STUDY = """
name: fpga-area
architectures:
  - preset: u280
    SET
    sweep:
      clock: ["200 MHz", "300 MHz"]
workloads:
  - model: bitnet-b1.58-2b4t
    phase: decode
    ops: linear
precisions:
  weights: [int8]
  activations: [int8]
constraints:
  area_mm2: {max: 900}
outputs: {plot: false}
"""


def _study(tmp_path, set_line=""):
    p = tmp_path / "s.yaml"
    p.write_text(textwrap.dedent(STUDY).replace("SET", set_line))
    return load_study(p)


def test_area_constraint_on_fpga_without_die_area_names_key_and_fix(tmp_path):
    s = _study(tmp_path)
    with pytest.raises(HwsimError) as e:
        run_sweep(s, tmp_path / "out")
    msg = str(e.value)
    assert "constraints.area_mm2" in msg and "fpga family does not provide area_mm2" in msg
    assert "compute.die_area" in msg and "\n" not in msg


def test_area_constraint_with_die_area_applies(tmp_path):
    s = _study(tmp_path, 'set: {compute.die_area: "600 mm^2"}')
    with pytest.warns(HwsimWarning, match=r"none of the 2 rows meets them \(area_mm2\)"):
        t = run_sweep(s, tmp_path / "out").table()
    util = t[["util_dsp", "util_lut", "util_ff", "util_bram", "util_uram"]].to_numpy().max(axis=1)
    np.testing.assert_allclose(t["area_mm2"], np.minimum(util, 1.0) * 600.0, rtol=1e-12)
    # the constraint is applied to the now-defined metric: half the smallest area rejects every point
    tight = replace(s, constraints=(Constraint("area_mm2", None, float(t["area_mm2"].min()) / 2),))
    assert not feasibility(t, tight).any()
    assert feasibility(t, s).all()


def test_undefined_accuracy_for_plain_bits_is_an_error(tmp_path):
    s = replace(_study(tmp_path), constraints=(Constraint("acc_sqnr_db", 20.0, None),))
    t = pd.DataFrame({"design": ["u280"], "family": ["fpga"], "weights": ["3"], "acc_sqnr_db": [np.nan]})
    with pytest.raises(HwsimError, match=r"constraints\.acc_sqnr_db: acc_sqnr_db is undefined for weights=3"):
        feasibility(t, s)


@pytest.mark.parametrize(
    "bounds, want",
    [
        ("{seconds: {max: 5 ms}}", ("seconds", None, 0.005)),
        ("{area_mm2: {min: 0.5 cm2, max: 900}}", ("area_mm2", 50.0, 900.0)),  # mm² columns: SI m² × 1e6
        ("{energy_per_token_j: {max: 2 mJ}}", ("energy_per_token_j", None, 0.002)),
        ("{tpot_p99_s: {max: 40 ms}}", ("tpot_p99_s", None, 0.04)),
        ("{bytes_dram: {max: 4 GiB}}", ("bytes_dram", None, 4 * 2.0**30)),
    ],
)
def test_constraint_bounds_take_units_in_the_columns_own(tmp_path, bounds, want):
    """Unit strings are accepted in YAML (as for swept quantities and allocate's budgets): converted to the unit
    the column's name says (seconds, joules, mm², bytes); a bare number stays in the column's own units."""
    p = tmp_path / "s.yaml"
    p.write_text(textwrap.dedent(STUDY).replace("SET", "").replace("  area_mm2: {max: 900}", f"  {bounds[1:-1]}"))
    (got,) = load_study(p).constraints
    assert (got.column, got.min is None, got.max is None) == (want[0], want[1] is None, want[2] is None)
    assert [v for v in (got.min, got.max) if v is not None] == pytest.approx([v for v in want[1:] if v is not None])


@pytest.mark.parametrize(
    "bounds, needle",
    [
        ("{seconds: {max: 5 mm2}}", "constraints.seconds.max: '5 mm2' is not a time"),
        ("{tokens_per_s: {min: 5 ms}}", "constraints.tokens_per_s.min: 'tokens_per_s' has no unit"),
        ("{seconds: {max: fast}}", "constraints.seconds.max: expected a time"),
    ],
)
def test_a_constraint_bound_in_the_wrong_unit_is_refused(tmp_path, bounds, needle):
    p = tmp_path / "s.yaml"
    p.write_text(textwrap.dedent(STUDY).replace("SET", "").replace("  area_mm2: {max: 900}", f"  {bounds[1:-1]}"))
    with pytest.raises(HwsimError, match=needle.replace(".", r"\.")):
        load_study(p)


@pytest.mark.parametrize(
    "constraint, needle",
    [
        # a bound on a text column ended in a ValueError traceback at the first chunk
        (Constraint("design", None, 1.0), "constraints.design: the column holds text"),
        # `true` on a number held wherever it was not 0
        (Constraint("area_mm2", true=True), "constraints.area_mm2: the column holds numbers, not true/false"),
    ],
)
def test_a_constraint_of_the_wrong_kind_for_its_column_is_refused(tmp_path, constraint, needle):
    s = replace(_study(tmp_path), constraints=(constraint,))
    t = pd.DataFrame({"design": ["u280"], "family": ["fpga"], "area_mm2": [10.0], "fits_memory": [True]})
    with pytest.raises(HwsimError, match=needle.replace(".", r"\.")):
        feasibility(t, s)
    # what they are for: true on a true/false column, bounds on numbers (and on true/false as 1/0, as before)
    ok = (Constraint("fits_memory", true=True), Constraint("area_mm2", None, 20.0), Constraint("fits_memory", 1.0))
    assert feasibility(t, replace(s, constraints=ok)).all()
