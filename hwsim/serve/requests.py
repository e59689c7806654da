"""Request streams: JSON lines (one request each) or a seeded Poisson stream with length distributions.

A request is (arrival_time s, input_tokens, output_tokens); the file may also name the lengths
`input_toks`/`output_toks`. Arrivals must not go back in time. Every error names the file, the line
and the field.

Shared prompt prefixes (what automatic prefix caching reuses, hwsim.serve.scheduler): a request may say that
its first `prefix_len` prompt tokens are the first `prefix_len` tokens of a named token sequence `prefix` —
a system prompt, a few-shot template, a document — or of an earlier request's whole context (its prompt then
its generated tokens) when `prefix` is that request's `id`: the next turn of a chat replays the previous turn's
prompt and answer. Token contents are never needed: two blocks hold the same tokens exactly when they lie in
the same named sequence at the same position. A generated stream shares with `shared_prefix` tokens of one of
`prefix_groups` sequences on a seeded `prefix_fraction` of its requests.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

from hwsim.errors import HwsimError, check_seed, closest
from hwsim.fileio import KeyTwice, json_object, read_text, value_error

# latest arrival time taken: float64 seconds keep sub-microsecond steps up to ~1e9 s (eps 2.2e-16 × 1e9 ≈ 0.2 µs);
# beyond it, decode steps of microseconds vanish in the sum and TTFT/TPOT read 0 (assumed: about 31 years)
MAX_ARRIVAL_S = 1e9

NAMES = {"input_tokens": ("input_tokens", "input_toks"), "output_tokens": ("output_tokens", "output_toks")}
#: every key a request line may hold (docs/serving.md); any other (a misspelt `id` or `prefix_len`) is refused,
#: not dropped: a dropped `id` silently loses the prefix sharing a later turn names
KEYS = ("arrival_time", *NAMES["input_tokens"], *NAMES["output_tokens"], "prefix", "prefix_len", "id")

# most requests of a generated stream: a replay costs ~1-3 ms a request (docs/serving.md: 1000 requests in 1-3 s on
# the 2-core sandbox), so 10^7 is hours already; 10^11 asked numpy for 745 GiB and ended in a MemoryError traceback
MAX_REQUESTS = 10**7
MAX_TOKENS = 2**31  # tokens of one request, as a request file takes them


@dataclass(frozen=True)
class Requests:
    """Columns of a request stream, sorted by arrival (ties keep file order)."""

    arrival: np.ndarray  # seconds, float64
    input_tokens: np.ndarray  # int64 ≥ 1
    output_tokens: np.ndarray  # int64 ≥ 1
    source: str = ""
    # shared prefixes (module docstring): codes of named token sequences, -1 for none. `prefix[i]`: the sequence
    # request i's prompt starts with, for `prefix_len[i]` tokens; `name[i]`: request i's own `id`, which later
    # requests may name as their prefix (its context continues whatever its own prefix was)
    prefix: np.ndarray | None = None
    prefix_len: np.ndarray | None = None
    name: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.arrival)

    @property
    def shares(self) -> bool:
        """Whether any request names a shared prefix (else prefix caching can only reuse a preempted
        request's own blocks)."""
        return self.prefix is not None and bool((self.prefix >= 0).any())

    def take(self, idx: slice | np.ndarray) -> Requests:
        """The requests at `idx` (a replica's share), prefixes kept."""
        pick = lambda a: None if a is None else a[idx]  # noqa: E731
        return Requests(
            self.arrival[idx],
            self.input_tokens[idx],
            self.output_tokens[idx],
            source=self.source,
            prefix=pick(self.prefix),
            prefix_len=pick(self.prefix_len),
            name=pick(self.name),
        )


def _length(rec: dict, field: str, path: str, line: int) -> int:
    names = [n for n in NAMES[field] if n in rec]
    if not names:
        raise HwsimError(f"line {line}: missing {field} (or {NAMES[field][1]})", file=path, field=field)
    if len(names) > 1:  # the first was read and the other dropped
        raise HwsimError(f"line {line}: {' and '.join(names)} both given: keep one", file=path, field=names[1])
    v = rec[names[0]]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 1 <= v <= MAX_TOKENS or v != int(v):  # NaN, inf
        raise HwsimError(
            f"line {line}: must be a positive whole number of tokens (at most 2^31), got {v!r}",
            file=path,
            field=names[0],
        )
    return int(v)


def load_requests(path: str) -> Requests:
    """Read a JSONL request file (blank lines skipped)."""
    text = read_text(path, what="a request file", form="JSON lines")
    arrival, inp, out = [], [], []
    pre, pre_len, own = [], [], []
    codes: dict[object, int] = {}  # prefix names and request ids → codes (one namespace)
    ids: dict[int, int] = {}  # code of a request id → the input + output tokens of that request
    last = -math.inf
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw, object_pairs_hook=json_object)
        except json.JSONDecodeError as exc:
            raise HwsimError(f"line {line}: not a JSON object ({exc.msg})", file=path, field="line") from None
        except ValueError as exc:  # an integer of over 4300 digits
            raise HwsimError(f"line {line}: {value_error(exc)}", file=path, field="line") from None
        except KeyTwice as exc:  # json keeps the last silently; YAML inputs refuse it too
            raise HwsimError(f"line {line}: key {exc.key!r} given twice: keep one", file=path, field=exc.key) from None
        if not isinstance(rec, dict):
            raise HwsimError(
                f"line {line}: expected a JSON object with arrival_time, input_tokens, output_tokens",
                file=path,
                field="line",
            )
        unknown = [k for k in rec if k not in KEYS]
        if unknown:
            raise HwsimError(
                f"line {line}: unknown key {unknown[0]!r}{closest(unknown[0], KEYS)}; allowed: {', '.join(KEYS)}",
                file=path,
                field=unknown[0],
            )
        if "arrival_time" not in rec:
            raise HwsimError(f"line {line}: missing arrival_time (seconds)", file=path, field="arrival_time")
        t = rec["arrival_time"]
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 <= t <= MAX_ARRIVAL_S:
            raise HwsimError(
                f"line {line}: must be a time in [0, {MAX_ARRIVAL_S:.0e}] seconds, got {t!r}",
                file=path,
                field="arrival_time",
            )
        if t < last:
            raise HwsimError(
                f"line {line}: arrivals out of order ({t} after {last}); sort the file by arrival_time",
                file=path,
                field="arrival_time",
            )
        last = t
        arrival.append(float(t))
        inp.append(_length(rec, "input_tokens", path, line))
        out.append(_length(rec, "output_tokens", path, line))
        p, n, i = _sharing(rec, path, line, inp[-1], codes, ids)
        ids.update({i: inp[-1] + out[-1]} if i >= 0 else {})
        pre.append(p)
        pre_len.append(n)
        own.append(i)
    if not arrival:
        raise HwsimError("no requests in the file", file=path, field="requests")
    shared = any(p >= 0 for p in pre) or any(i >= 0 for i in own)
    arr = (lambda v: np.array(v, dtype=np.int64)) if shared else (lambda v: None)
    return Requests(
        np.array(arrival),
        np.array(inp, dtype=np.int64),
        np.array(out, dtype=np.int64),
        source=path,
        prefix=arr(pre),
        prefix_len=arr(pre_len),
        name=arr(own),
    )


def _name(rec: dict, key: str, path: str, line: int) -> object:
    v = rec[key]
    if isinstance(v, bool) or not isinstance(v, (str, int)) or v == "":
        raise HwsimError(f"line {line}: must be a non-empty string or an integer, got {v!r}", file=path, field=key)
    return v


def _sharing(rec: dict, path: str, line: int, prompt: int, codes: dict, ids: dict) -> tuple[int, int, int]:
    """(prefix code, prefix_len, own id code) of one request line; -1, 0, -1 where absent."""
    if ("prefix" in rec) != ("prefix_len" in rec):
        miss = "prefix_len" if "prefix" in rec else "prefix"
        raise HwsimError(
            f"line {line}: `prefix` and `prefix_len` go together; {miss} is missing", file=path, field=miss
        )
    p, n, i = -1, 0, -1
    if "prefix" in rec:
        p = codes.setdefault(_name(rec, "prefix", path, line), len(codes))
        n = rec["prefix_len"]
        if isinstance(n, bool) or not isinstance(n, (int, float)) or not 1 <= n <= prompt or n != int(n):
            raise HwsimError(
                f"line {line}: must be a whole number of tokens from 1 to the prompt's {prompt}, got {n!r}",
                file=path,
                field="prefix_len",
            )
        n = int(n)
        if p in ids and n > ids[p]:
            raise HwsimError(
                f"line {line}: request {rec['prefix']!r} has {ids[p]} tokens (input + output), fewer than "
                f"prefix_len {n}",
                file=path,
                field="prefix_len",
            )
    if "id" in rec:
        key = _name(rec, "id", path, line)
        if key in codes:
            raise HwsimError(
                f"line {line}: id {key!r} was used before (as an id or a prefix name): ids must be new",
                file=path,
                field="id",
            )
        i = codes.setdefault(key, len(codes))
    return p, n, i


# --- generated streams ---------------------------------------------------------------------------------
DISTRIBUTIONS = "N (fixed), uniform:LO:HI, lognormal:MEDIAN:SIGMA (ShareGPT-like spread)"


def _lengths(spec: str, n: int, rng: np.random.Generator, field: str) -> np.ndarray:
    parts = str(spec).split(":")
    try:
        nums = [float(p) for p in parts[1:]] if len(parts) > 1 else [float(parts[0])]
    except ValueError:
        nums = []
    kind = parts[0] if len(parts) > 1 else "fixed"
    ok = {"fixed": 1, "uniform": 2, "lognormal": 2}.get(kind) == len(nums) and all(map(math.isfinite, nums))
    if not ok or any(v <= 0 for v in nums[:1]) or (kind == "uniform" and nums[1] < nums[0]):
        raise HwsimError(f"expected {DISTRIBUTIONS} with positive values, got {spec!r}", field=field)
    if kind != "lognormal" and not all(v == int(v) and v <= MAX_TOKENS for v in nums):
        # 5.5 was rounded to 6 and uniform:1.5:9.9 cut to 1..9 silently, 10^12 clipped to 2^31
        raise HwsimError(
            f"token counts of {kind} lengths must be whole numbers of at most 2^31, got {spec!r}", field=field
        )
    if kind == "fixed":
        x = np.full(n, nums[0])
    elif kind == "uniform":
        x = rng.integers(int(nums[0]), int(nums[1]) + 1, size=n)
    else:
        if nums[1] < 0:
            raise HwsimError(f"lognormal sigma must be ≥ 0, got {nums[1]}", field=field)
        x = rng.lognormal(math.log(nums[0]), nums[1], size=n)
    return np.clip(np.rint(x), 1, 2**31).astype(np.int64)


def poisson_requests(
    rate: float,
    num: int,
    input_len: str = "512",
    output_len: str = "128",
    seed: int = 0,
    shared_prefix: int | None = None,
    prefix_groups: int = 1,
    prefix_fraction: float = 1.0,
) -> Requests:
    """`num` requests with exponential inter-arrival gaps at `rate` requests/s (vLLM's benchmark method);
    rate = inf sends every request at t = 0. Same seed, same stream. With `shared_prefix`, a `prefix_fraction` of
    the requests (drawn with a generator of their own, so arrivals and lengths stay those of the same seed
    without sharing) start with the first min(`shared_prefix`, prompt) tokens of one of `prefix_groups`
    sequences, chosen uniformly."""
    if isinstance(num, bool) or not isinstance(num, (int, np.integer)) or num < 1:
        raise HwsimError(f"must be a positive integer, got {num!r}", field="num")
    if num > MAX_REQUESTS:
        raise HwsimError(
            f"must be at most {MAX_REQUESTS:,} (a replay takes ~1-3 ms a request), got {num:,}", field="num"
        )
    if not (rate > 0):
        raise HwsimError(f"must be a positive number of requests per second (or inf), got {rate!r}", field="rate")
    rng = np.random.default_rng(check_seed(seed))
    gaps = np.zeros(num) if math.isinf(rate) else rng.exponential(1.0 / rate, size=num)
    arrival = np.cumsum(gaps) - gaps[0]  # the first request arrives at t = 0
    if arrival[-1] > MAX_ARRIVAL_S:
        raise HwsimError(
            f"{num} requests at {rate:g}/s arrive over {arrival[-1]:.3g} s, beyond {MAX_ARRIVAL_S:.0e} s "
            "(times there lose the microseconds of a decode step): give a higher rate",
            field="rate",
        )
    inp = _lengths(input_len, num, rng, "input_len")
    out = _lengths(output_len, num, rng, "output_len")
    source = f"poisson(rate={rate}, n={num}, seed={seed})"
    if shared_prefix is None:
        return Requests(arrival, inp, out, source=source)
    for v, field, ok in (
        (shared_prefix, "shared_prefix", lambda v: 1 <= v <= MAX_TOKENS),
        (prefix_groups, "prefix_groups", lambda v: 1 <= v <= num),
    ):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not ok(v):
            limit = "2^31 tokens" if field == "shared_prefix" else f"the {num} requests"
            raise HwsimError(f"must be a positive integer of at most {limit}, got {v!r}", field=field)
    if not 0 < prefix_fraction <= 1:
        raise HwsimError(f"must lie in (0, 1], got {prefix_fraction!r}", field="prefix_fraction")
    share_rng = np.random.default_rng([check_seed(seed), 1])  # apart from the stream's own draws
    sharing = share_rng.random(num) < prefix_fraction
    group = share_rng.integers(0, prefix_groups, size=num)
    return Requests(
        arrival,
        inp,
        out,
        source=f"{source[:-1]}, shared_prefix={shared_prefix} × {prefix_groups} on {prefix_fraction:g})",
        prefix=np.where(sharing, group, -1).astype(np.int64),
        prefix_len=np.where(sharing, np.minimum(inp, shared_prefix), 0).astype(np.int64),
        name=np.full(num, -1, dtype=np.int64),
    )
