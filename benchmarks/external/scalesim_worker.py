"""SCALE-Sim side of compare_scalesim.py; runs under SCALE-Sim's own Python, e.g.

    echo '{"cases": [...]}' | /work/scalesim-venv/bin/python benchmarks/external/scalesim_worker.py

Reads cases (the fields of benchmarks/scalesim/run_reference.py's Case) as JSON on stdin and runs
each through run_reference.run_case, which writes SCALE-Sim's inputs into a temporary directory,
runs it and parses its reports, in a fresh process per case (SCALE-Sim keeps module-level state
between runs). Prints one JSON line: the parsed rows, with `wall_seconds` = SCALE-Sim's
`run_scale` alone and `case_seconds` = the whole case including the process start and imports.
"""

from __future__ import annotations

import json
import multiprocessing
import sys
import time
from pathlib import Path

from _shared import emit_rows, report_progress

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scalesim"))
import run_reference  # noqa: E402  (benchmarks/scalesim/run_reference.py)


def main() -> int:
    payload = json.load(sys.stdin)
    cases = [run_reference.Case(**c) for c in payload["cases"]]
    rows = []
    with multiprocessing.get_context("spawn").Pool(1, maxtasksperchild=1) as pool:
        start = time.perf_counter()
        for i, row in enumerate(pool.imap(run_reference.run_case, cases), 1):
            now = time.perf_counter()
            row["case_seconds"] = now - start
            start = now
            rows.append(row)
            report_progress(
                f"scalesim {row['dataflow']}",
                i,
                len(cases),
                row["M"],
                row["N"],
                row["K"],
                row["rows"],
                row["cols"],
                row["total_cycles"],
                row["wall_seconds"],
            )
    emit_rows("scalesim", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
