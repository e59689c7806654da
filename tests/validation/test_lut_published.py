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
(third-party summaries; checked for direction and order of magnitude only); precompute overhead
~2.5% fused into the norm, 16-24% as a separate kernel (Table 4, as summarised by third parties).
"""
import numpy as np
import pytest

from hwsim.arch import load_arch
from hwsim.engine import Precision
from hwsim.families import lut_core as L
from hwsim.families.lut import FAMILY, unit_vs_mac
from hwsim.engine.ops import OpColumns
from hwsim.workload import load_model, trace

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
# hwsim tokens/s of the rows above (docs/families-lut-pim.md); asserted so that a model change is seen
HWSIM = [15.97, 8.29, 31.36, 7.76, 4.01, 2.28, 9.42, 4.86, 2.57]


def tokens_per_s(arch, model, w, a):
    ops = trace(load_model(model), "decode", context=256).ops
    arch = load_arch(arch, {"compute.float_weights": "host"})
    dense = ops.op.isin(["lm_head", "embed"]).to_numpy()
    quantised = arch.cost(ops[~dense], Precision(weights=w, activations=a)).totals["seconds"]
    fp16 = arch.cost(ops[dense], Precision(weights="fp16", activations=16)).totals["seconds"]
    return 1.0 / (quantised + fp16)


@pytest.mark.parametrize("row, expected", list(zip(TMAC, HWSIM)))
def test_tmac_tokens_per_s_within_25_percent(row, expected):
    arch, model, w, a, published = row
    got = tokens_per_s(arch, model, w, a)
    assert got == pytest.approx(expected, rel=0.005)
    assert got == pytest.approx(published, rel=0.25)


def test_tmac_bitnet_to_llama_ratio_is_device_independent():
    """profiling_data.md's M2-Ultra BitNet row (22.08 tok/s; the June 2024 README's "22 tokens/sec") is
    the one T-MAC figure hwsim misses (+42%). Both models run 2-bit LUT kernels with the same tiles
    (BitNet's 3200/8640 shapes divide T-MAC's tuned bm/kfactor exactly), so their speed ratio is set by
    the weight counts: the published BitNet/Llama-W2 ratio is 1.82 (RPi 5), 1.88 (Orin), 1.87 (Surface
    Book 3) — and 1.32 on the M2 with 22.08, but 1.80 with the paper's 30 tok/s. hwsim's ratio on the
    M2 agrees with the other devices, so the paper's figure is the one validated above."""
    other = [8.03 / 4.40, 8.18 / 4.36, 12.65 / 6.77]
    m2 = tokens_per_s("tmac-m2-ultra", "bitnet-b1.58-3b", 2, "int8") / tokens_per_s(
        "tmac-m2-ultra", "llama-2-7b", "int2_g128", 16)
    assert min(other) * 0.9 < m2 < max(other) * 1.1
    assert not min(other) * 0.9 < 22.08 / 16.68 < max(other) * 1.1  # the superseded M2 row
    assert min(other) * 0.9 < 30.0 / 16.68 < max(other) * 1.1


def test_tmac_cost_scales_with_bits_like_published():
    # published W2/W4 speed ratio on M2-Ultra: 16.68 / 8.97 = 1.86
    r = tokens_per_s("tmac-m2-ultra", "llama-2-7b", "int2_g128", 16) / tokens_per_s(
        "tmac-m2-ultra", "llama-2-7b", "int4_g128", 16)
    assert r == pytest.approx(16.68 / 8.97, rel=0.1)


def _precompute_share(arch, w):
    """Table precompute (adds on the vector lanes + table traffic) over the LUT cycles, Llama-2-7B
    prefill of 256 tokens."""
    ops = OpColumns.from_frame(trace(load_model("llama-2-7b"), "prefill", seq=256).ops)
    c = arch.compute
    _, _, per_step, par = FAMILY._tile(arch)
    lut = np.ceil(FAMILY.lut_steps(arch, ops, w) * per_step / par).sum()
    adds = (L.precompute_adds(ops, c["group"], c["symmetric"]) / L.host_lanes(arch, 16.0)).sum()
    bw = c["table_bandwidth"] if c["precompute"] == "fused" else arch.backing.bytes_per_cycle(arch.clock_hz)
    return (adds + (2 * FAMILY._tables(arch, ops) / bw).sum()) / lut


def test_lut_tensor_core_precompute_share():
    """Fused into the norm, the tables (8 fp16 entries per 4 activations: twice the activation bytes)
    are written to and read back from the A100 L2 at 5120 B/clk; unfused, through HBM. W2 weights
    (the published table's weight width is not known to us): within a factor of 2 of both figures;
    the unfused kernel's launch and activation re-read are not modelled, hence below 16-24%."""
    acc = load_arch("lut-tensor-core")
    fused = _precompute_share(acc, 2)
    assert fused == pytest.approx(0.0318, rel=0.02)  # published ~2.5%
    assert 0.025 / 2 < fused < 0.025 * 2
    sep = _precompute_share(acc.with_values({"compute.precompute": "separate"}), 2)
    assert sep == pytest.approx(0.109, rel=0.02)  # published 16-24% unfused
    assert 0.16 / 2 < sep < 0.24 * 2


def test_lut_unit_vs_mac_unit_direction_and_magnitude():
    r = unit_vs_mac(load_arch("lut-tensor-core"))  # fp16 tables, register storage, g = 4
    assert r["density"] == pytest.approx(15.5, rel=0.01)  # published 20.9x
    assert r["efficiency"] == pytest.approx(16.0, rel=0.01)  # published 11.2x
    for key, published in (("density", 20.9), ("efficiency", 11.2)):
        assert published / 10 < r[key] < published * 10 and r[key] > 1
