"""Analytical vs cycle-level engine on sampled design points of every family (hypothesis), and the
cases where they differ by design (docs/cycle.md "Where the engines differ").

Workload: Llama-2-7B (REFERENCES.md shapes) decode at 256 cached tokens, the first layer plus
embedding and lm_head (every op kind; small enough to stay fast)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hwsim.arch import load_arch
from hwsim.errors import HwsimError
from hwsim.families import BUILTIN, family_names, get_family
from hwsim.families.base import BatchedFamily
from hwsim.paths import preset_names
from hwsim.cycle import evaluate
from hwsim.sim.tiles import tile_grid
from hwsim.engine import Precision, gemm_ops
from hwsim.engine.cost import evaluate as analytical
from hwsim.core.ops import OpColumns
from hwsim.families import lut_core as L
from hwsim.workload import load_model, trace

TOL = 0.05
INT4 = Precision(weights="int4_g128")


def _ops(phase="decode", model="llama-2-7b"):
    kw = {"context": 256} if phase == "decode" else {"seq": 64}
    ops = trace(load_model(model), phase, **kw).ops
    return ops[ops.layer <= 0].reset_index(drop=True)


DECODE = _ops()

# family → (preset, precision, strategy over dotted overrides)
CASES = {
    "systolic": (
        "tpu-like",
        Precision(),
        st.fixed_dictionaries(
            {
                "compute.rows": st.sampled_from([32, 64, 128, 256]),
                "compute.cols": st.sampled_from([32, 64, 128, 256]),
                "compute.dataflow": st.sampled_from(["os", "ws", "is"]),
                "memory.dram.bandwidth": st.sampled_from(["17 GB/s", "34 GB/s", "136 GB/s"]),
            }
        ),
    ),
    "bitserial": (
        "bitmod",
        Precision(weights=3.0625),
        st.fixed_dictionaries(
            {
                "compute.rows": st.sampled_from([16, 32, 64]),
                "compute.cols": st.sampled_from([8, 16, 32]),
                "memory.dram.bandwidth": st.sampled_from(["128 bit/cycle", "256 bit/cycle", "512 bit/cycle"]),
            }
        ),
    ),
    "gpu": ("h100-sxm", Precision(), st.fixed_dictionaries({"compute.sms": st.sampled_from([66, 132])})),
    "lut": (
        "lut-tensor-core",
        INT4,
        st.fixed_dictionaries(
            {
                "compute.lut_units": st.sampled_from([1, 2, 4, 8]),
                "compute.precompute": st.sampled_from(["fused", "separate"]),
            }
        ),
    ),
    # 8 and 16 cores only: at 4 cores the engines differed by 10.6% before the activation-first stage fix (docs/cycle.md)
    "lut-cpu": ("tmac-m2-ultra", INT4, st.fixed_dictionaries({"compute.cores": st.sampled_from([8, 16])})),
    "pim": ("sail-n1", INT4, st.fixed_dictionaries({"compute.arrays": st.sampled_from([4, 8, 16, 32])})),
    "pim-bitserial": ("neural-cache", INT4, st.fixed_dictionaries({"compute.slices": st.sampled_from([8, 14, 28])})),
    "fpga": (
        "flightllm-u280",
        Precision(weights="int4_g128", activations="int8"),
        st.fixed_dictionaries({"compute.hbm_channels": st.sampled_from([8, 16, 32])}),
    ),
}


def _rel(arch, ops, prec):
    c = evaluate(arch, ops, prec).totals["cycles"]
    a = analytical(arch, ops, prec).totals["cycles"]
    return c / a - 1


@pytest.mark.parametrize("family", sorted(CASES))
def test_engines_agree_within_5pct(family):
    preset, prec, points = CASES[family]

    @settings(max_examples=3, deadline=None, derandomize=True)
    @given(points)
    def check(over):
        arch = load_arch(preset, over)
        assert abs(_rel(arch, DECODE, prec)) <= TOL, over

    check()


# Per op, not only in total (issue 12: every family's presets within 5%; in the totals the GEMMs hide their
# elementwise rows): Llama-3-8B (REFERENCES.md shapes) layer 0, embedding and final norm, decode at 256 cached tokens and a
# 64-token prefill, int4_g128 (every shipped preset runs it). The batch pipelines (lut, pim, fpga) loaded all of an
# elementwise op's activations before its first slice, as a GEMM's (each of whose outputs reduces over all of
# them), while the shared rule exposes no load of a non-GEMM op: tmac-m2-ultra rope +37.3%, input_norm +27.9%,
# act +44.7%, u280's residual adds +14.1% (docs/cycle.md). They stream with the slices now (+0.00%, bounded at
# 0.5%); the tile families' streamed slices leave their last slice's compute after the last load (tpu-like up to
# +3.0%), which the rule does not expose for non-GEMM ops: within 5%.
LLAMA3 = {phase: _ops(phase, "llama-3-8b") for phase in ("decode", "prefill")}


@pytest.mark.parametrize("preset", preset_names("archs"))
def test_elementwise_rows_agree_within_5pct_on_every_preset(preset):
    arch = load_arch(preset)
    batched = isinstance(get_family(arch.family), BatchedFamily)  # lut, pim, fpga: io_stages
    for phase, ops in LLAMA3.items():
        cyc, ana = evaluate(arch, ops, INT4), analytical(arch, ops, INT4)
        rows = (ops.kind == "elementwise").to_numpy()
        assert rows.sum() == 8  # input and post-attention norms, rope, softmax, two residuals, act, final_norm
        c, a = cyc.ops["cycles"].to_numpy(), ana.ops["cycles"].to_numpy()
        fused = rows & (a == 0)  # a GPU's softmax, inside its fused attention kernel: in neither engine
        assert np.all(c[fused] == 0) and fused.sum() <= 1
        rows = rows & ~fused
        gap = c[rows] / a[rows] - 1
        worst = ops.name[rows].to_numpy()[np.argmax(np.abs(gap))]
        assert np.abs(gap).max() <= (0.005 if batched else TOL), (phase, worst, gap.tolist())
        assert abs(cyc.totals["cycles"] / ana.totals["cycles"] - 1) <= TOL, phase


def test_double_buffer_startup_in_both_engines():
    """A small GEMM on a wide array: one tile's load cannot overlap anything. Both engines count the
    first tile's load and the last tile's store (the shared rule, hwsim.sim.blocking.pipeline_ends): the
    analytical max(compute, memory) alone was > 5% below the cycle engine here."""
    arch = load_arch("tpu-like")  # 256×256 ws, 34 GB/s
    ops = gemm_ops([("g", 16, 256, 256)])
    assert abs(_rel(arch, ops, Precision())) < 5e-3
    fast = load_arch("tpu-like", {"memory.dram.bandwidth": "1e18"})  # nothing to expose
    assert abs(_rel(fast, ops, Precision())) < 5e-3
    # the whole op is one 16×256 tile: nothing overlaps, so cycles = load + compute + store in both engines
    bpc = arch.backing.bytes_per_cycle(arch.clock_hz)
    _, _, _, a, b, c = tile_grid(16, 256, 16, 256, 16 * 256 * 2.0, 256 * 256 * 2.0, 16 * 256 * 2.0)
    for engine in (evaluate, analytical):
        t = engine(arch, ops)
        assert t.totals["cycles"] == pytest.approx(
            (a.sum() + b.sum() + c.sum()) / bpc + t.totals["compute_cycles"], abs=2
        )


def test_balanced_gemm_from_issue_12():
    """Issue 12's case: tpu-like, int4 weights, 256×4096×4096, compute ≈ memory (261,631 vs 259,060
    cycles). max(compute, memory) gave 264,458 against the cycle engine's 318,623 (+20.5%): the whole
    2 MiB of activations (the held operand: ws tiles span all 256 tokens) loads before the first tile
    computes. With the shared start-up/drain rule the engines agree."""
    arch, ops, prec = load_arch("tpu-like"), gemm_ops([("g", 256, 4096, 4096)]), Precision(weights=4)
    ana = analytical(arch, ops, prec).totals
    assert ana["compute_cycles"] == pytest.approx(ana["memory_cycles"], rel=0.02)  # balanced
    assert abs(_rel(arch, ops, prec)) <= 0.01


# Every registered family that has presets, on sampled GEMMs and precisions: Llama-2-7B projection
# shapes at 1–256 tokens, at the preset's DRAM bandwidth or at one set so memory / compute is sampled in
# [0.8, 1.25] (balanced, where full overlap is most optimistic: the start-up and drain rule matters most).
# The family list comes from the registry and the presets from archs/, so a new family is covered here.
# A family whose analytical model reproduces a reference that overlaps fully (exposes_pipeline_ends off;
# no shipped family since the GPU took the rule and its refit, Dec 2026) is checked with the shared rule
# on, so the rule agrees with its cycle model too; docs/cycle.md says what such a family leaves out.
def _presets_by_family() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name in preset_names("archs"):
        out.setdefault(load_arch(name).family, []).append(name)
    return out


PRESETS = _presets_by_family()
PRECISIONS = [
    Precision(weights="int4_g128"),
    Precision(weights="int4_g128", activations="int8"),
    Precision(weights="int8", activations="int8"),
    Precision(weights=4),
    Precision(),
]


def test_every_registered_family_has_presets_to_sample():
    assert set(BUILTIN) <= set(PRESETS), set(BUILTIN) - set(PRESETS)


@pytest.mark.parametrize("family", [f for f in family_names() if f in PRESETS])
def test_balanced_gemms_within_5pct(family, monkeypatch):
    monkeypatch.setattr(get_family(family), "exposes_pipeline_ends", True)

    @settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.filter_too_much])
    @given(
        st.sampled_from(PRESETS[family]),
        st.sampled_from(PRECISIONS),
        st.sampled_from([1, 16, 64, 256]),
        st.sampled_from([(4096, 4096), (4096, 11008), (11008, 4096)]),
        st.one_of(st.none(), st.floats(0.8, 1.25)),
    )
    def check(preset, prec, m, kn, ratio):
        k, n = kn
        ops, base = gemm_ops([("g", m, n, k)]), load_arch(preset)
        try:
            t = analytical(base, ops, prec).totals
        except HwsimError:  # a precision this preset's datapath refuses
            assume(False)
        arch = base if ratio is None else _balanced(preset, ops, prec, ratio, t)
        assert abs(_rel(arch, ops, prec)) <= TOL, (preset, prec, m, k, n, ratio)

    check()


def _balanced(preset, ops, prec, ratio, totals):
    """`preset` with its DRAM bandwidth (as specified) scaled so memory = compute × ratio on `ops`. Compute
    can move with the bandwidth (a LUT CPU's table start-up writes and reads its tables through DRAM), so
    the scaling repeats from the last point until the balance holds (a fixed point: a few steps)."""
    arch, t = load_arch(preset), totals
    for _ in range(4):
        bw = float(arch.backing.bandwidth) * t["memory_cycles"] / (t["compute_cycles"] * ratio)
        # a bare number is B/s; BitMoD's presets give bit/cycle, stored as B/cycle (a bare number there
        # gave ~32 B/s: every bitserial "balanced" point was memory-bound by 10^9 and nothing was tested)
        spec = f"{bw!r} B/cycle" if arch.backing.per_cycle else repr(bw)
        arch = load_arch(preset, {f"memory.{arch.backing.name}.bandwidth": spec})
        t = analytical(arch, ops, prec).totals
        if t["memory_cycles"] == pytest.approx(t["compute_cycles"] * ratio, rel=0.02):
            return arch
    raise AssertionError(f"{preset}: no DRAM bandwidth balances memory and compute × {ratio}")


def test_balanced_when_compute_moves_with_bandwidth():
    """A case hypothesis drew once (tmac-m2-ultra, int4_g128, 16×4096×4096, memory = compute): scaling the
    bandwidth once left memory 2.7% under compute, as the table start-up's DRAM time moved compute. The
    repeated scaling balances it, and the engines agree there."""
    ops, prec = gemm_ops([("g", 16, 4096, 4096)]), Precision(weights="int4_g128")
    base = analytical(load_arch("tmac-m2-ultra"), ops, prec).totals
    arch = _balanced("tmac-m2-ultra", ops, prec, 1.0, base)
    t = analytical(arch, ops, prec).totals
    assert t["compute_cycles"] != base["compute_cycles"]  # compute did move with the bandwidth
    assert t["memory_cycles"] == pytest.approx(t["compute_cycles"], rel=0.02)
    assert abs(_rel(arch, ops, prec)) <= TOL


def test_pipeline_families_expose_the_table_startup():
    """LUT-GEMV in SRAM (SAIL-like) in prefill: every batch of outputs needs all activations and the tables
    built from them, so the activations' DRAM load and the table build (host) and write (arrays) come before
    the first lookup in both engines (the shared rule: first tile's load, Family.startup_parts). Before, the
    analytical max(compute, memory) was 10–22% below the cycle engine here (docs/cycle.md)."""
    arch = load_arch("sail-n1")
    ops = gemm_ops([("q", 256, 4096, 4096)])
    ana = analytical(arch, ops, INT4).totals
    bpc = arch.backing.bytes_per_cycle(arch.clock_hz)
    a_load = 256 * 4096 * 2 / bpc
    assert ana["cycles"] - max(ana["compute_cycles"], ana["memory_cycles"]) >= a_load
    assert abs(_rel(arch, ops, INT4)) <= 0.01


# Prefill GEMMs at wide weights where neither operand fits its buffer: the shared memory model
# re-reads one operand once per buffer tile of the other (BitMoD's simulator rule, REFERENCES.md
# "Bit-serial PEs"), and the tiles follow that blocking (hwsim.sim.tiles.tile_grid), so the two
# engines move the same DRAM bytes and differ only in timing. Shapes: Llama-2-7B's projections
# (K, N of q/o and the MLP) at 128–384 tokens; A ≥ 1 MiB and B ≥ 4 MiB exceed every buffer sampled.
WIDE = st.sampled_from(["int8", "fp16"])
PREFILL_GEMMS = st.tuples(
    st.sampled_from([128, 256, 384]), st.sampled_from([(4096, 4096), (4096, 11008), (11008, 4096)])
)
WIDE_CASES = {
    "bitserial": (
        "bitmod",
        st.fixed_dictionaries(
            {
                "compute.rows": st.sampled_from([16, 32, 64]),
                "compute.cols": st.sampled_from([16, 32]),
                "memory.dram.bandwidth": st.sampled_from(["128 bit/cycle", "256 bit/cycle", "512 bit/cycle"]),
            }
        ),
    ),
    "systolic": (
        "tpu-like",
        st.fixed_dictionaries(
            {
                "compute.rows": st.sampled_from([64, 128, 256]),
                "compute.cols": st.sampled_from([64, 128, 256]),
                "compute.dataflow": st.sampled_from(["os", "ws", "is"]),
                # activations get half the unified buffer (shared with outputs): 256 or 512 KiB < A
                "memory.unified_buffer.capacity": st.sampled_from(["512 KiB", "1 MiB"]),
            }
        ),
    ),
}


@pytest.mark.parametrize("family", sorted(WIDE_CASES))
def test_wide_weight_prefill_same_bytes_within_5pct(family):
    preset, points = WIDE_CASES[family]

    @settings(max_examples=8, deadline=None, derandomize=True)
    @given(points, WIDE, PREFILL_GEMMS)
    def check(over, weights, shape):
        m, (k, n) = shape
        arch, prec, ops = load_arch(preset, over), Precision(weights=weights), gemm_ops([("g", m, n, k)])
        cyc, ana = evaluate(arch, ops, prec), analytical(arch, ops, prec)
        once = m * k * 2 + k * n * (1 if weights == "int8" else 2) + m * n * 2
        assert ana.totals["bytes_dram"] > 1.5 * once  # neither fits: one operand is re-read
        assert cyc.totals["bytes_dram"] == pytest.approx(ana.totals["bytes_dram"], rel=1e-12)
        assert abs(cyc.totals["cycles"] / ana.totals["cycles"] - 1) <= TOL, (over, weights, shape)

    check()


def test_bitmod_down_proj_int8_follows_the_refetch_rule():
    """The case that opened the question (docs/cycle.md): Llama-2-7B down_proj at 256 tokens,
    int8 weights (45 MB) and fp16 activations (5.6 MB) on BitMoD's 512 KiB buffers. The shared model
    re-reads the weights ceil(5.6 MB / 512 KiB) = 11 times (504 MB, DRAM-bound); the tiles now move
    those bytes and the engines agree within 0.5% (before: 368 MB from 32-token blocks that do not
    fit the buffer, −27%)."""
    arch, prec = load_arch("bitmod"), Precision(weights="int8")
    ops = gemm_ops([("down_proj", 256, 4096, 11008)])
    a, b, c = 256 * 11008 * 2, 11008 * 4096, 256 * 4096 * 2
    cyc, ana = evaluate(arch, ops, prec), analytical(arch, ops, prec)
    assert ana.totals["bytes_dram"] == a + 11 * b + c
    assert cyc.totals["bytes_dram"] == ana.totals["bytes_dram"]
    assert abs(cyc.totals["cycles"] / ana.totals["cycles"] - 1) < 0.005


# LUT presets whose precompute runs as a kernel of its own write the tables to the backing store and read
# them back (Lut.spill_bytes): the shared memory model counts those bytes as the cycle model does.
LUT_SEPARATE = [
    (name, None) for name in PRESETS.get("lut", []) if load_arch(name).compute["precompute"] == "separate"
] + [("lut-tensor-core", {"compute.precompute": "separate"})]


@pytest.mark.parametrize("preset, over", LUT_SEPARATE)
def test_lut_separate_precompute_tables_same_dram_bytes_in_both_engines(preset, over):
    arch = load_arch(preset, over)
    fused = load_arch(preset, {**(over or {}), "compute.precompute": "fused"})  # tables on chip: no DRAM bytes
    ops = _ops("prefill")
    for prec in (INT4, Precision(weights="int4_g128", activations="int8")):
        ana, cyc = analytical(arch, ops, prec).totals, evaluate(arch, ops, prec).totals
        key = f"bytes_{arch.backing.name}"
        assert cyc[key] == pytest.approx(ana[key], rel=1e-12)
        # the tables, written and read back once per linear op, are the whole difference from fused
        lin = OpColumns.from_frame(ops[ops.kind == "linear"])
        tables = float(L.arch_table_bytes(arch, lin).sum())
        assert tables > 0
        assert ana[key] - analytical(fused, ops, prec).totals[key] == pytest.approx(2 * tables, rel=1e-12)
