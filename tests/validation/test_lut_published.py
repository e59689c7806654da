"""LUT family against published numbers (REFERENCES.md "LUT tensor cores").

T-MAC tokens/s: microsoft/T-MAC docs/profiling_data.md (EuroSys 2025 artifact), single thread,
decode. BitNet-3B runs as 2-bit weights with int8 activations (W1.58A8), Llama-2-7B as GPTQ W2/W4
with group-128 scales and fp16 activations. In every T-MAC deployment the lm_head stays unquantised
(T-MAC README: "token-embed remaining un-quantized"; tools/run_pipeline.py passes
--token-embedding-type f16 --output-tensor-type f16; GPTQ checkpoints leave lm_head in fp16; BitNet-3B
ties it to the embedding and its authors do not quantise it), so it runs on llama.cpp's dense fp16
kernels (`compute.float_weights: host`): the trace is priced with the lm_head (and embedding) at
fp16, everything else at the quantised format — the per-op split `hwsim allocate` makes with
--fixed-weights fp16.
LUT Tensor Core (ISCA 2025): LUT vs MAC unit compute density 20.9x and energy efficiency 11.2x
(third-party summaries: density within 30%, both within a factor of 1.5, efficiency bracketed; docs/validation.md).
"""

import functools

import pytest

from hwsim.arch import load_arch
from hwsim.engine import Precision
from hwsim.families.lut import unit_vs_mac
from hwsim.workload import load_model, trace
from hwsim.engine import evaluate

# (arch, model, weights, activations, published tokens/s)
TMAC = [
    ("tmac-m2-ultra", "llama-2-7b", "int2_g128", 16, 16.68),
    ("tmac-m2-ultra", "llama-2-7b", "int4_g128", 16, 8.97),
    # T-MAC paper (arXiv 2407.00088v2, abstract and §5.3): "30 tokens/s with a single core ... on M2-Ultra"
    ("tmac-m2-ultra", "bitnet-b1.58-3b", 2, "int8", 30.0),
    ("tmac-rpi5", "bitnet-b1.58-3b", 2, "int8", 8.03),
    ("tmac-rpi5", "llama-2-7b", "int2_g128", 16, 4.40),
    ("tmac-rpi5", "llama-2-7b", "int4_g128", 16, 2.42),
    ("tmac-orin", "bitnet-b1.58-3b", 2, "int8", 8.18),
    ("tmac-orin", "llama-2-7b", "int2_g128", 16, 4.36),
    ("tmac-orin", "llama-2-7b", "int4_g128", 16, 2.46),
]
# Regression snapshot: hwsim's own tokens/s of the rows above (docs/families-lut-pim.md), not published
# figures; pinned at ±0.5% so that any model change is seen (update both together).
HWSIM_SNAPSHOT = [15.97, 8.29, 31.36, 7.76, 4.01, 2.28, 9.42, 4.86, 2.57]


@functools.lru_cache(maxsize=None)
def tokens_per_s(arch, model, w, a):
    ops = trace(load_model(model), "decode", context=256).ops
    arch = load_arch(arch, {"compute.float_weights": "host"})
    dense = ops.op.isin(["lm_head", "embed"]).to_numpy()
    quantised = evaluate(arch, ops[~dense], Precision(weights=w, activations=a)).totals["seconds"]
    fp16 = evaluate(arch, ops[dense], Precision(weights="fp16", activations=16)).totals["seconds"]
    return 1.0 / (quantised + fp16)


@pytest.mark.parametrize("row, snapshot", list(zip(TMAC, HWSIM_SNAPSHOT)))
def test_tmac_tokens_per_s_regression_snapshot(row, snapshot):
    """hwsim's own tokens/s, pinned at ±0.5% (a regression check, not a validation)."""
    arch, model, w, a, _ = row
    assert tokens_per_s(arch, model, w, a) == pytest.approx(snapshot, rel=0.005)


@pytest.mark.parametrize("row", TMAC)
def test_tmac_tokens_per_s_vs_published_within_25_percent(row):
    """Validation: hwsim's tokens/s within ±25% of the published T-MAC figure of each row."""
    arch, model, w, a, published = row
    assert tokens_per_s(arch, model, w, a) == pytest.approx(published, rel=0.25)


def test_tmac_bitnet_to_llama_ratio_is_device_independent():
    """profiling_data.md's M2-Ultra BitNet row (22.08 tok/s; the June 2024 README's "22 tokens/sec") is
    the one T-MAC figure hwsim misses (+42%). Both models run 2-bit LUT kernels with the same tiles
    (BitNet's 3200/8640 shapes divide T-MAC's tuned bm/kfactor exactly), so their speed ratio is set by
    the weight counts: the published BitNet/Llama-W2 ratio is 1.82 (RPi 5), 1.88 (Orin), 1.87 (Surface
    Book 3) — and 1.32 on the M2 with 22.08, but 1.80 with the paper's 30 tok/s. hwsim's ratio on the
    M2 agrees with the other devices, so the paper's figure is the one validated above."""
    other = [8.03 / 4.40, 8.18 / 4.36, 12.65 / 6.77]
    m2 = tokens_per_s("tmac-m2-ultra", "bitnet-b1.58-3b", 2, "int8") / tokens_per_s(
        "tmac-m2-ultra", "llama-2-7b", "int2_g128", 16
    )
    assert min(other) * 0.9 < m2 < max(other) * 1.1
    assert not min(other) * 0.9 < 22.08 / 16.68 < max(other) * 1.1  # the superseded M2 row
    assert min(other) * 0.9 < 30.0 / 16.68 < max(other) * 1.1


def test_tmac_cost_scales_with_bits_like_published():
    # published W2/W4 speed ratio on M2-Ultra: 16.68 / 8.97 = 1.86
    r = tokens_per_s("tmac-m2-ultra", "llama-2-7b", "int2_g128", 16) / tokens_per_s(
        "tmac-m2-ultra", "llama-2-7b", "int4_g128", 16
    )
    assert r == pytest.approx(16.68 / 8.97, rel=0.1)


# The table-precompute share (LUT Tensor Core Table 4: ~2.5% fused, 16-24% separate) is validated from
# its study in tests/validation/test_reproductions.py (with the separate kernel's launch).


def test_lut_unit_vs_mac_unit_regression_snapshot():
    """hwsim's own LUT-unit vs FP16-MAC ratios (fp16 tables, register storage, g = 4), pinned at ±1%
    (a regression check, not a validation): density 15.5x, energy efficiency 16.0x."""
    r = unit_vs_mac(load_arch("lut-tensor-core"))
    assert r["density"] == pytest.approx(15.5, rel=0.01)
    assert r["efficiency"] == pytest.approx(16.0, rel=0.01)


def test_lut_unit_vs_mac_unit_movement_brackets_the_published_efficiency():
    """LUT Tensor Core's 11.2x energy efficiency (third-party summaries) lies between hwsim's datapath-only
    ratio (16.0x) and the ratio with register writes and wires on both sides (8.3x: the table broadcast
    along a 64-lane row costs more per lookup than the lane's own adders; Keckler 2011 wire energy,
    register bit assumed ≈ a full-adder bit). Density is unchanged (no area added)."""
    arch = load_arch("lut-tensor-core")
    bare, moved = unit_vs_mac(arch), unit_vs_mac(arch, movement=True)
    assert moved["efficiency"] == pytest.approx(8.33, rel=0.01)
    assert moved["efficiency"] < 11.2 < bare["efficiency"]
    assert moved["density"] == bare["density"]


def test_lut_unit_vs_mac_unit_vs_published_direction_and_magnitude():
    """Validation against LUT Tensor Core's 20.9x density and 11.2x efficiency (third-party summaries):
    the LUT unit wins (> 1x) and each ratio is within a factor of 1.5 of the published one (15.5x is 0.74x
    of 20.9x; 16.0x is 1.43x of 11.2x). Was a factor of 10, which no plausible change could fail (tightened
    2026-12-06); the factor stays wide because the summaries are second-hand and the accumulator width and
    layout are not published (docs/families-lut-pim.md)."""
    r = unit_vs_mac(load_arch("lut-tensor-core"))
    for key, published in (("density", 20.9), ("efficiency", 11.2)):
        assert published / 1.5 < r[key] < published * 1.5 and r[key] > 1


@pytest.mark.parametrize(
    "published, source",
    [
        (61.55 / 3.39, "INT1xFP16 LUT dot-product unit 61.55 TOPs/mm2 vs FP16xFP16 3.39 TFLOPs/mm2 (18.2x)"),
        (20.9, "LUT vs MAC tensor core compute density 20.9x"),
    ],
)
def test_lut_unit_density_vs_published_within_30_percent(published, source):
    """Validation of hwsim's LUT-unit vs FP16-MAC compute density (15.5x) against LUT Tensor Core's figures
    as REFERENCES.md quotes them from third-party summaries (-15% and -26%). Tolerance 30%: the summaries
    are second-hand, and the LUT lane's accumulator width and how far the MAC baseline shares its adder
    tree are not published (each moves the ratio by tens of percent; docs/families-lut-pim.md)."""
    r = unit_vs_mac(load_arch("lut-tensor-core"))
    assert r["density"] == pytest.approx(published, rel=0.30), source
    assert r["density"] < published  # hwsim is below both
