"""llama.cpp block types beyond the first five (issue 12p): q4_1, q5_0, q5_1, q2_k, q3_k, iq4_nl, iq4_xs, and
ggml's MXFP4 as hwsim's mxfp4. Bits per weight are sizeof(block_<type>) in llama.cpp's ggml-common.h, checked
against the `gguf` package's GGML_QUANT_SIZES; packed blocks decode value for value with gguf's reference
dequantization (tests/test_formats_wave2.py runs that check over every type in ggml.TYPES)."""

import numpy as np
import pytest

from hwsim.core.precision import operand_type
from hwsim.formats import get_format, ggml

gguf = pytest.importorskip("gguf")
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, quants  # noqa: E402

# ggml-common.h: block_q4_1 {d, m, qs[16]}, block_q5_0 {d, qh[4], qs[16]}, block_q5_1 {d, m, qh[4], qs[16]},
# block_q2_K {scales[16], qs[64], d, dmin}, block_q3_K {hmask[32], qs[64], scales[12], d},
# block_iq4_nl {d, qs[16]}, block_iq4_xs {d, scales_h, scales_l[4], qs[128]}
# block_tq1_0 {qs[48], qh[4], d}, block_tq2_0 {qs[64], d}
BITS = {
    "q4_1": 5.0,
    "q5_0": 5.5,
    "q5_1": 6.0,
    "q2_k": 2.625,
    "q3_k": 3.4375,
    "iq4_nl": 4.5,
    "iq4_xs": 4.25,
    "tq1_0": 1.6875,
    "tq2_0": 2.0625,
}


@pytest.mark.parametrize("name,bits", BITS.items())
def test_bits_per_weight_are_the_block_structs(name, bits):
    f = get_format(name)
    block, size = GGML_QUANT_SIZES[getattr(GGMLQuantizationType, name.upper())]
    assert f.bits_per_element == bits == size * 8 / block and f.group_size == block
    assert ggml.TYPE_SIZE[name] == size


def test_every_type_size_is_the_gguf_block_size():
    for name, size in ggml.TYPE_SIZE.items():
        block, ref = GGML_QUANT_SIZES[getattr(GGMLQuantizationType, name.upper())]
        assert (ggml.TYPES[name][0], size) == (block, ref)
        if name != "tq1_0":  # element + metadata bits (tq1_0 stores its 2-bit ternary codes 5 to a byte)
            assert ggml.TYPES[name][1] * block + ggml.TYPES[name][2] == 8 * size
    assert (48 * 5 + 4 * 4, 48 + 4 + 2) == (256, ggml.TYPE_SIZE["tq1_0"])  # qs of 5 trits, qh of 4, fp16 d


def test_iq4_types_are_codebooks_priced_as_fp16_on_the_datapath():
    """IQ4 codes index kvalues_iq4nl: hardware looks them up, so the datapath sees fp16 (issue 12's rule), while
    storage stays at the block's 4.5 / 4.25 bits."""
    for name in ("iq4_nl", "iq4_xs"):
        f = get_format(name)
        assert f.is_codebook and list(f.values()) == list(quants.IQ4_NL.kvalues)
        t = operand_type(name)
        assert (t.element_bits, t.is_float, t.bits) == (16, True, BITS[name])
    t = operand_type("q3_k")  # integer codes: the datapath runs on the code bits
    assert (t.element_bits, t.is_float, t.bits) == (3, False, 3.4375)


@pytest.mark.parametrize("name", ["q4_1", "q5_1", "q2_k", "q3_k", "iq4_nl", "iq4_xs", "tq1_0", "tq2_0"])
def test_edge_blocks_decode_with_gguf(name):
    """All-negative, constant, all-zero and huge-range blocks still pack and decode value for value."""
    f = get_format(name)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 512)).astype(np.float32)
    x[0] = -np.abs(x[0]) - 1
    x[1] = 0.75
    x[2] = 0.0
    x[3, ::7] *= 1e4
    x[4] *= 1e-6
    qtype = getattr(GGMLQuantizationType, name.upper())
    packed = ggml.pack(name, ggml.encode(name, x.reshape(-1, f.group_size)))
    assert np.array_equal(quants.dequantize(packed, qtype).reshape(x.shape), f.quantize(x))
    assert not f.quantize(x[2:3]).any()


def test_mse_on_gaussian_next_to_the_existing_types():
    """N(0,1), 64 × 1024, seed 0 (docs/formats.md lists the figures): more bits, less error within a kind."""
    x = np.random.default_rng(0).standard_normal((64, 1024)).astype(np.float32)
    mse = {n: float(np.mean((get_format(n).quantize(x) - x) ** 2)) for n in ggml.TYPES}
    assert mse["q2_k"] > mse["q3_k"] > mse["q4_k"] > mse["q5_k"] > mse["q6_k"]
    assert mse["q4_0"] > mse["q4_1"] > mse["q5_0"] > mse["q5_1"] > mse["q8_0"]
    assert mse["q4_0"] > mse["iq4_nl"]  # the non-linear codebook beats the uniform 4-bit grid at equal bits
    assert mse["iq4_xs"] < mse["q4_0"]  # 4.25 bits: better than q4_0's 4.5 bits


def _mxfp4_blocks(x: np.ndarray, xq: np.ndarray) -> np.ndarray:
    """block_mxfp4 bytes (E8M0 e, 16 bytes of E2M1 codes) holding hwsim's mxfp4 values xq of x."""
    b, bq = x.reshape(-1, 32), xq.reshape(-1, 32).astype(np.float64)
    amax = np.abs(b).max(-1)
    e = np.where(amax > 0, np.floor(np.log2(np.where(amax > 0, amax, 1))) - 2 + 127, 0).astype(np.uint8)
    doubled = bq / np.exp2(e.astype(np.float64) - 128)[:, None]  # ggml's table holds E2M1 values × 2
    table = np.array(quants.MXFP4.kvalues, dtype=np.float64)
    codes = np.argmax(doubled[..., None] == table, -1).astype(np.uint8)
    assert np.array_equal(table[codes], doubled)  # every value is one of the 16 codes
    return np.concatenate([e[:, None], codes[:, :16] | (codes[:, 16:] << 4)], 1)


def test_ggml_mxfp4_is_hwsims_mxfp4():
    """gpt-oss GGUFs' MXFP4 blocks hold exactly hwsim's OCP mxfp4 values (same E8M0 exponent rule, same E2M1 grid,
    17 bytes per 32 weights); ggml's reference rounds an exact tie toward the smaller magnitude where OCP rounds to
    even, the only difference (no tie in 196,608 Gaussian draws)."""
    f = get_format("mxfp4")
    block, size = GGML_QUANT_SIZES[GGMLQuantizationType.MXFP4]
    assert f.bits_per_element == size * 8 / block and f.group_size == block
    for seed, scale in ((0, 1.0), (1, 1e-3), (2, 300.0)):
        x = (np.random.default_rng(seed).standard_normal((64, 1024)) * scale).astype(np.float32)
        xq = f.quantize(x)
        ref = quants.dequantize(_mxfp4_blocks(x, xq), GGMLQuantizationType.MXFP4).reshape(x.shape)
        assert np.array_equal(ref, xq)
        own = quants.quantize(x, GGMLQuantizationType.MXFP4)  # ggml's reference quantizer: the same values here
        assert np.array_equal(quants.dequantize(own, GGMLQuantizationType.MXFP4).reshape(x.shape), xq)
    ties = np.array([[4.0, 0.25, 0.75, 1.25] + [0.0] * 28], np.float32)  # halfway between E2M1 neighbours
    xq = f.quantize(ties)
    assert np.array_equal(xq[0, :4], [4.0, 0.0, 1.0, 1.0])  # OCP: to even
    ref = quants.dequantize(quants.quantize(ties, GGMLQuantizationType.MXFP4), GGMLQuantizationType.MXFP4)
    assert np.array_equal(ref[0, :4], [4.0, 0.0, 0.5, 1.0])  # ggml: the first (smaller) of the two codes
    assert np.array_equal(quants.dequantize(_mxfp4_blocks(ties, xq), GGMLQuantizationType.MXFP4), xq)


@pytest.mark.parametrize("name", ["tq1_0", "tq2_0"])
def test_ternary_ggml_types_hold_hwsims_ternary_exactly(name):
    """A BitNet b1.58 tensor (hwsim's `ternary`: absmean per tensor, fp16 scale) stored as TQ1_0 / TQ2_0 (d =
    the block's amax, codes −1/0/1) reads back unchanged, and the datapath sees the same 2-bit ternary element;
    on other tensors the TQ types use their own per-256 absmax scale, so they are their own formats."""
    x = np.random.default_rng(5).standard_normal((8, 1024)).astype(np.float32)
    x[0, :256] = 0.0
    ternary = get_format("ternary").quantize(x)
    tq = get_format(name)
    assert np.array_equal(tq.quantize(ternary), ternary)
    assert list(tq.values()) == list(get_format("ternary").values()) == [-1.0, 0.0, 1.0]
    assert operand_type(name).element_bits == operand_type("ternary").element_bits == 2
    assert operand_type(name).bits == BITS[name]
    assert not np.array_equal(tq.quantize(x), ternary)  # absmax per 256, not absmean per tensor
