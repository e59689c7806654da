"""Figures that docs/serving.md, docs/roofline.md, docs/gpu.md, docs/engine.md and docs/allocate.md quote, recomputed
from today's code by the commands (or library calls) the pages name, so that none goes stale silently (the
project's rule: every figure a page quotes stays true; README's are in test_readme_figures.py). Each test reads
the figure out of the page: change the code and the page together. Only figures a few seconds of compute
reproduce are here; timings are not (they are dated measurements of a shared machine)."""

import contextlib
import functools
import io
import json

import numpy as np
import pytest
from doc_text import ROOT, agrees, flat, quoted, read, table_rows

from hwsim.cli import main
from hwsim.paths import preset_names

SERVING = flat(read("docs/serving.md"))
ROOFLINE = flat(read("docs/roofline.md"))
GPU_RAW = read("docs/gpu.md")
GPU = flat(GPU_RAW)
ENGINE = read("docs/engine.md")
ALLOCATE = flat(read("docs/allocate.md"))
CONFIGS = ROOT / "tests" / "data" / "hf_configs"


@functools.cache
def cli(*argv: str) -> dict:
    """`hwsim ARGV --json`, parsed (cached: several figures come from one run)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main([*argv, "--json"]) == 0, argv
    return json.loads(out.getvalue())


def check(figures, values) -> None:
    """Each quoted figure rounds to its recomputed value, as written (thousands separators, its decimals)."""
    for figure, value in zip(figures, values, strict=True):
        assert agrees(figure, value), f"the page says {figure}, the code gives {value:.6g}"


def ms(seconds: float) -> float:
    return seconds * 1e3


# --- docs/serving.md -----------------------------------------------------------------------------------------------
def test_bitnet_at_its_own_int8_activations():
    """BitNet b1.58 2B4T: simulate's decode step (context 256) at fp16 → its own int8 activations, and generate's
    TTFT / TPOT both as serving costs it (CUDA-graph replay) and with --eager-kernels."""
    sim = {"h100-sxm": quoted(SERVING, r"h100-sxm ([\d.]+) → ([\d.]+) ms a token")}
    for arch in ("lut-tensor-core", "tmac-rpi5"):
        sim[arch] = quoted(SERVING, rf"{arch} ([\d.]+) → ([\d.]+) ms")
    base = ("simulate", "--model", "bitnet-b1.58-2b4t", "--phase", "decode", "--context", "256")
    for arch, figures in sim.items():
        fp16 = cli(*base, "--arch", arch, "--activations", "fp16")["totals"]["seconds"]
        own = cli(*base, "--arch", arch)["totals"]["seconds"]
        check(figures, [ms(fp16), ms(own)])
    graph = quoted(
        SERVING,
        r"`generate` h100-sxm 1024 / 128 costs its steps as CUDA-graph replays, .*?: "
        r"TTFT ([\d.]+) → ([\d.]+) ms, TPOT ([\d.]+) → ([\d.]+) ms \(with `--eager-kernels`, which charges it: "
        r"([\d.]+) → ([\d.]+) ms, ([\d.]+) → ([\d.]+) ms\)",
    )
    gen = ("generate", "--arch", "h100-sxm", "--model", "bitnet-b1.58-2b4t", "--prompt", "1024", "--output", "128")
    fp16, own = cli(*gen, "--activations", "fp16"), cli(*gen)
    eager16, eager = cli(*gen, "--activations", "fp16", "--eager-kernels"), cli(*gen, "--eager-kernels")
    check(graph[:4], [ms(fp16["ttft_s"]), ms(own["ttft_s"]), ms(fp16["tpot_s"]), ms(own["tpot_s"])])
    check(graph[4:], [ms(eager16["ttft_s"]), ms(eager["ttft_s"]), ms(eager16["tpot_s"]), ms(eager["tpot_s"])])
    replay = quoted(
        SERVING,
        r"BitNet b1\.58 2B4T \(int8 activations\), h100-sxm, 512/128: TPOT ([\d.]+) → ([\d.]+) → ([\d.]+) ms, "
        r"TTFT ([\d.]+) → ([\d.]+) → ([\d.]+) ms",
    )
    gen = ("generate", "--arch", "h100-sxm", "--model", "bitnet-b1.58-2b4t", "--prompt", "512", "--output", "128")
    # eager; no 8-bit fixed time but the eager launch overhead (the default before the graph launch time); default
    runs = cli(*gen, "--eager-kernels"), cli(*gen, "--set", "compute.launch_overhead=8.03us"), cli(*gen)
    check(replay, [ms(r["tpot_s"]) for r in runs] + [ms(r["ttft_s"]) for r in runs])


def test_gptq_checkpoint_tpot_at_its_own_formats():
    figures = quoted(
        SERVING,
        r"Llama-2-7B-GPTQ on h100-sxm, prompt 512, output 64: TPOT ([\d.]+) ms \(([\d.]+) ms with every weight fp16, "
        r".*?; ([\d.]+) ms with every weight int4_g128\)",
    )
    gen = ("generate", "--arch", "h100-sxm", "--model", "llama-2-7b-gptq", "--prompt", "512", "--output", "64")
    tpot = [cli(*gen, *w)["tpot_s"] for w in ((), ("--weights", "fp16"), ("--weights", "int4_g128"))]
    check(figures, [ms(t) for t in tpot])


SERVE_1024 = ("serve", "--arch", "h100-sxm", "--rate", "10", "--num-requests", "200")
SERVE_1024 += ("--input-len", "1024", "--output-len", "128")


def test_ssm_models_hold_a_state_not_blocks():
    """One H100-SXM, fp16, 200 Poisson requests at 10/s, 1024 in / 128 out."""
    nemotron = quoted(
        SERVING,
        r"Nemotron-H-8B TTFT mean ([\d.]+) ms, TPOT mean ([\d.]+) ms, ([\d,]+) blocks \(Llama-3\.1-8B: "
        r"([\d.]+) ms, ([\d.]+) ms, ([\d,]+) blocks;",
    )
    codestral = quoted(SERVING, r"Mamba-Codestral-7B TTFT ([\d.]+) ms, TPOT ([\d.]+) ms")
    got = []
    for model in (str(CONFIGS / "nemotron-h-8b-base-8k.json"), "llama-3.1-8b"):
        s = cli(*SERVE_1024, "--model", model)
        got += [ms(s["ttft_s"]["mean"]), ms(s["tpot_s"]["mean"]), s["kv_capacity_blocks"]]
    check(nemotron, got)
    s = cli(*SERVE_1024, "--model", str(CONFIGS / "mamba-codestral-7b-v0.1.json"))
    check(codestral, [ms(s["ttft_s"]["mean"]), ms(s["tpot_s"]["mean"])])


def test_prefix_caching_measured():
    """Llama-3.1-8B fp16, 200 requests at 10/s, 1,024-token prompts sharing a 768-token prefix, 128 out."""
    one = quoted(
        SERVING,
        r"TTFT mean ([\d.]+) → ([\d.]+) ms \(median ([\d.]+) → ([\d.]+), p99 ([\d.]+) → ([\d.]+)\), "
        r"TPOT mean ([\d.]+) → ([\d.]+) ms .*? hit rate ([\d.]+)% \(199 × 768 of 204,800 prompt tokens\), "
        r"peak KV ([\d,]+) → ([\d,]+) blocks",
    )
    four = quoted(
        SERVING, r"`--prefix-groups 4 --prefix-fraction 0\.5`\): TTFT ([\d.]+) ms, TPOT ([\d.]+) ms, hit rate ([\d.]+)%"
    )
    shared = (*SERVE_1024, "--model", "llama-3.1-8b", "--shared-prefix", "768")
    off, on = cli(*shared, "--no-prefix-caching"), cli(*shared)
    got = [ms(s["ttft_s"][k]) for k in ("mean", "median", "p99") for s in (off, on)]
    got += [ms(off["tpot_s"]["mean"]), ms(on["tpot_s"]["mean"]), 100 * on["prefix_cache_hit_rate"]]
    check(one, got + [off["kv_peak_blocks"], on["kv_peak_blocks"]])
    s = cli(*shared, "--prefix-groups", "4", "--prefix-fraction", "0.5")
    check(four, [ms(s["ttft_s"]["mean"]), ms(s["tpot_s"]["mean"]), 100 * s["prefix_cache_hit_rate"]])


def test_sliding_window_layers_hold_their_window():
    peak = quoted(
        SERVING,
        r"gpt-oss-20b \(window 128 on every other layer\) peaks at ([\d,]+) of ([\d,]+) blocks "
        r"\(([\d,]+) with `--no-sliding-kv`\)",
    )
    on = cli(*SERVE_1024, "--model", "gpt-oss-20b")
    off = cli(*SERVE_1024, "--model", "gpt-oss-20b", "--no-sliding-kv")
    check(peak, [on["kv_peak_blocks"], on["kv_capacity_blocks"], off["kv_peak_blocks"]])


def test_decode_attention_of_a_batch_is_one_op():
    """The per-sequence rule's excess over the batch's decode trace at 1,000 cached tokens, and DeepSeek-V2-Lite's
    64-sequence iteration (batched = the batch-64 decode trace; per sequence)."""
    from hwsim.arch import load_arch
    from hwsim.engine import Precision, evaluate
    from hwsim.serve import StepCost
    from hwsim.workload import load_model, trace

    excess = quoted(
        SERVING,
        r"exceeded the batch's decode trace by ([\d.]+)% \(8 sequences\), ([\d.]+)% \(64\), ([\d.]+)% \(256\) "
        r"for DeepSeek-V2-Lite .*? and ([\d.]+)/([\d.]+)/([\d.]+)% for Llama-3-8B",
    )
    mla = quoted(SERVING, r"cost ([\d.]+) ms an iteration \(the engine on the batch-64 decode trace\); ([\d.]+) ms")
    arch, got = load_arch("h100-sxm"), {}
    for name in ("deepseek-v2-lite", "llama-3-8b"):
        model = load_model(name)
        batched, alone = StepCost(arch, model), StepCost(arch, model, batched_decode=False)
        for n in (8, 64, 256):
            new, ctx = np.ones(n, dtype=np.int64), np.full(n, 1000)
            ref = evaluate(arch, trace(model, "decode", batch=n, context=1000), Precision()).totals["seconds"]
            assert batched.iteration(new, ctx, n).seconds == pytest.approx(ref, rel=1e-9)
            got[name, n] = (alone.iteration(new, ctx, n).seconds, ref)
    check(
        excess,
        [100 * (got[m, n][0] / got[m, n][1] - 1) for m in ("deepseek-v2-lite", "llama-3-8b") for n in (8, 64, 256)],
    )
    check(mla, [ms(got["deepseek-v2-lite", 64][1]), ms(got["deepseek-v2-lite", 64][0])])


def test_mla_serving_example():
    figures = quoted(
        SERVING,
        r"`--rate 1 --num-requests 20`, seed 0\): TTFT mean ([\d.]+) ms \(p99 ([\d.]+)\), TPOT mean ([\d.]+) ms "
        r"\(p99 ([\d.]+)\); `--tp 2`: ([\d.]+) ms \(([\d.]+)\), ([\d.]+) ms \(([\d.]+)\)",
    )
    argv = ("serve", "--arch", "h100-sxm", "--model", "deepseek-v2-lite", "--rate", "1", "--num-requests", "20")
    got = []
    for s in (cli(*argv), cli(*argv, "--tp", "2")):
        got += [ms(s["ttft_s"]["mean"]), ms(s["ttft_s"]["p99"]), ms(s["tpot_s"]["mean"]), ms(s["tpot_s"]["p99"])]
    check(figures, got)


def test_dp_routing_table():
    """The serve command the page shows, round robin and cache-aware, and the same stream with 2 prompt groups."""
    argv = ("serve", "--arch", "h100-sxm", "--model", "llama-3.1-8b", "--rate", "40", "--num-requests", "300")
    argv += ("--input-len", "lognormal:1024:0.5", "--output-len", "lognormal:128:0.5", "--shared-prefix", "2048")
    argv += ("--dp", "4")
    for policy in ("round_robin", "cache_aware"):
        (row,) = table_rows(read("docs/serving.md"), policy)
        hits, ttft, tpot, joules = row[1].rstrip("%"), row[2].split(" / "), row[3], row[4]
        s = cli(*argv, "--prefix-groups", "16", "--dp-routing", policy)
        got = [100 * s["prefix_cache_hit_rate"], *(ms(s["ttft_s"][k]) for k in ("mean", "p90", "p99"))]
        check([hits, *ttft, tpot, joules], got + [ms(s["tpot_s"]["mean"]), s["energy_per_output_token_j"]])
    two = quoted(SERVING, r"the stream above with `--prefix-groups 2`: TTFT mean ([\d.]+) → ([\d.]+) ms")
    got = [
        cli(*argv, "--prefix-groups", "2", "--dp-routing", p)["ttft_s"]["mean"] for p in ("round_robin", "cache_aware")
    ]
    check(two, [ms(t) for t in got])


def test_speculative_decoding_example():
    gen = quoted(
        SERVING,
        r"prompt 512, output 128, batch 1\): TPOT ([\d.]+) ms → ([\d.]+) ms with a Llama-2-7B draft at α = 0\.8, "
        r"k = 4 \(E = ([\d.]+)\)",
    )
    argv = ("generate", "--arch", "h100-sxm", "--model", "llama-2-70b", "--tp", "4", "--prompt", "512")
    argv += ("--output", "128")
    plain, spec = cli(*argv), cli(*argv, "--draft", "llama-2-7b", "--acceptance", "0.8")
    check(gen, [ms(plain["tpot_s"]), ms(spec["tpot_s"]), spec["tokens_per_step"]])


def test_several_devices():
    """Devices needed for Llama-2-70B fp16 at TPOT ≤ 30 ms, and tensor-parallel scaling of Llama-3-8B."""
    needed = quoted(
        SERVING,
        r"tp 1 does not fit; tp 2 \(TPOT ([\d.]+) ms\) and pp 2 \(([\d.]+) ms\) miss; \*\*tp 4: TTFT ([\d.]+) ms, "
        r"TPOT ([\d.]+) ms\*\*",
    )
    argv = ("generate", "--arch", "h100-sxm", "--model", "llama-2-70b", "--prompt", "1024", "--output", "128")
    tried = {(t["tp"], t["pp"]): t for t in cli(*argv, "--devices-needed", "--tpot-slo", "0.03")["tried"]}
    assert not tried[1, 1]["fits"] and tried[4, 1]["why"] == ""
    check(
        needed,
        [ms(tried[2, 1]["tpot_s"]), ms(tried[1, 2]["tpot_s"]), ms(tried[4, 1]["ttft_s"]), ms(tried[4, 1]["tpot_s"])],
    )
    (one,) = quoted(SERVING, r"prompt 1024, output 128: a TPOT of ([\d.]+) ms, and a warning")
    check([one], [ms(cli(*argv)["tpot_s"])])
    scaling = quoted(
        SERVING,
        r"one sequence: TPOT ([\d.]+) ms \(1 device\), ([\d.]+) \(tp 2\), ([\d.]+) \(tp 4\), ([\d.]+) ms \(tp 8;",
    )
    argv = ("generate", "--arch", "h100-sxm", "--model", "llama-3-8b", "--prompt", "512", "--output", "128")
    check(scaling, [ms(cli(*argv, "--tp", tp)["tpot_s"]) for tp in ("1", "2", "4", "8")])


def test_link_energy_and_presets():
    from hwsim.serve.links import load_link

    (h100,) = quoted(SERVING, r"prompt 1024, output 128: energy per token [\d.]+ → ([\d.]+) J")
    (u280,) = quoted(SERVING, r"int4_g128 weights, int8 activations: [\d.]+ → ([\d.]+) J")
    argv = ("generate", "--model", "llama-2-70b", "--prompt", "1024", "--output", "128", "--arch", "h100-sxm")
    check([h100], [cli(*argv, "--tp", "4")["energy_per_token_j"]])
    argv = ("generate", "--arch", "u280", "--model", "llama-2-7b", "--weights", "int4_g128", "--activations", "int8")
    argv += ("--prompt", "1024", "--output", "128", "--tp", "2", "--link", "ethernet-100g")
    check([u280], [cli(*argv)["energy_per_token_j"]])
    rows = table_rows(read("docs/serving.md"), r"(nvlink|pcie|infinity|ethernet)\S*( \(.*\))?( / \S+)*")
    assert len(rows) == 6
    for cells in rows:
        names = cells[0].split(" (")[0].split(" / ")
        per = [c.split(" / ") for c in cells[1:5]]
        for i, name in enumerate(names):
            link = load_link(name)
            bandwidth, latency, topology, energy = (p[i] if len(p) > 1 else p[0] for p in per)
            check(
                [bandwidth.split()[0], latency.split()[0], energy.split()[0]],
                [link.bandwidth / 1e9, link.latency * 1e6, link.energy / 8 * 1e12],
            )
            assert topology == link.topology, name


# --- docs/roofline.md ----------------------------------------------------------------------------------------------
def test_roofline_worked_example_and_validation():
    from hwsim.engine import Precision
    from hwsim.roofline import roofline
    from hwsim.workload import load_model, trace

    model = load_model("llama-2-7b")
    decode = trace(model, "decode", context=256)
    rl = roofline(["h100-sxm"], decode, [Precision(), Precision(weights="int4_g128")])
    fp16, int4 = rl.summary.iloc[0], rl.summary.iloc[1]
    example = quoted(
        ROOFLINE,
        r"The weights read per token are ([\d,]+) B: .*? = ([\d,]+) B\. Together that is ([\d.]+) GB per token, "
        r"so the ceiling is .*? = \*\*([\d.]+) tokens/s\*\*\. The bound is ([\d.]+) \(activations included\) and the "
        r"cost model's attained rate is ([\d.]+) .*? With int4_g128 weights the ceiling is ([\d.]+) tokens/s",
    )
    got = [fp16.weight_bytes, fp16.kv_read_bytes, fp16.bytes_per_token / 1e9, fp16.tokens_per_s_ceiling]
    check(example, got + [fp16.tokens_per_s_bound, fp16.tokens_per_s_attained, int4.tokens_per_s_ceiling])
    roofs = quoted(
        ROOFLINE,
        r"linear roof ([\d.]+) Top/s fp16 \(datasheet 989\), ([\d.]+) Top/s int8 \(datasheet 1979\), HBM ([\d.]+) TB/s\. "
        r"The ridge is exactly peak/bandwidth = ([\d.]+) op/B\. Vector ridge: ([\d.]+) op/B",
    )
    h100 = rl.roofs.iloc[0]
    int8 = roofline(["h100-sxm"], decode, [Precision(weights="int8", activations="int8")]).summary.iloc[0]
    got = [h100.linear_roof_ops_per_s / 1e12, int8.linear_roof_ops_per_s / 1e12, h100.bandwidth_Bps / 1e12]
    check(roofs, got + [h100.linear_ridge_intensity, h100.elementwise_ridge_intensity])
    (vector,) = quoted(ROOFLINE, r"H100: 132 SMs × 128 lanes × 1\.83 GHz = ([\d.]+) Top/s")
    check([vector], [h100.elementwise_roof_ops_per_s / 1e12])
    ops = rl.ops[(rl.ops.precision == fp16.precision) & (rl.ops.kind == "linear")]
    count, *intensity = quoted(
        ROOFLINE, r"batch 1: all (\d+) linear ops are memory-bound, at intensity ([\d.]+)–([\d.]+) op/B"
    )
    assert len(ops) == int(count) and (ops.bound == "memory").all()
    check(intensity, [ops.intensity.min(), ops.intensity.max()])
    count, q = quoted(ROOFLINE, r"all (\d+) per-layer projections are compute-bound, with q_proj at exactly (\d+) op/B")
    prefill = roofline(["h100-sxm"], trace(model, "prefill", seq=2048), [Precision()]).ops
    layers = prefill[(prefill.kind == "linear") & (prefill.layer >= 0)]
    assert len(layers) == int(count) and (layers.bound == "compute").all()
    assert (layers[layers.op == "q_proj"].intensity == int(q)).all()
    lm_head = prefill[prefill.op == "lm_head"]
    assert (lm_head.bound == "memory").all()
    bitmod = quoted(ROOFLINE, r"BitMoD: ([\d.]+) Top/s at W3–4, ([\d.]+) at W8, ([\d.]+) at fp16")
    weights = ["int3_g128", "int4_g128", "int8", "fp16"]
    got = roofline(["bitmod"], decode, [Precision(weights=w) for w in weights]).summary.linear_roof_ops_per_s
    assert got.iloc[0] == got.iloc[1]
    check(bitmod, got.iloc[1:] / 1e12)


# --- docs/gpu.md ---------------------------------------------------------------------------------------------------
TYPES = ("int4", "fp4", "fp6", "int8", "fp8", "fp16", "bf16", "tf32")


def test_gpu_preset_table():
    """Every row of the preset table: SMs, dense fp16 TFLOPS, tensor types, memory, and the Llama-2-7B decode step
    (batch 1, context 256) at fp16, fp8 W8A8 and int4_g128 weights."""
    from hwsim.arch import load_arch
    from hwsim.engine import Precision, evaluate
    from hwsim.workload import load_model, trace

    decode = trace(load_model("llama-2-7b"), "decode", context=256)
    precisions = [Precision(), Precision(weights="fp8_e4m3", activations="fp8_e4m3"), Precision(weights="int4_g128")]
    rows = [r for r in table_rows(GPU_RAW, r"[a-z0-9-]+") if r[0] in preset_names("archs")]
    assert len(rows) == 9
    for name, sms, tflops, types, memory, steps in rows:
        arch = load_arch(name)
        c, hbm = arch.compute, arch.backing
        assert int(sms.split()[0]) == c["sms"], name
        peak = c["sms"] * c["tensor_cores_per_sm"] * c["tc_fma_fp16"] * 2 * arch.clock_hz / 1e12
        check([tflops.split()[0]], [peak])
        assert set(types.split(", ")) == {t for t in TYPES if c[f"tc_fma_{t}"]}, name
        size, bandwidth = memory.split(", ")
        nvml = [w for w in size.split("(")[-1].split() if w[0].isdigit()] if "NVML" in size else None
        check([nvml[0]] if nvml else [size.split()[0]], [hbm.capacity / 2**20] if nvml else [hbm.capacity / 1e9])
        check([bandwidth.split()[0]], [hbm.bandwidth / 1e9])
        check(steps.split(" / "), [ms(evaluate(arch, decode, p).totals["seconds"]) for p in precisions])
    fp8, fp16 = quoted(GPU, r"an fp8 decode step on the preset, ([\d.]+) ms, is slower than fp16, ([\d.]+) ms")
    h100 = [evaluate("h100-sxm", decode, p).totals["seconds"] for p in precisions[:2]]
    check([fp16, fp8], [ms(t) for t in h100])


# --- docs/engine.md ------------------------------------------------------------------------------------------------
def test_gpu_calibration_table():
    """The H100 fit's values in the preset, the held-out and train errors per kernel class, and the A100 rows."""
    import pandas as pd

    from hwsim.arch import load_arch
    from hwsim.engine import Precision, evaluate
    from hwsim.engine.calibrate import predict, read_measurements
    from hwsim.workload import load_model, trace

    text = flat(ENGINE)
    h100 = load_arch("h100-sxm")
    fit = quoted(
        text,
        r"16-bit dense ([\d.]+) / HBM ([\d.]+) / launch ([\d.]+) µs; 8-bit ([\d.]+) \+ ([\d.]+) µs \(torch\._scaled_mm\); "
        r"GEMV ([\d.]+) of the CUDA-core FMA rate \+ ([\d.]+) µs; `sm_bandwidth` ([\d.]+) B/clk",
    )
    c = h100.compute
    got = [c["compute_efficiency"], h100.backing.efficiency, c["launch_overhead"] * 1e6, c["compute_efficiency_8bit"]]
    got += [c["overhead_8bit"] * 1e6, c["gemv_efficiency"], c["gemv_overhead"] * 1e6, c["sm_bandwidth"]]
    check(fit, got)
    df = read_measurements(ROOT / "hwsim" / "data" / "gpu" / "h100-sxm-kernels.csv")
    df["err"] = (predict(h100, df) / df["seconds"] - 1).abs() * 100
    classes = {"bf16 GEMM (H100)": ("gemm", "bf16"), "fp8 e4m3 GEMM (H100)": ("gemm", "fp8_e4m3")}
    classes |= {"int4 g128 weight-only GEMV (H100)": ("gemm_wonly_gemv", "bf16")}
    classes |= {"causal prefill attention (H100": ("attn_prefill_causal", "bf16"), "1 GiB copy (H100)": ("copy", "u8")}
    for cells in table_rows(ENGINE, r"(bf16|fp8|int4|causal|1 GiB).*"):
        ((kind, dtype),) = [v for k, v in classes.items() if cells[0].startswith(k)]
        rows = df[(df.kind == kind) & (df.dtype == dtype)]
        held, train = rows[rows.split == "held-out"].err, rows[rows.split == "train"].err
        assert int(cells[1]) == len(held), cells[0]
        check([cells[2].split("%")[0]], [held.median()])
        if cells[3]:
            check([cells[3].split("%")[0]], [held.max()])
        if "/" in cells[4]:
            check([f.strip(" %") for f in cells[4].split("/")], [train.median(), train.max()])
    (a100,) = table_rows(ENGINE, r"fp16 GEMM \(A100.*")
    matmuls = pd.read_csv(ROOT / "tests" / "data" / "gpu" / "llmcompass-a100-fp16-matmul.csv").assign(
        kind="gemm", dtype="fp16"
    )
    err = (predict(load_arch("a100-sxm"), matmuls) / matmuls["seconds"] - 1).abs() * 100
    assert int(a100[1]) == len(err)
    check([a100[2].split("%")[0], a100[3].split("%")[0]], [err.median(), err.max()])
    total, kernels, launch = quoted(
        text, r"a Llama-2-7B decode step pays ~([\d.]+) ms of it on the H100 preset \((\d+) kernels × ([\d.]+) µs\)"
    )
    ops = evaluate(h100, trace(load_model("llama-2-7b"), "decode", context=256), Precision()).ops
    check([kernels, launch, total], [len(ops), c["launch_overhead"] * 1e6, len(ops) * c["launch_overhead"] * 1e3])


# --- docs/allocate.md ----------------------------------------------------------------------------------------------
def test_allocate_expert_memory_does_not_depend_on_batch():
    figures = quoted(
        ALLOCATE,
        r"Memory is ([\d,]+) B at batch 1 and ([\d,]+) B at batch 8\. The weights are the same ([\d,]+) B both times",
    )
    argv = ("allocate", "--arch", "h100-sxm", "--model", "mixtral-8x7b", "--phase", "decode", "--formats", "int4_g128")
    argv += ("--budget", "avg_bits=4.125", "--proxy", "uniform")
    one, eight = (cli(*argv, "--batch", b)["totals"]["memory_bytes"] for b in ("1", "8"))
    weights = one - (eight - one) / 7  # the KV cache grows with the batch, the weights do not
    check(figures, [one, eight, weights])


def test_allocate_on_a_decoder_checkpoint_rtn_rows():
    """The rtn rows of the tiny-checkpoint table: uniform KL, the ILP's mix measured, its additive estimate."""
    from hwsim.accuracy import llm
    from hwsim.allocate import build_problem, resolve_trace, solve
    from hwsim.allocate.tensors import minilm_layer_name
    from hwsim.formats import get_format

    data = ROOT / "tests" / "data" / "tiny_llm"
    text = data / "text.txt"
    rows = table_rows(read("docs/allocate.md"), r"llama|qwen2|qwen3")
    rtn = [r for r in rows if r[1] == "rtn"]
    assert len(rtn) == 6
    for model in ("llama", "qwen2", "qwen3"):
        tr = resolve_trace(None, "prefill", seq=32, checkpoint=data / model)
        formats = ["int3_g32", "int4_g32", "int5_g32", "int6_g32"]
        problem = build_problem(
            "bitmod", tr, formats, checkpoint=data / model, text=text, calibration=data / "calibration.txt"
        )
        for row, uniform in zip([r for r in rtn if r[0] == model], ("int4_g32", "int5_g32"), strict=True):
            sol = solve(problem, "error", {"avg_bits": get_format(uniform).bits_per_element})
            mix = {minilm_layer_name(k): v for k, v in sol.assignment().items()}
            got = [llm.evaluate(data / model, text, llm.Quant(weights=u))["kl"] for u in (uniform, mix)]
            check([row[3], row[4].strip("*"), row[5]], got + [sol.totals["error"]])
