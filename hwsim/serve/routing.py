"""Routing requests to data-parallel replicas (`dp`, hwsim.serve.replicas): which replica serves each request.

`round_robin` (the default): request i goes to replica i mod dp, a balancer that looks at nothing
(hwsim.serve.replicas.round_robin).

`cache_aware`: the policy of SGLang's router (sgl-router, `--policy cache_aware`, its default), as its source
comment and CLI help describe it (sglang rust/src/router.rs at v0.4.x; sgl-router py_src/sglang_router/
router_args.py for the defaults):
- the router keeps, per worker, an approximate prefix tree of the prompts it sent there (it never asks the
  workers what they cache); a request goes to the worker whose tree matches the longest prefix of its prompt
  when that match covers more than `cache_threshold` of the prompt (default 0.3), else to the worker whose tree
  is smallest (the most room for new cache);
- it counts the requests each worker is running (sent, not finished); when the load is imbalanced, both
  (max − min) > `balance_abs_threshold` (default 64) and max > `balance_rel_threshold` × min (default 1.5), the
  request goes to the least-loaded worker instead (shortest queue);
- the chosen worker's tree takes the request's prompt either way.

What the simulator makes of it (assumptions, not SGLang's):
- a prompt is its token identities (hwsim.serve.requests: a named sequence's tokens, or an earlier request's
  context, then the request's own tokens), matched token by token where SGLang matches characters of the text;
  the tree holds prompts only (the router never sees the generated text), so a chat's next turn matches its
  previous turn's prompt, not its answer;
- the trees are never trimmed (SGLang evicts LRU leaves past `max_tree_size`, 2^26 characters by default, far
  above the prompts of a simulated stream);
- ties go to the lowest replica index (SGLang's tie order is that of its maps);
- the running counts need each request's finish, which depends on the routing: the stream is routed first with
  every routed request counted as running (no finish known), replayed, then routed again with the finish times of
  that replay, up to `PASSES` replays or until the routing no longer changes; the last routing's replay is the
  result. Everything depends only on the stream (and so on its seed).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from hwsim.errors import HwsimError
from hwsim.serve.replicas import merge
from hwsim.serve.requests import Requests
from hwsim.serve.scheduler import Replay

ROUTINGS = ("round_robin", "cache_aware")
# sgl-router's RouterArgs defaults (sgl-router/py_src/sglang_router/router_args.py)
CACHE_THRESHOLD = 0.3
BALANCE_ABS_THRESHOLD = 64
BALANCE_REL_THRESHOLD = 1.5
PASSES = 3  # replays at most: route (no finishes known), replay, route again with its finishes, ...

T = TypeVar("T")
Segment = tuple[int, int, int]  # (sequence code, first position, end position): tokens code[start:end]


def check_routing(routing: object, field: str = "dp_routing") -> str:
    """`routing` if it names a policy of ROUTINGS, else a one-line error naming `field`."""
    if routing not in ROUTINGS:
        raise HwsimError(f"must be one of {', '.join(ROUTINGS)}, got {routing!r}", field=field)
    return str(routing)


def prompt_segments(requests: Requests) -> list[list[Segment]]:
    """Each request's prompt as runs of one sequence's consecutive tokens (the identities hwsim.serve.scheduler's
    block keys use: equal (code, position) means equal tokens after equal tokens)."""
    n = len(requests)
    none = np.full(n, -1, dtype=np.int64)
    prefix = (none if requests.prefix is None else requests.prefix).tolist()
    plen = (np.zeros(n, dtype=np.int64) if requests.prefix_len is None else requests.prefix_len).tolist()
    name = (none if requests.name is None else requests.name).tolist()
    count = max(max(name, default=-1), max(prefix, default=-1)) + 1
    own = [c if c >= 0 else count + i for i, c in enumerate(name)]
    owner = {c: i for i, c in enumerate(name) if c >= 0}
    inp, out = requests.input_tokens.tolist(), requests.output_tokens.tolist()
    segs: list[list[Segment]] = []
    for i in range(n):
        head: list[Segment] = []
        p = plen[i] if prefix[i] >= 0 else 0
        if p > 0:
            j = owner.get(prefix[i])
            if j is None or j >= i:  # a named sequence
                head = [(prefix[i], 0, p)]
            else:  # an earlier request's context: its prompt, then its own tokens on to its output's end
                ctx = [s for s in segs[j] if s[0] != own[j]]
                start = ctx[-1][2] if ctx else 0
                ctx.append((own[j], start, inp[j] + out[j]))
                head = _cut(ctx, p)
        tail = [(own[i], p, inp[i])] if inp[i] > p else []
        segs.append(head + tail)
    return segs


def _cut(segs: list[Segment], n: int) -> list[Segment]:
    """The first n tokens of contiguous segments."""
    out = []
    for c, s, e in segs:
        if s >= n:
            break
        out.append((c, s, min(e, n)))
    return out


class _Tree:
    """One worker's approximate prefix tree: a node maps a segment's (code, start) to its [end, child] entries."""

    def __init__(self) -> None:
        self.root: dict = {}
        self.size = 0  # tokens it holds (a segment within a longer one at the same place adds none)

    def insert(self, segs: list[Segment]) -> None:
        node = self.root
        for c, s, e in segs:
            entries = node.setdefault((c, s), [])
            hit = next((x for x in entries if x[0] == e), None)
            if hit is None:
                self.size += max(0, e - max((x[0] for x in entries), default=s))
                hit = [e, {}]
                entries.append(hit)
            node = hit[1]

    def match(self, segs: list[Segment], k: int = 0, node: dict | None = None) -> int:
        """Tokens of the longest prefix of `segs[k:]` the tree holds."""
        node = self.root if node is None else node
        if k == len(segs):
            return 0
        c, s, e = segs[k]
        best = 0
        for end, child in node.get((c, s), ()):
            got = min(e, end) - s
            if end == e:
                got += self.match(segs, k + 1, child)
            best = max(best, got)
        return best


def cache_aware(requests: Requests, dp: int, finish: np.ndarray | None = None) -> np.ndarray:
    """The replica of each request under sgl-router's cache_aware policy (module docstring); `finish`: each
    request's finish time (s) the running counts use, None to count every routed request as running."""
    segs = prompt_segments(requests)
    trees = [_Tree() for _ in range(dp)]
    running: list[list[float]] = [[] for _ in range(dp)]  # finish times of the requests each replica runs
    out = np.empty(len(requests), dtype=np.int64)
    inp = requests.input_tokens.tolist()
    ends = [np.inf] * len(requests) if finish is None else finish.tolist()
    for i, t in enumerate(requests.arrival.tolist()):
        for q in running:
            while q and q[0] <= t:
                heapq.heappop(q)
        load = [len(q) for q in running]
        hi, lo = max(load), min(load)
        if hi - lo > BALANCE_ABS_THRESHOLD and hi > BALANCE_REL_THRESHOLD * lo:
            w = load.index(lo)
        else:
            matched = [tree.match(segs[i]) for tree in trees]
            best = max(matched)
            if best / inp[i] > CACHE_THRESHOLD:
                w = matched.index(best)
            else:
                sizes = [tree.size for tree in trees]
                w = sizes.index(min(sizes))
        trees[w].insert(segs[i])
        heapq.heappush(running[w], ends[i])
        out[i] = w
    return out


def route(
    requests: Requests, dp: int, routing: str, replay: Callable[[np.ndarray], tuple[T, np.ndarray]]
) -> tuple[T, np.ndarray]:
    """(the replay of the stream routed by `routing`, each request's replica). `replay(assign)` replays a routing
    and returns (its result, each request's finish time)."""
    check_routing(routing)
    if routing == "round_robin":
        rr = np.arange(len(requests)) % dp
        return replay(rr)[0], rr
    assign = cache_aware(requests, dp)
    result, finish = replay(assign)
    for _ in range(PASSES - 1):
        again = cache_aware(requests, dp, finish)
        if np.array_equal(again, assign):
            break
        assign = again
        result, finish = replay(assign)
    return result, assign


def shares(requests: Requests, assign: np.ndarray, dp: int) -> list[np.ndarray]:
    """The request indices of each replica (arrivals in order within a share; a share may be empty)."""
    return [np.flatnonzero(assign == r) for r in range(dp)]


def replay_routed(
    requests: Requests, dp: int, routing: str, simulate: Callable[[Requests], Replay]
) -> tuple[Replay, np.ndarray]:
    """(the merged replay of `requests` on `dp` replicas routed by `routing`, each request's replica);
    `simulate(share)` replays one replica's share."""

    def replay(assign: np.ndarray) -> tuple[Replay, np.ndarray]:
        idx = shares(requests, assign, dp)
        reps = [simulate(requests.take(i)) if len(i) else None for i in idx]
        rep = merge(requests, reps, idx)
        return rep, rep.finish

    return route(requests, dp, routing, replay)
