"""The shared tiling model: re-fetch only when neither operand fits; of the two loop orders take the one
with the shorter memory time, ties to fewer DRAM bytes (BitMoD's rule when on-chip bandwidth is unbounded)."""

import numpy as np

from hwsim.arch import load_arch
from hwsim.engine import Precision, gemm_ops
from hwsim.engine.memory import fetch_orders
from hwsim.engine import evaluate

KI = 1024.0


def test_fits_streams_once():
    (fa1, fb1), (fa2, fb2) = fetch_orders(
        np.array([100 * KI]), np.array([10_000 * KI]), np.array([1.0]), 512 * KI, 512 * KI
    )
    assert (fa1[0], fb1[0], fa2[0], fb2[0]) == (1, 1, 1, 1)


def test_refetch_orders():
    a, b = 2048 * KI, 3 * 1024 * KI  # A = 4 tiles of 512 KiB, B = 6 tiles
    (fa1, fb1), (fa2, fb2) = fetch_orders(np.array([a]), np.array([b]), np.array([1.0]), 512 * KI, 512 * KI)
    assert (fa1[0], fb1[0]) == (1, 4) and (fa2[0], fb2[0]) == (6, 1)


def test_count_splits_instances():
    # 32 heads of 64 KiB each fit their buffers even though the op total does not
    (fa1, fb1), _ = fetch_orders(
        np.array([32 * 64 * KI]), np.array([32 * 64 * KI]), np.array([32.0]), 512 * KI, 512 * KI
    )
    assert (fa1[0], fb1[0]) == (1, 1)


# A GEMM where re-reading the weights saves 0.01% of DRAM bytes but fills the weight SRAM 6 times
# instead of once (M=532, N=851, K=2465, 4-bit weights, fp16 activations, 512 KiB buffers).
OPS = gemm_ops([("g", 532, 851, 2465)])
W4 = Precision(weights=4)


def test_unbounded_buffers_pick_fewer_dram_bytes():
    op = evaluate(load_arch("bitmod"), OPS, W4).ops.iloc[0]
    a, b = 532 * 2465 * 2, np.ceil(851 * 2465 * 4 / 8)
    assert op["bytes_dram"] == min(6 * b + a, 3 * a + b) + 532 * 851 * 2 == 6 * b + a + 532 * 851 * 2


def test_bandwidth_limited_buffer_picks_the_faster_order():
    arch = load_arch("bitmod", {"memory.weight_sram.bandwidth": "128 bit/cycle"})
    op = evaluate(arch, OPS, W4).ops.iloc[0]
    a, b = 532 * 2465 * 2, np.ceil(851 * 2465 * 4 / 8)
    assert op["bytes_dram"] == 3 * a + b + 532 * 851 * 2  # activations re-read: 0.01% more DRAM bytes
    slow = evaluate(load_arch("bitmod"), OPS, W4).ops.iloc[0]
    assert op["bytes_weight_sram"] < slow["bytes_weight_sram"]
    assert op["memory_cycles"] <= np.ceil(slow["bytes_weight_sram"] / 16)  # better than the DRAM-minimal order


def test_unbounded_bandwidth_costs_no_cycles_and_other_non_finite_cycles_raise():
    """An omitted (infinite) bandwidth is 0 cycles by definition; a zero bandwidth (reachable only by
    building a spec in code) must not read as '0 memory cycles' either: it raises, naming the level."""
    from dataclasses import replace

    import pytest

    from hwsim.errors import HwsimError

    arch = load_arch("bitmod")
    ops = gemm_ops([("g", 16, 1024, 1024)])
    prec = Precision(weights="int8")
    sram = arch.on_chip[0].name
    free = replace(arch, memory=tuple(replace(lv, bandwidth=np.inf) if lv.name == sram else lv for lv in arch.memory))
    t = evaluate(free, ops, prec)
    assert t.ops[f"bytes_{sram}"].iloc[0] > 0 and np.isfinite(t.totals["memory_cycles"])
    # the unbounded level's cycles are 0: memory time is the backing store's alone
    assert t.totals["memory_cycles"] == np.ceil(
        t.ops[f"bytes_{arch.backing.name}"].iloc[0] / arch.backing.bytes_per_cycle(arch.clock_hz)
    )
    stuck = replace(arch, memory=tuple(replace(lv, bandwidth=0.0) if lv.name == sram else lv for lv in arch.memory))
    with pytest.raises(HwsimError, match=rf"memory\.{sram}\.bandwidth: memory level '{sram}' needs non-finite"):
        evaluate(stuck, ops, prec)
