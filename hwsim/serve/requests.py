"""Request streams: JSON lines (one request each) or a seeded Poisson stream with length distributions.

A request is (arrival_time s, input_tokens, output_tokens); the file may also name the lengths
`input_toks`/`output_toks`. Arrivals must not go back in time. Every error names the file, the line
and the field.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

from hwsim.errors import HwsimError, check_seed
from hwsim.fileio import read_text

# latest arrival time taken: float64 seconds keep sub-microsecond steps up to ~1e9 s (eps 2.2e-16 × 1e9 ≈ 0.2 µs);
# beyond it, decode steps of microseconds vanish in the sum and TTFT/TPOT read 0 (assumed: about 31 years)
MAX_ARRIVAL_S = 1e9

NAMES = {"input_tokens": ("input_tokens", "input_toks"), "output_tokens": ("output_tokens", "output_toks")}

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

    def __len__(self) -> int:
        return len(self.arrival)


def _length(rec: dict, field: str, path: str, line: int) -> int:
    names = [n for n in NAMES[field] if n in rec]
    if not names:
        raise HwsimError(f"line {line}: missing {field} (or {NAMES[field][1]})", file=path, field=field)
    v = rec[names[0]]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v) or v < 1 or v > MAX_TOKENS:
        raise HwsimError(
            f"line {line}: must be a positive whole number of tokens (at most 2^31), got {v!r}",
            file=path,
            field=names[0],
        )
    return int(v)


class _Repeated(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _no_repeats(pairs: list[tuple[str, object]]) -> dict:
    out: dict = {}
    for k, v in pairs:
        if k in out:
            raise _Repeated(k)
        out[k] = v
    return out


def load_requests(path: str) -> Requests:
    """Read a JSONL request file (blank lines skipped)."""
    text = read_text(path, what="request file")
    arrival, inp, out = [], [], []
    last = -math.inf
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw, object_pairs_hook=_no_repeats)
        except json.JSONDecodeError as exc:
            raise HwsimError(f"line {line}: not a JSON object ({exc.msg})", file=path, field="line") from None
        except _Repeated as exc:  # json keeps the last silently; YAML inputs refuse it too
            raise HwsimError(f"line {line}: key {exc.key!r} given twice: keep one", file=path, field=exc.key) from None
        if not isinstance(rec, dict):
            raise HwsimError(
                f"line {line}: expected a JSON object with arrival_time, input_tokens, output_tokens",
                file=path,
                field="line",
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
    if not arrival:
        raise HwsimError("no requests in the file", file=path, field="requests")
    return Requests(np.array(arrival), np.array(inp, dtype=np.int64), np.array(out, dtype=np.int64), source=path)


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


def poisson_requests(rate: float, num: int, input_len: str = "512", output_len: str = "128", seed: int = 0) -> Requests:
    """`num` requests with exponential inter-arrival gaps at `rate` requests/s (vLLM's benchmark method);
    rate = inf sends every request at t = 0. Same seed, same stream."""
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
    return Requests(
        arrival,
        _lengths(input_len, num, rng, "input_len"),
        _lengths(output_len, num, rng, "output_len"),
        source=f"poisson(rate={rate}, n={num}, seed={seed})",
    )
