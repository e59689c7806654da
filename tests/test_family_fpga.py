"""FPGA family: packing, LUT costs, mapping, feasibility, residency, errors and properties."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.arch import load_arch
from hwsim.engine import Precision, gemm_ops, operand_type, sweep_cost
from hwsim.errors import HwsimError
from hwsim.families.fpga import arith as fa
from hwsim.workload import load_model, trace
from hwsim.engine import evaluate
from hwsim.families import get_family

INT8 = Precision(weights="int8", activations="int8", kv="int8")
U280 = load_arch("u280")


def test_dsp_packing_by_precision():
    # WP486: 2 INT8 per DSP48E2; FINN mvu_4sx4u: 4 4-bit; FINN mvu_8sx9: 3 INT8 per DSP58
    assert fa.dsp_products("dsp48e2", 8, 8) == 2 and fa.dsp_products("dsp48e2", 4, 4) == 4
    assert fa.dsp_products("dsp48e2", 8, 4) == 2 and fa.dsp_products("dsp48e2", 16, 16) == 1
    assert fa.dsp_products("dsp58", 8, 8) == 3 and fa.dsp_products("dsp58", 3, 3) == 4
    assert fa.dsp_products("dsp48e2", 42, 42) == pytest.approx(1 / 6)  # ceil(42/27)·ceil(42/18)
    assert fa.dsp_products("dsp58", 24, 27) == 1


def test_lut_costs_follow_stated_formulas():
    assert fa.lut_int_multiplier(8, 8) == (2 * math.ceil(16 / 6) - 1) * 16 == 80  # FINN-R
    i8 = operand_type("int8")
    assert fa.lut_mac(i8, i8, 4608) == 80 + 30  # + accumulator 8+8+13+1 bits
    e2m3 = operand_type("fp6_e2m3")
    # mantissa 4x4 (FINN-R (2·2-1)·8 = 24) + hidden 2 + exp adder 3 + negate 8 + shifter (8+7)*2 + Kulisch 26
    assert fa.lut_mac(e2m3, e2m3, 4608) == 24 + 2 + 3 + 8 + 30 + 26
    assert fa.fixed_bits(e2m3) == 7 and fa.fixed_bits(operand_type("fp8_e4m3")) == 19
    assert fa.fixed_bits(operand_type("fp4_e2m1")) == 5  # ±{0..12} half-steps: 4 bits + sign


def test_minifloat_macs_cost_more_luts_than_integer_of_same_width():
    # REFERENCES.md: minifloat MACs cost 20-180% more LUTs (60-300% with conversion)
    for i, f in (("int4", "fp4_e2m1"), ("int6_g32", "fp6_e2m3"), ("int8", "fp8_e4m3")):
        a, b = operand_type(i), operand_type(f)
        plain = fa.lut_mac(b, b, 4608) / fa.lut_mac(a, a, 4608) - 1
        conv = fa.lut_mac(b, b, 4608, conversion=True) / fa.lut_mac(a, a, 4608) - 1
        assert plain > 0 and conv > plain


def test_gemm_cycles_closed_form():
    arch = load_arch("u280", {"compute.dsps": 1024, "compute.chain_length": 8})
    m, n, k = 5, 300, 1000
    got = evaluate(arch, gemm_ops([("g", m, n, k)]), INT8).ops.iloc[0]["compute_cycles"]
    lanes = (1024 // 8) * 2  # chains × 2 INT8 products per DSP48E2
    assert got == math.ceil(m * n / lanes) * math.ceil(k / 8)


def test_sparse_chain_speedup_and_storage():
    ops = gemm_ops([("g", 64, 4096, 4096)])
    dense = evaluate(load_arch("flightllm-u280"), ops, INT8).ops.iloc[0]
    sp = evaluate(load_arch("flightllm-u280", {"compute.sparsity_n": 2, "compute.sparsity_m": 4}), ops, INT8).ops.iloc[
        0
    ]
    # FlightLLM: 1.6x on the chain (not the ideal 2x); 2:4 stores half the values + 2 index bits each
    assert sp["compute_cycles"] == math.ceil(64 * 4096 / (768 * 2)) * math.ceil(4096 / (8 * 1.6))
    assert dense["compute_cycles"] / sp["compute_cycles"] == pytest.approx(1.6, rel=1e-3)
    assert sp["bytes_hbm"] - dense["bytes_hbm"] == pytest.approx(4096 * 4096 * ((8 + 2) / 2 / 8 - 1))


def test_weights_on_chip_removes_hbm_weight_traffic_and_checks_fit():
    tr = trace(load_model("llama-2-7b"), "decode", context=16)
    streamed = evaluate(U280, tr, INT8).totals
    onchip = evaluate(load_arch("u280", {"compute.weights_on_chip": True}), tr, INT8).totals
    assert onchip["bytes_hbm"] < 0.02 * streamed["bytes_hbm"]
    assert not onchip["feasible"] and onchip["limiting_resource"] == "weights"  # 6.7 GB ≫ 30 MiB
    assert onchip["util_weights"] == pytest.approx(6.48e9 / (30 * 2**20), rel=0.05)
    gemv = gemm_ops([("g", 1, 1024, 1024)])  # 1 MiB of INT8 weights fits
    t = evaluate(load_arch("u280", {"compute.weights_on_chip": True}), gemv, INT8).totals
    assert t["feasible"] and t["bytes_hbm"] == 1024 + 1024  # activations in, outputs out


def test_feasibility_reported_not_dropped():
    grid = {"compute.dsps": [4096, 9024, 12000], "compute.lut_macs": [0, 20000]}
    df = sweep_cost(U280, grid, gemm_ops([("g", 16, 4096, 4096)]), INT8)
    assert len(df) == 6
    over = df[df["compute.dsps"] == 12000]
    assert not over["feasible"].any() and list(over["limiting_resource"]) == ["dsp", "lut"]  # 20k LUT MACs: 2.2M LUTs
    luts = df[(df["compute.dsps"] == 4096) & (df["compute.lut_macs"] == 20000)].iloc[0]
    assert luts["util_lut"] > df[(df["compute.dsps"] == 4096) & (df["compute.lut_macs"] == 0)].iloc[0]["util_lut"]


def test_clock_derates_above_the_knee():
    ops = gemm_ops([("g", 1, 64, 64)])
    low = evaluate(
        load_arch(
            "u280",
            {"compute.dsps": 4512, "memory.uram_buffer.capacity": "4 MiB", "memory.bram_buffer.capacity": "1 MiB"},
        ),
        ops,
        INT8,
    ).totals
    assert low["clock_hz"] == 300e6  # 50% DSPs: below the 0.7 knee
    high = evaluate(U280, ops, INT8).totals  # DSPs and URAM full: 1 - 1.0*(1 - 0.7)
    assert high["clock_hz"] == pytest.approx(0.7 * 300e6)


def test_a_derate_that_would_stop_the_clock_is_refused():
    """Fuzzing (issue 15) found derate_slope 1e20 giving a negative clock and negative seconds with exit 0."""
    arch = load_arch("flightllm-u280")
    for slope, knee in ((1e20, 0.7), (10.0, 0.0)):
        with pytest.raises(HwsimError, match="derate_slope"):
            load_arch("flightllm-u280", {"compute.derate_slope": slope, "compute.derate_knee": knee})
    with pytest.raises(HwsimError, match="derate_knee"):
        load_arch("flightllm-u280", {"compute.derate_knee": 1.5})
    assert arch.compute["derate_slope"] == 0


def test_float_modes_error_lut_convert():
    ops = gemm_ops([("g", 4, 256, 256)])
    fp6 = Precision(weights="fp6_e2m3", activations="fp6_e2m3", kv="int8")
    with pytest.raises(HwsimError, match="float_mode") as e:
        evaluate(load_arch("u280", {"compute.float_mode": "error"}), ops, fp6)
    assert e.value.field == "compute.float_mode" and "u280.yaml" in str(e.value)
    with pytest.raises(HwsimError, match="LUT lanes"):
        evaluate(load_arch("u280", {"compute.float_mode": "lut"}), ops, fp6)
    lut = evaluate(load_arch("u280", {"compute.float_mode": "lut", "compute.lut_macs": 8192}), ops, fp6)
    conv = evaluate(U280, ops, fp6)  # convert: 7-bit fixed images, 2 per DSP, converters in LUTs
    assert lut.ops.iloc[0]["compute_cycles"] == math.ceil(4 * 256 / 1024) * 32
    assert conv.totals["util_lut"] > evaluate(U280, ops, INT8).totals["util_lut"]


def test_default_fp16_runs_with_explicit_conversion_cost():
    t = evaluate(U280, gemm_ops([("g", 1, 4096, 4096)])).totals  # fp16 → 42-bit fixed point
    assert not t["feasible"] and t["limiting_resource"] == "lut"


def test_energy_parts_and_area():
    t = evaluate(load_arch("flightllm-u280"), gemm_ops([("g", 1, 4096, 4096)]), INT8).totals
    assert t["energy_compute_j"] > 0 and t["energy_hbm_j"] > 0 and t["energy_static_j"] > 0
    assert math.isnan(t["area_mm2"])  # no sourced die area: utilisation columns instead
    a = evaluate(load_arch("u280", {"compute.die_area": "100 mm2"}), gemm_ops([("g", 1, 64, 64)]), INT8).totals
    assert a["area_mm2"] == pytest.approx(100.0)  # DSPs fully used


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 2048),
    st.integers(1, 4096),
    st.integers(1, 4096),
    st.sampled_from(["u280", "v80", "flightllm-u280"]),
    st.sampled_from(["int4_g128", "int8", "fp6_e2m3"]),
)
def test_never_faster_than_roofline(m, n, k, name, w):
    arch = load_arch(name)
    prec = Precision(weights=w, activations="int8", kv="int8")
    t = evaluate(arch, gemm_ops([("g", m, n, k)]), prec).totals
    run, rp = get_family(arch.family).configure(arch, prec.resolve())
    peak = float(get_family(arch.family).peak_macs_per_cycle(run, rp)) * run.clock_hz
    bw = run.backing.bandwidth * run.backing.efficiency
    a_bytes = 0 if arch.compute["activations_on_chip"] else m * k  # always-on-chip decode keeps A
    hbm = a_bytes + math.ceil(n * k * rp.weights.bits / 8) + m * n
    assert t["seconds"] >= max(m * n * k / peak, hbm / bw) * (1 - 1e-9)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 512),
    st.integers(1, 4096),
    st.integers(1, 4096),
    st.integers(8, 4000),
    st.integers(1, 3),
    st.integers(1, 3),
)
def test_more_resources_never_slower(m, n, k, dsps, grow, grow_bw):
    ops = gemm_ops([("g", m, n, k)])
    base = {"compute.derate_slope": 0.0}  # a fixed clock: the resources alone
    small = load_arch("u280", {**base, "compute.dsps": dsps})
    big = load_arch("u280", {**base, "compute.dsps": dsps * grow, "memory.hbm.bandwidth": f"{460 * grow_bw} GB/s"})
    assert evaluate(big, ops, INT8).totals["seconds"] <= evaluate(small, ops, INT8).totals["seconds"]
    # a bigger device (same design) never lowers the derated clock
    dev = load_arch(
        "u280", {"compute.dsps": dsps, "compute.device_dsps": 9024 * grow, "compute.device_luts": 1304000 * grow}
    )
    assert (
        evaluate(dev, ops, INT8).totals["seconds"]
        <= evaluate(load_arch("u280", {"compute.dsps": dsps}), ops, INT8).totals["seconds"]
    )


WORKLOADS = sorted(
    p.stem
    for p in (
        __import__("hwsim.paths", fromlist=["x"]).resolve_preset("llama-2-7b", "workloads", what="model").parent
    ).glob("*.yaml")
)


@pytest.mark.parametrize("phase", ["prefill", "decode"])
def test_flightllm_runs_every_workload_preset(phase):
    arch = load_arch("flightllm-u280")
    for name in WORKLOADS:
        kw = {"seq": 16} if phase == "prefill" else {"context": 64}
        t = evaluate(
            arch, trace(load_model(name), phase, **kw), Precision(weights="int4_g128", activations="int8", kv="int8")
        ).totals
        assert t["seconds"] > 0 and t["energy_j"] > 0 and t["feasible"] in (True, False), name


def test_cli_bad_format_is_one_line_exit_2():
    import subprocess
    import sys

    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "hwsim",
            "simulate",
            "--arch",
            "u280",
            "--gemm",
            "1,64,64",
            "--phase",
            "prefill",
            "--weights",
            "fp8_e4m3",
            "--set",
            "compute.float_mode=error",
            "--json",
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "compute.float_mode" in r.stderr and "Traceback" not in r.stderr


GEN = ["generate", "--arch", "u280", "--model", "gpt-2", "--prompt", "16", "--output", "2"]
GEN += ["--weights", "int4_g128", "--activations", "int8"]


@pytest.mark.parametrize("dsps, fits", [(4512, True), (9024, False)])
def test_generate_warns_when_the_fpga_design_does_not_fit_its_device(capsys, dsps, fits):
    """hwsim generate printed TTFT/TPOT for an FPGA design its own resource model rejects (u280 with every DSP
    in chains: their accumulators take 115% of the LUTs), with no word; now one warning names the limiting
    resource as hwsim simulate reports it. Half the DSPs fit: no warning."""
    from hwsim.cli import main

    arch = load_arch("u280", {"compute.dsps": dsps})
    prec = Precision(weights="int4_g128", activations="int8")
    totals = evaluate(arch, trace(load_model("gpt-2"), "decode", batch=1, context=1), prec).totals
    assert bool(totals["feasible"]) is fits
    assert main([*GEN, "--set", f"compute.dsps={dsps}"]) == 0
    out, err = capsys.readouterr()
    assert "TPOT" in out  # the figures are still printed
    if fits:
        assert err == ""
    else:
        lim = totals["limiting_resource"]
        used = f"{float(totals[f'util_{lim}']):.1%}"
        assert lim == "lut" and err == (
            f"hwsim generate: warning: u280 does not fit its device (limiting resource: lut, {used} used): the "
            "figures are for a design that cannot be built (hwsim simulate shows its use)\n"
        )


def test_why_not_buildable_costs_every_pipeline_stage():
    """A Gemma-4 E2B shape scaled down (tests/data/hf_configs/gemma-4-e2b-it.json, hidden 512, intermediate 768,
    vocabularies 8,192; 35 layers, the last 15 sharing KV with double-wide MLPs, use_double_wide_mlp; 15, not the
    checkpoint's 20, so that the layers they read, 18 and 19, sit on their stage as pp requires:
    hwsim.serve.shard.check_kv_sharing) on flightllm-vhk158 with weights on chip (24 MiB) at pp 2: stage 0 (layers
    0-17) holds the most parameters and bytes (the per-layer table: 120.6 M vs 57.7 M parameters) but the fewest
    linear weights, which fill 92.0% of the store; stage 1's wide layers fill 122.6%. Before, only stage 0 was
    costed and the design passed."""
    import json

    from hwsim.serve.shard import Parallel, stage_params
    from hwsim.serve.sizing import why_not_buildable
    from hwsim.workload import from_hf_dict

    cfg = json.loads(open("tests/data/hf_configs/gemma-4-e2b-it.json").read())
    cfg["text_config"].update(
        hidden_size=512,
        intermediate_size=768,
        vocab_size=8192,
        vocab_size_per_layer_input=8192,
        head_dim=64,
        global_head_dim=128,
        num_kv_shared_layers=15,
    )
    with pytest.warns(Warning):
        model = from_hf_dict(cfg)
    assert stage_params(model, (0, 18), 2) > 2 * stage_params(model, (18, 35), 2)
    arch = load_arch("flightllm-vhk158", {"compute.weights_on_chip": True})
    prec = Precision(weights="int4_g128", activations="int8")
    assert why_not_buildable(arch, model, prec, Parallel(pp=2)) == (
        "flightllm-vhk158 does not fit its device (limiting resource: weights, 122.6% used)"
    )
    wide = load_arch(
        "flightllm-vhk158", {"compute.weights_on_chip": True, "memory.uram_buffer.capacity": "32 MiB"}
    )  # 24 × 1.226 = 29.4 MiB of weights
    assert why_not_buildable(wide, model, prec, Parallel(pp=2)) is None
