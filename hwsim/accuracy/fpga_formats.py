"""Integer vs minifloat MACs on an FPGA at matched accuracy (REFERENCES.md FPGA finding: integer
MACs are usually Pareto-optimal; minifloat MACs cost 20–180% more LUTs, 60–300% with conversion).

Accuracy: weight MSE relative to the weights' variance on synthetic Llama-style weights
(hwsim.accuracy.synthetic, one block at 1/8 of Llama-2-7B's shapes), every format with the same
group scaling (groups of 32, fp16 scales) so only the element grid differs. Cost: LUTs of one
multiply-accumulate unit with both operands in the format (hwsim.families.fpga.arith.lut_mac),
accumulating `terms` products; with or without output conversion.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from hwsim.accuracy.metrics import mse
from hwsim.accuracy.synthetic import llm_weights
from hwsim.core.precision import operand_type
from hwsim.families.fpga.arith import lut_mac
from hwsim.formats import get_format
from hwsim.pareto import pareto_mask

INTS = ("int3_g32", "int4_g32", "int5_g32", "int6_g32", "int7_g32", "int8_g32")
MINIFLOATS = ("e2m1_g32", "e2m2_g32", "e3m2_g32", "e2m3_g32", "e3m3_g32", "e4m3_g32", "e5m2_g32")


def weight_error(name: str, weights: dict[str, np.ndarray]) -> float:
    """MSE / variance of the weights, pooled over the block's matrices."""
    fmt = get_format(name)
    err = sum(mse(w, fmt.quantize(w)) * w.size for w in weights.values())
    var = sum(float(np.mean(w.astype(np.float64) ** 2)) * w.size for w in weights.values())
    return float(err / var)


def int_vs_minifloat(
    ints: Iterable[str] = INTS,
    minifloats: Iterable[str] = MINIFLOATS,
    seed: int = 0,
    hidden: int = 256,
    intermediate: int = 688,
    terms: int = 4608,
) -> pd.DataFrame:
    """One row per format: error, LUTs per MAC (plain, with conversion), Pareto-optimal flags, and
    for minifloats the cheapest integer format at least as accurate with the LUT overheads."""
    weights = llm_weights(seed, hidden, intermediate)
    rows = []
    for name in (*ints, *minifloats):
        t = operand_type(name)
        rows.append(
            {
                "format": name,
                "is_float": t.is_float,
                "bits": t.element_bits,
                "rel_mse": weight_error(name, weights),
                "luts": lut_mac(t, t, terms),
                "luts_conv": lut_mac(t, t, terms, conversion=True),
            }
        )
    df = pd.DataFrame(rows)
    for col in ("luts", "luts_conv"):
        df[f"pareto_{col}"] = pareto_mask(df[[col, "rel_mse"]].to_numpy(), [False, False])
    ints_df = df[~df["is_float"]]
    matched: list[str | None] = []
    over: list[float] = []
    over_conv: list[float] = []
    for _, r in df.iterrows():
        ok = ints_df[ints_df["rel_mse"] <= r["rel_mse"]]
        if not r["is_float"] or ok.empty:
            matched.append(None)
            over.append(np.nan)
            over_conv.append(np.nan)
            continue
        best = ok.loc[ok["luts"].idxmin()]
        matched.append(best["format"])
        over.append(r["luts"] / best["luts"] - 1)
        over_conv.append(r["luts_conv"] / best["luts"] - 1)
    df["matched_int"], df["lut_overhead"], df["lut_overhead_conv"] = matched, over, over_conv
    return df
