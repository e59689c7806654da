"""glm4_moe (GLM-4.5 / GLM-4.5-Air / GLM-4.6): GQA with q/k/v biases and partial rotary, optional per-head q/k
RMSNorms, DeepSeek's layout of dense first layers then routed + shared experts.

Sources: the parameter counts and tensor names/shapes are transformers 5.25 (Glm4MoeForCausalLM built on the meta
device with torch 2.13; the GLM-4.5-Air numbers are pinned in tests/data/hf_reference.json, the tiny and GLM-4.5
ones were run for this test in a throwaway venv and are pinned here)."""

import json
from pathlib import Path

import pytest

from hwsim.errors import HwsimError
from hwsim.workload import from_hf_dict, load_model, trace
from hwsim.workload.tensor_map import match_checkpoint

CONFIGS = Path(__file__).parent / "data" / "hf_configs"
AIR = CONFIGS / "glm-4.5-air.json"
# random small sizes: 3 layers, the first 2 dense, 5 routed experts + 2 shared, q/k norms, biases, rotary on half
TINY = {
    "model_type": "glm4_moe",
    "hidden_size": 48,
    "num_attention_heads": 6,
    "num_key_value_heads": 2,
    "head_dim": 12,
    "partial_rotary_factor": 0.5,
    "n_routed_experts": 5,
    "num_experts_per_tok": 2,
    "first_k_dense_replace": 2,
    "num_hidden_layers": 3,
    "moe_intermediate_size": 20,
    "intermediate_size": 36,
    "n_shared_experts": 2,
    "use_qk_norm": True,
    "attention_bias": True,
    "vocab_size": 77,
}


def _tiny_checkpoint() -> dict:
    """Every ≥2-D parameter of TINY as transformers 5.25 names and shapes it (stacked experts, transformers ≥ 5)."""
    out = {"model.embed_tokens.weight": (77, 48), "lm_head.weight": (77, 48)}
    for i in range(3):
        p = f"model.layers.{i}."
        out |= {
            p + "self_attn.q_proj.weight": (72, 48),
            p + "self_attn.k_proj.weight": (24, 48),
            p + "self_attn.v_proj.weight": (24, 48),
            p + "self_attn.o_proj.weight": (48, 72),
        }
        if i < 2:
            out |= {p + "mlp.gate_proj.weight": (36, 48), p + "mlp.up_proj.weight": (36, 48)}
            out |= {p + "mlp.down_proj.weight": (48, 36)}
    p = "model.layers.2.mlp."
    return out | {
        p + "experts.gate_up_proj": (5, 40, 48),
        p + "experts.down_proj": (5, 48, 20),
        p + "gate.weight": (5, 48),
        p + "shared_experts.gate_proj.weight": (40, 48),
        p + "shared_experts.up_proj.weight": (40, 48),
        p + "shared_experts.down_proj.weight": (48, 40),
    }


def test_tiny_glm4_moe_params_and_checkpoint_names_equal_transformers():
    """66,576 parameters (transformers 5.25 on meta); every linear found in the checkpoint names it builds, in the
    stacked-expert layout and in the hub's one-tensor-per-expert layout."""
    m = from_hf_dict(dict(TINY))
    assert m.params == 66_576
    rows = match_checkpoint(m, _tiny_checkpoint())
    assert len(rows) == sum(len(b.linears(48)) for b in m.blocks) == 3 * 4 + 2 * 3 + 7 and all(r["ok"] for r in rows)
    hub = {k: v for k, v in _tiny_checkpoint().items() if ".experts." not in k}
    for e in range(5):
        p = f"model.layers.2.mlp.experts.{e}."
        hub |= {p + "gate_proj.weight": (20, 48), p + "up_proj.weight": (20, 48), p + "down_proj.weight": (48, 20)}
    assert all(r["ok"] for r in match_checkpoint(m, hub))


def test_glm4_moe_layout():
    """Dense MLPs on the first first_k_dense_replace layers, then routed experts beside n_shared_experts shared ones
    (one MLP of n_shared × moe_intermediate_size); q/k/v biased, o_proj never; q/k norms of head_dim weights."""
    m = from_hf_dict(dict(TINY))
    dense, moe = m.blocks[1].mlp, m.blocks[2].mlp
    assert not dense.is_moe and dense.intermediate == 36
    assert (moe.experts, moe.top_k, moe.intermediate, moe.shared) == (5, 2, 20, 40) and not moe.router_bias
    lin = m.blocks[0].linears(48)
    assert [lin[r].bias for r in ("q_proj", "k_proj", "v_proj", "o_proj")] == [True, True, True, False]
    plain = from_hf_dict({**TINY, "use_qk_norm": False, "attention_bias": False})
    assert m.params - plain.params == 3 * (2 * 12 + 72 + 24 + 24)  # q/k norm weights; q, k, v biases


def test_partial_rotary_rotates_that_share_of_each_head():
    """rope's vector ops cover partial_rotary_factor of q and k (HF rotates q[..., :rotary_dim]), its traffic the
    whole of both."""
    m = from_hf_dict(dict(TINY))
    full = from_hf_dict({**TINY, "partial_rotary_factor": 1.0})
    assert m.blocks[0].attention.rotary_dim == 6 and full.blocks[0].attention.rotary_dim == 12
    rope = [trace(x, "prefill", batch=2, seq=10).ops.query("op == 'rope'") for x in (m, full)]
    assert rope[0]["vector_ops"].sum() * 2 == rope[1]["vector_ops"].sum() == 3 * 3 * 20 * (72 + 24)
    assert rope[0]["act_in_elems"].sum() == rope[1]["act_in_elems"].sum()
    with pytest.raises(HwsimError, match="partial_rotary_factor"):
        from_hf_dict({**TINY, "partial_rotary_factor": 1.5})


def test_glm_4_5_air_and_glm_4_5_params():
    """GLM-4.5-Air as reconstructed: 106,852,245,504 parameters (transformers 5.25; card: 106B total, 12B active:
    hwsim's active count with both embedding tables is 13,424,123,904, 12.18B without them). GLM-4.5 (hidden 5120,
    92 layers, 160 experts of 1536, the first 3 dense of 12288, q/k norms; card: 355B, 32B active, its MTP layer
    included): 352,797,814,784 on meta."""
    air = load_model(AIR)
    assert (air.params, air.active_params_per_token) == (106_852_245_504, 13_424_123_904)
    cfg = json.loads(AIR.read_text())
    big = from_hf_dict(
        {
            **cfg,
            "hidden_size": 5120,
            "intermediate_size": 12288,
            "moe_intermediate_size": 1536,
            "num_hidden_layers": 92,
            "n_routed_experts": 160,
            "first_k_dense_replace": 3,
            "use_qk_norm": True,
        }
    )
    assert big.params == 352_797_814_784
    # head_dim absent: hidden_size // num_attention_heads as HF's getattr default (4096 // 96 = 42, not divisible)
    assert from_hf_dict({"model_type": "glm4_moe"}).head_dim == 42
