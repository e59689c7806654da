"""GPU kernel classes against measured times.

Fitted: hwsim/data/gpu/h100-sxm-kernels.csv (one H100 SXM, torch 2.11 / CUDA 13, CUDA events; copied from
the project's shared measurements), rows with split = train; the rows with split = held-out are never
fitted: bf16 o_proj and down_proj shapes, fp8 M = 64 and 1024, int4 GEMV M = 4 and 64, causal prefill
attention (no attention-specific fitted field) and the 1 GiB copy.
Held out across GPUs: published measured A100 fp16 matmuls of LLMCompass (Zhang et al., ISCA 2024),
github.com/PrincetonUniversity/LLMCompass ae/figure5/ab/real_hardware/matmul_A100.csv (validation only).
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hwsim.arch import load_arch
from hwsim.engine.calibrate import fit, holdout_mask, predict, read_measurements
from hwsim.families.gpu import FITTED, fitted_path

KERNELS = Path(__file__).parents[2] / "hwsim" / "data" / "gpu" / "h100-sxm-kernels.csv"
A100 = Path(__file__).parents[1] / "data" / "gpu" / "llmcompass-a100-fp16-matmul.csv"


@pytest.fixture(scope="module")
def data():
    df = read_measurements(KERNELS)
    df["err"] = predict(load_arch("h100-sxm"), df) / df["seconds"] - 1
    return df


def _stats(rows):
    e = np.abs(rows["err"].to_numpy())
    return float(np.median(e)), float(e.max())


@pytest.mark.parametrize(
    "kind, dtype, median, worst",
    [
        # held out: o, down. Median 7.0% -> 7.9% (worst 30.0% -> 28.6%) since the GPU took the pipeline start-up/
        # drain rule it shares with the cycle engine, split-K CTAs streaming k / split (Dec 2026 refit)
        ("gemm", "bf16", 0.08, 0.31),
        ("gemm", "fp8_e4m3", 0.03, 0.03),  # M = 64, 1024: 1.5%, 1.7%
        ("gemm_wonly_gemv", "bf16", 0.03, 0.03),  # M = 4, 64: 2.5%, 2.8%
        ("attn_prefill_causal", "bf16", 0.15, 0.15),  # FA2-style, 7.6% (14.4% before the start-up/drain rule)
    ],
)
def test_held_out_error_per_kernel_class(data, kind, dtype, median, worst):
    rows = data[(data["kind"] == kind) & (data["dtype"] == dtype) & (data["split"] == "held-out")]
    assert len(rows) >= 1
    med, mx = _stats(rows)
    assert med <= median and mx <= worst


def test_train_error(data):
    med, mx = _stats(data[data["split"] == "train"])
    assert med < 0.04 and mx < 0.11


def test_preset_is_the_train_fit(data):
    arch = load_arch("h100-sxm")
    got = fit(arch, data, holdout_mask(data, column="split=held-out"))
    assert not got.at_bound and not got.skipped
    preset = {
        fitted_path(arch, p): (arch.backing.efficiency if p.startswith("memory") else arch.compute[p.split(".")[1]])
        for p in FITTED
    }
    for path, value in got.values.items():
        assert value == pytest.approx(preset[path], rel=0.02), path


def test_copy_reaches_more_bandwidth_than_gemm_streams(data):
    # the 1 GiB copy reaches 2.97 TB/s (89% of 3.35); GEMM operand streams fit 69%: the copy row is
    # predicted ~30% slow, which is why it is held out, not fitted (docs/engine.md)
    copy = data[data["kind"] == "copy"].iloc[0]
    assert 2 * 2**30 / copy["seconds"] / 3.35e12 == pytest.approx(0.885, abs=0.01)
    assert 0.25 < copy["err"] < 0.35


def test_a100_from_h100_fit_and_datasheet():
    """No A100 row is fitted: the A100 preset is the H100 fit carried over through datasheet fields.
    Large GEMMs come out -6% to +18% (median 6.6%; the H100 fit is 87% of the tensor peak, cuBLAS on
    A100 reaches ~93%); the small ones (8192x64x64 ... 8192x512x512) sit on LLMCompass's ~30 us timing
    floor. Issue 16's goal, <= 10% median for dense GEMMs on a GPU never fitted, holds."""
    df = pd.read_csv(A100).assign(kind="gemm", dtype="fp16")
    err = predict(load_arch("a100-sxm"), df) / df["seconds"] - 1
    big = df["M"] * df["N"] * df["K"] >= 2**33
    assert np.median(np.abs(err[big])) < 0.17 and np.abs(err[big]).max() < 0.20
    assert np.median(np.abs(err)) == pytest.approx(0.077, abs=0.01)
