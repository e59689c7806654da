"""LUT family against published numbers (REFERENCES.md "LUT tensor cores").

T-MAC tokens/s: microsoft/T-MAC docs/profiling_data.md (EuroSys 2025 artifact), single thread,
decode. BitNet-3B runs as 2-bit weights with int8 activations (W1.58A8), Llama-2-7B as GPTQ W2/W4
with group-128 scales (EfficientQAT/GPTQ models in T-MAC's evaluation) and fp16 activations.
LUT Tensor Core (ISCA 2025): LUT vs MAC unit compute density 20.9x and energy efficiency 11.2x
(third-party summaries; checked for direction and order of magnitude only).
"""
import pytest

from hwsim.arch import load_arch
from hwsim.engine import Precision
from hwsim.families.lut import unit_vs_mac
from hwsim.workload import load_model, trace

# (arch, model, weights, activations, published tokens/s)
TMAC = [
    ("tmac-m2-ultra", "llama-2-7b", "int2_g128", 16, 16.68),
    ("tmac-m2-ultra", "llama-2-7b", "int4_g128", 16, 8.97),
    ("tmac-rpi5", "bitnet-b1.58-3b", 2, "int8", 8.03),
    ("tmac-rpi5", "llama-2-7b", "int2_g128", 16, 4.40),
    ("tmac-rpi5", "llama-2-7b", "int4_g128", 16, 2.42),
    ("tmac-orin", "bitnet-b1.58-3b", 2, "int8", 8.18),
    ("tmac-orin", "llama-2-7b", "int2_g128", 16, 4.36),
    ("tmac-orin", "llama-2-7b", "int4_g128", 16, 2.46),
]


def tokens_per_s(arch, model, w, a):
    tr = trace(load_model(model), "decode", context=256)
    return 1.0 / load_arch(arch).cost(tr, Precision(weights=w, activations=a)).totals["seconds"]


@pytest.mark.parametrize("arch, model, w, a, published", TMAC)
def test_tmac_tokens_per_s_within_25_percent(arch, model, w, a, published):
    assert tokens_per_s(arch, model, w, a) == pytest.approx(published, rel=0.25)


def test_tmac_m2_ultra_bitnet_known_overestimate():
    """M2-Ultra BitNet-3B, 1 thread: published 22.08 tok/s. The model predicts ~32.5 (+47%): on the
    M2 T-MAC's BitNet kernels run at ~1.5x the per-lookup time of its Llama kernels, while on the
    Raspberry Pi 5 and Orin the two agree within ~15% — a kernel-tuning effect the per-lookup
    instruction model does not see. Pinned so a model change that moves it is noticed."""
    got = tokens_per_s("tmac-m2-ultra", "bitnet-b1.58-3b", 2, "int8")
    assert 1.35 < got / 22.08 < 1.6


def test_tmac_cost_scales_with_bits_like_published():
    # published W2/W4 speed ratio on M2-Ultra: 16.68 / 8.97 = 1.86
    r = tokens_per_s("tmac-m2-ultra", "llama-2-7b", "int2_g128", 16) / tokens_per_s(
        "tmac-m2-ultra", "llama-2-7b", "int4_g128", 16)
    assert r == pytest.approx(16.68 / 8.97, rel=0.1)


def test_lut_unit_vs_mac_unit_direction_and_magnitude():
    r = unit_vs_mac(load_arch("lut-tensor-core"))  # fp16 tables, register storage, g = 4
    assert r["density"] == pytest.approx(15.5, rel=0.01)  # published 20.9x
    assert r["efficiency"] == pytest.approx(16.0, rel=0.01)  # published 11.2x
    for key, published in (("density", 20.9), ("efficiency", 11.2)):
        assert published / 10 < r[key] < published * 10 and r[key] > 1
