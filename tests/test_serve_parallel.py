"""Several devices: links and collectives, model sharding, per-stage costs, parallel generate/serve,
devices needed (hwsim.serve.links / shard / parallel / sizing)."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.arch import load_arch
from hwsim.cli import main
from hwsim.core.precision import resolve_precision
from hwsim.engine import Precision
from hwsim.errors import HwsimError
from hwsim.serve import StepCost, generate
from hwsim.serve.kvcache import capacity_blocks
from hwsim.serve.links import Link, load_link
from hwsim.serve.parallel import ParallelStepCost
from hwsim.serve.replay import serve
from hwsim.serve.requests import poisson_requests
from hwsim.serve.shard import Parallel, shard_model, stage_kv_bytes_per_token, stage_params, stage_ranges
from hwsim.serve.sizing import devices_needed, why_not_fits
from hwsim.paths import preset_names
from hwsim.workload import load_model

H100 = load_arch("h100-sxm")
LLAMA = load_model("llama-3-8b")
NVLINK = load_link("nvlink4")
SINGLE = StepCost(H100, LLAMA)


# --- links and collectives ------------------------------------------------------------------------------
def test_every_link_preset_loads_with_sources():
    names = preset_names("links")
    assert {"nvlink4", "nvlink5", "pcie4-x16", "pcie5-x16", "infinity-fabric", "ethernet-100g"} <= set(names)
    for n in names:
        link = load_link(n)
        assert link.bandwidth > 0 and link.latency >= 0
        assert dict(link.sources).keys() == {"bandwidth", "latency", "energy"}


# The interconnect each shipped GPU product has (its datasheet; the preset's `link:` comment cites it).
# A new GPU preset must be added here: multi-device serving on it needs a link to be costed.
GPU_LINKS = {
    "a100-sxm": "nvlink3",  # A100 SXM4: NVLink 3, 600 GB/s per GPU
    "h100-sxm": "nvlink4",  # H100 SXM5: NVLink 4, 900 GB/s per GPU
    "h200-sxm": "nvlink4",  # H200 SXM: NVLink 4, 900 GB/s per GPU
    "b200": "nvlink5",  # HGX B200: NVLink 5, 1.8 TB/s per GPU
    "mi300x": "infinity-fabric",  # MI300X: 7 Infinity Fabric links, 896 GB/s peer to peer
    "l40s": "pcie4-x16",  # L40S: PCIe Gen4 x16, no NVLink
    "rtx-4090": "pcie4-x16",  # RTX 4090: PCIe Gen4 x16, no NVLink (and no peer-to-peer: the preset says so)
    "rtx-pro-6000": "pcie5-x16",  # RTX PRO 6000 Blackwell: PCIe Gen5 x16
    "v100s": "pcie3-x16",  # V100S PCIe: PCIe Gen3 x16
}


def test_every_gpu_preset_names_the_link_its_product_has():
    gpus = [n for n in preset_names("archs") if load_arch(n).family == "gpu"]
    assert sorted(gpus) == sorted(GPU_LINKS), "a GPU preset without an entry in GPU_LINKS (or one gone)"
    for name in gpus:
        arch = load_arch(name)
        assert arch.link == GPU_LINKS[name], name
        assert load_link(arch.link).bandwidth > 0


@pytest.mark.parametrize("gen, gts", [(3, 8e9), (4, 16e9), (5, 32e9)])
def test_pcie_link_bandwidth_is_the_spec_lane_rate(gen, gts):
    # PCIe 3.0-5.0: 128b/130b encoding; x16, one direction
    assert load_link(f"pcie{gen}-x16").bandwidth == pytest.approx(16 * gts * 128 / 130 / 8, rel=1e-3)


def test_ring_all_reduce_matches_the_textbook_formula():
    # Thakur et al. 2005: 2(n-1)·α + 2(n-1)/n · B/bw; 8 H100s, 1 GB: 2·7/8·1e9/450e9 + 14 µs
    assert NVLINK.all_reduce(1e9, 8) == pytest.approx(2 * 7 / 8 * 1e9 / 450e9 + 14e-6, rel=1e-12)
    assert NVLINK.all_gather(1e9, 8) == pytest.approx(7 / 8 * 1e9 / 450e9 + 7e-6, rel=1e-12)
    ring = Link("r", 10e9, 1e-6, "ring")
    assert ring.all_to_all(1e9, 4) == pytest.approx(3 * 1e-6 + 1.5 * 1e9 / 10e9)  # (n-1)/2 hops on a ring


@settings(max_examples=40, deadline=None)
@given(b1=st.floats(0, 1e10), b2=st.floats(0, 1e10), n=st.integers(1, 64), topo=st.sampled_from(["switch", "ring"]))
def test_collective_time_is_monotone_in_bytes_and_devices(b1, b2, n, topo):
    link = Link("x", 50e9, 2e-6, topo)
    lo, hi = sorted((b1, b2))
    for f in (link.all_reduce, link.all_gather, link.all_to_all):
        assert f(lo, n) <= f(hi, n)
        assert f(hi, n) <= f(hi, n + 1)
        assert f(hi, 1) == 0.0
    assert link.send(lo) <= link.send(hi)


def test_bad_link_file_names_the_field(tmp_path):
    bad = tmp_path / "l.yaml"
    bad.write_text("bandwidth: {value: '10 GB/s', source: x}\nlatency: 3\n")
    with pytest.raises(HwsimError, match="latency"):
        load_link(bad)
    bad.write_text("bandwidth: {value: '10 GB/s', source: x}\nlatency: {value: 1 us, source: y}\n")
    with pytest.raises(HwsimError, match="energy: missing or unsourced"):
        load_link(bad)
    bad.write_text(
        "bandwidth: {value: '10 GB/s', source: x}\nlatency: {value: 1 us, source: y}\n"
        "energy: {value: 5 pJ/bit, source: z}\ntopology: torus\n"
    )
    with pytest.raises(HwsimError, match="topology"):
        load_link(bad)


# --- sharding and memory --------------------------------------------------------------------------------
def test_tp_one_is_the_model_itself_and_sharding_splits_heads_width_vocab():
    assert shard_model(LLAMA, Parallel()) is LLAMA
    s = shard_model(LLAMA, Parallel(tp=4))
    assert (s.heads, s.kv_heads, s.intermediate, s.vocab) == (8, 2, 14336 // 4, 128256 // 4)
    s16 = shard_model(load_model("llama-2-70b"), Parallel(tp=16))  # 8 KV heads: replicated, one per device
    assert s16.kv_heads == 1 and s16.heads == 4


def test_expert_parallel_splits_the_experts():
    mix = load_model("mixtral-8x7b")
    s = shard_model(mix, Parallel(tp=2, ep=2))
    assert s.num_experts == 4 and s.experts_per_token == 1 and s.intermediate == mix.intermediate
    assert shard_model(mix, Parallel(tp=2)).intermediate == mix.intermediate // 2


@pytest.mark.parametrize(
    "par, match",
    [
        (Parallel(tp=3), "does not divide the 32 attention heads"),
        (Parallel(tp=2, ep=4), "`ep` must be 1 or `tp`"),
        (Parallel(pp=33), "exceeds the 32 layers"),
    ],
)
def test_impossible_parallelism_is_refused(par, match):
    with pytest.raises(HwsimError, match=match):
        shard_model(LLAMA, par)
        stage_ranges(LLAMA.layers, par.pp)


def _per_device(model, par, bits=16):
    shard = shard_model(model, par)
    ranges = stage_ranges(model.layers, par.pp)
    return (
        max(stage_params(shard, r, par.pp) for r in ranges),
        max(stage_kv_bytes_per_token(shard, r, bits) for r in ranges),
    )


@pytest.mark.parametrize("name", ["llama-3-8b", "llama-2-70b", "mixtral-8x7b", "gemma-2-9b"])
def test_stages_hold_the_whole_model_once(name):
    m = load_model(name)
    for pp in (1, 2, 3):
        ranges = stage_ranges(m.layers, pp)
        assert ranges[0][0] == 0 and ranges[-1][1] == m.layers
        extra = (pp > 1) * m.tie_embeddings * m.vocab * m.hidden  # a tied lm_head's copy on the last stage
        assert sum(stage_params(m, r, pp) for r in ranges) == m.params + extra


@settings(max_examples=25, deadline=None)
@given(
    tp=st.sampled_from([1, 2, 4, 8]),
    pp=st.sampled_from([1, 2, 4]),
    dtp=st.sampled_from([1, 2, 4]),
    dpp=st.sampled_from([1, 2, 4]),
    name=st.sampled_from(["llama-3-8b", "llama-2-70b", "mixtral-8x7b"]),
)
def test_more_devices_never_increase_per_device_memory(tp, pp, dtp, dpp, name):
    m = load_model(name)
    if tp * dtp > 8:
        return
    w0, kv0 = _per_device(m, Parallel(tp, pp))
    w1, kv1 = _per_device(m, Parallel(tp * dtp, pp * dpp))
    assert w1 <= w0 and kv1 <= kv0


def test_a_model_too_big_for_one_device_runs_on_several():
    big = load_model("llama-2-70b")  # 138 GB of fp16 weights: more than one H100's 80 GB
    rp = resolve_precision(Precision())
    with pytest.raises(HwsimError, match="does not fit on 1 device"):
        capacity_blocks(H100, big, rp, 16, 0.9, 8192)
    blocks, info = capacity_blocks(H100, big, rp, 16, 0.9, 8192, Parallel(tp=4))
    assert blocks > 0 and info["weights_bytes"] == pytest.approx(big.params * 2 / 4, rel=0.01)
    assert capacity_blocks(H100, big, rp, 16, 0.9, 8192, Parallel(tp=2, pp=2))[0] > 0


# --- costs ----------------------------------------------------------------------------------------------
def test_tp1_pp1_equals_the_single_device_exactly():
    one = ParallelStepCost(H100, LLAMA, None, Parallel(), None)
    a, b = generate(SINGLE, 300, 40, 3), generate(one, 300, 40, 3)
    assert a.ttft_s == b.ttft_s and np.array_equal(a.step_s, b.step_s) and np.array_equal(a.step_j, b.step_j)
    new, ctx = np.array([1, 1, 57, 1]), np.array([10, 800, 0, 33])
    emit = np.array([True, True, False, True])
    assert SINGLE.iteration(new, ctx, emit) == one.iteration(new, ctx, emit)


def test_pipeline_stages_sum_to_the_whole_model():
    """Each stage costs only its layers (+ embeddings first, lm_head last): summed over stages, the
    compute is the single device's, to rounding."""
    shard = shard_model(LLAMA, Parallel(tp=2))
    whole = StepCost(H100, shard)
    stages = [StepCost(H100, shard, stage=r) for r in stage_ranges(LLAMA.layers, 3)]
    for b, t, c in ((1, 1, 500), (4, 128, 0), (2, 7, 31)):
        got = sum(float(s.uniform(b, t, c).seconds[0]) for s in stages)
        assert got == pytest.approx(float(whole.uniform(b, t, c).seconds[0]), rel=1e-9)
    assert all(s.check_error < 1e-9 for s in stages)


def test_tensor_parallel_speeds_up_and_adds_all_reduces():
    tp2 = ParallelStepCost(H100, LLAMA, None, Parallel(tp=2), NVLINK)
    one, two = generate(SINGLE, 512, 8, 1), generate(tp2, 512, 8, 1)
    assert two.tpot_s < one.tpot_s and two.ttft_s < one.ttft_s
    # 2 all-reduces per layer + the vocab-parallel embedding's, of one token's hidden vector, + the logits gather
    hidden = LLAMA.hidden * 2
    comm = 65 * NVLINK.all_reduce(hidden, 2) + NVLINK.all_gather(LLAMA.vocab * 2, 2)
    compute = float(tp2.stages[0].uniform(1, 1, 600).seconds[0])
    assert float(tp2.uniform(1, 1, 600).seconds[0]) == pytest.approx(compute + comm, rel=1e-12)


def test_pipeline_decode_is_not_faster_but_prefill_pipelines():
    pp2 = ParallelStepCost(H100, LLAMA, None, Parallel(pp=2), NVLINK)
    send = NVLINK.send(LLAMA.hidden * 2)
    # one sequence: the stages run one after the other (the bubble), plus one activation send
    assert float(pp2.uniform(1, 1, 900).seconds[0]) == pytest.approx(
        float(SINGLE.uniform(1, 1, 900).seconds[0]) + send, rel=1e-9
    )
    # eight long prompts: two micro-batches overlap across the two stages
    assert float(pp2.uniform(8, 512, 0).seconds[0]) < float(SINGLE.uniform(8, 512, 0).seconds[0])


def test_parallel_serve_is_deterministic_and_fits_what_one_device_cannot():
    big = load_model("llama-2-70b")
    reqs = poisson_requests(4.0, 12, "uniform:50:300", "uniform:5:30", seed=3)
    with pytest.raises(HwsimError, match="does not fit"):
        serve(H100, big, reqs)
    sc = ParallelStepCost(H100, big, None, Parallel(tp=4), NVLINK)
    a = serve(H100, big, reqs, parallel=Parallel(tp=4), link=NVLINK, step_cost=sc)
    b = serve(H100, big, reqs, parallel=Parallel(tp=4), link=NVLINK, step_cost=sc)
    assert a.requests.equals(b.requests) and a.summary["devices"] == 4
    assert (a.requests["generated_tokens"] == a.requests["output_tokens"]).all()


def test_devices_needed_is_the_smallest_layout_that_fits_and_meets_the_target():
    big = load_model("llama-2-70b")
    res = devices_needed(H100, big, Precision(), NVLINK, prompt=256, output=16, tpot_s=0.05)
    ans = res["answer"]
    assert ans is not None and ans["devices"] >= 2
    smaller = [r for r in res["tried"] if r["devices"] < ans["devices"]]
    assert smaller and all(not r["fits"] or r["tpot_s"] > 0.05 for r in smaller)
    assert res["tried"][-1]["tpot_s"] <= 0.05


def test_devices_needed_refuses_a_machine_without_memory_capacity():
    """A backing store with no capacity (bitmod's DRAM) cannot answer how many devices a model needs: one error
    naming the field, where every layout used to be listed as 'weights and activations do not fit'."""
    bitmod = load_arch("bitmod")
    with pytest.raises(HwsimError, match="has no capacity") as exc:
        devices_needed(bitmod, load_model("llama-2-7b"), Precision(), NVLINK, prompt=64, output=8)
    assert exc.value.field == "memory.dram.capacity"
    with pytest.raises(HwsimError, match=r"must lie in \(0, 1\]") as exc:  # not 'does not fit' for every layout
        devices_needed(H100, load_model("llama-2-7b"), Precision(), NVLINK, prompt=64, output=8, memory_utilization=0)
    assert exc.value.field == "memory_utilization"


@pytest.mark.parametrize(
    "model, extra, fits",
    [
        ("llama-2-70b", [], False),  # 138 GB of fp16 weights on one 80 GB H100
        ("llama-2-70b", ["--tp", "2"], True),
        ("llama-3-8b", ["--batch", "512"], False),  # the KV cache of 512 sequences
        ("llama-3-8b", [], True),
    ],
)
def test_generate_says_when_the_model_does_not_fit(model, extra, fits, capsys):
    """generate costs any layout (the figures are those of devices with more memory) but says when serving
    would refuse it, as hwsim serve and --devices-needed judge it."""
    argv = ["generate", "--arch", "h100-sxm", "--model", model, "--prompt", "512", "--output", "64", *extra]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert ("does not fit" in err) is not fits and err.count("warning:") == (0 if fits else 1)


def test_generate_fit_check_beyond_the_number_size_limit(capsys):
    """A batch whose own trace counts (16,384 sequences of 2,048 tokens: 2^50 attention MACs a layer) but whose fit
    check prices all prompts as one iteration of 33,554,432 tokens (q_proj alone 1.8e16 MACs over 32 layers, past
    2^53): one line saying the number-size limit was hit, exit 2; it said 'weights and activations do not fit'."""
    argv = ["generate", "--arch", "h100-sxm", "--model", "llama-2-7b", "--prompt", "2048", "--output", "1"]
    assert main([*argv, "--batch", "16384"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "do not fit" not in err
    assert "--batch: the memory fit check prices one iteration of batch × prompt = 33,554,432 tokens" in err
    assert "number-size limit (too large to count:" in err
    with pytest.raises(HwsimError, match="number-size limit") as exc:  # --devices-needed's check alike
        why_not_fits(H100, load_model("llama-2-7b"), Precision(), Parallel(), 2048, 1, 16384)
    assert exc.value.field == "batch"
    assert why_not_fits(H100, load_model("llama-2-70b"), Precision(), Parallel(), 512, 64) == (
        "weights and activations do not fit"
    )


# --- command line ---------------------------------------------------------------------------------------
def test_cli_generate_and_serve_take_tp_pp(capsys):
    assert (
        main(
            [
                "generate",
                "--arch",
                "h100-sxm",
                "--model",
                "llama-3-8b",
                "--prompt",
                "64",
                "--output",
                "4",
                "--tp",
                "2",
                "--pp",
                "2",
                "--json",
            ]
        )
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    assert (doc["tp"], doc["pp"], doc["devices"], doc["link"]) == (2, 2, 4, "nvlink4")
    assert (
        main(
            [
                "serve",
                "--arch",
                "h100-sxm",
                "--model",
                "llama-3-8b",
                "--rate",
                "5",
                "--num-requests",
                "6",
                "--input-len",
                "64",
                "--output-len",
                "4",
                "--tp",
                "2",
                "--link",
                "pcie5-x16",
                "--json",
            ]
        )
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    assert doc["devices"] == 2 and doc["link"] == "pcie5-x16"


@pytest.mark.parametrize(
    "extra, match",
    [
        (["--tp", "3"], "--tp"),
        (["--ep", "2"], "--ep"),
        (["--tp", "2", "--link", "warp-drive"], "unknown link"),
        (["--arch", "bitmod", "--tp", "2"], "--link"),
    ],
)
def test_cli_bad_parallelism_is_one_line_exit_2(capsys, extra, match):
    arch = [] if "--arch" in extra else ["--arch", "h100-sxm"]  # one --arch (a second is refused)
    args = ["generate", *arch, "--model", "llama-3-8b", "--prompt", "8", "--output", "2"]
    assert main(args + extra) == 2
    err = capsys.readouterr().err.strip()
    assert match in err and "\n" not in err


def test_sums_travel_in_16_bits_and_only_the_expert_dispatch_at_the_activation_format():
    """A tensor-parallel all-reduce sums RowParallelLinear's bf16 output (vLLM, TensorRT-LLM quantize fp8/int8
    activations at the next GEMM's input), so an 8-bit activation format leaves the all-reduces, logits and
    stage sends as at 16 bits; an expert-parallel MoE's dispatch all-to-all carries fp8 (DeepEP, pplx-kernels),
    its combine 16 bits."""
    arch, link = load_arch("h100-sxm"), load_link("nvlink4")
    tokens, emit = np.array([64.0]), np.array([8.0])

    def comm(model, par, act):
        return ParallelStepCost(arch, load_model(model), Precision(activations=act), par, link)._comm(0, tokens, emit)

    dense = Parallel(tp=2, pp=1)
    for a, b in zip(comm("llama-2-7b", dense, "fp8_e4m3"), comm("llama-2-7b", dense, "fp16")):
        assert float(a[0]) == float(b[0])
    moe = Parallel(tp=2, ep=2)
    (t8, _), (t16, _) = comm("mixtral-8x7b", moe, "fp8_e4m3"), comm("mixtral-8x7b", moe, "fp16")
    sc = ParallelStepCost(arch, load_model("mixtral-8x7b"), Precision(activations="fp16"), moe, link)
    hidden = 64 * sc.model.hidden * sc.model.experts_per_token
    one_dispatch_half = link.seconds("all_to_all", hidden * 2, 2) - link.seconds("all_to_all", hidden * 1, 2)
    assert float(t16[0] - t8[0]) == pytest.approx(int(sc.a2a[0]) * one_dispatch_half, rel=1e-9)
