"""DBRX (model_type dbrx): the reader of its nested attn_config / ffn_config.

Source: transformers 5.25's DbrxConfig / DbrxForCausalLM (parameter counts of AutoModelForCausalLM.from_config on the
meta device, in the throwaway venv that made tests/data/hf_reference.json); databricks/dbrx-instruct's model card
(132B total, 36B active) for the reconstructed real config."""

from __future__ import annotations

from pathlib import Path

import pytest

from hwsim.errors import HwsimError
from hwsim.workload import from_hf_dict, load_model, trace

CONFIGS = Path(__file__).parent / "data" / "hf_configs"


def test_dbrx_instruct_is_gqa_attention_and_16_experts_top_4_in_every_layer():
    m = load_model(CONFIGS / "dbrx-instruct.json")
    assert len(m.blocks) == 40 and m.norm == "layernorm_weight"  # LayerNorm without bias
    assert {(b.attention.heads, b.attention.kv_heads, b.attention.head_dim) for b in m.blocks} == {(48, 8, 128)}
    assert {(b.mlp.experts, b.mlp.top_k, b.mlp.intermediate, b.mlp.gated) for b in m.blocks} == {(16, 4, 10752, True)}
    # card: 132B total, 36B active
    assert round(m.params / 1e9) == 132 and round(m.active_params_per_token / 1e9) == 36


@pytest.mark.parametrize(
    "fields,params",
    [
        ({}, 2_459_207_680),  # DbrxConfig's defaults: 2048 wide, 24 layers, 16 heads / 1 KV head, 4 experts of 3584
        (
            {
                "attn_config": {"kv_n_heads": 4},
                "ffn_config": {"moe_num_experts": 8, "moe_top_k": 2, "ffn_hidden_size": 1024},
            },
            1_591_183_360,
        ),
    ],
)
def test_dbrx_defaults_and_nested_fields_count_as_transformers(fields, params):
    # (transformers 5.25 needs attn_config.rope_theta to build the model at all; hwsim's count does not depend on it)
    assert from_hf_dict({"model_type": "dbrx", **fields}).params == params


@pytest.mark.parametrize(
    "fields,field",
    [
        ({"attn_config": {"kv_n_heads": 5}}, "attn_config.kv_n_heads"),
        ({"ffn_config": {"moe_num_experts": 1}}, "ffn_config.moe_num_experts"),
        ({"ffn_config": {"moe_top_k": 5}}, "ffn_config.moe_top_k"),
        ({"attn_config": [8]}, "attn_config"),
        ({"tie_word_embeddings": True}, "tie_word_embeddings"),
        ({"attn_config": {"clip_qkv": -8}}, "attn_config.clip_qkv"),
        ({"attn_config": {"clip_qkv": "8"}}, "attn_config.clip_qkv"),
    ],
)
def test_dbrx_bad_fields_are_one_line_naming_the_field(fields, field):
    with pytest.raises(HwsimError) as err:
        from_hf_dict({"model_type": "dbrx", **fields})
    assert field in str(err.value) and "\n" not in str(err.value)


def test_clip_qkv_is_a_clamp_row_between_wqkv_and_the_cache():
    """HF DbrxAttention clamps Wqkv's whole output to ±clip_qkv before splitting it (2 vector ops an element,
    assumed: a max and a min): the clamp row writes the values to the cache where Wqkv's v part did, so the cache's
    traffic is the unclamped model's; the keys go on to rope. Without clip_qkv (DbrxConfig's default) no row."""
    m = load_model(CONFIGS / "dbrx-instruct.json")
    plain = from_hf_dict({**m.extra, "attn_config": {**m.extra["attn_config"], "clip_qkv": None}})
    a = m.blocks[0].attention
    ops, base = (trace(x, "decode", batch=2, context=64).ops for x in (m, plain))
    clip = ops[ops["op"] == "clamp"]
    width = (a.heads + 2 * a.kv_heads) * a.head_dim
    assert len(clip) == m.layers and set(clip["n"]) == {width} and set(clip["vector_ops"]) == {2 * 2 * width}
    assert set(clip["kv_write_elems"]) == {2 * a.kv_heads * a.head_dim}
    assert (base["op"] == "clamp").sum() == 0
    for col in ("kv_write_elems", "kv_read_elems", "macs", "weight_elems"):
        assert ops[col].sum() == base[col].sum(), col
