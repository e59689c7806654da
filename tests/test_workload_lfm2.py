"""lfm2 (Liquid LFM2): gated short-convolution layers and GQA layers by layer_types, a SwiGLU MLP in every layer.

Sources: the parameter counts and tensor names/shapes are transformers 5.25 (Lfm2ForCausalLM built on the meta device
with torch 2.13; the LFM2-1.2B count is pinned in tests/data/hf_reference.json, the tiny one was run for this test in
a throwaway venv and is pinned here)."""

from pathlib import Path

import pytest

from hwsim.errors import HwsimError
from hwsim.workload import from_hf_dict, kv, load_model, trace
from hwsim.workload.blocks import Attention, ShortConv
from hwsim.workload.tensor_map import match_checkpoint

LFM2 = Path(__file__).parent / "data" / "hf_configs" / "lfm2-1.2b.json"
# random small sizes: conv / attention / conv, biased convs, an MLP of 60 → int(2/3) = 40 → up to 16's: 48, untied
TINY = {
    "model_type": "lfm2",
    "hidden_size": 48,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "num_hidden_layers": 3,
    "layer_types": ["conv", "full_attention", "conv"],
    "conv_L_cache": 3,
    "conv_bias": True,
    "intermediate_size": 60,
    "block_multiple_of": 16,
    "vocab_size": 77,
    "tie_word_embeddings": False,
}


def _tiny_checkpoint() -> dict:
    """Every linear of TINY as transformers 5.25 names and shapes it."""
    out = {"model.embed_tokens.weight": (77, 48), "lm_head.weight": (77, 48)}
    for i in range(3):
        p = f"model.layers.{i}."
        if i == 1:
            out |= {p + "self_attn.q_proj.weight": (48, 48), p + "self_attn.k_proj.weight": (24, 48)}
            out |= {p + "self_attn.v_proj.weight": (24, 48), p + "self_attn.out_proj.weight": (48, 48)}
        else:
            out |= {p + "conv.in_proj.weight": (144, 48), p + "conv.out_proj.weight": (48, 48)}
            out |= {p + "conv.conv.weight": (48, 1, 3)}
        out |= {p + f"feed_forward.{w}.weight": (48, 48) for w in ("w1", "w3", "w2")}
    return out


def test_tiny_lfm2_params_and_checkpoint_names_equal_transformers():
    """54,600 parameters (transformers 5.25 on meta: the convs' in_proj / conv / out_proj biases under conv_bias,
    the attention layer's per-head q/k RMSNorms, the adjusted MLP of 48); every linear found in its names."""
    m = from_hf_dict(dict(TINY))
    assert m.params == 54_600 and m.blocks[0].mlp.intermediate == 48
    assert [type(b.mixer) for b in m.blocks] == [ShortConv, Attention, ShortConv]
    rows = match_checkpoint(m, _tiny_checkpoint())
    assert len(rows) == 2 * 5 + 7 and all(r["ok"] for r in rows)


def test_lfm2_mlp_width_and_layer_defaults():
    """Lfm2MLP's width: block_ff_dim (the hub's name) wins over intermediate_size; int(2/3), × the multiplier,
    rounded up to block_multiple_of (LFM2-1.2B: 12288 → 8192); a null multiplier skips both; no adjustment when
    block_auto_adjust_ff_dim is false. Without layer_types, attention on full_attn_idxs (default: every layer).
    tie_embedding (the hub's name) wins over tie_word_embeddings."""
    width = lambda **kw: from_hf_dict({**TINY, **kw}).blocks[0].mlp.intermediate  # noqa: E731
    assert (width(block_ff_dim=12288), width(block_ffn_dim_multiplier=None), width(block_auto_adjust_ff_dim=False)) == (
        8192,
        40,
        60,
    )
    assert width(block_ffn_dim_multiplier=1.5) == 64  # int(1.5 × 40) = 60 → 64
    bare = {k: v for k, v in TINY.items() if k != "layer_types"}
    assert all(isinstance(b.mixer, Attention) for b in from_hf_dict(bare).blocks)
    picked = from_hf_dict({**bare, "full_attn_idxs": [2]})
    assert [isinstance(b.mixer, Attention) for b in picked.blocks] == [False, False, True]
    assert from_hf_dict({**TINY, "tie_embedding": True}).tie_embeddings
    with pytest.raises(HwsimError, match="layer_types"):
        from_hf_dict({**TINY, "layer_types": ["conv", "mamba", "conv"]})


def test_the_conv_window_joins_the_cache_as_an_ssm_state():
    """A conv layer keeps its last conv_L_cache - 1 inputs per channel (a fixed state per sequence, read and written
    every step); attention layers keep K/V per token. The decode step's row is conv.update, a prefill's conv1d."""
    m = from_hf_dict(dict(TINY))
    assert kv.state_elems(m.blocks, batch=2) == 2 * 2 * 48 * 2
    assert kv.token_elems(m.blocks) == 2 * 12 * 2
    ops = trace(m, "decode", batch=2, context=30).ops.set_index("name")
    conv = ops.loc["layers.0.conv.update"]
    assert (conv["kv_read_elems"], conv["kv_write_elems"], conv["vector_ops"]) == (2 * 96, 2 * 96, 2 * 48 * (2 * 3 + 1))
    assert "layers.0.conv1d" in trace(m, "prefill", batch=1, seq=5).ops["name"].tolist()


def test_lfm2_1_2b_params():
    """LFM2-1.2B as reconstructed: 1,170,340,608 parameters (transformers 5.25 on meta; card: 1.17B), tied; 6
    attention layers among 16; Lfm2Config's defaults (2560 wide, 32 layers, all attention) give 2,705,497,600."""
    m = load_model(LFM2)
    assert m.params == 1_170_340_608 and m.tie_embeddings
    assert sum(isinstance(b.mixer, Attention) for b in m.blocks) == 6
    assert from_hf_dict({"model_type": "lfm2"}).params == 2_705_497_600


LFM2_MOE = Path(__file__).parent / "data" / "hf_configs" / "lfm2-8b-a1b.json"
# LFM2-MoE: the first MLP dense (intermediate_size as given), then 5 experts of 20, top-2
TINY_MOE = {
    **{k: v for k, v in TINY.items() if k not in ("block_multiple_of", "tie_word_embeddings")},
    "model_type": "lfm2_moe",
    "intermediate_size": 36,
    "moe_intermediate_size": 20,
    "num_experts": 5,
    "num_experts_per_tok": 2,
    "num_dense_layers": 1,
}


def test_tiny_lfm2_moe_params_and_checkpoint_names_equal_transformers():
    """64,632 parameters (transformers 5.25 on meta: a dense first MLP of 36 not adjusted, then experts stacked under
    feed_forward.experts with the router feed_forward.gate; the expert_bias is a buffer); every linear found, in the
    stacked and the hub's per-expert (w1/w3/w2) names."""
    m = from_hf_dict(dict(TINY_MOE))
    assert m.params == 64_632
    assert [b.mlp.is_moe for b in m.blocks] == [False, True, True] and m.blocks[0].mlp.intermediate == 36
    names = {k: v for k, v in _tiny_checkpoint().items() if ".feed_forward." not in k or ".layers.0." in k}
    names["model.layers.0.feed_forward.w1.weight"] = names["model.layers.0.feed_forward.w3.weight"] = (36, 48)
    names["model.layers.0.feed_forward.w2.weight"] = (48, 36)
    hub = dict(names)
    for i in (1, 2):
        p = f"model.layers.{i}.feed_forward."
        names |= {
            p + "gate.weight": (5, 48),
            p + "experts.gate_up_proj": (5, 40, 48),
            p + "experts.down_proj": (5, 48, 20),
        }
        hub |= {p + "gate.weight": (5, 48)}
        for e in range(5):
            hub |= {f"{p}experts.{e}.{w}.weight": s for w, s in (("w1", (20, 48)), ("w3", (20, 48)), ("w2", (48, 20)))}
    for ckpt in (names, hub):
        rows = match_checkpoint(m, ckpt)
        assert len(rows) == 2 * 2 + 4 + 3 + 2 * 4 and all(r["ok"] for r in rows)


def test_lfm2_moe_needs_layer_types_and_lfm2_8b_a1b_params():
    """Lfm2MoeConfig sets no layer_types default (its model indexes them): refused in one line. LFM2-8B-A1B as
    reconstructed: 8,339,929,856 parameters (transformers 5.25 on meta; card: 8.3B total, 1.5B active: hwsim's active
    count 1,557,740,288 with the tied table once); defaults with 32 attention layers: 11,129,591,808."""
    with pytest.raises(HwsimError, match="layer_types"):
        from_hf_dict({"model_type": "lfm2_moe"})
    m = load_model(LFM2_MOE)
    assert (m.params, m.active_params_per_token) == (8_339_929_856, 1_557_740_288)
    assert from_hf_dict({"model_type": "lfm2_moe", "layer_types": ["full_attention"] * 32}).params == 11_129_591_808
