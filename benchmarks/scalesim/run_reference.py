"""Record a reference table of SCALE-Sim GEMM runs for hwsim's systolic-array models.

Runs under SCALE-Sim's own environment (it is not an hwsim dependency and CI never runs it):

    /work/scalesim-venv/bin/python benchmarks/scalesim/run_reference.py \
        --out tests/data/scalesim/runs.csv --jobs 1

Each case is one single-layer SCALE-Sim run: the script writes a config (.cfg), a GEMM topology
(.csv: ``name, M, N, K,``) and an empty layout file into a temporary directory, runs SCALE-Sim's
Python API in a fresh worker process (no state shared between runs), times the run, parses the
three reports it writes (COMPUTE_REPORT, BANDWIDTH_REPORT, DETAILED_ACCESS_REPORT) and appends one
row to the CSV. Nothing of SCALE-Sim's output is kept besides the parsed row.

The API call is equivalent to SCALE-Sim's CLI
``python -m scalesim.scale -c run.cfg -t gemm.csv -l layout.csv -i gemm -p out/`` except that
traces are not saved (the CLI always saves them, which only adds file I/O).
"""

from __future__ import annotations

import argparse
import csv
import io
import multiprocessing
import os
import sys
import tempfile
import time
from contextlib import redirect_stdout
from dataclasses import asdict, dataclass, fields

# SCALE-Sim fixes the word size at 1 byte (single_layer_sim.py: ``word_size = 1``), so an SRAM of
# S KiB holds 1024*S operand words.
WORD_BYTES = 1


@dataclass(frozen=True)
class Case:
    purpose: str  # stall_free | user_bw | timing
    dataflow: str  # os | ws | is
    M: int  # output rows (ifmap M x K)
    N: int  # output columns (filter K x N)
    K: int  # reduction length
    rows: int  # array height H
    cols: int  # array width W
    bandwidth_mode: str  # CALC (stall-free estimate) | USER (finite interface bandwidth)
    bandwidth_words: int  # words/cycle for every operand interface in USER mode; 0 for CALC
    ifmap_sram_kib: int
    filter_sram_kib: int
    ofmap_sram_kib: int


# Config template. In USER mode SCALE-Sim 3.0.0 takes the ifmap and filter interface bandwidth from
# the [layout] keys IfmapSRAMBankBandwidth / FilterSRAMBankBandwidth and only the ofmap one from
# [architecture_presets] Bandwidth (single_layer_sim.py), so all three are set to the same value,
# with one bank each (the bandwidth must divide evenly over the banks).
CONFIG_TEMPLATE = """\
[general]
run_name = {run_name}

[architecture_presets]
ArrayHeight : {rows}
ArrayWidth : {cols}
IfmapSramSzkB : {ifmap_sram_kib}
FilterSramSzkB : {filter_sram_kib}
OfmapSramSzkB : {ofmap_sram_kib}
IfmapOffset : 0
FilterOffset : 10000000
OfmapOffset : 20000000
Bandwidth : {bw}
Dataflow : {dataflow}
ReadRequestBuffer : 32
WriteRequestBuffer : 32

[layout]
IfmapCustomLayout : False
IfmapSRAMBankBandwidth : {bw}
IfmapSRAMBankNum : 1
IfmapSRAMBankPort : 2
FilterCustomLayout : False
FilterSRAMBankBandwidth : {bw}
FilterSRAMBankNum : 1
FilterSRAMBankPort : 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth : {bandwidth_mode}
UseRamulatorTrace : False
"""

# Report columns kept, by report file and SCALE-Sim header text -> our column name.
REPORT_COLUMNS = {
    "COMPUTE_REPORT.csv": {
        "Total Cycles (incl. prefetch)": "total_cycles_incl_prefetch",
        "Total Cycles": "total_cycles",
        "Stall Cycles": "stall_cycles",
        "Overall Util %": "overall_util_pct",
        "Mapping Efficiency %": "mapping_efficiency_pct",
        "Compute Util %": "compute_util_pct",
    },
    "DETAILED_ACCESS_REPORT.csv": {
        "SRAM IFMAP Reads": "sram_ifmap_reads",
        "SRAM Filter Reads": "sram_filter_reads",
        "SRAM OFMAP Writes": "sram_ofmap_writes",
        "SRAM IFMAP Start Cycle": "sram_ifmap_start",
        "SRAM IFMAP Stop Cycle": "sram_ifmap_stop",
        "SRAM Filter Start Cycle": "sram_filter_start",
        "SRAM Filter Stop Cycle": "sram_filter_stop",
        "SRAM OFMAP Start Cycle": "sram_ofmap_start",
        "SRAM OFMAP Stop Cycle": "sram_ofmap_stop",
        "DRAM IFMAP Reads": "dram_ifmap_reads",
        "DRAM Filter Reads": "dram_filter_reads",
        "DRAM OFMAP Writes": "dram_ofmap_writes",
        "DRAM IFMAP Start Cycle": "dram_ifmap_start",
        "DRAM IFMAP Stop Cycle": "dram_ifmap_stop",
        "DRAM Filter Start Cycle": "dram_filter_start",
        "DRAM Filter Stop Cycle": "dram_filter_stop",
        "DRAM OFMAP Start Cycle": "dram_ofmap_start",
        "DRAM OFMAP Stop Cycle": "dram_ofmap_stop",
    },
}
CASE_COLUMNS = [f.name for f in fields(Case)]
RESULT_COLUMNS = [c for cols in REPORT_COLUMNS.values() for c in cols.values()]
OUTPUT_COLUMNS = CASE_COLUMNS + ["word_bytes"] + RESULT_COLUMNS + ["wall_seconds"]

ARRAYS = [(8, 8), (16, 16), (32, 8), (8, 32), (32, 32)]
DATAFLOWS = ("os", "ws", "is")

# Stall-free shapes (M, N, K): decode-like M = 1..8, non-divisible sizes, square and skinny.
STALL_FREE_SHAPES = [
    (1, 64, 64),
    (2, 48, 40),
    (3, 100, 37),
    (4, 64, 128),
    (5, 33, 17),
    (6, 70, 50),
    (7, 200, 9),
    (8, 128, 64),
    (16, 16, 16),
    (17, 31, 23),
    (40, 8, 300),
    (64, 64, 64),
    (100, 50, 70),
    (33, 65, 129),
    (128, 96, 80),
]
# Finite-bandwidth shapes: operands larger than the half of the SRAM that is active, so DRAM
# prefetches are on the critical path and stalls appear.
USER_SHAPES = [
    (1, 64, 64),
    (2, 128, 64),
    (4, 128, 128),
    (8, 200, 96),
    (16, 64, 64),
    (32, 96, 80),
    (64, 64, 64),
    (3, 150, 70),
    (50, 40, 120),
    (64, 128, 32),
    (100, 60, 50),
]
# (Small decode shapes only: weight-stationary GEMVs whose filter is many times the SRAM make
# SCALE-Sim's USER mode re-fetch the whole filter stream repeatedly and take minutes, e.g.
# 1x256x256 on 8x8 with 4 KiB buffers at 4 words/cycle: 18 s, 600k stall cycles.)
USER_BANDWIDTHS = (4, 10, 32)
USER_SRAMS_KIB = ((1, 1, 1), (2, 2, 1), (4, 4, 2))
# Larger GEMMs for the wall-time comparison with hwsim (stall-free; checked by the closed form too).
TIMING_SHAPES = [((1, 1024, 1024), (32, 32)), ((64, 512, 512), (32, 32)), ((256, 256, 256), (16, 16))]
CALC_SRAM_KIB = (64, 64, 64)


def default_cases() -> list[Case]:
    """The recorded set: arrays and SRAM sizes rotate over shapes so every combination appears."""
    cases = []
    for df in DATAFLOWS:
        for i, (m, n, k) in enumerate(STALL_FREE_SHAPES):
            for h, w in (ARRAYS[i % len(ARRAYS)], ARRAYS[(i + 2) % len(ARRAYS)]):
                cases.append(Case("stall_free", df, m, n, k, h, w, "CALC", 0, *CALC_SRAM_KIB))
        for i, (m, n, k) in enumerate(USER_SHAPES):
            h, w = ARRAYS[i % len(ARRAYS)]
            bw = USER_BANDWIDTHS[i % len(USER_BANDWIDTHS)]
            srams = USER_SRAMS_KIB[i % len(USER_SRAMS_KIB)]
            cases.append(Case("user_bw", df, m, n, k, h, w, "USER", bw, *srams))
            # the same GEMM at the next bandwidth, to show how stalls scale with bandwidth
            bw2 = USER_BANDWIDTHS[(i + 1) % len(USER_BANDWIDTHS)]
            cases.append(Case("user_bw", df, m, n, k, h, w, "USER", bw2, *srams))
        for (m, n, k), (h, w) in TIMING_SHAPES:
            cases.append(Case("timing", df, m, n, k, h, w, "CALC", 0, *CALC_SRAM_KIB))
    return cases


def parse_report(path: str) -> dict[str, str]:
    """One-layer SCALE-Sim report: header line and one value line, comma separated, trailing comma."""
    with open(path) as f:
        header, values = [line.rstrip().rstrip(",").split(",") for line in f.readlines()[:2]]
    return {h.strip(): v.strip() for h, v in zip(header, values)}


def _number(text: str):
    value = float(text)
    return int(value) if value.is_integer() else round(value, 6)


def run_case(case: Case) -> dict:
    """Run one case through SCALE-Sim in this process; returns the CSV row."""
    from scalesim.scale_sim import scalesim  # imported here: only the worker needs SCALE-Sim

    with tempfile.TemporaryDirectory(prefix="scalesim_") as tmp:
        cfg = os.path.join(tmp, "run.cfg")
        topo = os.path.join(tmp, "gemm.csv")
        layout = os.path.join(tmp, "layout.csv")
        with open(cfg, "w") as f:
            f.write(CONFIG_TEMPLATE.format(run_name="run", bw=max(case.bandwidth_words, 1), **asdict(case)))
        with open(topo, "w") as f:
            f.write(f"Layer, M, N, K,\ngemm, {case.M}, {case.N}, {case.K},\n")
        with open(layout, "w") as f:
            f.write("Layer,\n")
        with redirect_stdout(io.StringIO()):
            sim = scalesim(
                save_disk_space=True, verbose=False, config=cfg, topology=topo, layout=layout, input_type_gemm=True
            )
            start = time.perf_counter()
            sim.run_scale(top_path=os.path.join(tmp, "out"))
            wall = time.perf_counter() - start
        row = asdict(case)
        row["word_bytes"] = WORD_BYTES
        for report, columns in REPORT_COLUMNS.items():
            values = parse_report(os.path.join(tmp, "out", "run", report))
            for header, name in columns.items():
                row[name] = _number(values[header])
    row["wall_seconds"] = round(wall, 3)
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="CSV to write")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument(
        "--purpose",
        choices=["stall_free", "user_bw", "timing"],
        action="append",
        help="only these groups of cases (repeatable; default all)",
    )
    args = parser.parse_args(argv)

    cases = [c for c in default_cases() if not args.purpose or c.purpose in args.purpose]
    start = time.perf_counter()
    # one fresh process per case: SCALE-Sim keeps module-level mutable defaults between runs
    # (multiprocessing.Pool: concurrent.futures' max_tasks_per_child hangs on Python 3.11)
    with multiprocessing.get_context("spawn").Pool(args.jobs, maxtasksperchild=1) as pool:
        rows = []
        for i, row in enumerate(pool.imap(run_case, cases), 1):
            rows.append(row)
            print(
                f"[{i}/{len(cases)}] {row['purpose']} {row['dataflow']} "
                f"M={row['M']} N={row['N']} K={row['K']} {row['rows']}x{row['cols']} "
                f"{row['bandwidth_mode']} bw={row['bandwidth_words']}: "
                f"total={row['total_cycles']} stall={row['stall_cycles']} "
                f"({row['wall_seconds']} s)",
                file=sys.stderr,
                flush=True,
            )
    with open(args.out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=OUTPUT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(rows)} runs in {time.perf_counter() - start:.1f} s -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
