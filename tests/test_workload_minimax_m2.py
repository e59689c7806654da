"""minimax_m2 (MiniMax-M2): GQA with q/k RMSNorms over all heads and partial rotary, a MoE of 256 experts in every
layer, no shared expert.

Sources: the parameter counts and tensor names/shapes are transformers 5.25 (MiniMaxM2ForCausalLM built on the meta
device with torch 2.13; the MiniMax-M2 count is pinned in tests/data/hf_reference.json, the tiny one was run for this
test in a throwaway venv and is pinned here)."""

from pathlib import Path

import pytest

from hwsim.errors import HwsimError
from hwsim.workload import from_hf_dict, load_model, trace
from hwsim.workload.tensor_map import match_checkpoint

M2 = Path(__file__).parent / "data" / "hf_configs" / "minimax-m2.json"
# random small sizes: 2 layers, 5 experts top-2, rotary on 6 of 12 channels (the hub's legacy rotary_dim)
TINY = {
    "model_type": "minimax_m2",
    "hidden_size": 48,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 12,
    "rotary_dim": 6,
    "intermediate_size": 20,
    "num_local_experts": 5,
    "num_experts_per_tok": 2,
    "num_hidden_layers": 2,
    "vocab_size": 77,
}


def _attention(i: int) -> dict:
    p = f"model.layers.{i}.self_attn."
    return {p + "q_proj.weight": (48, 48), p + "k_proj.weight": (24, 48), p + "v_proj.weight": (24, 48)} | {
        p + "o_proj.weight": (48, 48)
    }


def test_tiny_minimax_m2_params_and_checkpoint_names_equal_transformers():
    """50,880 parameters (transformers 5.25 on meta); every linear found in the names transformers builds (stacked
    experts under mlp) and in the hub's (block_sparse_moe.experts.<e>.w1/w2/w3, block_sparse_moe.gate)."""
    m = from_hf_dict(dict(TINY))
    assert m.params == 50_880
    stacked = {"model.embed_tokens.weight": (77, 48), "lm_head.weight": (77, 48)}
    hub = dict(stacked)
    for i in range(2):
        p = f"model.layers.{i}."
        stacked |= _attention(i) | {p + "mlp.gate.weight": (5, 48), p + "mlp.experts.gate_up_proj": (5, 40, 48)}
        stacked |= {p + "mlp.experts.down_proj": (5, 48, 20)}
        hub |= _attention(i) | {p + "block_sparse_moe.gate.weight": (5, 48)}
        for e in range(5):
            q = f"{p}block_sparse_moe.experts.{e}."
            hub |= {q + "w1.weight": (20, 48), q + "w3.weight": (20, 48), q + "w2.weight": (48, 20)}
    for names in (stacked, hub):
        rows = match_checkpoint(m, names)
        assert len(rows) == 2 * 8 and all(r["ok"] for r in rows)


def test_minimax_m2_attention_layout():
    """q/k RMSNorms over all heads at once (weights of 48 and 24: 'rmsnorm_all', as OLMo-2's), no biases, rotary on
    rotary_dim / head_dim of each head; partial_rotary_factor, when given, wins over rotary_dim (HF's setdefault)."""
    m = from_hf_dict(dict(TINY))
    a = m.blocks[0].attention
    assert (a.qk_norm, a.rotary_dim, a.qkv_bias, a.o_bias) == ("rmsnorm_all", 6, False, False)
    rows = trace(m, "prefill", batch=1, seq=3).ops.set_index("name")
    q, k = rows.loc["layers.0.q_norm"], rows.loc["layers.0.k_norm"]
    assert (q["m"], q["n"], q["weight_elems"], k["m"], k["n"], k["weight_elems"]) == (3, 48, 48, 3, 24, 24)
    assert from_hf_dict({**TINY, "partial_rotary_factor": 0.25}).blocks[0].attention.rotary_dim == 3
    assert from_hf_dict({k: v for k, v in TINY.items() if k != "rotary_dim"}).blocks[0].attention.rotary_dim is None
    with pytest.raises(HwsimError, match="partial_rotary_factor"):
        from_hf_dict({**TINY, "rotary_dim": 24})


def test_minimax_m2_params():
    """MiniMax-M2 as reconstructed: 228,689,748,992 parameters (transformers 5.25 on meta; card: 230B total, 10B
    active: hwsim's active count is 11,030,537,216 with both embedding tables, 9.80B without); MiniMaxM2Config's
    defaults give the same count."""
    m = load_model(M2)
    assert (m.params, m.active_params_per_token) == (228_689_748_992, 11_030_537_216)
    assert from_hf_dict({"model_type": "minimax_m2"}).params == m.params
    assert not any(b.mlp.shared for b in m.blocks) and all(b.mlp.experts == 256 for b in m.blocks)
