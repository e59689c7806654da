"""The serving evaluator of a study: every design point replays its serving workload's request stream
(hwsim.serve.replay.serve) and becomes one row of TTFT/TPOT/E2E percentiles, throughput, energy per
output token and devices. Points are replayed one by one (each design point is a different machine);
the model, the stream and the arch file are loaded once per process.

A design point that cannot serve the stream (the model, or the `kv_blocks` given, does not fit its devices'
memory; a request larger than its KV cache) is a row with NaN metrics, `feasible` false and the reason in
`serve_error`; anything wrong with the study itself stops the sweep with the file and key, before any point
runs where it can be told from the study file (hwsim.study.checks: a design that cannot hold a serving entry in
any combination it lists). A design its family reports infeasible (an FPGA design that overflows its device)
keeps its replay's metrics, `feasible` false and the reason in `serve_error`, as step rows keep theirs.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hwsim.errors import HwsimError
from hwsim.study.schema import Design, PrecisionChoice
from hwsim.study.serving import ServingWorkload
from hwsim.sweep.evaluate import _arch, engine_grid

if TYPE_CHECKING:  # the serving replay is imported when a point is served
    from hwsim.core.spec import Accelerator
    from hwsim.serve.requests import Requests
    from hwsim.serve.shard import Parallel
    from hwsim.workload.config import ModelConfig

STATS = {"mean": "mean", "p50": "median", "p90": "p90", "p99": "p99"}
LATENCIES = ("ttft", "tpot", "e2e")


@lru_cache(maxsize=16)
def _model(name: str) -> ModelConfig:
    from hwsim.workload import load_model

    return load_model(name)


@lru_cache(maxsize=16)
def _stream(w: ServingWorkload) -> Requests:
    return w.stream()


def metric_row(summary: dict, arch: Accelerator, area_mm2: float) -> dict:
    """A replay's summary as the columns of one results row (seconds, joules, tokens/s; per output token)."""
    row: dict[str, object] = {"family": arch.family, "devices": summary["devices"]}
    for lat in LATENCIES:
        for col, key in STATS.items():
            v = summary[f"{lat}_s"][key]
            row[f"{lat}_{col}_s"] = math.nan if v is None else v
    energy, out_tps = summary["energy_j"], summary["throughput_out_tokens_per_s"]
    hit = summary.get("prefix_cache_hit_rate")  # None with prefix caching off
    price = math.nan if arch.price_usd is None else float(arch.price_usd)
    row.update(
        {
            "tokens_per_s": out_tps,
            "input_tokens_per_s": summary["throughput_in_tokens_per_s"],
            "requests_per_s": summary["requests_per_s"],
            "duration_s": summary["duration_s"],
            "energy_j": energy,
            "energy_per_token_j": summary["energy_per_output_token_j"],
            "tokens_per_joule": 1.0 / summary["energy_per_output_token_j"],
            "power_w": energy / summary["duration_s"],
            "iterations": summary["iterations"],
            "preemptions": summary["preemptions"],
            "prefix_cache_hit_rate": math.nan if hit is None else hit,
            "kv_capacity_blocks": summary["kv_capacity_blocks"],
            "kv_peak_fraction": summary["kv_peak_fraction"],
            "area_mm2": area_mm2,
            "total_area_mm2": area_mm2 * summary["devices"],
            "price_usd": price,
            "tokens_per_s_per_usd": out_tps / (price * summary["devices"]),
            "feasible": True,
            "serve_error": "",
        }
    )
    return row


COLUMNS = (
    "family",
    "devices",
    *(f"{lat}_{col}_s" for lat in LATENCIES for col in STATS),
    "tokens_per_s",
    "input_tokens_per_s",
    "requests_per_s",
    "duration_s",
    "energy_j",
    "energy_per_token_j",
    "tokens_per_joule",
    "power_w",
    "iterations",
    "preemptions",
    "prefix_cache_hit_rate",
    "kv_capacity_blocks",
    "kv_peak_fraction",
    "area_mm2",
    "total_area_mm2",
    "price_usd",
    "tokens_per_s_per_usd",
    "feasible",
    "serve_error",
)


def serve_point(arch: Accelerator, w: ServingWorkload, precision: PrecisionChoice) -> dict:
    """One design point's row: the replay of `w` on `arch` (see the module doc for infeasible points)."""
    from dataclasses import replace

    from hwsim.engine import Precision
    from hwsim.engine.machine import configure
    from hwsim.serve.links import link_for
    from hwsim.serve.replay import serve
    from hwsim.serve.scheduler import SchedulerConfig
    from hwsim.serve.shard import Parallel
    from hwsim.serve.sizing import why_not_buildable, why_not_serves

    main = Precision(weights=precision.weights, activations=precision.activations, kv=precision.kv)
    prec = replace(main, weights=None) if precision.per_op else main  # per_op: each op at the checkpoint's own
    par = Parallel(tp=w.tp, pp=w.pp, ep=w.ep)
    link = link_for(arch, w.link) if par.devices > 1 or w.link is not None else None
    if w.kv_blocks is None and not math.isfinite(float(np.asarray(arch.backing.capacity))):
        raise HwsimError(
            f"{arch.name}'s {arch.backing.name} has no capacity to size the KV cache from: give the "
            "serving workload kv_blocks (or the design a memory capacity)",
            field="workloads.kv_blocks",
        )
    m = configure(arch, main)  # the design's area at this precision (its main format), with no trace to cost
    area = float(np.asarray(m.area_mm2).reshape(-1)[0])
    config = SchedulerConfig(
        max_num_seqs=w.max_num_seqs,
        max_batched_tokens=w.max_batched_tokens,
        block_size=w.block_size,
        chunked_prefill=w.chunked_prefill,
        prefix_caching=w.prefix_caching,
        kv_admission=w.kv_admission,
        sliding_kv=w.sliding_kv,
    )
    why = why_not_serves(
        arch,
        _model(w.model),
        prec,
        par,
        block_size=w.block_size,
        max_batched_tokens=w.max_batched_tokens,
        kv_blocks=w.kv_blocks,
        memory_utilization=w.memory_utilization,
        max_seqs=w.max_num_seqs,
    )
    if why is not None:  # its devices cannot hold the model (and its cache): an infeasible row
        return _infeasible(arch, w, par, area, why)
    try:
        res = serve(
            arch,
            _model(w.model),
            _stream(w),
            prec,
            config,
            kv_blocks=w.kv_blocks,
            memory_utilization=w.memory_utilization,
            parallel=par,
            link=link,
            dp=w.dp,
            dp_routing=w.dp_routing,
        )
    except HwsimError as exc:  # this machine cannot serve the stream: an infeasible row, not a failed study
        return _infeasible(arch, w, par, area, exc.detail)
    row = metric_row(res.summary, arch, area)
    unbuilt = why_not_buildable(arch, _model(w.model), prec, par)
    if unbuilt is not None:  # the family's own verdict (an FPGA design over its device), as step rows carry it
        row.update(feasible=False, serve_error=unbuilt)
    return row


def _infeasible(arch: Accelerator, w: ServingWorkload, par: Parallel, area: float, why: str) -> dict:
    """The row of a point that cannot serve the stream: devices and area, NaN metrics, the reason."""
    return {
        "family": arch.family,
        "devices": w.dp * par.devices,
        "area_mm2": area,
        "total_area_mm2": area * w.dp * par.devices,
        "feasible": False,
        "serve_error": why,
    }


def serving_evaluator(
    design: Design, points: dict, workload: ServingWorkload, precision: PrecisionChoice
) -> pd.DataFrame:
    """One row per design point of the chunk (in order), the metrics of its replay."""
    from hwsim.engine.sweep import arch_at

    from hwsim.serve.graphs import graph_replay

    base = _arch(design.preset, design.overrides)
    given = {k for k, _ in design.overrides} | {p.path for p in design.params}

    def machine(arch: Accelerator) -> Accelerator:
        # CUDA-graph replay, at each point: a value the study sets (fixed or swept) is kept, and a swept graph
        # value (compute.graph_launch_overhead) is the one its point replays with
        return arch if workload.eager_kernels else graph_replay(arch, given)

    grid = engine_grid(design, points)
    n = len(next(iter(points.values()))) if points else 1
    rows = [
        serve_point(machine(arch_at(base, {k: v[i] for k, v in grid.items()}) if grid else base), workload, precision)
        for i in range(n)
    ]
    df = pd.DataFrame(rows, columns=COLUMNS)  # one order and one dtype per column, feasible or not
    for c in COLUMNS:
        if c not in ("family", "devices", "feasible", "serve_error"):
            df[c] = df[c].astype(np.float64)
    return df.astype({"devices": np.int64, "feasible": bool})
