"""Every command prices a group-scaled weight format on the rows the quantizer really uses (a group never spans two
output rows: ⌈K/g⌉ scales a row, hwsim.formats.grouping.to_groups pads each row's last group; tests/
test_weight_row_scales.py), through one rule (hwsim.engine.cost.weight_rows / row_scale_bytes, on
OperandType.bits_along): simulate's footprint, serve's per-stage weights under pipeline parallelism (and so its KV
budget = memory − weights), allocate's memory constraint, a checkpoint's per-op exception formats and the FPGA
family's on-chip weight residency. Before, all but the footprint priced weights at the format's flat b + s/g, so
on a K that is not a whole number of groups (Falcon-7B's 4544 = 35.5 × 128) the commands disagreed."""

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from hwsim.allocate.costs import hardware_costs
from hwsim.allocate.units import weight_units
from hwsim.arch import load_arch
from hwsim.core.ops import operand_bytes
from hwsim.core.precision import operand_type, resolve_precision
from hwsim.engine import Precision, evaluate, gemm_ops, sweep_cost
from hwsim.engine.cost import memory_footprint, op_columns
from hwsim.families.fpga.resources import on_chip_bytes
from hwsim.serve.kvcache import capacity_blocks
from hwsim.serve.shard import Parallel, shard_model, stage_ranges, stage_weight_bytes
from hwsim.workload import from_hf_dict, load_model, trace

H100 = load_arch("h100-sxm")


def _row_bytes(fmt: str, k: int) -> float:
    """Bytes of one stored row of K elements, derived by hand: K elements at the format's element storage bits
    plus ⌈K/g⌉ scales of scale_bits (docs/formats.md "Scale formats")."""
    t = operand_type(fmt)
    return (k * (t.bits - t.scale_bits / t.group_size) + math.ceil(k / t.group_size) * t.scale_bits) / 8


def _footprint_weights(model, fmt):
    """simulate's weights: the footprint less the KV cache and the activation working set it adds."""
    t = trace(model, "decode", batch=1, context=16)
    prec = resolve_precision(Precision(weights=fmt))
    fp = memory_footprint(H100, t, prec)
    return fp["footprint_bytes"] - fp["activation_bytes"] - t.kv_cache_bytes(prec.kv)


def _llama(hidden, heads, intermediate, layers, tied, bias, **extra):
    return from_hf_dict(
        {
            "model_type": "llama",
            "hidden_size": hidden,
            "intermediate_size": intermediate,
            "num_attention_heads": heads,
            "num_hidden_layers": layers,
            "vocab_size": 1000,
            "tie_word_embeddings": tied,
            "attention_bias": bias,
            "mlp_bias": bias,
            "torch_dtype": "float16",
            **extra,
        }
    )


@settings(max_examples=25, deadline=None)
@given(
    head_dim=st.integers(17, 150),
    heads=st.sampled_from([1, 2, 4]),
    intermediate=st.integers(40, 700),
    layers=st.integers(2, 6),
    pp=st.integers(1, 6),
    tied=st.booleans(),
    bias=st.booleans(),
    fmt=st.sampled_from(["int4_g128", "int4_g64", "mxfp4", "int8_g128"]),
)
# found by hypothesis: each stage's row scales, summed in floats, came out a hair above a whole number of bytes
# (5608.00000000012) and rounded up, 2 bytes over the whole at pp 2 (hwsim.engine.cost.row_scale_bytes, now exact)
@example(head_dim=112, heads=4, intermediate=256, layers=3, pp=2, tied=False, bias=False, fmt="int4_g128")
def test_pipeline_stages_weights_sum_to_the_footprints(head_dim, heads, intermediate, layers, pp, tied, bias, fmt):
    """The stages of a pipeline hold every weight once (a last stage's copy of a tied table aside), each at the
    row rule: their weight bytes sum to simulate's (each stage rounded up to a byte: within pp bytes). Hidden
    sizes drawn so the group does not divide them (K of q/k/v, gate/up and the tables' rows)."""
    hidden = heads * head_dim
    g = operand_type(fmt).group_size
    if hidden % g == 0:
        hidden += heads  # one more per head: never a whole number of groups
    model = _llama(hidden, heads, intermediate, layers, tied, bias)
    pp = min(pp, layers)
    stages = stage_weight_bytes(model, stage_ranges(layers, pp), pp, operand_type(fmt), False)
    copy = model.vocab * _row_bytes(fmt, hidden) if tied and pp > 1 else 0.0
    whole = _footprint_weights(model, fmt)
    assert 0 <= sum(stages) - copy - whole < pp


def test_falcon_7b_int4_g128_pp2_stages_serve_simulate_and_allocate_agree():
    """Falcon-7B (K 4544, tied 65,024 × 4544 table) at int4_g128: simulate's weights 3,569,953,806 B (the footprint
    3,572,207,374 less KV and activations, unchanged); serve's weights (pp 1) were 3,569,012,238 B (flat 4.125 bits:
    941,568 B short, one byte a row of K 4544), now the same 3,569,953,806; pp 2 stages were 1,860,679,392 +
    1,860,684,078, now 1,861,182,688 + 1,861,187,374, whose sum less the last stage's copy of the tied table
    (65,024 rows × (4544 × 4 + 36 × 16) / 8 = 2344 B) is the whole; allocate's memory constraint with every unit at
    int4_g128 was 3,569,012,238 B of weights, now the same 3,569,953,806."""
    model, fmt = load_model("falcon-7b"), "int4_g128"
    w = operand_type(fmt)
    whole = _footprint_weights(model, fmt)
    assert whole == 3_569_953_806
    assert stage_weight_bytes(model, [(0, model.layers)], 1, w, False) == [whole]
    pp2 = stage_weight_bytes(model, stage_ranges(model.layers, 2), 2, w, False)
    assert pp2 == [1_861_182_688, 1_861_187_374]
    assert sum(pp2) - 65_024 * 2344 == whole
    _, info = capacity_blocks(H100, model, Precision(weights=fmt), 16, 0.9, 2048)
    assert info["weights_bytes"] == whole
    t = trace(model, "decode", batch=1, context=16)
    units = weight_units(t)
    costs, fixed = hardware_costs(H100, t, units, (fmt,), np.ones((len(units), 1), bool), fixed_weights=fmt)
    kv = t.kv_cache_bytes(operand_type("fp16"))
    assert costs["memory_bytes"][:, 0].sum() + fixed["memory_bytes"] - kv == pytest.approx(whole, abs=1)


@pytest.mark.parametrize("fmt", ["int4_g128", "mxfp4"])
@pytest.mark.parametrize("bias", [False, True])
def test_allocate_and_serve_weigh_an_unaligned_model_as_simulate(fmt, bias):
    """A Llama of hidden 200 (K 200, not a whole number of groups of 128 or 32) and a Mixtral-style MoE of
    hidden 200, biases on or off: allocate's memory with every unit at the fixed format, and serve's weights on
    one device and per stage, equal simulate's (the bias of each linear at the format's bits, not grouped)."""
    dense = _llama(200, 4, 360, 3, False, bias)
    moe = from_hf_dict(
        {
            "model_type": "mixtral",
            "hidden_size": 200,
            "intermediate_size": 300,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "num_hidden_layers": 2,
            "num_local_experts": 4,
            "num_experts_per_tok": 2,
            "vocab_size": 1000,
        }
    )
    for model in (dense, moe):
        whole = _footprint_weights(model, fmt)
        w = operand_type(fmt)
        assert stage_weight_bytes(model, [(0, model.layers)], 1, w, False) == [math.ceil(whole)]
        _, info = capacity_blocks(H100, model, Precision(weights=fmt), 16, 0.9, 2048, par=Parallel(pp=2))
        assert info["weights_bytes"] == max(stage_weight_bytes(model, stage_ranges(model.layers, 2), 2, w, False))
        t = trace(model, "decode", batch=1, context=16)
        units = weight_units(t)
        costs, fixed = hardware_costs(H100, t, units, (fmt,), np.ones((len(units), 1), bool), fixed_weights=fmt)
        kv = t.kv_cache_bytes(operand_type("fp16"))
        allocated = costs["memory_bytes"][:, 0].sum() + fixed["memory_bytes"] - kv
        assert 0 <= whole - allocated < 1 + 1e-6  # the footprint rounds its weights up to a byte


# GPTQModel `dynamic` (hwsim.workload.quant): layer 1 at 8 bits, the rest at 4, groups of 128; lm_head and
# embed_tokens kept at fp16 (GPTQ's lm_head default, transformers never quantizes embed_tokens)
MIXED = {
    "model_type": "llama",
    "hidden_size": 320,
    "intermediate_size": 640,
    "num_attention_heads": 4,
    "num_hidden_layers": 2,
    "vocab_size": 4096,
    "torch_dtype": "float16",
    "quantization_config": {
        "quant_method": "gptq",
        "bits": 4,
        "group_size": 128,
        "sym": True,
        "dynamic": {r"+:model\.layers\.1\..*": {"bits": 8}},
    },
}


def test_a_checkpoints_exception_formats_are_priced_on_their_rows():
    """hidden 320 = 2.5 × 128: each row of K 320 holds 3 scales (K 640 of down_proj 5, whole groups). By hand:
    layer 0's linears at int4 rows ((320 × 4 + 3 × 16) / 8 = 166 B, (640 × 4 + 5 × 16) / 8 = 330 B), layer 1's at
    int8 rows (326 B, 650 B), the token table and lm_head at fp16 (no scales), norms at the checkpoint's fp16
    (vLLM keeps them in the model dtype): 6,819,200 B (6,817,145 while they took their layer's format's bits).
    Before, an exception replaced only the flat bits, so the fp16 table and head kept int4's half-scale a row
    (simulate's weights 6,825,337 B, 8,192 over), and serve's had no row scales at all (6,812,025; pp 2 stages
    3,149,770 + 3,662,255, then 3,152,330 + 3,664,815)."""
    model = from_hf_dict(MIXED)
    h, v = 320, 4096
    layer0 = 4 * h * 166 + 2 * 640 * 166 + h * 330 + 2 * h * 2
    layer1 = 4 * h * 326 + 2 * 640 * 326 + h * 650 + 2 * h * 2
    by_hand = layer0 + layer1 + 2 * v * h * 2 + h * 2  # table, head and the final norm in fp16
    assert _row_bytes("int4_g128", 320) == 166 and _row_bytes("int8_g128", 640) == 650
    main = model.default_weight_format
    assert main == "int4_g128"
    assert _footprint_weights(model, main) == math.ceil(by_hand)
    w = operand_type(main)
    assert stage_weight_bytes(model, [(0, 2)], 1, w, True) == [math.ceil(by_hand)]
    shard = shard_model(model, Parallel(pp=2))
    stages = stage_weight_bytes(shard, stage_ranges(2, 2), 2, w, True)
    assert stages == [math.ceil(layer0 + v * h * 2), math.ceil(layer1 + v * h * 2 + h * 2)]


def test_fpga_on_chip_weights_are_priced_on_their_rows():
    """u280 with weights on chip, one GEMV of K 4544 (Falcon-7B's) × 1024 outputs at int4_g128: the weights fill
    1024 × 2344 = 2,400,256 B of the on-chip store (was 1024 × 4544 × 4.125 / 8 = 2,399,232), what the engine
    moves for B when they stream; Falcon-7B decode's util_weights 113.4509 -> 113.4809 (+941,568 B: 32 layers ×
    27,392 rows + the 65,024-row lm_head). Swept N:M sparsity still prices per design point."""
    over = {"compute.weights_on_chip": True}
    arch = load_arch("u280", over)
    prec = Precision(weights="int4_g128", activations="int8")
    gemv = gemm_ops([("g", 1, 1024, 4544)])
    util = evaluate(arch, gemv, prec).totals["util_weights"]
    assert util * on_chip_bytes(arch, "weights") == pytest.approx(1024 * 2344, rel=1e-12)
    streamed = evaluate(load_arch("u280"), gemv, prec).ops.iloc[0]
    assert streamed["bytes_hbm"] == 1024 * 2344 + 4544 + 1024  # weights + int8 input + int8 output
    sparse = load_arch("u280", {**over, "compute.sparsity_n": 1})
    grid = sweep_cost(sparse, {"compute.sparsity_m": [1, 4]}, gemv, prec)  # 1:1 is dense
    assert grid[grid["compute.sparsity_m"] == 1].iloc[0]["util_weights"] == pytest.approx(util, rel=1e-12)
    assert grid[grid["compute.sparsity_m"] == 4].iloc[0]["util_weights"] < util / 2
    falcon = evaluate(arch, trace(load_model("falcon-7b"), "decode", context=256), prec).totals
    assert falcon["util_weights"] * on_chip_bytes(arch, "weights") == pytest.approx(
        113.450927734375 * 30 * 2**20 + 32 * 27_392 + 65_024, rel=1e-12
    )


def test_norms_and_biases_are_not_grouped_in_the_engines_weight_bytes():
    """Only a linear's k × n weight and a token table are grouped along rows: a norm's weight vector and a
    linear's bias are stored at the format's bits, in the engine's per-op B bytes as in the footprint. Falcon-7B
    decode at 256 on h100-sxm, int4_g128: its norms (k 1 in the trace) were priced on rows of 1 (4 + 16 = 20 bits an
    element), now 4.125: each input_norm's 9088 elements 22,720 -> 4,686 B; bytes_hbm 3,582,727,144 ->
    3,582,132,022, seconds 4.443216 -> 4.442964 ms. A Llama of hidden 200 with MLP biases: gate_proj (K 200,
    n 2000) reads 2000 rows of 200 × 4 + 2 × 16 bits and 2000 bias elements at 4.125 bits (was 4.16 bits: 9 B more)."""
    prec = resolve_precision(Precision(weights="int4_g128"))
    t = trace(load_model("falcon-7b"), "decode", batch=1, context=256)
    got = operand_bytes(op_columns(t), prec)
    norm = (t.ops["op"] == "norm").to_numpy() & (t.ops["weight_elems"] > 0).to_numpy()
    assert norm.sum() == 32 + 1  # one input_norm a layer (parallel attention and MLP) and the final norm
    np.testing.assert_array_equal(got.b[norm], np.ceil(t.ops["weight_elems"].to_numpy()[norm] * 4.125 / 8))
    assert got.b[norm][0] == 4_686
    assert evaluate(H100, t, Precision(weights="int4_g128")).totals["bytes_hbm"] == 3_582_132_022
    model = _llama(200, 4, 2000, 2, False, True)
    t = trace(model, "decode", batch=1, context=16)
    got = operand_bytes(op_columns(t), prec)
    gate = (t.ops["op"] == "gate_proj").to_numpy()
    assert got.b[gate][0] == math.ceil((2000 * (200 * 4 + 2 * 16) + 2000 * 4.125) / 8)
