"""Serving commands cost steps as CUDA-graph replays (hwsim.serve.graphs): the H100 preset's fixed time per
8/4-bit GEMM (`compute.overhead_8bit`, 26.4 us, fitted on torch._scaled_mm calls timed one eager call at a time:
hwsim/data/gpu/h100-sxm-kernels.csv, docs/gpu.md) is not charged by `generate`, `serve` or a study's serving
workloads unless `--eager-kernels` / `eager_kernels: true`. Before, an fp8 checkpoint decoded slower than its
bf16 original on an H100 (Llama-3.1-8B shapes, batch 1), which no serving measurement shows: vLLM's and
TensorRT-LLM's fp8 decode is faster than bf16 (TensorRT-LLM perf-overview, docs/serving.md's table)."""

import json

import pytest

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
    assert _gen(capsys, *run, "--model", bf16, "--eager-kernels")["tpot_s"] == t_bf16  # no 8-bit GEMM


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
    assert graph["tpot_s"] == replay.tpot_s and graph["tpot_s"] == pytest.approx(4.417e-3, rel=1e-3)
    # a value given with --set is kept: the default only replaces the preset's eager one
    kept = _gen(capsys, "--arch", "h100-sxm", *BITNET, "--set", "compute.overhead_8bit=26.4us")
    assert kept["tpot_s"] == eager["tpot_s"]


def test_presets_without_eager_fixed_time_are_unchanged(capsys):
    for arch in ("h200-sxm", "tpu-like"):  # h200: overhead_8bit 0; a systolic family has no such field
        argv = ["--arch", arch, *BITNET]
        graph, eager = _gen(capsys, *argv), _gen(capsys, *argv, "--eager-kernels")
        assert (graph.pop("eager_kernels"), eager.pop("eager_kernels")) == (False, True)  # --json says which ran
        assert graph == eager
    assert graph_replay(load_arch("tpu-like")).compute == load_arch("tpu-like").compute


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
