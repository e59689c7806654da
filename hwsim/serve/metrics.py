"""Serving metrics of a replay: per-request rows, the per-iteration timeline and the summary
(vLLM's benchmark definitions: TTFT = first token − arrival, TPOT = (last − first token) / (output − 1)
over requests with more than one output token, E2E = last token − arrival)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hwsim.serve.scheduler import Replay

PERCENTILES = {"mean": None, "median": 50, "p90": 90, "p95": 95, "p99": 99}


def request_frame(r: Replay) -> pd.DataFrame:
    q = r.requests
    out = q.output_tokens
    tpot = np.where(out > 1, (r.finish - r.first_token) / np.maximum(out - 1, 1), np.nan)
    return pd.DataFrame(
        {
            "request": np.arange(len(q)),
            "arrival_s": q.arrival,
            "input_tokens": q.input_tokens,
            "output_tokens": out,
            "first_token_s": r.first_token,
            "finish_s": r.finish,
            "ttft_s": r.first_token - q.arrival,
            "tpot_s": tpot,
            "e2e_s": r.finish - q.arrival,
            "generated_tokens": r.generated,
            "preemptions": r.preemptions_per_request,
            "cached_tokens": r.cached_tokens if r.cached_tokens is not None else np.zeros(len(q), dtype=np.int64),
        }
    )


def iteration_frame(r: Replay) -> pd.DataFrame:
    df = pd.DataFrame(r.iterations)
    df.insert(0, "iteration", np.arange(len(df)))
    return df


def _stats(x: np.ndarray) -> dict:
    x = x[np.isfinite(x)]
    if not len(x):
        return {k: None for k in PERCENTILES}
    return {k: float(np.mean(x)) if p is None else float(np.percentile(x, p)) for k, p in PERCENTILES.items()}


def summary(r: Replay, *, static_power_w: float = 0.0, kv_block_bytes: float = 0.0, replicas: int = 1) -> dict:
    """The --json summary. Energy: every iteration's joules plus static power while the machine idles;
    `static_power_w` is one replica's, and each of `replicas` idles whenever it runs no iteration. `kv_block_bytes`:
    what one block of the reported pool costs one device (under --pp the fullest stage's, a tp rank's shard of its
    layers, a draft's K/V beside them; hwsim.serve.kvcache.stage_block_bytes), so kv_peak_bytes is that pool's
    peak on one device."""
    req = request_frame(r)
    it = r.iterations
    start = float(r.requests.arrival.min())
    end = float(np.nanmax(r.finish))
    span = max(end - start, 1e-30)
    busy = float(np.sum(it["seconds"]))
    energy = float(np.sum(it["energy_j"])) + static_power_w * max(replicas * span - busy, 0.0)
    out_tokens = int(r.requests.output_tokens.sum())
    return {
        "requests": len(req),
        "duration_s": span,
        "busy_s": busy,
        "iterations": len(it["seconds"]),
        "ttft_s": _stats(req["ttft_s"].to_numpy()),
        "tpot_s": _stats(req["tpot_s"].to_numpy()),
        "e2e_s": _stats(req["e2e_s"].to_numpy()),
        "throughput_in_tokens_per_s": float(r.requests.input_tokens.sum()) / span,
        "throughput_out_tokens_per_s": out_tokens / span,
        "requests_per_s": len(req) / span,
        "energy_j": energy,
        "energy_per_output_token_j": energy / out_tokens,
        "kv_capacity_blocks": r.kv_capacity_blocks,
        "kv_peak_blocks": r.kv_peak_blocks,
        "kv_peak_bytes": r.kv_peak_blocks * kv_block_bytes,
        "kv_block_bytes": kv_block_bytes,
        "kv_peak_fraction": r.kv_peak_blocks / r.kv_capacity_blocks,
        "preemptions": r.preemptions,
        "prefix_cache_hit_tokens": r.prefix_hit_tokens,
        "prefix_cache_query_tokens": r.prefix_query_tokens,
        "prefix_cache_hit_rate": r.prefix_hit_tokens / r.prefix_query_tokens if r.prefix_query_tokens else None,
        "kv_evicted_blocks": r.kv_evicted_blocks,
        "speculative_tokens_per_step": _per_verify(it),
    }


def _per_verify(it: dict) -> float | None:
    """Tokens a speculative verification yields on average (accepted drafts + 1); None without drafts."""
    verified = int(np.sum(it.get("verified", [])))
    return (int(np.sum(it["accepted"])) + verified) / verified if verified else None
