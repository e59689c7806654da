"""hwsim `serve` against TensorRT-LLM's published offline throughput (NVIDIA/TensorRT-LLM perf-overview,
v1.0 edition: tests/data/serving/README.md). Validation only: nothing is fitted to these numbers.

Three rows, replayed as benchmarks/trtllm_throughput.py replays every row (trtllm-bench's batch size and token
budget, ModelOpt FP8 formats, fp8 KV, 95% of the free memory, no-evict admission) in two of the script's columns:
`graph replay`, what `serve` costs by default (CUDA-graph replay, hwsim.serve.graphs: the H100's eager-only
26.4 us per fp8 GEMM not charged, and each kernel the presets' graph_launch_overhead, 1.3 us, Hazy Research's
H100 measurement, instead of the 8.03 us launch overhead fitted on eager calls), and `no fixed time`, the bound
with every per-kernel fixed time 0. They span both GPUs, both models, tp 1 and 2, a decode-heavy and two
prefill-heavy rows. The whole table and the reasons for its gaps: docs/serving.md.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import trtllm_throughput as bench  # noqa: E402

# the default (`graph replay`) is -11%, -0% and +12% off these rows, `no fixed time` -9%, +1% and +12%
# (docs/serving.md); 15% fails a regression of a few percent on the outer rows, and the eager launch overhead
# the default charged before (-18% on the first row; the eager preset -28%). Was 25% for the default, 2026-12-06
TOLERANCE = 0.15

ROWS = [  # (hwsim model, GPU, isl, osl)
    ("llama-3.1-8b", "H100", 1000, 1000),
    ("llama-3.1-8b", "H200", 5000, 500),
    ("llama-3.1-70b", "H100", 2048, 128),  # tp 2 over NVLink 4
]


def _row(model, gpu, isl, osl):
    (row,) = [r for r in bench.read_table() if (r["model"], r["gpu"], r["isl"], r["osl"]) == (model, gpu, isl, osl)]
    return row


@pytest.mark.parametrize("model, gpu, isl, osl", ROWS)
def test_offline_throughput_within_tolerance_of_tensorrt_llm(model, gpu, isl, osl):
    row = _row(model, gpu, isl, osl)
    for setting in ("graph replay", "no fixed time"):
        got = bench.run_row(row, bench.SETTINGS[setting])
        assert got["preemptions"] == 0  # GUARANTEED_NO_EVICT never preempts
        assert got["throughput_out_tokens_per_s"] == pytest.approx(row["out_tok_s"], rel=TOLERANCE), setting


def test_bench_limits_follow_trtllm_bench_rule():
    """trtllm-bench's rule (tensorrt_llm/bench/build/tuning.py) on one H100 (79.65 GiB as NVML reports it) for
    Llama-3.1-8B at fp8 with an fp8 KV cache: 64 KiB of K/V a token (32 layers × 8 heads × 128 × 2 × 1 B) in
    0.95 × (79.65 − 7.48 GiB of weights) = 68.6 GiB hold 4,388 requests of 128 + 128 tokens, capped at 4,096
    (batch 4,096, tokens 2 × 4,096 = 8,192), and 274 of 2,048 + 2,048 (batch rounded up to 384 by 128s,
    tokens 548 raised to the 2,048 floor)."""
    gib = 81_559 / 1024
    elems = 2 * 32 * 8 * 128
    assert bench.bench_limits(gib, 8_030_261_248, elems, 128, 128, 1) == (4096, 8192)
    assert bench.bench_limits(gib, 8_030_261_248, elems, 2048, 2048, 1) == (384, 2048)


def test_graph_replay_column_is_the_serving_default():
    """The default column above is what `serve` and `generate` cost by default (hwsim.serve.graphs), and `preset`
    is what --eager-kernels costs: the script's columns are explicit overrides, not the commands' default."""
    from hwsim.arch import load_arch
    from hwsim.serve.graphs import graph_replay

    for arch in ("h100-sxm", "h200-sxm"):
        assert load_arch(arch, bench.SETTINGS["graph replay"]).compute == graph_replay(load_arch(arch)).compute
        assert load_arch(arch, bench.SETTINGS["preset"]).compute == load_arch(arch).compute
