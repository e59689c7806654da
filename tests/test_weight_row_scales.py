"""A weight format's groups never span two output rows: the quantizer groups an out × in weight along its input
axis K (hwsim.accuracy quantizes every weight with quantize(w, axis=-1); GPTQ/AWQ checkpoints store ceil(K/g)
scales per output row, the last group partial with its own scale) and pads each row's last group
(hwsim.formats.grouping.to_groups). So int4_g128 on Falcon-7B's K = 4544 = 35.5 × 128 stores 36 scales a row, not
35.5: the weight bytes and the footprint take the rule of the KV and activation rows (row_bits)."""

import numpy as np

from hwsim.core.ops import operand_bytes
from hwsim.core.precision import operand_type, resolve_precision
from hwsim.engine import Precision, evaluate
from hwsim.engine.cost import op_columns
from hwsim.formats import get_format
from hwsim.workload import load_model, trace


def test_the_quantizer_stores_ceil_k_over_g_scales_per_output_row():
    w = np.random.default_rng(0).normal(size=(3, 192))  # out × in: K = 192 = 1.5 groups of 128
    q = get_format("int4_g128").quantize(w, axis=-1)
    # the last 64 inputs of each row are their own group: the same as quantizing them alone
    np.testing.assert_array_equal(q[:, 128:], get_format("int4_g128").quantize(w[:, 128:], axis=-1))
    assert operand_type("int4_g128").bits_along(192) == 4 + 2 * 16 / 192


def test_falcon_7b_int4_g128_weights_hold_ceil_k_over_g_scales_per_row():
    """Falcon-7B decode at 256 on the H100-SXM preset, int4_g128 weights: each linear's B bytes are
    rows × (K × 4 + ceil(K/128) × 16) / 8 (query_key_value, dense and dense_h_to_4h on K 4544: 36 scales a row;
    dense_4h_to_h on K 18176 = 142 groups exactly); the footprint adds one byte a row of K 4544 (half a 16-bit scale)
    over 32 layers × 27,392 rows plus the tied 65,024-row token table: 3,571,265,806 -> 3,572,207,374 B."""
    t = trace(load_model("falcon-7b"), "decode", batch=1, context=256)
    ops = op_columns(t)
    got = operand_bytes(ops, resolve_precision(Precision(weights="int4_g128")))
    linear = ops.is_kind("linear")
    k, rows = ops.k[linear], ops.weight_elems[linear] / ops.k[linear]
    assert {4544.0, 18176.0} <= set(k.tolist())
    np.testing.assert_array_equal(got.b[linear], np.ceil(rows * (k * 4 + np.ceil(k / 128) * 16) / 8))
    emb = ops.is_embedding
    np.testing.assert_array_equal(got.b[emb], np.ceil(ops.act_out_elems[emb] * (4 + 36 * 16 / 4544) / 8))
    res = evaluate("h100-sxm", t, Precision(weights="int4_g128"))
    assert res.totals["footprint_bytes"] == 3_571_265_806 + 32 * 27_392 + 65_024


def test_aligned_k_keeps_the_format_bits():
    """Llama-2-7B (K 4096 and 11008 = 86 × 128): every weight at int4_g128's 4.125 bits, one number."""
    ops = op_columns(trace(load_model("llama-2-7b"), "decode", batch=1, context=256))
    assert ops.weight_bits(operand_type("int4_g128")) == 4.125
