"""The same GEMM design points through hwsim and through ZigZag (pip `zigzag-dse`), timed in one run.

    /work/venv/bin/python benchmarks/external/compare_zigzag.py [--quick]

ZigZag runs in its own virtual environment (ZIGZAG_PYTHON, default /work/zigzag-venv/bin/python;
setup in benchmarks/external/README.md) through zigzag_worker.py; hwsim runs here. Design points:
Llama-2-7B's q_proj, gate_proj and down_proj GEMMs at decode (M = 1) and prefill (M = 512 tokens)
on TPU-like weight-stationary arrays of several sizes, with the same buffers and DRAM bandwidth in
both tools.

This is a speed comparison, not a validation: ZigZag searches spatial/temporal mappings (LOMA loop
orders and tilings) and prices every memory port, while hwsim's systolic family uses SCALE-Sim's
fixed-dataflow closed form for compute and a roofline-style memory model, so their cycle counts
differ by construction (side by side in the table).
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

ARRAYS = [(32, 32), (64, 64), (128, 128), (256, 256)]
OPS = ("q_proj", "gate_proj", "down_proj")
PREFILL_TOKENS = 512
# hwsim's tpu-like preset (archs/tpu-like.yaml) has a 256 KiB weight FIFO, a 24 MiB unified buffer and
# DRAM at 34 GB/s = 48.6 B/cycle at 700 MHz; ZigZag's port widths are whole bits per cycle, so both
# tools get 384 bit/cycle (48 B/cycle).
DRAM_BITS_PER_CYCLE = 384
ZIGZAG_CONFIG = {
    "dram_bits_per_cycle": DRAM_BITS_PER_CYCLE,
    "weight_fifo_bytes": 256 * 1024,
    "unified_buffer_bytes": 24 * 1024 * 1024,
}
SETUP = "python3 -m venv /work/zigzag-venv && /work/zigzag-venv/bin/pip install zigzag-dse six"


def gemm_shapes() -> list[tuple[str, int, int, int]]:
    """(label, M, N, K) of Llama-2-7B's distinct projection GEMMs, from hwsim's own trace."""
    from hwsim.workload import load_model, trace

    model = load_model("llama-2-7b")
    shapes = []
    for phase, kwargs in (("decode", {"context": 0}), ("prefill", {"seq": PREFILL_TOKENS})):
        ops = trace(model, phase, **kwargs).ops
        for op in OPS:
            row = ops[(ops.layer == 0) & (ops.op == op)].iloc[0]
            shapes.append((f"{phase} {op}", int(row.m), int(row.n), int(row.k)))
    return shapes


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two arrays only (32x32, 128x128)")
    args = parser.parse_args(argv)
    require_hwsim()
    python = external_python("ZIGZAG_PYTHON", "/work/zigzag-venv/bin/python", "ZigZag", "zigzag.api", SETUP)

    import numpy as np
    from hwsim.arch import load_arch
    from hwsim.engine import Precision

    arrays = [ARRAYS[0], ARRAYS[2]] if args.quick else ARRAYS
    shapes = gemm_shapes()
    points = [
        {"label": lbl, "m": m, "n": n, "k": k, "rows": r, "cols": c} for lbl, m, n, k in shapes for r, c in arrays
    ]
    zz = run_worker(
        python, HERE / "zigzag_worker.py", {"config": ZIGZAG_CONFIG, "points": points, "api_check": [0]}, timeout_s=1800
    )
    zz_rows = {(p["label"], p["rows"], p["cols"]): p for p in zz["rows"]}

    dram = f"{DRAM_BITS_PER_CYCLE} bit/cycle"
    arch = load_arch("tpu-like", {"compute.dataflow": "ws", "memory.dram.bandwidth": dram})
    precision = Precision(weights=8, activations=8)
    dense_side = np.arange(8, 264, 8)  # 32 x 32 = 1,024 array shapes per GEMM
    table, ratios_cost, ratios_sweep = [], [], []
    for label, m, n, k in shapes:
        hw = hwsim_gemm(arch, m, n, k, arrays, precision, dense_side)
        if hw["sweep_cycles"] != hw["cycles"]:
            fail(f"{label}: sweep_cost cycles {hw['sweep_cycles']} differ from Accelerator.cost {hw['cycles']}")
        for i, (r, c) in enumerate(arrays):
            z = zz_rows[(label, r, c)]
            ratios_cost.append(z["wall_s"] / hw["cost_s"][i])
            ratios_sweep.append(z["wall_s"] / hw["sweep_dense_s_per_point"])
            table.append(
                [
                    label,
                    f"{m}×{n}×{k}",
                    f"{r}×{c}",
                    f"{z['latency_cycles']:,.0f}",
                    f"{z['ideal_temporal_cycles']:,.0f}",
                    f"{hw['cycles'][i]:,}",
                    f"{hw['compute_cycles'][i]:,}",
                    f"{hw['memory_cycles'][i]:,}",
                    seconds(z["wall_s"]),
                    seconds(hw["cost_s"][i]),
                    seconds(hw["sweep_dense_s_per_point"]),
                    *(f"{x[-1]:,.0f}×" for x in (ratios_cost, ratios_sweep)),
                ]
            )

    headers = [
        "GEMM",
        "M×N×K",
        "array",
        "ZigZag cycles",
        "ZigZag ideal",
        "hwsim cycles",
        "hwsim compute",
        "hwsim memory",
        "ZigZag wall",
        "hwsim cost()",
        "hwsim sweep/pt",
        "ZigZag/cost()",
        "ZigZag/sweep",
    ]
    print(
        f"ZigZag (zigzag-dse {zz['version']}, Python {zz['python']}) vs hwsim systolic (tpu-like, ws), "
        f"{len(points)} design points; {machine_line()}\n"
    )
    print(markdown_table(headers, table))
    total_zz = sum(p["wall_s"] for p in zz["rows"])
    first = zz["rows"][0]
    print(f"\nZigZag total {total_zz:.1f} s for {len(points)} points (mapping search + cost model, no file output).")
    print(
        f"ZigZag top-level API on the first point (also saves JSON/pickle/plot): {first['api_wall_s']:.2f} s "
        f"vs {first['wall_s']:.2f} s core; same latency: {first['api_latency_cycles'] == first['latency_cycles']}."
    )
    print(ratio_summary("ZigZag wall / hwsim Accelerator.cost per point", ratios_cost))
    print(ratio_summary(f"ZigZag wall / hwsim sweep_cost per point ({hw['dense_points']:,}-point grid)", ratios_sweep))
    return 0


if __name__ == "__main__":
    sys.exit(main())
