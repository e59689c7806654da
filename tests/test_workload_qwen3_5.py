"""qwen3_5 / qwen3_5_text (Qwen3.5) and qwen3_5_moe / qwen3_5_moe_text (Qwen3.5-MoE): Qwen3-Next's decoder (Gated
DeltaNet and gated attention, hwsim.workload.readers._qwen3_next) with the DeltaNet's input projections apart
(DeltaNet.split), a dense MLP in every layer (Qwen3.5) or the Qwen3-Next MoE in every layer (Qwen3.5-MoE), read
through their multimodal wrappers' text_config.

Sources: parameter counts and tensor names/shapes are transformers 5.25 (Qwen3_5ForCausalLM /
Qwen3_5MoeForCausalLM on the meta device, torch 2.13, in a throwaway venv: the tiny configs below and the config
classes' defaults pinned here; Qwen3.5-27B and Qwen3.5-35B-A3B with their wrappers in tests/data/hf_reference.json);
the mixer's structure is HF's Qwen3_5GatedDeltaNet."""

import json
from pathlib import Path

import pytest

from hwsim.errors import HwsimError
from hwsim.workload import from_hf_dict, kv, load_model, trace
from hwsim.workload.blocks import Attention, DeltaNet
from hwsim.workload.tensor_map import match_checkpoint

CONFIGS = Path(__file__).parent / "data" / "hf_configs"
DENSE = CONFIGS / "qwen3.5-27b.json"
MOE = CONFIGS / "qwen3.5-35b-a3b.json"
# random small sizes: DeltaNet / attention / DeltaNet, 2 key heads of 8 and 6 value heads of 10 (groups of 3), conv 3,
# head_dim 12 rotated on half, q/k/v/o biases
TINY = {
    "model_type": "qwen3_5_text",
    "hidden_size": 40,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 12,
    "partial_rotary_factor": 0.5,
    "num_hidden_layers": 3,
    "layer_types": ["linear_attention", "full_attention", "linear_attention"],
    "linear_num_key_heads": 2,
    "linear_num_value_heads": 6,
    "linear_key_head_dim": 8,
    "linear_value_head_dim": 10,
    "linear_conv_kernel_dim": 3,
    "vocab_size": 91,
    "attention_bias": True,
    "intermediate_size": 30,
}
TINY_MOE = {
    **{k: v for k, v in TINY.items() if k != "intermediate_size"},
    "model_type": "qwen3_5_moe_text",
    "num_experts": 6,
    "num_experts_per_tok": 2,
    "moe_intermediate_size": 14,
    "shared_expert_intermediate_size": 18,
}


def _tiny_checkpoint(moe: bool) -> dict:
    """The ≥2-D parameters of TINY / TINY_MOE as transformers 5.25 names and shapes them."""
    out = {"model.embed_tokens.weight": (91, 40), "lm_head.weight": (91, 40)}
    for i in range(3):
        p = f"model.layers.{i}."
        if i == 1:
            out |= {
                p + "self_attn.q_proj.weight": (96, 40),
                p + "self_attn.k_proj.weight": (24, 40),
                p + "self_attn.v_proj.weight": (24, 40),
                p + "self_attn.o_proj.weight": (40, 48),
            }
        else:
            out |= {
                p + "linear_attn.conv1d.weight": (92, 1, 3),
                p + "linear_attn.in_proj_qkv.weight": (92, 40),
                p + "linear_attn.in_proj_z.weight": (60, 40),
                p + "linear_attn.in_proj_b.weight": (6, 40),
                p + "linear_attn.in_proj_a.weight": (6, 40),
                p + "linear_attn.out_proj.weight": (40, 60),
            }
        if moe:
            out |= {
                p + "mlp.gate.weight": (6, 40),
                p + "mlp.experts.gate_up_proj": (6, 28, 40),
                p + "mlp.experts.down_proj": (6, 40, 14),
                p + "mlp.shared_expert.gate_proj.weight": (18, 40),
                p + "mlp.shared_expert.up_proj.weight": (18, 40),
                p + "mlp.shared_expert.down_proj.weight": (40, 18),
                p + "mlp.shared_expert_gate.weight": (1, 40),
            }
        else:
            out |= {
                p + "mlp.gate_proj.weight": (30, 40),
                p + "mlp.up_proj.weight": (30, 40),
                p + "mlp.down_proj.weight": (40, 30),
            }
    return out


@pytest.mark.parametrize("cfg,params,moe", [(TINY, 44_764, False), (TINY_MOE, 71_524, True)])
def test_tiny_params_and_checkpoint_names_equal_transformers(cfg, params, moe):
    """44,764 / 71,524 parameters (transformers 5.25 on meta) and every linear found in the names it builds: the
    DeltaNet's four input projections, a dense MLP or a MoE with a gated shared expert in every layer."""
    m = from_hf_dict(dict(cfg))
    assert m.params == params
    rows = match_checkpoint(m, _tiny_checkpoint(moe))
    assert len(rows) == sum(len(layer.linears(m.hidden)) for layer in m.blocks) and all(r["ok"] for r in rows)
    assert all(layer.mlp.is_moe == moe for layer in m.blocks)


def test_config_class_defaults_equal_transformers():
    """Qwen3_5TextConfig() and Qwen3_5MoeTextConfig() built by transformers 5.25 on meta: 8,953,803,264 and
    34,660,610,688 parameters; a wrapper without text_config reads its text type's defaults."""
    for mt, params in (("qwen3_5_text", 8_953_803_264), ("qwen3_5_moe_text", 34_660_610_688)):
        assert from_hf_dict({"model_type": mt}).params == params
    with pytest.warns(UserWarning, match="qwen3_5_moe: hwsim traces the language model"):
        assert from_hf_dict({"model_type": "qwen3_5_moe"}).params == 34_660_610_688


def test_split_projections_are_the_fused_ones_apart():
    """in_proj_qkv + in_proj_z + in_proj_b + in_proj_a hold what Qwen3-Next's in_proj_qkvz + in_proj_ba do: the same
    weights and multiply-adds per token, in four GEMMs."""
    m = load_model(DENSE)
    gdn = m.blocks[0].mixer
    assert isinstance(gdn, DeltaNet) and gdn.split
    split = {r: (lin.k, lin.n) for r, lin in gdn.linears(5120).items()}
    assert split == {
        "in_proj_qkv": (5120, 2 * 2048 + 6144),
        "in_proj_z": (5120, 6144),
        "in_proj_b": (5120, 48),
        "in_proj_a": (5120, 48),
        "out_proj": (6144, 5120),
    }
    fused = DeltaNet(16, 48, 128, 128, 4).linears(5120)
    assert sum(k * n for k, n in split.values()) == sum(lin.k * lin.n for lin in fused.values())
    pre = trace(m, "prefill", batch=1, seq=64).ops.query("layer == 0")
    names = set(pre["op"])
    assert {"in_proj_qkv", "in_proj_z", "in_proj_b", "in_proj_a"} <= names and "in_proj_qkvz" not in names


def test_qwen3_5_layouts():
    """Qwen3.5-27B: full attention every 4th of 64 layers (24 heads of 256, 4 KV heads, q_proj doubled by the output
    gate, rotary on 64 channels), a dense MLP of 17408 everywhere, untied embeddings. Qwen3.5-35B-A3B: 256 experts
    of 512, 8 per token, a gated shared expert of 512 in every layer, mlp_only_layers ignored as transformers does
    (its config class removes the field)."""
    m = load_model(DENSE)
    assert "".join("D" if isinstance(b.mixer, DeltaNet) else "A" for b in m.blocks) == "DDDA" * 16
    attn = m.blocks[3].mixer
    assert isinstance(attn, Attention) and attn.output_gate and attn.rotary_dim == 64 and attn.kv_heads == 4
    assert {b.mlp.intermediate for b in m.blocks} == {17408} and not m.is_moe and not m.tie_embeddings
    e = load_model(MOE)
    assert "".join("D" if isinstance(b.mixer, DeltaNet) else "A" for b in e.blocks) == "DDDA" * 10
    mlps = {(b.mlp.experts, b.mlp.top_k, b.mlp.intermediate, b.mlp.shared, b.mlp.shared_gate) for b in e.blocks}
    assert mlps == {(256, 8, 512, 512, True)}
    cfg = json.loads(MOE.read_text())
    cfg["text_config"] |= {"mlp_only_layers": [0, 1], "decoder_sparse_step": 2}
    with pytest.warns(UserWarning):
        assert all(b.mlp.is_moe for b in from_hf_dict(cfg).blocks)


def test_qwen3_5_cache_is_attention_kv_plus_the_delta_rule_state():
    """Qwen3.5-27B: 16 attention layers' K/V grow with the context; the 48 DeltaNet layers keep 48 × 128 × 128 per
    sequence plus the conv window (3 of 10,240 channels)."""
    m = load_model(DENSE)
    assert kv.token_elems(m.blocks) == 16 * 2 * 4 * 256
    assert kv.state_elems(m.blocks) == 48 * (48 * 128 * 128 + 10240 * 3)


def test_wrapper_tying_and_bad_configs():
    """The wrapper's top-level tie_word_embeddings decides (Qwen3_5ForConditionalGeneration ties its lm_head by
    it); a bad layer type or value-head count is refused in one line, named inside text_config."""
    cfg = json.loads(DENSE.read_text())
    with pytest.warns(UserWarning):
        tied = from_hf_dict({**cfg, "tie_word_embeddings": True})
    assert tied.tie_embeddings and tied.params == 26_895_998_464 - 248320 * 5120
    for change, field in (
        ({"layer_types": ["linear_attention", "mamba", "full_attention"]}, "layer_types"),
        ({"linear_num_value_heads": 5}, "linear_num_value_heads"),
    ):
        with pytest.raises(HwsimError) as err:
            from_hf_dict({**TINY, **change})
        assert err.value.field == field and "\n" not in str(err.value)


def test_qwen3_5_refuses_tensor_parallelism_in_one_line():
    from hwsim.serve.shard import Parallel, shard_model

    with pytest.warns(UserWarning):
        m = load_model(MOE)
    with pytest.raises(HwsimError, match="Gated DeltaNet.*tensor parallelism"):
        shard_model(m, Parallel(tp=2))
