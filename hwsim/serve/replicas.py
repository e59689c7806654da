"""Data parallelism: `dp` identical replicas, each a whole tp × pp server with its own KV cache and
batches, each serving a share of the request stream.

Routing rule: round robin in arrival order — request i goes to replica i mod dp — as a load balancer
that does not look at the replicas' state (e.g. a DNS or L4 round-robin balancer in front of several
vLLM servers). Replicas share nothing, so each share is replayed on its own; the merged replay keeps the
stream's request order and all replicas' iterations (with a `replica` column), and the summary counts
every replica's devices (devices = dp × tp × pp).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike

from hwsim.errors import HwsimError
from hwsim.serve.requests import Requests
from hwsim.serve.scheduler import Replay, fullest_pool


def round_robin(requests: Requests, dp: int) -> list[Requests]:
    """Replica r's share: requests r, r + dp, r + 2·dp, ... (arrivals stay in order within a share)."""
    if isinstance(dp, bool) or not isinstance(dp, (int, np.integer)) or dp < 1:
        raise HwsimError(f"must be a positive integer, got {dp!r}", field="dp")
    if dp > len(requests):
        raise HwsimError(f"{dp} replicas for {len(requests)} requests: some replicas would get none", field="dp")
    return [requests.take(slice(r, None, dp)) for r in range(dp)]


def merge(requests: Requests, replays: list[Replay | None], idx: list[np.ndarray] | None = None) -> Replay:
    """One Replay of the whole stream from the replicas' replays of the shares `idx` (each replica's request
    indices; None: round_robin's shares, in order). A replay of None is a replica given no request (it runs no
    iteration: hwsim.serve.routing's cache-aware shares may leave one empty)."""
    n = len(requests)
    if idx is None:
        idx = [np.arange(r, n, len(replays)) for r in range(len(replays))]
    ran = [(r, rep) for r, rep in enumerate(replays) if rep is not None]

    def gather(name: str, dtype: DTypeLike) -> np.ndarray:
        out = np.empty(n, dtype=dtype)
        for r, rep in ran:
            out[idx[r]] = getattr(rep, name)
        return out

    # one pool for every replica (the same machine's): under --pp the fullest stage over all of them, not each
    # replica's own (which could differ: a peak of one stage read against another's capacity)
    caps = ran[0][1].kv_stage_capacity_blocks
    assert all(rep.kv_stage_capacity_blocks == caps for _, rep in ran), "replicas of one machine, one set of pools"
    peaks = np.max([rep.kv_stage_peak_blocks for _, rep in ran], axis=0)
    stage = fullest_pool(peaks, caps)
    cols = list(ran[0][1].iterations)
    its = {c: [v for _, rep in ran for v in rep.iterations[c]] for c in cols}
    its["replica"] = [r for r, rep in ran for _ in rep.iterations[cols[0]]]
    used = np.concatenate([rep.kv_used_by_stage for _, rep in ran])
    its["kv_blocks_used"] = used[:, stage].tolist()
    order = np.argsort(np.asarray(its["start_s"], dtype=np.float64), kind="stable")  # one timeline, by start
    its = {c: [v[i] for i in order] for c, v in its.items()}
    return Replay(
        requests=requests,
        first_token=gather("first_token", np.float64),
        finish=gather("finish", np.float64),
        preemptions_per_request=gather("preemptions_per_request", np.int64),
        generated=gather("generated", np.int64),
        iterations=its,
        kv_capacity_blocks=int(caps[stage]),
        kv_peak_blocks=int(peaks[stage]),
        preemptions=sum(rep.preemptions for _, rep in ran),
        cached_tokens=gather("cached_tokens", np.int64),
        prefix_hit_tokens=sum(rep.prefix_hit_tokens for _, rep in ran),
        prefix_query_tokens=sum(rep.prefix_query_tokens for _, rep in ran),
        kv_evicted_blocks=sum(rep.kv_stage_evicted_blocks[stage] for _, rep in ran),
        kv_stage=stage,
        kv_stage_capacity_blocks=caps,
        kv_stage_peak_blocks=tuple(int(p) for p in peaks),
        kv_stage_evicted_blocks=tuple(
            int(sum(rep.kv_stage_evicted_blocks[s] for _, rep in ran)) for s in range(len(caps))
        ),
        kv_used_by_stage=used[order],
    )
