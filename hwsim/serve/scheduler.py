"""An iteration-level serving scheduler, simulated event by event with simpy.

Policy (vLLM's v1 scheduler, first come first served):
- every iteration the running sequences go first, in arrival order: a sequence still in its prompt takes
  a chunk of it (chunked prefill), a decoding one takes one token; then waiting sequences are admitted
  while there are fewer than `max_num_seqs` running, tokens left of `max_batched_tokens` and free blocks;
- KV blocks of `block_size` tokens are allocated as tokens enter the cache; when a running sequence
  cannot get a block, the most recently arrived running sequence is preempted: its blocks are freed and
  it returns to the head of the queue to recompute its prompt and the tokens it has generated;
- a sequence emits a token in the iteration that brings its cache up to everything it knows (prompt and
  generated tokens); its first token is its TTFT.
The iteration's time and energy come from hwsim.serve.stepcost (any family, costed by batch shape);
mixed context lengths in one batch are each attended over their own context.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from hwsim.errors import HwsimError
from hwsim.serve.kvcache import BlockTable
from hwsim.serve.requests import Requests

if TYPE_CHECKING:  # stepcost and speculative build on the engine; the scheduler only calls them
    from hwsim.serve.speculative import Speculation
    from hwsim.serve.stepcost import Cost


@dataclass(frozen=True)
class SchedulerConfig:
    max_num_seqs: int = 256
    max_batched_tokens: int = 8192
    block_size: int = 16
    chunked_prefill: bool = True

    def validate(self) -> None:
        for name in ("max_num_seqs", "max_batched_tokens", "block_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise HwsimError(f"must be a positive integer, got {v!r}", field=name)


@dataclass
class Replay:
    """What a simulated serving run produced: per-request times and per-iteration records."""

    requests: Requests
    first_token: np.ndarray
    finish: np.ndarray
    preemptions_per_request: np.ndarray
    generated: np.ndarray  # tokens each request received
    iterations: dict = field(default_factory=dict)  # column → list
    kv_capacity_blocks: int = 0
    kv_peak_blocks: int = 0
    preemptions: int = 0


def simulate(
    requests: Requests,
    step: Callable[[np.ndarray, np.ndarray, np.ndarray], Cost],
    kv_blocks: int,
    config: SchedulerConfig = SchedulerConfig(),
    spec: Speculation | None = None,
) -> Replay:
    """Serve `requests`; `step(new, context, emits) -> Cost` prices one iteration (`emits`: which
    sequences produce a token; a StepCost's or ParallelStepCost's `iteration`). `spec`: a
    hwsim.serve.speculative.Speculation — a decoding sequence then verifies up to k draft tokens per
    iteration (all in the token budget and the cache), keeps the accepted ones plus one, and the draft
    model's steps are added to the iteration's cost."""
    config.validate()
    n = len(requests)
    P, D = requests.input_tokens, requests.output_tokens
    kv = BlockTable(kv_blocks, config.block_size, n)
    worst = -(-(P + D - 1) // config.block_size)
    too_big = np.flatnonzero(worst > kv.capacity)
    if len(too_big):
        i = int(too_big[0])
        raise HwsimError(
            f"request {i + 1} needs {int(worst[i])} KV blocks ({int(P[i])} + {int(D[i])} tokens) but the "
            f"cache holds {kv.capacity}: give more `kv_blocks` / memory, more devices or shorter requests",
            file=requests.source or None,
            field="input_tokens",
        )
    if not config.chunked_prefill and int(P.max()) > config.max_batched_tokens:
        raise HwsimError(
            f"a prompt of {int(P.max())} tokens exceeds `max_batched_tokens` "
            f"{config.max_batched_tokens} without chunked prefill",
            field="max_batched_tokens",
        )

    computed = np.zeros(n, dtype=np.int64)  # tokens whose K/V are in the cache
    generated = np.zeros(n, dtype=np.int64)
    first = np.full(n, np.nan)
    finish = np.full(n, np.nan)
    preempted = np.zeros(n, dtype=np.int64)
    running: list[int] = []
    waiting: list[int] = []
    it: dict[str, list] = {
        k: []
        for k in (
            "start_s",
            "seconds",
            "energy_j",
            "seqs",
            "prefill_tokens",
            "decode_tokens",
            "emitted",
            "kv_blocks_used",
            "waiting",
            "preemptions",
        )
    }
    rng = np.random.default_rng(spec.seed) if spec is not None else None
    for key in ("accepted", "verified"):
        it[key] = []
    env = simpy.Environment()
    state: dict[str, Any] = {"arrived": 0, "wake": env.event(), "preemptions": 0}  # counters and the wake-up event

    def arrivals() -> Generator[simpy.Event, object, None]:
        for i in range(n):
            gap = float(requests.arrival[i]) - env.now
            if gap > 0:
                yield env.timeout(gap)
            waiting.append(i)
            state["arrived"] += 1
            if not state["wake"].triggered:
                state["wake"].succeed()

    def lookahead(ids: np.ndarray) -> np.ndarray:
        """Draft tokens each sequence would verify: decoding ones, never past their requested output."""
        if spec is None:
            return np.zeros(len(ids), dtype=np.int64)
        dec = (generated[ids] > 0) & (P[ids] + generated[ids] - computed[ids] == 1)
        return np.where(dec, np.minimum(spec.k, D[ids] - generated[ids] - 1), 0)

    def preempt_last() -> int:
        victim = running.pop()
        kv.release(victim)
        computed[victim] = 0
        preempted[victim] += 1
        state["preemptions"] += 1
        waiting.insert(0, victim)
        return victim

    def schedule() -> tuple[np.ndarray, np.ndarray]:
        """Pick (ids, new tokens) for one iteration."""
        budget = config.max_batched_tokens
        ids: list[int] = []
        new: list[int] = []
        # running sequences, arrival order; a decoding one needs one token. Fast path: all of them fit.
        if running:
            run = np.array(running, dtype=np.int64)
            rem = P[run] + generated[run] - computed[run] + lookahead(run)
            take = np.minimum(rem, np.maximum(budget - (np.cumsum(rem) - rem), 0))
            keep = take > 0
            if int(kv.need(run[keep], computed[run[keep]] + take[keep]).sum()) <= kv.free:
                ids, new = run[keep].tolist(), take[keep].tolist()
                budget -= int(take.sum())
            else:
                budget = _running_with_preemption(ids, new, budget)
        # waiting sequences, first come first served
        while waiting and budget > 0 and len(running) < config.max_num_seqs:
            r = waiting[0]
            remaining = int(P[r] + generated[r] - computed[r])
            want = min(remaining, budget)
            if not config.chunked_prefill and want < remaining and generated[r] == 0:
                break  # (a preempted sequence's recomputation may exceed the budget: it is chunked)
            if kv.need(np.array([r]), np.array([computed[r] + want]))[0] > kv.free - _pending(ids, new):
                break
            waiting.pop(0)
            running.append(r)
            ids.append(r)
            new.append(want)
            budget -= want
        return np.array(ids, dtype=np.int64), np.array(new, dtype=np.int64)

    def _running_with_preemption(ids: list, new: list, budget: int) -> int:
        """Place running sequences one by one, preempting the latest arrivals when blocks run out."""
        i = 0
        while i < len(running) and budget > 0:
            r = running[i]
            want = min(int(P[r] + generated[r] - computed[r] + lookahead(np.array([r]))[0]), budget)
            while kv.need(np.array([r]), np.array([computed[r] + want]))[0] > kv.free - _pending(ids, new):
                if preempt_last() == r:
                    return budget  # r itself was the latest arrival: it waits for recomputation
            ids.append(r)
            new.append(want)
            budget -= want
            i += 1
        return budget

    def _pending(ids: list[int], new: list[int]) -> int:
        if not ids:
            return 0
        a = np.array(ids, dtype=np.int64)
        return int(kv.need(a, computed[a] + np.array(new, dtype=np.int64)).sum())

    def engine() -> Generator[simpy.Event, object, None]:
        done = 0
        while done < n:
            if not running and not waiting:
                state["wake"] = env.event()
                yield state["wake"]
                continue
            ids, new = schedule()
            if len(ids) == 0:  # nothing fits (cannot happen with the size check) or all preempted
                raise HwsimError("the scheduler could not place any sequence in the KV cache", field="kv_blocks")
            ctx = computed[ids]
            dec = (generated[ids] > 0) & (ctx + 1 == P[ids] + generated[ids])  # decoding (with drafts)
            proposals = np.where(dec, new - 1, 0)
            emits = ctx + new >= P[ids] + generated[ids]
            cost = step(new, ctx, np.where(dec, new, emits.astype(np.int64)))  # verification: logits on all
            if spec is not None:
                cost = cost + spec.round_cost(new, ctx, dec, proposals)
            seconds, joules = float(cost.seconds), float(cost.energy_j)
            start = env.now
            kv.grow(ids, ctx + new)
            it["start_s"].append(start)
            it["seconds"].append(seconds)
            it["energy_j"].append(joules)
            it["seqs"].append(len(ids))
            decoding = int(new[dec].sum())
            it["prefill_tokens"].append(int(new.sum()) - decoding)
            it["decode_tokens"].append(decoding)
            it["kv_blocks_used"].append(kv.used)
            it["waiting"].append(len(waiting))
            it["preemptions"].append(state["preemptions"])
            acc = np.zeros(len(ids), dtype=np.int64)
            drafted = proposals > 0
            if drafted.any():
                assert spec is not None and rng is not None  # only a speculation proposes draft tokens
                acc[drafted] = spec.accepted(rng, proposals[drafted])
            it["accepted"].append(int(acc.sum()))
            it["verified"].append(int(drafted.sum()))
            yield env.timeout(seconds)
            computed[ids] += np.where(dec, 1 + acc, new)  # rejected drafts leave the cache
            out = ids[emits]
            gain = (1 + acc)[emits]
            it["emitted"].append(int(gain.sum()))
            first[out[generated[out] == 0]] = env.now
            generated[out] += gain
            ended = out[generated[out] >= D[out]]
            if len(ended):
                finish[ended] = env.now
                kv.release(ended)
                gone = set(ended.tolist())
                running[:] = [r for r in running if r not in gone]
                done += len(ended)

    env.process(arrivals())
    env.process(engine())
    env.run()
    return Replay(
        requests=requests,
        first_token=first,
        finish=finish,
        preemptions_per_request=preempted,
        generated=generated,
        iterations=it,
        kv_capacity_blocks=kv.capacity,
        kv_peak_blocks=kv.peak,
        preemptions=state["preemptions"],
    )
