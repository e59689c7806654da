"""The same GEMMs through hwsim and through SCALE-Sim, timed in one run; cycles must agree.

    /work/venv/bin/python benchmarks/external/compare_scalesim.py [--quick]

SCALE-Sim 3.0.0 runs in its own virtual environment (SCALESIM_PYTHON, default
/work/scalesim-venv/bin/python; setup in benchmarks/external/README.md) through scalesim_worker.py,
which reuses benchmarks/scalesim/run_reference.py to write its inputs and parse its reports. Every
GEMM runs in SCALE-Sim's stall-free mode (InterfaceBandwidth CALC), where its total cycles are the
array schedule alone; hwsim's systolic family (tpu-like preset with rows, cols and dataflow set)
must give exactly those cycles as `compute_cycles`, through `Accelerator.cost` and through the
vectorised `sweep_cost`; the script stops with an error if any differs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _shared import (
    HERE,
    external_python,
    fail,
    hwsim_gemm,
    machine_line,
    markdown_table,
    ratio_summary,  # noqa: E402
    require_hwsim,
    run_worker,
    seconds,
)

# (M, N, K) on (rows, cols): a GEMV and a batch-8 decode step of 1024/512-wide layers, and a 64-token
# prefill tile; small enough that SCALE-Sim takes seconds, not minutes, per GEMM.
GEMMS = [((1, 1024, 1024), (32, 32)), ((8, 512, 512), (16, 16)), ((64, 512, 512), (32, 32))]
DATAFLOWS = ("os", "ws", "is")
SRAM_KIB = 64  # per operand buffer: large enough that no CALC run stalls (docs/scalesim.md)
SETUP = "python3 -m venv /work/scalesim-venv && /work/scalesim-venv/bin/pip install scalesim==3.0.0"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one GEMM per dataflow (the 64-token one)")
    args = parser.parse_args(argv)
    require_hwsim()
    python = external_python(
        "SCALESIM_PYTHON", "/work/scalesim-venv/bin/python", "SCALE-Sim", "scalesim.scale_sim", SETUP
    )

    import numpy as np
    from hwsim.arch import load_arch
    from hwsim.engine import Precision

    gemms = GEMMS[2:] if args.quick else GEMMS
    cases = [
        {
            "purpose": "timing",
            "dataflow": df,
            "M": m,
            "N": n,
            "K": k,
            "rows": r,
            "cols": c,
            "bandwidth_mode": "CALC",
            "bandwidth_words": 0,
            "ifmap_sram_kib": SRAM_KIB,
            "filter_sram_kib": SRAM_KIB,
            "ofmap_sram_kib": SRAM_KIB,
        }
        for df in DATAFLOWS
        for (m, n, k), (r, c) in gemms
    ]
    ss = run_worker(python, HERE / "scalesim_worker.py", {"cases": cases}, timeout_s=1800)

    precision = Precision(weights=8, activations=8)  # SCALE-Sim's word is 1 byte
    dense_side = np.arange(8, 264, 8)  # 32 x 32 = 1,024 array shapes per GEMM
    table, ratios_closed, ratios_cost, ratios_sweep = [], [], [], []
    for row in ss["rows"]:
        df, m, n, k, r, c = (row[f] for f in ("dataflow", "M", "N", "K", "rows", "cols"))
        arch = load_arch("tpu-like", {"compute.dataflow": df})
        hw = hwsim_gemm(arch, m, n, k, [(r, c)], precision, dense_side)
        got = {"Accelerator.cost": hw["compute_cycles"][0], "sweep_cost": hw["sweep_compute_cycles"][0]}
        if row["stall_cycles"] != 0 or any(v != row["total_cycles"] for v in got.values()):
            fail(
                f"cycles disagree for {df} {m}x{n}x{k} on {r}x{c}: SCALE-Sim total {row['total_cycles']} "
                f"(stalls {row['stall_cycles']}), hwsim compute_cycles {got}"
            )
        ratios_closed.append(row["wall_seconds"] / hw["closed_form_s"][0])
        ratios_cost.append(row["wall_seconds"] / hw["cost_s"][0])
        ratios_sweep.append(row["wall_seconds"] / hw["sweep_dense_s_per_point"])
        table.append(
            [
                df,
                f"{m}×{n}×{k}",
                f"{r}×{c}",
                f"{row['total_cycles']:,}",
                f"{hw['compute_cycles'][0]:,}",
                seconds(row["wall_seconds"]),
                seconds(hw["closed_form_s"][0]),
                seconds(hw["cost_s"][0]),
                seconds(hw["sweep_dense_s_per_point"]),
                *(f"{r[-1]:,.0f}×" for r in (ratios_closed, ratios_cost, ratios_sweep)),
            ]
        )

    headers = [
        "dataflow",
        "M×N×K",
        "array",
        "SCALE-Sim cycles",
        "hwsim compute_cycles",
        "SCALE-Sim wall",
        "closed form",
        "hwsim cost()",
        "hwsim sweep/pt",
        "ratio closed form",
        "ratio cost()",
        "ratio sweep",
    ]
    print(
        f"SCALE-Sim {ss['version']} (Python {ss['python']}, stall-free CALC mode) vs hwsim systolic "
        f"(tpu-like), {len(cases)} GEMMs; {machine_line()}\n"
    )
    print(markdown_table(headers, table))
    total = sum(r["wall_seconds"] for r in ss["rows"])
    total_case = sum(r["case_seconds"] for r in ss["rows"])
    print(f"\nAll {len(cases)} cycle counts agree exactly (Accelerator.cost and sweep_cost; SCALE-Sim stalls 0).")
    print(
        f"SCALE-Sim run_scale total {total:.1f} s ({total_case:.1f} s with a fresh process, imports and "
        f"report parsing per GEMM)."
    )
    print(ratio_summary("SCALE-Sim wall / the closed form alone per GEMM", ratios_closed))
    print(ratio_summary("SCALE-Sim wall / hwsim Accelerator.cost per GEMM", ratios_cost))
    grid = f"{hw['dense_points']:,}-point grid"
    print(ratio_summary(f"SCALE-Sim wall / hwsim sweep_cost per point ({grid})", ratios_sweep))
    return 0


if __name__ == "__main__":
    sys.exit(main())
