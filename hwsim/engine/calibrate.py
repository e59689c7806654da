"""Calibrate a GPU preset's kernel constants on measured GEMM times.

Fits compute.compute_efficiency, memory.hbm.efficiency and compute.launch_overhead by minimising
the mean absolute log-ratio of predicted to measured time over a training subset of shapes, so
that other shapes can be held out to test generalisation.
"""
from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from hwsim.core.ops import gemm_ops
from hwsim.core.precision import Precision
from hwsim.engine import evaluate

TRAIN_OPS = ("qkv", "gate_up", "lm_head")
HELD_OUT_OPS = ("o", "down")
PARAMS = ("compute.compute_efficiency", "memory.hbm.efficiency", "compute.launch_overhead")


def measured_h100() -> pd.DataFrame:
    """The measured H100 bf16 GEMM times (GEMM rows only; the copy row is returned separately)."""
    with resources.files("hwsim.data").joinpath("gpu/h100-sxm-bf16-gemm.csv").open() as fh:
        df = pd.read_csv(fh)
    return df


def predict(arch, rows: pd.DataFrame, precision=None) -> np.ndarray:
    """Seconds per measured GEMM row (M tokens, N outputs, K inputs) on `arch`."""
    ops = gemm_ops([(f"{r.op}_{r.M}", r.M, r.N, r.K) for r in rows.itertuples()])
    return evaluate(arch, ops, precision or Precision(weights="bf16", activations="bf16")).ops["seconds"].to_numpy()


def relative_errors(arch, rows: pd.DataFrame) -> np.ndarray:
    return predict(arch, rows) / rows["seconds"].to_numpy() - 1.0


def fit(arch, rows: pd.DataFrame, x0=(0.7, 0.88, 15e-6)) -> dict[str, float]:
    """Fitted values of PARAMS on `rows` (GEMM rows of the measured table)."""
    meas = rows["seconds"].to_numpy()

    def loss(x):
        eff_c, eff_m, launch = x
        if not (0.05 < eff_c <= 1 and 0.05 < eff_m <= 1 and 0 <= launch < 1e-3):
            return 1e9
        pt = arch.with_values(dict(zip(PARAMS, (eff_c, eff_m, launch))))
        return float(np.mean(np.abs(np.log(predict(pt, rows) / meas))))

    res = minimize(loss, np.array(x0), method="Nelder-Mead",
                   options={"xatol": 1e-4, "fatol": 1e-6, "maxiter": 2000})
    return dict(zip(PARAMS, (float(v) for v in res.x)))


def main() -> None:  # python -m hwsim.engine.calibrate: refit the H100 preset's constants
    from hwsim.arch import load_arch

    arch = load_arch("h100-sxm")
    df = measured_h100()
    gemm = df[df["kind"] == "linear"]
    train, held = gemm[gemm["op"].isin(TRAIN_OPS)], gemm[gemm["op"].isin(HELD_OUT_OPS)]
    params = fit(arch, train)
    print({k: round(v, 6) for k, v in params.items()})
    fitted = arch.with_values(params)
    for name, part in (("train", train), ("held-out", held)):
        err = np.abs(relative_errors(fitted, part))
        print(f"{name}: median {np.median(err):.3f}, worst {err.max():.3f} (n={len(part)})")


if __name__ == "__main__":
    main()
