"""ZigZag side of compare_zigzag.py; runs under ZigZag's own Python (not hwsim's), e.g.

    echo '{"points": [...], ...}' | /work/zigzag-venv/bin/python benchmarks/external/zigzag_worker.py

Reads the design points as JSON on stdin, writes for each one a TPU-like accelerator, a one-layer
GEMM workload and a mapping in ZigZag's YAML input format into a temporary directory, runs ZigZag's
mapping search and cost model on it and prints one JSON line with the cycles and wall time per point.

The accelerator mirrors hwsim's archs/tpu-like.yaml: a rows × cols MAC array with a weight register
and an output register per PE, a 256 KiB weight FIFO, a 24 MiB unified buffer for activations and
outputs and DRAM, with the weight-stationary spatial unrolling of a TPU (output channels across
columns, reduction across rows). ZigZag then searches the temporal loop order and tiling (LOMA).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time

import yaml

from _shared import emit_rows, report_progress

# Energies only make ZigZag's cost model complete; energy is not compared. Values in pJ per access of
# one port word, assumed after Horowitz ISSCC 2014 (45 nm): register ~0.03 pJ/B, SRAM ~1.25 pJ/B
# (8 KB, 64-bit read 10 pJ), DRAM ~20 pJ/B (1300 pJ per 64-bit access, DDR3).
PJ_PER_BIT = {"reg": 0.004, "sram": 0.16, "dram": 2.5}
MAC_PJ = 0.2  # assumed: int8 multiply + 32-bit add at 45 nm (Horowitz: 0.2 + 0.1 pJ), energy only


def _ports(bits: int, allocations: dict[str, list[str]]) -> list[dict]:
    """One port per group of allocations; a group's name says its direction (r_port_i / w_port_i / rw_port_i)."""
    ports = []
    for name, alloc in allocations.items():
        kind = {"rw": "read_write", "r": "read", "w": "write"}[name.split("_")[0]]
        ports.append({"name": name, "type": kind, "bandwidth_min": bits, "bandwidth_max": bits, "allocation": alloc})
    return ports


def _memory(
    size_bits: int, kind: str, port_bits: int, operands: list[str], allocations: dict, served: list[str]
) -> dict:
    cost = PJ_PER_BIT[kind] * port_bits
    return {
        "size": size_bits,
        "r_cost": cost,
        "w_cost": cost,
        "area": 0.0,
        "latency": 1,
        "operands": operands,
        "ports": _ports(port_bits, allocations),
        "served_dimensions": served,
    }


def accelerator(rows: int, cols: int, cfg: dict) -> dict:
    """TPU-like systolic array in ZigZag's accelerator format. D1 = columns, D2 = rows."""
    # on-chip ports wide enough for one 32-bit word per array row or column each cycle: hwsim's tpu-like
    # on-chip levels have no bandwidth limit, so these should not bind either
    wide = 32 * max(rows, cols)
    # Separate ports per operand stream: with one shared port ZigZag serialises an operand's reads with
    # another's in the same cycle, which a banked buffer (and the TPU's separate accumulators) avoids.
    both = ["D1", "D2"]
    return {
        "name": f"tpu_like_{rows}x{cols}",
        "memories": {
            "w_reg": _memory(8, "reg", 8, ["I2"], {"r_port_1": ["I2, tl"], "w_port_1": ["I2, fh"]}, []),
            "o_reg": _memory(
                32,
                "reg",
                32,
                ["O"],
                {"r_port_1": ["O, tl"], "r_port_2": ["O, th"], "w_port_1": ["O, fh"], "w_port_2": ["O, fl"]},
                [],
            ),
            "weight_fifo": _memory(
                cfg["weight_fifo_bytes"] * 8,
                "sram",
                wide,
                ["I2"],
                {"r_port_1": ["I2, tl"], "w_port_1": ["I2, fh"]},
                both,
            ),
            "unified_buffer": _memory(
                cfg["unified_buffer_bytes"] * 8,
                "sram",
                wide,
                ["I1", "O"],
                {
                    "r_port_1": ["I1, tl"],
                    "r_port_2": ["O, tl", "O, th"],
                    "w_port_1": ["I1, fh"],
                    "w_port_2": ["O, fh", "O, fl"],
                },
                both,
            ),
            "dram": _memory(
                10**12,
                "dram",
                cfg["dram_bits_per_cycle"],
                ["I1", "I2", "O"],
                {"rw_port_1": ["I1, fh", "I1, tl", "I2, fh", "I2, tl", "O, fh", "O, tl", "O, fl", "O, th"]},
                both,
            ),
        },
        "operational_array": {
            "unit_energy": MAC_PJ,
            "unit_area": 1.0,
            "dimensions": ["D1", "D2"],
            "sizes": [cols, rows],
            "systolic_dimensions": ["D1", "D2"],
        },
    }


def workload(m: int, n: int, k: int) -> list[dict]:
    """GEMM O[M×N] = I[M×K] · W[K×N] as ZigZag's B (tokens), K (outputs), C (reduction) loops."""
    return [
        {
            "id": 0,
            "name": "gemm",
            "operator_type": "Gemm",
            "equation": "O[b][k]+=I[b][c]*W[c][k]",
            "loop_dims": ["B", "K", "C"],
            "loop_sizes": [m, n, k],
            "operand_precision": {"I": 8, "W": 8, "O": 32, "O_final": 8},
            "operand_source": {"I": 0, "W": 0},
        }
    ]


def mapping(rows: int, cols: int) -> list[dict]:
    """Weight-stationary spatial unrolling: outputs (K) over columns, reduction (C) over rows."""
    return [
        {
            "name": "default",
            "spatial_mapping": {"D1": [f"K, {cols}"], "D2": [f"C, {rows}"]},
            "memory_operand_links": {"O": "O", "W": "I2", "I": "I1"},
        }
    ]


def evaluate_core(acc_path: str, wl: list[dict], map_path: str, lpf_limit: int):
    """ZigZag's parse → spatial mapping → LOMA temporal mapping search → cost model, minimising
    latency, without the result-saving and plotting stages of its top-level API (no file output)."""
    from zigzag.mapping.temporal_mapping import TemporalMappingType
    from zigzag.stages.evaluation.cost_model_evaluation import CostModelStage
    from zigzag.stages.main import MainStage
    from zigzag.stages.mapping.spatial_mapping_generation import SpatialMappingGeneratorStage
    from zigzag.stages.mapping.temporal_mapping_generator_stage import TemporalMappingGeneratorStage
    from zigzag.stages.parser.accelerator_parser import AcceleratorParserStage
    from zigzag.stages.parser.workload_parser import WorkloadParserStage
    from zigzag.stages.results.reduce_stages import MinimalLatencyStage
    from zigzag.stages.workload_iterator import WorkloadStage

    stages = [
        WorkloadParserStage,
        AcceleratorParserStage,
        WorkloadStage,
        MinimalLatencyStage,
        SpatialMappingGeneratorStage,
        MinimalLatencyStage,
        TemporalMappingGeneratorStage,
        CostModelStage,
    ]
    main = MainStage(
        stages,
        accelerator=acc_path,
        workload=wl,
        mapping=map_path,
        loma_lpf_limit=lpf_limit,
        loma_show_progress_bar=False,
        nb_mappings_generated=3,
        enable_mix_spatial_mapping_generation=False,
        access_same_data_considered_as_no_access=True,
        temporal_mapping_type=TemporalMappingType("uneven"),
    )
    return main.run()[0][0]


def evaluate_api(acc_path: str, wl_path: str, map_path: str, dump: str, lpf_limit: int) -> float:
    """The same point through ZigZag's documented entry point (which also saves JSON, a pickle and a plot)."""
    from zigzag.api import get_hardware_performance_zigzag

    _, latency, _ = get_hardware_performance_zigzag(
        wl_path, acc_path, map_path, opt="latency", dump_folder=dump, lpf_limit=lpf_limit, loma_show_progress_bar=False
    )
    return latency


def main() -> int:
    payload = json.load(sys.stdin)
    cfg = payload["config"]
    lpf = payload.get("lpf_limit", 6)
    logging.disable(logging.CRITICAL)  # ZigZag logs every stage at INFO
    import zigzag.api  # noqa: F401  imported before timing: the first point should not pay the imports

    results = []
    with tempfile.TemporaryDirectory(prefix="zigzag_cmp_") as tmp:
        for i, p in enumerate(payload["points"]):
            acc_path = os.path.join(tmp, f"acc_{i}.yaml")
            map_path = os.path.join(tmp, f"map_{i}.yaml")
            wl_path = os.path.join(tmp, f"wl_{i}.yaml")
            wl = workload(p["m"], p["n"], p["k"])
            inputs = (
                (acc_path, accelerator(p["rows"], p["cols"], cfg)),
                (map_path, mapping(p["rows"], p["cols"])),
                (wl_path, wl),
            )
            for path, data in inputs:
                with open(path, "w") as f:  # key order matters: ZigZag's memory levels go innermost first
                    yaml.safe_dump(data, f, sort_keys=False)
            start = time.perf_counter()
            cme = evaluate_core(acc_path, wl, map_path, lpf)
            wall = time.perf_counter() - start
            row = {
                **p,
                "wall_s": wall,
                "latency_cycles": float(cme.latency_total2),
                "ideal_cycles": float(cme.ideal_cycle),
                "ideal_temporal_cycles": float(cme.ideal_temporal_cycle),
                "stall_cycles": float(cme.stall_slack_comb),
                "onloading_cycles": float(cme.data_onloading_cycle),
                "offloading_cycles": float(cme.data_offloading_cycle),
            }
            if i in payload.get("api_check", []):
                start = time.perf_counter()
                row["api_latency_cycles"] = float(
                    evaluate_api(acc_path, wl_path, map_path, os.path.join(tmp, f"out_{i}"), lpf)
                )
                row["api_wall_s"] = time.perf_counter() - start
            results.append(row)
            report_progress(
                "zigzag",
                i + 1,
                len(payload["points"]),
                p["m"],
                p["n"],
                p["k"],
                p["rows"],
                p["cols"],
                row["latency_cycles"],
                wall,
            )
    emit_rows("zigzag-dse", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
