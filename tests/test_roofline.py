"""Roofline analysis: hand-computed points on one GEMM, roofs per kind and precision, levels, errors."""

import math
from pathlib import Path

import numpy as np
import pytest

from hwsim.arch import load_arch
from hwsim.engine import Precision
from hwsim.core.ops import gemm_ops
from hwsim.errors import HwsimError
from hwsim.families import register
from hwsim.families.bitserial import BitSerial
from hwsim.roofline import machine_roofs, roofline
from hwsim.workload import load_model, trace

GEMV = gemm_ops([("g", 1, 4096, 4096)])


def test_bitmod_gemv_by_hand():
    # bitmod: 32x32 PEs, 4-wide dot products, 2 weight bits/cycle, 1 GHz, DRAM 256 bit/cycle (archs/bitmod.yaml)
    rl = roofline("bitmod", GEMV, Precision(weights=4))
    row = rl.ops.iloc[0]
    roof = 2 * 32 * 32 * 4 / 2 * 1e9  # 4-bit weights: 2 cycles per term
    assert row.compute_roof_ops_per_s == roof == 4.096e12
    assert row.bandwidth_Bps == 32e9
    assert row.ridge_intensity == 128.0
    nbytes = 4096 * 2 + 4096 * 4096 * 4 / 8 + 4096 * 2  # A fp16 + B 4-bit + C fp16
    assert row.bytes == nbytes == 8_404_992
    assert row.intensity == pytest.approx(2 * 4096 * 4096 / nbytes, rel=1e-15)
    assert row.attainable_ops_per_s == pytest.approx(32e9 * 2 * 4096 * 4096 / nbytes, rel=1e-15)
    assert row.bound == "memory" and row.bound_level == "dram"
    # the engine floors 8,404,992 B / 32 B per cycle = 262,656 cycles (exact: the roof), then the shared
    # overlap rule adds the memory side's drain: the last tile's compute after the last load, one of
    # 4096 / 32 = 128 tiles of 32 outputs, 262,144 / 128 = 2,048 cycles
    assert row.attained_s == pytest.approx((262_656 + 2_048) * 1e-9, rel=1e-15)
    assert row.fraction_of_roof == pytest.approx(262_656 / (262_656 + 2_048), rel=1e-12)


def test_fewer_bits_raise_the_bitserial_compute_roof_but_not_the_attention_roof():
    r3, r8 = (
        machine_roofs(load_arch("bitmod"), Precision(weights=3)),
        machine_roofs(load_arch("bitmod"), Precision(weights=8)),
    )
    assert r3.linear_ops_per_s == 2 * 4096 / 2 * 1e9  # ceil(3/2) = 2 cycles per term
    assert r8.linear_ops_per_s == 2 * 4096 / 4 * 1e9  # 4 cycles
    # attention multiplies by the fp16 KV cache: 8 cycles per term whatever the weights
    assert r3.attention_ops_per_s == r8.attention_ops_per_s == 2 * 4096 / 8 * 1e9
    assert r3.ridge("dram") == r3.linear_ops_per_s / 32e9 == 128.0


@pytest.mark.parametrize(
    "arch, lanes_hz", [("bitmod", 32 * 32 * 1e9), ("tpu-like", 256 * 700e6), ("h100-sxm", 132 * 128 * 1.83e9)]
)
def test_vector_roof_is_the_family_elementwise_rate(arch, lanes_hz):
    assert machine_roofs(load_arch(arch)).vector_ops_per_s == lanes_hz


def test_gpu_roof_follows_the_wider_operand():
    h100 = load_arch("h100-sxm")
    fp16 = machine_roofs(h100).linear_ops_per_s
    assert fp16 == 2 * 132 * 4 * 512 * 1.83e9
    assert machine_roofs(h100, Precision(weights=4)).linear_ops_per_s == fp16  # dequantised to fp16
    assert machine_roofs(h100, Precision(weights=8, activations=8)).linear_ops_per_s == 2 * fp16  # int8 path


def test_on_chip_level_with_a_bandwidth_gets_its_own_roof():
    arch = load_arch("bitmod", {"memory.weight_sram.bandwidth": "256 bit/cycle"})
    rl = roofline(arch, GEMV, Precision(weights=4))
    assert list(rl.ops["level"]) == ["dram", "weight_sram"]  # input_sram has no bandwidth: no roof
    sram = rl.ops.iloc[1]
    # the array reads the weights once after filling them: 2 × 8 MiB through the weight SRAM
    assert sram.bytes == 2 * 4096 * 4096 / 2
    assert sram.intensity == 2.0
    assert sram.bound_level == "weight_sram"
    assert sram.attainable_ops_per_s == pytest.approx(32e9 * 2.0, rel=1e-15)
    assert rl.summary.iloc[0]["memory_time_s_weight_sram"] == pytest.approx(16777216 / 32e9, rel=1e-15)


def test_elementwise_and_embedding_ops():
    tr = trace(load_model("llama-2-7b"), "decode", context=0)
    rl = roofline("bitmod", tr)
    ops = rl.ops
    norm = ops[ops["name"] == "layers.0.input_norm"].iloc[0]
    assert norm.ops == 4 * 4096  # rmsnorm: 4 vector ops per element
    assert norm.compute_roof_ops_per_s == 1024e9
    emb = ops[ops["kind"] == "embedding"].iloc[0]
    assert emb.ops == 0 and emb.attainable_ops_per_s == 0 and emb.bound == "memory"
    assert emb.time_lower_bound_s == pytest.approx(emb.bytes / 32e9, rel=1e-15)


def test_several_machines_and_precisions_make_one_series_each():
    rl = roofline(["bitmod", "tpu-like"], GEMV, [Precision(weights=4), Precision()])
    assert len(rl.machines) == 4 and len(rl.summary) == 4
    assert list(rl.summary["arch"]) == ["bitmod", "bitmod", "tpu-like", "tpu-like"]
    assert rl.summary["precision"].iloc[0] == "W 4b / A fp16 / KV fp16"


def test_bare_ops_table_has_no_tokens():
    s = roofline("bitmod", GEMV).summary.iloc[0]
    assert math.isnan(s["tokens_per_s_ceiling"]) and s["phase"] is None


def test_duplicate_series_are_refused():
    with pytest.raises(HwsimError, match="distinct name"):
        roofline(["bitmod", "bitmod"], GEMV)


class _ZeroPeak(BitSerial):
    """A test family that declares no compute for weights wider than 8 bits."""

    name = "test-zero-peak"

    def peak_macs_per_cycle(self, arch, prec):
        return 0.0 if prec.weights.bits > 8 else super().peak_macs_per_cycle(arch, prec)


def fake_arch(tmp_path):
    register(_ZeroPeak())
    path = tmp_path / "zero-peak.yaml"
    path.write_text(Path(load_arch("bitmod").file).read_text().replace("family: bitserial", "family: test-zero-peak"))
    return str(path)


def test_precision_the_family_cannot_execute(tmp_path):
    # the LUT tensor core splits integer weights into bit-planes: fp16 weights are refused by the family
    with pytest.raises(HwsimError, match="precision.weights: the lut family .* cannot execute floating-point weights"):
        roofline("lut-tensor-core", GEMV)
    # a family that declares zero peak for a precision is refused rather than plotted at 0 op/s
    zero = load_arch(fake_arch(tmp_path))
    with pytest.raises(HwsimError, match="cannot execute weights in fp16"):
        roofline(zero, GEMV)


def test_attention_on_a_host_is_probed_from_the_family():
    # LUT/PIM datapaths cannot take the fp16 KV cache: attention runs on the host lanes, so its roof is
    # the family's own attention rate, below the LUT GEMM roof
    r = machine_roofs(load_arch("lut-tensor-core"), Precision(weights=2, activations=8, kv=8))
    assert 0 < r.attention_ops_per_s < r.linear_ops_per_s
    rl = roofline(
        "lut-tensor-core", trace(load_model("llama-2-7b"), "decode"), Precision(weights=2, activations=8, kv=8)
    )
    att = rl.ops[rl.ops["kind"] == "attention"]
    assert (att["compute_roof_ops_per_s"] == r.attention_ops_per_s).all()
    assert (rl.ops["attained_s"] >= rl.ops["time_lower_bound_s"] * (1 - 1e-12)).all()


def test_attainable_is_the_lowest_roof_on_a_trace():
    rl = roofline(["h100-sxm", "tpu-like"], trace(load_model("llama-2-7b"), "prefill", seq=64))
    o = rl.ops[rl.ops["ops"] > 0]
    expect = np.minimum(o["compute_roof_ops_per_s"], o["bandwidth_Bps"] * o["intensity"])
    np.testing.assert_allclose(o["attainable_ops_per_s"], expect, rtol=1e-12)
    assert (o["bound"] == np.where(o["intensity"] >= o["ridge_intensity"], "compute", "memory")).all()


def test_point_labels_break_between_op_names_never_inside_one():
    """A crowded point's label (Qwen3-Next's shared-expert projections share one point) wraps after '/' or ', ',
    keeping every op name whole (textwrap broke 'shared_gate' into 'shared_gat' / 'e'); lines stay within 26
    characters unless one name is longer."""
    from hwsim.roofline.plot import _role_label

    roles = ["k_proj", "v_proj", "shared_down_proj", "shared_gate_proj", "shared_up_proj", "router"]
    label = _role_label(roles)
    assert label == "k/v/shared_down/\nshared_gate/\nshared_up_proj, router"
    assert all(len(line) <= 26 and line[-1] in "/r" for line in label.splitlines())
