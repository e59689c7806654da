"""The shipped studies: each loads and validates; quickstart and the BitMoD reproduction run end to end."""

from pathlib import Path

import pytest

from hwsim.study import load_study
from hwsim.sweep import run_sweep

STUDIES = sorted((Path(__file__).resolve().parents[1] / "studies").glob("*.yaml"))


def _families():
    from hwsim.families import family_names

    return set(family_names())


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.stem)
def test_study_validates(path):
    s = load_study(path)  # presets, models, formats, sweep paths all checked
    assert s.designs and s.workloads and s.precisions and s.objectives


def test_quickstart_runs(tmp_path):
    from hwsim.accuracy import minilm

    if not minilm.available():
        pytest.skip(f"the quickstart measures accuracy on MiniLM: {minilm.INSTALL_HINT}")
    s = load_study(STUDIES[0].with_name("quickstart.yaml"))
    r = run_sweep(s, tmp_path, workers=1, progress=False)
    t = r.table()
    assert len(t) == (4 * 4 * 3 + 4 * 4) * 2 * 3 and set(t["family"]) == {"bitserial", "systolic"}
    assert t["acc_sqnr_db"].notna().all() and r.front_rows >= 1 and r.plot.exists()
    # accuracy measured end to end (MiniLM, issue 13), labelled; finer formats lose less
    cos = t.groupby("weights")["acc_cosine"].first()
    assert cos["int4_g128"] < cos["int8"] < cos["fp16"] <= 1.0 and t["acc_source"].str.contains("minilm").all()
    # decode streams every weight once: fp16 → int4_g128 saves (16 − 4.125)/8 bytes per weight element
    from hwsim.workload import load_model, trace

    ops = trace(load_model("llama-2-7b"), "decode", context=256).ops
    weights = ops.loc[ops.kind == "linear", "weight_elems"].sum()
    b = t[(t.design == "bitmod") & (t.point == 0) & (t.batch == 1)].set_index("weights")["bytes_dram"]
    assert b["fp16"] - b["int4_g128"] == pytest.approx(weights * (16 - 4.125) / 8, rel=1e-3)


def test_bitmod_reproduction_speedups(tmp_path):
    """BitMoD (HPCA 2025): 1.69x mean speedup over ANT and 1.48x over OliVe (mean of prefill and
    decode, REFERENCES.md "Bit-serial PEs"). Energy vs FP16: the authors' notebook (figures/energy) gives
    Llama-2-7B one decode step 0.2054 and prefill 0.347; the published 0.339/0.241 are six-model means and
    0.241 is prefill + 20 decoded tokens (see docs/engine.md), so the per-step ratios are compared here."""
    s = load_study(STUDIES[0].with_name("bitmod-reproduction.yaml"))
    t = run_sweep(s, tmp_path, progress=False).table()
    lossy = t[~((t.design == "bitmod-prefill") & (t.weights == "6.0625"))].set_index("design")
    cyc, en = lossy["cycles"], lossy["energy_j"]
    vs_ant = (cyc["ant-prefill"] / cyc["bitmod-prefill"] + cyc["ant-decode"] / cyc["bitmod-decode"]) / 2
    vs_olive = (cyc["olive-prefill"] / cyc["bitmod-prefill"] + cyc["olive-decode"] / cyc["bitmod-decode"]) / 2
    assert vs_ant == pytest.approx(1.69, rel=0.02)
    assert vs_olive == pytest.approx(1.48, rel=0.05)
    # prefill: the released simulator itself gives 0.283 (the notebook's 0.347 came from an unreleased version)
    assert en["bitmod-prefill"] / en["fp16-prefill"] == pytest.approx(0.347, rel=0.2)
    assert en["bitmod-decode"] / en["fp16-decode"] == pytest.approx(0.2054, rel=0.05)


def test_fpga_study_uses_family_feasibility(tmp_path):
    """The FPGA family's own `feasible` (resources fit the device) is ANDed into the study's."""
    if "fpga" not in _families():
        pytest.skip("fpga family absent in this build")
    s = load_study(STUDIES[0].with_name("fpga-minifloat-vs-int.yaml"))
    r = run_sweep(s, tmp_path, progress=False)
    t = r.table()
    over = (t[["util_lut", "util_dsp", "util_ff", "util_uram", "util_bram"]] > 1).any(axis=1)
    assert over.any() and not t.loc[over, "feasible"].any() and t["feasible"].any()
    front = r.front_table()
    assert len(front) >= 2 and front["feasible"].all()


def test_fpga_study_minifloat_macs_cost_more_luts(tmp_path):
    """REFERENCES.md (FPGA): minifloat MACs cost 20-180% more LUTs than integer ones (60-300% with
    conversion). In the study, at every DSP count and chain length each minifloat design (fp8 activations,
    converted to fixed point in LUTs) uses at least 20% more LUTs than every integer design, and the
    integer designs reach the highest accuracy on the Pareto front."""
    if "fpga" not in _families():
        pytest.skip("fpga family absent in this build")
    r = run_sweep(load_study(STUDIES[0].with_name("fpga-minifloat-vs-int.yaml")), tmp_path, progress=False)
    t = r.table()
    t["minifloat"] = ~t["weights"].str.startswith("int")
    keys = ["compute.dsps", "compute.chain_length"]
    luts = t.groupby(keys + ["minifloat"])["util_lut"].agg(["min", "max"]).unstack("minifloat")
    assert (luts[("min", True)] >= 1.2 * luts[("max", False)]).all()
    front = r.front_table()
    assert not front.loc[front["acc_sqnr_db"].idxmax(), "weights"].startswith("e")


def test_all_families_fpga_runs_int8_and_fits(tmp_path):
    """The U280 entry runs with int8 activations and KV (FlightLLM's setting): every row fits the device,
    so the FPGA competes on the front (with fp16 activations its LUTs were 2× the device's)."""
    import dataclasses

    s = load_study(STUDIES[0].with_name("all-families.yaml"))
    u280 = next(d for d in s.designs if d.name == "u280")
    s = dataclasses.replace(s, designs=(dataclasses.replace(u280, index=0),), recheck=None)
    t = run_sweep(s, tmp_path, progress=False).table()
    assert len(t) == 4 and set(t["activations"]) == set(t["kv"]) == {"int8"}
    assert t["feasible"].all() and (t["util_lut"] < 0.5).all()
