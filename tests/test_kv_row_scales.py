"""A KV (or activation) format's groups never span two rows of the cache (one token's one head): the quantizer pads each row's last
group (hwsim.formats.grouping.to_groups), so on head_dim 64 int4_g128 stores one 16-bit scale per 64 elements,
4.25 bits, exactly what int4_g64 stores. The engines, the KV cache bytes, serving and allocation price the same
rule (hwsim.formats.grouping.row_bits), where they priced 4.125 bits before. Real kernels group KV per token and
head too (KIVI quantizes values per token; QServe / lmdeploy keep a scale per token and head)."""

import json

import numpy as np

from hwsim import cycle
from hwsim.allocate import build_problem, resolve_trace
from hwsim.arch import load_arch
from hwsim.core.precision import operand_type
from hwsim.engine import Precision, evaluate
from hwsim.formats import get_format
from hwsim.formats.grouping import groups_per_row, row_bits
from hwsim.serve.kvcache import kv_bytes_per_token
from hwsim.workload import from_hf_dict, load_model, trace


def test_the_quantizer_keeps_one_scale_per_short_row():
    x = np.random.default_rng(0).normal(size=(7, 12, 64))  # tokens × heads × head_dim, grouped along head_dim
    np.testing.assert_array_equal(get_format("int4_g128").quantize(x), get_format("int4_g64").quantize(x))
    assert groups_per_row(64, 128) == 1 and groups_per_row(192, 128) == 2 and groups_per_row(256, 128) == 2
    assert row_bits(4.125, 16, 128, 64) == 4.25 == operand_type("int4_g64").bits
    assert row_bits(4.125, 16, 128, 256) == 4.125  # whole groups: the format's own bits
    assert row_bits(4.125, 16, 128, 192) == 4 + 2 * 16 / 192


def test_engines_price_int4_g128_kv_on_head_dim_64_as_the_quantizer_stores_it():
    """GPT-2 (head_dim 64) decode at 1024 on the H100-SXM preset: attention's HBM bytes at int4_g128 KV were
    9,768,960 (4.125 bits), now 10,063,872, those of int4_g64, as are the footprint (was 258,715,298 B, now
    259,010,210) and every other column, in both engines; the cache 12 layers × 1024 tokens × 2 × 768 × 4.25 / 8."""
    t = trace(load_model("gpt-2"), "decode", batch=1, context=1023)
    g128, g64 = (evaluate("h100-sxm", t, Precision(kv=f)) for f in ("int4_g128", "int4_g64"))
    assert g128.ops.drop(columns="name").equals(g64.ops.drop(columns="name"))
    assert g128.totals == g64.totals and g128.totals["footprint_bytes"] == 259_010_210
    att = g128.ops[g128.ops["kind"] == "attention"]
    assert att["bytes_hbm"].sum() == 10_063_872
    assert t.kv_cache_bytes(operand_type("int4_g128")) == 12 * 1024 * 2 * 768 * 4.25 / 8
    assert t.kv_cache_bytes(4.125) == 12 * 1024 * 2 * 768 * 4.125 / 8  # bits as a number: as given
    arch = load_arch("h100-sxm")
    c128, c64 = (cycle.evaluate(arch, t, Precision(kv=f)) for f in ("int4_g128", "int4_g64"))
    assert c128.totals == c64.totals
    # a head_dim that is a whole number of groups keeps the format's bits (Llama-2-7B, head_dim 128)
    t7 = trace(load_model("llama-2-7b"), "decode", batch=1, context=1023)
    assert t7.kv_cache_bytes(operand_type("int4_g128")) == t7.kv_cache_bytes(4.125)


def test_serving_and_allocation_price_the_same_rows(tmp_path):
    gpt2 = load_model("gpt-2")
    assert kv_bytes_per_token(gpt2, operand_type("int4_g128")) == 12 * 2 * 768 * 4.25 / 8
    assert kv_bytes_per_token(gpt2, operand_type("int4_g128")) == kv_bytes_per_token(gpt2, operand_type("int4_g64"))
    cfg = {  # a 2-layer Llama-style model with head_dim 64 (4 heads of a 256 hidden size, 2 KV heads)
        "model_type": "llama",
        "hidden_size": 256,
        "intermediate_size": 512,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "num_hidden_layers": 2,
        "vocab_size": 256,
        "max_position_embeddings": 512,
    }
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    tr = resolve_trace(str(tmp_path / "config.json"), "decode", context=63)
    p = build_problem(
        load_arch("bitmod"), tr, "int4_g128", kv_formats="int4_g128,int4_g64", proxy="uniform", granularity="layer"
    )
    kv = [i for i, u in enumerate(p.units) if u.endswith(".kv")]
    a, b = p.formats.index("int4_g128"), p.formats.index("int4_g64")
    for q in ("memory_bytes", "seconds", "energy_j"):
        np.testing.assert_array_equal(p.costs[q][kv, a], p.costs[q][kv, b], err_msg=q)
    assert p.costs["memory_bytes"][kv, a].tolist() == [64 * 2 * 2 * 64 * 4.25 / 8] * 2  # 64 tokens, K and V, 2 heads


def test_activations_of_a_linear_are_priced_on_their_rows_of_k():
    """The quantizer groups a linear's input along K (hwsim.accuracy.llm._linear: quantize(x, axis=-1)), so int8_g128
    activations on a K of 96 hold one scale per 96 elements (8 + 16/96 bits, as int8_g96) and on K = 160 two
    (8 + 32/160): the A bytes of each linear op, where every op was priced at 8.125 bits before. A tiny Llama-style
    model: hidden 96, two heads of 48, MLP 160. Other ops' activations and every output stay at the format's bits;
    int8_g32 (32 divides 96 and 160) keeps its bits exactly."""
    from hwsim.core.ops import operand_bytes
    from hwsim.core.precision import resolve_precision
    from hwsim.engine.cost import op_columns

    cfg = {
        "model_type": "llama",
        "hidden_size": 96,
        "intermediate_size": 160,
        "num_attention_heads": 2,
        "num_key_value_heads": 2,
        "num_hidden_layers": 2,
        "vocab_size": 128,
        "max_position_embeddings": 256,
    }
    ops = op_columns(trace(from_hf_dict(cfg), "prefill", batch=1, seq=16))
    linear = ops.is_kind("linear")
    assert set(ops.k[linear].tolist()) == {96.0, 160.0}
    got = operand_bytes(ops, resolve_precision(Precision(activations="int8_g128")))
    bits = np.where(ops.k == 96, 8 + 16 / 96, 8 + 32 / 160)
    np.testing.assert_array_equal(got.a[linear], np.ceil(ops.act_in_elems[linear] * bits[linear] / 8))
    np.testing.assert_array_equal(got.a[~linear], np.ceil(ops.act_in_elems[~linear] * 8.125 / 8))
    np.testing.assert_array_equal(got.c, operand_bytes(ops, resolve_precision(Precision(activations=8.125))).c)
    x = np.random.default_rng(1).normal(size=(16, 96))
    np.testing.assert_array_equal(get_format("int8_g128").quantize(x), get_format("int8_g96").quantize(x))
    g32 = operand_bytes(ops, resolve_precision(Precision(activations="int8_g32")))
    np.testing.assert_array_equal(g32.a, np.ceil(ops.act_in_elems * operand_type("int8_g32").bits / 8))
