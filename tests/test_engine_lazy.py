"""The engine's fast path (per-op arrays, a Trace's op columns read once) and its table view agree bit for bit.

CostTable builds its `ops` DataFrame only when asked (hwsim.engine.cost.CostTable); a Trace's OpColumns are
read once and reused (hwsim.engine.cost.op_columns). These tests pin that neither changes a number.
"""

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.arch import load_arch
from hwsim.core.ops import OpColumns
from hwsim.engine import Precision, evaluate, gemm_ops, sweep_cost
from hwsim.engine.cost import CostTable, _nansum, cost_columns, family_ops, op_columns, ops_table
from hwsim.engine.machine import configure
from hwsim.paths import preset_names
from hwsim.roofline import roofline
from hwsim.workload import kv, load_model, trace

COST_COLUMNS = ("cycles", "compute_cycles", "memory_cycles", "seconds", "energy_j")


def _eager(arch, tr, prec) -> pd.DataFrame:
    """The table as the engine built it before the lazy view: a fresh read of the ops frame every call."""
    m = configure(arch, prec)
    df = family_ops(arch, tr)
    ops = OpColumns.from_frame(df)
    cols = cost_columns(m, ops)
    frame = pd.DataFrame({"name": df["name"].to_numpy(), "kind": df["kind"].to_numpy(), **cols})
    frame["bound"] = np.where(cols["compute_cycles"] >= cols["memory_cycles"], "compute", "memory")
    return frame


@pytest.mark.parametrize(
    "arch, prec",
    [
        ("bitmod", "int4_g128"),
        ("tpu-like", None),
        ("h100-sxm", "int4_g128"),
        ("u280", "int8"),
        ("neural-cache", "int4"),
    ],
)
def test_table_view_is_the_eager_table(arch, prec):
    spec = load_arch(arch)
    tr = trace(load_model("llama-2-7b"), "decode", batch=2, context=100)
    table = evaluate(spec, tr, prec)
    table_again = evaluate(spec, tr, prec)  # the trace's cached columns
    eager = _eager(spec, tr, Precision(weights=prec) if prec else None)
    pd.testing.assert_frame_equal(table.ops, eager, check_exact=True)
    pd.testing.assert_frame_equal(table_again.ops, eager, check_exact=True)
    for col in eager.columns:  # column() without the table, then with it
        assert np.array_equal(table_again.column(col), eager[col].to_numpy())
        assert np.array_equal(table.column(col), eager[col].to_numpy())
    for col in COST_COLUMNS:
        assert table.totals[col] == float(eager[col].sum())


@settings(max_examples=15, deadline=None)
@given(
    m=st.integers(1, 4096),
    n=st.integers(1, 8192),
    k=st.integers(1, 8192),
    arch=st.sampled_from(["bitmod", "tpu-like", "lut-tensor-core", "v80"]),
)
def test_gemm_table_view_matches_its_columns_and_totals(m, n, k, arch):
    spec = load_arch(arch)
    ops = gemm_ops([("a", m, n, k), ("b", max(m // 2, 1), k, n)])
    table = evaluate(spec, ops, "int4")
    cols = {c: table.column(c) for c in ("name", "kind", *COST_COLUMNS, "bound")}  # before the table exists
    pd.testing.assert_frame_equal(table.ops, _eager(spec, ops, Precision(weights="int4")), check_exact=True)
    for c, v in cols.items():
        assert np.array_equal(v, table.ops[c].to_numpy())
    assert table.to_json()["totals"]["cycles"] == float(table.ops["cycles"].sum())


def test_cached_columns_are_read_only_and_per_trace():
    tr = trace(load_model("gpt-2"), "decode", context=16)
    cols = op_columns(tr)
    assert op_columns(tr) is cols  # read once
    with pytest.raises(ValueError):
        cols.m[0] = 1.0  # shared by later calls: never written in place
    fused = tr.with_attention("fused")
    assert op_columns(fused) is not cols and len(op_columns(fused)) < len(cols)
    bare = tr.ops  # a bare table is read anew (it may be edited between calls)
    assert op_columns(bare) is not op_columns(bare)


def test_cost_table_takes_a_frame_or_columns():
    frame = evaluate("tpu-like", gemm_ops([("g", 8, 16, 32)])).ops
    assert CostTable("x", ops=frame, totals={}).ops is frame
    built = CostTable("x", totals={}, columns={c: frame[c].to_numpy() for c in frame.columns if c != "bound"})
    pd.testing.assert_frame_equal(built.ops, frame, check_exact=True)
    pd.testing.assert_frame_equal(
        ops_table({c: frame[c].to_numpy() for c in frame.columns if c != "bound"}), frame, check_exact=True
    )
    with pytest.raises(TypeError):
        CostTable("x", totals={})


def test_trace_and_model_caches_give_the_counted_values():
    model = load_model("deepseek-v2-lite")
    tr = trace(model, "decode", batch=3, context=50)
    assert tr.kv_cache_bytes(8) == kv.cache_elems(model.blocks, 3, tr.span, tr.mla) * 8 / 8
    assert tr.kv_cache_bytes(16) == kv.cache_elems(model.blocks, 3, tr.span, tr.mla) * 16 / 8  # bits vary, count kept
    parts = model.param_breakdown()
    parts["total"] = -1  # a caller's copy: the model's own count stays
    assert model.params == model.param_breakdown()["total"] > 0


def test_roofline_tables_agree_with_the_engine():
    """The roofline costs its ops with the engine's columns and traffic computed once; its lazily built tables
    show the engine's per-op seconds and sum to the engine's totals."""
    tr = trace(load_model("llama-2-7b"), "decode", batch=2, context=100)
    precs = [Precision(), Precision(weights="int4_g128")]
    rl = roofline(["h100-sxm", "bitmod"], tr, precs)
    for s, m in zip(rl.summary.itertuples(), rl.machines):
        prec = precs[0] if s.precision.startswith("W fp16 ") else precs[1]
        table = evaluate(s.arch, tr, prec)
        assert s.attained_s == table.totals["seconds"]
        rows = rl.ops[
            (rl.ops["arch"] == s.arch) & (rl.ops["precision"] == s.precision) & (rl.ops["level"] == m.backing)
        ]
        seconds = dict(zip(table.column("name"), table.column("seconds")))
        assert len(rows) > 0 and all(seconds[n] == t for n, t in zip(rows["name"], rows["attained_s"]))


def test_a_changed_arch_file_is_read_again(tmp_path):
    """Parsed spec files are kept per (file, modification time, size): an edited file is parsed anew."""
    path = tmp_path / "a.yaml"
    text = (Path(__file__).parents[1] / "hwsim" / "presets" / "archs" / "tpu-like.yaml").read_text()
    path.write_text(text)
    first = load_arch(path)
    path.write_text(text.replace("name: tpu-like", "name: tpu-like-edited"))
    assert load_arch(path).name == "tpu-like-edited" and first.name == "tpu-like"


def test_sweep_reuses_a_traces_distinct_ops_with_the_same_results():
    """sweep_cost collapses a Trace's identical ops once and keeps them beside it; a second sweep on the same
    Trace and a sweep on a fresh copy of its table give the same numbers."""
    tr = trace(load_model("llama-2-7b"), "decode", context=64)
    arch, grid = load_arch("bitmod"), {"compute.rows": [8, 32], "clock": ["0.5 GHz", "1 GHz"]}
    first = sweep_cost(arch, grid, tr, Precision(weights="int4_g128"))
    again = sweep_cost(arch, grid, tr, Precision(weights="int4_g128"))
    fresh = sweep_cost(arch, grid, tr.ops.copy(), Precision(weights="int4_g128"))
    pd.testing.assert_frame_equal(first, again, check_exact=True)
    summed = [c for c in first.columns if c in fresh.columns]  # a bare table has no footprint columns
    pd.testing.assert_frame_equal(first[summed], fresh[summed], check_exact=True)


def test_a_text_simulate_run_never_loads_pandas():
    """`hwsim simulate` without --json costs a Trace from its own arrays and prints from the table's columns:
    pandas (a third of a cold run) stays unloaded. (Timing lives in benchmarks/bench_calls.py.)"""
    code = (
        "import sys, io, contextlib\nfrom hwsim.cli import main\nout = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    rc = main(['simulate', '--arch', 'bitmod', '--model', 'llama-2-7b', '--phase', 'decode', "
        "'--weights', 'int4_g128'])\n"
        "assert rc == 0 and 'total:' in out.getvalue(), out.getvalue()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pandas', 'pyarrow')))\n"
    )
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert got.stdout.strip() == "[]", got.stdout


def test_a_trace_table_is_built_on_first_read_from_the_builders_arrays():
    tr = trace(load_model("gpt-2"), "decode", context=8)
    arrays = tr.op_arrays()
    assert not isinstance(arrays, pd.DataFrame) and not arrays["m"].flags.writeable  # the builder's own, shared
    with pytest.raises(TypeError):
        arrays["m"] = arrays["n"]  # type: ignore[index]
    frame = tr.ops
    assert tr.ops is frame and tr.op_arrays() is frame  # built once; the frame is the source from then on
    for col, arr in arrays.items():
        assert np.array_equal(frame[col].to_numpy(), arr)
    assert list(frame.columns) == list(arrays)
    copy = replace(tr, ops=frame.iloc[:3])  # a Trace given a DataFrame keeps it
    assert len(copy.ops) == 3 and copy.op_arrays() is copy.ops


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(
        st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64), st.floats(-1e6, 1e6)),
        min_size=0,
        max_size=300,
    ),
    step=st.integers(1, 3),
)
def test_totals_sum_is_nansum_bit_for_bit(values, step):
    """CostTable totals skip np.nansum's overhead when there is no NaN: the same float, any layout."""
    arr = np.asarray(values, dtype=np.float64)[::step]
    with np.errstate(over="ignore"):  # sums of huge floats overflow to inf in both
        got, want = _nansum(arr), float(np.nansum(arr))
        if arr.size:  # a column broadcast from one value (a stride-0 view)
            one = np.broadcast_to(arr[:1], (5,))
            got_one, want_one = _nansum(one), float(np.nansum(one))
    assert np.array_equal([got, np.signbit(got)], [want, np.signbit(want)], equal_nan=True)
    if arr.size:
        assert np.array_equal([got_one, np.signbit(got_one)], [want_one, np.signbit(want_one)], equal_nan=True)
        for single in (arr[:1], arr[-1:], np.array([-0.0])):  # one op's column
            assert np.array_equal(
                [_nansum(single), np.signbit(_nansum(single))],
                [float(np.nansum(single)), np.signbit(np.nansum(single))],
                equal_nan=True,
            )


def test_a_preset_is_built_once_per_family_model():
    """load_arch keeps an Accelerator built without overrides (frozen, shared); overrides, or another family
    model registered under the name, build anew."""
    from hwsim.families import get_family, register

    first = load_arch("tpu-like")
    assert load_arch("tpu-like") is first
    assert load_arch("tpu-like", {"compute.rows": 8}) is not first
    builtin = get_family("systolic")
    try:
        register(type(builtin)(), replace=True)  # the same model, another object: validated again
        assert load_arch("tpu-like") is not first
    finally:
        register(builtin, replace=True)
    assert load_arch("tpu-like") is first


def _frames():
    """Ops tables in the layouts a caller may hand over: pandas' own strings or objects, nullable and
    narrow integers, floats, categories, a strided row slice, a copy, and repeated column names."""
    base = trace(load_model("gpt-2"), "decode", batch=2, context=8).ops
    objects = base.astype({c: object for c in ("name", "kind", "op")})
    narrow = base.astype({"m": np.int32, "n": "Int64", "k": np.float32, "macs": np.float64, "kind": "category"})
    doubled = pd.concat([base, base[["m"]]], axis=1)  # "m" twice: read through df[name]
    return {
        "trace": base,
        "objects": objects,
        "narrow": narrow,
        "strided": base.iloc[::3],
        "gemm": gemm_ops([("a", 3, 5, 7), ("b", 1, 9, 2)]),
        "copy": base.copy(),
        "doubled": doubled,
    }


@pytest.mark.parametrize("dtype", ["str", "string[pyarrow]", "string[python]", object])
def test_string_columns_read_as_to_numpy_gives_them_with_or_without_a_missing_name(dtype):
    """Arrow-backed strings without a missing value are read through their pyarrow array (the shortcut in
    hwsim.core.ops.table_columns); with one, or in any other layout, through to_numpy: either way the
    array `df[name].to_numpy()` gives (type, values, and NaN / NA where a name is missing)."""
    from hwsim.core.ops import table_columns

    for names in (["a", "b", "a"], ["a", None, "c"]):
        df = pd.DataFrame({"name": pd.array(names, dtype=dtype), "m": [1, 2, 3]})
        (got,) = table_columns(df, ("name",))
        want = df["name"].to_numpy()
        assert type(got) is np.ndarray and got.dtype == want.dtype
        assert [repr(x) for x in got] == [repr(x) for x in want], (got, want)


@pytest.mark.parametrize("layout", list(_frames()))
def test_a_frames_columns_read_from_its_blocks_as_to_numpy_gives_them(layout):
    """hwsim.core.ops.table_columns reads a DataFrame's arrays without building a Series per column: each
    column is what `df[name].to_numpy(dtype)` gives (values, dtype, read-only when it is a view), and
    OpColumns.from_frame of the frame equals that of a plain mapping of those arrays."""
    from hwsim.core.ops import INT_COLUMNS, table_columns

    df = _frames()[layout]
    names = ("name", "kind", "op", "m", "n", "k")
    for dtype, cols in ((None, names), (np.float64, ("m", "n", "k", "macs", "count"))):
        got = table_columns(df, cols, dtype)
        for c, arr in zip(cols, got):
            want = df[c].to_numpy(dtype=dtype)  # "doubled": both "m" columns, as before
            assert arr.dtype == want.dtype and np.array_equal(arr, want), (c, arr, want)
            assert want.flags.writeable or not arr.flags.writeable, c  # a view of the frame stays read-only
    if layout == "doubled":
        return
    fast = OpColumns.from_frame(df)
    plain = OpColumns.from_frame({c: df[c].to_numpy() for c in ("name", "kind", "op", *INT_COLUMNS)})
    for f in ("name", "kind", "op", *INT_COLUMNS):
        a, b = getattr(fast, f), getattr(plain, f)
        assert a.dtype == b.dtype and np.array_equal(a, b), f
    before = fast.m.copy()
    df.loc[df.index[0], "m"] = 12345  # an edited frame is read anew; the earlier columns keep their values
    assert OpColumns.from_frame(df).m[0] == 12345 and np.array_equal(fast.m, before)


def test_kept_prices_and_precisions_are_the_computed_ones():
    """Component prices and resolved precisions are kept per distinct arguments (their types part of the
    key): a kept value equals a fresh computation, True is never taken for 1, and arrays (sweeps) are
    priced every call."""
    from hwsim.core.precision import resolve_precision
    from hwsim.errors import HwsimError
    from hwsim.tech import components as C

    a, b = Precision(weights="int4_g128").resolve().activations, Precision(weights="int4_g128").resolve().weights
    for args in ((a, b, 28.0, 0.8), (a, b, 28, None), (a, a, np.float64(7.0), None)):
        assert C.mac(*args) == C.mac.__wrapped__(*args) and C.mac(*args) is C.mac(*args)
    nodes = np.array([[7.0], [28.0]])
    swept = C.fp_adder(16, nodes)
    assert np.array_equal(swept.energy_j, C.fp_adder.__wrapped__(16, nodes).energy_j)
    assert C.fp_adder(16, nodes) is not swept
    assert resolve_precision(Precision(weights=1)) == Precision(weights=1).resolve()
    with pytest.raises(HwsimError, match="bits"):
        resolve_precision(Precision(weights=True))
    assert resolve_precision(Precision(weights=4)) is resolve_precision(Precision(weights=4))


def test_op_masks_are_the_kind_columns_and_read_only():
    ops = op_columns(trace(load_model("deepseek-v2-lite"), "decode", context=8))
    assert np.array_equal(ops.is_attention, ops.kind == "attention") and ops.is_attention.any()
    assert np.array_equal(ops.gemm, (ops.kind == "linear") | (ops.kind == "attention"))
    assert np.array_equal(ops.is_embedding, ops.kind == "embedding")
    for mask in (ops.is_attention, ops.gemm, ops.is_embedding):
        with pytest.raises(ValueError):
            mask[0] = not mask[0]


def test_a_zero_buffer_raises_at_one_point_and_in_a_sweep():
    """Buffers of 0 bytes re-fetch their partner without end: the backing store's cycles are not finite. The
    engine names that level whether its bandwidth is one number (no masking) or swept (an array)."""
    from hwsim.errors import HwsimError

    spec = load_arch("tpu-like")  # a 0-byte buffer is reachable only by building a spec in code
    arch = replace(spec, memory=(spec.backing, *(replace(lv, capacity=0.0) for lv in spec.on_chip)))
    ops = gemm_ops([("g", 64, 256, 256)])
    with pytest.raises(HwsimError, match=r"memory\.dram\.bandwidth: memory level 'dram' needs non-finite"):
        evaluate(arch, ops)
    with pytest.raises(HwsimError, match=r"memory\.dram\.bandwidth: memory level 'dram' needs non-finite"):
        sweep_cost(arch, {"memory.dram.bandwidth": ["10 GB/s", "20 GB/s"]}, ops)


def test_an_ops_table_without_its_columns_names_them():
    from hwsim.errors import HwsimError

    df = gemm_ops([("g", 2, 3, 4)])
    for table in (df.drop(columns=["kind", "m"]), {c: df[c].to_numpy() for c in df.columns if c not in ("kind", "m")}):
        with pytest.raises(HwsimError, match=r"ops table lacks columns \['kind', 'm'\]"):
            OpColumns.from_frame(table)
    with pytest.raises(HwsimError, match=r"lacks columns \['m'\]"):
        evaluate("tpu-like", df.drop(columns=["m"]))


def test_kept_buffer_capacities_follow_a_changed_spec():
    """Accelerator.buffer_capacity is kept per spec; a spec changed by with_values or dataclasses.replace is a
    new spec with its own capacities, and its costs follow."""
    arch = load_arch("tpu-like")
    fifo = arch.buffer_capacity("weights")
    assert arch.buffer_capacity("weights") == fifo == 256 * 1024
    small = arch.with_values({"memory.weight_fifo.capacity": 1024.0, "memory.unified_buffer.capacity": 4096.0})
    bigger = replace(
        arch, memory=tuple(replace(lv, capacity=4 * fifo) if lv.name == "weight_fifo" else lv for lv in arch.memory)
    )
    assert small.buffer_capacity("weights") == 1024.0 and bigger.buffer_capacity("weights") == 4 * fifo
    assert arch.buffer_capacity("weights") == fifo
    ops = gemm_ops([("g", 64, 1024, 1024)])
    assert evaluate(small, ops).totals["bytes_dram"] > evaluate(arch, ops).totals["bytes_dram"]  # re-fetches


def test_kept_machines_follow_a_changed_spec_and_stay_out_of_pickles():
    """configure keeps the machine beside its spec (per precision): a changed spec configures anew, and a
    pickled spec (a sweep's workers) carries its fields only and costs the same where it lands."""
    import pickle

    arch = load_arch("tpu-like")
    assert configure(arch) is configure(arch, None) and configure(arch, Precision(weights="int8")) is not configure(
        arch
    )
    small = arch.with_values({"memory.weight_fifo.capacity": 1024.0, "memory.unified_buffer.capacity": 4096.0})
    assert configure(small) is not configure(arch) and configure(small).spec is small
    landed = pickle.loads(pickle.dumps(arch))
    assert landed == arch and not {"_machines", "_buffer_capacities"} & set(landed.__dict__)
    ops = gemm_ops([("g", 64, 1024, 1024)])
    assert evaluate(landed, ops).totals == evaluate(arch, ops).totals


@pytest.mark.parametrize("name", preset_names("archs"))
def test_one_op_shortcuts_give_the_full_paths_values(name):
    """The one-op shortcuts (docs/engine.md "Speed": a table of one kind, every op one instance, every operand
    fetched once) return what the masked paths return: a GEMM costed alone, where every shortcut applies, has
    the per-op costs of the same GEMM costed beside an elementwise op, an attention op run 32 times and a GEMM
    too large for any buffer, where none does, bit for bit on every preset."""
    decode = trace(load_model("llama-2-7b"), "decode", context=64).ops
    others = decode[decode["kind"].isin(["elementwise", "attention"])].groupby("kind").head(1)
    assert (others["count"] > 1).any()  # an attention op of several instances: OpColumns.single is False
    alone = gemm_ops([("g", 256, 4096, 4096)])
    mixed = pd.concat([alone, others[alone.columns], gemm_ops([("big", 8192, 32000, 8192)])], ignore_index=True)
    arch = load_arch(name)
    one, many = evaluate(arch, alone, "int4_g128"), evaluate(arch, mixed, "int4_g128")
    assert len(set(many.column("kind"))) == 3 and not op_columns(alone).has("attention")
    for col in one.ops.columns.drop(["name", "kind", "bound"]):
        a, b = one.column(col)[:1], many.column(col)[:1]
        assert np.array_equal(a, b, equal_nan=True) and np.signbit(a) == np.signbit(b), col


def test_op_columns_know_the_kinds_present():
    """OpColumns.kinds/has/only (kept beside the fields) and the kind masks built from them agree with
    comparing the kind strings."""
    ops = op_columns(trace(load_model("llama-2-7b"), "decode", context=64))
    assert ops.kinds == set(ops.kind.tolist()) and ops.has("attention") and not ops.only("linear")
    for kind in ("embedding", "linear", "attention", "elementwise", "absent"):
        assert np.array_equal(ops.is_kind(kind), ops.kind == kind)
    assert np.array_equal(ops.gemm, (ops.kind == "linear") | (ops.kind == "attention"))
    gemm = OpColumns.from_frame(gemm_ops([("a", 1, 2, 3), ("b", 4, 5, 6)]))
    assert gemm.only("linear") and gemm.single and gemm.gemm.all() and not gemm.is_attention.any()
