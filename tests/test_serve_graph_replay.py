"""Serving commands cost steps as CUDA-graph replays (hwsim.serve.graphs): the fixed times the GPU presets fitted
on kernels timed one eager call at a time (hwsim/data/gpu/h100-sxm-kernels.csv, docs/gpu.md) are replaced by what
a replay costs unless `--eager-kernels` / `eager_kernels: true`. The H100 preset's fixed time per 8/4-bit GEMM
(`compute.overhead_8bit`, 26.4 us, torch._scaled_mm's) is not charged: before, an fp8 checkpoint decoded slower
than its bf16 original on an H100 (Llama-3.1-8B shapes, batch 1), which no serving measurement shows (vLLM's and
TensorRT-LLM's fp8 decode is faster than bf16: TensorRT-LLM perf-overview, docs/serving.md's table). The launch
overhead per kernel (`compute.launch_overhead`, 8.03 us eager) becomes `compute.graph_launch_overhead`, 1.3 us:
Hazy Research's "Look Ma, No Bubbles!" (2025) measured that kernel launch and teardown still cost about 1.3 us a
kernel inside CUDA graphs on an H100 (hwsim/presets/archs/h100-sxm.yaml)."""

import json
from pathlib import Path

import pytest

import hwsim

from hwsim.arch import load_arch
from hwsim.cli import main
from hwsim.engine import Precision
from hwsim.serve.generate import generate
from hwsim.serve.graphs import graph_replay
from hwsim.serve.replay import serve
from hwsim.serve.scheduler import SchedulerConfig
from hwsim.serve.stepcost import StepCost
from hwsim.study import load_study
from hwsim.sweep import run_sweep
from hwsim.workload import load_model

# meta-llama/Llama-3.1-8B's shapes (workloads/llama-3.1-8b.yaml) as a ModelOpt FP8 export (lm_head excluded)
LLAMA_8B = {
    "model_type": "llama",
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "num_hidden_layers": 32,
    "vocab_size": 128256,
    "max_position_embeddings": 131072,
    "torch_dtype": "bfloat16",
}
FP8 = {
    **LLAMA_8B,
    "quantization_config": {"quant_method": "modelopt", "quant_algo": "FP8", "exclude_modules": ["lm_head"]},
}
BITNET = ["--model", "bitnet-b1.58-2b4t", "--prompt", "512", "--output", "128"]  # int8 activations


def _gen(capsys, *argv):
    assert main(["generate", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _config(tmp_path, name, cfg):
    p = tmp_path / f"{name}.json"
    p.write_text(json.dumps(cfg))
    return str(p)


def test_fp8_checkpoint_decodes_faster_than_bf16_on_h100(tmp_path, capsys):
    fp8, bf16 = _config(tmp_path, "fp8", FP8), _config(tmp_path, "bf16", LLAMA_8B)
    run = ["--arch", "h100-sxm", "--prompt", "128", "--output", "32"]
    t_fp8 = _gen(capsys, *run, "--model", fp8)["tpot_s"]
    t_bf16 = _gen(capsys, *run, "--model", bf16)["tpot_s"]
    assert t_fp8 < 0.75 * t_bf16  # half the weight bytes of a bandwidth-bound decode step
    # the eager fixed time (7 fp8 GEMMs a layer × 32 layers × 26.4 us = 5.9 ms a step) made it the slower one
    assert _gen(capsys, *run, "--model", fp8, "--eager-kernels")["tpot_s"] > t_bf16


def test_a_decode_step_pays_the_graph_launch_time_per_kernel(tmp_path, capsys):
    """bf16 has no 8-bit GEMM, so all --eager-kernels adds is the launch overhead: eager (8.03 us, the H100 fit)
    instead of a graph replay's (1.3 us), on each of a decode step's 451 kernels (Llama-3.1-8B: 14 a layer × 32
    layers — input norm, q, k, v, rope, fused attention, o, residual, norm, gate, up, act, down, residual — plus
    the embedding, the final norm and lm_head)."""
    run = ["--arch", "h100-sxm", "--prompt", "128", "--output", "32", "--model", _config(tmp_path, "b", LLAMA_8B)]
    graph, eager = _gen(capsys, *run)["tpot_s"], _gen(capsys, *run, "--eager-kernels")["tpot_s"]
    assert eager - graph == pytest.approx(451 * (8.03e-6 - 1.3e-6), rel=1e-9)
    # a value given with --set wins over the graph default; a graph value given with --set is the one charged
    kept = _gen(capsys, *run, "--set", "compute.launch_overhead=8.03us")["tpot_s"]
    assert kept == eager
    none = _gen(capsys, *run, "--set", "compute.graph_launch_overhead=0us")["tpot_s"]
    assert graph - none == pytest.approx(451 * 1.3e-6, rel=1e-9)
    assert graph_replay(load_arch("h100-sxm")).compute["launch_overhead"] == 1.3e-6
    assert load_arch("h100-sxm").compute["launch_overhead"] == 8.03e-6  # simulate, roofline, calibrate: as fitted


def test_a_gpu_without_a_graph_launch_time_keeps_its_launch_overhead(tmp_path):
    """A GPU spec that leaves graph_launch_overhead out (a user's own preset) keeps launch_overhead under a replay:
    only the eager-only 8-bit time goes."""
    preset = Path(hwsim.__file__).parent / "presets" / "archs" / "h100-sxm.yaml"
    lines = [ln for ln in preset.read_text().splitlines() if "graph_launch_overhead" not in ln]
    own = tmp_path / "own-gpu.yaml"
    own.write_text("\n".join(lines) + "\n")
    replay = graph_replay(load_arch(own)).compute
    assert (replay["launch_overhead"], replay["overhead_8bit"]) == (8.03e-6, 0.0)


def test_eager_kernels_reproduces_the_preset_as_fitted(capsys):
    eager = _gen(capsys, "--arch", "h100-sxm", *BITNET, "--eager-kernels")
    model = load_model("bitnet-b1.58-2b4t")
    direct = generate(
        StepCost(load_arch("h100-sxm"), model, Precision(weights=None, activations=None, kv=None)), 512, 128
    )
    assert eager["tpot_s"] == direct.tpot_s and eager["ttft_s"] == direct.ttft_s
    assert eager["tpot_s"] == pytest.approx(9.961e-3, rel=1e-3)  # the figure before this change (docs/serving.md)
    graph = _gen(capsys, "--arch", "h100-sxm", *BITNET)
    replay = generate(
        StepCost(graph_replay(load_arch("h100-sxm")), model, Precision(weights=None, activations=None, kv=None)),
        512,
        128,
    )
    # 1.167 ms; 4.418 ms with the eager launch overhead kept, as before the graph launch time (docs/serving.md)
    assert graph["tpot_s"] == replay.tpot_s and graph["tpot_s"] == pytest.approx(1.1675e-3, rel=1e-3)
    # a value given with --set is kept: the default only replaces the preset's eager ones
    fitted = ["--set", "compute.overhead_8bit=26.4us", "--set", "compute.launch_overhead=8.03us"]
    assert _gen(capsys, "--arch", "h100-sxm", *BITNET, *fitted)["tpot_s"] == eager["tpot_s"]
    launch_kept = _gen(capsys, "--arch", "h100-sxm", *BITNET, *fitted[2:])["tpot_s"]
    assert launch_kept == pytest.approx(4.418e-3, rel=1e-3)


def test_families_without_eager_fixed_times_are_unchanged(capsys):
    argv = ["--arch", "tpu-like", *BITNET]  # a systolic family has no launch or 8-bit fixed time
    graph, eager = _gen(capsys, *argv), _gen(capsys, *argv, "--eager-kernels")
    assert (graph.pop("eager_kernels"), eager.pop("eager_kernels")) == (False, True)  # --json says which ran
    assert graph == eager
    assert graph_replay(load_arch("tpu-like")).compute == load_arch("tpu-like").compute
    # h200-sxm has no 8-bit fixed time: a replay changes only its launch overhead
    assert (
        graph_replay(load_arch("h200-sxm")).compute
        == load_arch("h200-sxm", {"compute.launch_overhead": "1.3 us"}).compute
    )


def test_serve_takes_the_same_option(capsys):
    argv = ["serve", "--arch", "h100-sxm", *BITNET[:2], "--rate", "4", "--num-requests", "8", "--json"]
    assert main(argv) == 0
    graph = json.loads(capsys.readouterr().out)
    assert main([*argv, "--eager-kernels"]) == 0
    eager = json.loads(capsys.readouterr().out)
    assert graph["tpot_s"]["mean"] < 0.6 * eager["tpot_s"]["mean"]
    assert (graph["eager_kernels"], eager["eager_kernels"]) == (False, True)


STUDY = """
architectures:
  - preset: h100-sxm
workloads:
  - kind: serving
    model: gpt-2
    requests: {rate: 4, num_requests: 6, input_len: "uniform:16:64", output_len: "uniform:2:6", seed: 3}
    max_num_seqs: 4
    kv_blocks: 256
    eager_kernels: [false, true]
precisions:
  weights: fp8_e4m3
  activations: fp8_e4m3
objectives: [tpot_p99_s:min]
outputs: {plot: false}
"""


def test_study_serving_rows_take_eager_kernels_as_a_key(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text(STUDY)
    s = load_study(p)
    t = run_sweep(s, tmp_path / "out", progress=False).table().set_index("eager_kernels")
    model, prec = load_model("gpt-2"), Precision(weights="fp8_e4m3", activations="fp8_e4m3")
    for eager, arch in ((False, graph_replay(load_arch("h100-sxm"))), (True, load_arch("h100-sxm"))):
        w = next(w for w in s.workloads if w.eager_kernels == eager)
        direct = serve(arch, model, w.stream(), prec, SchedulerConfig(max_num_seqs=4), kv_blocks=256).summary
        assert t.loc[eager, "tpot_p99_s"] == direct["tpot_s"]["p99"]
    assert t.loc[False, "tpot_p99_s"] < t.loc[True, "tpot_p99_s"]


def test_study_eager_kernels_must_be_a_boolean(tmp_path, capsys):
    p = tmp_path / "s.yaml"
    p.write_text(STUDY.replace("[false, true]", "maybe"))
    assert main(["sweep", str(p), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{p}: workloads[0].eager_kernels" in err, err


def test_a_swept_graph_launch_time_is_the_one_each_point_replays_with(tmp_path):
    """graph_replay runs at each design point, after its swept values: a study sweeping the graph launch time gets
    it charged (it used to run on the base arch, so every point replayed with the preset's 1.3 us)."""
    p = tmp_path / "s.yaml"
    study = STUDY.replace(
        "  - preset: h100-sxm", '  - preset: h100-sxm\n    sweep: {compute.graph_launch_overhead: ["0 us", "5 us"]}'
    )
    p.write_text(study.replace("eager_kernels: [false, true]", "eager_kernels: false"))
    s = load_study(p)
    t = run_sweep(s, tmp_path / "out", progress=False).table().set_index("compute.graph_launch_overhead")
    model, prec = load_model("gpt-2"), Precision(weights="fp8_e4m3", activations="fp8_e4m3")
    got = {}
    for value in t.index:
        arch = graph_replay(load_arch("h100-sxm", {"compute.graph_launch_overhead": value}))
        direct = serve(arch, model, s.workloads[0].stream(), prec, SchedulerConfig(max_num_seqs=4), kv_blocks=256)
        got[value] = direct.summary["tpot_s"]["p99"]
        assert t.loc[value, "tpot_p99_s"] == got[value]
    assert len(set(got.values())) == 2
