"""The analytical engine: trace × precision × accelerator → CostTable (vectorised over ops and,
through sweep_cost, over design points)."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, TypeVar, cast

import numpy as np

from hwsim.core.spec import Accelerator
from hwsim.engine.attention import as_run, family_view, fold, unfold
from hwsim.engine.machine import (
    Machine,
    OpTraffic,
    configure,
    exposed_cycles,
    fixed_groups,
    op_traffic,
    with_fixed_rows,
)
from hwsim.core.ops import KV_ROWS, OpColumns
from hwsim.arch.loader import as_accelerator
from hwsim.core.precision import OperandType, Precision, operand_type
from hwsim.errors import HwsimError
from hwsim.kept import kept
from hwsim.workload import kv
from hwsim.workload.blocks import MLA_ABSORBED, Attention
from hwsim.workload.layer_ops import FIXED_OPERANDS
from hwsim.workload.trace import Trace

if TYPE_CHECKING:  # pandas loads with the first table a caller asks for (CostTable.ops), not with the engine
    import pandas as pd
    from typing import TypeAlias

    from numpy.typing import ArrayLike

    from hwsim.core.precision import ResolvedPrecision

    TraceLike: TypeAlias = Trace | pd.DataFrame  # a Trace, or a bare ops table in its documented columns
    # what evaluate takes: a Precision (resolved or not), one weight format name or number of bits, None: fp16
    PrecisionLike: TypeAlias = Precision | ResolvedPrecision | str | float | None

T = TypeVar("T")

TOTAL_KEYS = ("cycles", "compute_cycles", "memory_cycles", "seconds", "energy_j", "area_mm2")


def ops_frame(trace: TraceLike) -> pd.DataFrame:
    """The ops DataFrame of a Trace (or the DataFrame itself)."""
    import pandas as pd

    df = trace if isinstance(trace, pd.DataFrame) else trace.ops if hasattr(trace, "ops") else trace
    if not isinstance(df, pd.DataFrame):
        raise HwsimError("expected a Trace or its ops DataFrame", field="trace")
    return df


def family_ops(arch: Accelerator, trace: TraceLike) -> pd.DataFrame:
    """The ops table as `arch` runs it: attention fused or not per the spec's `attention:` setting or the
    family's default (hwsim.engine.attention.as_run)."""
    return ops_frame(as_run(arch, trace))


def op_table(trace: TraceLike) -> pd.DataFrame | Mapping[str, Any]:
    """The ops columns of a Trace without building its DataFrame (Trace.op_arrays), or a bare table itself."""
    return trace.op_arrays() if isinstance(trace, Trace) else ops_frame(trace)


def per_trace(trace: TraceLike, key: str, build: Callable[[Any], T]) -> T:
    """`build(trace)` for a Trace, computed once and kept beside it (its table is not changed after it is
    built: Trace.with_attention caches on the same assumption); for a bare ops table, computed every call
    (it may be edited between calls). Every array in the result is made read-only: later calls share it."""
    if not isinstance(trace, Trace):
        return build(trace)
    return kept(trace, key, lambda: _read_only(build(trace)))


def _read_only(got: T) -> T:
    """`got` (a value or a tuple of them) with every array in it, or in its attributes, made read-only."""
    for part in got if isinstance(got, tuple) else (got,):
        for arr in vars(part).values() if hasattr(part, "__dict__") else (part,):
            if isinstance(arr, np.ndarray):
                arr.setflags(write=False)
    return got


def op_columns(trace: TraceLike) -> OpColumns:
    """The ops of a Trace (or of an ops DataFrame) as OpColumns, read once per Trace (per_trace): reading
    pandas columns costs more than costing a small trace."""
    return per_trace(trace, "_op_columns", _op_columns)


def _op_columns(trace: TraceLike) -> OpColumns:
    rows = kv_row_columns(trace)  # a Trace's: a bare table is read as it is (no copy of its columns)
    return OpColumns.from_frame({**op_table(trace), **rows} if rows else op_table(trace))


def kv_row_columns(trace: TraceLike) -> dict[str, np.ndarray]:
    """hwsim.core.ops.KV_ROWS columns of a Trace's ops: the key and value rows of the cache each op of an attention
    layer reads or writes (hwsim.workload.kv.rows, what a KV format's groups run along; OpColumns.kv_bits). 0 and
    0 elsewhere (so ops of one shape group alike in a sweep's dedupe): ops that touch no cache, layers without attention, DeepSeek-V3.2's index rows (their key at its own format) and the
    non-attention ops of a layer with a parallel SSM. {} for a bare ops table (the format's bits, as before).
    Once per Trace; add them to a Trace's frame before costing it as a table (allocation, sweeps, the cycle
    engine do)."""
    if not isinstance(trace, Trace):
        return {}
    return per_trace(trace, "_kv_row_columns", _kv_rows)


def _kv_rows(trace: Trace) -> dict[str, np.ndarray]:
    table = op_table(trace)
    blocks = trace.model.blocks
    per_layer = np.zeros((len(blocks) + 1, 2))  # the last row: ops outside the layers (layer -1)
    beside_ssm = np.zeros(len(blocks) + 1, dtype=bool)
    for i, block in enumerate(blocks):
        if isinstance(block.mixer, Attention):
            per_layer[i] = kv.rows(block.mixer, trace.mla)
            beside_ssm[i] = block.ssm is not None
    layer = np.asarray(table["layer"])
    at = np.where((layer >= 0) & (layer < len(blocks)), layer, len(blocks))
    rows = per_layer[at]
    off = (np.asarray(table["kv_read_elems"]) == 0) & (np.asarray(table["kv_write_elems"]) == 0)
    if any(isinstance(b.mixer, Attention) and b.mixer.mla and b.mixer.mla.indexer for b in blocks):
        off |= np.isin(np.asarray(table["op"]).astype(str), list(FIXED_OPERANDS))
    if beside_ssm.any():
        off |= beside_ssm[at] & (np.asarray(table["kind"]).astype(str) != "attention")
    rows[off] = 0.0
    return dict(zip(KV_ROWS, (rows[:, 0], rows[:, 1])))


def energy_parts(
    arch: Accelerator, bytes_by_level: dict, compute_energy: ArrayLike, seconds: ArrayLike, shaped: bool = True
) -> dict[str, np.ndarray]:
    """`energy_<part>_j` columns (compute, one per memory level, static) and their sum `energy_j`,
    all broadcast to one shape: the engine's energy rule, shared by the analytical and cycle engines.
    Memory energy = bytes moved × the level's energy per byte; static = seconds × static power.
    `shaped=False`: each as computed, for a caller that broadcasts its columns together (cost_columns)."""
    parts = {"compute": np.asarray(compute_energy, dtype=np.float64)}
    for name, moved in bytes_by_level.items():
        parts[name] = np.asarray(moved, dtype=np.float64) * np.asarray(arch.level(name).energy)
    parts["static"] = np.asarray(seconds, dtype=np.float64) * np.asarray(arch.static_power_w)
    out: dict[str, Any] = {f"energy_{part}_j": e for part, e in parts.items()}
    out["energy_j"] = sum(parts.values())
    if not shaped:
        return out
    shape = common_shape(out.values())
    return {k: _shaped(e, shape) for k, e in out.items()}


def common_shape(values: Iterable[ArrayLike]) -> tuple:
    """The broadcast shape of `values` (np.broadcast_shapes, asked once per distinct shape: usually one)."""
    shapes = {v.shape if type(v) is np.ndarray else np.shape(v) for v in values}  # np.shape costs ~0.15 µs
    return shapes.pop() if len(shapes) == 1 else np.broadcast_shapes(*shapes)


def _shaped(values: ArrayLike, shape: tuple) -> np.ndarray:
    """`values` as a read-only float64 array of `shape` (broadcast when it has fewer dimensions)."""
    if type(values) is np.ndarray and values.dtype is _F64 and values.shape == shape:
        arr = values  # already so (np.asarray would return it)
    else:
        arr = np.asarray(values, dtype=np.float64)
        if arr.shape != shape:
            return np.broadcast_to(arr, shape)
    if arr.flags.writeable:
        arr.setflags(write=False)  # as a broadcast view would be: callers share the engine's columns
    return arr


_F64 = np.dtype(np.float64)


@dataclass(frozen=True)
class Itemised:
    """One part of a table as the engine costed it (explain reconciles with these): the machine, the rows, their
    shared traffic, the compute view and the compute energy terms on it (Family.itemised_energy). `rows`: where
    these rows are in the caller's table (None: every row, those another part re-costs included)."""

    machine: Machine
    ops: OpColumns
    traffic: OpTraffic
    view: OpColumns
    fused: np.ndarray  # the rows of `ops` whose av part the view appends (hwsim.engine.attention.compute_view)
    terms: list
    rows: np.ndarray | None = None


def cost_columns(
    m: Machine, ops: OpColumns, shared: OpTraffic | None = None, itemised: list | None = None
) -> dict[str, np.ndarray]:
    """Every per-op cost column as arrays of one shape: (n_ops,), or (n_points, n_ops) in sweeps
    (a swept field that changes only energy, clock or power still gives every column that shape).
    `shared`: op_traffic(m, ops) when the caller has it already (roofline). `itemised`: a list that
    receives an Itemised of each part costed (explain).
    Rows whose operands have formats of their own (hwsim.engine.machine.fixed_groups) are costed on the machine
    at those formats and put back in place (with_fixed_rows, as the cycle engine, roofline and explain do);
    `shared` describes every row at the machine's precision."""
    cols = cost_rows(m, ops, shared, itemised)
    if not fixed_groups(ops):
        return cols

    def part(pm: Machine, rows: OpColumns, mask: np.ndarray) -> dict[str, np.ndarray]:
        got: list = []
        sub = cost_rows(pm, rows, None, None if itemised is None else got)
        if itemised is not None:
            itemised.extend(replace(i, rows=mask) for i in got)
        return sub

    return with_fixed_rows(m, ops, cols, part)


def cost_rows(
    m: Machine, ops: OpColumns, shared: OpTraffic | None = None, itemised: list | None = None
) -> dict[str, np.ndarray]:
    """cost_columns with every row at the machine's precision (the rows of fixed formats too)."""
    fam, arch, prec = m.family, m.arch, m.prec
    if shared is None:
        shared = op_traffic(m, ops)
    view, fused = family_view(fam, ops)  # a fused attention row computes as its two GEMMs
    # the spilled bytes the traffic counts, computed there once, are the ones the start-up work moves
    view_compute, view_startup = fam.compute_parts(arch, view, prec, unfold(shared.spill, len(ops), fused))
    view_compute = np.asarray(view_compute, dtype=np.float64)
    compute = fold(view_compute, len(ops), fused)
    startup = sum(np.asarray(v, dtype=np.float64) for v in view_startup.values()) if view_startup else 0.0
    startup = fold(startup, len(ops), fused) if getattr(startup, "ndim", 0) else startup  # the start-up work, once
    tr = shared.traffic
    memory = tr.slowest  # memory cycles of an op: its slowest level's
    # the overlap rule both engines share: memory and compute overlap, except the tile pipeline's start-up
    # and drain (hwsim.engine.machine.exposed_cycles)
    to_compute, to_memory = exposed_cycles(m, ops, shared, compute, memory, startup)
    cycles = np.asarray(fam.latency(arch, ops, compute + to_compute, memory + to_memory), dtype=np.float64)
    seconds = cycles / np.asarray(arch.clock_hz)
    cols = {
        "cycles": cycles,
        "compute_cycles": compute,
        "memory_cycles": memory,
        "seconds": seconds,
        **{f"bytes_{name}": moved for name, moved in tr.levels.items()},
    }
    if itemised is None:
        view_energy = fam.compute_energy(arch, view, prec, view_compute)
    else:
        view_energy, terms = fam.itemised_energy(arch, view, prec, view_compute)
        itemised.append(Itemised(m, ops, shared, view, fused, terms))
    compute_energy = fold(view_energy, len(ops), fused)
    cols.update(energy_parts(arch, tr.levels, compute_energy, seconds, shaped=False))  # shaped with the rest
    shape = common_shape(cols.values())
    out = {}
    for k, c in cols.items():  # _shaped, its common case inline (14 columns: ~1.5 µs of calls)
        if type(c) is np.ndarray and c.dtype is _F64 and c.shape == shape:
            if c.flags.writeable:  # (setting the flag on a read-only array costs more than asking)
                c.setflags(write=False)
            out[k] = c
        else:
            out[k] = _shaped(c, shape)
    return out


class CostTable:
    """Per-op costs (`ops` DataFrame) and whole-trace `totals`.

    The engine hands over its per-op arrays (`columns`: name, kind and the cost columns, in table order) and the
    DataFrame is built on first use of `ops`: callers that read only totals (sweeps, allocation, serving, the
    CLI without --json) never pay for a pandas table. Others may pass a finished `ops` frame instead."""

    def __init__(
        self,
        arch: str,
        ops: pd.DataFrame | None = None,
        totals: dict | None = None,
        extra_keys: tuple = (),
        *,
        columns: dict[str, np.ndarray] | None = None,
    ) -> None:
        if (ops is None) == (columns is None):
            raise TypeError("CostTable takes either an ops DataFrame or per-op columns")
        self.arch = arch
        self.totals = {} if totals is None else totals
        self.extra_keys = extra_keys  # family point totals (Family.point_totals), e.g. feasible
        self._frame = ops
        self._columns: dict[str, np.ndarray] = {} if columns is None else columns

    @property
    def ops(self) -> pd.DataFrame:
        if self._frame is None:
            self._frame = ops_table(self._columns)
        return self._frame

    def column(self, name: str) -> np.ndarray:
        """One per-op column as an array, without building the table when it is not built yet."""
        if self._frame is None and name in self._columns:
            return np.asarray(self._columns[name])
        if self._frame is None and name == "bound":
            return bound_of(self._columns["compute_cycles"], self._columns["memory_cycles"])
        return self.ops[name].to_numpy()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(arch={self.arch!r}, totals={self.totals!r})"

    def to_json(self) -> dict:
        """Totals, bytes moved per memory level, the energy split (compute, each level, static) and per-op rows."""
        cols = ["name", "kind", "cycles", "compute_cycles", "memory_cycles", "seconds", "energy_j", "bound"]
        cols += [c for c in ("weights",) if c in self.ops.columns]  # per-op formats of a quantized checkpoint
        levels = {k[len("bytes_") :]: v for k, v in self.totals.items() if k.startswith("bytes_")}
        energy = {
            k[len("energy_") : -len("_j")]: v
            for k, v in self.totals.items()
            if k.startswith("energy_") and k.endswith("_j") and k != "energy_j"
        }
        return {
            "arch": self.arch,
            "totals": {k: self.totals[k] for k in (*TOTAL_KEYS, *self.extra_keys)},
            "bytes_by_level": levels,
            "energy_j_by_part": energy,
            "ops": self.ops[cols].to_dict(orient="records"),
        }


def ops_table(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """The per-op DataFrame of the engine's columns (name, kind, cost columns), with each op's `bound`."""
    import pandas as pd

    frame = pd.DataFrame(columns)
    frame["bound"] = bound_of(columns["compute_cycles"], columns["memory_cycles"])
    return frame


def memory_footprint(
    arch: Accelerator, trace: TraceLike, prec: ResolvedPrecision, ops: OpColumns | None = None
) -> dict:
    """What the backing store must hold for a model trace: every parameter at the weight format's storage
    bits (embeddings and norms included, though deployments often keep those in fp16; a group-scaled format's
    rows that are not whole groups with their scales, weight_row_scale_bytes), the KV cache after
    this step at the KV format, and the step's peak activation working set (`activation_bytes`): the
    residual stream (batch × new tokens × hidden) plus the largest op's input and output activations, with
    attention in the form `arch` runs it (`ops`, else derived): unfused, the score matrix goes through
    memory; fused, it stays on chip. Empty for a bare ops table.
    `fits_memory` compares the sum with the backing level's capacity (unbounded capacity always fits)."""
    model = None if _is_frame(trace) else getattr(trace, "model", None)
    if model is None:
        return {}
    if ops is None:
        ops = op_columns(as_run(arch, trace))
    trace = cast(Trace, trace)  # it has a model: a Trace (no runtime effect)
    live = float(np.max(ops.act_in_elems + ops.act_out_elems, initial=0.0))
    residual = float(trace.batch * trace.seq * model.hidden)
    act = float(np.ceil((live + residual) * prec.activations.bits / 8))
    weights = (
        model.params * prec.weights.bits / 8
        + weight_row_scale_bytes(model, prec.weights)
        + _stored_format_bytes(model, trace, prec.weights)
    )
    need = float(np.ceil(weights) + trace.kv_cache_bytes(prec.kv)) + act  # the cache on its rows (kv.as_bytes)
    return {"footprint_bytes": need, "activation_bytes": act, "fits_memory": need <= np.asarray(arch.backing.capacity)}


def _is_frame(table: object) -> bool:
    """Whether `table` is a DataFrame (without loading pandas; a DataFrame's attribute lookup falls back to
    its columns, ~2.5 µs a miss, so the engine asks this before getattr)."""
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(table, pd.DataFrame)


def weight_rows(model: Any, stage: tuple[int, int] | None = None, pp: int = 1) -> list[tuple[str, int, int]]:
    """(part, row length, elements) of the weights a model stores that a group-scaled format groups along rows
    (the quantizer's rows, OpColumns.weight_bits): each linear's k × n (all its experts) on its rows of K
    (part "layers"); the token tables (positions and token types too, "embed"), Gemma-4's per-layer projection
    (K = hidden), an untied lm_head and an encoder's pooler on rows of hidden. `stage` (layers [a, b) of a pipeline
    of `pp` stages): that stage's layers and the edges it holds as hwsim.serve.shard.stage_params counts them (stage
    0 the tables and projection, the last the head or pooler, and with pp > 1 its own copy of a tied table).
    Biases, norms and Gemma-4's per-layer tables are left out (stored at the format's bits)."""
    h, emb = model.hidden, model.embedding
    a, b = (0, model.layers) if stage is None else stage
    out = [
        ("layers", lin.k, lin.k * lin.n * lin.copies)
        for layer in model.blocks[a:b]
        for lin in layer.linears(h).values()
    ]
    if a == 0:
        out.append(("embed", h, (emb.vocab + emb.positions + emb.token_types) * h))
        if emb.per_layer:
            out.append(("per_layer_model_projection", h, h * len(model.blocks) * emb.per_layer))
    if b == model.layers:
        if model.encoder:
            out.append(("pooler", h, h * h))
        elif not emb.tied or pp > 1:
            out.append(("lm_head", h, emb.vocab * h))
    return out


def row_scale_bytes(w: OperandType, rows: Iterable[tuple[Any, Any]]) -> float:
    """Bytes the scales of rows that are not whole groups add to `elements × w.bits` over `rows` of (row length,
    elements) (OperandType.bits_along, the one row rule: ⌈row/g⌉ scales a row); 0 where the format is not
    row-scaled or its groups fit every row."""
    if not w.row_scaled or w.group_size is None:
        return 0.0
    g, s = w.group_size, Fraction(w.scale_bits)
    # elems · s · (⌈k/g⌉/k − 1/g) (bits_along − bits), summed exactly: in floats a stage's share of a whole number of
    # bytes came out a hair above it (5608.00000000012) and rounded up to one byte more than the whole model's
    extra = sum(
        (
            Fraction(elems) * s * (Fraction(math.ceil(Fraction(k) / g)) / Fraction(k) - Fraction(1, g))
            for k, elems in rows
            if k > 0 and k % g
        ),
        Fraction(0),
    )
    return float(extra / 8)


def weight_row_scale_bytes(model: Any, w: OperandType, stage: tuple[int, int] | None = None, pp: int = 1) -> float:
    """Bytes the scales of rows that are not whole groups add to `params × w.bits` (the rule operand_bytes prices
    through OpColumns.weight_bits, docs/formats.md "Scale formats") over the weights of `weight_rows` (the whole
    model, or one pipeline stage's share: the stages' sum is the whole plus a last stage's copy of a tied table)."""
    if not w.row_scaled or w.group_size is None:  # no rows to list (a cost() of a model trace asks every call)
        return 0.0
    return row_scale_bytes(w, ((k, elems) for _, k, elems in weight_rows(model, stage, pp)))


def _stored_format_bytes(model: Any, trace: TraceLike, main: OperandType) -> float:
    """format_exception_bytes of a trace's ops; 0 when the caller chose a format other than the checkpoint's own
    (then every weight is at that format)."""
    if model.weight_formats is None or main.name != model.default_weight_format:
        return 0.0
    ops = ops_frame(trace)
    return 0.0 if "op" not in ops.columns else format_exception_bytes(model, ops, main)


def format_exception_bytes(model: Any, ops: pd.DataFrame, main: OperandType, tied_copy: bool = False) -> float:
    """Bytes a quantized checkpoint's per-op exceptions among `ops` (a trace's rows: name, op, kind, layer, k, n,
    count, weight_elems) add to `params × main bits` plus the main format's row scales (weight_row_scale_bytes): a
    GPTQ lm_head kept in fp16, a GGUF q6_k head, `dynamic` 8-bit layers. Each excepted op's stored parameters (all
    its experts; the whole token table for `embed_tokens`, Gemma-4's whole per-layer table for
    `embed_tokens_per_layer`) × (its bits − the main bits), and its grouped weights (a linear's k × n on rows of K,
    the token table on rows of hidden; the per-layer table is not grouped, as weight_rows) the row scales of its format instead of the main one's
    (row_scale_bytes: the one row rule). An lm_head tied to the embeddings stores nothing of its own (the table is
    `embed`'s), except the copy a last pipeline stage keeps (`tied_copy`, hwsim.serve.shard.stage_params)."""
    formats = model.op_weight_formats(ops["name"], ops["kind"])
    if formats is None:
        return 0.0
    shared = model.tie_embeddings and not tied_copy
    extra, types = 0.0, {}
    cols = (ops[c] for c in ("name", "op", "kind", "layer", "weight_elems", "k", "n", "count"))
    for fmt, (name, op, kind, layer, read, k, n, count) in zip(formats, zip(*cols)):
        if fmt == main.name or read == 0 or (shared and op == "lm_head") or op in MLA_ABSORBED:
            continue  # MLA's absorbed products: kv_b_proj's weights, stored at its own format (blocks.MLA_ABSORBED)
        if fmt not in types:
            types[fmt] = operand_type(fmt, "weights")
        lin = model.blocks[int(layer)].linears(model.hidden).get(op) if 0 <= layer < len(model.blocks) else None
        if lin is not None:
            stored, rows = lin.params, [(lin.k, lin.k * lin.n * lin.copies)]
        elif name == "embed_tokens":  # keyed by name: Gemma-4's per-layer table is an `embed` op too
            stored = model.vocab * model.hidden
            rows = [(model.hidden, stored)]
        elif name == "embed_tokens_per_layer":  # its own table (blocks.Embedding.per_layer_params), not grouped
            stored, rows = model.embedding.per_layer_vocab * len(model.blocks) * model.embedding.per_layer, []
        else:
            stored, rows = read, [(k, k * n * count)] if kind == "linear" else []
        extra += stored * (types[fmt].bits - main.bits) / 8
        extra += row_scale_bytes(types[fmt], rows) - row_scale_bytes(main, rows)
    return extra


def design_totals(m: Machine, ops: OpColumns, mult: np.ndarray, trace: TraceLike) -> dict:
    """Totals that do not sum over ops, the same for every engine: area (of the design as given), the
    family's point totals (feasibility, utilisation: on the configured precision) and the memory footprint."""
    return {
        "area_mm2": m.area_mm2,
        **m.family.point_totals(m.spec, m.prec, ops, mult),
        **memory_footprint(m.spec, trace, m.asked, ops),
    }


def table_totals(
    m: Machine, frame: pd.DataFrame | None, cols: Mapping[str, ArrayLike], ops: OpColumns, trace: TraceLike
) -> tuple[dict, tuple]:
    """A CostTable's totals (column sums + design_totals as scalars) and its extra keys."""
    totals = {k: _nansum(cols[k]) for k in cols}  # as pandas sums (NaN skipped), without Series
    mult = np.empty(len(ops))  # np.ones' values (np.ones is np.empty and a copy: ~0.35 µs more)
    mult.fill(1.0)
    design = design_totals(m, ops, mult, trace)
    area = design.pop("area_mm2")
    totals["area_mm2"] = area if type(area) is float else float(np.asarray(area).reshape(-1)[0])
    totals.update({k: np.asarray(v).reshape(-1)[0].item() for k, v in design.items()})
    return totals, tuple(design)


def _nansum(values: ArrayLike) -> float:
    """np.nansum of a float column, bit for bit (it sums a contiguous copy with NaN set to 0), without its
    overhead when there is no NaN to skip."""
    if type(values) is np.ndarray and values.size == 1 and values.dtype is _F64:
        total = 0.0 + values.item()  # one op: add.reduce starts from 0.0 (so -0.0 sums to 0.0)
        return total if total == total else 0.0  # a NaN skipped: nothing left
    arr = np.ascontiguousarray(values, dtype=np.float64)
    total = np.add.reduce(arr)
    return float(total) if total == total else float(np.nansum(arr))  # NaN (a NaN, or inf - inf): skip NaNs


def bound_of(compute: np.ndarray, memory: np.ndarray) -> np.ndarray:
    return np.where(compute >= memory, "compute", "memory")


def evaluate(arch: Accelerator | str, trace: TraceLike, precision: PrecisionLike = None) -> CostTable:
    """Cost a trace (or ops table) on an accelerator. `arch` may be a preset name or YAML path; `precision` a
    Precision, or one format name / number of bits for the weights (activations and KV fp16)."""
    return cost_table(configure(as_accelerator(arch), precision), trace)  # type: ignore[arg-type]


def cost_table(
    m: Machine, trace: TraceLike, shared: OpTraffic | None = None, itemised: list | None = None
) -> CostTable:
    """evaluate() on an already configured machine. `shared`: op_traffic of the ops as `m` runs them
    (op_columns(as_run(m.arch, trace))) when the caller has it already; `itemised`: as cost_columns (explain)."""
    ops = op_columns(as_run(m.arch, trace))  # attention as this accelerator runs it
    cols = cost_columns(m, ops, shared, itemised)
    totals, extra = table_totals(m, None, cols, ops, trace)
    return CostTable(m.spec.name, totals=totals, extra_keys=extra, columns={"name": ops.name, "kind": ops.kind, **cols})
