"""hwsim `serve` against TensorRT-LLM's published offline throughput (tests/data/serving/README.md).

Each row of tests/data/serving/trtllm_perf_overview.csv is replayed as trtllm-bench ran it: every request
at t = 0 with the row's fixed prompt and output lengths, the ModelOpt FP8 checkpoint's formats (fp8 e4m3
weights and activations, fp8 KV cache, lm_head and embeddings in bf16), the KV cache sized from 95% of
the memory left after the weights, the KV blocks of a request's whole life reserved at admission
(GUARANTEED_NO_EVICT), and trtllm-bench's own rule for the batch size and token budget. Four columns of
hwsim: the GPU preset as fitted on eagerly timed kernels (what `--eager-kernels` gives); without the per-GEMM fp8
fixed time but with the eager launch overhead (the serving default before 2026-12-06's graph launch time); the
serving commands' default (hwsim.serve.graphs: no fp8 fixed time, each kernel the presets' 1.3 us
graph_launch_overhead); and with no per-kernel fixed time at all (bounded). Each column sets its overrides on the
library's `serve` (which takes the arch as given), so the columns do not follow the commands' default.

    python benchmarks/trtllm_throughput.py            # every row (~1 h on the 2-core sandbox; --model splits it)
    python benchmarks/trtllm_throughput.py --rows 8   # the first 8 rows
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from dataclasses import replace
from pathlib import Path

TABLE = Path(__file__).resolve().parents[1] / "tests" / "data" / "serving" / "trtllm_perf_overview.csv"

# the ModelOpt FP8 checkpoint's quantization (ModelOpt's unified HF export: quant_algo FP8,
# kv_cache_quant_algo FP8, exclude_modules [lm_head]); torch_dtype bfloat16 for what it leaves alone
MODELOPT_FP8 = {
    "torch_dtype": "bfloat16",
    "quantization_config": {
        "quant_method": "modelopt",
        "quant_algo": "FP8",
        "kv_cache_quant_algo": "FP8",
        "exclude_modules": ["lm_head"],
    },
}
KV_FRACTION = 0.95  # perf-overview: --kv_cache_free_gpu_mem_fraction 0.95 "in many cases"

# hwsim settings compared: name → arch overrides, each explicit (run_row's load_arch: the preset as fitted)
SETTINGS = {
    "preset": {},  # --eager-kernels
    # the eager launch overhead kept (the serving default before the graph-replay launch time, 2026-12-06)
    "no fp8 fixed time": {"compute.overhead_8bit": "0 s"},
    # the serving commands' default (hwsim.serve.graphs.graph_replay): the presets' graph_launch_overhead
    "graph replay": {"compute.overhead_8bit": "0 s", "compute.launch_overhead": "1.3 us"},
    "no fixed time": {"compute.overhead_8bit": "0 s", "compute.launch_overhead": "0 s"},
}


def read_table(path: Path = TABLE) -> list[dict]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for k in ("tp", "isl", "osl", "num_requests"):
            r[k] = int(r[k])
        r["out_tok_s"] = float(r["out_tok_s"])
    return rows


def _round_up(x: float, step: int) -> int:
    return step * math.ceil(x / step)


def bench_limits(
    device_gib: float, params: int, kv_elems_per_token: int, isl: int, osl: int, tp: int
) -> tuple[int, int]:
    """(max_batch_size, max_num_tokens) as trtllm-bench derives them for a dataset of fixed lengths
    (tensorrt_llm/bench/build/tuning.py, calc_engine_setting and finetune_setting, pp = 1): the requests
    whose whole sequence fits the KV memory left beside fp8 weights (1 byte a parameter, 1 byte a KV
    element), rounded up "optimistically"; tokens = that batch × (1 + isl / osl), rounded up. Sizes in
    GiB, as it reads the device's memory from NVML. (Its rule of at least one KV head per device does
    not bind here: every model in the table has 8 KV heads and tp <= 8.)"""
    per_token = kv_elems_per_token / 2**30
    kv_gib = (device_gib * tp - params / 2**30) * KV_FRACTION
    seqs = min(kv_gib / (per_token * (isl + osl)), 4096)
    tokens = min(seqs * (1 + isl / osl), 32768)
    # rounded up "optimistically": to 32s (at least 64) below 256 requests, 128s below 1,024, else 256s;
    # tokens to 256s (at least 2,048) below 4,096, 512s below 8,192, else 1,024s
    batch = max(64, _round_up(seqs, 32)) if seqs < 256 else _round_up(seqs, 128 if seqs < 1024 else 256)
    budget = max(2048, _round_up(tokens, 256)) if tokens < 4096 else _round_up(tokens, 512 if tokens < 8192 else 1024)
    return batch, budget


def run_row(row: dict, overrides: dict, num_requests: int | None = None) -> dict:
    """hwsim's replay of one published row: its summary (throughput_out_tokens_per_s, ...)."""
    from hwsim.arch import load_arch
    from hwsim.core.precision import Precision
    from hwsim.serve.links import link_for
    from hwsim.serve.replay import serve
    from hwsim.serve.requests import poisson_requests
    from hwsim.serve.scheduler import SchedulerConfig
    from hwsim.serve.shard import Parallel
    from hwsim.workload import load_model
    from hwsim.workload.kv import token_elems
    from hwsim.workload.quant import kv_cache_format, weight_formats

    arch = load_arch(row["arch"], overrides)
    formats = weight_formats(MODELOPT_FP8)
    model = replace(
        load_model(row["model"]),
        weight_formats=formats,
        default_weight_format=formats.default,
        kv_format=kv_cache_format(MODELOPT_FP8),  # fp8_e4m3
    )
    device_gib = float(arch.backing.capacity) / 2**30
    batch, budget = bench_limits(device_gib, model.params, token_elems(model.blocks), row["isl"], row["osl"], row["tp"])
    n = num_requests or row["num_requests"]
    reqs = poisson_requests(math.inf, n, str(row["isl"]), str(row["osl"]), seed=0)
    config = SchedulerConfig(max_num_seqs=batch, max_batched_tokens=budget, kv_admission="reserve")
    prec = Precision(weights=None, activations="fp8_e4m3", kv=None)  # weights and KV cache: the checkpoint's own
    link = link_for(arch, None) if row["tp"] > 1 else None  # the preset's own (DGX: NVLink 4)
    res = serve(
        arch, model, reqs, prec, config, memory_utilization=KV_FRACTION, parallel=Parallel(tp=row["tp"]), link=link
    )
    return {**res.summary, "max_num_seqs": batch, "max_batched_tokens": budget}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, help="only the first N rows")
    ap.add_argument("--model", help="only the rows of this hwsim model")
    args = ap.parse_args()
    rows = [r for r in read_table() if args.model in (None, r["model"])][: args.rows]
    print("| model | GPU | TP | ISL/OSL | batch / tokens | published | " + " | ".join(SETTINGS) + " |")
    print("|---|---|---|---|---|---|" + "---|" * len(SETTINGS))
    errors: dict[str, list[float]] = {s: [] for s in SETTINGS}
    t0 = time.perf_counter()
    for row in rows:
        cells = []
        for name, overrides in SETTINGS.items():
            got = run_row(row, overrides)
            err = got["throughput_out_tokens_per_s"] / row["out_tok_s"] - 1
            errors[name].append(err)
            cells.append(f"{got['throughput_out_tokens_per_s']:,.0f} ({err:+.0%})")
        print(
            f"| {row['published_model']} | {row['gpu']} | {row['tp']} | {row['isl']}/{row['osl']} | "
            f"{got['max_num_seqs']} / {got['max_batched_tokens']} | {row['out_tok_s']:,.0f} | "
            + " | ".join(cells)
            + " |",
            flush=True,
        )
    for name, errs in errors.items():
        med = sorted(abs(e) for e in errs)[len(errs) // 2]
        print(f"{name}: median |error| {med:.1%}, range {min(errs):+.1%} … {max(errs):+.1%} over {len(errs)} rows")
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
