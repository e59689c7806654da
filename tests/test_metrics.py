"""Cost metrics (hwsim.metrics) and the sourced `price` preset field."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim import metrics as M
from hwsim.arch import load_arch
from hwsim.engine import Precision, evaluate
from hwsim.errors import HwsimError
from hwsim.families import get_family
from hwsim.workload import load_model, trace


def test_token_metrics_by_hand():
    m = M.token_metrics({"seconds": 0.02, "energy_j": 0.5}, tokens=4, price_usd=1000)
    assert m["tokens_per_s"] == pytest.approx(200)
    assert m["tokens_per_joule"] == pytest.approx(8) and m["energy_per_token_j"] == pytest.approx(0.125)
    assert m["power_w"] == pytest.approx(25) and m["tokens_per_s_per_usd"] == pytest.approx(0.2)
    assert math.isnan(M.token_metrics({"seconds": 1, "energy_j": 1}, 1)["tokens_per_s_per_usd"])
    with pytest.raises(HwsimError):
        M.token_metrics({"seconds": 1, "energy_j": 1}, 0)


def test_tokens_per_usd_counts_electricity():
    # 1 token/s for one year on a $1000 device drawing 1 kW at $0.1/kWh: 876.6 kWh = $87.66
    year = M.SECONDS_PER_YEAR
    got = M.tokens_per_usd(1.0, 1000, lifetime_s=year, power_w=1000, usd_per_kwh=0.1)
    assert got == pytest.approx(year / (1000 + 876.6), rel=1e-4)
    with pytest.raises(HwsimError, match="price"):
        M.tokens_per_usd(1.0, None)


@settings(max_examples=25, deadline=None)
@given(st.floats(0.01, 10), st.floats(0.01, 10), st.floats(1, 1e4), st.floats(1, 1e4))
def test_compare_is_antisymmetric(s1, s2, p1, p2):
    a = M.token_metrics({"seconds": s1, "energy_j": s1 * 3}, 8, p1)
    b = M.token_metrics({"seconds": s2, "energy_j": s2 * 5}, 8, p2)
    ab, ba = M.compare(a, b, area_a=2, area_b=3), M.compare(b, a, area_a=3, area_b=2)
    for k in ab:
        assert ab[k] * ba[k] == pytest.approx(1.0)
    assert ab["iso_power"] == pytest.approx(ab["energy_efficiency"])


def test_tops_per_mm2_from_the_family():
    arch = load_arch("bitmod")
    prec = Precision(weights=4)
    fam = get_family(arch.family)
    want = (
        2
        * float(fam.peak_macs_per_cycle(arch, prec.resolve()))
        * arch.clock_hz
        / float(fam.area_mm2(arch, prec.resolve()))
        / 1e12
    )
    assert M.tops_per_mm2(arch, prec) == pytest.approx(want) and want > 0
    assert math.isnan(M.tops_per_mm2(load_arch("u280"), Precision(weights="int4", activations="int8")))


def test_price_is_a_sourced_field():
    assert load_arch("v100s").price_usd == 11500 and load_arch("bitmod").price_usd is None
    assert load_arch("v100s", {"price": 9000}).price_usd == 9000
    with pytest.raises(HwsimError, match="price"):
        load_arch("v100s", {"price": -1})


def test_step_tokens_and_end_to_end():
    tr = trace(load_model("llama-2-7b"), "decode", batch=4, context=128)
    arch = load_arch("v100s")
    t = evaluate(arch, tr, Precision()).totals
    m = M.token_metrics(t, M.step_tokens(tr), arch.price_usd)
    assert M.step_tokens(tr) == 4 and m["tokens_per_s"] == pytest.approx(4 / t["seconds"])
