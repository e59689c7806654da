"""Calibrate a GPU preset's fitted fields (hwsim.families.gpu.FITTED) on measured kernel times.

Measurements: a CSV with one row per timed kernel (what benchmarks/gpu_microbench.py writes):
`kind, M, N, K, dtype, seconds` and, per kind, more columns (MEASURE_KINDS). Every other column is
kept (for `--holdout-column`). Each kind is costed as the kernel that was timed, at the precision
the row names; datasheet fields are never touched.

Fit: staged, one kernel class at a time (STAGES), each a bounded box search that minimises the mean
absolute log-ratio of predicted to measured time over the training rows: a grid over the class's
parameters evaluated in one vectorised engine call, then the box shrinks around the best point
(deterministic, no seed needed). A stage without training rows keeps the preset's values.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from hwsim.core.ops import INT_COLUMNS, OpColumns, gemm_ops
from hwsim.core.precision import Precision, ResolvedPrecision, resolve_precision
from hwsim.core.spec import Accelerator
from hwsim.engine.cost import cost_columns
from hwsim.engine.machine import configure
from hwsim.errors import HwsimError, closest
from hwsim.families.gpu.model import BACKING, fitted_path
from hwsim.fileio import os_reason, input_path

REQUIRED = ("kind", "M", "N", "K", "dtype", "seconds")
# kind → (extra required columns, what the row is)
MEASURE_KINDS = {
    "gemm": ((), "dense GEMM, X (M×K) by W (N×K), both operands in dtype"),
    "gemm_wonly_gemv": (
        ("weights",),
        "weight-only GEMM, GEMV-style kernel (tinygemm): dtype activations, weights format",
    ),
    "gemm_wonly_marlin": (("weights",), "weight-only GEMM, Marlin-style kernel: dtype activations, weights format"),
    "attn_prefill_causal": (("batch", "heads", "kv_heads"), "causal fused attention: M = N = tokens, K = head dim"),
    "attn_decode": (("batch", "heads", "kv_heads"), "fused attention of M new tokens over N keys, K = head dim"),
    "copy": ((), "device-to-device copy of N bytes (read + write)"),
}
DTYPES = ("bf16", "fp16", "fp8_e4m3", "fp8_e5m2", "int8", "fp32", "u8")
SOFTMAX_OPS = 5  # elementwise operations per score (hwsim.workload.trace VECTOR_OPS["softmax"])


@dataclass(frozen=True)
class Param:
    path: str
    lo: float
    hi: float
    log: bool = False  # search in log space (rates spanning decades)


# keyed by hwsim.families.gpu.FITTED's paths ({backing}: the off-chip level, which fit() sets under the
# preset's own name for it, fitted_path). Physically possible ranges: efficiencies are fractions of a peak;
# fixed times below 200 µs (a kernel launch is ~2–10 µs, a CUDA-event timing floor ~20 µs); an SM streams
# at most its L1's 128 B/clock (NVIDIA A100/H100 whitepapers: 128 B/clk/SM L1 load bandwidth)
PARAMS = {
    p.path: p
    for p in (
        Param("compute.compute_efficiency", 0.05, 1.0),
        Param(f"memory.{BACKING}.efficiency", 0.05, 1.0),
        Param("compute.launch_overhead", 0.0, 200e-6),
        Param("compute.compute_efficiency_8bit", 0.05, 1.0),
        Param("compute.overhead_8bit", 0.0, 200e-6),
        Param("compute.gemv_efficiency", 0.01, 1.0),
        Param("compute.gemv_overhead", 0.0, 200e-6),
        Param("compute.sm_bandwidth", 1.0, 128.0, log=True),
    )
}


@dataclass(frozen=True)
class Stage:
    name: str
    params: tuple[str, ...]
    kinds: tuple[str, ...]
    narrow: bool | None = None  # gemm rows: 8-bit-or-narrower dtypes only (True), 16/32-bit only (False)


STAGES = (
    Stage(
        "dense 16-bit GEMM",
        ("compute.compute_efficiency", f"memory.{BACKING}.efficiency", "compute.launch_overhead"),
        ("gemm",),
        narrow=False,
    ),
    Stage("8-bit GEMM", ("compute.compute_efficiency_8bit", "compute.overhead_8bit"), ("gemm",), narrow=True),
    Stage("weight-only GEMV", ("compute.gemv_efficiency", "compute.gemv_overhead"), ("gemm_wonly_gemv",)),
    Stage("decode attention", ("compute.sm_bandwidth",), ("attn_decode",)),
)


@dataclass
class Group:
    """Rows of one kind and precision, as one ops table."""

    kind: str
    rows: np.ndarray  # positions in the measurement frame
    ops: OpColumns
    prec: ResolvedPrecision
    overrides: dict = field(default_factory=dict)


def _narrow(dtype: str) -> bool:
    return dtype in ("fp8_e4m3", "fp8_e5m2", "int8", "u8")


def _attention_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """Fused attention rows (docs/interfaces.md): one GEMM instance per (sequence, KV head), its query
    rows the M new tokens of every head sharing that KV head."""
    b, h, kvh = (rows[c].to_numpy(np.int64) for c in ("batch", "heads", "kv_heads"))
    t, keys, d = (rows[c].to_numpy(np.int64) for c in ("M", "N", "K"))
    count, m = b * kvh, t * h // kvh
    df = pd.DataFrame(
        {
            "name": [f"attn_{i}" for i in range(len(rows))],
            "layer": 0,
            "kind": "attention",
            "op": "attn_fused",
            "m": m,
            "n": d,
            "k": keys,
            "count": count,
            "macs": count * m * keys * 2 * d,
            "vector_ops": SOFTMAX_OPS * count * m * keys,
            "weight_elems": 0,
            "act_in_elems": count * m * d,
            "act_out_elems": count * m * d,
            "kv_read_elems": count * keys * 2 * d,
            "kv_write_elems": 0,
        }
    )
    return df


def _copy_frame(rows: pd.DataFrame) -> pd.DataFrame:
    n = rows["N"].to_numpy(np.int64)
    df = gemm_ops([(f"copy_{i}", 1, 1, 1) for i in range(len(rows))])
    df["kind"], df["m"], df["n"], df["k"], df["macs"] = "elementwise", 1, n, 1, 0
    df["weight_elems"], df["act_in_elems"], df["act_out_elems"] = 0, n, n
    return df


def _groups(df: pd.DataFrame) -> list[Group]:
    out = []
    keys = ["kind", "dtype"] + (["weights"] if "weights" in df.columns else [])
    for key, rows in df.groupby(keys, sort=True, dropna=False):
        kind, dtype = key[0], key[1]
        wfmt = key[2] if len(key) > 2 else None
        idx = rows.index.to_numpy()
        over: dict = {}
        if kind == "copy":
            frame, prec = _copy_frame(rows), Precision(weights=8, activations=8, kv=8)
        elif kind.startswith("attn"):
            frame, prec = _attention_frame(rows), Precision(weights=dtype, activations=dtype, kv=dtype)
            if kind == "attn_decode":
                over["compute.attention_split_kv"] = False  # torch SDPA: one CTA per query block, no split
        else:
            frame = gemm_ops([(f"g{i}", m, n, k) for i, m, n, k in zip(idx, rows["M"], rows["N"], rows["K"])])
            if kind == "gemm":
                prec = Precision(weights=dtype, activations=dtype, kv=dtype)
            else:
                prec = Precision(weights=wfmt, activations=dtype, kv=dtype)
                over["compute.weight_only_kernel"] = kind.rsplit("_", 1)[1]
        for c in INT_COLUMNS:
            frame[c] = frame[c].astype(np.int64)
        out.append(Group(kind, idx, OpColumns.from_frame(frame), resolve_precision(prec), over))
    return out


def read_measurements(path: str | Path) -> pd.DataFrame:
    """A measurements CSV, validated (one-line errors naming the file and column)."""
    path = input_path(path, field="measurements")
    try:
        df = pd.read_csv(path)
    except FileNotFoundError:
        raise HwsimError("no such file", file=path) from None
    except OSError as exc:  # a folder, no permission
        raise HwsimError(f"cannot read: {os_reason(exc)}", file=path) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise HwsimError(f"not a readable CSV ({type(exc).__name__})", file=path) from None
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise HwsimError(
            f"missing column(s) {', '.join(missing)} (need {', '.join(REQUIRED)})", file=path, field=missing[0]
        )
    if df.empty:  # it 'fitted 0 field(s) on 0 of 0 rows' and wrote the preset unchanged as calibrated
        raise HwsimError("no measurement rows (a header only)", file=path)
    unknown = sorted(set(df["kind"].astype(str)) - set(MEASURE_KINDS))
    if unknown:
        raise HwsimError(f"unknown kind {unknown[0]!r} (allowed: {', '.join(MEASURE_KINDS)})", file=path, field="kind")
    bad = sorted(set(df["dtype"].astype(str)) - set(DTYPES))
    if bad:
        raise HwsimError(f"unknown dtype {bad[0]!r} (allowed: {', '.join(DTYPES)})", file=path, field="dtype")
    sec = pd.to_numeric(df["seconds"], errors="coerce")
    if not (np.isfinite(sec) & (sec > 0)).all():
        i = int(np.flatnonzero(~(np.isfinite(sec) & (sec > 0)))[0])
        raise HwsimError(
            f"row {i + 2}: times must be positive numbers of seconds, got {df['seconds'].iloc[i]}",
            file=path,
            field="seconds",
        )
    df["seconds"] = sec.astype(np.float64)
    for kind, (extra, _) in MEASURE_KINDS.items():
        rows = df[df["kind"] == kind]
        if rows.empty:
            continue
        for col in extra:
            if col not in df.columns or rows[col].isna().any():
                raise HwsimError(f"kind {kind} needs column {col!r}", file=path, field=col)
        dims = ("N",) if kind == "copy" else ("M", "N", "K")
        for col in dims + tuple(c for c in extra if c != "weights"):
            v = pd.to_numeric(rows[col], errors="coerce")
            if not ((v >= 1) & (v == np.floor(v))).all():
                raise HwsimError(f"kind {kind}: {col} must be positive integers", file=path, field=col)
    for kind in ("gemm_wonly_gemv", "gemm_wonly_marlin"):
        for w in df.loc[df["kind"] == kind, "weights"].astype(str).unique() if (df["kind"] == kind).any() else ():
            try:
                resolve_precision(Precision(weights=w))
            except HwsimError:
                raise HwsimError(
                    f"unknown weights format {w!r} (a hwsim format name, e.g. int4_g128)", file=path, field="weights"
                ) from None
    return df.reset_index(drop=True)


def predict(arch: Accelerator, df: pd.DataFrame, values: dict | None = None) -> np.ndarray:
    """Seconds of every measured row on `arch` (with `values`: dotted path → array of candidate values of
    shape (P, 1) → result (P, rows))."""
    groups = _groups(df)
    return _predict(arch, groups, len(df), values)


def _predict(arch: Accelerator, groups: list[Group], n: int, values: dict | None = None) -> np.ndarray:
    values = values or {}
    npts = max((np.shape(v)[0] for v in values.values()), default=None)
    out = np.zeros((npts or 1, n))
    for g in groups:
        point = arch.with_values({**g.overrides, **values})
        out[:, g.rows] = np.broadcast_to(
            cost_columns(configure(point, g.prec), g.ops)["seconds"], (npts or 1, len(g.rows))
        )
    return out if npts else out[0]


def _loss(pred: np.ndarray, meas: np.ndarray) -> np.ndarray:
    return np.mean(np.abs(np.log(pred / meas)), axis=-1)


def _stage_rows(df: pd.DataFrame, st: Stage) -> np.ndarray:
    mask = df["kind"].isin(st.kinds).to_numpy().copy()
    if st.narrow is not None:
        narrow = df["dtype"].astype(str).map(_narrow).to_numpy()
        mask &= np.where(df["kind"] == "gemm", narrow == st.narrow, True)
    return mask


def _box_search(
    arch: Accelerator, groups: list[Group], n: int, meas: np.ndarray, params: list[Param], rounds: int = 14
) -> tuple[dict[str, float], list[str]]:
    """Bounded search: a grid over the box, best point, box shrunk to half around it, repeated."""
    per_dim = {1: 64, 2: 24, 3: 11}[len(params)]
    lo = np.array([np.log(p.lo) if p.log else p.lo for p in params])
    hi = np.array([np.log(p.hi) if p.log else p.hi for p in params])
    blo, bhi = lo.copy(), hi.copy()
    best: tuple[np.ndarray, float] | None = None
    for _ in range(rounds):
        axes = [np.linspace(a, b, per_dim) for a, b in zip(blo, bhi)]
        grid = np.stack([g.ravel() for g in np.meshgrid(*axes, indexing="ij")], axis=1)
        vals = {p.path: (np.exp(grid[:, i]) if p.log else grid[:, i])[:, None] for i, p in enumerate(params)}
        pred = _predict(arch, groups, n, vals)
        loss = _loss(pred, meas)
        i = int(np.nanargmin(loss))
        if best is None or loss[i] <= best[1]:
            best = (grid[i], float(loss[i]))
        width = (bhi - blo) / 4
        blo, bhi = np.maximum(lo, best[0] - width), np.minimum(hi, best[0] + width)
    assert best is not None  # rounds >= 1
    x = best[0]
    fitted = {p.path: float(np.exp(x[i]) if p.log else x[i]) for i, p in enumerate(params)}
    at_bound = [
        p.path
        for i, p in enumerate(params)
        if min(abs(x[i] - lo[i]), abs(x[i] - hi[i])) <= 1e-6 * max(1.0, abs(hi[i] - lo[i]))
        and not (p.lo == 0.0 and x[i] == 0.0)
    ]
    return fitted, at_bound


@dataclass
class Fit:
    values: dict  # dotted path → fitted SI value (only the fields that were fitted)
    skipped: list  # stages with no training rows
    at_bound: list  # fitted fields that ended on a bound of their range
    train: np.ndarray  # mask of training rows
    errors: np.ndarray  # relative error of every row on the fitted arch (pred / measured − 1)


def fit(arch: Accelerator, df: pd.DataFrame, train: np.ndarray, *, file: object = "measurements") -> Fit:
    """Fit the stages in order on the `train` rows; later stages see earlier stages' values."""
    meas = df["seconds"].to_numpy(np.float64)
    values: dict = {}
    skipped, at_bound = [], []
    for st in STAGES:
        paths = [fitted_path(arch, p) for p in st.params]  # the off-chip level under the preset's own name
        rows = _stage_rows(df, st) & train
        if not rows.any():
            skipped.append(st.name)
            continue
        if rows.sum() < len(st.params):
            raise HwsimError(
                f"too few rows to fit {st.name}: {int(rows.sum())} training row(s) for "
                f"{len(st.params)} parameter(s) ({', '.join(paths)})",
                file=file,
                field="kind",
            )
        sub = df[rows].reset_index(drop=True)
        groups = _groups(sub)
        cur = arch.with_values(values)
        got, bound = _box_search(
            cur,
            groups,
            len(sub),
            sub["seconds"].to_numpy(np.float64),
            [replace(PARAMS[p], path=q) for p, q in zip(st.params, paths)],
        )
        values.update(got)
        at_bound += bound
    fitted = arch.with_values(values)
    errors = predict(fitted, df) / meas - 1.0
    return Fit(values=values, skipped=skipped, at_bound=at_bound, train=train, errors=errors)


def holdout_mask(
    df: pd.DataFrame, *, fraction: float | None = None, column: str | None = None, file: object = "measurements"
) -> np.ndarray:
    """Training-row mask: rows where COL == VALUE held out (`column` = "COL=VALUE"), or a deterministic
    `fraction` of each kind held out (every 1/fraction-th row of the kind, by position)."""
    n = len(df)
    if column is not None:
        if "=" not in column:
            raise HwsimError(f"expected COL=VALUE, got {column!r}", field="holdout.column")
        col, val = column.split("=", 1)
        if col not in df.columns:
            raise HwsimError(
                f"no column {col!r} (columns: {', '.join(map(str, df.columns))})", file=file, field="holdout.column"
            )
        held = (df[col].astype(str) == val).to_numpy()
        if not held.any():  # a typo would hold out nothing and report a fit with no held-out check
            seen = sorted(set(df[col].astype(str)))
            raise HwsimError(
                f"no row has {col} = {val}{closest(val, seen)} (values: {', '.join(seen[:12])})",
                file=file,
                field="holdout.column",
            )
        if held.all():
            raise HwsimError(f"every row has {col} = {val}: nothing left to fit", file=file, field="holdout.column")
        return ~held
    if fraction is None or fraction == 0:
        return np.ones(n, dtype=bool)
    if not 0 < fraction < 1:
        raise HwsimError(f"must be in [0, 1), got {fraction!r}", field="holdout.fraction")
    train = np.ones(n, dtype=bool)
    for _, rows in df.groupby("kind", sort=True):
        idx = rows.index.to_numpy()
        k = int(np.floor(len(idx) * fraction))
        if k:  # evenly spread over the kind's rows (shapes are usually listed by size)
            pick = (
                np.unique(np.round(np.linspace(1, len(idx) - 1, k)).astype(int))
                if len(idx) > 1
                else np.array([], dtype=int)
            )
            train[idx[pick]] = False
    return train


def fitted_source(file: str | Path, n: int) -> str:
    """The source line of a fitted field: the file, the rows fitted on and the date (UTC, or the
    SOURCE_DATE_EPOCH of a reproducible run)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = (
        (
            datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc)
            if epoch
            else datetime.datetime.now(datetime.timezone.utc)
        )
        .date()
        .isoformat()
    )
    return f"fitted on {Path(file).name} ({n} rows, {when}) by hwsim calibrate"


def shipped_measurements() -> pd.DataFrame:
    """The H100 kernel times shipped with hwsim (hwsim/data/gpu/h100-sxm-kernels.csv)."""
    with resources.files("hwsim.data").joinpath("gpu/h100-sxm-kernels.csv").open() as fh:
        return read_measurements_frame(pd.read_csv(fh))


def read_measurements_frame(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df["seconds"] = df["seconds"].astype(np.float64)
    return df
