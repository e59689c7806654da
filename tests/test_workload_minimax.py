"""minimax (MiniMax-Text-01): lightning (linear) attention layers with softmax attention every 8th layer
(layer_types), a Mixtral MoE in every layer.

Sources: the parameter counts and tensor names/shapes are transformers 5.25 (MiniMaxForCausalLM built on the meta
device with torch 2.13; the MiniMax-Text-01 count is pinned in tests/data/hf_reference.json, the tiny one was run for
this test in a throwaway venv and is pinned here); the card's 456B total / 45.9B active is the MiniMax-01 report's
(arXiv:2501.08313)."""

from pathlib import Path

import pytest

from hwsim.errors import HwsimError
from hwsim.workload import from_hf_dict, kv, load_model, trace
from hwsim.workload.blocks import Attention, Lightning
from hwsim.workload.tensor_map import match_checkpoint

TEXT01 = Path(__file__).parent / "data" / "hf_configs" / "minimax-text-01.json"
# random small sizes: lightning / softmax / lightning, 4 experts top-2, blocks of 4 tokens
TINY = {
    "model_type": "minimax",
    "hidden_size": 48,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 12,
    "num_hidden_layers": 3,
    "layer_types": ["linear_attention", "full_attention", "linear_attention"],
    "block_size": 4,
    "intermediate_size": 20,
    "num_local_experts": 4,
    "num_experts_per_tok": 2,
    "vocab_size": 77,
}


def _tiny_checkpoint() -> dict:
    """Every linear of TINY as transformers 5.25 names and shapes it (stacked experts)."""
    out = {"model.embed_tokens.weight": (77, 48), "lm_head.weight": (77, 48)}
    for i in range(3):
        p = f"model.layers.{i}."
        if i == 1:
            out |= {p + "self_attn.q_proj.weight": (48, 48), p + "self_attn.k_proj.weight": (24, 48)}
            out |= {p + "self_attn.v_proj.weight": (24, 48), p + "self_attn.o_proj.weight": (48, 48)}
        else:
            out |= {p + "self_attn.qkv_proj.weight": (144, 48), p + "self_attn.output_gate.weight": (48, 48)}
            out |= {p + "self_attn.out_proj.weight": (48, 48)}
        out |= {p + "mlp.gate.weight": (4, 48), p + "mlp.experts.gate_up_proj": (4, 40, 48)}
        out |= {p + "mlp.experts.down_proj": (4, 48, 20)}
    return out


def test_tiny_minimax_params_and_checkpoint_names_equal_transformers():
    """72,912 parameters (transformers 5.25 on meta: a lightning layer's qkv_proj, output_gate, out_proj and its
    RMSNorm over all heads); every linear found in its names."""
    m = from_hf_dict(dict(TINY))
    assert m.params == 72_912
    assert [type(b.mixer) for b in m.blocks] == [Lightning, Attention, Lightning]
    rows = match_checkpoint(m, _tiny_checkpoint())
    assert len(rows) == 2 * 3 + 4 + 3 * 4 and all(r["ok"] for r in rows)


def test_lightning_prefill_is_blockwise_and_decode_the_recurrence():
    """A prefill of 8 tokens (two whole blocks of 4): per token and head, Q·Kᵀ and the masked scores × V at the block
    width, Q × the block's initial state and the state's update (head_dim² each); decode: one read-out of head_dim²
    per head, the state (4 heads × 12 × 12) read and written, whatever the context."""
    m = from_hf_dict(dict(TINY))
    pre = trace(m, "prefill", batch=2, seq=8).ops.set_index("name")
    H, D, M = 4, 12, 16
    for row, macs in (("intra_qk", M * H * 4 * D), ("intra_av", M * H * 4 * D), ("inter", M * H * D * D)):
        assert pre.loc[f"layers.0.lightning.{row}", "macs"] == macs
    assert pre.loc["layers.0.lightning.states", "macs"] == M * H * D * D
    dec = trace(m, "decode", batch=2, context=500).ops.set_index("name")
    assert dec.loc["layers.0.lightning.readout", "macs"] == 2 * H * D * D
    update = dec.loc["layers.0.lightning.update"]
    assert (update["kv_read_elems"], update["kv_write_elems"]) == (2 * H * D * D, 2 * H * D * D)
    assert kv.state_elems(m.blocks) == 2 * H * D * D and kv.token_elems(m.blocks) == 2 * 12 * 2


def test_minimax_defaults_and_refusals():
    """Without layer_types, MiniMaxConfig's default: softmax attention on every other layer from the first; head_dim
    hidden // heads; a null num_key_value_heads is the heads (MHA). An unknown layer type is refused in one line."""
    bare = {k: v for k, v in TINY.items() if k not in ("layer_types", "head_dim")}
    m = from_hf_dict({**bare, "num_key_value_heads": None})
    assert [isinstance(b.mixer, Attention) for b in m.blocks] == [True, False, True]
    assert m.blocks[0].mixer.kv_heads == 4 and m.blocks[1].mixer.head_dim == 12
    with pytest.raises(HwsimError, match="layer_types"):
        from_hf_dict({**TINY, "layer_types": ["linear_attention", "mamba", "full_attention"]})


def test_minimax_text_01_params():
    """MiniMax-Text-01 as reconstructed: 456,089,655,296 parameters (transformers 5.25 on meta; report: 456B total,
    45.9B active: hwsim's active count is 48,403,306,496 with both embedding tables, 45.94B without); 10 softmax
    layers among 80; MiniMaxConfig's defaults (Mixtral-8x7B's geometry) give 47,373,946,880."""
    m = load_model(TEXT01)
    assert (m.params, m.active_params_per_token) == (456_089_655_296, 48_403_306_496)
    assert sum(isinstance(b.mixer, Attention) for b in m.blocks) == 10
    assert from_hf_dict({"model_type": "minimax"}).params == 47_373_946_880
