"""The recorded SCALE-Sim table agrees with the stall-free closed forms.

Sources: SCALE-Sim 3.0.0 (pip `scalesim`) runs recorded in tests/data/scalesim/runs.csv by
benchmarks/scalesim/run_reference.py (how: tests/data/scalesim/README.md), and the closed forms of
REFERENCES.md "Systolic arrays (SCALE-Sim)":
    os: ceil(M/H)·ceil(N/W)·(K + H + W − 2) − 1
    ws: ceil(K/H)·ceil(N/W)·(M + 2H + W − 2) − 1
    is: ceil(K/H)·ceil(M/W)·(N + 2H + W − 2) − 1
for a GEMM with output M×N, ifmap M×K, filter K×N on an H-row × W-column array.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

TABLE = Path(__file__).resolve().parents[1] / "data" / "scalesim" / "runs.csv"


def _cdiv(a, b):
    return -(-a // b)


def stall_free_cycles(dataflow, m, n, k, h, w):
    """REFERENCES.md closed forms, vectorised over numpy arrays."""
    return np.select(
        [dataflow == "os", dataflow == "ws", dataflow == "is"],
        [
            _cdiv(m, h) * _cdiv(n, w) * (k + h + w - 2) - 1,
            _cdiv(k, h) * _cdiv(n, w) * (m + 2 * h + w - 2) - 1,
            _cdiv(k, h) * _cdiv(m, w) * (n + 2 * h + w - 2) - 1,
        ],
        default=-1,
    )


def sram_reads(dataflow, m, n, k, h, w):
    """(ifmap, filter) SRAM reads implied by the mappings: the streamed operand is re-read once per
    fold of the other mapped dimension, the stationary one is read once."""
    ifmap = np.where(dataflow == "is", m * k, m * k * _cdiv(n, w))
    filt = np.select(
        [dataflow == "os", dataflow == "ws", dataflow == "is"], [k * n * _cdiv(m, h), k * n, k * n * _cdiv(m, w)]
    )
    return ifmap, filt


@pytest.fixture(scope="module")
def table():
    return pd.read_csv(TABLE)


def _args(rows):
    return (
        rows.dataflow.to_numpy(),
        rows.M.to_numpy(),
        rows.N.to_numpy(),
        rows.K.to_numpy(),
        rows.rows.to_numpy(),
        rows.cols.to_numpy(),
    )


def test_table_covers_what_the_issues_ask(table):
    calc = table[table.bandwidth_mode == "CALC"]
    user = table[table.bandwidth_mode == "USER"]
    for df in ("os", "ws", "is"):
        c = calc[calc.dataflow == df]
        assert len(c[["M", "N", "K"]].drop_duplicates()) >= 12
        stalled = user[(user.dataflow == df) & (user.stall_cycles > 0)]
        assert len(stalled[["M", "N", "K"]].drop_duplicates()) >= 10
        assert set(c.M) >= set(range(1, 9))  # decode-like M = 1..8
        assert {(8, 8), (16, 16), (32, 8), (8, 32), (32, 32)} <= set(zip(c.rows, c.cols))
    assert set(user.bandwidth_words) >= {4, 10, 32}


def test_stall_free_rows_equal_closed_form(table):
    calc = table[table.bandwidth_mode == "CALC"]
    assert (calc.stall_cycles == 0).all()
    np.testing.assert_array_equal(calc.total_cycles.to_numpy(), stall_free_cycles(*_args(calc)))


def test_user_rows_are_closed_form_plus_stalls(table):
    """With a finite bandwidth SCALE-Sim only adds stalls: the compute part is unchanged."""
    user = table[table.bandwidth_mode == "USER"]
    np.testing.assert_array_equal((user.total_cycles - user.stall_cycles).to_numpy(), stall_free_cycles(*_args(user)))


def test_sram_reads_follow_the_mapping(table):
    ifmap, filt = sram_reads(*_args(table))
    np.testing.assert_array_equal(table.sram_ifmap_reads.to_numpy(), ifmap)
    np.testing.assert_array_equal(table.sram_filter_reads.to_numpy(), filt)


def test_stalls_fall_as_bandwidth_rises(table):
    user = table[table.bandwidth_mode == "USER"]
    key = ["dataflow", "M", "N", "K", "rows", "cols", "ifmap_sram_kib", "filter_sram_kib", "ofmap_sram_kib"]
    pairs = 0
    for _, group in user.groupby(key):
        stalls = group.sort_values("bandwidth_words").stall_cycles.to_numpy()
        assert (np.diff(stalls) <= 0).all()
        pairs += len(group) > 1
    assert pairs >= 30


def test_closed_form_by_hand():
    """Hand-evaluated closed forms for M,N,K = 5,33,17 on 8 rows x 32 columns, so a vectorisation
    slip in the helper cannot hide behind the table comparison."""
    got = stall_free_cycles(np.array(["os", "ws", "is"]), 5, 33, 17, 8, 32)
    assert got.tolist() == [
        1 * 2 * (17 + 8 + 32 - 2) - 1,  # 109
        3 * 2 * (5 + 16 + 32 - 2) - 1,  # 305
        3 * 1 * (33 + 16 + 32 - 2) - 1,
    ]  # 236
