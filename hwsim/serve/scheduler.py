"""An iteration-level serving scheduler, simulated event by event with simpy.

Policy (vLLM's v1 scheduler, first come first served):
- every iteration the running sequences go first, in arrival order: a sequence still in its prompt takes
  a chunk of it (chunked prefill), a decoding one takes one token; then waiting sequences are admitted
  while there are fewer than `max_num_seqs` running, tokens left of `max_batched_tokens` and free blocks;
- KV blocks of `block_size` tokens are allocated as tokens enter the cache; when a running sequence
  cannot get a block, the most recently arrived running sequence is preempted: its blocks are freed and
  it returns to the head of the queue to recompute its prompt and the tokens it has generated;
- `kv_admission="reserve"` (TensorRT-LLM's GUARANTEED_NO_EVICT capacity policy) admits a waiting sequence only
  when the blocks for its whole life (prompt and every output token it asked for) fit beside what the running
  sequences may still grow to, so no sequence is ever preempted; the default `"on-demand"` is vLLM's above;
- a sequence emits a token in the iteration that brings its cache up to everything it knows (prompt and
  generated tokens); its first token is its TTFT;
- automatic prefix caching (vLLM V1's, on by default there and here; hwsim.serve.kvcache.BlockTable): a full
  block is known by the chain of its contents; a sequence admitted from the queue reuses its leading blocks
  that are cached — at most (tokens − 1) // block_size of them, so that its last token is always computed for
  its logits, as vLLM caps the hit — and prefills only the rest, attending over the whole context; blocks of
  finished or preempted sequences stay cached while free, evicted least recently used first. The contents come
  from the request stream's shared prefixes (hwsim.serve.requests); every other block is the request's own,
  so it only serves that request again after a preemption.
The iteration's time and energy come from hwsim.serve.stepcost (any family, costed by batch shape);
mixed context lengths in one batch are each attended over their own context.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy
from numpy.typing import ArrayLike

from hwsim.errors import HwsimError
from hwsim.serve.kvcache import BlockTable, SlidingKv
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
    prefix_caching: bool = True
    kv_admission: str = "on-demand"  # KV_ADMISSIONS
    # sliding-window / chunked layers hold only their window's / chunk's blocks (vLLM V1's hybrid KV-cache manager;
    # hwsim.serve.kvcache.SlidingKv); False: every layer charged every token (--disable-hybrid-kv-cache-manager)
    sliding_kv: bool = True

    def validate(self) -> None:
        for name in ("max_num_seqs", "max_batched_tokens", "block_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise HwsimError(f"must be a positive integer, got {v!r}", field=name)
        if self.kv_admission not in KV_ADMISSIONS:
            raise HwsimError(
                f"unknown policy {self.kv_admission!r}; allowed: {', '.join(KV_ADMISSIONS)}", field="kv_admission"
            )


# how a waiting sequence gets KV blocks: as its tokens arrive, preempting when they run out (vLLM), or all of
# its life's blocks reserved when it is admitted (TensorRT-LLM's GUARANTEED_NO_EVICT): module docstring
KV_ADMISSIONS = ("on-demand", "reserve")


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
    cached_tokens: np.ndarray | None = None  # prompt tokens each request reused from the cache when first admitted
    prefix_hit_tokens: int = 0  # over every admission (resumed preempted sequences included): tokens reused
    prefix_query_tokens: int = 0  # ... and tokens the sequences admitted knew (prompt + generated)
    kv_evicted_blocks: int = 0  # cached blocks evicted to make room
    # the pool the kv_* figures describe (an index into simulate's `kv_blocks`: a pipeline stage's, the fullest;
    # 0 with one pool) and every pool's own figures, so that replicas' replays merge on one pool (replicas.merge)
    kv_stage: int = 0
    kv_stage_capacity_blocks: tuple[int, ...] = ()
    kv_stage_peak_blocks: tuple[int, ...] = ()
    kv_stage_evicted_blocks: tuple[int, ...] = ()
    kv_used_by_stage: np.ndarray | None = None  # iteration × pool: blocks in use when each iteration ran


def fullest_pool(peak: ArrayLike, capacities: ArrayLike) -> int:
    """The pool (pipeline stage) whose peak fills the largest share of its capacity, the first of equals: the one
    serve reports."""
    return int(np.argmax(np.asarray(peak, dtype=np.float64) / np.asarray(capacities, dtype=np.float64)))


def simulate(
    requests: Requests,
    step: Callable[[np.ndarray, np.ndarray, np.ndarray], Cost],
    kv_blocks: int | list[int],
    config: SchedulerConfig = SchedulerConfig(),
    spec: Speculation | None = None,
    sliding: SlidingKv | tuple[SlidingKv, ...] | None = None,
) -> Replay:
    """Serve `requests`; `step(new, context, emits) -> Cost` prices one iteration (`emits`: which
    sequences produce a token; a StepCost's or ParallelStepCost's `iteration`). `spec`: a
    hwsim.serve.speculative.Speculation — a decoding sequence then verifies up to k draft tokens per
    iteration (all in the token budget and the cache), keeps the accepted ones plus one, and the draft
    model's steps are added to the iteration's cost. `sliding`: the model's sliding-window layers keep only their
    window's blocks (hwsim.serve.kvcache.SlidingKv; None: every block holds every layer for good); one per pipeline
    stage with `kv_blocks` one count per stage, each stage's pool holding its own layers (a sequence runs when every
    stage has room; the fullest stage's pool is reported)."""
    config.validate()
    n = len(requests)
    P, D = requests.input_tokens, requests.output_tokens
    kv = BlockTable(kv_blocks, config.block_size, n, caching=config.prefix_caching, sliding=sliding)
    bs = config.block_size
    keys_of = _BlockKeys(requests, bs) if config.prefix_caching else None
    last = P + D - 1  # tokens a sequence ever holds in the cache (its last token is never fed back)
    worst = kv.worst(last, config.max_batched_tokens)  # sequence × stage
    reserve = config.kv_admission == "reserve"
    too_big = np.flatnonzero((worst > kv.capacities).any(axis=1))
    if len(too_big):
        i = int(too_big[0])
        s = int(np.argmax(worst[i] - kv.capacities))
        raise HwsimError(
            f"request {i + 1} needs {int(worst[i, s])} KV blocks ({int(P[i])} + {int(D[i])} tokens) but the "
            f"cache holds {int(kv.capacities[s])}: give more `kv_blocks` / memory, more devices or shorter requests",
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
    cached = np.full(n, -1, dtype=np.int64)  # tokens reused at the first admission (-1: not admitted yet)
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
            "cached_tokens",
        )
    }
    rng = np.random.default_rng(spec.seed) if spec is not None else None
    for key in ("accepted", "verified"):
        it[key] = []
    env = simpy.Environment()
    # counters and the wake-up event
    state: dict[str, Any] = {"arrived": 0, "wake": env.event(), "preemptions": 0, "hits": 0, "queried": 0, "hit_now": 0}

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

    def place(ids: np.ndarray, tokens: np.ndarray) -> None:
        """Allocate the blocks of sequences scheduled up to `tokens` and cache their full blocks (up to what
        they know: draft tokens that may be rejected are not cached, as vLLM caps at the request's tokens)."""
        kv.grow(ids, tokens, computed[ids])
        if keys_of is None:
            return
        full = np.minimum(tokens, P[ids] + generated[ids]) // bs
        filled = full > kv.registered[ids]  # a block filled up (a decode step fills one every block_size)
        for r, b in zip(ids[filled].tolist(), full[filled].tolist()):
            kv.register(r, keys_of(r), b)

    def schedule() -> tuple[np.ndarray, np.ndarray]:
        """Pick (ids, new tokens) for one iteration; their blocks are allocated as they are picked."""
        budget = config.max_batched_tokens
        ids: list[int] = []
        new: list[int] = []
        state["hit_now"] = 0
        # running sequences, arrival order; a decoding one needs one token. Fast path: all of them fit.
        if running:
            run = np.array(running, dtype=np.int64)
            rem = P[run] + generated[run] - computed[run] + lookahead(run)
            take = np.minimum(rem, np.maximum(budget - (np.cumsum(rem) - rem), 0))
            keep = take > 0
            if (kv.need(run[keep], computed[run[keep]] + take[keep], computed[run[keep]]).sum(axis=0) <= kv.free).all():
                ids, new = run[keep].tolist(), take[keep].tolist()
                budget -= int(take.sum())
                place(run[keep], computed[run[keep]] + take[keep])
            else:
                budget = _running_with_preemption(ids, new, budget)
        # waiting sequences, first come first served; `owed`: blocks the running ones may still take (reserve)
        owed = np.maximum(worst[running] - kv.held[running], 0).sum(axis=0) if reserve and running else 0
        while waiting and budget > 0 and len(running) < config.max_num_seqs:
            r = waiting[0]
            known = int(P[r] + generated[r])
            found = kv.lookup(keys_of(r), (known - 1) // bs) if keys_of is not None else kv.miss
            hit = found.blocks
            remaining = known - hit * bs  # a waiting sequence holds nothing (preemption released it)
            want = min(remaining, budget)
            if not config.chunked_prefill and want < remaining and generated[r] == 0:
                break  # (a preempted sequence's recomputation may exceed the budget: it is chunked)
            after = kv.target(np.array([r]), np.array([hit * bs + want]), np.array([hit * bs]))[0]  # first chunk
            if ((kv.charge(found, worst[r]) + owed if reserve else kv.charge(found, after)) > kv.free).any():
                break
            owed = owed + worst[r] - after if reserve else owed
            waiting.pop(0)
            running.append(r)
            if keys_of is not None:
                kv.acquire(r, found)
                computed[r] = hit * bs
                state["hits"] += hit * bs
                state["queried"] += known
                state["hit_now"] += hit * bs
                if cached[r] < 0:
                    cached[r] = hit * bs
            place(np.array([r]), np.array([computed[r] + want]))
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
            while (kv.need(np.array([r]), np.array([computed[r] + want]), computed[[r]])[0] > kv.free).any():
                if preempt_last() == r:
                    return budget  # r itself was the latest arrival: it waits for recomputation
            place(np.array([r]), np.array([computed[r] + want]))
            ids.append(r)
            new.append(want)
            budget -= want
            i += 1
        return budget

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
            kv.peak = np.maximum(kv.peak, kv.used)
            it["start_s"].append(start)
            it["seconds"].append(seconds)
            it["energy_j"].append(joules)
            it["seqs"].append(len(ids))
            decoding = int(new[dec].sum())
            it["prefill_tokens"].append(int(new.sum()) - decoding)
            it["decode_tokens"].append(decoding)
            it["kv_blocks_used"].append(kv.used.copy())
            it["waiting"].append(len(waiting))
            it["preemptions"].append(state["preemptions"])
            it["cached_tokens"].append(state["hit_now"])
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
                if keys_of is not None:
                    keys_of.forget(ended)
                gone = set(ended.tolist())
                running[:] = [r for r in running if r not in gone]
                done += len(ended)

    env.process(arrivals())
    env.process(engine())
    env.run()
    stage = fullest_pool(kv.peak, kv.capacities)  # the fullest pipeline stage's pool (one without --pp)
    used = np.array(it["kv_blocks_used"], dtype=np.int64).reshape(-1, len(kv.capacities))
    it["kv_blocks_used"] = used[:, stage].tolist()
    return Replay(
        requests=requests,
        first_token=first,
        finish=finish,
        preemptions_per_request=preempted,
        generated=generated,
        iterations=it,
        kv_capacity_blocks=int(kv.capacities[stage]),
        kv_peak_blocks=int(kv.peak[stage]),
        preemptions=state["preemptions"],
        cached_tokens=np.maximum(cached, 0),
        prefix_hit_tokens=state["hits"],
        prefix_query_tokens=state["queried"],
        kv_evicted_blocks=kv.evicted_blocks(stage),
        kv_stage=stage,
        kv_stage_capacity_blocks=tuple(int(c) for c in kv.capacities),
        kv_stage_peak_blocks=tuple(int(p) for p in kv.peak),
        kv_stage_evicted_blocks=tuple(kv.evicted_blocks(s) for s in range(len(kv.capacities))),
        kv_used_by_stage=used,
    )


class _BlockKeys:
    """The content key of each full block of a request (hwsim.serve.requests: shared prefixes), computed when
    first asked. Block k of request i holds tokens k·B … (k+1)·B − 1: inside its prefix (k+1)·B ≤ prefix_len
    it is the prefix sequence's block k — a plain named sequence's (code, k), or, where the prefix names an
    earlier request, that request's own key for block k (which may lie in that request's prefix in turn);
    beyond it, the request's own block: (its id's code, k), or a key no other request can name. Equal keys
    mean equal tokens after equal tokens, which is what vLLM's chained block hashes identify."""

    def __init__(self, requests: Requests, block_size: int) -> None:
        n, none = len(requests), np.full(len(requests), -1, dtype=np.int64)
        self.bs = block_size
        self.blocks = (requests.input_tokens + requests.output_tokens - 1) // block_size  # full blocks it computes
        self.prefix = none if requests.prefix is None else requests.prefix
        self.shared = np.zeros(n, dtype=np.int64) if requests.prefix_len is None else requests.prefix_len // block_size
        self.name = none if requests.name is None else requests.name
        self.owner = {int(c): i for i, c in enumerate(self.name.tolist()) if c >= 0}  # a request id's code → request
        count = max(int(self.name.max(initial=-1)), int(self.prefix.max(initial=-1))) + 1
        self.own = np.where(self.name >= 0, self.name, count + np.arange(n))  # a code no one else can name
        self.memo: dict[int, list] = {}

    def __call__(self, r: int) -> list:
        keys = self.memo.get(r)
        if keys is None:
            keys = self.memo[r] = self._keys(r)
        return keys

    def _keys(self, r: int) -> list:
        shared = int(self.shared[r]) if self.prefix[r] >= 0 else 0
        head: list = []
        if shared:
            code = int(self.prefix[r])
            j = self.owner.get(code)
            if j is None or j >= r:  # a named sequence (or a request of another replica's share)
                head = [(code, k) for k in range(shared)]
            else:  # an earlier request's context: its keys, then its own tokens it never fed back
                head = self(j)[:shared]
                head += [(int(self.own[j]), k) for k in range(len(head), shared)]
        own = int(self.own[r])
        return head + [(own, k) for k in range(len(head), int(self.blocks[r]))]

    def forget(self, ids: np.ndarray) -> None:
        """Drop finished requests' keys (a later request naming one recomputes them: the same keys)."""
        for r in ids.tolist():
            self.memo.pop(r, None)
