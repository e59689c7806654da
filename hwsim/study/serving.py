"""Serving workloads of a study (`workloads: [{kind: serving, ...}]`): a request load on a server
configuration, replayed by hwsim.serve for every design point (docs/studies.md, "Serving workloads").

List-valued keys (rate, max_num_seqs, tp, pp, dp, ...) expand into one workload per combination, as
batch/seq lists do for step workloads. The load (model and request stream) decides the Pareto group;
the server's configuration (sequence limits, parallelism, replicas) competes inside it.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, TypeVar

from hwsim.errors import HwsimError
from hwsim.study.validate import At

if TYPE_CHECKING:
    from hwsim.core.spec import Accelerator
    from hwsim.serve.requests import Requests
    from hwsim.study.schema import PrecisionChoice
    from hwsim.workload.config import ModelConfig

_T = TypeVar("_T")

SERVING_KEYS = (
    "kind",
    "model",
    "requests",
    "max_num_seqs",
    "max_batched_tokens",
    "block_size",
    "chunked_prefill",
    "prefix_caching",
    "kv_admission",
    "sliding_kv",
    "eager_kernels",
    "kv_blocks",
    "memory_utilization",
    "tp",
    "pp",
    "ep",
    "dp",
    "dp_routing",
    "link",
)
STREAM_KEYS = (
    "rate",
    "num_requests",
    "input_len",
    "output_len",
    "seed",
    "shared_prefix",
    "prefix_groups",
    "prefix_fraction",
)
# the table columns naming the load: rows are grouped by them for Pareto fronts
LOAD_COLUMNS = ("model", "phase", "requests")
SERVE_PHASE = "serve"  # the `phase` column of serving rows


@dataclass(frozen=True)
class ServingWorkload:
    """A request stream (a JSONL file, or a seeded Poisson stream) on a server configuration."""

    model: str
    requests_file: str | None = None
    rate: float = 1.0  # Poisson stream (when no file): requests/s, inf = all at t = 0
    num_requests: int = 100
    input_len: str = "lognormal:512:0.8"
    output_len: str = "lognormal:128:0.8"
    seed: int = 0
    max_num_seqs: int = 256
    max_batched_tokens: int = 8192
    block_size: int = 16
    chunked_prefill: bool = True
    prefix_caching: bool = True  # automatic prefix caching (hwsim.serve.scheduler), on as in vLLM V1
    kv_admission: str = "on-demand"  # hwsim.serve.scheduler.KV_ADMISSIONS
    sliding_kv: bool = True  # sliding-window layers hold only their window's blocks (hwsim.serve.kvcache.SlidingKv)
    eager_kernels: bool = False  # charge the eagerly fitted fixed times (hwsim.serve.graphs); default: graph replay
    shared_prefix: int | None = None  # generated stream: tokens shared (docs/serving.md, "Shared prefixes")
    prefix_groups: int = 1
    prefix_fraction: float = 1.0
    kv_blocks: int | None = None  # None: from memory left after weights (memory_utilization)
    memory_utilization: float = 0.9
    tp: int = 1
    pp: int = 1
    ep: int = 1
    dp: int = 1
    dp_routing: str = "round_robin"  # hwsim.serve.routing.ROUTINGS
    link: str | None = None  # None: the arch spec's own link (needed only with several devices)

    kind = "serving"
    phase = SERVE_PHASE
    ops = "all"  # a replay costs whole steps

    @property
    def load(self) -> str:
        """The `requests` column: the file, or the generated stream's parameters."""
        if self.requests_file is not None:
            return self.requests_file
        shared = (
            f", prefix={self.shared_prefix}×{self.prefix_groups} on {self.prefix_fraction:g}"
            if self.shared_prefix is not None
            else ""
        )
        return (
            f"poisson(rate={self.rate:g}, n={self.num_requests}, in={self.input_len}, out={self.output_len}, "
            f"seed={self.seed}{shared})"
        )

    def columns(self) -> dict[str, object]:
        """The workload's columns in a results table (SI; kv_blocks NaN when sized from memory)."""
        return {
            "model": self.model,
            "phase": self.phase,
            "requests": self.load,
            "max_num_seqs": self.max_num_seqs,
            "max_batched_tokens": self.max_batched_tokens,
            "block_size": self.block_size,
            "chunked_prefill": self.chunked_prefill,
            "prefix_caching": self.prefix_caching,
            "kv_admission": self.kv_admission,
            "sliding_kv": self.sliding_kv,
            "eager_kernels": self.eager_kernels,
            "kv_blocks": math.nan if self.kv_blocks is None else float(self.kv_blocks),
            "memory_utilization": self.memory_utilization,
            "tp": self.tp,
            "pp": self.pp,
            "ep": self.ep,
            "dp": self.dp,
            "dp_routing": self.dp_routing,
            "link": self.link or "",
        }

    def stream(self) -> Requests:
        """The hwsim.serve.requests.Requests this workload replays."""
        from hwsim.serve.requests import load_requests, poisson_requests

        if self.requests_file is not None:
            return load_requests(self.requests_file)
        return poisson_requests(
            self.rate,
            self.num_requests,
            self.input_len,
            self.output_len,
            self.seed,
            shared_prefix=self.shared_prefix,
            prefix_groups=self.prefix_groups,
            prefix_fraction=self.prefix_fraction,
        )


def _many(at: At | None, read: Callable[[At], _T], default: _T) -> list[_T]:
    """A scalar or a list of them (an error in a scalar names the key itself, not `key[0]`)."""
    if at is None:
        return [default]
    return [read(i) for i in at.list()] if isinstance(at.value, list) else [read(at)]


def _positive(at: At) -> float:
    v = at.value
    if v in ("inf", ".inf"):
        return math.inf
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
        raise at.error(f"expected a positive number of requests per second (or inf), got {v!r}")
    return float(v)


def _fraction(at: At) -> float:
    v = at.number()
    if not 0 < v <= 1:
        raise at.error(f"must lie in (0, 1], got {v:g}")
    return float(v)


def _stream(at: At) -> tuple[list, dict]:
    """`requests: FILE` or `requests: {rate, num_requests, input_len, output_len, seed}` (rate may be a list)."""
    if isinstance(at.value, str):
        return [None], {"requests_file": at.str()}
    keys = at.mapping(STREAM_KEYS, required=("rate",))
    fixed: dict[str, object] = {}
    if "num_requests" in keys:
        fixed["num_requests"] = keys["num_requests"].int(minimum=1)
    for k in ("input_len", "output_len"):
        if k in keys:
            v = keys[k].value
            fixed[k] = str(v) if isinstance(v, (int, str)) and not isinstance(v, bool) else keys[k].str()
    if "seed" in keys:
        fixed["seed"] = keys["seed"].int(minimum=0)
    for k in ("shared_prefix", "prefix_groups"):
        if k in keys:
            fixed[k] = keys[k].int(minimum=1)
    if "prefix_fraction" in keys:
        fixed["prefix_fraction"] = _fraction(keys["prefix_fraction"])
    shaping = [k for k in ("prefix_groups", "prefix_fraction") if k in keys]
    if shaping and "shared_prefix" not in keys:
        raise keys[shaping[0]].error("shapes the shared prefixes: give shared_prefix (tokens) too")
    return _many(keys["rate"], _positive, 1.0), fixed


# a scheduler, cache or layout count lands in an int64 column of the results table (max_num_seqs: 10^30 ended in
# pyarrow's OverflowError once every point had been replayed)
MAX_COUNT = 2**63 - 1


def _count(at: At) -> int:
    v = at.int(minimum=1)
    if v > MAX_COUNT:
        raise at.error(f"must be at most {MAX_COUNT:,} (2^63 - 1), got {v:.3g}")
    return v


def serving_workloads(at: At) -> list[ServingWorkload]:
    """Every combination of one `kind: serving` entry's list-valued keys."""
    from hwsim.serve.routing import ROUTINGS
    from hwsim.serve.scheduler import KV_ADMISSIONS

    keys = at.mapping(SERVING_KEYS, required=("model", "requests"))
    models = [m.str() for m in keys["model"].list(allow_scalar=True)]
    rates, fixed = _stream(keys["requests"])
    ints = {
        k: _many(keys.get(k), _count, getattr(ServingWorkload, k))
        for k in ("max_num_seqs", "max_batched_tokens", "block_size", "tp", "pp", "ep", "dp")
    }
    chunked = _many(keys.get("chunked_prefill"), lambda a: a.bool(), True)
    caching = _many(keys.get("prefix_caching"), lambda a: a.bool(), True)
    admission = _many(keys.get("kv_admission"), lambda a: a.str(KV_ADMISSIONS), "on-demand")  # scheduler policy
    sliding = _many(keys.get("sliding_kv"), lambda a: a.bool(), True)
    eager = _many(keys.get("eager_kernels"), lambda a: a.bool(), False)
    routing = _many(keys.get("dp_routing"), lambda a: a.str(ROUTINGS), "round_robin")  # hwsim.serve.routing
    if "kv_blocks" in keys and "memory_utilization" in keys:
        raise keys["kv_blocks"].error("give kv_blocks or memory_utilization, not both")
    kv_blocks = _many(keys.get("kv_blocks"), _count, None)
    util = _many(keys.get("memory_utilization"), _fraction, 0.9)
    if "link" in keys:
        fixed["link"] = keys["link"].str()
    names = (
        "rate",
        *ints,
        "chunked_prefill",
        "prefix_caching",
        "kv_admission",
        "sliding_kv",
        "eager_kernels",
        "dp_routing",
        "kv_blocks",
        "memory_utilization",
    )
    out = []
    for m in models:
        grid = (rates, *ints.values(), chunked, caching, admission, sliding, eager, routing, kv_blocks, util)
        for combo in itertools.product(*grid):
            vals = dict(zip(names, combo))
            if vals["rate"] is None:  # a request file: no generated stream
                vals.pop("rate")
            out.append(ServingWorkload(model=m, **fixed, **vals))
    return list(dict.fromkeys(out))


def check_serving(w: ServingWorkload, entry: At, model: ModelConfig) -> None:
    """Everything about a serving workload that does not depend on the design point: the request
    stream, the parallel layout against the model, the link. Errors name the study file and key."""
    from hwsim.serve.links import load_link
    from hwsim.serve.shard import Parallel, shard_model

    try:
        n = len(w.stream())
    except HwsimError as exc:
        if exc.file is not None and w.requests_file is not None:  # a bad line of the request file names itself
            raise
        raise entry.child("requests", None).error(exc.detail) from None
    if w.dp > n:
        raise entry.child("dp", w.dp).error(f"{w.dp} replicas for {n} requests: some replicas would get none")
    try:
        par = Parallel(tp=w.tp, pp=w.pp, ep=w.ep)
        par.validate()
        shard_model(model, par)
    except HwsimError as exc:  # tp not dividing the heads, ep not 1 or tp, ...
        raise entry.error(f"tp {w.tp}, pp {w.pp}, ep {w.ep}: {exc.detail}") from None
    if w.link is not None:
        try:
            load_link(w.link)
        except HwsimError as exc:
            raise entry.child("link", w.link).error(exc.detail) from None


def check_fits(
    design: str, arch: Accelerator, entry: At, ws: list[ServingWorkload], precisions: list[PrecisionChoice]
) -> None:
    """A design that cannot hold a serving entry in any combination the entry and the precisions list (model,
    layout, scheduler, cache size, weight format) is refused before any point runs, with the first combination's
    reason; a design with no memory capacity needs the entry's `kv_blocks`. `arch` is the design at its fixed
    values: the caller skips designs that sweep their backing store (there each point is checked as it runs,
    an infeasible row where it does not fit)."""
    from hwsim.core.precision import Precision
    from hwsim.engine.per_op import weights_label
    from hwsim.study.schema import MODEL_WEIGHTS
    from hwsim.serve.shard import Parallel
    from hwsim.serve.sizing import why_not_serves
    from hwsim.workload import load_model

    level = arch.backing.name
    if not math.isfinite(float(arch.backing.capacity)):
        if any(w.kv_blocks is None for w in ws):
            raise entry.error(
                f"{design}'s {level} has no capacity to size the KV cache from: give this workload kv_blocks "
                f"(or the design memory.{level}.capacity)"
            )
        return
    first = None
    for w in ws:
        model = load_model(w.model)
        for p in precisions:
            weights = None if p.weights == MODEL_WEIGHTS else p.weights  # None: the checkpoint's own, per op
            kv = None if p.kv == MODEL_WEIGHTS else p.kv  # None: the checkpoint's own KV-cache format
            acts = None if p.activations == MODEL_WEIGHTS else p.activations  # None: the checkpoint's own
            prec = Precision(weights=weights, activations=acts, kv=kv)
            why = why_not_serves(
                arch,
                model,
                prec,
                Parallel(tp=w.tp, pp=w.pp, ep=w.ep),
                block_size=w.block_size,
                max_batched_tokens=w.max_batched_tokens,
                kv_blocks=w.kv_blocks,
                memory_utilization=w.memory_utilization,
            )
            if why is None:
                return
            first = first or f"tp {w.tp}, pp {w.pp}, weights {weights_label(model, prec)}: {why}"
    raise entry.child("model", None).error(
        f"{design} cannot hold this workload in any combination listed (layouts, precisions, cache); {first}"
    )
