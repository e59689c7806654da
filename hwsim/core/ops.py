"""Ops as numpy columns, and the bytes each operand occupies at a given precision.

The engine reads the documented Trace.ops columns once into arrays so families compute with
broadcasting (ops along the last axis, design points along the first) and never loop per op.
Operand roles: A = activations in, B = weights (linear, embedding) or KV (attention), C = output.
"""

from __future__ import annotations

import functools
import math
import numbers
import sys
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np

from hwsim.core.precision import OperandType, ResolvedPrecision
from hwsim.errors import HwsimError
from hwsim.workload.trace import INT_COLUMNS  # the trace's count columns: the engine reads them as floats

if TYPE_CHECKING:  # pandas loads with the first table, not with the engine (a cold CLI run costs a Trace)
    from collections.abc import Iterable

    import pandas as pd

KINDS = ("embedding", "linear", "attention", "elementwise")


ATTN_FUSED = "attn_fused"  # the op role of one fused attention kernel (docs/interfaces.md)


def shape_of(x: Any) -> tuple:
    """np.shape(x), an array's own shape read without np.shape's dispatch (~0.1 µs a call on the one-op path)."""
    return x.shape if type(x) is np.ndarray else np.shape(x)


def column_array(column: Any, dtype: Any = None) -> np.ndarray:
    """A column of a DataFrame (its own to_numpy: strings as objects) or an array, as a numpy array."""
    return column.to_numpy(dtype=dtype) if hasattr(column, "to_numpy") else np.asarray(column, dtype=dtype)


def table_columns(table: Any, names: tuple[str, ...], dtype: Any = None) -> list[np.ndarray]:
    """Columns `names` of an ops table (a DataFrame, or a mapping of name → array) as numpy arrays, each as
    `table[name].to_numpy(dtype)` gives it, converted alike. A DataFrame's columns are read straight from its
    blocks (DataFrame._get_column_array, a pandas-internal method: ~0.5 µs a column where `df[name]` builds
    a Series, ~7 µs; a one-GEMM cost() reads 14 columns): a numpy column through np.asarray (a no-copy
    result as a read-only view, as Series.to_numpy makes it), an extension column (pandas' strings) through
    its own to_numpy, as Series.to_numpy does. Anything else (other stored arrays, a table without that
    method or with repeated column names) goes through `table[name]`. Every call reads the table anew: a
    DataFrame may be edited between calls."""
    get = getattr(table, "_get_column_array", None)
    index = getattr(table, "columns", None)
    if get is None or index is None or not index.is_unique:
        return [column_array(table[c], dtype) for c in names]
    out = []
    want = None if dtype is None else np.dtype(dtype)  # compared as a dtype (against a type it costs ~0.15 µs)
    for c in names:
        i = index.get_loc(c)
        arr = get(i) if type(i) is int else None
        if (
            type(arr) is np.ndarray
            and arr.ndim == 1
            and want is not None
            and arr.dtype is not want
            and arr.dtype != want
        ):
            got = arr.astype(dtype)  # a converted copy (np.asarray's cast, with less overhead)
        elif type(arr) is np.ndarray and arr.ndim == 1:
            got = np.asarray(arr, dtype=dtype)
            if got is arr or (got.base is not None and np.shares_memory(arr, got)):
                got = got.view()
                got.setflags(write=False)
        elif dtype is None and arr is not None and _plain_arrow_strings(arr):
            got = arr._pa_array.to_numpy()  # what its to_numpy() returns here, without its checks (~2 µs a column)
        elif arr is not None and not isinstance(arr.dtype, np.dtype) and hasattr(arr, "to_numpy"):
            got = arr.to_numpy(dtype=dtype)  # an extension array (Series.to_numpy: self.array.to_numpy(dtype))
        else:
            got = column_array(table[c], dtype)
        out.append(got)
    return out


def _plain_arrow_strings(arr: Any) -> bool:
    """Whether `arr` is pandas' Arrow-backed strings with no missing value and ArrowExtensionArray's own
    to_numpy, which then returns its pyarrow array's to_numpy() (pandas 2.x-3.x; the pandas-internal
    `_hasna` and `_pa_array` read with fallbacks: anything else goes through to_numpy)."""
    if getattr(type(arr), "to_numpy", None) is not _arrow_to_numpy():
        return False
    return getattr(arr, "_hasna", True) is False and str(getattr(getattr(arr, "_pa_array", None), "type", "")) in (
        "string",
        "large_string",
    )


@functools.cache
def _arrow_to_numpy_of(pd: Any) -> Any:
    arrow = getattr(getattr(pd, "arrays", None), "ArrowExtensionArray", None)
    return getattr(arrow, "to_numpy", _NONE)


_NONE = object()  # matches no class's to_numpy


def _arrow_to_numpy() -> Any:
    """ArrowExtensionArray.to_numpy of the loaded pandas (looked up once per pandas module), else a sentinel."""
    pd = sys.modules.get("pandas")
    return _NONE if pd is None else _arrow_to_numpy_of(pd)


# optional ops-table columns: the key and value rows (elements per token and KV head) of the cache an op reads or
# writes (hwsim.engine.cost.kv_row_columns; OpColumns.kv_rows)
KV_ROWS = ("kv_key_row", "kv_value_row")


@dataclass(frozen=True)
class OpColumns:
    name: np.ndarray
    kind: np.ndarray
    m: np.ndarray
    n: np.ndarray
    k: np.ndarray
    count: np.ndarray
    macs: np.ndarray
    vector_ops: np.ndarray
    weight_elems: np.ndarray
    act_in_elems: np.ndarray
    act_out_elems: np.ndarray
    kv_read_elems: np.ndarray
    kv_write_elems: np.ndarray
    op: np.ndarray | None = None  # role column (e.g. attn_fused) when the table has one
    # (ops, 2): the key and value rows (elements per token and KV head) of the cache each op reads or writes, where a
    # Trace's model says (hwsim.workload.kv.rows; 0, 0 elsewhere); None for a bare ops table (kv_bits)
    kv_rows: np.ndarray | None = None

    def kv_bits(self, kv: OperandType) -> float | np.ndarray:
        """Storage bits per KV element of each op at the KV format `kv` (one number for all where its groups
        fit every cache row): a format with a scale per group along each row costs more bits on rows that are
        not a whole number of groups (head_dim 64 at int4_g128: 4.25, OperandType.bits_on_rows)."""
        rows = self.kv_rows
        if rows is None or not kv.row_scaled or kv.group_size is None:
            return kv.bits
        if self._gcd_once("_kv_rows_gcd", lambda: rows.ravel()) % kv.group_size == 0:
            return kv.bits
        return kv.bits_on_rows(rows[:, 0], rows[:, 1])

    def act_bits(self, act: OperandType) -> float | np.ndarray:
        """Storage bits per element of the activations each op reads (A) at the format `act` (one number for all
        where its groups fit): the quantizer groups a linear's input along K (hwsim.accuracy), so a group-scaled
        format on a K that is not a whole number of groups costs the scales those rows hold
        (OperandType.bits_along); the other ops' activations at its bits."""
        if not act.row_scaled or act.group_size is None or not self.has("linear"):
            return act.bits
        if self._rows_gcd("_linear_k_gcd", False) % act.group_size == 0:
            return act.bits
        return np.where(self.is_kind("linear"), act.bits_along(np.maximum(self.k, 1.0)), act.bits)

    def weight_bits(self, w: OperandType) -> float | np.ndarray:
        """Storage bits per element of the weights each op reads (B of a linear or embedding) at the format `w` (one
        number for all where its groups fit): the quantizer groups an out × in weight along its input axis, K, per
        output row, and a token table along its rows of n (hwsim.accuracy quantizes every weight along its last
        axis; GPTQ/AWQ checkpoints alike: ceil(K/g) scales per output row), so a group-scaled format on rows that
        are not whole groups costs the scales those rows hold (OperandType.bits_along, the rule of act_bits and
        kv_bits); other ops' B (the KV cache: kv_bits) is not priced here. A linear's bias (weight_elems beyond its
        k × n × count) and other ops' weights (norms) are not grouped: at the format's bits, as the footprint
        stores them (hwsim.engine.cost.weight_rows)."""
        if not w.row_scaled or w.group_size is None or not (self.has("linear") or self.has("embedding")):
            return w.bits
        if self._rows_gcd("_weight_row_gcd", True) % w.group_size == 0:
            return w.bits
        along = w.bits_along(self._weight_rows())
        linear, emb = self.is_kind("linear"), self.is_embedding
        grouped = self.k * self.n * self.count  # a linear's weight, its bias aside
        biased = linear & (grouped < self.weight_elems)
        if biased.any():  # the bias's elements at the format's bits: the op's mean bits
            share = grouped / np.maximum(self.weight_elems, 1.0)
            along = np.where(biased, w.bits + (along - w.bits) * share, along)
        return np.where(linear | emb, along, w.bits)

    def _weight_rows(self) -> np.ndarray:
        """Each op's weight row length: n for an embedding (a gathered row of its table), else K (at least 1)."""
        return np.maximum(np.where(self.is_embedding, self.n, self.k), 1.0)

    def _rows_gcd(self, key: str, embeddings: bool) -> int:
        """The common divisor of the linear ops' K (and, with `embeddings`, the embedding rows' n), once per
        OpColumns (kept under `key`): a group size dividing it fits every row."""

        def rows() -> np.ndarray:
            if self.only("linear"):  # a GEMM table (the one-GEMM cost() hot path): no mask to build
                return self.k
            if embeddings and self.has("embedding"):
                return self._weight_rows()[self.is_kind("linear") | self.is_embedding]
            return self.k[self.is_kind("linear")]

        return self._gcd_once(key, rows)

    def _gcd_once(self, key: str, rows: Callable[[], np.ndarray]) -> int:
        """The greatest common divisor of the row lengths `rows()` gives (0: none), computed once per OpColumns and
        kept under `key`: a group size dividing it fits every row."""
        g = self.__dict__.get(key)
        if g is None:
            g = self.__dict__[key] = int(np.gcd.reduce(rows().astype(np.int64)))
        return g

    def fused_attention(self) -> np.ndarray:
        """Rows that are one fused attention kernel (`attn_fused`); a table without an op column has none.
        Kept per OpColumns (read-only), as the kind masks below."""
        got = self.__dict__.get("_fused_attention")
        if got is None:
            got = np.zeros(len(self), dtype=bool) if self.op is None else self.op == ATTN_FUSED
            self.__dict__["_fused_attention"] = got = _read_only(got)  # beside the frozen fields
        return got

    @classmethod
    def from_frame(cls, df: "pd.DataFrame | Mapping[str, Any]") -> "OpColumns":
        """The columns of an ops table: a DataFrame, or a mapping of column name → array (a Trace's own,
        Trace.op_arrays, read without building its DataFrame)."""
        have = getattr(df, "columns", df)  # a DataFrame's column index answers `in` without its overhead
        try:
            cols = dict(zip(INT_COLUMNS, table_columns(df, INT_COLUMNS, np.float64)))
            name, kind, *op = table_columns(df, ("name", "kind", "op") if "op" in have else ("name", "kind"))
        except KeyError:
            missing = [c for c in ("name", "kind", *INT_COLUMNS) if c not in have]
            if missing:
                raise HwsimError(f"ops table lacks columns {missing}", field="trace") from None
            raise
        kind = kind.astype(str)
        _check_counts(cols)
        present = set(kind.tolist())
        unknown = present.difference(KINDS)
        if unknown:
            raise HwsimError(f"ops table has kind {sorted(unknown)[0]!r}; allowed: {', '.join(KINDS)}", field="trace")
        # the instance as the frozen dataclass's __init__ builds it (every field set, no __post_init__), without
        # its object.__setattr__ per field (~2 µs on a call that reads a bare table every time)
        got = object.__new__(cls)
        rows = None
        if KV_ROWS[0] in have:  # the cache rows a Trace's model gives its ops (hwsim.engine.cost.kv_row_columns)
            rows = np.column_stack(table_columns(df, KV_ROWS, np.float64))
        got.__dict__.update(name=name, kind=kind, **cols, op=op[0].astype(str) if op else None, kv_rows=rows)
        got.__dict__["_kinds"] = frozenset(present)  # the check's set, kept (OpColumns.kinds)
        return got

    def __len__(self) -> int:
        return len(self.m)

    def take(self, rows: np.ndarray | slice) -> "OpColumns":
        """The ops at `rows` (a boolean mask or indices), every column alike."""
        cols: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            cols[f.name] = None if v is None else v[rows]
        return replace(self, **cols)

    # Masks the engine and the families ask for several times a call, computed once per OpColumns (read-only:
    # shared by every caller).
    @property
    def kinds(self) -> frozenset:
        """The op kinds present, kept per OpColumns (from_frame keeps the set its check built): a mask of a
        kind no op has, or that every op has, needs no comparison, and a step whose mask selects every op or
        none can take the values np.where would pick (has, only)."""
        got = self.__dict__.get("_kinds")
        if got is None:
            got = self.__dict__["_kinds"] = frozenset(self.kind.tolist())
        return got

    def has(self, kind: str) -> bool:
        """Whether any op is of `kind`."""
        return kind in self.kinds

    def only(self, *kinds: str) -> bool:
        """Whether every op is of one of `kinds` (True for no ops, as np.all of an empty mask)."""
        return self.kinds.issubset(kinds)

    def is_kind(self, kind: str) -> np.ndarray:
        masks = self.__dict__.setdefault("_kind_masks", {})  # beside the frozen fields, not one of them
        got = masks.get(kind)
        if got is None:
            if kind not in self.kinds:  # the comparison's values without it: no op, or every op, of that kind
                got = np.zeros(len(self), dtype=bool)
            elif len(self.kinds) == 1:
                got = np.ones(len(self), dtype=bool)
            else:
                got = self.kind == kind
            got = masks[kind] = _read_only(got)
        return got

    @property
    def is_attention(self) -> np.ndarray:
        """Attention ops (their B operand is the KV cache)."""
        return self.is_kind("attention")

    @property
    def is_embedding(self) -> np.ndarray:
        return self.is_kind("embedding")

    @property
    def gemm(self) -> np.ndarray:
        """Ops that run on a MAC/dot-product array (linear and attention). Kept beside the fields, as the kind
        masks (a plain __dict__ slot: functools.cached_property takes a lock on Python 3.11, ~1 µs)."""
        got = self.__dict__.get("_gemm")
        if got is None:
            if self.only("linear", "attention"):  # every op (the values of the | below)
                got = np.ones(len(self), dtype=bool)
            else:
                got = self.is_kind("linear") | self.is_attention
            self.__dict__["_gemm"] = got = _read_only(got)
        return got

    @property
    def single(self) -> bool:
        """Whether every op runs one instance (count <= 1: np.maximum(count, 1.0) is all ones, so a value per
        instance is the op's value: x / 1.0 is x, bit for bit). Kept beside the fields."""
        got = self.__dict__.get("_single")
        if got is None:
            got = self.__dict__["_single"] = not np.count_nonzero(self.count > 1.0)
        return got


def _check_counts(cols: dict[str, np.ndarray]) -> None:
    """Refuse a count column holding NaN, inf or a negative value (a hand-made table would cost to NaN or
    negative cycles): one comparison over all of them (NaN compares false), on the columns end to end."""
    counts = np.concatenate(list(cols.values()))  # ~0.3 µs less than stacking them into rows
    ok = (counts >= 0) & (counts < np.inf)
    if np.count_nonzero(ok) != ok.size:  # not ok.all(), cheaper
        counts = counts.reshape(len(cols), -1)  # column by row (every column has the table's length)
        col, row = (int(i) for i in np.argwhere(~ok.reshape(counts.shape))[0])
        raise HwsimError(
            f"ops table column {list(cols)[col]!r} has {float(counts[col, row]):g} at row {row}: counts must be finite and >= 0",
            field="trace",
        )


def _read_only(arr: np.ndarray) -> np.ndarray:
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True)
class OperandBytes:
    """Bytes of A, B, C per op in off-chip memory (whole op, all `count` instances)."""

    a: np.ndarray
    b: np.ndarray
    c: np.ndarray
    b_bits: np.ndarray  # bits per element of B (weights or KV) per op


def operand_bytes(ops: OpColumns, prec: ResolvedPrecision) -> OperandBytes:
    """Bytes per operand. B is weights for linear/embedding ops and the KV cache for attention.

    Weight bytes are ceil(elems·bits/8) per op (for Llama shapes this equals BitMoD's per-row
    ceil(cin·bits/8)·cout exactly, since cin·bits is a whole number of bytes). New K/V written to the
    cache (kv_write_elems) count as output bytes of the op that produces them.
    """
    a_bits, w_bits, kv_bits = prec.activations.bits, ops.weight_bits(prec.weights), ops.kv_bits(prec.kv)
    if ops.has("attention") or ops.has("embedding") or type(w_bits) is not float:
        att, emb = ops.is_attention, ops.is_embedding
        b_bits = np.where(att, kv_bits, w_bits)
        # embedding reads only the gathered rows of its table (act_out elements), not the whole table
        b_elems = np.where(att, ops.kv_read_elems, np.where(emb, ops.act_out_elems, ops.weight_elems))
        act_in = np.where(emb, 0.0, ops.act_in_elems)
    else:  # no attention or embedding op: the values the masks above pick, without the np.where calls
        b_bits = np.empty(len(ops))
        b_bits.fill(w_bits)
        b_elems, act_in = ops.weight_elems, ops.act_in_elems
    a = np.ceil(act_in * ops.act_bits(prec.activations) / 8)  # a linear's input on its rows of K
    b = np.ceil(b_elems * b_bits / 8)
    c = np.ceil(ops.act_out_elems * a_bits / 8) + np.ceil(ops.kv_write_elems * kv_bits / 8)
    return OperandBytes(a=a, b=b, c=c, b_bits=b_bits)


def gemm_ops(shapes: Iterable[tuple[str, float, float, float]], kind: str = "linear") -> pd.DataFrame:
    """A hand-made ops table: `shapes` is a list of (name, m, n, k) linear GEMMs (m tokens,
    n outputs, k inputs) in the documented Trace.ops columns. Used by `hwsim simulate --gemm` and tests."""
    import pandas as pd

    rows = []
    for shape in shapes:
        if not isinstance(shape, (tuple, list)) or len(shape) != 4:
            raise HwsimError(f"each shape is (name, m, n, k), got {shape!r:.60}", field="shapes")
        name, m, n, k = shape
        for v, f in ((m, "m"), (n, "n"), (k, "k")):
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) or v < 1 or int(v) != v:
                raise HwsimError(f"{f} must be a positive integer, got {v!r}", field="shapes")
        m, n, k = int(m), int(n), int(k)
        if m * n * k > 2**53:  # counts are int64 and summed in float64: keep them exact
            raise HwsimError(f"too large to count: M·N·K = {m * n * k:.3g} MACs (limit 2^53)", field="shapes")
        rows.append(
            dict(
                name=name,
                layer=-1,
                kind=kind,
                op=name,
                m=m,
                n=n,
                k=k,
                count=1,
                macs=m * n * k,
                vector_ops=0,
                weight_elems=n * k,
                act_in_elems=m * k,
                act_out_elems=m * n,
                kv_read_elems=0,
                kv_write_elems=0,
            )
        )
    if not rows:
        raise HwsimError("give at least one (name, m, n, k)", field="shapes")
    df = pd.DataFrame(rows)
    for c in INT_COLUMNS:
        df[c] = df[c].astype(np.int64)
    return df


def dedupe(df: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Collapse ops with identical shapes (80 identical layers → one row each) for sweeps:
    returns the unique rows and how many times each occurs."""
    key = ["kind", *(["op"] if "op" in df.columns else []), *INT_COLUMNS]  # op: a fused attention row computes apart
    key += [c for c in KV_ROWS if c in df.columns]  # ops on caches of other rows are priced apart (OpColumns.kv_bits)
    grouped = df.groupby(key, sort=True, dropna=False).size().reset_index(name="_mult")
    grouped["name"] = grouped["kind"] + "#" + grouped.index.astype(str)
    return grouped, grouped.pop("_mult").to_numpy(dtype=np.float64)
