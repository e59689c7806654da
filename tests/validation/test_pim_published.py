"""PIM family against published numbers (REFERENCES.md "SRAM processing-in-memory").

Row-operation counts of vertical bit-serial arithmetic (PIMeval bit-serial model / Neural Cache):
ADD n-bit 2n reads, n writes, 3n+1 logic; MUL n(n+1) reads, n(n+1)/2 writes, 2n²+n logic — exactly.
SAIL: up to 10.7x speedup over an Arm Neoverse-N1 CPU; 13.8% of cycles saved by pattern reuse.
"""

import functools

import pytest

from hwsim.arch import load_arch
from hwsim.engine import Precision, gemm_ops
from hwsim.families.pim import ops as P
from hwsim.workload import load_model, trace
from hwsim.engine import evaluate
from hwsim.families import get_family


@pytest.mark.parametrize("n", range(1, 33))
def test_row_operation_counts_exact(n):
    a, m = P.add(n), P.mul(n)
    assert (a.reads, a.writes, a.logic) == (2 * n, n, 3 * n + 1)
    assert (m.reads, m.writes, m.logic) == (n * (n + 1), n * (n + 1) / 2, 2 * n * n + n)
    assert (a + m).cycles(2, 3, 1) == 2 * (2 * n + n * (n + 1)) + 3 * (n + n * (n + 1) / 2) + (
        3 * n + 1 + 2 * n * n + n
    )


def test_int8_values():  # the usual Neural Cache operand width
    assert (P.add(8).reads, P.add(8).writes, P.add(8).logic) == (16, 8, 25)
    assert (P.mul(8).reads, P.mul(8).writes, P.mul(8).logic) == (72, 36, 136)


def test_pattern_reuse_parameter_cuts_only_the_lookups():
    """SAIL's 13.8% (pattern reuse) is an input of sail-n1.yaml, not a figure hwsim predicts: this
    checks that the model applies it to the lookup cycles and leaves conversion, table writes and the
    host precompute alone (they are small, so the saved share stays within 0.5 points of 13.8%)."""
    ops = gemm_ops([("g", 8, 4096, 4096)])
    prec = Precision(weights=4).resolve()
    from hwsim.core.ops import OpColumns

    cols = OpColumns.from_frame(ops)
    on, off = load_arch("sail-n1"), load_arch("sail-n1", {"compute.pattern_reuse": 0})
    look = lambda a: get_family(a.family).lut_cycles(a, cols, prec)[0]  # noqa: E731
    ratio = (look(off) - look(on)) / look(off)
    assert ratio == pytest.approx(0.138, abs=0.005)


@functools.lru_cache(maxsize=None)
def speedups(batches=(1, 4, 16, 64)):
    """SAIL over the Neoverse-N1 CPU baseline: Llama-2-7B int4_g128 decode, context 256, per batch."""
    m = load_model("llama-2-7b")
    sail, cpu = load_arch("sail-n1"), load_arch("cpu-n1")
    prec = Precision(weights="int4_g128")
    out = {}
    for b in batches:
        tr = trace(m, "decode", batch=b, context=256)
        out[b] = evaluate(cpu, tr, prec).totals["seconds"] / evaluate(sail, tr, prec).totals["seconds"]
    return out


def test_sail_speedup_regression_snapshot():
    """Regression snapshot of hwsim's own speedups (not a validation; ±0.01 at batch 1, ±3%
    beyond): 1.0x at batch 1 (both DRAM-bound), 4.79x at 16, 8.58x at 64 (2.59x and 4.65x before the
    CPU's Q4_0 kernel cost was counted from llama.cpp's source, 2026-12-05). Fails when the model
    changes; update it together with docs/families-lut-pim.md."""
    s = speedups()
    assert s[1] == pytest.approx(1.0, abs=0.01)
    assert s[16] == pytest.approx(4.79, rel=0.03) and s[64] == pytest.approx(8.58, rel=0.03)


def test_sail_speedup_vs_published_10_7x_within_25_percent():
    """Published: up to 10.7x over Neoverse-N1 (SAIL). hwsim's best speedup over batches 1-64 at int4 is
    8.58x (-20%; the study's batch 128 and int2 reach 10.67x: tests/validation/test_reproductions.py), and SAIL
    is never slower than the CPU. Tolerance 25%: "up to" over an unknown configuration, and these batches stop
    at 64 (was a factor of 3 either way, which could not fail on any plausible change; tightened 2026-12-06)."""
    s = speedups()
    assert all(v >= 0.999 for v in s.values())
    assert max(s.values()) == pytest.approx(10.7, rel=0.25)
    assert max(s.values()) < 10.7  # "up to": batch <= 64 at int4 stays below the headline
